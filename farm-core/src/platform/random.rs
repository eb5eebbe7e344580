//! Values from the OS random source.

use rand::rngs::OsRng;
use rand::{Rng, RngCore};

use crate::domain::Secret;

/// `n` bytes from the OS random source, as 2·n lowercase hex digits.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A password of `len` letters and digits (about 5.95 bits each) from the OS random source.
pub fn random_password(len: usize) -> Secret {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let password = (0..len).map(|_| ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char).collect();
    Secret::new(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_have_the_right_shape_and_differ() {
        let a = random_hex(32);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(32));
        let p = random_password(20);
        assert_eq!(p.expose().len(), 20);
        assert!(p.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
