//! PDF: the object graph is loaded (lopdf), cleaned and written as a new
//! file, so incremental updates, trailing bytes and unreferenced objects do
//! not survive. Removed or neutralised:
//! - `/OpenAction` and every `/AA` (actions run on open, on page, field or
//!   annotation events);
//! - actions that run or fetch something — JavaScript, Launch, GoToR
//!   (another file), GoToE (an embedded file), ImportData, RichMediaExecute
//!   — wherever an `/A` or `/Next` leads to them, and every `/JS` entry;
//! - the document's named JavaScript and embedded files (`/Names`), file
//!   attachments (`/EF`, `/FS` of attachment annotations), embedded file
//!   streams and portfolios (`/Collection`);
//! - RichMedia content (Flash, video with scripts);
//! - XFA forms (`/AcroForm /XFA`: XML forms with their own scripts).
//!
//! lopdf reads a whole document into memory, so a PDF is capped by
//! `Limits::max_pdf_bytes` before it is parsed, and by
//! `Limits::max_pdf_objects` after. A PDF that lopdf cannot parse, or that
//! stays encrypted (a password is needed), is held.

use std::collections::HashMap;
use std::io::{Read, Write};

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::{Bounded, Budget, Format, Held, HeldReason, Outcome, RemovalKind, Report};

/// Actions that run or fetch something, by their `/S`.
fn dangerous_action(s: &[u8]) -> Option<RemovalKind> {
    match s {
        b"JavaScript" => Some(RemovalKind::PdfJavascript),
        b"Launch" => Some(RemovalKind::Launch),
        b"GoToR" | b"ImportData" => Some(RemovalKind::ExternalRelationship),
        b"GoToE" => Some(RemovalKind::EmbeddedFile),
        b"RichMediaExecute" => Some(RemovalKind::RichMedia),
        _ => None,
    }
}

fn action_kind(d: &Dictionary) -> Option<RemovalKind> {
    d.get(b"S")
        .ok()
        .and_then(|s| s.as_name().ok())
        .and_then(dangerous_action)
}

fn name_of(o: &Object) -> Option<&[u8]> {
    o.as_name().ok()
}

fn location(id: ObjectId) -> String {
    format!("object {} {}", id.0, id.1)
}

pub(crate) fn rebuild<R: Read, W: Write>(
    input: R,
    size: u64,
    name: &str,
    out: &mut Bounded<W>,
    budget: &Budget,
) -> Result<Outcome, Held> {
    rebuild_checked(input, size, name, out, budget, true)
}

/// `rebuild`; with `verify`, the rebuilt file is read back and cleaned
/// again before anything is written to `out`, and must come out with
/// nothing removed. lopdf's writer can emit text that parses differently
/// from the objects it was given (a fuzzed string literal holding a whole
/// PDF came back as objects with /JS and /AA of their own), so what is
/// handed on is what a reader would parse, checked, not what was meant.
fn rebuild_checked<R: Read, W: Write>(
    input: R,
    size: u64,
    name: &str,
    out: &mut Bounded<W>,
    budget: &Budget,
    verify: bool,
) -> Result<Outcome, Held> {
    let limits = &budget.limits;
    if size > limits.max_pdf_bytes {
        return Err(Held::bound(format!(
            "the PDF is {size} bytes; PDFs are sanitised up to {} bytes (they are loaded whole)",
            limits.max_pdf_bytes
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    input
        .take(limits.max_pdf_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Held::malformed("cannot read the PDF", e))?;
    let mut doc =
        Document::load_mem(&bytes).map_err(|e| Held::malformed("not a readable PDF", e))?;
    drop(bytes);
    budget.check()?;
    if doc.is_encrypted() {
        return Err(Held::new(
            HeldReason::Encrypted,
            "a password-protected PDF: its content cannot be inspected",
        ));
    }
    if doc.objects.len() as u64 > limits.max_pdf_objects {
        return Err(Held::bound(format!(
            "the PDF has {} objects; at most {} are accepted",
            doc.objects.len(),
            limits.max_pdf_objects
        )));
    }
    let mut report = Report::new(Format::Pdf);

    // 1. Which indirect objects are dangerous actions or embedded files.
    let mut actions: HashMap<ObjectId, RemovalKind> = HashMap::new();
    let mut embedded: Vec<ObjectId> = Vec::new();
    for (id, obj) in &doc.objects {
        let dict = match obj {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &s.dict,
            _ => continue,
        };
        // Only action dictionaries are deleted whole: a catalog, page or
        // annotation that also carries an `/S` keeps its place and loses
        // the action's keys in step 3 (deleting it broke the document).
        if let Some(kind) = action_kind(dict)
            && dict
                .get(b"Type")
                .ok()
                .and_then(name_of)
                .is_none_or(|t| t == b"Action")
        {
            actions.insert(*id, kind);
        }
        if dict.get(b"Type").ok().and_then(name_of) == Some(b"EmbeddedFile") {
            embedded.push(*id);
        }
    }

    // 2. The catalog: named scripts and files, XFA, portfolios.
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|e| Held::malformed("the PDF has no catalog", e))?;
    // Whatever the catalog says it is, it is not deleted in step 4; nor is
    // any object on the way to it (`10 0 obj 9 0 R endobj` makes 9 the
    // catalog).
    let mut catalog_chain = vec![root];
    let mut at = root;
    while let Some(Object::Reference(next)) = doc.objects.get(&at) {
        if catalog_chain.contains(next) || catalog_chain.len() > 16 {
            break;
        }
        catalog_chain.push(*next);
        at = *next;
    }
    for id in &catalog_chain {
        actions.remove(id);
    }
    embedded.retain(|id| !catalog_chain.contains(id));
    let (names_ref, acroform_ref) = {
        let catalog = doc
            .get_dictionary(root)
            .map_err(|e| Held::malformed("the PDF catalog", e))?;
        (
            catalog.get(b"Names").and_then(Object::as_reference).ok(),
            catalog.get(b"AcroForm").and_then(Object::as_reference).ok(),
        )
    };
    let clean_names = |names: &mut Dictionary, report: &mut Report| {
        if names.remove(b"JavaScript").is_some() {
            report.removed(RemovalKind::PdfJavascript, "catalog /Names /JavaScript");
        }
        if names.remove(b"EmbeddedFiles").is_some() {
            report.removed(RemovalKind::EmbeddedFile, "catalog /Names /EmbeddedFiles");
        }
    };
    let clean_form = |form: &mut Dictionary, report: &mut Report| {
        if form.remove(b"XFA").is_some() {
            report.removed(RemovalKind::Xfa, "catalog /AcroForm /XFA");
            form.remove(b"NeedsRendering");
        }
    };
    if let Some(id) = names_ref
        && let Ok(names) = doc.get_dictionary_mut(id)
    {
        clean_names(names, &mut report);
    }
    if let Some(id) = acroform_ref
        && let Ok(form) = doc.get_dictionary_mut(id)
    {
        clean_form(form, &mut report);
    }
    {
        let catalog = doc
            .get_dictionary_mut(root)
            .map_err(|e| Held::malformed("the PDF catalog", e))?;
        if let Ok(Object::Dictionary(names)) = catalog.get_mut(b"Names") {
            clean_names(names, &mut report);
        }
        if let Ok(Object::Dictionary(form)) = catalog.get_mut(b"AcroForm") {
            clean_form(form, &mut report);
        }
        if catalog.remove(b"Collection").is_some() {
            report.removed(RemovalKind::EmbeddedFile, "catalog /Collection");
        }
    }

    // 3. Every dictionary, direct or nested: actions, scripts, attachments.
    let ids: Vec<ObjectId> = doc.objects.keys().copied().collect();
    for (n, id) in ids.into_iter().enumerate() {
        if n % 1024 == 0 {
            budget.check()?;
        }
        if let Some(obj) = doc.objects.get_mut(&id) {
            clean_object(obj, &location(id), &actions, &mut report, 0)?;
        }
    }

    // 4. Embedded file streams go; so does whatever only they reached.
    for id in embedded {
        doc.objects.remove(&id);
        report.removed(RemovalKind::EmbeddedFile, location(id));
    }
    for (id, kind) in &actions {
        if doc.objects.remove(id).is_some() {
            report.removed(*kind, location(*id));
        }
    }
    doc.prune_objects();
    // A rebuilt PDF without its catalog opens as nothing: never hand it on.
    if doc.get_dictionary(root).is_err() {
        return Err(Held::malformed(
            "the PDF",
            "its catalog did not survive the rebuild",
        ));
    }
    budget.check()?;
    if !verify {
        doc.save_to(out)
            .map_err(|e| out.failure("cannot write the rebuilt PDF", e))?;
        return Ok(Outcome::Rebuilt {
            report,
            new_name: name.to_string(),
        });
    }
    let mut rebuilt = Bounded::new(Vec::new(), limits.max_output_bytes);
    doc.save_to(&mut rebuilt)
        .map_err(|e| rebuilt.failure("cannot write the rebuilt PDF", e))?;
    drop(doc);
    let bytes = rebuilt.inner;
    let mut nowhere = Bounded::new(std::io::sink(), limits.max_output_bytes);
    match rebuild_checked(
        &bytes[..],
        bytes.len() as u64,
        name,
        &mut nowhere,
        budget,
        false,
    ) {
        Ok(again) if again.report().removals.is_empty() => {}
        Ok(again) => {
            return Err(Held::new(
                HeldReason::ActiveContent,
                format!(
                    "the rebuilt PDF, read back, still holds active content: {}",
                    again.report().summary()
                ),
            ));
        }
        Err(e) => return Err(Held::malformed("the rebuilt PDF does not read back", e)),
    }
    out.write_all(&bytes)
        .map_err(|e| out.failure("cannot write the rebuilt PDF", e))?;
    Ok(Outcome::Rebuilt {
        report,
        new_name: name.to_string(),
    })
}

/// Nesting deeper than this is not a document a person wrote.
const MAX_DEPTH: u32 = 64;

fn clean_object(
    obj: &mut Object,
    at: &str,
    actions: &HashMap<ObjectId, RemovalKind>,
    report: &mut Report,
    depth: u32,
) -> Result<(), Held> {
    if depth > MAX_DEPTH {
        return Err(Held::malformed("the PDF", "objects nested too deep"));
    }
    match obj {
        Object::Dictionary(d) => clean_dict(d, at, actions, report, depth),
        Object::Stream(s) => clean_dict(&mut s.dict, at, actions, report, depth),
        Object::Array(items) => {
            for item in items {
                clean_object(item, at, actions, report, depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Does this value (an action, or a reference to one, or an array of them
/// as `/Next` allows) lead to a dangerous action?
fn leads_to_danger(o: &Object, actions: &HashMap<ObjectId, RemovalKind>) -> Option<RemovalKind> {
    match o {
        Object::Reference(id) => actions.get(id).copied(),
        Object::Dictionary(d) => action_kind(d),
        Object::Array(items) => items.iter().find_map(|i| leads_to_danger(i, actions)),
        _ => None,
    }
}

fn clean_dict(
    d: &mut Dictionary,
    at: &str,
    actions: &HashMap<ObjectId, RemovalKind>,
    report: &mut Report,
    depth: u32,
) -> Result<(), Held> {
    if d.remove(b"OpenAction").is_some() {
        report.removed(RemovalKind::OpenAction, at);
    }
    if d.remove(b"AA").is_some() {
        report.removed(RemovalKind::AdditionalAction, at);
    }
    if d.remove(b"JS").is_some() {
        report.removed(RemovalKind::PdfJavascript, at);
    }
    for key in [&b"A"[..], b"Next"] {
        if let Ok(v) = d.get(key)
            && let Some(kind) = leads_to_danger(v, actions)
        {
            d.remove(key);
            report.removed(kind, at);
        }
    }
    if let Some(kind) = action_kind(d) {
        // A dangerous action written inline: nothing left to run, and no
        // `/S` left to name it (a second pass found the same action again).
        for key in [
            &b"S"[..],
            b"F",
            b"Win",
            b"Mac",
            b"Unix",
            b"D",
            b"Instance",
            b"CMD",
        ] {
            d.remove(key);
        }
        report.removed(kind, at);
    }
    if d.remove(b"EF").is_some() {
        report.removed(RemovalKind::EmbeddedFile, at);
    }
    let subtype = d.get(b"Subtype").ok().and_then(name_of).map(<[u8]>::to_vec);
    match subtype.as_deref() {
        Some(b"FileAttachment") if d.remove(b"FS").is_some() => {
            report.removed(RemovalKind::EmbeddedFile, at);
        }
        Some(b"RichMedia") => {
            let content = d.remove(b"RichMediaContent").is_some();
            let settings = d.remove(b"RichMediaSettings").is_some();
            if content || settings {
                report.removed(RemovalKind::RichMedia, at);
            }
        }
        _ => {}
    }
    for (_, v) in d.iter_mut() {
        clean_object(v, at, actions, report, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testdocs;
    use crate::{HeldReason, Limits, Outcome, RemovalKind, sanitise};
    use std::io::Cursor;

    fn kinds(out: &Outcome) -> Vec<RemovalKind> {
        out.report().removals.iter().map(|r| r.kind).collect()
    }

    /// Found by the sanitise_pdf fuzz target: a catalog carrying
    /// `/S /JavaScript` was taken for an action and deleted, so the rebuilt
    /// file had no catalog and could not be opened (nor sanitised again).
    /// The same befell any page or annotation with an `/S` of an action.
    #[test]
    fn a_catalog_or_page_with_an_action_key_is_cleaned_not_deleted() {
        use lopdf::{Document, Object, dictionary};
        let mut doc = Document::with_version("1.7");
        let pages = doc.new_object_id();
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages, "S" => "Launch",
            "F" => Object::string_literal("cmd.exe"),
        });
        doc.objects.insert(
            pages,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
            }),
        );
        let catalog = doc.add_object(dictionary! {
            "Type" => "Catalog", "Pages" => pages, "S" => "JavaScript",
            "JS" => Object::string_literal("app.alert(1)"),
        });
        doc.trailer.set("Root", catalog);
        let mut pdf = Vec::new();
        doc.save_to(&mut pdf).unwrap();

        let mut out = Vec::new();
        let outcome = sanitise(Cursor::new(pdf), "a.pdf", &mut out, &Limits::default()).unwrap();
        assert!(kinds(&outcome).contains(&RemovalKind::PdfJavascript));
        assert!(kinds(&outcome).contains(&RemovalKind::Launch));
        assert!(!testdocs::contains(&out, b"app.alert") && !testdocs::contains(&out, b"cmd.exe"));
        let rebuilt = Document::load_mem(&out).unwrap();
        assert_eq!(rebuilt.get_pages().len(), 1);
        let mut again = Vec::new();
        let second = sanitise(Cursor::new(out), "a.pdf", &mut again, &Limits::default()).unwrap();
        assert!(second.report().removals.is_empty(), "{:?}", second.report());
        // The same with the trailer's /Root an object that is only a
        // reference to the catalog.
        let mut doc = Document::load_mem(&again).unwrap();
        let root = doc
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .unwrap();
        let catalog = doc.get_dictionary_mut(root).unwrap();
        // Without /Type, as the fuzzed file had it: it looks like an action.
        catalog.remove(b"Type");
        catalog.set("S", "JavaScript");
        catalog.set("JS", Object::string_literal("app.alert(2)"));
        let via = doc.add_object(Object::Reference(root));
        doc.trailer.set("Root", via);
        let mut pdf = Vec::new();
        doc.save_to(&mut pdf).unwrap();
        let mut out = Vec::new();
        sanitise(Cursor::new(pdf), "a.pdf", &mut out, &Limits::default()).unwrap();
        let mut again = Vec::new();
        let second = sanitise(Cursor::new(out), "a.pdf", &mut again, &Limits::default()).unwrap();
        assert!(second.report().removals.is_empty(), "{:?}", second.report());
    }

    /// Found by the sanitise_pdf fuzz target: a string literal holding a
    /// whole PDF was written back by lopdf so that, read again, it gave
    /// objects of its own (a JavaScript action, a page with /AA) that the
    /// rebuild never saw. A rebuilt PDF is now read back and must clean to
    /// nothing; this one is held.
    #[test]
    fn objects_smuggled_through_a_string_are_held() {
        let pdf = include_bytes!("../testdata/pdf-smuggled-objects.pdf");
        let mut out = Vec::new();
        let held =
            sanitise(Cursor::new(&pdf[..]), "a.pdf", &mut out, &Limits::default()).unwrap_err();
        assert_eq!(held.reason, HeldReason::ActiveContent, "{held}");
    }

    #[test]
    fn javascript_open_action_and_embedded_files_are_removed_and_the_text_stays() {
        let pdf = testdocs::pdf_with_active_parts();
        assert!(testdocs::contains(&pdf, b"/JavaScript"));
        let mut out = Vec::new();
        let outcome = sanitise(Cursor::new(pdf), "申請.pdf", &mut out, &Limits::default()).unwrap();
        let kinds = kinds(&outcome);
        for want in [
            RemovalKind::OpenAction,
            RemovalKind::PdfJavascript,
            RemovalKind::EmbeddedFile,
            RemovalKind::AdditionalAction,
            RemovalKind::Launch,
        ] {
            assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
        }
        for gone in [
            &b"/JavaScript"[..],
            b"/OpenAction",
            b"/JS",
            b"/EmbeddedFile",
            b"/AA",
            b"/Launch",
            b"app.alert",
            b"MZ-payload",
        ] {
            assert!(
                !testdocs::contains(&out, gone),
                "{} still there",
                String::from_utf8_lossy(gone)
            );
        }
        // Still a PDF with its page and text.
        let doc = lopdf::Document::load_mem(&out).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
        assert!(doc.extract_text(&[1]).unwrap().contains("Hello"));
    }

    #[test]
    fn a_truncated_or_garbled_pdf_is_held() {
        let pdf = testdocs::pdf_with_active_parts();
        let held = sanitise(
            Cursor::new(b"%PDF-1.7\ngarbage".to_vec()),
            "a.pdf",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed);
        let held = sanitise(
            Cursor::new(pdf[..40].to_vec()),
            "a.pdf",
            Vec::new(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(held.reason, HeldReason::Malformed);
    }

    #[test]
    fn a_pdf_over_its_bounds_is_held() {
        let pdf = testdocs::pdf_with_active_parts();
        let limits = Limits {
            max_pdf_bytes: 100,
            ..Limits::default()
        };
        let held = sanitise(Cursor::new(pdf.clone()), "a.pdf", Vec::new(), &limits).unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded);
        let limits = Limits {
            max_pdf_objects: 2,
            ..Limits::default()
        };
        let held = sanitise(Cursor::new(pdf.clone()), "a.pdf", Vec::new(), &limits).unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded);
        let limits = Limits {
            max_output_bytes: 100,
            ..Limits::default()
        };
        let held = sanitise(Cursor::new(pdf), "a.pdf", Vec::new(), &limits).unwrap_err();
        assert_eq!(held.reason, HeldReason::BoundExceeded);
    }
}
