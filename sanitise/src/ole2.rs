//! Legacy Office files (doc, xls, ppt): compound files (OLE2) whose macros
//! and embedded objects are woven into binary streams. Cutting them out
//! would need a rewriter per binary format, so these files are only
//! inspected: one with a macro project, an Excel 4.0 macro sheet, an
//! embedded object or encryption is held; one without passes unchanged.
//!
//! What is looked at:
//! - the storage tree: `Macros` (Word), `_VBA_PROJECT_CUR` (Excel) and `VBA`
//!   storages hold VBA; `ObjectPool` children (Word), `MBD…` storages
//!   (Excel) and `\x01Ole10Native`/`\x01Ole` streams below the root are
//!   embedded objects; `EncryptedPackage` is an encrypted OOXML file;
//! - Word: the FIB's fEncrypted flag;
//! - Excel: the workbook globals' records (BoundSheet8 with a macro-sheet
//!   type, FilePass for encryption);
//! - PowerPoint: the record tree of the `PowerPoint Document` stream
//!   (ExOleObjStg holds both embedded objects and the VBA project).

use std::io::{Read, Seek};

use crate::{Budget, Format, Held, HeldReason, Report};

pub const EXTENSIONS: &[&str] = &["doc", "dot", "xls", "xlt", "ppt", "pps", "pot"];

fn active(detail: impl Into<String>) -> Held {
    Held::new(HeldReason::ActiveContent, detail)
}

pub(crate) fn inspect<R: Read + Seek>(input: R, budget: &Budget) -> Result<Report, Held> {
    let mut file = cfb::CompoundFile::open(input)
        .map_err(|e| Held::malformed("not a readable compound file", e))?;
    // (path shown in reports, name, is it a stream, depth)
    let entries: Vec<(String, String, bool, usize)> = file
        .walk()
        .map(|e| {
            let path = e.path().to_string_lossy().into_owned();
            let depth = e.path().components().count().saturating_sub(1);
            (path, e.name().to_string(), e.is_stream(), depth)
        })
        .collect();
    if entries.len() as u64 > budget.limits.max_zip_entries {
        return Err(Held::bound(format!(
            "the compound file has {} entries; at most {} are inspected",
            entries.len(),
            budget.limits.max_zip_entries
        )));
    }
    for (path, name, is_stream, depth) in &entries {
        let lower = name.to_ascii_lowercase();
        if !is_stream && matches!(lower.as_str(), "macros" | "_vba_project_cur" | "vba") {
            return Err(active(format!("a VBA macro project ({path})")));
        }
        if *is_stream && lower == "_vba_project" {
            return Err(active(format!("a VBA macro project ({path})")));
        }
        if !is_stream && lower.starts_with("mbd") && *depth == 1 {
            return Err(active(format!("an embedded object ({path})")));
        }
        if *is_stream && *depth >= 2 && (name == "\u{1}Ole10Native" || name == "\u{1}Ole") {
            return Err(active(format!("an embedded object ({path})")));
        }
        if *is_stream && *depth >= 2 && path.to_ascii_lowercase().starts_with("/objectpool/") {
            return Err(active(format!("an embedded object ({path})")));
        }
        if *is_stream && matches!(name.as_str(), "EncryptedPackage" | "EncryptionInfo") {
            return Err(Held::new(
                HeldReason::Encrypted,
                "a password-protected Office file: its content cannot be inspected",
            ));
        }
    }
    budget.check()?;
    let has = |want: &str| {
        entries
            .iter()
            .any(|(_, name, is_stream, depth)| *is_stream && *depth == 1 && name == want)
    };
    if has("WordDocument") {
        word(&mut file)?;
    }
    for book in ["Workbook", "Book"] {
        if has(book) {
            excel(&mut file, book, budget)?;
        }
    }
    if has("PowerPoint Document") {
        powerpoint(&mut file, budget)?;
    }
    Ok(Report::new(Format::Ole2))
}

fn open<R: Read + Seek>(
    file: &mut cfb::CompoundFile<R>,
    name: &str,
) -> Result<cfb::Stream<R>, Held> {
    file.open_stream(format!("/{name}"))
        .map_err(|e| Held::malformed(&format!("cannot read the '{name}' stream"), e))
}

fn read_exact_or_end<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, Held> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Held::malformed("cannot read a stream", e)),
    }
}

fn skip<R: Read>(r: &mut R, n: u64) -> Result<(), Held> {
    let copied = std::io::copy(&mut r.by_ref().take(n), &mut std::io::sink())
        .map_err(|e| Held::malformed("cannot read a stream", e))?;
    if copied < n {
        return Err(Held::malformed(
            "a record",
            "it runs past the end of its stream",
        ));
    }
    Ok(())
}

/// Word's FIB: flags at offset 10, fEncrypted is bit 8.
fn word<R: Read + Seek>(file: &mut cfb::CompoundFile<R>) -> Result<(), Held> {
    let mut stream = open(file, "WordDocument")?;
    let mut fib = [0u8; 12];
    if !read_exact_or_end(&mut stream, &mut fib)? {
        return Err(Held::malformed(
            "the Word document",
            "its header is truncated",
        ));
    }
    if u16::from_le_bytes([fib[10], fib[11]]) & 0x0100 != 0 {
        return Err(Held::new(
            HeldReason::Encrypted,
            "a password-protected Word file: its content cannot be inspected",
        ));
    }
    Ok(())
}

/// The workbook globals, up to their EOF record: BoundSheet8 (0x0085) names
/// each sheet with its type (byte 5 of the record: 1 = Excel 4.0 macro
/// sheet), FilePass (0x002F) means encrypted.
fn excel<R: Read + Seek>(
    file: &mut cfb::CompoundFile<R>,
    name: &str,
    budget: &Budget,
) -> Result<(), Held> {
    let mut stream = open(file, name)?;
    let mut header = [0u8; 4];
    let mut records = 0u32;
    while read_exact_or_end(&mut stream, &mut header)? {
        records += 1;
        if records.is_multiple_of(4096) {
            budget.check()?;
        }
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let len = u64::from(u16::from_le_bytes([header[2], header[3]]));
        match kind {
            0x000A => return Ok(()),
            0x002F => {
                return Err(Held::new(
                    HeldReason::Encrypted,
                    "a password-protected Excel file: its content cannot be inspected",
                ));
            }
            0x0085 if len >= 6 => {
                let mut body = [0u8; 6];
                if !read_exact_or_end(&mut stream, &mut body)? {
                    return Err(Held::malformed(
                        "the workbook",
                        "a sheet record is truncated",
                    ));
                }
                if body[5] == 0x01 {
                    return Err(active("an Excel 4.0 macro sheet"));
                }
                skip(&mut stream, len - 6)?;
            }
            _ => skip(&mut stream, len)?,
        }
    }
    Ok(())
}

/// The PowerPoint record tree: a record header is version/instance (2),
/// type (2), length (4); version 0xF is a container whose children follow.
/// ExOleObjStg (0x1011) holds an embedded object or the VBA project.
fn powerpoint<R: Read + Seek>(
    file: &mut cfb::CompoundFile<R>,
    budget: &Budget,
) -> Result<(), Held> {
    let mut stream = open(file, "PowerPoint Document")?;
    let mut header = [0u8; 8];
    let mut records = 0u32;
    while read_exact_or_end(&mut stream, &mut header)? {
        records += 1;
        if records.is_multiple_of(4096) {
            budget.check()?;
        }
        let container = header[0] & 0x0F == 0x0F;
        let kind = u16::from_le_bytes([header[2], header[3]]);
        let len = u64::from(u32::from_le_bytes([
            header[4], header[5], header[6], header[7],
        ]));
        if kind == 0x1011 {
            return Err(active(
                "an embedded object or macro project in the presentation",
            ));
        }
        if !container {
            skip(&mut stream, len)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testdocs;
    use crate::{HeldReason, Limits, Outcome, sanitise};
    use std::io::Cursor;

    #[test]
    fn a_doc_with_a_macro_project_is_held() {
        let doc = testdocs::ole2(&[("WordDocument", &[0u8; 32][..]), ("Macros/VBA/dir", b"x")]);
        let held = sanitise(Cursor::new(doc), "a.doc", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::ActiveContent);
        assert!(held.detail.contains("VBA"), "{held}");
    }

    #[test]
    fn a_doc_with_an_embedded_object_is_held() {
        let doc = testdocs::ole2(&[
            ("WordDocument", &[0u8; 32][..]),
            ("ObjectPool/_1234/\u{1}Ole10Native", b"MZ"),
        ]);
        let held = sanitise(Cursor::new(doc), "a.doc", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::ActiveContent);
    }

    #[test]
    fn an_xls_with_a_macro_sheet_is_held_and_a_plain_one_passes() {
        // BOF, BoundSheet8 (type byte 1 = macro sheet), EOF.
        let mut book = vec![0x09, 0x08, 0x00, 0x00];
        book.extend_from_slice(&[0x85, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0x01, 0, 0]);
        book.extend_from_slice(&[0x0A, 0x00, 0x00, 0x00]);
        let xls = testdocs::ole2(&[("Workbook", &book[..])]);
        let held = sanitise(Cursor::new(xls), "a.xls", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::ActiveContent);

        book[13] = 0x00;
        let xls = testdocs::ole2(&[("Workbook", &book[..])]);
        let out = sanitise(Cursor::new(xls), "a.xls", Vec::new(), &Limits::default()).unwrap();
        assert!(matches!(out, Outcome::Unchanged { .. }));
    }

    #[test]
    fn an_encrypted_doc_is_held() {
        let mut fib = [0u8; 32];
        fib[11] = 0x01;
        let doc = testdocs::ole2(&[("WordDocument", &fib[..])]);
        let held = sanitise(Cursor::new(doc), "a.doc", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::Encrypted);
    }

    #[test]
    fn a_ppt_with_an_ole_storage_record_is_held() {
        // A container (version 0xF) holding an ExOleObjStg record.
        let mut ppt = vec![0x0F, 0x00, 0xE8, 0x03, 8, 0, 0, 0];
        ppt.extend_from_slice(&[0x00, 0x00, 0x11, 0x10, 0, 0, 0, 0]);
        let file = testdocs::ole2(&[("PowerPoint Document", &ppt[..])]);
        let held =
            sanitise(Cursor::new(file), "a.ppt", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::ActiveContent);
    }

    #[test]
    fn a_truncated_compound_file_is_held() {
        let doc = testdocs::ole2(&[("WordDocument", &[0u8; 32][..])]);
        let held = sanitise(
            Cursor::new(doc[..600].to_vec()),
            "a.doc",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed);
    }
}
