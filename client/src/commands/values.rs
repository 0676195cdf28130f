//! Value parsers that several commands' clap arguments share: a sentence
//! that must not be blank, a classification, a per-file class, a role, and
//! a word of one of proto's vocabularies.
//!
//! Checking these while parsing makes a typo a usage error (exit code 2,
//! with clap's pointer at the flag) before anything touches the network,
//! and keeps each command module free of the same three checks.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use sekisho_proto::vocab::UnknownWord;
use sekisho_proto::{Class, Role};

/// A required sentence (purpose, reason, note): trimmed, never blank.
pub fn non_blank(s: &str) -> Result<String, String> {
    let trimmed = s.trim();
    // The gateway's own test, so a zero-width space is refused here first.
    if sekisho_proto::names::is_blank(trimmed) {
        Err("it must not be blank; write a short sentence".to_string())
    } else {
        Ok(trimmed.to_string())
    }
}

/// `I`, `II`, `III` (also `1`-`3` and `重要性II`): the policy's three classes.
pub fn class(s: &str) -> Result<Class, String> {
    s.parse::<Class>().map_err(|e| e.to_string())
}

/// `NAME=CLASS`, split at the last `=` so a file name may contain one.
pub fn file_class(text: &str) -> Result<(String, Class), String> {
    let (name, value) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("'{text}' should look like NAME=CLASS, e.g. 名簿.csv=I"))?;
    let value = class(value)?;
    Ok((name.to_string(), value))
}

pub fn role(s: &str) -> Result<Role, String> {
    s.parse::<Role>()
}

/// One word of a proto vocabulary (`Outcome::ALL`, `MediumDisposalKind::ALL`,
/// ...), offered to clap as its possible values so help and errors list
/// them, and parsed into the enum so a command never compares spellings.
pub fn vocabulary<T>(
    words: &'static [T],
    spelling: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T>
where
    T: Copy + Send + Sync + 'static + std::str::FromStr<Err = UnknownWord>,
{
    PossibleValuesParser::new(words.iter().map(|word| PossibleValue::new(spelling(*word))))
        .try_map(|text| text.parse::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_proto::vocab::Outcome;

    #[test]
    fn blank_sentences_are_refused_and_others_trimmed() {
        assert!(non_blank(" \t ").is_err());
        assert_eq!(
            non_blank("  to the prefecture ").as_deref(),
            Ok("to the prefecture")
        );
    }

    #[test]
    fn a_file_class_splits_at_the_last_equals_sign() {
        assert_eq!(
            file_class("a=b.csv=I"),
            Ok(("a=b.csv".to_string(), Class::I))
        );
        assert!(file_class("no-class").is_err());
        assert!(file_class("x.csv=IV").is_err());
    }

    #[test]
    fn a_vocabulary_word_parses_into_its_enum() {
        let cmd = clap::Command::new("t").arg(
            clap::Arg::new("outcome")
                .long("outcome")
                .value_parser(vocabulary(Outcome::ALL, Outcome::as_str)),
        );
        let matches = cmd
            .clone()
            .try_get_matches_from(["t", "--outcome", "denied"])
            .ok();
        assert_eq!(
            matches
                .as_ref()
                .and_then(|m| m.get_one::<Outcome>("outcome")),
            Some(&Outcome::Denied)
        );
        assert!(
            cmd.try_get_matches_from(["t", "--outcome", "maybe"])
                .is_err()
        );
    }
}
