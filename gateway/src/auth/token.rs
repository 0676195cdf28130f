//! Random bearer tokens (sessions) and their stored form. Only the SHA-256
//! of a token is stored; a lookup by hash leaks nothing useful through
//! timing, since an attacker cannot choose hash prefixes.

use base64::Engine;
use rand::Rng;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// 256 random bits, URL-safe.
pub fn generate() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    UnwrapErr(SysRng).fill_bytes(bytes.as_mut());
    Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice()))
}

/// The hash to look a link token up by, if `text` can be a token at all
/// (43 URL-safe characters, as [`generate`] makes them). Anything else
/// cannot match, so it is answered "not found" without a database query.
pub fn link_lookup_hash(text: &str) -> Option<String> {
    let well_formed = text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| hash(text))
}

/// The character at `index` (taken modulo the alphabet's length) of an
/// ASCII alphabet.
pub(crate) fn pick(alphabet: &[u8], index: usize) -> char {
    let at = index % alphabet.len().max(1);
    alphabet.get(at).map_or('?', |&b| char::from(b))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A passphrase for a recipient without keys: ten words' worth of entropy in
/// groups a clerk can read over the telephone (about 120 bits).
pub fn generate_passphrase() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = Zeroizing::new([0u8; 24]);
    UnwrapErr(SysRng).fill_bytes(bytes.as_mut());
    let mut out = Zeroizing::new(String::with_capacity(29));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(pick(ALPHABET, usize::from(*b)));
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
    fn only_well_formed_link_tokens_are_looked_up() {
        let t = generate();
        assert_eq!(link_lookup_hash(&t), Some(hash(&t)));
        assert_eq!(link_lookup_hash(&t[1..]), None);
        assert_eq!(link_lookup_hash(&format!("{}/", &t[1..])), None);
        assert_eq!(link_lookup_hash(""), None);
    }

    #[test]
    fn passphrases_are_grouped_and_unique() {
        let p = generate_passphrase();
        assert_eq!(p.split('-').count(), 6);
        assert_ne!(*p, *generate_passphrase());
    }
}
