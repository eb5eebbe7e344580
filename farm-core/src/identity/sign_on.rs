//! Sign-on assertions: what the farm tells a wiki about the person the portal knows.
//!
//! An assertion is a JWT signed with the farm's Ed25519 key (`data/sign-on.key`, 0600, made
//! from the OS random source on first start). A wiki checks it with the public half alone
//! (PHP's sodium), so nothing a wiki holds can mint a login. It is addressed to one wiki
//! (`aud` = `wiki:KEY`), bound to the state the wiki put in the visitor's browser (`nonce`),
//! valid for a minute and single-use (`jti`, remembered by the wiki until it expires).

use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair;
use serde::{Deserialize, Serialize};

pub const SIGN_ON_KEY_FILE: &str = "sign-on.key";
pub const ISSUER: &str = "farmd";
/// How long an assertion may take from the portal to the wiki.
pub const ASSERTION_TTL_SECONDS: i64 = 60;

/// What the farm vouches for in one assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assertion {
    pub iss: String,
    /// `wiki:KEY`: the one wiki that may accept it.
    pub aud: String,
    /// The user name as MediaWiki stores it.
    pub sub: String,
    /// The farm session it comes from (a hash of its id), which the wiki checks on every
    /// request: when the session ends, so does the person's session on the wiki.
    pub sid: String,
    /// The state the wiki gave the browser when it asked.
    pub nonce: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The farm's sign-on key pair, loaded once.
#[derive(Clone)]
pub struct SignOnKeys {
    encoding: EncodingKey,
    public: [u8; 32],
}

impl std::fmt::Debug for SignOnKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignOnKeys(public {})", self.public_key_hex())
    }
}

impl SignOnKeys {
    /// Reads the key pair (PKCS#8, hex) from `data_dir`, making it if absent.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(SIGN_ON_KEY_FILE);
        let mut failure = None;
        let stored = crate::platform::fsutil::read_or_create(&path, 0o600, || {
            match ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()) {
                Ok(document) => hex::encode(document.as_ref()).into_bytes(),
                Err(_) => {
                    failure = Some(std::io::Error::other("the OS random source failed"));
                    Vec::new()
                }
            }
        });
        if let Some(err) = failure {
            let _ = std::fs::remove_file(&path);
            return Err(err);
        }
        let pkcs8 = hex::decode(stored?.trim_ascii())
            .map_err(|_| std::io::Error::other(format!("{} is not a hex key", path.display())))?;
        Self::from_pkcs8(&pkcs8)
            .ok_or_else(|| std::io::Error::other(format!("{} is not an Ed25519 key", path.display())))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Option<Self> {
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).ok()?;
        let public = pair.public_key().as_ref().try_into().ok()?;
        Some(Self { encoding: EncodingKey::from_ed_der(pkcs8), public })
    }

    /// The public key the wikis verify with (hex of the 32 raw bytes).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public)
    }

    pub fn sign(&self, assertion: &Assertion) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), assertion, &self.encoding)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn an_assertion_verifies_with_the_public_key_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = SignOnKeys::load_or_create(dir.path()).expect("keys");
        let again = SignOnKeys::load_or_create(dir.path()).expect("keys again");
        assert_eq!(keys.public_key_hex(), again.public_key_hex(), "the key is made once");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let assertion = Assertion {
            iss: ISSUER.into(),
            aud: "wiki:w0123456789abcdef".into(),
            sub: "Alice".into(),
            sid: "ab".repeat(32),
            nonce: "00".repeat(16),
            iat: now,
            exp: now + ASSERTION_TTL_SECONDS,
            jti: "11".repeat(16),
        };
        let token = keys.sign(&assertion).expect("sign");
        let public = hex::decode(keys.public_key_hex()).expect("hex");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["wiki:w0123456789abcdef"]);
        let decoded = jsonwebtoken::decode::<Assertion>(&token, &DecodingKey::from_ed_der(&public), &validation)
            .expect("verifies");
        assert_eq!(decoded.claims, assertion);
        let other = SignOnKeys::load_or_create(tempfile::tempdir().expect("tempdir").path()).expect("other");
        let other_public = hex::decode(other.public_key_hex()).expect("hex");
        assert!(
            jsonwebtoken::decode::<Assertion>(&token, &DecodingKey::from_ed_der(&other_public), &validation).is_err()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(SIGN_ON_KEY_FILE)).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
