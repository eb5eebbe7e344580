//! Farm passwords: argon2id with the crate's defaults (OWASP's recommendation: 19 MiB, 2
//! passes). CPU-heavy, so both directions run on the blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::NewPassword;
use crate::error::FarmError;

/// The PHC string of `password`.
pub async fn hash_password(password: &NewPassword) -> Result<String, FarmError> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| FarmError::Internal(anyhow::anyhow!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| FarmError::Internal(anyhow::anyhow!("hashing a password: {e}")))?
}

/// Whether `password` matches `hash`. Without a hash (unknown user, account without password)
/// a dummy hash is checked anyway, so the answer takes as long either way.
pub async fn verify_password(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let (hash, real) = match hash {
        Some(hash) => (hash.to_owned(), true),
        None => (
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut OsRng);
                    Argon2::default().hash_password(b"dummy password", &salt).map(|h| h.to_string()).unwrap_or_default()
                })
                .clone(),
            false,
        ),
    };
    let password = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false);
    real && matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let password = NewPassword::parse("correct horse battery", None).expect("valid");
        let hash = hash_password(&password).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", Some(&hash)).await);
        assert!(!verify_password("wrong horse battery", Some(&hash)).await);
        assert!(!verify_password("correct horse battery", None).await, "no hash never matches");
    }
}
