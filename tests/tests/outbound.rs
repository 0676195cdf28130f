//! Outbound transfers end to end: the real gateway and client over HTTPS.
//! Test names carry the policy clause they prove (shared/policy/requirements.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use sekisho_e2e::*;
use serde_json::{Value, json};

struct World {
    gw: Gateway,
    admin: Account,
    staff: Account,
    approver: Account,
}

fn world() -> World {
    world_with(GatewayOptions::default())
}

fn world_with(options: GatewayOptions) -> World {
    let mut gw = Gateway::start_with(options);
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    World {
        gw,
        admin,
        staff,
        approver,
    }
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

fn add_age_recipient(w: &World, who: &Account, name: &str) -> (PathBuf, String) {
    let (identity, recipient) = age_identity(w.gw.dir.path(), name);
    let out = w.gw.cli(who).run(&[
        "recipient",
        "add",
        name,
        "--org",
        "Hagi Printing Co.",
        "--email",
        &format!("{name}@example.jp"),
        "--age-key",
        &recipient,
    ]);
    assert_success(&out, "recipient add");
    (identity, recipient)
}

fn send(w: &World, who: &Account, files: &[&Path], class: &str, to: &str) -> Value {
    let mut args: Vec<String> = vec!["--json".into(), "send".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend([
        "--class".into(),
        class.into(),
        "--to".into(),
        to.into(),
        "--purpose".into(),
        "入札資料の送付 (tender documents)".into(),
    ]);
    json_of(&w.gw.cli(who).run(&args))
}

fn transfer_id(sent: &Value) -> String {
    json_str(&sent["transfer"]["id"]).expect("transfer id")
}

fn links(w: &World, who: &Account, id: &str) -> Vec<Value> {
    json_of(&w.gw.cli(who).run(&["--json", "link", id]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn approve(w: &World, who: &Account, id: &str) -> std::process::Output {
    let code = w.gw.otp(&who.totp_secret);
    w.gw.cli(who).run(&[
        "--json",
        "approve",
        id,
        "--otp",
        &code,
        "--comment",
        "確認しました",
    ])
}

fn audit_actions(w: &World, auditor: &Account) -> Vec<String> {
    let token = w.gw.token(auditor);
    let page: Value =
        w.gw.http()
            .get(format!(
                "{}/api/v1/audit/events?after=0&limit=10000",
                w.gw.internal_url
            ))
            .bearer_auth(token)
            .send()
            .expect("audit page")
            .json()
            .expect("audit json");
    page["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| json_str(&e["action"]).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

fn stored_blob_count(gw: &Gateway) -> usize {
    let objects = gw.data_dir().join("store").join("objects");
    let Ok(shards) = std::fs::read_dir(objects) else {
        return 0;
    };
    shards
        .filter_map(Result::ok)
        .filter_map(|s| std::fs::read_dir(s.path()).ok())
        .map(|entries| entries.count())
        .sum()
}

#[test]
fn gateway_serves_https_openapi_and_keeps_the_api_off_the_public_listener() {
    let gw = Gateway::start();
    let http = gw.http();
    let doc: Value = http
        .get(format!("{}/api/v1/openapi.json", gw.internal_url))
        .send()
        .expect("openapi")
        .json()
        .expect("openapi json");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    for path in [
        "/api/v1/login",
        "/api/v1/transfers/{id}/approve",
        "/api/v1/audit/events",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    // The public listener answers downloads only.
    for path in ["/api/v1/login", "/api/v1/health", "/api/v1/admin/users"] {
        let status = http
            .post(format!("{}{path}", gw.public_url))
            .json(&serde_json::json!({"username": "admin", "password": "x", "otp": "1"}))
            .send()
            .expect("public request")
            .status();
        assert_eq!(
            status.as_u16(),
            404,
            "{path} must not exist on the public listener"
        );
    }
    // No plaintext HTTP on either port.
    let plain = gw.internal_url.replace("https://", "http://");
    let answered = reqwest::blocking::Client::new()
        .get(format!("{plain}/api/v1/health"))
        .send()
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    assert!(!answered, "the internal listener answered plain HTTP");
}

#[test]
fn init_refuses_to_overwrite_an_existing_gateway() {
    let gw = Gateway::start();
    let out = Command::new(bin("sekisho-gateway"))
        .args(["init", "--dir"])
        .arg(gw.data_dir())
        .output()
        .expect("run init");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
}

#[test]
fn r05_4_temporary_password_must_be_changed_and_weak_passwords_are_refused() {
    let mut gw = Gateway::start();
    let admin = gw.admin.clone();
    assert_success(&gw.login(&admin), "first login with the temporary password");
    // A temporary password allows nothing but changing it.
    let out = gw.cli(&admin).run(&["admin", "user", "list"]);
    assert_failure(&out, "temporary password");
    for weak in [
        "short1!A",
        "alllowercase-123",
        "NoDigits-Here!",
        "NoSymbols12345",
    ] {
        let out = gw
            .cli(&admin)
            .env("SEKISHO_NEW_PASSWORD", weak)
            .run(&["password"]);
        assert!(!out.status.success(), "weak password '{weak}' was accepted");
    }
    let admin = gw.admin_ready();
    let who = json_of(&gw.cli(&admin).run(&["--json", "whoami"]));
    assert_eq!(who["role"], "sysadmin");
    assert_eq!(who["must_change_password"], false);
    // The client keeps a token, never the password, in a 0600 file.
    let session = admin.home.join("session.json");
    let text = std::fs::read_to_string(&session).expect("session file");
    assert!(!text.contains(&admin.password));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&session)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn r04_3_login_needs_password_and_totp_and_repeated_failures_lock_the_account() {
    let w = world();
    let staff = &w.staff;
    // Right password, wrong code.
    let out =
        w.gw.cli(staff)
            .run(&["login", "--user", &staff.username, "--otp", "000000"]);
    assert_failure(&out, "one-time code");
    // A used code cannot be used again.
    let code = w.gw.otp(&staff.totp_secret);
    let ok =
        w.gw.cli(staff)
            .run(&["login", "--user", &staff.username, "--otp", &code]);
    assert_success(&ok, "login");
    let replay =
        w.gw.cli(staff)
            .run(&["login", "--user", &staff.username, "--otp", &code]);
    assert!(!replay.status.success(), "a TOTP code was accepted twice");
    // Wrong passwords until the account locks (threshold 5, counting the two above).
    for _ in 0..4 {
        let code = w.gw.otp(&staff.totp_secret);
        let _ =
            w.gw.cli(staff)
                .env("SEKISHO_PASSWORD", "Wrong-Password-1")
                .run(&["login", "--user", &staff.username, "--otp", &code]);
    }
    // Locked: even the right password and code are refused, in the words
    // of a wrong password (a lock must not tell which names exist).
    let out = w.gw.login(staff);
    assert_failure(&out, "wrong user name, password or one-time code");
    // Time passes (15 minutes by default): the lock lifts.
    w.gw.advance(16 * 60);
    assert_success(&w.gw.login(staff), "login after the lock expired");
    let actions = {
        let auditor = w.gw.user(&w.admin, "kansa", "auditor");
        audit_actions(&w, &auditor)
    };
    assert!(actions.iter().any(|a| a == "login.fail"));
    assert!(actions.iter().any(|a| a == "user.lock"));
}

#[test]
fn r07_5_disabling_an_account_ends_its_sessions_at_once() {
    let w = world();
    assert_success(&w.gw.cli(&w.staff).run(&["whoami"]), "whoami");
    assert_success(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "disable", "tanaka"]),
        "disable",
    );
    assert_failure(&w.gw.cli(&w.staff).run(&["whoami"]), "log in");
    let out = w.gw.login(&w.staff);
    assert_failure(&out, "disabled");
    let users = json_of(&w.gw.cli(&w.admin).run(&["--json", "admin", "user", "list"]));
    let tanaka = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["username"] == "tanaka"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(tanaka["status"], "disabled");
    assert_success(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "enable", "tanaka"]),
        "enable",
    );
    assert_success(&w.gw.login(&w.staff), "login after enable");
    // Staff cannot manage accounts.
    assert!(
        !w.gw
            .cli(&w.staff)
            .run(&["admin", "user", "add", "eve", "--role", "ciso"])
            .status
            .success()
    );
}

#[test]
fn r02_2_no_class_bad_class_or_no_purpose_is_refused_and_nothing_is_stored() {
    let w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let file = write_file(w.gw.dir.path(), "見積書.pdf", b"quotation");
    let f = file.display().to_string();
    let cli = w.gw.cli(&w.staff);
    let no_class = cli.run(&["send", &f, "--to", "printer", "--purpose", "x"]);
    assert!(!no_class.status.success());
    let bad_class = cli.run(&[
        "send",
        &f,
        "--class",
        "IV",
        "--to",
        "printer",
        "--purpose",
        "x",
    ]);
    assert_failure(&bad_class, "IV");
    let no_purpose = cli.run(&["send", &f, "--class", "II", "--to", "printer"]);
    assert!(!no_purpose.status.success());
    let blank_purpose = cli.run(&[
        "send",
        &f,
        "--class",
        "II",
        "--to",
        "printer",
        "--purpose",
        "  ",
    ]);
    assert!(!blank_purpose.status.success());

    // The gateway refuses the same on its own, whatever the client does.
    let http = w.gw.http();
    let token = w.gw.token(&w.staff);
    let create = |body: Value| {
        let response = http
            .post(format!("{}/api/v1/transfers", w.gw.internal_url))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .expect("create");
        let status = response.status().as_u16();
        let body: Value = response.json().unwrap_or_default();
        (status, json_str(&body["code"]).unwrap_or_default())
    };
    let files = serde_json::json!([{"name": "a.txt", "size": 3}]);
    assert_eq!(
        create(serde_json::json!({"purpose": "p", "recipients": ["printer"], "files": files})),
        (400, "class_missing".to_string())
    );
    assert_eq!(
        create(
            serde_json::json!({"class": "secret", "purpose": "p", "recipients": ["printer"], "files": files})
        ),
        (400, "class_invalid".to_string())
    );
    assert_eq!(
        create(serde_json::json!({"class": "II", "recipients": ["printer"], "files": files})),
        (400, "purpose_missing".to_string())
    );
    assert_eq!(
        create(
            serde_json::json!({"class": "II", "purpose": "p", "recipients": ["nobody"], "files": files})
        ),
        (400, "recipient_unknown".to_string())
    );
    let listed = json_of(&w.gw.cli(&w.staff).run(&["--json", "list"]));
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(0),
        "something was stored"
    );
    assert_eq!(stored_blob_count(&w.gw), 0);
}

#[test]
fn r02_2_path_tricks_and_oversized_uploads_are_refused() {
    let w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let http = w.gw.http();
    let token = w.gw.token(&w.staff);
    let post = |files: Value| {
        let response = http
            .post(format!("{}/api/v1/transfers", w.gw.internal_url))
            .bearer_auth(&token)
            .json(&serde_json::json!({"class": "III", "purpose": "p", "recipients": ["printer"], "files": files}))
            .send()
            .expect("create");
        (
            response.status().as_u16(),
            response.json::<Value>().unwrap_or_default(),
        )
    };
    for name in [
        "../../etc/passwd",
        "..",
        "a/b.txt",
        "a\\b.txt",
        "line\nbreak.txt",
        "nul\u{0}.txt",
        "",
    ] {
        let (status, body) = post(serde_json::json!([{"name": name, "size": 1}]));
        assert_eq!(status, 400, "name {name:?} was accepted: {body}");
        assert_eq!(body["code"], "bad_file_name");
    }
    // Names that are fine on Linux but unsafe or misleading on a Windows
    // desk: a drive, a device, a name Windows shortens, a right-to-left
    // override that shows `invoiceexe.txt`. Each refusal says what to rename.
    for (name, says) in [
        ("C:x.txt", "':'"),
        ("CON", "'CON'"),
        ("con.txt", "'con'"),
        ("LPT1.log", "'LPT1'"),
        ("report.txt.", "ends with a dot or a space"),
        ("report.txt ", "ends with a dot or a space"),
        ("invoice\u{202e}txt.exe", "U+202E"),
        ("zero\u{200b}width.txt", "U+200B"),
        ("what?.txt", "'?'"),
        ("a|b.txt", "'|'"),
    ] {
        let (status, body) = post(serde_json::json!([{"name": name, "size": 1}]));
        assert_eq!(status, 400, "name {name:?} was accepted: {body}");
        assert_eq!(body["code"], "bad_file_name");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says) && message.contains("rename") && message.contains("名前"),
            "{name:?}: the refusal must say what to rename, Japanese first: {message}"
        );
    }
    let (status, _) = post(serde_json::json!([{"name": "huge.bin", "size": 1u64 << 50}]));
    assert_eq!(status, 413);

    // A body longer than announced is cut off and nothing is kept.
    let (status, created) = post(serde_json::json!([{"name": "small.txt", "size": 4}]));
    assert_eq!(status, 201);
    let path = json_str(&created["uploads"][0]["path"]).expect("upload path");
    let response = http
        .put(format!("{}{path}", w.gw.internal_url))
        .bearer_auth(&token)
        .body(vec![b'x'; 64 * 1024])
        .send()
        .expect("upload");
    assert!(
        response.status().is_client_error(),
        "oversized body accepted: {}",
        response.status()
    );
    assert_eq!(stored_blob_count(&w.gw), 0);
    // The client refuses a path trick before sending anything.
    let dir = w.gw.dir.path().join("weird");
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, says) in [
        ("tab\tname.txt", "control character"),
        ("C:x.txt", "':'"),
        ("AUX.csv", "'AUX'"),
        ("report.txt.", "ends with a dot"),
        ("invoice\u{202e}txt.exe", "U+202E"),
    ] {
        let bad = write_file(&dir, name, b"x");
        let out = w.gw.cli(&w.staff).run(&[
            "send",
            &bad.display().to_string(),
            "--class",
            "III",
            "--to",
            "printer",
            "--purpose",
            "p",
        ]);
        assert_failure(&out, says);
        assert_failure(&out, "Rename the file");
    }
    assert_eq!(stored_blob_count(&w.gw), 0);
    let listed = json_of(&w.gw.cli(&w.staff).run(&["--json", "list"]));
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "only the transfer made above exists: {listed}"
    );
}

#[test]
fn r02_9_class_three_is_released_at_once_and_arrives_verified() {
    let w = world();
    add_age_recipient(&w, &w.staff, "resident");
    let a = write_file(
        w.gw.dir.path(),
        "お知らせ.txt",
        "ごみ収集日のお知らせ".as_bytes(),
    );
    let b = write_file(w.gw.dir.path(), "map.bin", &vec![7u8; 300_000]);
    let sent = send(&w, &w.staff, &[&a, &b], "III", "resident");
    assert_eq!(sent["transfer"]["state"], "released");
    assert_eq!(sent["transfer"]["class"], "III");
    let id = transfer_id(&sent);
    let links = links(&w, &w.staff, &id);
    assert_eq!(links.len(), 1);
    let url = json_str(&links[0]["url"]).expect("url");
    assert!(url.starts_with(&w.gw.public_url) && url.contains("/d/"));
    let token = url.rsplit('/').next().unwrap_or("");
    assert!(token.len() >= 22, "token shorter than 128 bits: {token}");
    assert_eq!(links[0]["max_downloads"], 3);

    // The page a browser sees does not count as a download.
    let page = w.gw.http().get(&url).send().expect("page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap_or_default().contains("重要性III"));

    let out_dir = w.gw.dir.path().join("received-iii");
    let home = w.gw.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");
    let received = json_of(&w.gw.outsider(&home).run(&[
        "--json",
        "receive",
        &url,
        "-o",
        &out_dir.display().to_string(),
    ]));
    assert_eq!(received["verified"], true);
    assert_eq!(received["manifest"]["class"], "III");
    assert_eq!(
        std::fs::read(out_dir.join("お知らせ.txt")).expect("file"),
        "ごみ収集日のお知らせ".as_bytes()
    );
    assert_eq!(
        std::fs::read(out_dir.join("map.bin")).expect("file").len(),
        300_000
    );
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &id]));
    assert_eq!(shown["recipients"][0]["link"]["downloads"], 1);
}

#[test]
fn r02_9_class_two_waits_for_the_approver_and_leaves_only_encrypted() {
    let w = world();
    let (identity, _) = add_age_recipient(&w, &w.staff, "lawyer");
    let a = write_file(
        w.gw.dir.path(),
        "住民名簿.csv",
        "氏名,住所\n山田,萩市\n".as_bytes(),
    );
    let b = write_file(w.gw.dir.path(), "notes.txt", b"confidential notes");
    let sent = send(&w, &w.staff, &[&a, &b], "II", "lawyer");
    let id = transfer_id(&sent);
    assert_eq!(sent["transfer"]["state"], "pending_approval");
    assert_eq!(sent["transfer"]["approval_by"], "approver");

    // Nothing can be downloaded before approval: no link exists yet.
    assert!(
        links(&w, &w.staff, &id).is_empty(),
        "a link exists before approval"
    );
    let guessed =
        w.gw.http()
            .post(format!("{}/d/{}", w.gw.public_url, "A".repeat(43)))
            .send()
            .expect("guess");
    assert_eq!(guessed.status().as_u16(), 404);

    // The approver sees everything needed to decide.
    let pending = json_of(&w.gw.cli(&w.approver).run(&["--json", "pending"]));
    let item = pending
        .as_array()
        .and_then(|p| p.iter().find(|t| t["id"] == id.as_str()))
        .cloned()
        .expect("transfer in the approver's queue");
    assert_eq!(item["class"], "II");
    assert_eq!(item["sender"], "tanaka");
    let shown = json_of(&w.gw.cli(&w.approver).run(&["--json", "show", &id]));
    assert_eq!(
        shown["files"][0]["sha256"],
        sha256_hex("氏名,住所\n山田,萩市\n".as_bytes())
    );
    assert!(
        shown["recipients"][0]["fingerprints"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("SHA256:")
    );

    // Staff cannot approve; the sender cannot approve their own request.
    let colleague = w.gw.user(&w.admin, "suzuki", "staff");
    assert!(
        !approve(&w, &colleague, &id).status.success(),
        "staff approved"
    );
    assert!(
        !approve(&w, &w.staff, &id).status.success(),
        "sender approved own request"
    );
    // A wrong step-up code is refused.
    let out =
        w.gw.cli(&w.approver)
            .run(&["approve", &id, "--otp", "123456"]);
    assert!(
        !out.status.success(),
        "approval without a valid one-time code"
    );

    let approved = json_of(&approve(&w, &w.approver, &id));
    assert_eq!(approved["state"], "released");
    assert_eq!(approved["decision"]["by"], "jicho");
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &id]));
    assert_eq!(shown["decision"]["decision"], "approved");

    let url = json_str(&links(&w, &w.staff, &id)[0]["url"]).expect("url");
    let home = w.gw.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");
    let out_dir = w.gw.dir.path().join("received-ii");
    let received = json_of(&w.gw.outsider(&home).run(&[
        "--json",
        "receive",
        &url,
        "-o",
        &out_dir.display().to_string(),
        "--identity",
        &identity.display().to_string(),
    ]));
    assert_eq!(received["manifest"]["class"], "II");
    assert_eq!(received["manifest"]["approval"]["approver"], "jicho");
    assert_eq!(
        std::fs::read(out_dir.join("notes.txt")).expect("file"),
        b"confidential notes"
    );

    // The package itself: age-encrypted, labelled, and the standard `age`
    // CLI plus tar and sha256sum open and check it (README's manual path).
    let response = w.gw.http().post(&url).send().expect("download");
    assert_eq!(response.status().as_u16(), 200);
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(disposition.contains("class-II_"), "{disposition}");
    assert!(
        disposition.contains("%E9%87%8D%E8%A6%81%E6%80%A7II"),
        "{disposition}"
    );
    let package = response.bytes().expect("body").to_vec();
    assert!(
        package.starts_with(b"age-encryption.org/v1"),
        "not an age file"
    );
    let manual = w.gw.dir.path().join("manual");
    std::fs::create_dir_all(&manual).expect("dir");
    let package_file = write_file(&manual, "package.tar.age", &package);
    let age = which("age");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} -d -i {} {} | tar -x -C {} && cd {} && sha256sum -c SHA256SUMS",
            age.display(),
            identity.display(),
            package_file.display(),
            manual.display(),
            manual.display()
        ))
        .status()
        .expect("age | tar");
    assert!(
        status.success(),
        "the standard age CLI could not open the package"
    );
    assert_eq!(
        std::fs::read(manual.join("files").join("住民名簿.csv")).expect("file"),
        "氏名,住所\n山田,萩市\n".as_bytes()
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(manual.join("MANIFEST.json")).expect("manifest"))
            .expect("manifest json");
    assert_eq!(manifest["class_label"], "重要性II");
    assert_eq!(manifest["purpose"], "入札資料の送付 (tender documents)");

    // Third download uses the last one; the fourth is refused.
    let again = w.gw.http().post(&url).send().expect("download");
    assert_eq!(again.status().as_u16(), 200);
    let _ = again.bytes();
    let refused = w.gw.http().post(&url).send().expect("download");
    assert_eq!(refused.status().as_u16(), 410, "download past the limit");
}

#[test]
fn r06_an_approvers_own_request_goes_to_the_ciso() {
    let w = world();
    let ciso = w.gw.user(&w.admin, "kyokucho", "ciso");
    let other_approver = w.gw.user(&w.admin, "jicho2", "approver");
    add_age_recipient(&w, &w.approver, "auditor-firm");
    let f = write_file(w.gw.dir.path(), "budget.xlsx", b"numbers");
    let sent = send(&w, &w.approver, &[&f], "I", "auditor-firm");
    let id = transfer_id(&sent);
    assert_eq!(sent["transfer"]["approval_by"], "ciso");
    assert!(
        !approve(&w, &w.approver, &id).status.success(),
        "self-approval"
    );
    assert!(
        !approve(&w, &other_approver, &id).status.success(),
        "another approver decided an approver's request"
    );
    let approved = json_of(&approve(&w, &ciso, &id));
    assert_eq!(approved["state"], "released");
    assert_eq!(approved["decision"]["by_role"], "ciso");
}

#[test]
fn r06_2_a_user_cannot_read_another_users_transfer_by_id() {
    let w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let f = write_file(w.gw.dir.path(), "a.txt", b"a");
    let id = transfer_id(&send(&w, &w.staff, &[&f], "II", "printer"));
    let colleague = w.gw.user(&w.admin, "suzuki", "staff");
    let out = w.gw.cli(&colleague).run(&["show", &id]);
    assert_failure(&out, "not found");
    let token = w.gw.token(&colleague);
    for path in [
        format!("/api/v1/transfers/{id}"),
        format!("/api/v1/transfers/{id}/links"),
    ] {
        let status =
            w.gw.http()
                .get(format!("{}{path}", w.gw.internal_url))
                .bearer_auth(&token)
                .send()
                .expect("get")
                .status();
        assert_eq!(status.as_u16(), 404, "{path}");
    }
    let revoke =
        w.gw.cli(&colleague)
            .run(&["revoke", &id, "--reason", "probe"]);
    assert!(!revoke.status.success());
    // A nonexistent id answers exactly the same.
    let status =
        w.gw.http()
            .get(format!(
                "{}/api/v1/transfers/00000000-0000-4000-8000-000000000000",
                w.gw.internal_url
            ))
            .bearer_auth(&token)
            .send()
            .expect("get")
            .status();
    assert_eq!(status.as_u16(), 404);
}

#[test]
fn r06_1_9_passphrase_and_ssh_recipients_get_only_encrypted_packages() {
    let w = world();
    let out = w.gw.cli(&w.staff).run(&[
        "recipient",
        "add",
        "clinic",
        "--org",
        "Nagato Clinic",
        "--email",
        "desk@clinic.example.jp",
        "--passphrase",
    ]);
    assert_success(&out, "passphrase recipient");
    let ssh_dir = w.gw.dir.path().join("ssh");
    std::fs::create_dir_all(&ssh_dir).expect("dir");
    let key = ssh_dir.join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "test key made by the test",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen (Debian openssh-client)");
    assert!(status.success());
    let out = w.gw.cli(&w.staff).run(&[
        "recipient",
        "add",
        "city-hall",
        "--org",
        "Hagi City",
        "--email",
        "it@city.example.jp",
        "--ssh-key",
        &key.with_extension("pub").display().to_string(),
    ]);
    assert_success(&out, "ssh recipient");
    let recipients = json_of(&w.gw.cli(&w.staff).run(&["--json", "recipient", "list"]));
    assert_eq!(recipients.as_array().map(Vec::len), Some(2));

    let f = write_file(w.gw.dir.path(), "record.txt", b"medical record");
    let mut args = vec!["--json".to_string(), "send".into(), f.display().to_string()];
    args.extend(
        [
            "--class",
            "I",
            "--to",
            "clinic",
            "--to",
            "city-hall",
            "--purpose",
            "照会への回答",
        ]
        .map(String::from),
    );
    let sent = json_of(&w.gw.cli(&w.staff).run(&args));
    let id = transfer_id(&sent);
    let passphrases = sent["passphrases"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        passphrases.len(),
        1,
        "exactly the passphrase recipient gets one"
    );
    assert_eq!(passphrases[0]["recipient"], "clinic");
    let passphrase = json_str(&passphrases[0]["passphrase"]).expect("passphrase");
    assert!(passphrase.len() >= 20);
    assert_success(&approve(&w, &w.approver, &id), "approve");
    let links = links(&w, &w.staff, &id);
    assert_eq!(links.len(), 2);
    let url_of = |name: &str| {
        links
            .iter()
            .find(|l| l["recipient"] == name)
            .and_then(|l| l["url"].as_str())
            .map(str::to_string)
            .expect("link")
    };
    assert_ne!(
        url_of("clinic"),
        url_of("city-hall"),
        "recipients share a link"
    );
    let home = w.gw.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");

    // Wrong passphrase: nothing is written.
    let wrong_dir = w.gw.dir.path().join("wrong");
    let out =
        w.gw.outsider(&home)
            .env("SEKISHO_PASSPHRASE", "not-the-passphrase")
            .run(&[
                "receive",
                &url_of("clinic"),
                "-o",
                &wrong_dir.display().to_string(),
            ]);
    assert!(!out.status.success());
    assert!(!wrong_dir.join("record.txt").exists());

    let clinic_dir = w.gw.dir.path().join("clinic");
    let out =
        w.gw.outsider(&home)
            .env("SEKISHO_PASSPHRASE", &passphrase)
            .run(&[
                "receive",
                &url_of("clinic"),
                "-o",
                &clinic_dir.display().to_string(),
            ]);
    assert_success(&out, "receive with passphrase");
    assert_eq!(
        std::fs::read(clinic_dir.join("record.txt")).expect("file"),
        b"medical record"
    );

    let city_dir = w.gw.dir.path().join("city");
    let out = w.gw.outsider(&home).run(&[
        "receive",
        &url_of("city-hall"),
        "-o",
        &city_dir.display().to_string(),
        "--identity",
        &key.display().to_string(),
    ]);
    assert_success(&out, "receive with ssh key");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(city_dir.join("MANIFEST.json")).expect("manifest"))
            .expect("json");
    assert_eq!(
        manifest["recipient"]["name"], "city-hall",
        "recipients see only themselves"
    );
    assert!(!manifest.to_string().contains("clinic"));
}

#[test]
fn r06_1_8_revoked_and_expired_links_deliver_nothing() {
    let w = world_with(GatewayOptions {
        config_patch: vec![("housekeeping".into(), "interval_seconds".into(), "1".into())],
    });
    add_age_recipient(&w, &w.staff, "printer");
    let f = write_file(w.gw.dir.path(), "flyer.pdf", b"flyer");
    let first = transfer_id(&send(&w, &w.staff, &[&f], "III", "printer"));
    let second = transfer_id(&send(&w, &w.staff, &[&f], "III", "printer"));
    let first_url = json_str(&links(&w, &w.staff, &first)[0]["url"]).expect("url");
    let second_url = json_str(&links(&w, &w.staff, &second)[0]["url"]).expect("url");

    let revoked = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "revoke",
        &first,
        "--reason",
        "wrong recipient",
    ]));
    assert_eq!(revoked["state"], "revoked");
    let status = w.gw.http().post(&first_url).send().expect("post").status();
    assert_eq!(status.as_u16(), 410, "revoked link delivered");

    // Seven days and a minute later the other link has expired.
    w.gw.advance(7 * 24 * 3600 + 60);
    let response = w.gw.http().post(&second_url).send().expect("post");
    assert_eq!(response.status().as_u16(), 410, "expired link delivered");
    let page = w.gw.http().get(&second_url).send().expect("page");
    assert_eq!(page.status().as_u16(), 410);
    // A week later the sender's session has ended too.
    assert_success(&w.gw.login(&w.staff), "login a week later");
    assert_success(&w.gw.login(&w.admin), "admin login a week later");
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &second]));
    assert_eq!(shown["recipients"][0]["link"]["state"], "expired");

    // The housekeeping task closes and logs expiries without being asked.
    let auditor = w.gw.user(&w.admin, "kansa", "auditor");
    let mut logged = false;
    for _ in 0..120 {
        let actions = audit_actions(&w, &auditor);
        if actions.iter().any(|a| a == "link.expire")
            && actions.iter().any(|a| a == "transfer.expire")
        {
            logged = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(logged, "expiry was not logged by the housekeeping task");
    let actions = audit_actions(&w, &auditor);
    for expected in ["transfer.revoke", "link.refused"] {
        assert!(actions.iter().any(|a| a == expected), "no {expected} event");
    }
}

#[test]
fn r02_9_rejected_transfer_is_never_released() {
    let w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let f = write_file(w.gw.dir.path(), "list.csv", b"names");
    let id = transfer_id(&send(&w, &w.staff, &[&f], "II", "printer"));
    let no_reason = w.gw.cli(&w.approver).run(&["reject", &id]);
    assert!(!no_reason.status.success(), "rejection without a reason");
    let code = w.gw.otp(&w.approver.totp_secret);
    let rejected = json_of(&w.gw.cli(&w.approver).run(&[
        "--json",
        "reject",
        &id,
        "--reason",
        "個人情報が含まれています",
        "--otp",
        &code,
    ]));
    assert_eq!(rejected["state"], "rejected");
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &id]));
    assert_eq!(shown["decision"]["comment"], "個人情報が含まれています");
    assert!(links(&w, &w.staff, &id).is_empty());
    assert!(
        !approve(&w, &w.approver, &id).status.success(),
        "approved after rejection"
    );
    let listed = json_of(&w.gw.cli(&w.staff).run(&["--json", "list"]));
    assert_eq!(listed[0]["state"], "rejected");
}

#[test]
fn tampered_stored_ciphertext_is_detected_and_nothing_is_kept() {
    let w = world();
    let (identity, _) = add_age_recipient(&w, &w.staff, "printer");
    let f = write_file(w.gw.dir.path(), "big.bin", &vec![42u8; 200_000]);
    let id = transfer_id(&send(&w, &w.staff, &[&f], "II", "printer"));
    assert_success(&approve(&w, &w.approver, &id), "approve");
    // An insider flips one byte of the stored ciphertext.
    let blob = store_listing(&w.gw)
        .blobs
        .into_iter()
        .next()
        .expect("a stored blob");
    let mut bytes = w.gw.stored_blob(&blob).expect("blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    w.gw.overwrite_stored_blob(&blob, bytes.clone());
    // No plaintext is stored at rest.
    assert!(!bytes.windows(64).any(|w| w.iter().all(|b| *b == 42)));

    let url = json_str(&links(&w, &w.staff, &id)[0]["url"]).expect("url");
    let home = w.gw.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");
    let out_dir = w.gw.dir.path().join("received");
    let out = w.gw.outsider(&home).run(&[
        "receive",
        &url,
        "-o",
        &out_dir.display().to_string(),
        "--identity",
        &identity.display().to_string(),
    ]);
    assert!(
        !out.status.success(),
        "a tampered object was delivered:\n{}",
        text(&out)
    );
    assert!(!out_dir.join("big.bin").exists());
}

#[test]
fn audit_log_verifies_and_a_changed_row_is_named() {
    let w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let f = write_file(w.gw.dir.path(), "a.txt", b"a");
    let id = transfer_id(&send(&w, &w.staff, &[&f], "II", "printer"));
    assert_success(&approve(&w, &w.approver, &id), "approve");
    let auditor = w.gw.user(&w.admin, "kansa", "auditor");
    let actions = audit_actions(&w, &auditor);
    for expected in [
        "user.create",
        "login.ok",
        "password.change",
        "recipient.create",
        "transfer.create",
        "transfer.upload",
        "transfer.submit",
        "transfer.approve",
        "transfer.release",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "no {expected} event in {actions:?}"
        );
    }
    // Staff cannot read the log.
    assert!(
        !w.gw
            .cli(&w.staff)
            .run(&["audit", "verify"])
            .status
            .success()
    );

    let report = json_of(&w.gw.cli(&auditor).run(&["--json", "audit", "verify"]));
    assert!(report["first_bad"].is_null(), "{report}");
    let checked = report["events_checked"].as_u64().unwrap_or(0);
    assert!(checked >= 10, "{report}");

    // An insider edits one row in the database.
    let changed = sql_execute(
        &w.gw.database_url,
        "UPDATE audit_events SET actor = 'somebody-else' WHERE action = 'transfer.approve'",
    )
    .expect("tamper");
    assert_eq!(changed, 1);
    let seq = {
        let token = w.gw.token(&auditor);
        let page: Value =
            w.gw.http()
                .get(format!(
                    "{}/api/v1/audit/events?after=0&limit=10000",
                    w.gw.internal_url
                ))
                .bearer_auth(token)
                .send()
                .expect("page")
                .json()
                .expect("json");
        page["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["action"] == "transfer.approve"))
            .and_then(|e| e["seq"].as_i64())
            .expect("approve event")
    };
    let out = w.gw.cli(&auditor).run(&["audit", "verify"]);
    assert!(
        !out.status.success(),
        "tampering went unnoticed:\n{}",
        text(&out)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains(&format!("#{seq}")),
        "the bad event #{seq} is not named:\n{all}"
    );
}

#[test]
fn crash_after_upload_keeps_the_database_and_store_in_agreement() {
    let mut w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let f = write_file(w.gw.dir.path(), "a.txt", b"kept");
    let id = transfer_id(&send(&w, &w.staff, &[&f], "III", "printer"));
    // Leftovers of a crash: a half-written blob and a blob never recorded.
    let store = w.gw.data_dir().join("store");
    std::fs::write(store.join("tmp").join("deadbeef.partial"), b"half").expect("partial");
    let orphan_dir = store.join("objects").join("ff");
    std::fs::create_dir_all(&orphan_dir).expect("dir");
    std::fs::write(
        orphan_dir.join("ffffffffffffffffffffffffffffffff"),
        b"orphan",
    )
    .expect("orphan");
    w.gw.kill_and_restart();
    assert!(!store.join("tmp").join("deadbeef.partial").exists());
    assert!(!orphan_dir.join("ffffffffffffffffffffffffffffffff").exists());
    assert_eq!(stored_blob_count(&w.gw), 1);
    // What was accepted before the crash is still delivered.
    assert_success(&w.gw.login(&w.staff), "login after restart");
    let url = json_str(&links(&w, &w.staff, &id)[0]["url"]).expect("url");
    let home = w.gw.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");
    let out_dir = w.gw.dir.path().join("after-crash");
    let out =
        w.gw.outsider(&home)
            .run(&["receive", &url, "-o", &out_dir.display().to_string()]);
    assert_success(&out, "receive after restart");
    assert_eq!(std::fs::read(out_dir.join("a.txt")).expect("file"), b"kept");
}

#[test]
fn r02_2_5_a_bundle_is_handled_at_the_highest_class_of_its_files() {
    let w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let public = write_file(w.gw.dir.path(), "flyer.pdf", b"public flyer");
    let personal = write_file(w.gw.dir.path(), "名簿.csv", b"names and addresses");
    let sent = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "send",
        &public.display().to_string(),
        &personal.display().to_string(),
        "--class",
        "III",
        "--file-class",
        "名簿.csv=I",
        "--to",
        "printer",
        "--purpose",
        "mixed bundle",
    ]));
    assert_eq!(sent["transfer"]["class"], "I");
    assert_eq!(sent["transfer"]["state"], "pending_approval");
    // A per-file class that is not a class is refused like any other.
    let out = w.gw.cli(&w.staff).run(&[
        "send",
        &public.display().to_string(),
        "--class",
        "III",
        "--file-class",
        "flyer.pdf=IV",
        "--to",
        "printer",
        "--purpose",
        "p",
    ]);
    assert!(!out.status.success());
}

#[test]
fn r06_1_8_e_a_revocation_reaches_the_approver_with_the_senders_reason() {
    let w = world();
    add_age_recipient(&w, &w.staff, "printer");
    let f = write_file(w.gw.dir.path(), "名簿.csv", b"names and addresses");
    let id = transfer_id(&send(&w, &w.staff, &[&f], "II", "printer"));
    assert_success(&approve(&w, &w.approver, &id), "approve");
    let other = transfer_id(&send(&w, &w.staff, &[&f], "III", "printer"));

    // A reason is required, by the client and by the gateway.
    let no_reason = w.gw.cli(&w.staff).run(&["revoke", &id]);
    assert!(!no_reason.status.success(), "revoked without a reason");
    assert!(
        text(&no_reason).contains("--reason"),
        "{}",
        text(&no_reason)
    );
    let token = w.gw.token(&w.staff);
    for body in [json!({"reason": ""}), json!({"reason": "   "}), json!({})] {
        let response =
            w.gw.http()
                .post(format!(
                    "{}/api/v1/transfers/{id}/revoke",
                    w.gw.internal_url
                ))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .expect("revoke");
        assert!(
            response.status().is_client_error(),
            "{body}: {}",
            response.status()
        );
    }
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &id]));
    assert_eq!(
        shown["state"], "released",
        "a refused revocation changed it"
    );

    // The sender notices the wrong address and revokes, saying why.
    let reason = "宛先誤り: 別の印刷会社に送ってしまった";
    let revoked = json_of(
        &w.gw
            .cli(&w.staff)
            .run(&["--json", "revoke", &id, "--reason", reason]),
    );
    assert_eq!(revoked["state"], "revoked");
    assert_success(
        &w.gw.cli(&w.staff).run(&[
            "revoke",
            &other,
            "--reason",
            "class III, nobody approved it",
        ]),
        "revoke a class III transfer",
    );

    // The approver who let it out sees it on their queue, with the reason;
    // the class III one, which they never approved, is not theirs.
    let queue = text(&w.gw.cli(&w.approver).run(&["pending"]));
    assert!(queue.contains(&id) && queue.contains(reason), "{queue}");
    assert!(!queue.contains(&other), "{queue}");
    let listed: Value =
        w.gw.http()
            .get(format!("{}/api/v1/revocations", w.gw.internal_url))
            .bearer_auth(w.gw.token(&w.approver))
            .send()
            .expect("revocations")
            .json()
            .expect("json");
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["transfer_id"], id.as_str());
    assert_eq!(listed[0]["reason"], reason);
    assert_eq!(listed[0]["revoked_by"], w.staff.username.as_str());
    assert_eq!(listed[0]["class"], "II");

    // Staff cannot read approvers' revocation lists; the event has the reason.
    let refused =
        w.gw.http()
            .get(format!("{}/api/v1/revocations", w.gw.internal_url))
            .bearer_auth(&token)
            .send()
            .expect("revocations");
    assert_eq!(refused.status().as_u16(), 403);
    let event = stored_events(&w.gw.database_url)
        .expect("events")
        .into_iter()
        .find(|e| e.action == "transfer.revoke" && e.object == format!("transfer:{id}"))
        .expect("transfer.revoke event");
    assert!(event.detail.contains(reason), "{}", event.detail);

    // After the window (30 days) it leaves the queue.
    w.gw.advance(31 * 24 * 3600);
    assert_success(&w.gw.login(&w.approver), "login a month later");
    let queue = text(&w.gw.cli(&w.approver).run(&["pending"]));
    assert!(!queue.contains(reason), "{queue}");
}
