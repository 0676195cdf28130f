//! Plain text and CSV: nothing to rebuild, but the bytes must really be
//! text (UTF-8, or Shift_JIS as many office systems still write) without
//! control characters, and a CSV must not carry a DDE formula
//! (`=cmd|'/c calc'!A0` runs a program when a spreadsheet opens the file).
//! Read as a stream in 64 KiB chunks.

use std::io::{Read, Seek, SeekFrom};

use crate::{Budget, Format, Held, HeldReason, Report};

/// The names a text file may have. Script types (`.bat`, `.ps1`, `.js`,
/// `.html`, `.rtf`...) are text too, but active: not on this list.
pub const EXTENSIONS: &[&str] = &["txt", "csv", "tsv", "log"];

const CHUNK: usize = 64 << 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    ShiftJis,
}

pub(crate) fn check<R: Read + Seek>(
    mut input: R,
    ext: &str,
    budget: &Budget,
) -> Result<Report, Held> {
    let csv = matches!(ext, "csv" | "tsv");
    // UTF-8 first; a file that is not UTF-8 gets a second pass as Shift_JIS.
    let first = scan(&mut input, Encoding::Utf8, csv, budget)?;
    if first.is_err() {
        input
            .seek(SeekFrom::Start(0))
            .map_err(|e| Held::malformed("cannot read the file", e))?;
        scan(&mut input, Encoding::ShiftJis, csv, budget)?.map_err(|why| {
            Held::new(
                HeldReason::Malformed,
                format!("not plain text (neither UTF-8 nor Shift_JIS): {why}"),
            )
        })?;
    }
    Ok(Report::new(Format::Text))
}

/// Cells of a CSV, as far as a DDE check needs them: where a cell starts,
/// and whether it is a formula that names another program (`|`).
struct Cells {
    at_start: bool,
    in_formula: bool,
}

impl Cells {
    /// One character that is a whole ASCII character (never the second byte
    /// of a Shift_JIS pair).
    fn ascii(&mut self, b: u8) -> Result<(), Held> {
        match b {
            b',' | b'\t' | b'\n' | b'\r' => {
                self.at_start = true;
                self.in_formula = false;
            }
            b'"' if self.at_start => {}
            b'=' | b'+' | b'-' | b'@' if self.at_start => {
                self.at_start = false;
                self.in_formula = true;
            }
            b'|' if self.in_formula => {
                return Err(Held::new(
                    HeldReason::ActiveContent,
                    "the CSV has a DDE formula (a cell starting with '=' that names a program with '|')",
                ));
            }
            _ => self.at_start = false,
        }
        Ok(())
    }
}

fn allowed_control(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\r' | 0x0C)
}

/// One pass over the file. The outer error holds the file; the inner one
/// says this encoding does not fit.
fn scan<R: Read>(
    input: &mut R,
    enc: Encoding,
    csv: bool,
    budget: &Budget,
) -> Result<Result<(), String>, Held> {
    let mut buf = vec![0u8; CHUNK];
    let mut cells = Cells {
        at_start: true,
        in_formula: false,
    };
    // Bytes of a character split across two chunks.
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        budget.check()?;
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Held::malformed("cannot read the file", e)),
        };
        let mut chunk = std::mem::take(&mut carry);
        chunk.extend_from_slice(&buf[..n]);
        let mut data: &[u8] = &chunk;
        if first {
            first = false;
            if enc == Encoding::Utf8 {
                data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            }
        }
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            if b < 0x80 {
                if b < 0x20 && !allowed_control(b) || b == 0x7F {
                    return Ok(Err(format!("control character 0x{b:02X}")));
                }
                if csv {
                    cells.ascii(b)?;
                }
                i += 1;
                continue;
            }
            let len = match enc {
                Encoding::Utf8 => match b {
                    0xC2..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    0xF0..=0xF4 => 4,
                    _ => return Ok(Err(format!("byte 0x{b:02X}"))),
                },
                Encoding::ShiftJis => match b {
                    0xA1..=0xDF => 1,
                    0x81..=0x9F | 0xE0..=0xFC => 2,
                    _ => return Ok(Err(format!("byte 0x{b:02X}"))),
                },
            };
            if i + len > data.len() {
                carry.extend_from_slice(&data[i..]);
                break;
            }
            let ch = &data[i..i + len];
            let ok = match enc {
                Encoding::Utf8 => std::str::from_utf8(ch).is_ok(),
                Encoding::ShiftJis => len == 1 || matches!(ch[1], 0x40..=0x7E | 0x80..=0xFC),
            };
            if !ok {
                return Ok(Err(format!("bytes {ch:02X?}")));
            }
            if csv {
                // A non-ASCII character is ordinary cell content.
                cells.at_start = false;
            }
            i += len;
        }
    }
    if !carry.is_empty() {
        return Ok(Err("the file ends inside a character".into()));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use crate::{HeldReason, Limits, Outcome, sanitise};
    use std::io::Cursor;

    fn run(bytes: &[u8], name: &str) -> Result<Outcome, crate::Held> {
        sanitise(
            Cursor::new(bytes.to_vec()),
            name,
            Vec::new(),
            &Limits::default(),
        )
    }

    #[test]
    fn utf8_and_shift_jis_text_pass_unchanged() {
        assert!(matches!(
            run("申請書\r\n日付,金額\n".as_bytes(), "a.csv"),
            Ok(Outcome::Unchanged { .. })
        ));
        // 「申請」 in Shift_JIS: 0x905C has '\' as its second byte.
        assert!(matches!(
            run(b"\x90\x5C\x90\xBF,100\r\n", "a.csv"),
            Ok(Outcome::Unchanged { .. })
        ));
        assert!(matches!(
            run(b"\xEF\xBB\xBFBOM first\n", "a.txt"),
            Ok(Outcome::Unchanged { .. })
        ));
    }

    #[test]
    fn binary_in_a_text_name_is_held() {
        assert_eq!(
            run(b"abc\x00def", "a.txt").unwrap_err().reason,
            HeldReason::Malformed
        );
        assert_eq!(
            run(b"abc\x81", "a.txt").unwrap_err().reason,
            HeldReason::Malformed
        );
    }

    #[test]
    fn a_dde_formula_in_a_csv_is_held() {
        let held = run(b"name,total\nx,=cmd|' /C calc'!A0\n", "a.csv").unwrap_err();
        assert_eq!(held.reason, HeldReason::ActiveContent);
        let held = run(b"x,\"@SUM(1+1)|cmd\"\n", "a.csv").unwrap_err();
        assert_eq!(held.reason, HeldReason::ActiveContent);
        // Ordinary formulas and pipes elsewhere are fine.
        assert!(run(b"a|b,=SUM(A1:A3),-5\n", "a.csv").is_ok());
    }

    #[test]
    fn a_character_split_across_chunks_is_read_whole() {
        let mut text = vec![b'a'; super::CHUNK - 1];
        text.extend_from_slice("日本".as_bytes());
        assert!(run(&text, "a.txt").is_ok());
    }
}
