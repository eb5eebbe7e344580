//! LDAP logins: the farm searches the directory for the person's entry (with its own
//! account, or anonymously), checks the groups it is asked about, then binds as the entry
//! with the password the person typed. Over `ldaps://` or StartTLS (rustls); plain `ldap://`
//! only to a directory on this machine (the configuration refuses the rest).

use std::sync::Arc;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use crate::config::LdapProviderConfig;
use crate::domain::Secret;

/// Longest login the farm sends to a directory.
const MAX_LOGIN_LEN: usize = 254;

#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    /// No such entry, more than one, or the wrong password: one answer for all three.
    #[error("wrong user name or password ({0})")]
    BadCredentials(&'static str),
    #[error("the directory could not be reached: {0}")]
    Unavailable(String),
}

/// The entry a login found and bound as.
#[derive(Debug, Clone)]
pub struct DirectoryEntry {
    pub dn: String,
    /// The stable id kept in the link to the farm account.
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    /// Which of the configured groups (login, admin, reviewer) list the entry as a member.
    pub groups: Vec<String>,
}

pub struct LdapProvider {
    pub config: LdapProviderConfig,
    bind_password: Option<Secret>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for LdapProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapProvider").field("id", &self.config.id).field("url", &self.config.url).finish()
    }
}

/// `value` escaped for an LDAP filter (RFC 4515: `*`, `(`, `)`, `\` and NUL as `\XX`).
pub fn escape_filter_value(value: &str) -> String {
    ldap3::ldap_escape(value).into_owned()
}

impl LdapProvider {
    pub fn new(config: LdapProviderConfig, bind_password: Option<Secret>) -> anyhow::Result<Self> {
        let tls = match &config.ca_file {
            Some(path) => Some(Arc::new(tls_config(path)?)),
            None => None,
        };
        Ok(Self { config, bind_password, tls })
    }

    async fn connect(&self) -> Result<ldap3::Ldap, LdapError> {
        let mut settings =
            LdapConnSettings::new().set_conn_timeout(self.config.timeout).set_starttls(self.config.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| LdapError::Unavailable(format!("connecting to {}: {e}", self.config.url)))?;
        let id = self.config.id.clone();
        tokio::spawn(async move {
            if let Err(err) = conn.drive().await {
                tracing::debug!(provider = %id, error = %err, "LDAP connection ended");
            }
        });
        ldap.with_timeout(self.config.timeout);
        Ok(ldap)
    }

    /// Checks `login` and `password` against the directory.
    pub async fn authenticate(&self, login: &str, password: &Secret) -> Result<DirectoryEntry, LdapError> {
        let login = login.trim();
        if login.is_empty() || login.len() > MAX_LOGIN_LEN || login.chars().any(char::is_control) {
            return Err(LdapError::BadCredentials("not a login"));
        }
        // An empty password is an unauthenticated bind, which most directories let through.
        if password.expose().is_empty() || password.expose().len() > 1024 {
            return Err(LdapError::BadCredentials("empty password"));
        }
        let unavailable = |what: &str, e: ldap3::LdapError| LdapError::Unavailable(format!("{what}: {e}"));
        let mut service = self.connect().await?;
        if let (Some(dn), Some(password)) = (&self.config.bind_dn, &self.bind_password) {
            service
                .simple_bind(dn, password.expose())
                .await
                .and_then(|r| r.success())
                .map_err(|e| unavailable("the farm's bind", e))?;
        }
        let filter = self.config.filter.replace("{login}", &escape_filter_value(login));
        let subject_attribute = self.config.subject_attribute.as_str();
        let attributes =
            [self.config.username_attribute.as_str(), self.config.email_attribute.as_str(), subject_attribute];
        let (entries, _) = service
            .search(&self.config.base, Scope::Subtree, &filter, attributes.to_vec())
            .await
            .and_then(|r| r.success())
            .map_err(|e| unavailable("search", e))?;
        let mut entries = entries.into_iter().map(SearchEntry::construct);
        let (Some(entry), None) = (entries.next(), entries.next()) else {
            let _ = service.unbind().await;
            return Err(LdapError::BadCredentials("no single entry for the login"));
        };
        let first = |attr: &str| {
            entry
                .attrs
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(attr))
                .and_then(|(_, values)| values.first())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let found = DirectoryEntry {
            dn: entry.dn.clone(),
            subject: first(subject_attribute).unwrap_or_else(|| entry.dn.clone()),
            username: first(&self.config.username_attribute),
            email: first(&self.config.email_attribute),
            groups: Vec::new(),
        };
        let groups = self.groups_of(&mut service, &found.dn).await?;
        let _ = service.unbind().await;

        let mut user = self.connect().await?;
        let bound = user.simple_bind(&found.dn, password.expose()).await;
        let _ = user.unbind().await;
        match bound.map(|r| r.rc) {
            Ok(0) => Ok(DirectoryEntry { groups, ..found }),
            Ok(49) => Err(LdapError::BadCredentials("the directory refused the password")),
            Ok(rc) => Err(LdapError::Unavailable(format!("bind as the entry answered {rc}"))),
            Err(e) => Err(unavailable("bind as the entry", e)),
        }
    }

    /// The configured groups that list `dn` as a member (each asked as a base search of the
    /// group's entry, so no memberOf overlay is needed).
    async fn groups_of(&self, ldap: &mut ldap3::Ldap, dn: &str) -> Result<Vec<String>, LdapError> {
        let config = &self.config;
        let mut wanted: Vec<&String> =
            config.login_groups.iter().chain(&config.admin_groups).chain(&config.reviewer_groups).collect();
        wanted.sort();
        wanted.dedup();
        let filter = format!("({}={})", config.group_member_attribute, escape_filter_value(dn));
        let mut member_of = Vec::new();
        for group in wanted {
            match ldap.search(group, Scope::Base, &filter, vec!["1.1"]).await {
                Ok(result) => match result.success() {
                    Ok((entries, _)) if !entries.is_empty() => member_of.push(group.clone()),
                    Ok(_) => {}
                    Err(ldap3::LdapError::LdapResult { result }) if result.rc == 32 => {
                        tracing::warn!(provider = %config.id, group = %group, "the configured LDAP group does not exist");
                    }
                    Err(e) => return Err(LdapError::Unavailable(format!("group {group}: {e}"))),
                },
                Err(e) => return Err(LdapError::Unavailable(format!("group {group}: {e}"))),
            }
        }
        Ok(member_of)
    }
}

/// A TLS configuration that trusts the CAs in a PEM file (besides none other).
fn tls_config(path: &std::path::Path) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
    {
        let cert = cert.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        roots.add(cert).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "{} holds no certificate", path.display());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_escaped_per_rfc_4515() {
        assert_eq!(escape_filter_value("alice"), "alice");
        assert_eq!(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(escape_filter_value("a\\b\0"), "a\\5cb\\00");
        assert_eq!(escape_filter_value("jörg"), "jörg");
    }
}
