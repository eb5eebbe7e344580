//! Secrets from the OS random source, and the sealing of credentials kept in the control
//! store.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;

use super::random::random_hex;
use crate::domain::Secret;

/// Encrypts credentials kept in the control store (XChaCha20-Poly1305). Its key lives in the
/// data directory (mode 0600), never in the control store, so a copy of the registry alone
/// reveals no password.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

pub const SEALING_KEY_FILE: &str = "credentials.key";
const SEALED_PREFIX: &str = "v1:";

impl Sealer {
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(SEALING_KEY_FILE);
        let hex_key = super::fsutil::read_or_create(&path, 0o600, || random_hex(32).into_bytes())?;
        let key = hex::decode(hex_key.trim_ascii())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| std::io::Error::other(format!("{} does not hold a 32-byte hex key", path.display())))?;
        Ok(Self { cipher: XChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    pub fn seal(&self, secret: &Secret) -> anyhow::Result<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, secret.expose().as_bytes())
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(sealed)))
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Secret> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|b| b.len() > 24)
            .ok_or_else(|| anyhow::anyhow!("a sealed credential is malformed"))?;
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| anyhow::anyhow!("a sealed credential does not open with this farm's key"))?;
        Ok(Secret::new(String::from_utf8(plain)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_with_their_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sealer = Sealer::load_or_create(dir.path()).expect("key");
        let secret = Secret::new("db-password-123".into());
        let sealed = sealer.seal(&secret).expect("seal");
        assert!(!sealed.contains("db-password-123"));
        assert_ne!(sealed, sealer.seal(&secret).expect("seal"), "fresh nonce each time");
        assert_eq!(Sealer::load_or_create(dir.path()).expect("reload").open(&sealed).expect("open"), secret);
        let other = tempfile::tempdir().expect("tempdir");
        assert!(Sealer::load_or_create(other.path()).expect("key").open(&sealed).is_err());
        assert!(sealer.open("v1:AAAA").is_err());
    }
}
