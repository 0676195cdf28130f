//! Office Open XML (docx, xlsx, pptx and their macro-enabled and template
//! kinds): a zip package of parts, typed by `[Content_Types].xml` and linked
//! by relationship parts (`_rels/*.rels`). The package is rebuilt part by
//! part into a new zip written as a stream:
//! - parts whose type is active are left out: VBA projects and their data
//!   and signatures, key maps and toolbars (Word macro bindings), ActiveX
//!   controls, OLE objects and everything under `embeddings/`, Excel 4.0
//!   macro sheets, custom ribbons (their callbacks run macros);
//! - relationships to those parts are left out, and so is every external
//!   relationship (remote templates, linked workbooks and OLE links, frames,
//!   externally linked pictures, `file:` and UNC hyperlinks) except
//!   hyperlinks to `http:`, `https:` and `mailto:`;
//! - in the XML parts, elements that point at a removed relationship are
//!   left out (a hyperlink keeps its text, only the link goes); Word fields
//!   whose instruction is DDE/DDEAUTO or pulls in outside data (LINK,
//!   INCLUDETEXT, INCLUDEPICTURE, IMPORT) keep their last shown result but
//!   lose the instruction; Excel formulas that call another program
//!   (`cmd|' /c calc'!A0`) are removed and the cached value stays;
//! - parts not typed by `[Content_Types].xml` are left out (nothing opens
//!   them, so they can only hide things);
//! - a macro-enabled main part gets its plain type, and the file its plain
//!   extension (`.docm` → `.docx`).
//!
//! Part names are compared as strings only; nothing is written to disk.
//! Every byte read is metered against the expansion bounds (declared sizes
//! in a zip can lie), and the deadline is checked per part and every few
//! thousand XML events.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read, Seek, Write};

use quick_xml::events::{BytesStart, Event};
use zip::write::SimpleFileOptions;

use crate::{Bounded, Budget, Format, Held, HeldReason, Outcome, RemovalKind, Report};

pub const EXTENSIONS: &[&str] = &[
    "docx", "docm", "dotx", "dotm", "xlsx", "xlsm", "xltx", "xltm", "pptx", "pptm", "ppsx", "ppsm",
    "potx", "potm",
];

/// The main part's content type → (its plain type, the plain extension,
/// the extensions of its family).
fn main_type(ct: &str) -> Option<(&'static str, &'static str, &'static [&'static str])> {
    const WORD: &[&str] = &["docx", "docm", "dotx", "dotm"];
    const EXCEL: &[&str] = &["xlsx", "xlsm", "xltx", "xltm"];
    const POWERPOINT: &[&str] = &["pptx", "pptm", "ppsx", "ppsm", "potx", "potm"];
    const DOCX: &str =
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";
    const DOTX: &str =
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml";
    const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml";
    const XLTX: &str =
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml";
    const PPTX: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml";
    const PPSX: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml";
    const POTX: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml";
    Some(match ct {
        DOCX | "application/vnd.ms-word.document.macroEnabled.main+xml" => (DOCX, "docx", WORD),
        DOTX | "application/vnd.ms-word.template.macroEnabledTemplate.main+xml" => {
            (DOTX, "dotx", WORD)
        }
        XLSX | "application/vnd.ms-excel.sheet.macroEnabled.main+xml" => (XLSX, "xlsx", EXCEL),
        XLTX | "application/vnd.ms-excel.template.macroEnabled.main+xml" => (XLTX, "xltx", EXCEL),
        PPTX | "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml" => {
            (PPTX, "pptx", POWERPOINT)
        }
        PPSX | "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml" => {
            (PPSX, "ppsx", POWERPOINT)
        }
        POTX | "application/vnd.ms-powerpoint.template.macroEnabled.main+xml" => {
            (POTX, "potx", POWERPOINT)
        }
        _ => return None,
    })
}

/// Why a part of this content type is left out, if it is.
fn active_type(ct: &str) -> Option<RemovalKind> {
    let ct = ct.to_ascii_lowercase();
    if ct.starts_with("application/vnd.ms-office.vbaproject")
        || ct == "application/vnd.ms-word.vbadata+xml"
        || ct == "application/vnd.ms-word.keymapcustomizations+xml"
        || ct == "application/vnd.ms-word.attachedtoolbars"
        || ct.contains("macrosheet")
    {
        Some(RemovalKind::VbaProject)
    } else if ct.contains("activex") {
        Some(RemovalKind::Activex)
    } else if ct.contains("oleobject") {
        Some(RemovalKind::OleObject)
    } else {
        None
    }
}

/// Why a relationship of this type is left out whatever its target.
fn active_relationship(rel_type: &str) -> Option<RemovalKind> {
    let last = rel_type
        .rsplit('/')
        .next()
        .unwrap_or(rel_type)
        .to_ascii_lowercase();
    match last.as_str() {
        "vbaproject"
        | "wordvbadata"
        | "keymapcustomizations"
        | "attachedtoolbars"
        | "vbaprojectsignature"
        | "vbaprojectsignatureagile"
        | "vbaprojectsignaturev3"
        | "xlmacrosheet"
        | "xlintlmacrosheet" => Some(RemovalKind::VbaProject),
        "control" | "activexcontrol" | "activexcontrolbinary" => Some(RemovalKind::Activex),
        "oleobject" | "package" => Some(RemovalKind::OleObject),
        "extensibility" => Some(RemovalKind::CustomUi),
        "externallink" | "externallinkpath" | "attachedtemplate" | "frame" | "subdocument" => {
            Some(RemovalKind::ExternalRelationship)
        }
        _ if last.contains("activex") => Some(RemovalKind::Activex),
        _ => None,
    }
}

/// A hyperlink that may stay: web and mail only (not `file:`, UNC paths,
/// `javascript:` or application schemes).
fn safe_hyperlink(rel_type: &str, target: &str) -> bool {
    let t = target.trim_start().to_ascii_lowercase();
    rel_type.ends_with("/hyperlink")
        && (t.starts_with("http://") || t.starts_with("https://") || t.starts_with("mailto:"))
}

/// Elements left out whole wherever they are: containers of the controls,
/// OLE objects and external references whose parts are removed (an empty
/// container is invalid).
fn dropped_element(kind: PartKind, local: &str) -> bool {
    match kind {
        PartKind::Sheet => matches!(local, "oleObjects" | "controls"),
        PartKind::Workbook => matches!(local, "externalReferences"),
        _ => false,
    }
}

/// What the XML filter knows about a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    Word,
    Sheet,
    Workbook,
    Other,
}

fn part_kind(ct: &str) -> PartKind {
    let ct = ct.to_ascii_lowercase();
    if ct.contains("wordprocessingml") || ct.starts_with("application/vnd.ms-word.") {
        PartKind::Word
    } else if ct.contains("spreadsheetml.worksheet") {
        PartKind::Sheet
    } else if ct.contains("spreadsheetml.sheet.main")
        || ct.contains("spreadsheetml.template.main")
        || ct.starts_with("application/vnd.ms-excel.sheet.macroenabled")
        || ct.starts_with("application/vnd.ms-excel.template.macroenabled")
    {
        PartKind::Workbook
    } else {
        PartKind::Other
    }
}

/// Counts decompressed bytes across the whole package.
struct Meter {
    expanded: u64,
    max: u64,
    exceeded: bool,
}

struct Metered<'a, R> {
    inner: R,
    meter: &'a mut Meter,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.expanded += n as u64;
        if self.meter.expanded > self.meter.max {
            self.meter.exceeded = true;
            return Err(std::io::Error::other("expansion bound exceeded"));
        }
        Ok(n)
    }
}

/// One entry of the input package.
struct Entry {
    name: String,
    is_dir: bool,
}

/// One relationship of a `.rels` part.
struct Relationship {
    id: String,
    rel_type: String,
    target: String,
    external: bool,
}

struct RelsPart {
    /// The part the relationships belong to ("" for the package).
    source: String,
    rels: Vec<Relationship>,
}

/// `word/_rels/document.xml.rels` → `word/document.xml`; `_rels/.rels` → "".
fn rels_source(name: &str) -> Option<String> {
    let (dir, file) = match name.rsplit_once('/') {
        Some((dir, file)) => (dir, file),
        None => return None,
    };
    let base = file.strip_suffix(".rels")?;
    let parent = if dir == "_rels" {
        ""
    } else {
        dir.strip_suffix("/_rels")?
    };
    Some(if parent.is_empty() {
        base.to_string()
    } else {
        format!("{parent}/{base}")
    })
}

/// The part a relative target names, from the source part's folder.
fn resolve(source: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        let mut dir: Vec<&str> = source.split('/').collect();
        dir.pop();
        dir
    };
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/").to_ascii_lowercase()
}

/// Part names are case-insensitive (OPC); keys are lower case.
fn key(name: &str) -> String {
    name.trim_start_matches('/').to_ascii_lowercase()
}

struct ContentTypes {
    defaults: HashMap<String, String>,
    overrides: HashMap<String, String>,
}

impl ContentTypes {
    fn of(&self, part: &str) -> Option<&str> {
        let k = key(part);
        if let Some(ct) = self.overrides.get(&k) {
            return Some(ct);
        }
        let ext = k.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        self.defaults.get(ext).map(String::as_str)
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, Held> {
    for a in e.attributes() {
        let a = a.map_err(|err| Held::malformed("an XML attribute", err))?;
        if a.key.as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| Held::malformed("an XML attribute", err))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// An attribute by its local name, whatever prefix the part gives its
/// namespace (a renamed prefix must not hide a field from the filter).
fn attr_local(e: &BytesStart<'_>, local: &str) -> Result<Option<String>, Held> {
    for a in e.attributes() {
        let a = a.map_err(|err| Held::malformed("an XML attribute", err))?;
        if a.key.local_name().as_ref() == local {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| Held::malformed("an XML attribute", err))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn xml_reader<R: Read>(r: R) -> quick_xml::Reader<BufReader<R>> {
    quick_xml::Reader::from_reader(BufReader::with_capacity(64 << 10, r))
}

/// Read the events of a small XML part (content types, relationships),
/// calling `each` for every start or empty element.
fn each_element<R: Read>(
    r: R,
    what: &str,
    mut each: impl FnMut(&BytesStart<'_>) -> Result<(), Held>,
) -> Result<(), Held> {
    let mut reader = xml_reader(r);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) => return Ok(()),
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => each(&e)?,
            Ok(Event::DocType(_)) => return Err(Held::malformed(what, "a DTD in an Office part")),
            Ok(_) => {}
            Err(e) => return Err(Held::malformed(what, e)),
        }
        buf.clear();
    }
}

pub(crate) fn rebuild<R: Read + Seek, W: Write>(
    input: R,
    name: &str,
    out: &mut Bounded<W>,
    budget: &Budget,
) -> Result<Outcome, Held> {
    let mut zip = zip::ZipArchive::new(BufReader::with_capacity(64 << 10, input))
        .map_err(|e| Held::malformed("not a readable zip package", e))?;
    let limits = &budget.limits;
    if zip.len() as u64 > limits.max_zip_entries {
        return Err(Held::bound(format!(
            "the package has {} entries; at most {} are accepted",
            zip.len(),
            limits.max_zip_entries
        )));
    }
    let mut entries = Vec::with_capacity(zip.len());
    let mut seen = HashSet::new();
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let e = zip
            .by_index_data(i)
            .map_err(|e| Held::malformed("a zip entry", e))?;
        let entry_name = e
            .name()
            .map_err(|err| Held::malformed("a zip entry name", err))?
            .into_owned();
        if e.encrypted() {
            return Err(Held::new(
                HeldReason::Encrypted,
                format!("encrypted zip entry {entry_name}"),
            ));
        }
        if !seen.insert(key(&entry_name)) {
            // Two parts of one name: readers disagree on which one counts.
            return Err(Held::malformed(
                "the package",
                format!("two entries named {entry_name}"),
            ));
        }
        let (size, packed) = (e.size(), e.compressed_size().max(1));
        if size > (1 << 20) && size / packed > limits.max_ratio {
            return Err(Held::bound(format!(
                "{entry_name} expands {}-fold (at most {} is accepted)",
                size / packed,
                limits.max_ratio
            )));
        }
        declared = declared.saturating_add(size);
        entries.push(Entry {
            name: entry_name,
            is_dir: e.is_dir(),
        });
    }
    if declared > limits.max_expanded_bytes {
        return Err(Held::bound(format!(
            "the package expands to {declared} bytes (at most {} is accepted)",
            limits.max_expanded_bytes
        )));
    }
    let mut meter = Meter {
        expanded: 0,
        max: limits.max_expanded_bytes,
        exceeded: false,
    };
    let bound_or = |meter: &Meter, what: &str, e: &dyn std::fmt::Display| {
        if meter.exceeded {
            Held::bound(format!(
                "the package expands past {} bytes",
                limits.max_expanded_bytes
            ))
        } else {
            Held::malformed(what, e)
        }
    };

    // 1. Content types.
    let ct_index = entries
        .iter()
        .position(|e| e.name == "[Content_Types].xml")
        .ok_or_else(|| {
            Held::new(
                HeldReason::Unsupported,
                "a zip archive that is not an Office document (no [Content_Types].xml)",
            )
        })?;
    let mut types = ContentTypes {
        defaults: HashMap::new(),
        overrides: HashMap::new(),
    };
    {
        let file = zip
            .by_index(ct_index)
            .map_err(|e| Held::malformed("[Content_Types].xml", e))?;
        let r = Metered {
            inner: file,
            meter: &mut meter,
        };
        each_element(r, "[Content_Types].xml", |e| {
            match e.local_name().as_ref() {
                "Default" => {
                    if let (Some(ext), Some(ct)) = (attr(e, "Extension")?, attr(e, "ContentType")?)
                    {
                        types.defaults.insert(ext.to_ascii_lowercase(), ct);
                    }
                }
                "Override" => {
                    if let (Some(part), Some(ct)) = (attr(e, "PartName")?, attr(e, "ContentType")?)
                    {
                        types.overrides.insert(key(&part), ct);
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
    }
    if meter.exceeded {
        return Err(bound_or(&meter, "", &""));
    }

    // 2. The main part decides the family and the plain type.
    if types.overrides.values().any(|ct| {
        ct.eq_ignore_ascii_case("application/vnd.ms-excel.sheet.binary.macroEnabled.main")
    }) {
        return Err(Held::new(
            HeldReason::Unsupported,
            "a binary Excel workbook (.xlsb) cannot be rebuilt; ask for .xlsx",
        ));
    }
    let (main_part, main_ct, (plain_ct, plain_ext, family)) = types
        .overrides
        .iter()
        .find_map(|(part, ct)| main_type(ct).map(|m| (part.clone(), ct.clone(), m)))
        .ok_or_else(|| {
            Held::new(
                HeldReason::Unsupported,
                "a zip package without a Word, Excel or PowerPoint main part",
            )
        })?;
    let ext = crate::extension(name);
    if !family.contains(&ext.as_str()) {
        return Err(Held::new(
            HeldReason::TypeMismatch,
            format!("the name says '.{ext}' but the content is a .{plain_ext} document"),
        ));
    }
    let new_name = match name.rsplit_once('.') {
        Some((stem, _)) if ext != plain_ext => format!("{stem}.{plain_ext}"),
        _ => name.to_string(),
    };

    let mut report = Report::new(Format::Ooxml);
    // Parts left out, with why (key → kind).
    let mut dropped: HashMap<String, RemovalKind> = HashMap::new();
    for e in entries.iter().filter(|e| !e.is_dir) {
        let k = key(&e.name);
        if let Some(kind) = types.of(&e.name).and_then(active_type) {
            dropped.insert(k, kind);
        } else if k.contains("/embeddings/") || k.starts_with("embeddings/") {
            dropped.insert(k, RemovalKind::OleObject);
        }
    }

    // 3. Relationships, read whole (they are small) so that the parts they
    // lead to can be left out before anything is written.
    let mut rels_parts: HashMap<String, RelsPart> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.is_dir {
            continue;
        }
        let Some(source) = rels_source(&e.name) else {
            continue;
        };
        budget.check()?;
        let file = zip
            .by_index(i)
            .map_err(|err| Held::malformed(&e.name, err))?;
        let r = Metered {
            inner: file,
            meter: &mut meter,
        };
        let mut rels = Vec::new();
        let parsed = each_element(r, &e.name, |el| {
            if el.local_name().as_ref() == "Relationship" {
                rels.push(Relationship {
                    id: attr(el, "Id")?.unwrap_or_default(),
                    rel_type: attr(el, "Type")?.unwrap_or_default(),
                    target: attr(el, "Target")?.unwrap_or_default(),
                    external: attr(el, "TargetMode")?
                        .is_some_and(|m| m.eq_ignore_ascii_case("External")),
                });
            }
            Ok(())
        });
        if meter.exceeded {
            return Err(bound_or(&meter, "", &""));
        }
        parsed?;
        rels_parts.insert(key(&e.name), RelsPart { source, rels });
    }
    // Leaving out a part leaves out what only it leads to: repeat until
    // nothing changes (bounded by the number of parts).
    let mut removed_ids: HashMap<String, HashSet<String>> = HashMap::new();
    for _ in 0..=entries.len() {
        let mut changed = false;
        for (rels_key, part) in &rels_parts {
            let source_key = key(&part.source);
            if dropped.contains_key(&source_key) {
                if !dropped.contains_key(rels_key) {
                    dropped.insert(rels_key.clone(), RemovalKind::UnlistedPart);
                    changed = true;
                }
                continue;
            }
            for rel in &part.rels {
                let target_key = (!rel.external).then(|| resolve(&part.source, &rel.target));
                let kind = active_relationship(&rel.rel_type)
                    .or_else(|| {
                        (rel.external && !safe_hyperlink(&rel.rel_type, &rel.target))
                            .then_some(RemovalKind::ExternalRelationship)
                    })
                    .or_else(|| target_key.as_ref().and_then(|t| dropped.get(t).copied()));
                let Some(kind) = kind else { continue };
                if removed_ids
                    .entry(source_key.clone())
                    .or_default()
                    .insert(rel.id.clone())
                {
                    changed = true;
                    if rel.external {
                        report.removed(kind, format!("{} {} {}", rels_key, rel.id, rel.target));
                    }
                }
                if let Some(t) = target_key
                    && !dropped.contains_key(&t)
                    && entries.iter().any(|e| key(&e.name) == t)
                {
                    dropped.insert(t, kind);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for e in &entries {
        if let Some(kind) = dropped.get(&key(&e.name))
            && *kind != RemovalKind::UnlistedPart
        {
            report.removed(*kind, e.name.clone());
        }
    }

    // 4. Write the new package.
    let mut writer = zip::ZipWriter::new_stream(&mut *out);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (i, e) in entries.iter().enumerate() {
        budget.check()?;
        let k = key(&e.name);
        if e.is_dir || dropped.contains_key(&k) {
            continue;
        }
        let is_types = e.name == "[Content_Types].xml";
        let rels = rels_parts.get(&k);
        let ct = types.of(&e.name).map(str::to_string);
        if !is_types && rels.is_none() && ct.is_none() {
            report.removed(RemovalKind::UnlistedPart, e.name.clone());
            continue;
        }
        let file = zip
            .by_index(i)
            .map_err(|err| Held::malformed(&e.name, err))?;
        let src = Metered {
            inner: file,
            meter: &mut meter,
        };
        writer
            .start_file(e.name.clone(), options)
            .map_err(out_failure)?;
        let result = if is_types {
            write_types(src, &mut writer, &dropped, &main_part, &main_ct, plain_ct)
        } else if let Some(rels) = rels {
            let removed = removed_ids.get(&key(&rels.source));
            write_rels(src, &mut writer, removed, &e.name)
        } else {
            let ct = ct.unwrap_or_default();
            let ct_lower = ct.to_ascii_lowercase();
            if ct_lower.ends_with("+xml") || ct_lower.ends_with("/xml") {
                let removed = removed_ids.get(&k);
                let kind = part_kind(&ct);
                let empty = HashSet::new();
                let removed = removed.unwrap_or(&empty);
                let flagged = if kind == PartKind::Word {
                    // First pass: which fields to neutralise.
                    drop(src);
                    let file = zip
                        .by_index(i)
                        .map_err(|err| Held::malformed(&e.name, err))?;
                    let first = Metered {
                        inner: file,
                        meter: &mut meter,
                    };
                    let flagged = word_fields(first, &e.name, budget);
                    if meter.exceeded {
                        return Err(bound_or(&meter, "", &""));
                    }
                    let flagged = flagged?;
                    let file = zip
                        .by_index(i)
                        .map_err(|err| Held::malformed(&e.name, err))?;
                    let src = Metered {
                        inner: file,
                        meter: &mut meter,
                    };
                    let r = filter_xml(
                        src,
                        &mut writer,
                        &e.name,
                        kind,
                        removed,
                        &flagged,
                        &mut report,
                        budget,
                    );
                    if meter.exceeded {
                        return Err(bound_or(&meter, "", &""));
                    }
                    r?;
                    continue;
                } else {
                    HashMap::new()
                };
                filter_xml(
                    src,
                    &mut writer,
                    &e.name,
                    kind,
                    removed,
                    &flagged,
                    &mut report,
                    budget,
                )
            } else {
                let mut src = src;
                std::io::copy(&mut src, &mut writer)
                    .map(|_| ())
                    .map_err(|err| Held::malformed(&e.name, err))
            }
        };
        if meter.exceeded {
            return Err(bound_or(&meter, "", &""));
        }
        result?;
    }
    writer.finish().map_err(out_failure)?;
    if out.exceeded {
        return Err(out.failure("", ""));
    }
    Ok(Outcome::Rebuilt { report, new_name })
}

fn out_failure(e: impl std::fmt::Display) -> Held {
    Held::malformed("cannot write the rebuilt package", e)
}

fn write_xml<W: Write>(
    w: &mut quick_xml::Writer<W>,
    ev: Event<'_>,
    what: &str,
) -> Result<(), Held> {
    w.write_event(ev)
        .map_err(|e| Held::malformed(&format!("cannot write {what}"), e))
}

/// `[Content_Types].xml` without the overrides of left-out parts and the
/// defaults only they used, with the main part's plain type.
fn write_types<R: Read, W: Write>(
    src: R,
    out: W,
    dropped: &HashMap<String, RemovalKind>,
    main_part: &str,
    main_ct: &str,
    plain_ct: &str,
) -> Result<(), Held> {
    let mut reader = xml_reader(src);
    let mut writer = quick_xml::Writer::new(out);
    let mut buf = Vec::new();
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| Held::malformed("[Content_Types].xml", e))?;
        match ev {
            Event::Eof => return Ok(()),
            Event::DocType(_) => return Err(Held::malformed("[Content_Types].xml", "a DTD")),
            Event::Start(ref e) | Event::Empty(ref e) if e.local_name().as_ref() == "Override" => {
                let part = key(&attr(e, "PartName")?.unwrap_or_default());
                if dropped.contains_key(&part) {
                    buf.clear();
                    continue;
                }
                if part == main_part && main_ct != plain_ct {
                    let mut el = e.to_owned();
                    el.clear_attributes();
                    for a in e.attributes() {
                        let a = a.map_err(|err| Held::malformed("[Content_Types].xml", err))?;
                        if a.key.as_ref() == "ContentType" {
                            el.push_attribute(("ContentType", plain_ct));
                        } else {
                            el.push_attribute(a);
                        }
                    }
                    write_xml(&mut writer, Event::Empty(el), "[Content_Types].xml")?;
                    buf.clear();
                    continue;
                }
                write_xml(&mut writer, ev, "[Content_Types].xml")?;
            }
            Event::Start(ref e) | Event::Empty(ref e) if e.local_name().as_ref() == "Default" => {
                let ct = attr(e, "ContentType")?.unwrap_or_default();
                if active_type(&ct).is_some() {
                    buf.clear();
                    continue;
                }
                write_xml(&mut writer, ev, "[Content_Types].xml")?;
            }
            Event::End(ref e) if matches!(e.local_name().as_ref(), "Override" | "Default") => {
                // Written as empty elements above.
            }
            ev => write_xml(&mut writer, ev, "[Content_Types].xml")?,
        }
        buf.clear();
    }
}

/// A `.rels` part without the removed relationships.
fn write_rels<R: Read, W: Write>(
    src: R,
    out: W,
    removed: Option<&HashSet<String>>,
    what: &str,
) -> Result<(), Held> {
    let mut reader = xml_reader(src);
    let mut writer = quick_xml::Writer::new(out);
    let mut buf = Vec::new();
    let mut skipping = 0usize;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| Held::malformed(what, e))?;
        match ev {
            Event::Eof => return Ok(()),
            Event::DocType(_) => return Err(Held::malformed(what, "a DTD")),
            _ if skipping > 0 => match ev {
                Event::Start(_) => skipping += 1,
                Event::End(_) => skipping -= 1,
                _ => {}
            },
            Event::Start(ref e) | Event::Empty(ref e)
                if e.local_name().as_ref() == "Relationship" =>
            {
                let id = attr(e, "Id")?.unwrap_or_default();
                if removed.is_some_and(|r| r.contains(&id)) {
                    if matches!(ev, Event::Start(_)) {
                        skipping = 1;
                    }
                } else {
                    write_xml(&mut writer, ev, what)?;
                }
            }
            ev => write_xml(&mut writer, ev, what)?,
        }
        buf.clear();
    }
}

/// The field instructions that are neutralised, by the field's number in
/// the part (counting `fldChar begin` in document order), with why.
fn instruction_kind(instr: &str) -> Option<RemovalKind> {
    let upper = instr.to_ascii_uppercase();
    let first = upper
        .split(|c: char| c.is_whitespace() || c == '"' || c == '{' || c == '}')
        .find(|t| !t.is_empty())?;
    match first {
        "DDE" | "DDEAUTO" => Some(RemovalKind::DdeField),
        "LINK" | "INCLUDETEXT" | "INCLUDEPICTURE" | "IMPORT" => {
            Some(RemovalKind::ExternalRelationship)
        }
        _ => None,
    }
}

/// Complex fields (`w:fldChar` begin … separate … end) as a stack, so that
/// both passes number them alike.
#[derive(Default)]
struct Fields {
    count: usize,
    /// (field number, instruction so far, instruction finished)
    open: Vec<(usize, String, bool)>,
    in_instr: bool,
}

impl Fields {
    /// Track one event; returns the number of a finished field with its
    /// instruction.
    fn track(&mut self, ev: &Event<'_>) -> Result<Option<(usize, String)>, Held> {
        match ev {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "fldChar" => {
                match attr_local(e, "fldCharType")?.as_deref() {
                    Some("begin") => {
                        self.open.push((self.count, String::new(), false));
                        self.count += 1;
                    }
                    Some("separate") => {
                        if let Some(top) = self.open.last_mut() {
                            top.2 = true;
                        }
                    }
                    Some("end") => {
                        if let Some((n, instr, _)) = self.open.pop() {
                            return Ok(Some((n, instr)));
                        }
                    }
                    _ => {}
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "instrText" => self.in_instr = true,
            Event::End(e) if e.local_name().as_ref() == "instrText" => self.in_instr = false,
            Event::Text(t) if self.in_instr => {
                if let Some(top) = self.open.last_mut().filter(|t| !t.2) {
                    top.1.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if self.in_instr => {
                if let Some(top) = self.open.last_mut().filter(|t| !t.2) {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => top.1.push(c),
                        _ => top.1.push('&'),
                    }
                }
            }
            _ => {}
        }
        Ok(None)
    }

    /// The field whose instruction the current text belongs to.
    fn current(&self) -> Option<usize> {
        self.open
            .last()
            .filter(|t| !t.2 && self.in_instr)
            .map(|t| t.0)
    }
}

fn word_fields<R: Read>(
    src: R,
    what: &str,
    budget: &Budget,
) -> Result<HashMap<usize, RemovalKind>, Held> {
    let mut reader = xml_reader(src);
    let mut buf = Vec::new();
    let mut fields = Fields::default();
    let mut flagged = HashMap::new();
    let mut events = 0u32;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| Held::malformed(what, e))?;
        events = events.wrapping_add(1);
        if events.is_multiple_of(4096) {
            budget.check()?;
        }
        if matches!(ev, Event::Eof) {
            return Ok(flagged);
        }
        if let Some((n, instr)) = fields.track(&ev)?
            && let Some(kind) = instruction_kind(&instr)
        {
            flagged.insert(n, kind);
        }
        buf.clear();
    }
}

/// Is this Excel formula a DDE call (`app|topic!item`, a `|` outside string
/// literals)?
fn dde_formula(f: &str) -> bool {
    let mut quoted = false;
    for c in f.chars() {
        match c {
            '"' => quoted = !quoted,
            '|' if !quoted => return true,
            _ => {}
        }
    }
    false
}

/// Rewrite one XML part: elements pointing at removed relationships,
/// neutralised fields, DDE formulas.
#[allow(clippy::too_many_arguments)]
fn filter_xml<R: Read, W: Write>(
    src: R,
    out: W,
    what: &str,
    kind: PartKind,
    removed: &HashSet<String>,
    flagged: &HashMap<usize, RemovalKind>,
    report: &mut Report,
    budget: &Budget,
) -> Result<(), Held> {
    let mut reader = xml_reader(src);
    let mut writer = quick_xml::Writer::new(out);
    let mut buf = Vec::new();
    let mut fields = Fields::default();
    let mut skipping = 0usize;
    let mut reported_fields = HashSet::new();
    // An Excel `<f>` element held back until its text is known.
    let mut formula: Option<(Vec<Event<'static>>, String)> = None;
    let mut events = 0u32;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| Held::malformed(what, e))?;
        events = events.wrapping_add(1);
        if events.is_multiple_of(4096) {
            budget.check()?;
        }
        if matches!(ev, Event::Eof) {
            return Ok(());
        }
        if matches!(ev, Event::DocType(_)) {
            return Err(Held::malformed(what, "a DTD in an Office part"));
        }
        // Fields are numbered on every event, also inside skipped
        // elements, so that the numbers match the first pass.
        if kind == PartKind::Word {
            fields.track(&ev)?;
        }
        if skipping > 0 {
            match ev {
                Event::Start(_) => skipping += 1,
                Event::End(_) => skipping -= 1,
                _ => {}
            }
            buf.clear();
            continue;
        }
        if let Some((held, text)) = formula.as_mut() {
            match &ev {
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::GeneralRef(_) => text.push('&'),
                _ => {}
            }
            held.push(ev.clone().into_owned());
            if text.len() > 64 << 10 {
                return Err(Held::malformed(what, "a formula longer than Excel allows"));
            }
            if matches!(ev, Event::End(_)) {
                let (held, text) = formula.take().unwrap_or_default();
                if dde_formula(&text) {
                    report.removed(RemovalKind::DdeField, format!("{what} formula {text}"));
                } else {
                    for e in held {
                        write_xml(&mut writer, e, what)?;
                    }
                }
            }
            buf.clear();
            continue;
        }
        match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name();
                let local = local.as_ref();
                let mut points_at_removed = false;
                let mut keep_attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|err| Held::malformed(what, err))?;
                    let k = a.key.as_ref();
                    let prefixed = k.contains(':') && !k.starts_with("xmlns");
                    if prefixed && removed.contains(a.value.as_ref()) {
                        points_at_removed = true;
                        continue;
                    }
                    keep_attrs.push(a);
                }
                let hyperlink = matches!(local, "hyperlink" | "hlinkClick" | "hlinkHover");
                if dropped_element(kind, local) || (points_at_removed && !hyperlink) {
                    if matches!(ev, Event::Start(_)) {
                        skipping = 1;
                    }
                    buf.clear();
                    continue;
                }
                if kind == PartKind::Word && local == "fldSimple" {
                    let instr = attr_local(e, "instr")?.unwrap_or_default();
                    if let Some(why) = instruction_kind(&instr) {
                        report.removed(why, format!("{what} field {}", instr.trim()));
                        let mut el = e.to_owned();
                        el.clear_attributes();
                        // The instruction is emptied under its own prefix.
                        for a in keep_attrs {
                            if a.key.local_name().as_ref() == "instr" {
                                el.push_attribute((a.key.as_ref(), ""));
                            } else {
                                el.push_attribute(a);
                            }
                        }
                        let ev = if matches!(ev, Event::Start(_)) {
                            Event::Start(el)
                        } else {
                            Event::Empty(el)
                        };
                        write_xml(&mut writer, ev, what)?;
                        buf.clear();
                        continue;
                    }
                }
                if kind == PartKind::Sheet && local == "f" && matches!(ev, Event::Start(_)) {
                    formula = Some((vec![ev.clone().into_owned()], String::new()));
                    buf.clear();
                    continue;
                }
                if points_at_removed {
                    let mut el = e.to_owned();
                    el.clear_attributes();
                    for a in keep_attrs {
                        el.push_attribute(a);
                    }
                    let ev = if matches!(ev, Event::Start(_)) {
                        Event::Start(el)
                    } else {
                        Event::Empty(el)
                    };
                    write_xml(&mut writer, ev, what)?;
                    buf.clear();
                    continue;
                }
            }
            Event::Text(_) | Event::GeneralRef(_) | Event::CData(_) => {
                if let Some(n) = fields.current()
                    && let Some(why) = flagged.get(&n)
                {
                    if reported_fields.insert(n) {
                        report.removed(*why, format!("{what} field {}", n + 1));
                    }
                    buf.clear();
                    continue;
                }
            }
            _ => {}
        }
        write_xml(&mut writer, ev, what)?;
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use crate::testdocs::{self, contains, unzip};
    use crate::{HeldReason, Limits, Outcome, RemovalKind, sanitise};
    use std::io::Cursor;

    fn run(doc: Vec<u8>, name: &str) -> (Outcome, Vec<u8>) {
        let mut out = Vec::new();
        let outcome = sanitise(Cursor::new(doc), name, &mut out, &Limits::default()).unwrap();
        (outcome, out)
    }

    fn kinds(out: &Outcome) -> Vec<RemovalKind> {
        out.report().removals.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn a_docm_loses_its_vba_project_and_becomes_a_docx() {
        let (outcome, out) = run(testdocs::docm_with_vba(), "申請書.docm");
        let Outcome::Rebuilt { new_name, report } = &outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(new_name, "申請書.docx");
        let locations: Vec<String> = report
            .removals
            .iter()
            .map(|r| format!("{} {}", r.kind.as_str(), r.location))
            .collect();
        assert!(
            locations.contains(&"vba_project word/vbaProject.bin".to_string()),
            "{locations:?}"
        );
        assert!(
            locations.contains(&"vba_project word/vbaData.xml".to_string()),
            "{locations:?}"
        );
        let parts = unzip(&out);
        assert!(
            !parts.keys().any(|k| k.contains("vba")),
            "{:?}",
            parts.keys()
        );
        let types = String::from_utf8_lossy(&parts["[Content_Types].xml"]).into_owned();
        assert!(
            !types.contains("macroEnabled") && !types.contains("vbaProject"),
            "{types}"
        );
        assert!(
            types.contains("wordprocessingml.document.main+xml"),
            "{types}"
        );
        let rels = String::from_utf8_lossy(&parts["word/_rels/document.xml.rels"]).into_owned();
        assert!(!rels.contains("vbaProject"), "{rels}");
        assert!(contains(
            &parts["word/document.xml"],
            "Hello 申請書".as_bytes()
        ));
    }

    #[test]
    fn a_docx_loses_its_remote_template_dde_fields_ole_object_and_share_link() {
        let (outcome, out) = run(testdocs::docx_with_links_dde_and_ole(), "report.docx");
        let kinds = kinds(&outcome);
        for want in [
            RemovalKind::ExternalRelationship,
            RemovalKind::DdeField,
            RemovalKind::OleObject,
            RemovalKind::UnlistedPart,
        ] {
            assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
        }
        assert!(
            outcome
                .report()
                .summary()
                .contains("word/_rels/settings.xml.rels rId1 \\\\evil-host"),
            "{}",
            outcome.report().summary()
        );
        assert!(!contains(&out, b"evil-host"), "template");
        assert!(!contains(&out, b"evil-share"), "file: hyperlink");
        let parts = unzip(&out);
        assert!(!parts.contains_key("word/embeddings/oleObject1.bin"));
        assert!(!parts.contains_key("word/hidden.exe"));
        let doc = String::from_utf8_lossy(&parts["word/document.xml"]).into_owned();
        assert!(!doc.contains("DDE") && !doc.contains("cmd.exe"), "{doc}");
        assert!(!doc.contains("OLEObject"), "{doc}");
        for kept in [
            "Keep this paragraph",
            "field result",
            "simple result",
            "PAGE",
            "web link text",
            "share link text",
            "r:id=\"rId3\"",
            "v:imagedata r:id=\"rId6\"",
        ] {
            assert!(doc.contains(kept), "{kept} lost: {doc}");
        }
        let settings = String::from_utf8_lossy(&parts["word/settings.xml"]).into_owned();
        assert!(
            !settings.contains("attachedTemplate") && settings.contains("w:zoom"),
            "{settings}"
        );
        let rels = String::from_utf8_lossy(&parts["word/_rels/document.xml.rels"]).into_owned();
        assert!(
            rels.contains("https://www.city.example.lg.jp/") && rels.contains("media/image1.png"),
            "{rels}"
        );
        assert!(!rels.contains("oleObject"), "{rels}");
    }

    #[test]
    fn an_xlsx_loses_its_external_link_and_dde_formula() {
        let (outcome, out) = run(testdocs::xlsx_with_link_and_dde(), "集計.xlsx");
        let kinds = kinds(&outcome);
        assert!(
            kinds.contains(&RemovalKind::ExternalRelationship),
            "{kinds:?}"
        );
        assert!(kinds.contains(&RemovalKind::DdeField), "{kinds:?}");
        assert!(!contains(&out, b"fileserver"));
        let parts = unzip(&out);
        assert!(
            !parts.keys().any(|k| k.contains("externalLink")),
            "{:?}",
            parts.keys()
        );
        let sheet = String::from_utf8_lossy(&parts["xl/worksheets/sheet1.xml"]).into_owned();
        assert!(
            !sheet.contains("cmd|") && sheet.contains("SUM(1,2)") && sheet.contains("合計"),
            "{sheet}"
        );
        let book = String::from_utf8_lossy(&parts["xl/workbook.xml"]).into_owned();
        assert!(
            !book.contains("externalReference") && book.contains("集計"),
            "{book}"
        );
    }

    #[test]
    fn a_zip_bomb_is_held() {
        let zeros = vec![0u8; 8 << 20];
        let types = br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
        let bomb = testdocs::zip(&[
            ("[Content_Types].xml", types),
            ("word/document.xml", &zeros),
        ]);
        let held = sanitise(
            Cursor::new(bomb.clone()),
            "a.docx",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded, "{held}");
        let limits = Limits {
            max_ratio: 1_000_000,
            max_expanded_bytes: 1 << 20,
            ..Limits::default()
        };
        let held = sanitise(Cursor::new(bomb), "a.docx", Vec::new(), &limits).unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded, "{held}");
    }

    #[test]
    fn truncated_plain_and_too_many_entries_are_held() {
        let doc = testdocs::docm_with_vba();
        let held = sanitise(
            Cursor::new(doc[..doc.len() / 2].to_vec()),
            "a.docm",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed, "{held}");
        let plain = testdocs::zip(&[("a.txt", b"hi")]);
        let held =
            sanitise(Cursor::new(plain), "a.docx", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::Unsupported, "{held}");
        let limits = Limits {
            max_zip_entries: 3,
            ..Limits::default()
        };
        let held = sanitise(Cursor::new(doc.clone()), "a.docm", Vec::new(), &limits).unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded, "{held}");
        // An xlsx name on a Word package.
        let held =
            sanitise(Cursor::new(doc), "a.xlsx", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::TypeMismatch, "{held}");
    }

    #[test]
    fn a_dtd_in_a_part_is_held() {
        let types = br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
        let doc = br#"<!DOCTYPE x [<!ENTITY a "DDEAUTO">]><w:document xmlns:w="w"/>"#;
        let file = testdocs::zip(&[("[Content_Types].xml", types), ("word/document.xml", doc)]);
        let held =
            sanitise(Cursor::new(file), "a.docx", Vec::new(), &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed, "{held}");
    }
}
