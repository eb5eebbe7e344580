//! What the command line does on the data directory without a running daemon (or beside
//! one): the first admin and service accounts, API tokens, and placeholder wikis for
//! benchmarks. Each change is audited as the `cli`'s.

use std::path::Path;

use crate::domain::{Email, NewPassword, Role, SessionKind, Username, WikiName};
use crate::error::FarmError;
use crate::identity::passwords::hash_password;
use crate::identity::tokens::TokenKeys;
use crate::platform::layout::Layout;
use crate::platform::time::now;
use crate::store::{AuditEntry, NewAccount, Store};

use super::accounts::AccountView;

/// Creates an account from the command line (the first admin, service accounts): confirmed,
/// with or without a password.
pub async fn create_account(
    store: &Store,
    username: &str,
    email: &str,
    role: Role,
    password: Option<&str>,
) -> Result<AccountView, FarmError> {
    let username = Username::parse(username)?;
    let email = Email::parse(email)?;
    let hash = match password {
        Some(password) => Some(hash_password(&NewPassword::parse(password, Some(&username))?).await?),
        None => None,
    };
    let key = username.mediawiki_name();
    let mut tx = store.begin().await?;
    tx.insert_account(&NewAccount {
        username: username.as_str(),
        username_key: &key,
        email: email.as_str(),
        email_key: &email.key(),
        password_hash: hash.as_deref(),
        role: role.as_str(),
        confirmed: true,
    })
    .await?;
    tx.audit(&AuditEntry {
        actor: "cli".into(),
        action: "account.create",
        target: format!("account:{username}"),
        source: None,
        details: Some(format!("role {}", role.as_str())),
    })
    .await?;
    tx.commit().await?;
    let record = store.account_by_username_key(&key).await?.ok_or(FarmError::NotFound("account"))?;
    Ok(AccountView::from_record(&record))
}

/// Issues an API token for `username` from the command line.
pub async fn issue_token(
    store: &Store,
    keys: &TokenKeys,
    username: &str,
    ttl: std::time::Duration,
) -> Result<String, FarmError> {
    let username = Username::parse(username)?;
    let account =
        store.account_by_username_key(&username.mediawiki_name()).await?.ok_or(FarmError::NotFound("account"))?;
    let session_id = crate::platform::random::random_hex(16);
    let expires_at = now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2));
    let mut tx = store.begin().await?;
    tx.insert_session(&session_id, account.id, SessionKind::Api.as_str(), expires_at).await?;
    tx.audit(&AuditEntry {
        actor: "cli".into(),
        action: "token.issue",
        target: format!("account:{}", account.username),
        source: None,
        details: None,
    })
    .await?;
    tx.commit().await?;
    let subject = Username::parse(&account.username)?;
    Ok(keys.issue(&subject, &session_id, expires_at)?)
}

/// For benchmarks: registers `count` placeholder wikis named `{prefix}-{n}` (active, with no
/// resources behind them). Never for a farm people use.
pub async fn seed_placeholder_wikis(store: &Store, prefix: &str, count: u64) -> Result<(), FarmError> {
    WikiName::parse(&format!("{prefix}-0"))?;
    store.seed_placeholder_wikis(prefix, count).await
}

/// The data directory's signing key, for tokens made on the command line.
pub fn token_keys(data_dir: &Path) -> anyhow::Result<TokenKeys> {
    let layout = Layout::new(data_dir)?;
    Ok(TokenKeys::load_or_create(layout.root())?)
}
