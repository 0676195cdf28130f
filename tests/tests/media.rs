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

/// `sekisho --json media SUBCOMMAND [FLAG]` as the staff member: the listed rows.
fn listed(w: &World, subcommand: &str, flag: Option<&str>) -> Vec<Value> {
    let mut args = vec!["--json", "media", subcommand];
    args.extend(flag);
    json_of(&w.gw.cli(&w.staff).run(&args))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn media_list(w: &World, overdue: bool) -> Vec<Value> {
    listed(w, "list", overdue.then_some("--overdue"))
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

fn arrivals(w: &World, unscanned: bool) -> Vec<Value> {
    listed(w, "arrivals", unscanned.then_some("--unscanned"))
}

/// Carries `medium` out with one class III file and writes it, as the staff member.
fn carry_out_and_write(w: &World, medium: &str) {
    let doc = file(w, &format!("{medium}.txt"), b"handout");
    let requested = json_of(&checkout(w, medium, "III", &[&doc], None));
    let id = json_str(&requested["transfer"]["id"]).expect("id");
    assert_success(&approve(w, &id), "approve");
    let mount = w.gw.dir.path().join(format!("mount-{medium}-{}", id));
    std::fs::create_dir_all(&mount).expect("mount");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["media", "write", &id, "--to", &mount.display().to_string()]),
        "write",
    );
}

fn intake(
    w: &World,
    who: &Account,
    folder: &std::path::Path,
    medium: &str,
) -> std::process::Output {
    w.gw.cli(who).run(&[
        "--json",
        "intake",
        &folder.display().to_string(),
        "--purpose",
        "返却媒体の取り込み",
        "--medium",
        medium,
    ])
}

#[test]
fn r06_4_2_i_media_brought_in_are_tied_to_the_scan_of_their_files() {
    let w = world();
    assert_success(
        &w.gw
            .cli(&w.admin)
            .run(&["media", "register", "USB-005", "--label", "緑のUSB"]),
        "register",
    );
    carry_out_and_write(&w, "USB-005");
    // While it is out, its files cannot be "taken in" and a carry-in of it
    // is not a return.
    let folder = w.gw.dir.path().join("usb-005-files");
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(folder.join("議事録.txt"), "会議の記録".as_bytes()).expect("file");
    std::fs::write(folder.join("bad.com"), eicar()).expect("file");
    assert_failure(&intake(&w, &w.staff, &folder, "USB-005"), "is carried out");
    assert_failure(
        &w.gw
            .cli(&w.staff)
            .run(&["media", "carry-in", "USB-005", "--purpose", "戻ってきた"]),
        "carried out or disposed of",
    );
    let checked_in = w.gw.cli(&w.staff).run(&["media", "checkin", "USB-005"]);
    assert_success(&checked_in, "checkin");
    assert!(
        String::from_utf8_lossy(&checked_in.stdout)
            .contains("sekisho intake PATH --medium USB-005"),
        "the return does not say how its files are taken in"
    );
    let carried_in = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "media",
        "carry-in",
        "VENDOR-CD-2",
        "--purpose",
        "  業者からの図面  ",
        "--origin",
        "萩設計",
    ]));
    assert_eq!(carried_in["kind"], "carry_in");
    assert_eq!(
        carried_in["purpose"], "業者からの図面",
        "purpose not trimmed"
    );
    assert_eq!(carried_in["scanned"], false);

    // Both arrivals are listed as never scanned.
    let unscanned = arrivals(&w, true);
    let media: Vec<&str> = unscanned
        .iter()
        .filter_map(|a| a["medium"].as_str())
        .collect();
    assert_eq!(media, ["VENDOR-CD-2", "USB-005"], "{unscanned:?}");
    assert_eq!(unscanned[1]["kind"], "return");
    assert!(unscanned[1]["transfer"].is_string());

    // A medium with no recorded arrival, and someone else's medium, are
    // refused, and nothing is started.
    let requests_before = query_text(&w.gw.database_url, "SELECT id FROM upload_requests")
        .expect("requests")
        .len();
    assert_failure(
        &intake(&w, &w.staff, &folder, "USB-404"),
        "No return or carry-in",
    );
    let colleague = w.gw.user(&w.admin, "suzuki", "staff");
    assert_failure(
        &intake(&w, &colleague, &folder, "USB-005"),
        "recorded its return",
    );
    assert_eq!(
        query_text(&w.gw.database_url, "SELECT id FROM upload_requests")
            .expect("requests")
            .len(),
        requests_before,
        "a refused intake left a request behind"
    );

    // The person who carried it out takes its files in; the ledger shows
    // the scan's result for that return.
    let summary = json_of(&intake(&w, &w.staff, &folder, "USB-005"));
    assert_eq!(
        summary["files"].as_array().map(Vec::len),
        Some(2),
        "{summary}"
    );
    let all = arrivals(&w, false);
    let usb = all
        .iter()
        .find(|a| a["medium"] == "USB-005")
        .expect("the return of USB-005");
    assert_eq!(usb["scanned"], true);
    assert_eq!(usb["intakes"][0]["id"], summary["request"]);
    assert_eq!(usb["intakes"][0]["by"], "tanaka");
    assert_eq!(usb["intakes"][0]["files"], 2);
    assert_eq!(usb["intakes"][0]["clean"], 1);
    assert_eq!(usb["intakes"][0]["infected"], 1);
    let still: Vec<Value> = arrivals(&w, true);
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["medium"], "VENDOR-CD-2");
    let table = w.gw.cli(&w.staff).run(&["media", "arrivals"]);
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(table.contains("2 files: 1 clean, 1 infected"), "{table}");
    assert!(table.contains("未検査 NOT SCANNED"), "{table}");

    // The audit log ties them together as well.
    let events = stored_events(&w.gw.database_url).expect("events");
    let checkin = events
        .iter()
        .find(|e| e.action == "media.checkin")
        .expect("checkin event");
    assert!(
        checkin
            .detail
            .contains(json_str(&usb["id"]).expect("id").as_str())
    );
    let intake_event = events
        .iter()
        .find(|e| e.action == "inbound.intake")
        .expect("intake event");
    assert!(
        intake_event.detail.contains("USB-005"),
        "{}",
        intake_event.detail
    );

    // Carried out again, the medium cannot be taken in until it is back.
    carry_out_and_write(&w, "USB-005");
    assert_failure(&intake(&w, &w.staff, &folder, "USB-005"), "is carried out");
}
