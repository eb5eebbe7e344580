//! MediaWiki's PBKDF2 password hash format (`includes/password/Pbkdf2Password.php` with 1.39's
//! `$wgPasswordConfig['pbkdf2']`), so a password can be written straight into a wiki's `user`
//! table without starting PHP.
//!
//! A crate of its own for one reason: `pbkdf2_hmac` is generic and inlined, so its 30,000
//! rounds are compiled in whichever crate calls it. Called from here, they are compiled with this
//! crate's optimisation, which the workspace turns on for debug builds too (0.2 s of CPU per hash
//! unoptimised, a few milliseconds optimised; farmd hashes ahead of demand at every start).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::Sha512;

/// SHA-512, 30,000 rounds, 64 bytes: MediaWiki 1.39's defaults.
pub const ROUNDS: u32 = 30_000;
pub const LENGTH: usize = 64;

/// `:pbkdf2:sha512:30000:64:<salt>:<hash>`, both in standard base64 as PHP writes them.
pub fn hash_with_salt(password: &str, salt: &[u8]) -> String {
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
}
