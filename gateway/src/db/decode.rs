//! Reading typed words back from rows. Every stored state, verdict, kind,
//! class and role is a `proto` vocabulary word; a row holding anything else
//! is damaged, and reading it fails with the column named rather than
//! guessing a meaning.

use std::str::FromStr;

use anyhow::{Result, anyhow};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The typed value of a TEXT column.
pub fn word<T: FromStr>(row: &AnyRow, column: &str) -> Result<T> {
    let text: String = row.try_get(column)?;
    parse_word(&text, column)
}

/// The typed value of a nullable TEXT column.
pub fn optional_word<T: FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| parse_word(&t, column)).transpose()
}

pub fn parse_word<T: FromStr>(text: &str, column: &str) -> Result<T> {
    text.parse::<T>().map_err(|_| {
        anyhow!(
            "the stored {column} '{}' is not valid; the database row is damaged",
            text.escape_debug()
        )
    })
}
