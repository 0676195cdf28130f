//! The password rule of policy 5.(4)②(ウ), shared so that the client's early
//! check and the gateway's enforcement can never disagree.

pub const MIN_CHARS: usize = 12;

/// `Err` lists everything that is missing, so the user can fix it in one go.
pub fn check(password: &str) -> Result<(), String> {
    // (Japanese, English) for each rule the password misses.
    let mut missing: Vec<(String, String)> = Vec::new();
    if password.chars().count() < MIN_CHARS {
        missing.push((
            format!("{MIN_CHARS}文字以上"),
            format!("at least {MIN_CHARS} characters"),
        ));
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        missing.push(("英大文字 (A-Z)".into(), "an upper-case letter (A-Z)".into()));
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        missing.push(("英小文字 (a-z)".into(), "a lower-case letter (a-z)".into()));
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push(("数字 (0-9)".into(), "a digit (0-9)".into()));
    }
    if !password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
    {
        missing.push((
            "記号 (! # % - など)".into(),
            "a symbol such as ! # % or -".into(),
        ));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        let japanese: Vec<&str> = missing.iter().map(|(ja, _)| ja.as_str()).collect();
        let english: Vec<&str> = missing.iter().map(|(_, en)| en.as_str()).collect();
        Err(format!(
            "パスワードには次が必要です: {}（ポリシー 5.(4)②(ウ)）。 The password needs {} (policy 5.(4)②(ウ))",
            japanese.join("、"),
            english.join(", ")
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
