//! Owners' passwords in MediaWiki's hash format (the `mediawiki-password` crate), so the farm can
//! write them straight into a wiki's `user` table without starting PHP, hashed ahead of demand.

use rand::rngs::OsRng;
use rand::RngCore;
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::Secret;

/// `:pbkdf2:sha512:30000:64:<salt>:<hash>` with a 16-byte salt from the OS random source.
/// CPU-heavy (milliseconds): call it off the async executor.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    mediawiki_password::hash_with_salt(password, &salt)
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
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

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
                    assert_eq!(mediawiki_password::hash_with_salt(password.expose(), &salt), hashed);
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
