//! Logging in through identity providers: OpenID Connect (a redirect to the provider and back)
//! and LDAP (a form). Either ends in an ordinary portal session, like a password login.
//!
//! A provider's person is linked to one farm account (`external_identities`). At their first
//! login the farm makes an account with the provider's user name and address, unless the name
//! or address belongs to an account already, or the name is no farm user name: then the
//! person chooses (a "choice" row, shown as a page) between proving they own the existing
//! account (its farm password) and making one with another name. Nothing is ever merged by
//! name or address alone.
//!
//! Every step of a login under way is bound to the visitor's pre-session (the HttpOnly cookie
//! the portal's forms are bound to), works once (its row is deleted when used, so a replay
//! fails even after a restart) and expires.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::accounts::Login;
use crate::app::Farm;
use crate::config::{LoginConfig, SignupPolicy};
use crate::domain::{Email, Role, Secret, SessionKind, Username};
use crate::error::FarmError;
use crate::identity::ldap::{LdapError, LdapProvider};
use crate::identity::oidc::{OidcError, OidcProvider};
use crate::identity::passwords::verify_password;
use crate::identity::role_from_groups;
use crate::platform::ratelimit::{Action, Source};
use crate::platform::time::{format_time, now};
use crate::store::{AccountRecord, AuditEntry, NewAccount, Tx};

/// How long the browser may take at the provider.
const AUTHORIZATION_TTL: i64 = 10 * 60;
/// How long a first login waits for the person's choice.
const CHOICE_TTL: i64 = 15 * 60;
const CONFIRM_LINK_TTL: i64 = 48 * 3600;

const PURPOSE_OIDC: &str = "oidc";
const PURPOSE_CHOICE: &str = "choice";

/// The configured providers, with their secrets read at start.
pub struct ExternalProviders {
    oidc: Vec<Arc<OidcProvider>>,
    ldap: Vec<Arc<LdapProvider>>,
}

/// A secret from a file (trailing white space ignored) or an environment variable.
fn read_secret(what: &str, file: Option<&std::path::Path>, env: Option<&str>) -> anyhow::Result<Option<Secret>> {
    let value = match (file, env) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{what}: reading {}: {e}", path.display()))?
            .trim_end()
            .to_owned(),
        (None, Some(var)) => {
            std::env::var(var).map_err(|_| anyhow::anyhow!("{what}: the environment variable {var} is not set"))?
        }
        (None, None) => return Ok(None),
    };
    anyhow::ensure!(!value.is_empty(), "{what} is empty");
    Ok(Some(Secret::new(value)))
}

impl ExternalProviders {
    pub fn load(config: &LoginConfig) -> anyhow::Result<Self> {
        let mut oidc = Vec::new();
        for provider in &config.oidc {
            let what = format!("the client secret of oidc provider {:?}", provider.id);
            let secret =
                read_secret(&what, provider.client_secret_file.as_deref(), provider.client_secret_env.as_deref())?
                    .ok_or_else(|| anyhow::anyhow!("{what} is not configured"))?;
            oidc.push(Arc::new(OidcProvider::new(provider.clone(), secret)?));
        }
        let mut ldap = Vec::new();
        for provider in &config.ldap {
            let what = format!("the bind password of ldap provider {:?}", provider.id);
            let password =
                read_secret(&what, provider.bind_password_file.as_deref(), provider.bind_password_env.as_deref())?;
            ldap.push(Arc::new(LdapProvider::new(provider.clone(), password)?));
        }
        Ok(Self { oidc, ldap })
    }

    fn oidc(&self, id: &str) -> Result<&Arc<OidcProvider>, FarmError> {
        self.oidc.iter().find(|p| p.config.id == id).ok_or(FarmError::NotFound("identity provider"))
    }

    fn ldap(&self, id: &str) -> Result<&Arc<LdapProvider>, FarmError> {
        self.ldap.iter().find(|p| p.config.id == id).ok_or(FarmError::NotFound("identity provider"))
    }

    fn name_of(&self, id: &str) -> String {
        let oidc = self.oidc.iter().map(|p| (&p.config.id, &p.config.name));
        let ldap = self.ldap.iter().map(|p| (&p.config.id, &p.config.name));
        oidc.chain(ldap).find(|(pid, _)| *pid == id).map_or_else(|| id.to_owned(), |(_, name)| name.clone())
    }
}

/// One provider as the login page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderLink {
    pub id: String,
    pub name: String,
}

/// The ways to log in and sign up that the login page offers.
#[derive(Debug, Clone, Serialize)]
pub struct LoginWays {
    pub local_passwords: bool,
    pub password_signup: bool,
    pub oidc: Vec<ProviderLink>,
    pub ldap: Vec<ProviderLink>,
}

/// What the provider's redirect back to the farm carries.
#[derive(Debug, Clone, Default)]
pub struct OidcCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
}

/// How a login through a provider ended.
#[derive(Debug)]
pub enum ExternalOutcome {
    LoggedIn {
        login: Login,
        next: String,
    },
    /// A first login that needs the person's choice (see [`ChoiceView`]).
    Choose(ChoiceView),
}

/// A first login waiting for the person: why, and what they may do.
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceView {
    /// Carried by the choice page's forms (bound to the visitor's pre-session besides).
    pub token: String,
    pub provider: String,
    /// `username_taken`, `email_taken`, `username_invalid`, `username_missing` or `email_missing`.
    pub reason: String,
    /// The user name the provider gave, if any.
    pub username: Option<String>,
    /// Log in to an existing account with its farm password to link it.
    pub can_link: bool,
    /// Make an account with another user name.
    pub can_create: bool,
}

#[derive(Serialize, Deserialize)]
struct AuthorizationPayload {
    nonce: String,
    pkce_verifier: String,
    next: String,
}

/// A person as a provider vouches for them, once every check passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExternalPerson {
    provider: String,
    subject: String,
    username: Option<String>,
    email: Option<String>,
    email_verified: bool,
    /// From the provider's groups; `None`: the provider maps no roles.
    role: Option<Role>,
}

/// A confirmation link and its mail, made before the account's transaction.
struct Confirmation {
    secret: String,
    expires_at: i64,
    mail: crate::store::OutgoingMail,
}

#[derive(Serialize, Deserialize)]
struct ChoicePayload {
    person: ExternalPerson,
    reason: String,
    next: String,
}

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A value the browser brings back (state, choice token): 64 hex digits.
fn well_formed(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn state_invalid() -> FarmError {
    FarmError::bad_request(
        "login_state_invalid",
        "this login is unknown, used already, expired or was started in another browser: start again",
    )
}

impl Farm {
    /// The login page's ways in.
    pub fn login_ways(&self) -> LoginWays {
        let link = |id: &String, name: &String| ProviderLink { id: id.clone(), name: name.clone() };
        LoginWays {
            local_passwords: self.config.login.local_passwords,
            password_signup: self.config.login.local_passwords && self.config.login.signup == SignupPolicy::Open,
            oidc: self.providers.oidc.iter().map(|p| link(&p.config.id, &p.config.name)).collect(),
            ldap: self.providers.ldap.iter().map(|p| link(&p.config.id, &p.config.name)).collect(),
        }
    }

    /// Where a provider sends the browser back.
    pub fn oidc_redirect_uri(&self, provider: &str) -> String {
        self.portal_link(&format!("/login/oidc/{provider}/callback"))
    }

    async fn audit_refusal(&self, actor: &str, provider: &str, code: &str, source: &Source) -> Result<(), FarmError> {
        let mut tx = self.store.begin().await?;
        tx.audit(&AuditEntry {
            actor: actor.to_owned(),
            action: "session.login_failed",
            target: format!("provider:{provider}"),
            source: source.label(),
            details: Some(code.to_owned()),
        })
        .await?;
        tx.commit().await
    }

    /// Refuses a login with `err`, after an audit entry saying why.
    async fn refuse<T>(&self, actor: &str, provider: &str, err: FarmError, source: &Source) -> Result<T, FarmError> {
        self.audit_refusal(actor, provider, err.code(), source).await?;
        Err(err)
    }

    /// Starts an OpenID Connect login for the visitor of `presession`: returns the provider's
    /// authorization URL to send the browser to.
    pub async fn begin_oidc_login(
        &self,
        provider: &str,
        presession: &str,
        next: &str,
        source: &Source,
    ) -> Result<String, FarmError> {
        let oidc = self.providers.oidc(provider)?;
        self.limits.check(Action::Login, source, None)?;
        let start = oidc.start(&self.oidc_redirect_uri(provider)).await.map_err(|e| self.oidc_error(provider, e))?;
        let payload = AuthorizationPayload {
            nonce: start.nonce.expose().to_owned(),
            pkce_verifier: start.pkce_verifier.expose().to_owned(),
            next: next.to_owned(),
        };
        let sealed = self.seal_json(&payload)?;
        let mut tx = self.store.begin().await?;
        tx.insert_external_login(
            &sha256_hex(&start.state),
            PURPOSE_OIDC,
            provider,
            &sha256_hex(presession),
            &sealed,
            now() + AUTHORIZATION_TTL,
        )
        .await?;
        tx.commit().await?;
        Ok(start.url)
    }

    fn oidc_error(&self, provider: &str, err: OidcError) -> FarmError {
        match err {
            OidcError::Unavailable(detail) => {
                tracing::warn!(provider = %provider, error = %detail, "identity provider unavailable");
                FarmError::Unavailable("the identity provider does not answer; try again later".into())
            }
            OidcError::Refused { code, detail } => {
                if code != "oidc_nonce_mismatch" {
                    tracing::info!(provider = %provider, refusal = code, detail = %detail, "identity provider's answer refused");
                }
                refusal(code)
            }
        }
    }

    /// Finishes an OpenID Connect login: the provider sent the browser back with `callback`.
    pub async fn finish_oidc_login(
        &self,
        provider: &str,
        callback: &OidcCallback,
        presession: Option<&str>,
        source: &Source,
    ) -> Result<ExternalOutcome, FarmError> {
        let oidc = self.providers.oidc(provider)?.clone();
        let Some(state) = callback.state.as_deref().filter(|s| well_formed(s)) else {
            return self.refuse("anonymous", provider, state_invalid(), source).await;
        };
        let mut tx = self.store.begin().await?;
        let row = tx.take_external_login(&sha256_hex(state), PURPOSE_OIDC).await?;
        tx.commit().await?;
        let bound = row
            .filter(|row| row.provider == provider && presession.is_some_and(|p| sha256_hex(p) == row.presession_hash));
        let Some(row) = bound else {
            return self.refuse("anonymous", provider, state_invalid(), source).await;
        };
        if let Some(error) = &callback.error {
            let error: String = error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
            tracing::info!(provider = %provider, error = %error, "the identity provider sent an error back");
            let err = refusal("oidc_provider_error");
            return self.refuse("anonymous", provider, err, source).await;
        }
        let Some(code) = callback.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 2048) else {
            return self.refuse("anonymous", provider, state_invalid(), source).await;
        };
        let payload: AuthorizationPayload = self.open_json(&row.payload)?;
        let claims = match oidc
            .finish(
                &self.oidc_redirect_uri(provider),
                code,
                &Secret::new(payload.pkce_verifier),
                &Secret::new(payload.nonce),
            )
            .await
        {
            Ok(claims) => claims,
            Err(err) => {
                let err = self.oidc_error(provider, err);
                return self.refuse("anonymous", provider, err, source).await;
            }
        };
        let config = &oidc.config;
        let actor = claims.string(&config.username_claim).unwrap_or_else(|| "anonymous".into());
        let role = match role_from_groups(&config.group_rules(), &claims.strings(&config.groups_claim)) {
            Ok(role) => role,
            Err(_) => return self.refuse(&actor, provider, group_denied(), source).await,
        };
        let email = claims.string(&config.email_claim).and_then(|e| Email::parse(&e).ok());
        let person = ExternalPerson {
            provider: provider.to_owned(),
            subject: claims.subject.clone(),
            username: claims.string(&config.username_claim),
            email: email.map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified(),
            role,
        };
        let unverified_refused = config.require_verified_email;
        self.complete_external_login(person, unverified_refused, &payload.next, presession.unwrap_or(""), source).await
    }

    /// Logs in with a directory account.
    pub async fn log_in_ldap(
        &self,
        provider: &str,
        login: &str,
        password: &str,
        presession: &str,
        next: &str,
        source: &Source,
    ) -> Result<ExternalOutcome, FarmError> {
        let ldap = self.providers.ldap(provider)?.clone();
        let login = login.trim();
        self.limits.check(Action::Login, source, Some(&format!("ldap:{provider}:{}", login.to_lowercase())))?;
        let actor: String = login.chars().filter(|c| !c.is_control()).take(64).collect();
        let entry = match ldap.authenticate(login, &Secret::new(password.to_owned())).await {
            Ok(entry) => entry,
            Err(LdapError::BadCredentials(why)) => {
                tracing::info!(provider = %provider, why, "LDAP login refused");
                return self.refuse(&actor, provider, FarmError::BadCredentials, source).await;
            }
            Err(LdapError::Unavailable(detail)) => {
                tracing::warn!(provider = %provider, error = %detail, "directory unavailable");
                let err = FarmError::Unavailable("the directory does not answer; try again later".into());
                return self.refuse(&actor, provider, err, source).await;
            }
        };
        let role = match role_from_groups(&ldap.config.group_rules(), &entry.groups) {
            Ok(role) => role,
            Err(_) => return self.refuse(&actor, provider, group_denied(), source).await,
        };
        let person = ExternalPerson {
            provider: provider.to_owned(),
            subject: entry.subject,
            username: entry.username,
            email: entry.email.and_then(|e| Email::parse(&e).ok()).map(|e| e.as_str().to_owned()),
            email_verified: ldap.config.trust_email,
            role,
        };
        self.complete_external_login(person, false, next, presession, source).await
    }

    /// A person the provider vouched for: their linked account, a new one, or a choice.
    async fn complete_external_login(
        &self,
        person: ExternalPerson,
        unverified_refused: bool,
        next: &str,
        presession: &str,
        source: &Source,
    ) -> Result<ExternalOutcome, FarmError> {
        if let Some(record) = self.store.account_by_identity(&person.provider, &person.subject).await? {
            let login = self.external_session(&record, &person, None, source).await?;
            return Ok(ExternalOutcome::LoggedIn { login, next: next.to_owned() });
        }
        let actor = person.username.clone().unwrap_or_else(|| "anonymous".into());
        if !person.email_verified && unverified_refused {
            let err = refusal("external_email_unverified");
            return self.refuse(&actor, &person.provider, err, source).await;
        }
        let email_taken = match &person.email {
            Some(email) => self.store.account_by_email_key(&email.to_lowercase()).await?.is_some(),
            None => false,
        };
        // The address first: when it is taken, linking is the only way, whatever the name.
        let reason = match person.username.as_deref().map(Username::parse) {
            _ if email_taken => "email_taken",
            None => "username_missing",
            Some(Err(_)) => "username_invalid",
            Some(Ok(name)) if self.store.account_by_username_key(&name.mediawiki_name()).await?.is_some() => {
                "username_taken"
            }
            Some(Ok(name)) => {
                if person.email.is_none() {
                    "email_missing"
                } else {
                    let (record, login) = self.create_external_account(&person, &name, source).await?;
                    tracing::info!(account = %record.username, provider = %person.provider, "account made by a first login");
                    return Ok(ExternalOutcome::LoggedIn { login, next: next.to_owned() });
                }
            }
        };
        let token = crate::platform::random::random_hex(32);
        let payload = ChoicePayload { person: person.clone(), reason: reason.to_owned(), next: next.to_owned() };
        let sealed = self.seal_json(&payload)?;
        let mut tx = self.store.begin().await?;
        tx.insert_external_login(
            &sha256_hex(&token),
            PURPOSE_CHOICE,
            &person.provider,
            &sha256_hex(presession),
            &sealed,
            now() + CHOICE_TTL,
        )
        .await?;
        tx.commit().await?;
        Ok(ExternalOutcome::Choose(self.choice_view(token, &payload, email_taken)))
    }

    fn choice_view(&self, token: String, payload: &ChoicePayload, email_taken: bool) -> ChoiceView {
        ChoiceView {
            token,
            provider: self.providers.name_of(&payload.person.provider),
            reason: payload.reason.clone(),
            username: payload.person.username.clone(),
            can_link: self.config.login.local_passwords,
            can_create: !email_taken && payload.person.email.is_some(),
        }
    }

    /// The choice of a first login, for its page (shown again after a failed attempt).
    pub async fn external_choice(&self, token: &str, presession: Option<&str>) -> Result<ChoiceView, FarmError> {
        let (_, payload) = self.pending_choice(token, presession).await?;
        let email_taken = match &payload.person.email {
            Some(email) => self.store.account_by_email_key(&email.to_lowercase()).await?.is_some(),
            None => false,
        };
        Ok(self.choice_view(token.to_owned(), &payload, email_taken))
    }

    async fn pending_choice(
        &self,
        token: &str,
        presession: Option<&str>,
    ) -> Result<(String, ChoicePayload), FarmError> {
        if !well_formed(token) {
            return Err(state_invalid());
        }
        let hash = sha256_hex(token);
        let row = self.store.external_login(&hash, PURPOSE_CHOICE).await?;
        let row = row
            .filter(|row| presession.is_some_and(|p| sha256_hex(p) == row.presession_hash))
            .ok_or_else(state_invalid)?;
        Ok((hash, self.open_json(&row.payload)?))
    }

    /// The choice "this is my account": the person proves it with the account's farm password,
    /// and the provider's identity is linked to it.
    pub async fn link_external_identity(
        &self,
        token: &str,
        login: &str,
        password: &str,
        presession: Option<&str>,
        source: &Source,
    ) -> Result<(Login, String), FarmError> {
        self.local_passwords_on()?;
        let (hash, payload) = self.pending_choice(token, presession).await?;
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
                Ok(username) => self.store.account_by_username_key(&username.mediawiki_name()).await?,
                Err(_) => None,
            }
        };
        let hash_of_password = record.as_ref().and_then(|r| r.password_hash.as_deref());
        if !verify_password(password, hash_of_password).await {
            self.audit_refusal(login, &payload.person.provider, "invalid_credentials", source).await?;
            return Err(FarmError::BadCredentials);
        }
        let record = record.ok_or(FarmError::BadCredentials)?;
        let login = self.external_session(&record, &payload.person, Some(&hash), source).await?;
        Ok((login, payload.next))
    }

    /// The choice "make a new account" with a user name of the person's choosing.
    pub async fn create_from_external(
        &self,
        token: &str,
        username: &str,
        presession: Option<&str>,
        source: &Source,
    ) -> Result<(Login, String), FarmError> {
        let (hash, payload) = self.pending_choice(token, presession).await?;
        let name = Username::parse(username.trim())?;
        if payload.person.email.is_none() {
            return Err(state_invalid());
        }
        let confirm = self.confirmation_of(&payload.person, &name)?;
        let mut tx = self.store.begin().await?;
        if tx.take_external_login(&hash, PURPOSE_CHOICE).await?.is_none() {
            return Err(state_invalid());
        }
        let (record, session_id, expires_at) =
            self.insert_external_account(&mut tx, &payload.person, &name, confirm, source).await?;
        tx.commit().await?;
        self.after_external_account(&record);
        Ok((self.login_of(&record, session_id, expires_at)?, payload.next))
    }

    /// A session for a linked (or now linked: `choice` is the choice row to use up) account,
    /// with the provider's role applied.
    async fn external_session(
        &self,
        record: &AccountRecord,
        person: &ExternalPerson,
        choice: Option<&str>,
        source: &Source,
    ) -> Result<Login, FarmError> {
        let via = person.provider.clone();
        let mut tx = self.store.begin().await?;
        if let Some(hash) = choice {
            if tx.take_external_login(hash, PURPOSE_CHOICE).await?.is_none() {
                return Err(state_invalid());
            }
            if !tx.link_identity(&person.provider, &person.subject, record.id).await? {
                return Err(FarmError::Conflict("that identity is linked to an account already".into()));
            }
            tx.audit(&AuditEntry {
                actor: record.username.clone(),
                action: "account.link",
                target: format!("account:{}", record.username),
                source: source.label(),
                details: Some(format!("provider:{}", person.provider)),
            })
            .await?;
        } else {
            tx.touch_identity(&person.provider, &person.subject).await?;
        }
        let record = self.apply_provider_role(&mut tx, record, person, source).await?;
        let (session_id, expires_at) =
            self.open_session(&mut tx, &record, SessionKind::Portal, Some(&via), source).await?;
        tx.commit().await?;
        self.login_of(&record, session_id, expires_at)
    }

    /// Sets the account's role to what the provider's groups say, when the provider maps
    /// roles; audited like any role change.
    async fn apply_provider_role(
        &self,
        tx: &mut Tx,
        record: &AccountRecord,
        person: &ExternalPerson,
        source: &Source,
    ) -> Result<AccountRecord, FarmError> {
        let Some(role) = person.role.filter(|role| *role != record.role) else { return Ok(record.clone()) };
        tx.set_role(record.id, role).await?;
        tx.audit(&AuditEntry {
            actor: format!("provider:{}", person.provider),
            action: "account.role",
            target: format!("account:{}", record.username),
            source: source.label(),
            details: Some(format!("{} -> {} (from the provider's groups)", record.role.as_str(), role.as_str())),
        })
        .await?;
        Ok(AccountRecord { role, ..record.clone() })
    }

    async fn create_external_account(
        &self,
        person: &ExternalPerson,
        name: &Username,
        source: &Source,
    ) -> Result<(AccountRecord, Login), FarmError> {
        let confirm = self.confirmation_of(person, name)?;
        let mut tx = self.store.begin().await?;
        let (record, session_id, expires_at) =
            self.insert_external_account(&mut tx, person, name, confirm, source).await?;
        tx.commit().await?;
        self.after_external_account(&record);
        let login = self.login_of(&record, session_id, expires_at)?;
        Ok((record, login))
    }

    /// The confirmation of an address the provider did not verify: the link's secret, its
    /// expiry and the mail (rendered before any transaction begins).
    fn confirmation_of(&self, person: &ExternalPerson, name: &Username) -> Result<Option<Confirmation>, FarmError> {
        if person.email_verified {
            return Ok(None);
        }
        let email = Email::parse(person.email.as_deref().unwrap_or(""))?;
        let secret = crate::platform::random::random_hex(32);
        let expires_at = now() + CONFIRM_LINK_TTL;
        let mail = self.mail.render(
            "confirm",
            email.as_str(),
            minijinja::context! {
                farm => self.config.farm_name, username => name.as_str(),
                link => self.portal_link(&format!("/confirm-email?token={secret}")),
                expires => format_time(expires_at),
            },
        )?;
        Ok(Some(Confirmation { secret, expires_at, mail }))
    }

    /// Makes the account of a first login, links it and opens its session, in `tx`. An address
    /// the provider did not verify is kept unconfirmed, with the confirmation mail `confirm`.
    async fn insert_external_account(
        &self,
        tx: &mut Tx,
        person: &ExternalPerson,
        name: &Username,
        confirm: Option<Confirmation>,
        source: &Source,
    ) -> Result<(AccountRecord, String, i64), FarmError> {
        let email = Email::parse(person.email.as_deref().unwrap_or(""))?;
        let role = person.role.unwrap_or(Role::Member);
        let id = tx
            .insert_account(&NewAccount {
                username: name.as_str(),
                username_key: &name.mediawiki_name(),
                email: email.as_str(),
                email_key: &email.key(),
                password_hash: None,
                role: role.as_str(),
                confirmed: person.email_verified,
            })
            .await?;
        if let Some(confirm) = &confirm {
            tx.insert_account_token(&sha256_hex(&confirm.secret), id, "confirm", confirm.expires_at).await?;
            tx.enqueue_mail(&confirm.mail).await?;
        }
        if !tx.link_identity(&person.provider, &person.subject, id).await? {
            return Err(FarmError::Conflict("that identity is linked to an account already".into()));
        }
        tx.audit(&AuditEntry {
            actor: name.as_str().to_owned(),
            action: "account.signup",
            target: format!("account:{name}"),
            source: source.label(),
            details: Some(format!("provider:{}", person.provider)),
        })
        .await?;
        let record = tx.account(id).await?.ok_or(FarmError::NotFound("account"))?;
        let (session_id, expires_at) =
            self.open_session(tx, &record, SessionKind::Portal, Some(&person.provider), source).await?;
        Ok((record, session_id, expires_at))
    }

    fn after_external_account(&self, record: &AccountRecord) {
        if record.email_confirmed_at.is_none() {
            self.wakeups.outbox.notify_one();
        }
    }

    fn seal_json<T: Serialize>(&self, value: &T) -> Result<String, FarmError> {
        let json = serde_json::to_string(value).map_err(|e| FarmError::Internal(e.into()))?;
        Ok(self.sealer.seal(&Secret::new(json))?)
    }

    fn open_json<T: for<'de> Deserialize<'de>>(&self, sealed: &str) -> Result<T, FarmError> {
        let json = self.sealer.open(sealed)?;
        serde_json::from_str(json.expose()).map_err(|e| FarmError::Internal(e.into()))
    }
}

fn group_denied() -> FarmError {
    refusal("external_group_denied")
}

/// The refusal of a login for `code` (the portal shows it translated).
fn refusal(code: &str) -> FarmError {
    match code {
        "oidc_wrong_issuer" => {
            FarmError::denied("oidc_wrong_issuer", "the identity provider's answer names another issuer")
        }
        "oidc_wrong_audience" => {
            FarmError::denied("oidc_wrong_audience", "the identity provider's answer was made for another application")
        }
        "oidc_bad_signature" => {
            FarmError::denied("oidc_bad_signature", "the identity provider's answer is not signed with its keys")
        }
        "oidc_token_expired" => FarmError::denied("oidc_token_expired", "the identity provider's answer has expired"),
        "oidc_nonce_mismatch" => {
            FarmError::denied("oidc_nonce_mismatch", "the identity provider's answer belongs to another login")
        }
        "oidc_code_rejected" => {
            FarmError::denied("oidc_code_rejected", "the identity provider did not accept this login's code")
        }
        "oidc_provider_error" => FarmError::denied("oidc_provider_error", "the identity provider did not log you in"),
        "external_email_unverified" => {
            FarmError::denied("external_email_unverified", "the identity provider has not verified your email address")
        }
        "external_group_denied" => FarmError::denied(
            "external_group_denied",
            "your account at the identity provider may not log in to this farm",
        ),
        _ => FarmError::denied("oidc_token_invalid", "the identity provider's answer could not be used"),
    }
}
