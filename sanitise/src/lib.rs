//! File sanitisation (無害化): rebuild a file from outside without its
//! active content, or say why it cannot be (policy 6.(4)②, "Bringing in").
//!
//! A virus scan only finds what it has a signature for; a document rebuilt
//! without macros, scripts, embedded objects and external links cannot run
//! them. [`sanitise`] recognises the file by its bytes (magic and structure,
//! the name only has to agree), then:
//! - Office Open XML (docx/xlsx/pptx and the macro-enabled docm/xlsm/pptm):
//!   rebuilt without VBA, ActiveX, OLE objects, external relationships and
//!   DDE fields; a macro-enabled file comes out as its plain type
//!   ([`ooxml`]);
//! - legacy OLE2 (doc/xls/ppt): inspected; macros, embedded objects or
//!   encryption mean held, since they cannot be cut out safely ([`ole2`]);
//! - PDF: rebuilt without JavaScript, automatic and additional actions,
//!   Launch, embedded files, RichMedia and XFA ([`pdf`]);
//! - PNG, JPEG, GIF: decoded to pixels and encoded again, which drops
//!   metadata and anything appended ([`raster`]);
//! - plain text and CSV pass unchanged after a check of the bytes
//!   ([`text`]);
//! - anything else is held as not sanitised.
//!
//! It fails closed: a parse error, an exceeded bound, the deadline or a panic
//! inside a parser gives [`Held`], never a pass. Names found inside a
//! document are only strings here; nothing touches the file system. Work is
//! bounded by [`Limits`]: input and output bytes, zip entries and expansion,
//! PDF size and objects, image pixels, and a deadline checked while working.
//! Zip packages and images are processed as streams; a PDF is loaded whole
//! (lopdf has no streaming reader), which is why PDFs have their own size
//! cap. Call it from a blocking thread.

pub mod ole2;
pub mod ooxml;
pub mod pdf;
pub mod raster;
pub mod text;

/// Documents with active content built in code, for this crate's tests and
/// the gateway's end-to-end tests (feature `testdocs`; never in a build).
#[cfg(any(test, feature = "testdocs"))]
pub mod testdocs;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The sanitiser's version, reported by `sekisho-gateway status` and kept
/// with every report, so a file can be judged by the rules that rebuilt it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What [`sanitise`] does with each kind of file, as shown by the gateway's
/// status: (format, treatment).
pub const FORMATS: &[(Format, &str)] = &[
    (
        Format::Ooxml,
        "rebuilt without macros, ActiveX, OLE objects, external links, DDE",
    ),
    (
        Format::Ole2,
        "checked; macros, embedded objects or encryption are held",
    ),
    (
        Format::Pdf,
        "rebuilt without JavaScript, actions, embedded files, RichMedia, XFA",
    ),
    (
        Format::Png,
        "decoded and re-encoded (metadata and appended bytes dropped)",
    ),
    (
        Format::Jpeg,
        "decoded and re-encoded (metadata and appended bytes dropped)",
    ),
    (
        Format::Gif,
        "decoded and re-encoded (metadata and appended bytes dropped)",
    ),
    (
        Format::Text,
        "checked as text (UTF-8 or Shift_JIS), passed unchanged",
    ),
];

/// The formats the sanitiser recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Ooxml,
    Ole2,
    Pdf,
    Png,
    Jpeg,
    Gif,
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ooxml => "ooxml",
            Format::Ole2 => "ole2",
            Format::Pdf => "pdf",
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Gif => "gif",
            Format::Text => "text",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bounds of one sanitisation. Exceeding any of them holds the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Bytes read from the input.
    pub max_input_bytes: u64,
    /// Bytes written to the output.
    pub max_output_bytes: u64,
    /// Entries in a zip package.
    pub max_zip_entries: u64,
    /// Bytes after decompression, all entries of a package together.
    pub max_expanded_bytes: u64,
    /// Decompressed size / compressed size of one entry (a zip bomb gives
    /// ratios in the thousands; real Office parts stay below 100).
    pub max_ratio: u64,
    /// PDFs are loaded whole (see the crate documentation): the largest one.
    pub max_pdf_bytes: u64,
    /// Indirect objects in a PDF.
    pub max_pdf_objects: u64,
    /// Pixels in an image (all frames of a GIF together).
    pub max_pixels: u64,
    /// Wall-clock time for one file, checked between steps of the work.
    pub max_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 512 << 20,
            max_output_bytes: 1 << 30,
            max_zip_entries: 10_000,
            max_expanded_bytes: 1 << 30,
            max_ratio: 200,
            max_pdf_bytes: 128 << 20,
            max_pdf_objects: 500_000,
            max_pixels: 100_000_000,
            max_seconds: 120,
        }
    }
}

/// One thing that was removed or neutralised, and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub kind: RemovalKind,
    /// Part name, relationship and target, or PDF object: for the reader of
    /// the report, never used as a path.
    pub location: String,
}

/// The kinds of active content the sanitiser removes (one name per kind,
/// shared with the gateway's reports and audit events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalKind {
    VbaProject,
    Activex,
    OleObject,
    ExternalRelationship,
    DdeField,
    CustomUi,
    UnlistedPart,
    PdfJavascript,
    OpenAction,
    AdditionalAction,
    Launch,
    EmbeddedFile,
    RichMedia,
    Xfa,
    ImageMetadata,
    TrailingBytes,
}

impl RemovalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalKind::VbaProject => "vba_project",
            RemovalKind::Activex => "activex",
            RemovalKind::OleObject => "ole_object",
            RemovalKind::ExternalRelationship => "external_relationship",
            RemovalKind::DdeField => "dde_field",
            RemovalKind::CustomUi => "custom_ui",
            RemovalKind::UnlistedPart => "unlisted_part",
            RemovalKind::PdfJavascript => "pdf_javascript",
            RemovalKind::OpenAction => "open_action",
            RemovalKind::AdditionalAction => "additional_action",
            RemovalKind::Launch => "launch",
            RemovalKind::EmbeddedFile => "embedded_file",
            RemovalKind::RichMedia => "rich_media",
            RemovalKind::Xfa => "xfa",
            RemovalKind::ImageMetadata => "image_metadata",
            RemovalKind::TrailingBytes => "trailing_bytes",
        }
    }
}

/// What was done to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub format: Format,
    pub sanitiser_version: String,
    pub removals: Vec<Removal>,
}

impl Report {
    fn new(format: Format) -> Self {
        Report {
            format,
            sanitiser_version: VERSION.to_string(),
            removals: Vec::new(),
        }
    }

    fn removed(&mut self, kind: RemovalKind, location: impl Into<String>) {
        self.removals.push(Removal {
            kind,
            location: location.into(),
        });
    }

    /// "vba_project word/vbaProject.bin; dde_field word/document.xml", for
    /// one-line displays.
    pub fn summary(&self) -> String {
        self.removals
            .iter()
            .map(|r| format!("{} {}", r.kind.as_str(), r.location))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A file that passed through the sanitiser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The output holds the rebuilt file, to be stored under `new_name`
    /// (the original name, or its plain type's: `.docm` → `.docx`).
    Rebuilt { report: Report, new_name: String },
    /// The file has no active content to remove (plain text, CSV, a legacy
    /// Office file without macros or objects): the original is what staff
    /// receive, and nothing was written to the output.
    Unchanged { report: Report },
}

impl Outcome {
    pub fn report(&self) -> &Report {
        match self {
            Outcome::Rebuilt { report, .. } | Outcome::Unchanged { report } => report,
        }
    }
}

/// Why a file was held instead of passed (fail closed: none of these is a
/// pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldReason {
    /// Not a format the sanitiser rebuilds.
    Unsupported,
    /// The name's type and the bytes disagree (a `.pdf` that is a zip).
    TypeMismatch,
    /// The file could not be parsed.
    Malformed,
    /// A bound of [`Limits`] was exceeded.
    BoundExceeded,
    /// The deadline passed.
    TimedOut,
    /// Active content that cannot be removed (macros or embedded objects
    /// in a legacy OLE2 file).
    ActiveContent,
    /// Encrypted content cannot be inspected.
    Encrypted,
    /// The sanitiser itself failed (a panic inside a parser).
    Crashed,
}

impl HeldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldReason::Unsupported => "unsupported",
            HeldReason::TypeMismatch => "type_mismatch",
            HeldReason::Malformed => "malformed",
            HeldReason::BoundExceeded => "bound_exceeded",
            HeldReason::TimedOut => "timed_out",
            HeldReason::ActiveContent => "active_content",
            HeldReason::Encrypted => "encrypted",
            HeldReason::Crashed => "crashed",
        }
    }
}

/// A file that was not passed, with why (for the report and the audit
/// event; the detail is never shown to the sender).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("held ({}): {detail}", reason.as_str())]
pub struct Held {
    pub reason: HeldReason,
    pub detail: String,
}

impl Held {
    pub fn new(reason: HeldReason, detail: impl Into<String>) -> Self {
        Held {
            reason,
            detail: detail.into(),
        }
    }

    pub(crate) fn malformed(what: &str, e: impl std::fmt::Display) -> Self {
        Held::new(HeldReason::Malformed, format!("{what}: {e}"))
    }

    pub(crate) fn bound(detail: impl Into<String>) -> Self {
        Held::new(HeldReason::BoundExceeded, detail)
    }
}

/// The deadline and the output budget of one run, shared by the format
/// modules.
pub(crate) struct Budget {
    deadline: Instant,
    pub(crate) limits: Limits,
}

impl Budget {
    fn new(limits: &Limits) -> Self {
        Budget {
            deadline: Instant::now() + Duration::from_secs(limits.max_seconds),
            limits: limits.clone(),
        }
    }

    /// Called between steps of the work (every zip entry, every few
    /// thousand XML events, every PDF object).
    pub(crate) fn check(&self) -> Result<(), Held> {
        if Instant::now() > self.deadline {
            return Err(Held::new(
                HeldReason::TimedOut,
                format!("sanitising took longer than {} s", self.limits.max_seconds),
            ));
        }
        Ok(())
    }
}

/// The output, counted: writing past `max_output_bytes` fails, and the flag
/// says that it was the bound (not the disk) that stopped the writer.
pub(crate) struct Bounded<W> {
    inner: W,
    written: u64,
    max: u64,
    pub(crate) exceeded: bool,
}

impl<W: Write> Bounded<W> {
    fn new(inner: W, max: u64) -> Self {
        Bounded {
            inner,
            written: 0,
            max,
            exceeded: false,
        }
    }

    /// The error of a writer that stopped: the bound, or the output's own.
    pub(crate) fn failure(&self, what: &str, e: impl std::fmt::Display) -> Held {
        if self.exceeded {
            Held::bound(format!("the rebuilt file would exceed {} bytes", self.max))
        } else {
            Held::malformed(what, e)
        }
    }
}

impl<W: Write> Write for Bounded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written.saturating_add(buf.len() as u64) > self.max {
            self.exceeded = true;
            return Err(io::Error::other("output bound exceeded"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Rebuild `input` (a file called `name` by its sender) without active
/// content, writing the result to `out`.
///
/// On [`Outcome::Rebuilt`] the output holds the whole new file; on
/// [`Outcome::Unchanged`] nothing was written and the original is the file
/// to hand on. On [`Held`] the output may hold a partial file that MUST be
/// discarded. A panic inside a parser is caught and gives
/// [`HeldReason::Crashed`].
pub fn sanitise<R: Read + Seek, W: Write>(
    input: R,
    name: &str,
    out: W,
    limits: &Limits,
) -> Result<Outcome, Held> {
    match catch_unwind(AssertUnwindSafe(move || run(input, name, out, limits))) {
        Ok(result) => result,
        Err(_) => Err(Held::new(
            HeldReason::Crashed,
            "the sanitiser failed on this file",
        )),
    }
}

/// What the first bytes say the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    Zip,
    Ole2,
    Pdf,
    Png,
    Jpeg,
    Gif,
    Other,
}

fn magic(head: &[u8]) -> Magic {
    if head.starts_with(b"PK\x03\x04") {
        Magic::Zip
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Magic::Ole2
    } else if head.starts_with(b"%PDF-") {
        // Readers accept a header anywhere in the first KiB; we do not, so
        // a file that hides something before the header is not a PDF here.
        Magic::Pdf
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Magic::Png
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Magic::Jpeg
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Magic::Gif
    } else {
        Magic::Other
    }
}

/// The name's extension, lower case ("" without one).
pub(crate) fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// The extensions each format may be called by.
fn names_agree(magic: Magic, ext: &str) -> bool {
    let allowed: &[&str] = match magic {
        Magic::Zip => ooxml::EXTENSIONS,
        Magic::Ole2 => ole2::EXTENSIONS,
        Magic::Pdf => &["pdf"],
        Magic::Png => &["png"],
        Magic::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
        Magic::Gif => &["gif"],
        Magic::Other => text::EXTENSIONS,
    };
    allowed.contains(&ext)
}

fn run<R: Read + Seek, W: Write>(
    mut input: R,
    name: &str,
    out: W,
    limits: &Limits,
) -> Result<Outcome, Held> {
    let budget = Budget::new(limits);
    let size = input
        .seek(SeekFrom::End(0))
        .map_err(|e| Held::malformed("cannot read the file", e))?;
    if size > limits.max_input_bytes {
        return Err(Held::bound(format!(
            "the file is {size} bytes; the sanitiser takes at most {}",
            limits.max_input_bytes
        )));
    }
    input
        .seek(SeekFrom::Start(0))
        .map_err(|e| Held::malformed("cannot read the file", e))?;
    let mut head = [0u8; 8];
    let got = read_up_to(&mut input, &mut head).map_err(|e| Held::malformed("cannot read", e))?;
    input
        .seek(SeekFrom::Start(0))
        .map_err(|e| Held::malformed("cannot read the file", e))?;
    let magic = magic(&head[..got]);
    let ext = extension(name);
    if !names_agree(magic, &ext) {
        return Err(match magic {
            Magic::Other => Held::new(
                HeldReason::Unsupported,
                format!(
                    "'.{ext}' files are not sanitised (accepted: Office, PDF, PNG, JPEG, GIF, text, CSV)"
                ),
            ),
            _ => Held::new(
                HeldReason::TypeMismatch,
                format!("the name says '.{ext}' but the content is {magic:?}"),
            ),
        });
    }
    let mut out = Bounded::new(out, limits.max_output_bytes);
    match magic {
        Magic::Zip => ooxml::rebuild(input, name, &mut out, &budget),
        Magic::Ole2 => ole2::inspect(input, &budget).map(|report| Outcome::Unchanged { report }),
        Magic::Pdf => pdf::rebuild(input, size, name, &mut out, &budget),
        Magic::Png => raster::rebuild(input, Format::Png, name, &mut out, &budget),
        Magic::Jpeg => raster::rebuild(input, Format::Jpeg, name, &mut out, &budget),
        Magic::Gif => raster::rebuild(input, Format::Gif, name, &mut out, &budget),
        Magic::Other => {
            text::check(input, &ext, &budget).map(|report| Outcome::Unchanged { report })
        }
    }
}

/// Fill `buf` as far as the input allows.
fn read_up_to<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn unknown_types_are_held_as_unsupported() {
        let held = sanitise(
            Cursor::new(b"MZ\x90\x00".to_vec()),
            "setup.exe",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::Unsupported);
    }

    #[test]
    fn a_name_that_disagrees_with_the_bytes_is_held() {
        let held = sanitise(
            Cursor::new(b"%PDF-1.7\n".to_vec()),
            "report.docx",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::TypeMismatch);
        let held = sanitise(
            Cursor::new(b"hello".to_vec()),
            "run.bat",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::Unsupported);
    }

    #[test]
    fn an_input_over_the_bound_is_held() {
        let limits = Limits {
            max_input_bytes: 4,
            ..Limits::default()
        };
        let held =
            sanitise(Cursor::new(b"hello".to_vec()), "a.txt", Vec::new(), &limits).unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded);
    }

    /// A reader that panics, standing in for a parser bug: held, not passed.
    struct Panicking;
    impl Read for Panicking {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("parser bug")
        }
    }
    impl Seek for Panicking {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Ok(16)
        }
    }

    #[test]
    fn a_panic_inside_is_held_as_crashed() {
        let held = sanitise(Panicking, "a.txt", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::Crashed);
    }

    #[test]
    fn a_deadline_in_the_past_is_a_time_out() {
        let mut budget = Budget::new(&Limits::default());
        budget.deadline = Instant::now() - Duration::from_secs(1);
        assert_eq!(budget.check().unwrap_err().reason, HeldReason::TimedOut);
    }
}
