//! Bearer tokens: HS256 JWTs signed with a per-farm key that the daemon makes on first start
//! and keeps in the data directory (mode 0600). A token names its session (`jti`); the
//! session row in the control store decides whether it is still honoured (logout and revoke
//! delete its power at once), and the account decides the role.

use std::path::Path;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::domain::Username;

pub const SIGNING_KEY_FILE: &str = "signing.key";
const ISSUER: &str = "farmd";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: i64,
    exp: i64,
    /// Unique per token, so that a single token can be revoked later.
    jti: String,
}

/// The farm's signing key, loaded once. Cloning is cheap enough (it holds two small keys).
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Derives per-session values (the portal's CSRF token) that only this farm can compute.
    derive: Hmac<Sha256>,
}

/// What a valid signature vouches for: who, and which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub subject: Username,
    pub session_id: String,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// Reads the key from `data_dir`, making it (64 bytes from the OS random source) if absent.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let hex_key = crate::platform::fsutil::read_or_create(&path, 0o600, || {
            crate::platform::random::random_hex(64).into_bytes()
        })?;
        let key = hex::decode(hex_key.trim_ascii())
            .map_err(|_| std::io::Error::other(format!("{} is not a hex key", path.display())))?;
        if key.len() < 32 {
            return Err(std::io::Error::other(format!("{} holds a key shorter than 32 bytes", path.display())));
        }
        Ok(Self::from_secret(&key))
    }

    pub fn from_secret(key: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            derive: <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key")),
        }
    }

    /// A token for `subject`'s session `session_id`, valid until `expires_at` (Unix time).
    pub fn issue(&self, subject: &Username, session_id: &str, expires_at: i64) -> anyhow::Result<String> {
        let claims = Claims {
            sub: subject.as_str().to_owned(),
            iss: ISSUER.into(),
            iat: OffsetDateTime::now_utc().unix_timestamp(),
            exp: expires_at,
            jti: session_id.to_owned(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The CSRF token of a portal session: a keyed hash of its id, so it needs no storage
    /// and cannot be computed by anyone who does not hold the farm's key.
    pub fn csrf_token(&self, session_id: &str) -> String {
        self.derive_hex(b"csrf:", session_id)
    }

    /// The CSRF token of a visitor who has not logged in, bound to their pre-session id (a
    /// random value in an HttpOnly cookie). Another label than [`TokenKeys::csrf_token`], so
    /// that neither token stands in for the other.
    pub fn anonymous_csrf_token(&self, presession_id: &str) -> String {
        self.derive_hex(b"csrf-anonymous:", presession_id)
    }

    fn derive_hex(&self, label: &[u8], value: &str) -> String {
        let mut mac = self.derive.clone();
        mac.update(label);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks signature, algorithm (HS256 only: `none` and every other algorithm are refused),
    /// issuer and expiry, then the subject's syntax.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "jti"]);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        let subject = Username::parse(&data.claims.sub).map_err(|_| TokenError::Invalid)?;
        let jti = data.claims.jti;
        if jti.is_empty() || jti.len() > 64 || !jti.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Invalid);
        }
        Ok(VerifiedToken { subject, session_id: jti })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is malformed or not signed by this farm")]
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn alice() -> Username {
        Username::parse("alice").expect("valid")
    }

    fn in_a_minute() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp() + 60
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = TokenKeys::from_secret(&[7; 32]);
        let token = keys.issue(&alice(), "00ff", in_a_minute()).expect("issue");
        let verified = keys.verify(&token).expect("verifies");
        assert_eq!(verified, VerifiedToken { subject: alice(), session_id: "00ff".into() });
        assert_ne!(keys.csrf_token("00ff"), keys.csrf_token("00fe"));
        assert_ne!(keys.csrf_token("00ff"), TokenKeys::from_secret(&[8; 32]).csrf_token("00ff"));
    }

    #[test]
    fn expired_forged_and_unsigned_tokens_are_refused() {
        let keys = TokenKeys::from_secret(&[7; 32]);
        let expired = keys.issue(&alice(), "01", OffsetDateTime::now_utc().unix_timestamp() - 1).expect("issue");
        assert_eq!(keys.verify(&expired), Err(TokenError::Expired));

        let other = TokenKeys::from_secret(&[8; 32]);
        let forged = other.issue(&alice(), "02", in_a_minute()).expect("issue");
        assert_eq!(keys.verify(&forged), Err(TokenError::Invalid));

        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = engine.encode(format!(
            r#"{{"sub":"alice","iss":"farmd","iat":0,"exp":{},"jti":"03"}}"#,
            OffsetDateTime::now_utc().unix_timestamp() + 600
        ));
        assert_eq!(keys.verify(&format!("{header}.{payload}.")), Err(TokenError::Invalid));
        assert_eq!(keys.verify("not-a-token"), Err(TokenError::Invalid));
    }

    #[test]
    fn key_is_made_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let first = TokenKeys::load_or_create(dir.path()).expect("create");
        let token = first.issue(&alice(), "04", in_a_minute()).expect("issue");
        let second = TokenKeys::load_or_create(dir.path()).expect("load");
        assert!(second.verify(&token).is_ok(), "the key survives a restart");
        let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE)).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
