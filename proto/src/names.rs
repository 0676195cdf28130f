//! File names that cross the gateway. A name is refused, never rewritten:
//! silently changing what a clerk typed would surprise them, and a name with
//! path tricks is either a mistake or an attack.

use std::fmt;

pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadName {
    Empty,
    TooLong,
    Separator,
    DotName,
    ControlCharacter,
}

impl fmt::Display for BadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadName::Empty => "the file name is empty",
            BadName::TooLong => "the file name is longer than 255 bytes",
            BadName::Separator => "the file name contains a path separator (/ or \\)",
            BadName::DotName => "the file name is '.' or '..' or starts with a dot-dot path",
            BadName::ControlCharacter => "the file name contains a control character",
        })
    }
}

impl std::error::Error for BadName {}

/// Accepts a bare file name (no folders) that is safe to create on Linux,
/// macOS and Windows without escaping the target folder.
pub fn check_file_name(name: &str) -> Result<(), BadName> {
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(BadName::TooLong);
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(BadName::ControlCharacter);
    }
    if name.contains('/') || name.contains('\\') {
        return Err(BadName::Separator);
    }
    if name == "." || name == ".." || name.starts_with("..") {
        return Err(BadName::DotName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in ["report.pdf", "議事録 2026.docx", ".hidden", "a..b"] {
            assert_eq!(check_file_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn path_tricks_are_refused() {
        assert_eq!(check_file_name("../etc/passwd"), Err(BadName::Separator));
        assert_eq!(check_file_name(".."), Err(BadName::DotName));
        assert_eq!(check_file_name("..hidden"), Err(BadName::DotName));
        assert_eq!(check_file_name("a\\b"), Err(BadName::Separator));
        assert_eq!(check_file_name("/abs"), Err(BadName::Separator));
        assert_eq!(
            check_file_name("line\nbreak"),
            Err(BadName::ControlCharacter)
        );
        assert_eq!(check_file_name("nul\0"), Err(BadName::ControlCharacter));
        assert_eq!(check_file_name(""), Err(BadName::Empty));
        assert_eq!(check_file_name(&"x".repeat(256)), Err(BadName::TooLong));
    }
}
