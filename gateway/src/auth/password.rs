//! Passwords: policy 5.(4)②(ウ) rules, Argon2id storage, generated
//! temporary passwords. Plaintext passwords live in zeroizing buffers.

use anyhow::{Result, anyhow};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

pub const MIN_LENGTH: usize = 12;

/// Why a password does not meet the policy, as a sentence for the user.
pub fn check_rules(password: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    if password.chars().count() < MIN_LENGTH {
        missing.push(format!("at least {MIN_LENGTH} characters"));
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        missing.push("an upper-case letter".to_string());
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        missing.push("a lower-case letter".to_string());
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit".to_string());
    }
    if !password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        missing.push("a symbol".to_string());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the password must contain {} (policy 5.(4)②(ウ))",
            missing.join(", ")
        ))
    }
}

fn hasher() -> Argon2<'static> {
    // OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
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
    let mut rng = OsRng;
    let mut out = Zeroizing::new(String::with_capacity(24));
    for _ in 0..20 {
        out.push(LETTERS[rng.gen_range(0..LETTERS.len())] as char);
    }
    out.push_str("-Aa7");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r05_4_password_rules() {
        assert!(check_rules("Short1!").is_err());
        assert!(check_rules("alllowercase1!").is_err());
        assert!(check_rules("ALLUPPERCASE1!").is_err());
        assert!(check_rules("NoDigitsHere!!").is_err());
        assert!(check_rules("NoSymbols1234").is_err());
        assert!(check_rules("Correct-Horse-9").is_ok());
        let message = check_rules("abc").unwrap_err();
        assert!(message.contains("12 characters") && message.contains("symbol"));
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
        assert!(check_rules(&a).is_ok());
        assert_ne!(*a, *b);
    }
}
