//! Random bearer tokens (sessions) and their stored form. Only the SHA-256
//! of a token is stored; a lookup by hash leaks nothing useful through
//! timing, since an attacker cannot choose hash prefixes.

use base64::Engine;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// 256 random bits, URL-safe.
pub fn generate() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A passphrase for a recipient without keys: ten words' worth of entropy in
/// groups a clerk can read over the telephone (about 120 bits).
pub fn generate_passphrase() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = Zeroizing::new([0u8; 24]);
    OsRng.fill_bytes(bytes.as_mut());
    let mut out = Zeroizing::new(String::with_capacity(29));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[(*b as usize) % ALPHABET.len()] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_unique() {
        let a = generate();
        assert!(a.len() >= 43);
        assert_ne!(*a, *generate());
        assert_eq!(hash(&a).len(), 64);
    }

    #[test]
    fn passphrases_are_grouped_and_unique() {
        let p = generate_passphrase();
        assert_eq!(p.split('-').count(), 6);
        assert_ne!(*p, *generate_passphrase());
    }
}
