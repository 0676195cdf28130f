//! Removable media end to end (requirements.md, "Removable media").

use std::path::PathBuf;
use std::process::Command;

use sekisho_e2e::*;
use serde_json::Value;

struct World {
    gw: Gateway,
    admin: Account,
    staff: Account,
    approver: Account,
}

fn world() -> World {
    let mut gw = Gateway::start_with(GatewayOptions {
        config_patch: vec![("housekeeping".into(), "interval_seconds".into(), "1".into())],
    });
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

fn file(w: &World, name: &str, contents: &[u8]) -> PathBuf {
    let path = w.gw.dir.path().join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

fn checkout(
    w: &World,
    medium: &str,
    class: &str,
    files: &[&PathBuf],
    key: Option<&str>,
) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "--json".into(),
        "media".into(),
        "checkout".into(),
        "--medium".into(),
        medium.into(),
        "--purpose".into(),
        "説明会資料の持ち出し".into(),
        "--return-by".into(),
        "2030-01-31".into(),
        "--class".into(),
        class.into(),
    ];
    if let Some(key) = key {
        args.extend(["--age-key".into(), key.into()]);
    }
    args.extend(files.iter().map(|f| f.display().to_string()));
    w.gw.cli(&w.staff).run(&args)
}

fn approve(w: &World, id: &str) -> std::process::Output {
    let code = w.gw.otp(&w.approver.totp_secret);
    w.gw.cli(&w.approver).run(&["approve", id, "--otp", &code])
}

fn media_list(w: &World, overdue: bool) -> Vec<Value> {
    let mut args = vec!["--json", "media", "list"];
    if overdue {
        args.push("--overdue");
    }
    json_of(&w.gw.cli(&w.staff).run(&args))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn r05_1_3_carry_out_needs_a_registered_medium_and_the_approvers_permission() {
    let w = world();
    let doc = file(&w, "説明資料.pdf", b"slides");
    // Unregistered media cannot be used.
    let out = checkout(&w, "USB-404", "III", &[&doc], None);
    assert_failure(&out, "ledger");
    // Only a sysadmin registers media.
    assert!(
        !w.gw
            .cli(&w.staff)
            .run(&["media", "register", "USB-001", "--label", "青いUSB"])
            .status
            .success()
    );
    assert_success(
        &w.gw.cli(&w.admin).run(&[
            "media",
            "register",
            "USB-001",
            "--label",
            "青いUSB",
            "--section",
            "業務課",
        ]),
        "register",
    );
    // Even class III needs permission to be carried out (5.(1)③).
    let requested = json_of(&checkout(&w, "USB-001", "III", &[&doc], None));
    let id = json_str(&requested["transfer"]["id"]).expect("id");
    assert_eq!(requested["transfer"]["state"], "pending_approval");
    assert_eq!(requested["transfer"]["medium"], "USB-001");
    // Writing before approval is refused and nothing lands on the medium.
    let mount = w.gw.dir.path().join("usb");
    std::fs::create_dir_all(&mount).expect("mount");
    let out =
        w.gw.cli(&w.staff)
            .run(&["media", "write", &id, "--to", &mount.display().to_string()]);
    assert!(!out.status.success(), "written without approval");
    assert_eq!(std::fs::read_dir(&mount).expect("dir").count(), 0);
    // The medium is busy while a carry-out is open.
    assert!(
        !checkout(&w, "USB-001", "III", &[&doc], None)
            .status
            .success()
    );
    // The requester cannot approve their own carry-out; the approver can.
    let code = w.gw.otp(&w.staff.totp_secret);
    assert!(
        !w.gw
            .cli(&w.staff)
            .run(&["approve", &id, "--otp", &code])
            .status
            .success()
    );
    assert_success(&approve(&w, &id), "approve");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["media", "write", &id, "--to", &mount.display().to_string()]),
        "write after approval",
    );
    assert_eq!(std::fs::read_dir(&mount).expect("dir").count(), 1);
}

#[test]
fn r02_2_8_written_package_is_encrypted_and_the_standard_age_cli_opens_it() {
    let w = world();
    assert_success(
        &w.gw
            .cli(&w.admin)
            .run(&["media", "register", "USB-002", "--label", "赤いUSB"]),
        "register",
    );
    let (identity, recipient) = age_identity(w.gw.dir.path(), "medium");
    let a = file(&w, "名簿.csv", "山田,萩市\n".as_bytes());
    let b = file(&w, "notes.txt", b"notes");
    let requested = json_of(&checkout(&w, "USB-002", "II", &[&a, &b], Some(&recipient)));
    let id = json_str(&requested["transfer"]["id"]).expect("id");
    assert_success(&approve(&w, &id), "approve");
    let mount = w.gw.dir.path().join("usb2");
    std::fs::create_dir_all(&mount).expect("mount");
    let written = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "media",
        "write",
        &id,
        "--to",
        &mount.display().to_string(),
    ]));
    let name = json_str(&written["written"]["file_name"]).expect("file name");
    assert!(name.contains("重要性II"), "label missing from {name}");
    let package = mount.join(&name);
    let bytes = std::fs::read(&package).expect("package on the medium");
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    assert_eq!(written["written"]["sha256"], sha256_hex(&bytes).as_str());
    // The gateway recorded what was written.
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &id]));
    assert!(shown["written_at"].is_string());
    let events = stored_events(&w.gw.database_url).expect("events");
    let recorded = events
        .iter()
        .find(|e| e.action == "media.checkout")
        .expect("media.checkout event");
    assert!(recorded.detail.contains(&sha256_hex(&bytes)));

    let out_dir = w.gw.dir.path().join("opened");
    std::fs::create_dir_all(&out_dir).expect("dir");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "age -d -i {} {} | tar -x -C {} && cd {} && sha256sum -c SHA256SUMS",
            identity.display(),
            package.display(),
            out_dir.display(),
            out_dir.display()
        ))
        .status()
        .expect("age | tar");
    assert!(
        status.success(),
        "the standard age CLI could not open the medium's package"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("MANIFEST.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["class"], "II");
    assert_eq!(manifest["recipient"]["name"], "USB-002");
    assert_eq!(manifest["approval"]["approver"], "jicho");
    assert_eq!(
        std::fs::read(out_dir.join("files").join("名簿.csv")).expect("file"),
        "山田,萩市\n".as_bytes()
    );
}

#[test]
fn r05_1_5_overdue_media_are_listed_flagged_and_returned() {
    let w = world();
    assert_success(
        &w.gw
            .cli(&w.admin)
            .run(&["media", "register", "USB-003", "--label", "黄色いUSB"]),
        "register",
    );
    let doc = file(&w, "map.pdf", b"map");
    let requested = json_of(&checkout(&w, "USB-003", "III", &[&doc], None));
    let id = json_str(&requested["transfer"]["id"]).expect("id");
    assert_success(&approve(&w, &id), "approve");
    let mount = w.gw.dir.path().join("usb3");
    std::fs::create_dir_all(&mount).expect("mount");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["media", "write", &id, "--to", &mount.display().to_string()]),
        "write",
    );
    assert!(media_list(&w, true).is_empty(), "overdue before its date");
    let listed = media_list(&w, false);
    assert_eq!(listed[0]["state"], "out");
    // Past the return date (2030-01-31, end of day in Japan).
    let target = 1_896_191_999i64; // 2030-01-31T14:59:59Z
    w.gw.advance(target - w.gw.now() + 3600);
    assert_success(&w.gw.login(&w.staff), "login later");
    assert_success(&w.gw.login(&w.admin), "admin login later");
    let overdue = media_list(&w, true);
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0]["id"], "USB-003");
    assert_eq!(overdue[0]["checkout"]["overdue"], true);
    // Housekeeping flags it to the approver through the audit log, once.
    for _ in 0..60 {
        let events = stored_events(&w.gw.database_url).expect("events");
        if events.iter().any(|e| e.action == "media.overdue") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let events = stored_events(&w.gw.database_url).expect("events");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "media.overdue")
            .count(),
        1
    );
    // Another staff member cannot record the return; the requester can.
    let other = w.gw.user(&w.admin, "suzuki", "staff");
    assert!(
        !w.gw
            .cli(&other)
            .run(&["media", "checkin", "USB-003"])
            .status
            .success()
    );
    assert_success(
        &w.gw.cli(&w.staff).run(&["media", "checkin", "USB-003"]),
        "checkin",
    );
    assert!(media_list(&w, true).is_empty());
    assert_eq!(media_list(&w, false)[0]["state"], "available");
    // Outside media brought in are recorded.
    assert_success(
        &w.gw.cli(&w.staff).run(&[
            "media",
            "carry-in",
            "VENDOR-CD-1",
            "--purpose",
            "業者からの図面",
            "--origin",
            "萩設計",
        ]),
        "carry-in",
    );
    let events = stored_events(&w.gw.database_url).expect("events");
    for action in [
        "media.register",
        "media.request",
        "media.checkout",
        "media.checkin",
        "media.carry_in",
    ] {
        assert!(events.iter().any(|e| e.action == action), "no {action}");
    }
}

#[test]
fn r02_2_10_wiping_or_disposing_of_a_medium_needs_approval_and_is_recorded() {
    let w = world();
    assert_success(
        &w.gw
            .cli(&w.admin)
            .run(&["media", "register", "USB-009", "--label", "古いUSB"]),
        "register",
    );
    // Staff cannot ask; the system staff can.
    assert!(
        !w.gw
            .cli(&w.staff)
            .run(&[
                "media",
                "dispose",
                "USB-009",
                "--kind",
                "dispose",
                "--method",
                "物理破壊",
                "--reason",
                "故障"
            ])
            .status
            .success()
    );
    let request = json_of(&w.gw.cli(&w.admin).run(&[
        "--json",
        "media",
        "dispose",
        "USB-009",
        "--kind",
        "dispose",
        "--method",
        "物理破壊 (shredded)",
        "--reason",
        "故障のため",
    ]));
    let id = json_str(&request["id"]).expect("request id");
    assert_eq!(request["state"], "requested");
    // Until approved the medium is still usable; staff cannot approve.
    assert_eq!(media_list(&w, false)[0]["state"], "available");
    let code = w.gw.otp(&w.staff.totp_secret);
    assert!(
        !w.gw
            .cli(&w.staff)
            .run(&["approve", &id, "--otp", &code])
            .status
            .success()
    );
    let pending = w.gw.cli(&w.approver).run(&["pending"]);
    assert!(String::from_utf8_lossy(&pending.stdout).contains(&id));
    assert_success(&approve(&w, &id), "approve disposal");
    assert_eq!(media_list(&w, false)[0]["state"], "disposed");
    // A disposed medium can never carry anything out again.
    let doc = file(&w, "x.txt", b"x");
    assert_failure(&checkout(&w, "USB-009", "III", &[&doc], None), "disposed");
    let events = stored_events(&w.gw.database_url).expect("events");
    let recorded = events
        .iter()
        .find(|e| e.action == "media.dispose")
        .expect("media.dispose event");
    assert_eq!(recorded.actor, "jicho");
    assert!(recorded.detail.contains("物理破壊") && recorded.detail.contains("admin"));
}
