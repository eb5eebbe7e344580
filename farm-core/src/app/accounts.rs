//! Accounts: sign-up with email confirmation, login (API tokens and portal sessions), logout
//! and revocation, password reset, roles. Passwords are hashed with argon2id; mail secrets
//! are kept only as SHA-256; every change is audited in its own transaction.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::app::Farm;
use crate::domain::{permissions, Actor, Email, NewPassword, Role, SessionKind, Username};
use crate::error::FarmError;
use crate::identity::passwords::{hash_password, verify_password};
use crate::identity::tokens::TokenError;
use crate::platform::ratelimit::{Action, Source};
use crate::platform::time::{format_time, now};
use crate::store::{AccountRecord, AuditEntry, NewAccount};

/// How long the links in confirmation and reset mails work.
const CONFIRM_LINK_TTL: i64 = 48 * 3600;
const RESET_LINK_TTL: i64 = 3600;

/// An account as its owner and admins see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub username: String,
    pub email: String,
    pub role: Role,
    pub email_confirmed: bool,
    pub created_at: i64,
    /// Locked by an admin: no login, and no session anywhere on the farm.
    pub locked: bool,
}

impl AccountView {
    pub fn from_record(record: &AccountRecord) -> Self {
        Self {
            username: record.username.clone(),
            email: record.email.clone(),
            role: record.role,
            email_confirmed: record.email_confirmed_at.is_some(),
            created_at: record.created_at,
            locked: record.locked_at.is_some(),
        }
    }
}

/// What a sign-up form sends.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// A token issued by logging in.
#[derive(Debug)]
pub struct Login {
    pub token: String,
    pub session_id: String,
    pub expires_at: i64,
    /// For portal sessions: the value state-changing requests carry in `X-CSRF-Token`.
    pub csrf_token: String,
    pub account: AccountView,
}

/// An authenticated caller and the session their token belongs to.
#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    pub session_id: String,
    pub kind: String,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is malformed or not signed by this farm")]
    Invalid,
    #[error("the token was revoked (logged out)")]
    Revoked,
}

/// A live session, as its owner sees it in the token list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub kind: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// SHA-256 of a mail secret, as stored.
fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A mail secret: 32 bytes from the OS random source, in hex.
fn new_mail_secret() -> String {
    crate::platform::random::random_hex(32)
}

fn username_key(username: &Username) -> String {
    username.mediawiki_name()
}

impl Farm {
    fn audit_entry(&self, actor: &str, action: &'static str, target: String, source: &Source) -> AuditEntry {
        AuditEntry { actor: actor.to_owned(), action, target, source: source.label(), details: None }
    }

    /// Farm passwords log in, unless the operator turned them off (`login.local_passwords`).
    pub(crate) fn local_passwords_on(&self) -> Result<(), FarmError> {
        if self.config.login.local_passwords {
            Ok(())
        } else {
            Err(FarmError::denied(
                "local_passwords_off",
                "this farm does not take passwords: log in through one of its identity providers",
            ))
        }
    }

    /// Sign-up with a password: only when passwords log in and sign-up is open.
    fn password_signup_allowed(&self) -> Result<(), FarmError> {
        self.local_passwords_on()?;
        if self.config.login.signup == crate::config::SignupPolicy::Providers {
            return Err(FarmError::denied(
                "signup_providers_only",
                "accounts are made by a first login through one of the farm's identity providers",
            ));
        }
        Ok(())
    }

    /// Signs a new member up and mails the confirmation link.
    pub async fn sign_up(&self, form: SignUp, source: &Source) -> Result<AccountView, FarmError> {
        self.password_signup_allowed()?;
        self.limits.check(Action::Signup, source, None)?;
        let username = Username::parse(&form.username)?;
        let email = Email::parse(&form.email)?;
        let password = NewPassword::parse(&form.password, Some(&username))?;
        let key = username_key(&username);
        if self.store.account_by_username_key(&key).await?.is_some() {
            return Err(FarmError::Taken {
                field: "username",
                code: "username_taken",
                message: "that user name is taken".into(),
            });
        }
        let hash = hash_password(&password).await?;
        let secret = new_mail_secret();
        let expires_at = now() + CONFIRM_LINK_TTL;
        let mail = self.mail.render(
            "confirm",
            email.as_str(),
            minijinja::context! {
                farm => self.config.farm_name, username => username.as_str(),
                link => self.portal_link(&format!("/confirm-email?token={secret}")),
                expires => format_time(expires_at),
            },
        )?;
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_account(&NewAccount {
                username: username.as_str(),
                username_key: &key,
                email: email.as_str(),
                email_key: &email.key(),
                password_hash: Some(&hash),
                role: Role::Member.as_str(),
                confirmed: false,
            })
            .await?;
        tx.insert_account_token(&token_hash(&secret), id, "confirm", expires_at).await?;
        tx.enqueue_mail(&mail).await?;
        tx.audit(&self.audit_entry(username.as_str(), "account.signup", format!("account:{username}"), source)).await?;
        tx.commit().await?;
        self.wakeups.outbox.notify_one();
        tracing::info!(account = %username, "account signed up");
        let record = self.store.account_by_id(id).await?.ok_or(FarmError::NotFound("account"))?;
        Ok(AccountView::from_record(&record))
    }

    /// Follows a confirmation link.
    pub async fn confirm_email(&self, secret: &str, source: &Source) -> Result<AccountView, FarmError> {
        let invalid = || FarmError::invalid("token", "link_invalid", "this link is invalid, used or expired".into());
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let mut tx = self.store.begin().await?;
        let Some(account_id) = tx.use_account_token(&token_hash(secret), "confirm").await? else {
            return Err(invalid());
        };
        tx.confirm_email(account_id).await?;
        let record = tx.account(account_id).await?.ok_or(FarmError::NotFound("account"))?;
        tx.audit(&self.audit_entry(
            &record.username,
            "account.confirm",
            format!("account:{}", record.username),
            source,
        ))
        .await?;
        tx.commit().await?;
        let record = self.store.account_by_id(account_id).await?.ok_or(FarmError::NotFound("account"))?;
        Ok(AccountView::from_record(&record))
    }

    /// Logs in with a user name (or email address) and password.
    pub async fn log_in(
        &self,
        login: &str,
        password: &str,
        kind: SessionKind,
        source: &Source,
    ) -> Result<Login, FarmError> {
        self.local_passwords_on()?;
        let login = login.trim();
        if login.is_empty() || login.len() > 254 || password.len() > 1024 {
            return Err(FarmError::BadCredentials);
        }
        let account_key = login.to_lowercase();
        self.limits.check(Action::Login, source, Some(&account_key))?;
        let record = if login.contains('@') {
            self.store.account_by_email_key(&account_key).await?
        } else {
            match Username::parse(login) {
                Ok(username) => self.store.account_by_username_key(&username_key(&username)).await?,
                Err(_) => None,
            }
        };
        let hash = record.as_ref().and_then(|r| r.password_hash.as_deref());
        if !verify_password(password, hash).await {
            let mut tx = self.store.begin().await?;
            tx.audit(&AuditEntry {
                details: Some("wrong user name or password".into()),
                ..self.audit_entry(login, "session.login_failed", format!("account:{login}"), source)
            })
            .await?;
            tx.commit().await?;
            return Err(FarmError::BadCredentials);
        }
        let record = record.ok_or(FarmError::BadCredentials)?;
        let mut tx = self.store.begin().await?;
        let (session_id, expires_at) = self.open_session(&mut tx, &record, kind, None, source).await?;
        tx.commit().await?;
        self.login_of(&record, session_id, expires_at)
    }

    /// Inserts a session for `record` and its audit entry (`via`: the provider that vouched
    /// for the person, when not a password). Returns the session id and when it expires.
    pub(crate) async fn open_session(
        &self,
        tx: &mut crate::store::Tx,
        record: &AccountRecord,
        kind: SessionKind,
        via: Option<&str>,
        source: &Source,
    ) -> Result<(String, i64), FarmError> {
        if record.locked_at.is_some() {
            return Err(FarmError::denied("account_locked", "this account is locked; ask the farm's administrators"));
        }
        let ttl = match kind {
            SessionKind::Api => self.config.api_token_ttl,
            SessionKind::Portal => self.config.session_ttl,
        };
        let session_id = crate::platform::random::random_hex(16);
        let expires_at = now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2));
        tx.insert_session(&session_id, record.id, kind.as_str(), expires_at).await?;
        let details = match via {
            Some(via) => format!("{} via {via}", kind.as_str()),
            None => kind.as_str().into(),
        };
        tx.audit(&AuditEntry {
            details: Some(details),
            ..self.audit_entry(&record.username, "session.login", format!("account:{}", record.username), source)
        })
        .await?;
        Ok((session_id, expires_at))
    }

    /// The answer to a login: the session's token and CSRF token.
    pub(crate) fn login_of(
        &self,
        record: &AccountRecord,
        session_id: String,
        expires_at: i64,
    ) -> Result<Login, FarmError> {
        let subject = Username::parse(&record.username)?;
        Ok(Login {
            token: self.tokens.issue(&subject, &session_id, expires_at)?,
            csrf_token: self.tokens.csrf_token(&session_id),
            session_id,
            expires_at,
            account: AccountView::from_record(record),
        })
    }

    /// The session a token speaks for, if the signature, the expiry and the session row agree.
    pub async fn authenticate(&self, token: &str) -> Result<Session, AuthError> {
        let verified = self.tokens.verify(token).map_err(|e| match e {
            TokenError::Expired => AuthError::Expired,
            TokenError::Invalid => AuthError::Invalid,
        })?;
        let session = match self.store.session(&verified.session_id).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(AuthError::Revoked),
            Err(err) => {
                tracing::error!(error = %err, "reading a session");
                return Err(AuthError::Invalid);
            }
        };
        if session.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if session.expires_at <= now() {
            return Err(AuthError::Expired);
        }
        if session.account.username != verified.subject.as_str() {
            return Err(AuthError::Invalid);
        }
        if session.account.locked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        let account = &session.account;
        Ok(Session {
            actor: Actor {
                username: verified.subject,
                role: account.role,
                confirmed: account.email_confirmed_at.is_some(),
                account_id: account.id,
            },
            session_id: session.id,
            kind: session.kind,
            expires_at: session.expires_at,
        })
    }

    /// Logs out: the session's token stops working at once.
    pub async fn log_out(&self, session: &Session, source: &Source) -> Result<(), FarmError> {
        self.revoke_session(&session.actor, &session.session_id, source).await
    }

    /// Revokes one of the caller's own sessions (a token they no longer trust).
    pub async fn revoke_session(&self, actor: &Actor, session_id: &str, source: &Source) -> Result<(), FarmError> {
        if session_id.is_empty() || session_id.len() > 64 || !session_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FarmError::NotFound("token"));
        }
        let mut tx = self.store.begin().await?;
        if !tx.revoke_session(session_id, actor.account_id).await? {
            return Err(FarmError::NotFound("token"));
        }
        tx.audit(&self.audit_entry(actor.username.as_str(), "token.revoke", format!("token:{session_id}"), source))
            .await?;
        tx.commit().await?;
        self.end_wiki_session(session_id);
        Ok(())
    }

    pub async fn sessions(&self, actor: &Actor) -> Result<Vec<SessionView>, FarmError> {
        Ok(self
            .store
            .live_sessions(actor.account_id)
            .await?
            .into_iter()
            .map(|(id, kind, created_at, expires_at)| SessionView { id, kind, created_at, expires_at })
            .collect())
    }

    pub async fn account(&self, actor: &Actor) -> Result<AccountView, FarmError> {
        let record = self.store.account_by_id(actor.account_id).await?.ok_or(FarmError::NotFound("account"))?;
        Ok(AccountView::from_record(&record))
    }

    /// Mails a reset link if an account has this address. The answer is the same either way,
    /// so the call does not tell who has an account.
    pub async fn request_password_reset(&self, email: &str, source: &Source) -> Result<(), FarmError> {
        self.local_passwords_on()?;
        let email = Email::parse(email)?;
        self.limits.check(Action::PasswordReset, source, Some(&email.key()))?;
        let Some(record) = self.store.account_by_email_key(&email.key()).await? else {
            return Ok(());
        };
        let secret = new_mail_secret();
        let expires_at = now() + RESET_LINK_TTL;
        let mail = self.mail.render(
            "reset",
            &record.email,
            minijinja::context! {
                farm => self.config.farm_name, username => record.username,
                link => self.portal_link(&format!("/reset-password?token={secret}")),
                expires => format_time(expires_at),
            },
        )?;
        let mut tx = self.store.begin().await?;
        tx.insert_account_token(&token_hash(&secret), record.id, "reset", expires_at).await?;
        tx.enqueue_mail(&mail).await?;
        tx.audit(&self.audit_entry(
            &record.username,
            "account.password_reset_requested",
            format!("account:{}", record.username),
            source,
        ))
        .await?;
        tx.commit().await?;
        self.wakeups.outbox.notify_one();
        Ok(())
    }

    /// Sets a new password with a reset link's secret; every session of the account ends.
    pub async fn reset_password(&self, secret: &str, password: &str, source: &Source) -> Result<(), FarmError> {
        self.local_passwords_on()?;
        let invalid = || FarmError::invalid("token", "link_invalid", "this link is invalid, used or expired".into());
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let password = NewPassword::parse(password, None)?;
        let hash = hash_password(&password).await?;
        let mut tx = self.store.begin().await?;
        let Some(account_id) = tx.use_account_token(&token_hash(secret), "reset").await? else {
            return Err(invalid());
        };
        tx.set_password_hash(account_id, &hash).await?;
        // Following the link proves the mailbox is theirs.
        tx.confirm_email(account_id).await?;
        tx.revoke_all_sessions(account_id).await?;
        let record = tx.account(account_id).await?.ok_or(FarmError::NotFound("account"))?;
        let target = format!("account:{}", record.username);
        tx.audit(&self.audit_entry(&record.username, "account.password_reset", target, source)).await?;
        tx.commit().await?;
        self.end_wiki_sessions(account_id).await;
        Ok(())
    }

    /// Admins: every account, a page at a time.
    pub async fn list_accounts(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<super::Page<AccountView>, FarmError> {
        permissions::list_accounts(actor)?;
        let limit = super::page_size(limit)?;
        let after = super::parse_cursor(cursor)?;
        let records = self.store.list_accounts(after.unwrap_or(0), limit + 1).await?;
        Ok(super::Page::from_rows(records, limit, |r| r.id).map(|r| AccountView::from_record(&r)))
    }

    /// The account `username`, for an admin about to change it.
    async fn account_an_admin_changes(&self, actor: &Actor, username: &str) -> Result<AccountRecord, FarmError> {
        permissions::set_roles(actor)?;
        let username = Username::parse(username).map_err(|_| FarmError::NotFound("account"))?;
        self.store.account_by_username_key(&username_key(&username)).await?.ok_or(FarmError::NotFound("account"))
    }

    /// Admins: change an account's role (and so what its tokens may do, at once).
    pub async fn set_role(
        &self,
        actor: &Actor,
        username: &str,
        role: Role,
        source: &Source,
    ) -> Result<AccountView, FarmError> {
        let record = self.account_an_admin_changes(actor, username).await?;
        let mut tx = self.store.begin().await?;
        tx.set_role(record.id, role).await?;
        tx.audit(&AuditEntry {
            details: Some(format!("{} -> {}", record.role.as_str(), role.as_str())),
            ..self.audit_entry(actor.username.as_str(), "account.role", format!("account:{}", record.username), source)
        })
        .await?;
        tx.commit().await?;
        // What the wikis were told (the staff group) no longer holds: they ask again.
        if record.role != role {
            self.end_wiki_sessions(record.id).await;
        }
        let record = self.store.account_by_id(record.id).await?.ok_or(FarmError::NotFound("account"))?;
        Ok(AccountView::from_record(&record))
    }

    /// Admins: lock an account (it cannot log in, and every session of it ends, on the portal,
    /// the API and the wikis) or unlock it.
    pub async fn set_locked(
        &self,
        actor: &Actor,
        username: &str,
        locked: bool,
        source: &Source,
    ) -> Result<AccountView, FarmError> {
        let record = self.account_an_admin_changes(actor, username).await?;
        if locked && record.id == actor.account_id {
            return Err(FarmError::denied("account_lock_self", "you cannot lock your own account"));
        }
        let mut tx = self.store.begin().await?;
        if tx.set_locked(record.id, locked).await? {
            if locked {
                tx.revoke_all_sessions(record.id).await?;
            }
            let action = if locked { "account.lock" } else { "account.unlock" };
            tx.audit(&self.audit_entry(
                actor.username.as_str(),
                action,
                format!("account:{}", record.username),
                source,
            ))
            .await?;
        }
        tx.commit().await?;
        if locked {
            self.end_wiki_sessions(record.id).await;
        }
        let record = self.store.account_by_id(record.id).await?.ok_or(FarmError::NotFound("account"))?;
        Ok(AccountView::from_record(&record))
    }
}
