//! TOTP (RFC 6238, 30-second steps, 6 digits, SHA-1 as authenticator apps
//! expect). A code is accepted for the step before, the current step and
//! the step after, and never twice: the caller stores the accepted step.

use anyhow::{Result, anyhow};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};

const STEP: u64 = 30;

fn build(secret: Secret, account: &str) -> Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP)
        .with_secret(secret)
        .with_issuer(Some("Sekisho"))
        .with_account_name(account)
        .build()
        .map_err(|e| anyhow!("cannot set up TOTP: {e}"))
}

pub struct NewSecret {
    pub base32: String,
    pub otpauth_uri: String,
}

pub fn generate(account: &str) -> Result<NewSecret> {
    let totp = build(Secret::generate(), account)?;
    Ok(NewSecret {
        base32: totp.secret().to_base32(),
        otpauth_uri: totp
            .to_url()
            .map_err(|e| anyhow!("cannot write the TOTP URI for {account}: {e}"))?,
    })
}

/// Returns the step the code belongs to, if it is valid at `unix_seconds`
/// and newer than `last_step`.
pub fn verify(base32: &str, code: &str, unix_seconds: i64, last_step: i64) -> Option<i64> {
    let secret = Secret::try_from_base32(base32).ok()?;
    let totp = build(secret, "check").ok()?;
    let now = u64::try_from(unix_seconds).ok()?;
    let current = (now / STEP) as i64;
    let code = code.trim();
    (current - 1..=current + 1)
        .filter(|step| *step > last_step && *step >= 0)
        .find(|step| {
            let expected = totp.generate(*step as u64 * STEP).to_string();
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
        let bytes = Secret::try_from_base32(&secret.base32).unwrap();
        let totp = build(bytes, "alice").unwrap();
        let now = 1_790_000_000i64;
        let code = totp.generate(now as u64).to_string();
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
