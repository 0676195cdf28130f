//! Sanitisation (無害化, policy 6.(4)②) end to end: documents with macros,
//! scripts, links and appended payloads are uploaded through a real request
//! link and through `sekisho intake`; what staff download lacks the active
//! parts and keeps the content, the report names what went, files that
//! cannot be sanitised are held, and only a manager releases an original,
//! with a reason and a fresh TOTP code.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use sekisho_e2e::*;
use sekisho_sanitise::testdocs;
use serde_json::Value;

struct World {
    gw: Gateway,
    staff: Account,
    manager: Account,
}

fn world() -> World {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let manager = gw.user(&admin, "kacho", "manager");
    World { gw, staff, manager }
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

fn inbox(w: &World) -> Vec<Value> {
    json_of(&w.gw.cli(&w.staff).run(&["--json", "inbox", "list"]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The listed file that came in as `original`.
fn by_original<'a>(files: &'a [Value], original: &str) -> &'a Value {
    files
        .iter()
        .find(|f| f["sanitised"]["original_name"] == original)
        .unwrap_or_else(|| panic!("{original} not listed: {files:?}"))
}

fn id_of(f: &Value) -> String {
    json_str(&f["id"]).expect("id")
}

fn removed(f: &Value) -> Vec<String> {
    f["sanitised"]["removed"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

/// Classifies a file III and downloads what staff receive.
fn classify_and_get(w: &World, f: &Value, dir: &Path) -> Vec<u8> {
    let id = id_of(f);
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["inbox", "classify", &id, "--class", "III"]),
        "classify",
    );
    std::fs::create_dir_all(dir).expect("dir");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["inbox", "get", &id, "-o", &dir.display().to_string()]),
        "get",
    );
    let name = format!("重要性III_{}", json_str(&f["name"]).expect("name"));
    std::fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn zip_part(bytes: &[u8], part: &str) -> Option<String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip package");
    let mut file = zip.by_name(part).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).expect("utf-8 part");
    Some(text)
}

fn detail(e: &sekisho_proto::AuditEvent) -> Value {
    serde_json::from_str(&e.detail).unwrap_or(Value::Null)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn request_link_uploads_are_rebuilt_reported_held_and_released_only_by_a_manager() {
    let w = world();
    let created = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "inbox",
        "request",
        "--from",
        "萩印刷",
        "--purpose",
        "申請書類の受領",
    ]));
    let url = json_str(&created["url"]).expect("url");
    let dir = w.gw.dir.path().join("outside");
    std::fs::create_dir_all(&dir).expect("dir");
    let docm = testdocs::docm_with_vba();
    let doc_with_macro = testdocs::ole2(&[
        ("WordDocument", &[0u8; 32][..]),
        ("Macros/VBA/dir", b"Attribute VB_Name = AutoOpen"),
    ]);
    let files = [
        write_file(&dir, "申請書.docm", &docm),
        write_file(&dir, "集計.xlsx", &testdocs::xlsx_with_link_and_dde()),
        write_file(
            &dir,
            "report.docx",
            &testdocs::docx_with_links_dde_and_ole(),
        ),
        write_file(&dir, "案内.pdf", &testdocs::pdf_with_active_parts()),
        write_file(&dir, "photo.png", &testdocs::png_with_metadata_and_zip()),
        write_file(&dir, "old.doc", &doc_with_macro),
        write_file(&dir, "broken.pdf", b"%PDF-1.7\n1 0 obj << /JS (x) garbage"),
        write_file(&dir, "memo.txt", "会議は10時から。\n".as_bytes()),
    ];
    let home = w.gw.dir.path().join("home-outsider");
    std::fs::create_dir_all(&home).expect("home");
    let mut args: Vec<String> = vec!["--json".into(), "upload".into(), url];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let answer = w.gw.outsider(&home).run(&args);
    let shown = text(&answer);
    // The sender learns a file was held, never what the sanitiser found.
    assert!(!shown.contains("vba_project"), "{shown}");

    let listed = inbox(&w);
    assert_eq!(listed.len(), 8, "{listed:?}");

    // The docm comes as a docx without its VBA project.
    let docm_file = by_original(&listed, "申請書.docm");
    assert_eq!(docm_file["name"], "申請書.docx", "{docm_file}");
    assert_eq!(docm_file["sanitised"]["outcome"], "rebuilt");
    assert_eq!(docm_file["state"], "awaiting_class");
    assert!(
        removed(docm_file).contains(&"vba_project word/vbaProject.bin".to_string()),
        "{docm_file}"
    );
    let got = classify_and_get(&w, docm_file, &w.gw.dir.path().join("dl-docm"));
    assert!(zip_part(&got, "word/vbaProject.bin").is_none());
    let types = zip_part(&got, "[Content_Types].xml").expect("content types");
    assert!(!types.contains("macroEnabled"), "{types}");
    let body = zip_part(&got, "word/document.xml").expect("document");
    assert!(body.contains("Hello 申請書"), "{body}");

    // The workbook loses its external link and DDE formula, keeps its data.
    let xlsx = by_original(&listed, "集計.xlsx");
    let lines = removed(xlsx);
    assert!(
        lines.iter().any(|l| l.starts_with("dde_field")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("external_relationship")),
        "{lines:?}"
    );
    let got = classify_and_get(&w, xlsx, &w.gw.dir.path().join("dl-xlsx"));
    let sheet = zip_part(&got, "xl/worksheets/sheet1.xml").expect("sheet");
    assert!(!sheet.contains("cmd|") && sheet.contains("合計"), "{sheet}");
    assert!(!contains(&got, b"fileserver"));

    // The docx loses the OLE object, the remote template and the DDE field.
    let docx = by_original(&listed, "report.docx");
    let lines = removed(docx);
    assert!(
        lines.iter().any(|l| l.starts_with("ole_object")),
        "{lines:?}"
    );
    let got = classify_and_get(&w, docx, &w.gw.dir.path().join("dl-docx"));
    assert!(zip_part(&got, "word/embeddings/oleObject1.bin").is_none());
    let body = zip_part(&got, "word/document.xml").expect("document");
    assert!(
        !body.contains("DDE") && body.contains("Keep this paragraph"),
        "{body}"
    );
    assert!(!contains(&got, b"evil-host"));

    // The PDF loses its scripts and attachment, keeps its text.
    let pdf = by_original(&listed, "案内.pdf");
    let lines = removed(pdf);
    for kind in ["open_action", "pdf_javascript", "embedded_file"] {
        assert!(
            lines.iter().any(|l| l.starts_with(kind)),
            "{kind}: {lines:?}"
        );
    }
    let got = classify_and_get(&w, pdf, &w.gw.dir.path().join("dl-pdf"));
    assert!(got.starts_with(b"%PDF-"));
    for gone in [
        &b"/JavaScript"[..],
        b"/OpenAction",
        b"app.alert",
        b"MZ-payload",
    ] {
        assert!(!contains(&got, gone), "{}", String::from_utf8_lossy(gone));
    }
    assert!(contains(&got, b"(Hello) Tj"));

    // The picture loses the zip glued after it.
    let png = by_original(&listed, "photo.png");
    let lines = removed(png);
    assert!(
        lines.iter().any(|l| l.starts_with("trailing_bytes")),
        "{lines:?}"
    );
    let got = classify_and_get(&w, png, &w.gw.dir.path().join("dl-png"));
    assert!(got.starts_with(b"\x89PNG") && !contains(&got, b"PK\x03\x04"));

    // Plain text passes as it came.
    let memo = by_original(&listed, "memo.txt");
    assert_eq!(memo["sanitised"]["outcome"], "unchanged");
    let got = classify_and_get(&w, memo, &w.gw.dir.path().join("dl-txt"));
    assert_eq!(got, "会議は10時から。\n".as_bytes());

    // A legacy .doc with a macro stream and a garbled PDF are held.
    for held in ["old.doc", "broken.pdf"] {
        let f = by_original(&listed, held);
        assert_eq!(f["state"], "not_sanitised", "{f}");
        assert_eq!(f["sanitised"]["outcome"], "held", "{f}");
        let id = id_of(f);
        let out = w.gw.dir.path().join(format!("dl-{held}"));
        std::fs::create_dir_all(&out).expect("dir");
        assert_failure(
            &w.gw
                .cli(&w.staff)
                .run(&["inbox", "get", &id, "-o", &out.display().to_string()]),
            "could not be sanitised",
        );
        assert_failure(
            &w.gw
                .cli(&w.staff)
                .run(&["inbox", "classify", &id, "--class", "III"]),
            "could not be sanitised",
        );
    }
    let show =
        w.gw.cli(&w.staff)
            .run(&["inbox", "show", &id_of(by_original(&listed, "old.doc"))]);
    assert!(text(&show).contains("active_content"), "{}", text(&show));
    let show =
        w.gw.cli(&w.staff)
            .run(&["inbox", "show", &id_of(docm_file)]);
    assert!(
        text(&show).contains("removed: vba_project word/vbaProject.bin"),
        "{}",
        text(&show)
    );

    // The original: refused to staff, released to a manager with step-up.
    let out = w.gw.dir.path().join("originals");
    std::fs::create_dir_all(&out).expect("dir");
    let out_arg = out.display().to_string();
    let docm_id = id_of(docm_file);
    let code = w.gw.otp(&w.staff.totp_secret);
    assert_failure(
        &w.gw.cli(&w.staff).run(&[
            "inbox",
            "original",
            &docm_id,
            "--reason",
            "見たい",
            "--otp",
            &code,
            "-o",
            &out_arg,
        ]),
        "Only a manager",
    );
    assert_failure(
        &w.gw.cli(&w.manager).run(&[
            "inbox",
            "original",
            &docm_id,
            "--reason",
            "マクロの確認",
            "--otp",
            "000000",
            "-o",
            &out_arg,
        ]),
        "",
    );
    assert!(std::fs::read_dir(&out).expect("dir").next().is_none());
    let code = w.gw.otp(&w.manager.totp_secret);
    assert_success(
        &w.gw.cli(&w.manager).run(&[
            "inbox",
            "original",
            &docm_id,
            "--reason",
            "マクロの確認",
            "--otp",
            &code,
            "-o",
            &out_arg,
        ]),
        "release the original",
    );
    let original = std::fs::read(out.join(format!("original-{docm_id}"))).expect("original");
    assert_eq!(original, docm);
    // A held file's original too.
    let doc_id = id_of(by_original(&listed, "old.doc"));
    let code = w.gw.otp(&w.manager.totp_secret);
    assert_success(
        &w.gw.cli(&w.manager).run(&[
            "inbox",
            "original",
            &doc_id,
            "--reason",
            "差出人に確認済み",
            "--otp",
            &code,
            "-o",
            &out_arg,
        ]),
        "release a held original",
    );
    // Plain text has no withheld original.
    let code = w.gw.otp(&w.manager.totp_secret);
    assert_failure(
        &w.gw.cli(&w.manager).run(&[
            "inbox",
            "original",
            &id_of(memo),
            "--reason",
            "x",
            "--otp",
            &code,
            "-o",
            &out_arg,
        ]),
        "no withheld original",
    );

    // The releases are audit events, with their reasons.
    let events = stored_events(&w.gw.database_url).expect("events");
    let releases: Vec<_> = events
        .iter()
        .filter(|e| e.action == "inbound.original_release")
        .collect();
    assert_eq!(releases.len(), 2, "{releases:?}");
    assert!(
        releases
            .iter()
            .any(|e| e.actor == "kacho" && detail(e)["reason"] == "マクロの確認"),
        "{releases:?}"
    );
    let uploads: Vec<_> = events
        .iter()
        .filter(|e| e.action == "inbound.upload")
        .collect();
    assert!(
        uploads
            .iter()
            .any(|e| detail(e)["sanitised"]["outcome"] == "rebuilt"),
        "{uploads:?}"
    );
}

#[test]
fn intake_is_sanitised_and_bombs_and_unknown_types_are_held() {
    let w = world();
    let media = w.gw.dir.path().join("usb");
    std::fs::create_dir_all(&media).expect("dir");
    write_file(&media, "様式.docm", &testdocs::docm_with_vba());
    // A docx whose one part expands a thousandfold.
    let types = br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let zeros = vec![0u8; 16 << 20];
    write_file(
        &media,
        "bomb.docx",
        &testdocs::zip(&[
            ("[Content_Types].xml", types),
            ("word/document.xml", &zeros),
        ]),
    );
    write_file(&media, "tool.exe", b"MZ\x90\x00 not a document");
    let summary = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "intake",
        &media.display().to_string(),
        "--purpose",
        "媒体からの取り込み",
    ]));
    assert_eq!(
        summary["files"].as_array().map(|a| a.len()),
        Some(3),
        "{summary}"
    );
    let listed = inbox(&w);
    let docm = by_original(&listed, "様式.docm");
    assert_eq!(docm["name"], "様式.docx");
    assert_eq!(docm["sanitised"]["outcome"], "rebuilt");
    for held in ["bomb.docx", "tool.exe"] {
        let f = by_original(&listed, held);
        assert_eq!(f["state"], "not_sanitised", "{f}");
    }
    let bomb = by_original(&listed, "bomb.docx");
    assert!(
        bomb["sanitised"]["held"]
            .as_str()
            .unwrap_or("")
            .starts_with("bound_exceeded"),
        "{bomb}"
    );

    let status = w.gw.admin_command(&["status"]);
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains("Sanitiser (無害化): sekisho-sanitise") && stdout.contains("ooxml:"),
        "{stdout}"
    );
}

#[test]
fn a_source_switched_off_passes_on_the_scan_alone() {
    let mut w = world();
    w.gw.reconfigure(&[("sanitise", "media_intake", "false")]);
    let media = w.gw.dir.path().join("usb");
    std::fs::create_dir_all(&media).expect("dir");
    write_file(&media, "様式.docm", &testdocs::docm_with_vba());
    assert_success(
        &w.gw.cli(&w.staff).run(&[
            "intake",
            &media.display().to_string(),
            "--purpose",
            "媒体からの取り込み",
        ]),
        "intake",
    );
    let listed = inbox(&w);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "様式.docm");
    assert_eq!(listed[0]["sanitised"]["outcome"], "off");
    assert_eq!(listed[0]["state"], "awaiting_class");
    let status = w.gw.admin_command(&["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("media_intake are NOT sanitised"));
}
