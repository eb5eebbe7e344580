//! MediaWiki's password hash format, so the farm can write an owner's password straight into a
//! wiki's `user` table without starting PHP (`includes/password/Pbkdf2Password.php`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha512;

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

    #[test]
    fn salts_differ() {
        assert_ne!(hash("x"), hash("x"));
    }
}
