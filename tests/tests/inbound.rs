//! Inbound files end to end: upload links, the upload page, scanning,
//! classification, quarantine, incidents and refusals, through the real
//! gateway and client over HTTPS (policy "Bringing in", 2.(2)④).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use sekisho_e2e::*;
use serde_json::Value;

struct World {
    gw: Gateway,
    admin: Account,
    staff: Account,
    other: Account,
    manager: Account,
}

fn world() -> World {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let other = gw.user(&admin, "sato", "staff");
    let manager = gw.user(&admin, "kacho", "manager");
    World {
        gw,
        admin,
        staff,
        other,
        manager,
    }
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

/// Asks for files; returns the upload link.
fn request(w: &World, extra: &[&str]) -> String {
    let mut args = vec![
        "--json",
        "inbox",
        "request",
        "--from",
        "Hagi Printing <見積>",
        "--purpose",
        "見積書の受領 <b>quotes</b>",
    ];
    args.extend_from_slice(extra);
    let created = json_of(&w.gw.cli(&w.staff).run(&args));
    let url = json_str(&created["url"]).expect("url");
    assert!(url.starts_with(&w.gw.public_url), "{url}");
    let token = url.rsplit('/').next().unwrap_or("");
    assert!(token.len() >= 43, "token has at least 128 bits: {token}");
    url
}

fn upload(w: &World, url: &str, files: &[&Path]) -> std::process::Output {
    let home = w.gw.dir.path().join("home-outsider");
    std::fs::create_dir_all(&home).expect("home");
    let mut args: Vec<String> = vec!["--json".into(), "upload".into(), url.into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    w.gw.outsider(&home).run(&args)
}

fn inbox(w: &World, who: &Account) -> Vec<Value> {
    json_of(&w.gw.cli(who).run(&["--json", "inbox", "list"]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Posts a multipart form as a browser or curl would.
fn post_form(
    w: &World,
    url: &str,
    parts: Vec<(&str, Vec<u8>)>,
    accept: &str,
) -> reqwest::blocking::Response {
    let mut form = reqwest::blocking::multipart::Form::new();
    for (name, data) in parts {
        form = form.part(
            "file",
            reqwest::blocking::multipart::Part::bytes(data).file_name(name.to_string()),
        );
    }
    w.gw.http()
        .post(url)
        .header("Accept", accept)
        .multipart(form)
        .send()
        .expect("post form")
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        zip.start_file(*name, options).expect("start_file");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

fn tar_gz_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).expect("path");
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, *data).expect("append");
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

/// 200 MiB of zeros deflated into a small zip.
fn zip_bomb() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("zeros.bin", options).expect("start");
    let block = vec![0u8; 1 << 20];
    for _ in 0..200 {
        zip.write_all(&block).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

/// A zip whose entry is marked encrypted (general purpose flag bit 0 in the
/// local and central headers): its content cannot be checked.
fn encrypted_zip() -> Vec<u8> {
    let mut bytes = zip_of(&[("secret.txt", b"what is in here cannot be known")]);
    let mut i = 0;
    while i + 4 <= bytes.len() {
        match &bytes[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => bytes[i + 6] |= 1,
            [0x50, 0x4b, 0x01, 0x02] => bytes[i + 8] |= 1,
            _ => {}
        }
        i += 1;
    }
    bytes
}

/// Regular files under `dir` (stored blobs and partial uploads).
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { count_files(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn clean_file_waits_for_its_class_then_only_the_requester_gets_it() {
    let w = world();
    let url = request(&w, &[]);
    // Text, so that sanitisation passes it unchanged (tests/tests/sanitise.rs
    // covers the rebuilt and held kinds).
    let content: Vec<u8> = (0..300_000usize)
        .map(|i| b"0123456789,\n"[i % 12])
        .collect();
    let file = write_file(w.gw.dir.path(), "見積書.csv", &content);
    let answer = json_of(&upload(&w, &url, &[&file]));
    assert_eq!(answer["files"][0]["outcome"], "accepted", "{answer}");
    assert_eq!(answer["files"][0]["sha256"], sha256_hex(&content));

    let files = inbox(&w, &w.staff);
    assert_eq!(files.len(), 1, "{files:?}");
    let id = json_str(&files[0]["id"]).expect("id");
    assert_eq!(files[0]["verdict"], "clean");
    assert_eq!(files[0]["state"], "awaiting_class");
    assert_eq!(files[0]["name"], "見積書.csv");
    assert!(inbox(&w, &w.other).is_empty());

    let out_dir = w.gw.dir.path().join("received");
    std::fs::create_dir_all(&out_dir).expect("dir");
    let out = out_dir.display().to_string();
    assert_failure(
        &w.gw.cli(&w.staff).run(&["inbox", "get", &id, "-o", &out]),
        "class first",
    );
    assert_failure(
        &w.gw.cli(&w.other).run(&["inbox", "get", &id, "-o", &out]),
        "no file",
    );
    // 2.(2)④(イ): `unknown` hands the decision to a manager.
    let view = json_of(
        &w.gw
            .cli(&w.staff)
            .run(&["--json", "inbox", "classify", &id, "--class", "unknown"]),
    );
    assert_eq!(view["state"], "needs_manager");
    assert_failure(
        &w.gw
            .cli(&w.staff)
            .run(&["inbox", "classify", &id, "--class", "II"]),
        "manager",
    );
    assert_failure(
        &w.gw
            .cli(&w.other)
            .run(&["inbox", "classify", &id, "--class", "II"]),
        "not found",
    );
    let view = json_of(
        &w.gw
            .cli(&w.manager)
            .run(&["--json", "inbox", "classify", &id, "--class", "II"]),
    );
    assert_eq!(view["state"], "ready");
    assert_eq!(view["class"], "II");

    // Only the requester reads it, and the bytes are the ones uploaded.
    assert_failure(
        &w.gw.cli(&w.manager).run(&["inbox", "get", &id, "-o", &out]),
        "no file",
    );
    assert_success(
        &w.gw.cli(&w.staff).run(&["inbox", "get", &id, "-o", &out]),
        "inbox get",
    );
    // 2.(2)①(イ): the saved copy carries its class in its name.
    let saved = std::fs::read(out_dir.join("重要性II_見積書.csv")).expect("saved");
    assert_eq!(saved, content);
    assert!(!out_dir.join("見積書.csv").exists());
    assert_failure(
        &w.gw.cli(&w.staff).run(&["inbox", "get", &id, "-o", &out]),
        "already exists",
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files remain");

    let events = stored_events(&w.gw.database_url).expect("events");
    for action in [
        "inbound.request",
        "inbound.upload",
        "inbound.classify",
        "inbound.download",
    ] {
        assert!(
            events.iter().any(|e| e.action == action),
            "{action} is logged"
        );
    }
}

#[test]
fn malware_is_quarantined_and_opens_incidents() {
    let w = world();
    let url = request(&w, &["--max-files", "10"]);
    let dir = w.gw.dir.path();
    let mut padded = vec![b' '; 5000];
    padded.extend_from_slice(&eicar());
    padded.extend(vec![b'\n'; 3000]);
    let inner_zip = zip_of(&[("eicar.com", &eicar())]);
    let files = [
        write_file(dir, "eicar.com", &eicar()),
        write_file(dir, "invoice.pdf", &eicar()),
        write_file(dir, "padded.txt", &padded),
        write_file(dir, "eicar.zip", &inner_zip),
        write_file(
            dir,
            "bundle.tar.gz",
            &tar_gz_of(&[("docs/notes.txt", b"notes"), ("docs/inner.zip", &inner_zip)]),
        ),
    ];
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let out = upload(&w, &url, &paths);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let answer = json_of(&out);
    for f in answer["files"].as_array().expect("files") {
        assert_eq!(f["outcome"], "rejected", "{f}");
        assert!(
            f["message"]
                .as_str()
                .unwrap_or("")
                .contains("malware detected"),
            "{f}"
        );
    }

    let inbox_files = inbox(&w, &w.staff);
    assert_eq!(inbox_files.len(), 5);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("dir");
    let out_dir = out_dir.display().to_string();
    for f in &inbox_files {
        assert_eq!(f["state"], "quarantined", "{f}");
        assert_eq!(f["verdict"], "infected");
        let id = json_str(&f["id"]).expect("id");
        assert_failure(
            &w.gw
                .cli(&w.staff)
                .run(&["inbox", "get", &id, "-o", &out_dir]),
            "quarantined",
        );
        assert_failure(
            &w.gw
                .cli(&w.staff)
                .run(&["inbox", "classify", &id, "--class", "III"]),
            "quarantined",
        );
    }

    let incidents = json_of(&w.gw.cli(&w.manager).run(&["--json", "incidents"]));
    let incidents = incidents.as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 5, "{incidents:?}");
    for i in &incidents {
        assert_eq!(i["engine"], "builtin");
        assert!(!i["signature"].as_str().unwrap_or("").is_empty());
        assert!(
            i["uploader"]
                .as_str()
                .unwrap_or("")
                .contains("Hagi Printing")
        );
        assert_eq!(i["state"], "open");
    }
    // The uploader never learned the signature.
    let signature = incidents[0]["signature"].as_str().unwrap_or("-");
    assert!(!stdout.contains(signature), "{stdout}");
    let digests: Vec<&str> = incidents
        .iter()
        .filter_map(|i| i["digest"].as_str())
        .collect();
    assert!(digests.contains(&sha256_hex(&eicar()).as_str()));

    assert_failure(&w.gw.cli(&w.staff).run(&["incidents"]), "only managers");
    let auditor = w.gw.user(&w.admin, "kansa", "auditor");
    assert_success(&w.gw.cli(&auditor).run(&["incidents"]), "auditor reads");
    let id = json_str(&incidents[0]["id"]).expect("id");
    assert_failure(
        &w.gw
            .cli(&auditor)
            .run(&["incidents", "close", &id, "--note", "x"]),
        "only a manager",
    );
    let escalated = json_of(
        &w.gw
            .cli(&w.manager)
            .run(&["--json", "incidents", "escalate", &id]),
    );
    assert_eq!(escalated["state"], "escalated");
    let closed = json_of(&w.gw.cli(&w.manager).run(&[
        "--json",
        "incidents",
        "close",
        &id,
        "--note",
        "送信元に連絡し、端末の駆除を確認",
    ]));
    assert_eq!(closed["state"], "closed");

    let events = stored_events(&w.gw.database_url).expect("events");
    let opened: Vec<_> = events
        .iter()
        .filter(|e| e.action == "incident.open")
        .collect();
    assert_eq!(opened.len(), 5);
    assert!(
        opened[0].detail.contains("\"notify\":\"manager\""),
        "{}",
        opened[0].detail
    );
    for action in ["incident.escalate", "incident.close"] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
}

#[test]
fn files_that_cannot_be_checked_are_held() {
    let w = world();
    let url = request(&w, &[]);
    let dir = w.gw.dir.path();
    let mut nested = zip_of(&[("eicar.com", &eicar())]);
    for level in 0..3 {
        nested = zip_of(&[(&format!("level{level}.zip"), &nested)]);
    }
    let files = [
        write_file(dir, "deep.zip", &nested),
        write_file(dir, "bomb.zip", &zip_bomb()),
        write_file(dir, "secret.zip", &encrypted_zip()),
    ];
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let answer = json_of(&upload(&w, &url, &paths));
    for f in answer["files"].as_array().expect("files") {
        assert_eq!(f["outcome"], "held", "{f}");
    }
    let held = inbox(&w, &w.staff);
    assert_eq!(held.len(), 3);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("dir");
    let out_dir = out_dir.display().to_string();
    for f in &held {
        assert_eq!(f["state"], "held", "{f}");
        assert_eq!(f["verdict"], "unscanned");
        let id = json_str(&f["id"]).expect("id");
        assert_failure(
            &w.gw
                .cli(&w.staff)
                .run(&["inbox", "get", &id, "-o", &out_dir]),
            "held",
        );
        assert_failure(
            &w.gw.cli(&w.staff).run(&["inbox", "rescan", &id]),
            "only a sysadmin",
        );
    }
    // A rescan with the same engine comes to the same conclusion.
    let id = json_str(&held[0]["id"]).expect("id");
    let view = json_of(&w.gw.cli(&w.admin).run(&["--json", "inbox", "rescan", &id]));
    assert_eq!(view["state"], "held");
}

#[test]
fn links_refuse_after_expiry_beyond_limits_and_bad_names() {
    let w = world();
    let url = request(
        &w,
        &["--max-files", "2", "--max-mb", "1", "--expires-hours", "24"],
    );
    let dir = w.gw.dir.path();

    // Too many files: refused, nothing stored.
    let three: Vec<PathBuf> = (0..3)
        .map(|i| write_file(dir, &format!("f{i}.txt"), b"small"))
        .collect();
    let paths: Vec<&Path> = three.iter().map(|p| p.as_path()).collect();
    assert_failure(&upload(&w, &url, &paths), "2 more file");
    // Too large in total: refused, the partial file discarded.
    let big = write_file(dir, "big.bin", &vec![7u8; 1_500_000]);
    assert_failure(&upload(&w, &url, &[&big]), "larger than this link allows");
    // Names with separators, `..` or control characters.
    for bad in [
        "../escape.txt",
        "a/b.txt",
        "..",
        "tab\there.txt",
        "new\nline.txt",
        "",
        "C:x.txt",
        "CON",
        "nul.txt",
        "COM9.dat",
        "report.txt.",
        "report.txt ",
        "invoice\u{202e}txt.exe",
        "bom\u{feff}.txt",
        "a<b>.txt",
        "\"quoted\".txt",
        "star*.txt",
    ] {
        let resp = post_form(&w, &url, vec![(bad, b"x".to_vec())], "application/json");
        assert_eq!(resp.status().as_u16(), 400, "{bad:?}");
        // An empty name or a raw line break never reaches the name check:
        // the form itself is refused.
        if !bad.is_empty() && !bad.contains('\n') {
            let body: serde_json::Value = resp.json().unwrap_or_default();
            assert_eq!(body["code"], "bad_file_name", "{bad:?}: {body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains("rename"), "{bad:?}: {message}");
        }
    }
    // The outsider's client refuses such a name before sending anything.
    let outsider_home = dir.join("home-outsider-names");
    std::fs::create_dir_all(&outsider_home).expect("home");
    let device = write_file(dir, "PRN.txt", b"x");
    let out =
        w.gw.outsider(&outsider_home)
            .run(&["upload", &url, &device.display().to_string()]);
    assert_failure(&out, "'PRN'");
    assert_failure(&out, "rename it");
    // An unknown link.
    let unknown = format!("{}/u/{}", w.gw.public_url, "A".repeat(43));
    let resp = post_form(
        &w,
        &unknown,
        vec![("x.txt", b"x".to_vec())],
        "application/json",
    );
    assert_eq!(resp.status().as_u16(), 404);
    assert!(inbox(&w, &w.staff).is_empty(), "nothing was stored");
    let blobs = count_files(&w.gw.data_dir().join("store"));
    assert_eq!(blobs, 0, "no blob was left behind");

    // The upload page as a browser sees it, and its form submitted.
    let page =
        w.gw.http()
            .get(&url)
            .header("Accept", "text/html")
            .send()
            .expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().expect("html");
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    assert!(html.contains("name=\"file\""));
    assert!(
        html.contains("&lt;b&gt;quotes&lt;/b&gt;"),
        "escaped purpose"
    );
    assert!(!html.contains("<b>quotes"));
    assert!(html.contains("tanaka"));
    assert!(html.contains("ファイルの提出") && html.contains("Send files"));
    let resp = post_form(
        &w,
        &url,
        vec![("報告.txt", b"report".to_vec())],
        "text/html,application/xhtml+xml",
    );
    assert_eq!(resp.status().as_u16(), 200);
    let html = resp.text().expect("html");
    assert!(html.contains("Accepted"), "{html}");
    assert!(html.contains("報告.txt"));
    assert_eq!(inbox(&w, &w.staff).len(), 1);

    // After expiry: gone, nothing stored.
    w.gw.advance(25 * 3600);
    let late = write_file(dir, "late.txt", b"late");
    assert_failure(&upload(&w, &url, &[&late]), "expired");
    let page = w.gw.http().get(&url).send().expect("page");
    assert_eq!(page.status().as_u16(), 410);
    assert_success(&w.gw.login(&w.staff), "login again");
    assert_eq!(inbox(&w, &w.staff).len(), 1);

    let events = stored_events(&w.gw.database_url).expect("events");
    assert!(
        events
            .iter()
            .filter(|e| e.action == "inbound.refused")
            .count()
            >= 3
    );
}

#[test]
fn intake_walks_folders_and_scans_every_file() {
    let w = world();
    let media = w.gw.dir.path().join("usb");
    std::fs::create_dir_all(media.join("sub")).expect("dirs");
    write_file(&media, "a.txt", b"alpha");
    write_file(&media.join("sub"), "b.txt", b"beta");
    write_file(&media.join("sub"), "bad.com", &eicar());
    std::os::unix::fs::symlink("/etc/passwd", media.join("link")).expect("symlink");
    let summary = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "intake",
        &media.display().to_string(),
        "--purpose",
        "媒体からの取り込み",
        "--class",
        "III",
    ]));
    let files = summary["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 3, "{summary}");
    assert_eq!(summary["classified"], 2);
    assert_eq!(summary["skipped"].as_array().map(|a| a.len()), Some(1));
    let listed = inbox(&w, &w.staff);
    assert_eq!(
        listed.iter().filter(|f| f["state"] == "ready").count(),
        2,
        "{listed:?}"
    );
    assert_eq!(
        listed
            .iter()
            .filter(|f| f["state"] == "quarantined")
            .count(),
        1
    );
}

#[test]
fn outbound_malware_is_refused_and_nothing_is_stored() {
    let w = world();
    let (_identity, recipient) = age_identity(w.gw.dir.path(), "hagi");
    assert_success(
        &w.gw.cli(&w.staff).run(&[
            "recipient",
            "add",
            "hagi",
            "--org",
            "Hagi Printing Co.",
            "--email",
            "hagi@example.jp",
            "--age-key",
            &recipient,
        ]),
        "recipient add",
    );
    let bad = write_file(w.gw.dir.path(), "report.pdf", &eicar());
    let out = w.gw.cli(&w.staff).run(&[
        "send",
        &bad.display().to_string(),
        "--class",
        "III",
        "--to",
        "hagi",
        "--purpose",
        "報告書の送付",
    ]);
    assert_failure(&out, "contains malware");
    assert_eq!(
        count_files(&w.gw.data_dir().join("store")),
        0,
        "nothing was stored"
    );
    let incidents = json_of(&w.gw.cli(&w.manager).run(&["--json", "incidents"]));
    let incidents = incidents.as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["digest"], sha256_hex(&eicar()));
    assert!(
        incidents[0]["uploader"]
            .as_str()
            .unwrap_or("")
            .contains("tanaka")
    );

    // A clean file still goes out.
    let good = write_file(w.gw.dir.path(), "clean.txt", b"nothing to see");
    assert_success(
        &w.gw.cli(&w.staff).run(&[
            "send",
            &good.display().to_string(),
            "--class",
            "III",
            "--to",
            "hagi",
            "--purpose",
            "報告書の送付",
        ]),
        "clean send",
    );

    // Outbound scanning can be switched off (then only inbound is scanned).
    let mut w = w;
    w.gw.reconfigure(&[("scan", "scan_outbound", "false")]);
    let status = w.gw.admin_command(&["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("NOT scanned"));
    let unscanned = write_file(w.gw.dir.path(), "unchecked.pdf", &eicar());
    assert_success(
        &w.gw.cli(&w.staff).run(&[
            "send",
            &unscanned.display().to_string(),
            "--class",
            "III",
            "--to",
            "hagi",
            "--purpose",
            "報告書の送付",
        ]),
        "send with outbound scanning off",
    );
}

#[test]
fn an_unreachable_engine_holds_files_and_a_rescan_releases_them_once_fixed() {
    let mut w = world();
    // Nothing listens on port 9: clamd is "down".
    w.gw.reconfigure(&[(
        "scan",
        "clamd",
        r#"{ address = "127.0.0.1:9", connect_timeout_seconds = 2 }"#,
    )]);
    let url = request(&w, &[]);
    let content = b"an ordinary letter".to_vec();
    let file = write_file(w.gw.dir.path(), "letter.txt", &content);
    let answer = json_of(&upload(&w, &url, &[&file]));
    assert_eq!(answer["files"][0]["outcome"], "held", "{answer}");
    assert!(
        answer["files"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("could not be checked")
    );
    let files = inbox(&w, &w.staff);
    assert_eq!(files[0]["state"], "held");
    let id = json_str(&files[0]["id"]).expect("id");

    // Outbound fails closed too.
    let (_identity, recipient) = age_identity(w.gw.dir.path(), "hagi");
    assert_success(
        &w.gw.cli(&w.staff).run(&[
            "recipient",
            "add",
            "hagi",
            "--org",
            "Hagi",
            "--email",
            "h@example.jp",
            "--age-key",
            &recipient,
        ]),
        "recipient add",
    );
    let out = w.gw.cli(&w.staff).run(&[
        "send",
        &file.display().to_string(),
        "--class",
        "III",
        "--to",
        "hagi",
        "--purpose",
        "送付",
    ]);
    assert_failure(&out, "could not be checked for malware");

    // Status shows the engine is down, in the CLI and the API.
    let status = w.gw.admin_command(&["status"]);
    assert!(!status.status.success(), "{}", text(&status));
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains("builtin") && stdout.contains("NOT REACHABLE"),
        "{stdout}"
    );
    let api: Value =
        w.gw.http()
            .get(format!("{}/api/v1/scan/status", w.gw.internal_url))
            .bearer_auth(w.gw.token(&w.admin))
            .send()
            .expect("status")
            .json()
            .expect("json");
    let engines = api.as_array().cloned().unwrap_or_default();
    assert_eq!(engines.len(), 2, "{api}");
    assert!(
        engines
            .iter()
            .any(|e| e["engine"] == "clamd" && e["error"].is_string())
    );
    let staff_status =
        w.gw.http()
            .get(format!("{}/api/v1/scan/status", w.gw.internal_url))
            .bearer_auth(w.gw.token(&w.staff))
            .send()
            .expect("status");
    assert_eq!(staff_status.status().as_u16(), 403);

    // The engine is "fixed" (removed), and the sysadmin rescans.
    let config_path = w.gw.data_dir().join("sekisho.toml");
    let mut config: toml::Table =
        toml::from_str(&std::fs::read_to_string(&config_path).expect("read")).expect("toml");
    if let Some(toml::Value::Table(scan)) = config.get_mut("scan") {
        scan.remove("clamd");
    }
    std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("write");
    w.gw.restart();
    let status = w.gw.admin_command(&["status"]);
    assert_success(&status, "status");
    let view = json_of(&w.gw.cli(&w.admin).run(&["--json", "inbox", "rescan", &id]));
    assert_eq!(view["state"], "awaiting_class", "{view}");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["inbox", "classify", &id, "--class", "III"]),
        "classify",
    );
    let out_dir = w.gw.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("dir");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["inbox", "get", &id, "-o", &out_dir.display().to_string()]),
        "get",
    );
    assert_eq!(
        std::fs::read(out_dir.join("重要性III_letter.txt")).expect("read"),
        content
    );
}

/// A tar with raw member names (tar-rs refuses `..` through `set_path`).
fn raw_tar(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *data).expect("append");
    }
    builder.into_inner().expect("tar")
}

#[test]
fn hostile_names_inside_archives_are_display_only() {
    let w = world();
    let url = request(&w, &[]);
    let escape = w.gw.dir.path().join("escaped.txt");
    let traversal = format!("../../../../../../..{}", escape.display());
    let tar = raw_tar(&[
        (traversal.as_bytes(), b"would land outside"),
        (b"ctl\x1b[31m\r\n.txt", b"control characters"),
    ]);
    let zip = zip_of(&[("../../zipped.txt", b"x"), ("a\u{202e}txt.exe", b"y")]);
    let dir = w.gw.dir.path();
    let files = [
        write_file(dir, "names.tar", &tar),
        write_file(dir, "names.zip", &zip),
    ];
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let answer = json_of(&upload(&w, &url, &paths));
    // Scanned clean, then held: archives are not a type the sanitiser
    // rebuilds (6.(4)②). Neither step writes a name to the disk.
    for f in answer["files"].as_array().expect("files") {
        assert_eq!(f["outcome"], "held", "{f}");
    }
    let listed = inbox(&w, &w.staff);
    assert!(
        listed
            .iter()
            .all(|f| f["verdict"] == "clean" && f["state"] == "not_sanitised"),
        "{listed:?}"
    );
    assert!(!escape.exists(), "an archive name reached the file system");
    assert!(!dir.join("zipped.txt").exists());
}

#[test]
fn a_scan_configuration_that_cannot_be_used_stops_start_up() {
    let mut w = world();
    w.gw.kill();
    let rules = w.gw.data_dir().join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("broken.yar"), "rule broken { condition: ").expect("rule");
    let config_path = w.gw.data_dir().join("sekisho.toml");
    // The written configuration already holds a [scan.builtin]: replace it.
    let mut table: toml::Table =
        toml::from_str(&std::fs::read_to_string(&config_path).expect("config")).expect("toml");
    let scan = table
        .entry("scan")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(scan) = scan {
        let mut builtin = toml::Table::new();
        builtin.insert("rules_dir".into(), toml::Value::String("rules".into()));
        scan.insert("builtin".into(), toml::Value::Table(builtin));
    }
    std::fs::write(&config_path, toml::to_string(&table).expect("toml")).expect("write");

    let status = w.gw.admin_command(&["status"]);
    assert_failure(&status, "[scan] settings");
    let mut child = std::process::Command::new(bin("sekisho-gateway"))
        .args(["serve", "--dir"])
        .arg(w.gw.data_dir())
        .args(["--listen", "127.0.0.1:0", "--public-listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the gateway started with a broken rule");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(!exit.success());
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(stderr.contains("[scan] settings"), "{stderr}");
}

#[test]
fn with_clamd_every_engine_must_pass_and_a_stopped_clamd_holds_files() {
    let Some(mut clamd) = Clamd::start() else {
        return;
    };
    let mut w = world();
    w.gw.reconfigure(&[(
        "scan",
        "clamd",
        &format!(
            "{{ address = \"{}\", connect_timeout_seconds = 2 }}",
            clamd.socket()
        ),
    )]);
    let url = request(&w, &["--max-files", "10"]);
    let dir = w.gw.dir.path();
    let mut flagged = b"quarterly figures\n".to_vec();
    flagged.extend_from_slice(CLAMD_MARKER);
    // The same cases as with the built-in engine alone, now with clamd
    // added: every engine must pass a file, and the bounds still hold.
    let mut padded = vec![b' '; 5000];
    padded.extend_from_slice(&eicar());
    let mut deep = zip_of(&[("eicar.com", &eicar())]);
    for level in 0..3 {
        deep = zip_of(&[(&format!("level{level}.zip"), &deep)]);
    }
    let files = [
        write_file(dir, "clean.txt", b"nothing to see here"),
        write_file(dir, "figures.xlsx", &flagged),
        write_file(dir, "eicar.pdf", &eicar()),
        write_file(
            dir,
            "bundle.tar.gz",
            &tar_gz_of(&[("docs/inner.zip", &zip_of(&[("e.com", &eicar())]))]),
        ),
        write_file(dir, "padded.txt", &padded),
        write_file(dir, "deep.zip", &deep),
        write_file(dir, "bomb.zip", &zip_bomb()),
        write_file(dir, "secret.zip", &encrypted_zip()),
    ];
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let answer = json_of(&upload(&w, &url, &paths));
    let outcomes: Vec<&str> = answer["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        [
            "accepted", "rejected", "rejected", "rejected", "rejected", "held", "held", "held"
        ],
        "{answer}"
    );
    let incidents = json_of(&w.gw.cli(&w.manager).run(&["--json", "incidents"]));
    assert!(
        incidents
            .as_array()
            .expect("incidents")
            .iter()
            .any(|i| i["engine"] == "clamd"
                && i["signature"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Sekisho.E2E.Body")),
        "{incidents}"
    );
    let status = w.gw.admin_command(&["status"]);
    assert_success(&status, "status with clamd");
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("clamd: ClamAV"),
        "{}",
        text(&status)
    );

    // clamd stops while the gateway runs: files are held, not released.
    clamd.stop();
    let late = write_file(dir, "late.txt", b"sent after clamd stopped");
    let answer = json_of(&upload(&w, &url, &[&late]));
    assert_eq!(answer["files"][0]["outcome"], "held", "{answer}");
    let held: Vec<Value> = inbox(&w, &w.staff)
        .into_iter()
        .filter(|f| f["name"] == "late.txt")
        .collect();
    assert_eq!(held[0]["state"], "held");
    let id = json_str(&held[0]["id"]).expect("id");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("dir");
    assert_failure(
        &w.gw
            .cli(&w.staff)
            .run(&["inbox", "get", &id, "-o", &out_dir.display().to_string()]),
        "held",
    );
    // The rescan with clamd still down leaves it held.
    let view = json_of(&w.gw.cli(&w.admin).run(&["--json", "inbox", "rescan", &id]));
    assert_eq!(view["state"], "held");
}

#[test]
fn deny_list_hits_and_stale_signatures_are_reported() {
    let mut w = world();
    let banned = b"a tool nobody may bring in".to_vec();
    std::fs::write(
        w.gw.data_dir().join("deny-sha256.txt"),
        format!("# test list\n{} banned-tool\n", sha256_hex(&banned)),
    )
    .expect("deny list");
    w.gw.reconfigure(&[("scan", "builtin", r#"{ deny_list = "deny-sha256.txt" }"#)]);
    let url = request(&w, &[]);
    let file = write_file(w.gw.dir.path(), "tool.exe", &banned);
    let answer = json_of(&upload(&w, &url, &[&file]));
    assert_eq!(answer["files"][0]["outcome"], "rejected", "{answer}");

    let fresh = w.gw.admin_command(&["status"]);
    assert_success(&fresh, "status");
    assert!(!String::from_utf8_lossy(&fresh.stdout).contains("WARNING"));
    w.gw.advance(3 * 24 * 3600);
    let stale = w.gw.admin_command(&["status"]);
    assert_success(&stale, "status");
    let stdout = String::from_utf8_lossy(&stale.stdout);
    assert!(
        stdout.contains("WARNING") && stdout.contains("stale"),
        "{stdout}"
    );
    let json: Value = serde_json::from_slice(&w.gw.admin_command(&["status", "--json"]).stdout)
        .expect("status json");
    assert_eq!(json[0]["stale"], true, "{json}");
}

#[test]
fn postgres_app_role_can_run_the_inbound_flows() {
    let TestDatabase::Postgres { .. } = test_database() else {
        eprintln!(
            "skipped here: roles exist only on PostgreSQL; scripts/test.sh runs this against PostgreSQL"
        );
        return;
    };
    let mut w = world();
    w.gw.switch_to_app_role(&format!("sekisho_in_{}", std::process::id()));
    let url = request(&w, &[]);
    let dir = w.gw.dir.path();
    let files = [
        write_file(dir, "ok.txt", b"fine"),
        write_file(dir, "bad.com", &eicar()),
    ];
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let answer = json_of(&upload(&w, &url, &paths));
    assert_eq!(answer["files"][0]["outcome"], "accepted", "{answer}");
    assert_eq!(answer["files"][1]["outcome"], "rejected", "{answer}");
    let clean = inbox(&w, &w.staff)
        .into_iter()
        .find(|f| f["name"] == "ok.txt")
        .expect("clean file");
    let id = json_str(&clean["id"]).expect("id");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["inbox", "classify", &id, "--class", "III"]),
        "classify",
    );
    let incidents = json_of(&w.gw.cli(&w.manager).run(&["--json", "incidents"]));
    let incident = json_str(&incidents[0]["id"]).expect("incident");
    assert_success(
        &w.gw
            .cli(&w.manager)
            .run(&["incidents", "close", &incident, "--note", "done"]),
        "close",
    );
}

/// Objects in the folder or the bucket the gateway stores into.
fn stored_object_count(gw: &Gateway) -> usize {
    store_listing(gw).blobs.len()
}

fn wait_until(mut condition: impl FnMut() -> bool, what: &str) {
    for _ in 0..60 {
        if condition() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn r02_2_10_inbound_files_are_erased_when_kept_long_enough_quarantined_ones_later() {
    let mut w = world();
    w.gw.reconfigure(&[("housekeeping", "interval_seconds", "1")]);
    let url = request(&w, &["--max-files", "5"]);
    let dir = w.gw.dir.path();
    let clean = write_file(dir, "clean.txt", b"kept for 30 days");
    let infected = write_file(dir, "bad.com", &eicar());
    let answer = json_of(&upload(&w, &url, &[&clean, &infected]));
    assert_eq!(answer["files"][0]["outcome"], "accepted", "{answer}");
    assert_eq!(answer["files"][1]["outcome"], "rejected", "{answer}");
    assert_eq!(stored_object_count(&w.gw), 2);
    let files = inbox(&w, &w.staff);
    let id_of = |name: &str| {
        files
            .iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["id"].as_str())
            .map(str::to_string)
            .expect("file")
    };
    let (clean_id, infected_id) = (id_of("clean.txt"), id_of("bad.com"));

    // 31 days later (default inbound_days = 30): the clean file goes, the
    // quarantined one stays (quarantine_days = 90) for the investigation.
    w.gw.advance(31 * 86_400);
    assert_success(&w.gw.login(&w.staff), "login a month later");
    wait_until(
        || stored_object_count(&w.gw) == 1,
        "clean inbound file erased",
    );
    let state_of = |w: &World, id: &str| {
        inbox(w, &w.staff)
            .iter()
            .find(|f| f["id"] == id)
            .and_then(|f| f["state"].as_str())
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_eq!(state_of(&w, &clean_id), "erased");
    assert_eq!(state_of(&w, &infected_id), "quarantined");
    let certificate = json_of(
        &w.gw
            .cli(&w.staff)
            .run(&["--json", "deletion", "show", &clean_id]),
    );
    assert_eq!(certificate["trigger"], "retention");
    assert_eq!(
        certificate["files"][0]["sha256"],
        sha256_hex(b"kept for 30 days").as_str()
    );
    // Another member of staff sees no certificate of someone else's file.
    assert!(
        !w.gw
            .cli(&w.other)
            .run(&["deletion", "show", &clean_id])
            .status
            .success()
    );

    // 90 days after arrival the quarantined file goes too.
    w.gw.advance(60 * 86_400);
    assert_success(&w.gw.login(&w.staff), "login later still");
    wait_until(
        || stored_object_count(&w.gw) == 0,
        "quarantined file erased",
    );
    assert_eq!(state_of(&w, &infected_id), "erased");
    let certificate =
        json_of(
            &w.gw
                .cli(&w.staff)
                .run(&["--json", "deletion", "show", &infected_id]),
        );
    assert_eq!(
        certificate["class"], "I",
        "never classified: certified at the highest class"
    );
    let _ = &w.admin;
}
