//! TOTP (RFC 6238, 30-second steps, 6 digits, SHA-1 as authenticator apps
//! expect). A code is accepted for the step before, the current step and
//! the step after, and never twice: the caller stores the accepted step.

use anyhow::{Result, anyhow};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

const STEP: u64 = 30;

fn build(secret_bytes: Vec<u8>, account: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret_bytes,
        Some("Sekisho".to_string()),
        account.to_string(),
    )
    .map_err(|e| anyhow!("cannot set up TOTP: {e}"))
}

pub struct NewSecret {
    pub base32: String,
    pub otpauth_uri: String,
}

pub fn generate(account: &str) -> Result<NewSecret> {
    let secret = Secret::generate_secret();
    let bytes = secret
        .to_bytes()
        .map_err(|e| anyhow!("cannot generate a TOTP secret: {e}"))?;
    let totp = build(bytes, account)?;
    Ok(NewSecret {
        base32: totp.get_secret_base32(),
        otpauth_uri: totp.get_url(),
    })
}

/// Returns the step the code belongs to, if it is valid at `unix_seconds`
/// and newer than `last_step`.
pub fn verify(base32: &str, code: &str, unix_seconds: i64, last_step: i64) -> Option<i64> {
    let bytes = Secret::Encoded(base32.to_string()).to_bytes().ok()?;
    let totp = build(bytes, "check").ok()?;
    let now = u64::try_from(unix_seconds).ok()?;
    let current = (now / STEP) as i64;
    let code = code.trim();
    (current - 1..=current + 1)
        .filter(|step| *step > last_step && *step >= 0)
        .find(|step| {
            let expected = totp.generate(*step as u64 * STEP);
            expected.as_bytes().ct_eq(code.as_bytes()).into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r04_3_codes_verify_once_and_only_near_their_time() {
        let secret = generate("alice").unwrap();
        assert!(secret.otpauth_uri.starts_with("otpauth://totp/"));
        let bytes = Secret::Encoded(secret.base32.clone()).to_bytes().unwrap();
        let totp = build(bytes, "alice").unwrap();
        let now = 1_790_000_000i64;
        let code = totp.generate(now as u64);
        let step = verify(&secret.base32, &code, now, 0).unwrap();
        assert_eq!(step, now / 30);
        assert_eq!(verify(&secret.base32, &code, now, step), None, "replay");
        assert_eq!(
            verify(&secret.base32, &code, now + 600, 0),
            None,
            "too late"
        );
        assert_eq!(verify(&secret.base32, "000000x", now, 0), None);
    }
}
