//! The notices beyond approval, against a real SMTP server: the sender when
//! every link ran out, the requester when files arrive (each verdict, no
//! name), the managers on an incident and on a file classed `unknown`, the
//! approver when a medium is overdue, and the system staff when the
//! scanner's signatures go stale or an engine stops answering (once while
//! it lasts, with audit events).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sekisho_e2e::*;
use serde_json::Value;

const ARRIVAL: Duration = Duration::from_secs(60);
const DAY: i64 = 86_400;

fn start(smtp: &SmtpServer) -> Gateway {
    let mut config_patch = vec![(
        "housekeeping".to_string(),
        "interval_seconds".to_string(),
        "1".to_string(),
    )];
    config_patch.extend(smtp.config_patch());
    Gateway::start_with(GatewayOptions { config_patch })
}

fn mail_of(name: &str) -> String {
    format!("{name}@city.example.lg.jp")
}

fn person(gw: &Gateway, admin: &Account, name: &str, role: &str) -> Account {
    let account = gw.user(admin, name, role);
    set_email(gw, admin, name);
    account
}

fn set_email(gw: &Gateway, admin: &Account, name: &str) {
    let out = gw
        .cli(admin)
        .run(&["--json", "admin", "user", "email", name, &mail_of(name)]);
    assert_eq!(json_of(&out)["email"], mail_of(name).as_str());
}

fn mails_to(smtp: &SmtpServer, name: &str) -> Vec<ReceivedMail> {
    smtp.received_by(&mail_of(name))
}

/// Waits until `name` has `count` mails, and returns them.
fn wait_for_mails(smtp: &SmtpServer, name: &str, count: usize) -> Vec<ReceivedMail> {
    smtp.wait_for_mails_to(&mail_of(name), count, ARRIVAL)
}

fn events(gw: &Gateway, action: &str) -> Vec<sekisho_proto::AuditEvent> {
    stored_events_of(&gw.database_url, action)
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

#[test]
fn arrivals_incidents_unknown_classes_and_expired_links_are_told_without_names() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = start(&smtp);
    let admin = gw.admin_ready();
    let staff = person(&gw, &admin, "tanaka", "staff");
    let _manager = person(&gw, &admin, "kakaricho", "manager");

    // Files asked for arrive: one clean, one with malware.
    let created = json_of(&gw.cli(&staff).run(&[
        "--json",
        "inbox",
        "request",
        "--from",
        "Hagi Printing",
        "--purpose",
        "見積書の受領",
    ]));
    let url = json_str(&created["url"]).expect("url");
    let dir = gw.dir.path().to_path_buf();
    let clean = write(&dir, "secret-plan.csv", b"1,2,3\n");
    let bad = write(&dir, "invoice.com", &eicar());
    let home = dir.join("outsider");
    std::fs::create_dir_all(&home).expect("home");
    let answer = json_of(&gw.outsider(&home).run(&[
        "--json",
        "upload",
        &url,
        &clean.display().to_string(),
        &bad.display().to_string(),
    ]));
    assert_eq!(answer["files"][0]["outcome"], "accepted", "{answer}");

    let arrived = wait_for_mails(&smtp, "tanaka", 1);
    let arrived = &arrived[0];
    assert!(
        arrived.subject.contains("Hagi Printing"),
        "{}",
        arrived.subject
    );
    assert!(arrived.subject.contains("2 件"), "{}", arrived.subject);
    assert!(arrived.text.contains("問題なし"), "{}", arrived.text);
    assert!(
        arrived.text.contains("マルウェアを検出・隔離"),
        "{}",
        arrived.text
    );
    assert!(arrived.text.contains("malware found, quarantined"));
    assert!(
        arrived
            .text
            .contains("https://sekisho.city.example.lg.jp/inbound")
    );
    // Names from outside never reach a mail.
    for name in ["secret-plan", "invoice.com"] {
        assert!(!arrived.everything().contains(name), "{arrived:#?}");
    }
    // The manager hears of the incident.
    let incident = wait_for_mails(&smtp, "kakaricho", 1);
    assert!(
        incident[0].subject.contains("インシデント"),
        "{}",
        incident[0].subject
    );
    assert!(incident[0].text.contains("EICAR") || incident[0].text.contains("Eicar"));
    assert!(incident[0].text.contains("/incidents"));
    assert!(!incident[0].everything().contains("invoice.com"));

    // Classed unknown: the manager decides, and is told.
    let files = json_of(&gw.cli(&staff).run(&["--json", "inbox", "list"]));
    let clean_id = files
        .as_array()
        .and_then(|a| a.iter().find(|f| f["verdict"] == "clean"))
        .and_then(|f| f["id"].as_str())
        .map(str::to_string)
        .expect("the clean file");
    assert_success(
        &gw.cli(&staff)
            .run(&["inbox", "classify", &clean_id, "--class", "unknown"]),
        "classify unknown",
    );
    let asked = wait_for_mails(&smtp, "kakaricho", 2);
    assert!(
        asked[1].subject.contains("重要性の判断"),
        "{}",
        asked[1].subject
    );
    assert!(asked[1].text.contains("tanaka"), "{}", asked[1].text);
    assert!(!asked[1].everything().contains("secret-plan"));

    // A class III send goes at once; when its links run out, the sender
    // is told what each recipient used.
    add_age_partner(&gw, &staff);
    let file = write(&dir, "map.txt", b"a map");
    let sent = json_of(&gw.cli(&staff).run(&[
        "--json",
        "send",
        &file.display().to_string(),
        "--class",
        "III",
        "--purpose",
        "地図の送付",
        "--to",
        "partner",
    ]));
    let id = json_str(&sent["transfer"]["id"]).expect("id");
    gw.advance(8 * DAY);
    let expired = wait_for_mails(&smtp, "tanaka", 2);
    let expired = &expired[1];
    assert!(expired.subject.contains("期限切れ"), "{}", expired.subject);
    assert!(expired.text.contains("partner: 0 / 3"), "{}", expired.text);
    assert!(expired.text.contains(&format!("/transfers/{id}")));
    gw.stop().expect("stop");
}

#[test]
fn an_overdue_medium_is_told_to_the_approver() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = start(&smtp);
    let admin = gw.admin_ready();
    let staff = person(&gw, &admin, "tanaka", "staff");
    let approver = person(&gw, &admin, "jicho", "approver");
    assert_success(
        &gw.cli(&admin)
            .run(&["media", "register", "USB-007", "--label", "緑のUSB"]),
        "register",
    );
    let doc = write(gw.dir.path(), "map.pdf", b"map");
    let requested = json_of(&gw.cli(&staff).run(&[
        "--json",
        "media",
        "checkout",
        "--medium",
        "USB-007",
        "--purpose",
        "説明会資料の持ち出し",
        "--return-by",
        "2030-01-31",
        "--class",
        "III",
        &doc.display().to_string(),
    ]));
    let id = json_str(&requested["transfer"]["id"]).expect("id");
    // A carry-out waits for the approver whatever its class.
    wait_for_mails(&smtp, "jicho", 1);
    let code = gw.otp(&approver.totp_secret);
    assert_success(
        &gw.cli(&approver).run(&["approve", &id, "--otp", &code]),
        "approve",
    );
    let mount = gw.dir.path().join("usb7");
    std::fs::create_dir_all(&mount).expect("mount");
    assert_success(
        &gw.cli(&staff)
            .run(&["media", "write", &id, "--to", &mount.display().to_string()]),
        "write",
    );
    // Past the return date (2030-01-31, end of day in Japan).
    let due = 1_896_191_999i64;
    gw.advance(due - gw.now() + 3600);
    let overdue = wait_for_mails(&smtp, "jicho", 2);
    let overdue = overdue.last().expect("mail");
    assert!(overdue.subject.contains("USB-007"), "{}", overdue.subject);
    assert!(
        overdue.subject.contains("返却されていません"),
        "{}",
        overdue.subject
    );
    assert!(overdue.text.contains("tanaka"), "{}", overdue.text);
    assert!(
        overdue.text.contains("2030-01-31 23:59"),
        "{}",
        overdue.text
    );
    assert!(overdue.text.contains(&format!("/transfers/{id}")));
    assert_eq!(events(&gw, "media.overdue").len(), 1);
    gw.stop().expect("stop");
}

#[test]
fn stale_signatures_and_a_silent_engine_are_told_to_the_system_staff_once() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = start(&smtp);
    let admin = gw.admin_ready();
    set_email(&gw, &admin, "admin");
    let _other = person(&gw, &admin, "suzuki", "sysadmin");
    std::fs::write(
        gw.data_dir().join("deny-sha256.txt"),
        format!("# test list\n{} banned\n", sha256_hex(b"banned")),
    )
    .expect("deny list");
    gw.reconfigure(&[("scan", "builtin", r#"{ deny_list = "deny-sha256.txt" }"#)]);
    // Fresh signatures: nothing to say.
    std::thread::sleep(Duration::from_secs(3));
    assert!(mails_to(&smtp, "admin").is_empty());

    gw.advance(3 * DAY);
    let stale = wait_for_mails(&smtp, "admin", 1);
    assert!(stale[0].subject.contains("builtin"), "{}", stale[0].subject);
    assert!(stale[0].text.contains("定義ファイル"), "{}", stale[0].text);
    assert!(stale[0].text.contains("/scanner"));
    wait_for_mails(&smtp, "suzuki", 1);
    // Still stale a few rounds later: not mailed again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(mails_to(&smtp, "admin").len(), 1);
    let alerts = events(&gw, "scanner.alert");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let detail: Value = serde_json::from_str(&alerts[0].detail).expect("detail");
    assert_eq!(detail["problem"]["kind"], "stale", "{detail}");

    // Renewed signatures end the alert.
    let renewed = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("@{}", gw.now()))
        .arg(gw.data_dir().join("deny-sha256.txt"))
        .status()
        .expect("touch");
    assert!(renewed.success());
    gw.restart();
    let started = std::time::Instant::now();
    while events(&gw, "scanner.recovered").is_empty() {
        assert!(started.elapsed() < ARRIVAL, "no scanner.recovered event");
        std::thread::sleep(Duration::from_millis(200));
    }

    // clamd stops answering (nothing listens on port 9).
    gw.reconfigure(&[(
        "scan",
        "clamd",
        r#"{ address = "127.0.0.1:9", connect_timeout_seconds = 2 }"#,
    )]);
    let failing = wait_for_mails(&smtp, "admin", 2);
    let failing = failing.last().expect("mail");
    assert!(failing.subject.contains("clamd"), "{}", failing.subject);
    assert!(failing.text.contains("応答しません"), "{}", failing.text);
    assert_eq!(events(&gw, "scanner.alert").len(), 2);
    gw.stop().expect("stop");
}
