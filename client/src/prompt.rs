//! Asking the clerk for secrets and codes.
//!
//! Passwords and passphrases come from an environment variable when set
//! (for scripts and tests), otherwise from a prompt that does not echo.
//! When stdin is not a terminal (a pipe), one line is read from it instead,
//! so `sekisho` stays scriptable without ever taking a secret as a flag,
//! where it would be visible in the process list and shell history.
//! Secrets are returned as `SecretString` so they are wiped after use.
//! The local password rule lives here so the clerk hears about a weak
//! password before anything is sent.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

pub const PASSWORD_ENV: &str = "SEKISHO_PASSWORD";
pub const NEW_PASSWORD_ENV: &str = "SEKISHO_NEW_PASSWORD";
pub const PASSPHRASE_ENV: &str = "SEKISHO_PASSPHRASE";

/// A secret from `env`, or asked for with `prompt`.
pub fn secret(env: &str, prompt: &str) -> Result<SecretString> {
    if let Some(value) = from_env(env) {
        return Ok(value);
    }
    let value = ask_hidden(prompt)?;
    if value.expose_secret().is_empty() {
        bail!("nothing was typed; run the command again (or set {env})");
    }
    Ok(value)
}

/// A new password from `env`, or typed twice. Both copies must agree and
/// the rule in [`check_password_rules`] must hold.
pub fn new_password(env: &str) -> Result<SecretString> {
    let password = match from_env(env) {
        Some(value) => value,
        None => {
            let first = ask_hidden("New password: ")?;
            let second = ask_hidden("New password again: ")?;
            if first.expose_secret() != second.expose_secret() {
                bail!(
                    "the two new passwords are different; run `sekisho password` again and type the same password twice"
                );
            }
            first
        }
    };
    check_password_rules(password.expose_secret())?;
    Ok(password)
}

/// A one-time code from the flag, or one line read from stdin.
pub fn otp(given: Option<String>, prompt: &str) -> Result<Zeroizing<String>> {
    let raw = match given {
        Some(code) => Zeroizing::new(code),
        None => {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
            read_line()?
        }
    };
    normalise_otp(&raw)
}

/// Authenticator apps show codes as `123 456`; accept that, refuse the rest.
fn normalise_otp(raw: &str) -> Result<Zeroizing<String>> {
    let code: Zeroizing<String> =
        Zeroizing::new(raw.chars().filter(|c| !c.is_whitespace()).collect());
    if code.is_empty() {
        bail!("no code was given; type the 6-digit code your authenticator app shows now");
    }
    if !code.chars().all(|c| c.is_ascii_digit()) || !(6..=8).contains(&code.len()) {
        bail!(
            "'{}' is not a code from an authenticator app; type the 6 digits it shows now",
            raw.trim()
        );
    }
    Ok(code)
}

/// Returns the password rule's complaint as a sentence listing everything
/// that is missing, so the clerk can fix it in one go.
pub fn check_password_rules(password: &str) -> Result<()> {
    sekisho_proto::password::check(password).map_err(|reason| {
        anyhow::anyhow!("the new password is too weak: {reason}. Choose another one.")
    })
}

fn from_env(env: &str) -> Option<SecretString> {
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

/// Asks without echo, with no environment variable to fall back on.
pub fn hidden(prompt: &str) -> Result<SecretString> {
    ask_hidden(prompt)
}

fn ask_hidden(prompt: &str) -> Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let value =
            rpassword::prompt_password(prompt).context("could not read from the terminal")?;
        Ok(SecretString::from(value))
    } else {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let line = read_line()?;
        Ok(SecretString::from(line.to_string()))
    }
}

fn read_line() -> Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("could not read from standard input")?;
    // A prompt on stderr ends without a newline; end it so the next message
    // starts on its own line when the answer came from a pipe.
    if !std::io::stdin().is_terminal() {
        eprintln!();
    }
    if read == 0 {
        bail!("no answer was given (standard input is empty)");
    }
    let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
    Ok(Zeroizing::new(trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_password_passes() {
        assert!(check_password_rules("Correct-Horse-7").is_ok());
        assert!(check_password_rules("関所Sekisho-2026").is_ok());
    }

    #[test]
    fn weak_password_lists_everything_missing() {
        let err = check_password_rules("short").map_err(|e| e.to_string());
        let Err(msg) = err else {
            panic!("a short password was accepted");
        };
        assert!(msg.contains("at least 12 characters"), "{msg}");
        assert!(msg.contains("upper-case"), "{msg}");
        assert!(msg.contains("digit"), "{msg}");
        assert!(msg.contains("symbol"), "{msg}");
        assert!(!msg.contains("lower-case"), "{msg}");
    }

    #[test]
    fn each_rule_is_enforced() {
        assert!(check_password_rules("correct-horse-7").is_err()); // no upper
        assert!(check_password_rules("CORRECT-HORSE-7").is_err()); // no lower
        assert!(check_password_rules("Correct-Horse-x").is_err()); // no digit
        assert!(check_password_rules("CorrectHorse77").is_err()); // no symbol
        assert!(check_password_rules("Cor-7rect").is_err()); // too short
    }

    #[test]
    fn otp_codes_are_digits_only() {
        assert_eq!(
            normalise_otp("123 456").ok().as_deref().map(String::as_str),
            Some("123456")
        );
        assert!(normalise_otp("12345").is_err());
        assert!(normalise_otp("abcdef").is_err());
        assert!(normalise_otp("").is_err());
    }
}
