//! How results look: JSON for scripts, aligned tables and sizes for people.
//!
//! Tables must line up with Japanese labels (重要性II, 承認待ち), whose
//! characters take two terminal columns, so widths are measured with
//! `unicode-width` rather than `len()`. Progress bars live here too, so the
//! rule "never on stdout, never with --json, never when stderr is not a
//! terminal" is written once.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).context("could not encode the answer as JSON")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("could not write to standard output")?;
    Ok(())
}

/// Sizes as Windows Explorer shows them (1024-based, KB/MB/GB), which is
/// what office staff compare against.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let unit_name = UNITS.get(unit).copied().unwrap_or("PB");
    if value < 10.0 {
        format!("{value:.1} {unit_name}")
    } else {
        format!("{value:.0} {unit_name}")
    }
}

/// `2026-11-25T09:30:12Z` → `2026-11-25 09:30` for tables; anything else is
/// shown unchanged.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) if rfc3339.as_bytes().get(10) == Some(&b'T') => {
            format!("{date} {time}")
        }
        _ => rfc3339.to_string(),
    }
}

/// A plain text table with a header row.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(UnicodeWidthStr::width(cell.as_str()));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i + 1 < columns {
                    let pad = width.saturating_sub(UnicodeWidthStr::width(cell.as_str())) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// Whether anyone could see a progress bar.
pub fn bars_visible(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A byte-counting progress bar on stderr, or a hidden one when nobody can
/// see it (JSON output, or stderr redirected to a file or a test).
pub fn byte_bar(json: bool, len: Option<u64>, message: &str) -> ProgressBar {
    if !bars_visible(json) {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::no_length(),
    };
    let template = if len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{msg} {spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_explorer() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(20 * 1024 * 1024), "20 MB");
    }

    #[test]
    fn table_aligns_wide_characters() {
        let mut t = Table::new(["CLASS", "ID"]);
        t.row(["重要性II", "a"]);
        t.row(["III", "b"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        // 重要性II is 8 columns wide; every ID starts at column 10.
        assert_eq!(lines, ["CLASS     ID", "重要性II  a", "III       b"]);
    }

    #[test]
    fn times_are_shortened_only_when_they_look_like_rfc3339() {
        assert_eq!(short_time("2026-11-25T09:30:12Z"), "2026-11-25 09:30");
        assert_eq!(short_time("yesterday"), "yesterday");
    }
}
