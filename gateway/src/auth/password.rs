//! Passwords: Argon2id storage and generated temporary passwords (the
//! rule itself is `sekisho_proto::password`, shared with the client). Plaintext passwords live in zeroizing buffers.

use anyhow::{Result, anyhow};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngExt;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use zeroize::Zeroizing;

fn hasher() -> Argon2<'static> {
    // OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> Result<String> {
    // `hash_password` draws a 16-byte salt from the operating system, as
    // `SaltString::generate` did before argon2 0.6.
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow!("cannot hash the password: {e}"))
}

pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real check, so a wrong user name cannot be
/// told from a wrong password by timing.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("Dummy-password-1").unwrap_or_default());
    let _ = verify(password, stored);
}

/// A temporary password that satisfies the rules: 20 characters from an
/// alphabet without look-alikes, plus one of each required kind.
pub fn generate_temporary() -> Zeroizing<String> {
    const LETTERS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = UnwrapErr(SysRng);
    let mut out = Zeroizing::new(String::with_capacity(24));
    for _ in 0..20 {
        out.push(super::token::pick(
            LETTERS,
            rng.random_range(0..LETTERS.len()),
        ));
    }
    out.push_str("-Aa7");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r05_4_password_rules_come_from_the_shared_rule() {
        assert!(sekisho_proto::password::check("Correct-Horse-9").is_ok());
    }

    #[test]
    fn r05_4_stored_as_argon2id_and_verified() {
        let stored = hash("Correct-Horse-9").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("Correct-Horse-9", &stored));
        assert!(!verify("Correct-Horse-8", &stored));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn temporary_passwords_meet_the_rules_and_differ() {
        let a = generate_temporary();
        let b = generate_temporary();
        assert!(sekisho_proto::password::check(&a).is_ok());
        assert_ne!(*a, *b);
    }
}
