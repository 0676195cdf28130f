//! The password rule of policy 5.(4)②(ウ), shared so that the client's early
//! check and the gateway's enforcement can never disagree.

pub const MIN_CHARS: usize = 12;

/// `Err` lists everything that is missing, so the user can fix it in one go.
pub fn check(password: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    if password.chars().count() < MIN_CHARS {
        missing.push(format!("at least {MIN_CHARS} characters"));
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        missing.push("an upper-case letter (A-Z)".to_string());
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        missing.push("a lower-case letter (a-z)".to_string());
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit (0-9)".to_string());
    }
    if !password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
    {
        missing.push("a symbol such as ! # % or -".to_string());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the password needs {} (policy 5.(4)②(ウ))",
            missing.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r05_4_password_rules() {
        assert!(check("Short1!").is_err());
        assert!(check("alllowercase1!").is_err());
        assert!(check("ALLUPPERCASE1!").is_err());
        assert!(check("NoDigitsHere!!").is_err());
        assert!(check("NoSymbols1234").is_err());
        assert!(check("Correct-Horse-9").is_ok());
        let message = check("abc").unwrap_err();
        assert!(message.contains("12 characters") && message.contains("symbol"));
    }
}
