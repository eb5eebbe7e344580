//! MediaWiki's password hash format, so the farm can write an owner's password straight into a
//! wiki's `user` table without starting PHP (`includes/password/Pbkdf2Password.php`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha512;
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::Secret;

/// MediaWiki 1.39's `$wgPasswordConfig['pbkdf2']`: SHA-512, 30,000 rounds, 64 bytes.
const ROUNDS: u32 = 30_000;
const LENGTH: usize = 64;

/// `:pbkdf2:sha512:30000:64:<salt>:<hash>` with a 16-byte salt from the OS random source.
/// CPU-heavy (tens of milliseconds): call it off the async executor.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    hash_with_salt(password, &salt)
}

fn hash_with_salt(password: &str, salt: &[u8]) -> String {
    let mut out = [0u8; LENGTH];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, ROUNDS, &mut out);
    format!(":pbkdf2:sha512:{ROUNDS}:{LENGTH}:{}:{}", STANDARD.encode(salt), STANDARD.encode(out))
}

/// Initial passwords with their hashes, made ahead of demand so that hashing is off a
/// creation's critical path. Held in memory only (never written anywhere) and bounded; a
/// restart simply makes new ones.
#[derive(Default)]
pub struct PasswordStock {
    ready: Mutex<Vec<(Secret, String)>>,
    taken: Notify,
}

impl PasswordStock {
    const SIZE: usize = 16;

    /// A random password of `len` characters and its MediaWiki hash, computed now.
    pub async fn prepare(len: usize) -> anyhow::Result<(Secret, String)> {
        tokio::task::spawn_blocking(move || {
            let password = crate::platform::random::random_password(len);
            let hashed = hash(password.expose());
            (password, hashed)
        })
        .await
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    }

    pub fn take(&self) -> Option<(Secret, String)> {
        let taken = self.ready.lock().unwrap_or_else(|p| p.into_inner()).pop();
        self.taken.notify_one();
        taken
    }

    pub async fn run(&self, len: usize, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let missing = Self::SIZE.saturating_sub(self.ready.lock().unwrap_or_else(|p| p.into_inner()).len());
            if missing == 0 {
                tokio::select! {
                    _ = self.taken.notified() => {}
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
            match Self::prepare(len).await {
                Ok(prepared) => self.ready.lock().unwrap_or_else(|p| p.into_inner()).push(prepared),
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot prepare passwords");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_php_hash_pbkdf2() {
        // php -r 'echo base64_encode(hash_pbkdf2("sha512", "correct horse", "0123456789abcdef", 30000, 64, true));'
        let expected_hash = "EZdYedjJ9LINuCEWb/obgbC2etwQSY8+K/kV9Sbe4upwijP8unRux35qRxFax9VOayhTRti9uKhJLnaJW9awyQ==";
        let got = hash_with_salt("correct horse", b"0123456789abcdef");
        assert_eq!(got, format!(":pbkdf2:sha512:30000:64:MDEyMzQ1Njc4OWFiY2RlZg==:{expected_hash}"));
    }

    #[tokio::test]
    async fn the_stock_hands_out_distinct_passwords_that_match_their_hashes() {
        let stock = std::sync::Arc::new(PasswordStock::default());
        let shutdown = CancellationToken::new();
        let filler = tokio::spawn({
            let (stock, shutdown) = (stock.clone(), shutdown.clone());
            async move { stock.run(12, shutdown).await }
        });
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match stock.take() {
                Some((password, hashed)) => {
                    let salt = STANDARD.decode(hashed.split(':').nth(5).expect("salt")).expect("b64");
                    assert_eq!(hash_with_salt(password.expose(), &salt), hashed);
                    assert!(!seen.contains(&password));
                    seen.push(password);
                }
                None => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
        shutdown.cancel();
        filler.await.expect("filler stops");
    }

    #[test]
    fn salts_differ() {
        assert_ne!(hash("x"), hash("x"));
    }
}
