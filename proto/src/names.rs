//! File names that cross the gateway. A name is refused, never rewritten:
//! silently changing what a clerk typed would surprise them, and a name with
//! path tricks is either a mistake or an attack.
//!
//! The rules are the union of what every desktop the staff and the
//! recipients use can create safely: a name that is fine on Linux but means
//! a drive, a device or a different name on Windows is refused everywhere,
//! because the file will travel to a Windows desk sooner or later.

use std::fmt;
use std::path::{Component, Path, PathBuf};

pub const MAX_NAME_BYTES: usize = 255;

/// Characters Windows does not allow in a name (`:` also starts an NTFS
/// alternate data stream, and `C:x` is a path relative to drive C).
const WINDOWS_RESERVED: &[char] = &[':', '<', '>', '"', '|', '?', '*'];

/// Names Windows opens as devices, with or without an extension
/// (`CON.txt` is the console too). Compared without case.
const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM1", "COM2", "COM3", "COM4", "COM5",
    "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5",
    "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadName {
    Empty,
    TooLong,
    Separator,
    DotName,
    ControlCharacter,
    /// One of `: < > " | ? *`.
    ReservedCharacter(char),
    /// CON, PRN, AUX, NUL, COM1-9, LPT1-9, with or without an extension.
    DeviceName(String),
    /// Windows drops a trailing dot or space, so `report.txt.` becomes
    /// `report.txt` on the desk: another name than the one approved.
    TrailingDotOrSpace,
    /// Bidirectional overrides and other invisible format characters make a
    /// name look like another (`invoice\u{202e}txt.exe` shows as
    /// `invoiceexe.txt`).
    InvisibleCharacter(char),
}

impl fmt::Display for BadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadName::Empty => f.write_str("ファイル名が空です。The file name is empty."),
            BadName::TooLong => f.write_str(
                "ファイル名が 255 バイトを超えています。短い名前に変更してください。\
                 The file name is longer than 255 bytes; give it a shorter name.",
            ),
            BadName::Separator => f.write_str(
                "ファイル名にフォルダの区切り (/ または \\) が含まれています。区切りのない名前に変更してください。\
                 The file name contains a path separator (/ or \\); rename it without one.",
            ),
            BadName::DotName => f.write_str(
                "ファイル名が「.」「..」または「..」で始まっています。名前を変更してください。\
                 The file name is '.' or '..' or starts with '..'; rename it.",
            ),
            BadName::ControlCharacter => f.write_str(
                "ファイル名に制御文字 (改行など) が含まれています。名前を変更してください。\
                 The file name contains a control character (such as a line break); rename it.",
            ),
            BadName::ReservedCharacter(c) => write!(
                f,
                "ファイル名に Windows で使えない文字「{c}」が含まれています (: < > \" | ? * は使えません)。その文字を除いた名前に変更してください。\
                 The file name contains '{c}', which Windows does not allow (: < > \" | ? * are refused); rename it without that character."
            ),
            BadName::DeviceName(device) => write!(
                f,
                "「{device}」は Windows の装置名のため、拡張子を付けてもファイル名に使えません。別の名前に変更してください。\
                 '{device}' is a Windows device name and cannot be a file name, with or without an extension; rename it."
            ),
            BadName::TrailingDotOrSpace => f.write_str(
                "ファイル名が点または空白で終わっています (Windows では別の名前になります)。末尾の点や空白を除いた名前に変更してください。\
                 The file name ends with a dot or a space, which Windows drops (the file would arrive under another name); rename it without them.",
            ),
            BadName::InvisibleCharacter(c) => write!(
                f,
                "ファイル名に見えない書式文字 (U+{:04X}) が含まれています。表示される名前と実際の名前が異なるため、その文字を除いた名前に変更してください。\
                 The file name contains the invisible format character U+{:04X} (such as a right-to-left override), which makes it look like another name; rename it without that character.",
                u32::from(*c),
                u32::from(*c)
            ),
        }
    }
}

impl std::error::Error for BadName {}

/// Accepts a bare file name (no folders) that is safe to create on Linux,
/// macOS and Windows without escaping the target folder, and that shows the
/// same name it has.
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
    if let Some(c) = name.chars().find(|&c| is_invisible_format(c)) {
        return Err(BadName::InvisibleCharacter(c));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(BadName::Separator);
    }
    if name == "." || name == ".." || name.starts_with("..") {
        return Err(BadName::DotName);
    }
    if let Some(c) = name.chars().find(|c| WINDOWS_RESERVED.contains(c)) {
        return Err(BadName::ReservedCharacter(c));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err(BadName::TrailingDotOrSpace);
    }
    if let Some(device) = device_stem(name) {
        return Err(BadName::DeviceName(device.to_string()));
    }
    Ok(())
}

/// The path of `name` inside `dir`, for a program that writes a file there:
/// the name must pass [`check_file_name`] and be exactly one ordinary path
/// component on this platform, whatever a server or an archive sent.
pub fn join_one(dir: &Path, name: &str) -> Result<PathBuf, BadName> {
    check_file_name(name)?;
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) => Ok(dir.join(name)),
        _ => Err(BadName::Separator),
    }
}

/// The part of `name` that Windows opens as a device, as it was typed: the
/// part before the first dot, without trailing spaces (Windows ignores them
/// there too), matched without case.
fn device_stem(name: &str) -> Option<&str> {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    DEVICE_NAMES
        .iter()
        .any(|device| device.eq_ignore_ascii_case(stem))
        .then_some(stem)
}

/// Unicode format characters (general category Cf) and the other code
/// points that render as nothing: bidirectional marks, embeddings,
/// overrides and isolates, zero-width spaces and joiners, word joiners,
/// the byte-order mark, interlinear annotation marks and tag characters.
/// Listed here rather than taken from a Unicode table crate: the set is
/// small, stable across Unicode versions, and reviewed in one place.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether a sentence a person must write (a purpose, a reason) shows
/// nothing: empty, spaces of any kind (the full-width one too), or only
/// characters that render as nothing. A zero-width space pasted from a web
/// page passes `trim` but is as blank on every screen and report as an
/// empty field, so the client and the gateway both refuse it with this.
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || is_invisible_format(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_sentences_are_the_ones_that_show_nothing() {
        for blank in [
            "",
            "  ",
            "\u{3000}",
            "\u{200B}\u{200B}",
            "\u{FEFF} \u{200D}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for written in ["業務連絡", " a ", "\u{200B}x"] {
            assert!(!is_blank(written), "{written:?}");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "report.pdf",
            "議事録 2026.docx",
            ".hidden",
            "a..b",
            "CONTRACT.pdf",
            "console.log",
            "COM10.txt",
            "nul-report.txt",
            "見積書（案）.xlsx",
            "a b.txt",
        ] {
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

    #[test]
    fn r06_1_windows_drive_and_reserved_characters_are_refused() {
        assert_eq!(
            check_file_name("C:x.txt"),
            Err(BadName::ReservedCharacter(':'))
        );
        assert_eq!(
            check_file_name("report.txt:hidden"),
            Err(BadName::ReservedCharacter(':'))
        );
        for c in ['<', '>', '"', '|', '?', '*'] {
            assert_eq!(
                check_file_name(&format!("a{c}b.txt")),
                Err(BadName::ReservedCharacter(c)),
                "{c}"
            );
        }
    }

    #[test]
    fn r06_1_device_names_are_refused_with_any_extension_or_case() {
        for name in [
            "CON",
            "con",
            "CON.txt",
            "prn.tar.gz",
            "Aux",
            "NUL.docx",
            "COM1",
            "com9.log",
            "LPT1.txt",
            "lpt9",
            "CON .txt",
            "COM¹.txt",
        ] {
            assert!(
                matches!(check_file_name(name), Err(BadName::DeviceName(_))),
                "{name}: {:?}",
                check_file_name(name)
            );
        }
    }

    #[test]
    fn r06_1_trailing_dots_and_spaces_are_refused() {
        for name in ["report.txt.", "report.txt ", "report. ", "a."] {
            assert_eq!(
                check_file_name(name),
                Err(BadName::TrailingDotOrSpace),
                "{name:?}"
            );
        }
    }

    #[test]
    fn r06_1_bidi_and_invisible_characters_are_refused() {
        for c in [
            '\u{202E}',
            '\u{202D}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{200E}',
            '\u{FEFF}',
            '\u{061C}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            let name = format!("invoice{c}txt.exe");
            assert_eq!(
                check_file_name(&name),
                Err(BadName::InvisibleCharacter(c)),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn every_refusal_says_what_to_do_japanese_first() {
        for bad in [
            "",
            "C:x.txt",
            "CON",
            "report.txt.",
            "invoice\u{202e}txt.exe",
            "a/b",
            "..",
            "a\nb",
        ] {
            let why = check_file_name(bad).expect_err(bad).to_string();
            let english = why.find(|c: char| c.is_ascii_uppercase()).unwrap_or(0);
            assert!(
                why.chars().next().is_some_and(|c| !c.is_ascii()),
                "{bad:?}: Japanese first: {why}"
            );
            assert!(english > 0, "{bad:?}: English after: {why}");
        }
        assert!(
            check_file_name("a?b")
                .expect_err("?")
                .to_string()
                .contains("rename")
        );
    }

    #[test]
    fn join_one_gives_a_path_directly_inside_the_folder() {
        let dir = Path::new("/srv/in");
        assert_eq!(
            join_one(dir, "見積書.pdf"),
            Ok(PathBuf::from("/srv/in/見積書.pdf"))
        );
        assert!(join_one(dir, "../x").is_err());
        assert!(join_one(dir, "C:x").is_err());
        assert!(join_one(dir, "/etc/passwd").is_err());
        assert!(join_one(dir, ".").is_err());
    }
}
