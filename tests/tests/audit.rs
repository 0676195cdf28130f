//! Audit review end to end: the auditor trusts the log without trusting the
//! people who run the gateway (requirements.md, "Logs, inspection and review").

use std::path::{Path, PathBuf};

use sekisho_e2e::*;
use sekisho_proto::{AuditEvent, audit_event_hash};
use serde_json::Value;

struct World {
    gw: Gateway,
    admin: Account,
    staff: Account,
    approver: Account,
    auditor: Account,
}

fn world() -> World {
    world_with(GatewayOptions::default())
}

fn world_with(options: GatewayOptions) -> World {
    let mut gw = Gateway::start_with(options);
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    let auditor = gw.user(&admin, "kansa", "auditor");
    World {
        gw,
        admin,
        staff,
        approver,
        auditor,
    }
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

/// Some traffic: a class II transfer approved and a class III one released.
fn traffic(w: &World) -> Vec<String> {
    add_age_partner(&w.gw, &w.staff);
    let mut ids = Vec::new();
    for class in ["II", "III"] {
        let f = write_file(w.gw.dir.path(), &format!("f{class}.txt"), class.as_bytes());
        let sent = json_of(&w.gw.cli(&w.staff).run(&[
            "--json",
            "send",
            &f.display().to_string(),
            "--class",
            class,
            "--to",
            "partner",
            "--purpose",
            "audit traffic",
        ]));
        let id = json_str(&sent["transfer"]["id"]).expect("id");
        if class == "II" {
            let code = w.gw.otp(&w.approver.totp_secret);
            assert_success(
                &w.gw.cli(&w.approver).run(&["approve", &id, "--otp", &code]),
                "approve",
            );
        }
        ids.push(id);
    }
    ids
}

fn pin(w: &World) {
    let key = w.gw.admin_command(&["audit-key", "--json"]);
    assert_success(&key, "audit-key");
    let key: Value = serde_json::from_slice(&key.stdout).expect("key json");
    let public = json_str(&key["public_key"]).expect("public key");
    assert_success(
        &w.gw
            .cli(&w.auditor)
            .run(&["audit", "pin", "--key", &public]),
        "audit pin",
    );
}

fn verify(w: &World) -> (bool, String, Value) {
    let out = w.gw.cli(&w.auditor).run(&["--json", "audit", "verify"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), all, report)
}

/// A world with traffic, a pinned key, a fresh signed checkpoint that the
/// auditor has seen (saved by a successful verify), then more traffic.
fn audited_world() -> World {
    let w = world();
    traffic(&w);
    pin(&w);
    assert_success(
        &w.gw.cli(&w.auditor).run(&["audit", "checkpoint", "--new"]),
        "checkpoint",
    );
    let (ok, all, report) = verify(&w);
    assert!(ok, "clean log must verify:\n{all}");
    assert!(report["first_bad"].is_null());
    assert!(
        report["checkpoints_verified"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
    w
}

fn event_seq(w: &World, action: &str) -> i64 {
    stored_events(&w.gw.database_url)
        .expect("events")
        .iter()
        .find(|e| e.action == action)
        .map(|e| e.seq)
        .expect("event present")
}

#[track_caller]
fn assert_broken_at(w: &World, seq: i64) {
    let (ok, all, report) = verify(w);
    assert!(!ok, "tampering went unnoticed:\n{all}");
    assert!(
        all.contains(&format!("#{seq}")),
        "event #{seq} not named:\n{all}\n{report}"
    );
}

#[test]
fn r06_1_4_an_edited_event_is_pinpointed() {
    let w = audited_world();
    let seq = event_seq(&w, "transfer.approve");
    sql_execute(
        &w.gw.database_url,
        &format!("UPDATE audit_events SET detail = '{{}}' WHERE seq = {seq}"),
    )
    .expect("edit");
    assert_broken_at(&w, seq);
}

#[test]
fn r06_1_4_a_deleted_event_is_pinpointed() {
    let w = audited_world();
    let seq = event_seq(&w, "transfer.approve");
    sql_execute(
        &w.gw.database_url,
        &format!("DELETE FROM audit_events WHERE seq = {seq}"),
    )
    .expect("delete");
    assert_broken_at(&w, seq);
}

#[test]
fn r06_1_4_an_inserted_event_is_pinpointed() {
    let w = audited_world();
    let seq = event_seq(&w, "transfer.approve");
    // Make room and slip a forged event in, chained to its predecessor.
    let events = stored_events(&w.gw.database_url).expect("events");
    let previous = events
        .iter()
        .find(|e| e.seq == seq - 1)
        .expect("previous")
        .clone();
    let mut forged = AuditEvent {
        seq,
        action: "transfer.reject".into(),
        prev_hash: previous.hash.clone(),
        ..previous
    };
    forged.hash = audit_event_hash(&forged);
    let max = events.last().map(|e| e.seq).unwrap_or(0);
    let mut statements: Vec<String> = (seq..=max)
        .rev()
        .map(|s| format!("UPDATE audit_events SET seq = {} WHERE seq = {s}", s + 1))
        .collect();
    statements.push(format!(
        "INSERT INTO audit_events (seq, at, at_ms, actor, action, object, class, outcome, source, detail, prev_hash, hash) \
         VALUES ({}, '{}', 0, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')",
        forged.seq,
        forged.at,
        forged.actor,
        forged.action,
        forged.object,
        forged.class,
        forged.outcome,
        forged.source,
        forged.detail.replace('\'', "''"),
        forged.prev_hash,
        forged.hash
    ));
    sql_batch(&w.gw.database_url, &statements).expect("insert");
    // The forged event itself links correctly; the displaced original after
    // it no longer does.
    assert_broken_at(&w, seq + 1);
}

#[test]
fn r06_1_4_reordered_events_are_pinpointed() {
    let w = audited_world();
    let seq = event_seq(&w, "transfer.approve");
    sql_batch(
        &w.gw.database_url,
        &[
            format!("UPDATE audit_events SET seq = -1 WHERE seq = {seq}"),
            format!(
                "UPDATE audit_events SET seq = {seq} WHERE seq = {}",
                seq + 1
            ),
            format!("UPDATE audit_events SET seq = {} WHERE seq = -1", seq + 1),
        ],
    )
    .expect("swap");
    assert_broken_at(&w, seq);
}

#[test]
fn r06_1_4_a_rewritten_chain_is_caught_by_the_signed_checkpoint() {
    let w = audited_world();
    // The insider edits an old event and recomputes every later hash, so the
    // chain alone looks intact; only the checkpoint can tell.
    let seq = event_seq(&w, "transfer.approve");
    let mut events = stored_events(&w.gw.database_url).expect("events");
    let mut statements = Vec::new();
    let mut prev = String::new();
    for event in events.iter_mut() {
        if event.seq < seq {
            prev = event.hash.clone();
            continue;
        }
        if event.seq == seq {
            event.actor = "somebody-else".into();
        }
        event.prev_hash = prev.clone();
        event.hash = audit_event_hash(event);
        prev = event.hash.clone();
        statements.push(format!(
            "UPDATE audit_events SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
            event.actor, event.prev_hash, event.hash, event.seq
        ));
    }
    sql_batch(&w.gw.database_url, &statements).expect("rewrite");
    let (ok, all, _) = verify(&w);
    assert!(!ok, "a rewritten chain passed:\n{all}");
    assert!(all.to_lowercase().contains("rewritten"), "{all}");
}

#[test]
fn r06_1_4_a_truncated_tail_is_detected_against_the_last_checkpoint_seen() {
    let w = audited_world();
    let events = stored_events(&w.gw.database_url).expect("events");
    let checkpoint_seq = w.gw.cli(&w.auditor).run(&["audit", "checkpoint"]).stdout;
    let checkpoint: Value = serde_json::from_slice(&checkpoint_seq).expect("checkpoint json");
    let seen = checkpoint["seq"].as_i64().expect("seq");
    assert!(seen >= 3);
    // Remove the tail back to well before the checkpoint, and the server's
    // own checkpoints with it: only the auditor's saved copy remains.
    let keep = seen - 2;
    sql_batch(
        &w.gw.database_url,
        &[
            format!("DELETE FROM audit_events WHERE seq > {keep}"),
            "DELETE FROM audit_checkpoints".to_string(),
        ],
    )
    .expect("truncate");
    assert!(events.len() as i64 > keep);
    let (ok, all, _) = verify(&w);
    assert!(!ok, "truncation went unnoticed:\n{all}");
    assert!(all.to_lowercase().contains("truncated"), "{all}");
    assert!(all.contains(&format!("#{seen}")), "{all}");
}

#[test]
fn r06_1_4_a_forged_checkpoint_is_detected() {
    let w = audited_world();
    sql_execute(
        &w.gw.database_url,
        "UPDATE audit_checkpoints SET head_hash = '00' || substr(head_hash, 3)",
    )
    .expect("forge");
    let (ok, all, _) = verify(&w);
    assert!(!ok, "forged checkpoint accepted:\n{all}");
    assert!(all.to_lowercase().contains("forged"), "{all}");
}

#[test]
fn r06_1_4_filters_and_exports_are_safe_for_excel_and_cannot_forge_lines() {
    let w = world();
    traffic(&w);
    // Hostile text reaches the log through a failed login's user name and a purpose.
    let code = w.gw.otp(&w.staff.totp_secret);
    let _ = w.gw.cli(&w.staff).run(&[
        "login",
        "--user",
        "=HYPERLINK(\"http://evil\")\r\nforged,line",
        "--otp",
        &code,
    ]);
    let cli = w.gw.cli(&w.auditor);
    let jsonl = cli.run(&["audit", "log", "--format", "jsonl", "--action", "transfer."]);
    assert_success(&jsonl, "audit log jsonl");
    let lines: Vec<Value> = String::from_utf8_lossy(&jsonl.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON event"))
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|e| e["action"].as_str().unwrap_or("").starts_with("transfer."))
    );
    let by_class = cli.run(&["audit", "log", "--format", "jsonl", "--class", "II"]);
    let class_lines = String::from_utf8_lossy(&by_class.stdout).lines().count();
    assert!(class_lines >= 4, "class II events: {class_lines}");

    let csv = cli.run(&["audit", "log", "--format", "csv", "--action", "login.fail"]);
    assert_success(&csv, "audit log csv");
    assert!(
        csv.stdout.starts_with(&[0xEF, 0xBB, 0xBF]),
        "CSV without BOM"
    );
    let text = String::from_utf8_lossy(&csv.stdout[3..]).to_string();
    let records: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let failures = stored_events(&w.gw.database_url)
        .expect("events")
        .iter()
        .filter(|e| e.action == "login.fail")
        .count();
    // Header plus one record per event: the CR/LF in the name forged nothing.
    assert_eq!(records.len(), failures + 1, "{text}");
    assert!(
        !text.contains(",=HYPERLINK"),
        "formula reaches Excel:\n{text}"
    );
    // Someone with write access to the database plants a terminal escape
    // and a forged line in an event: the CSV still holds one line per
    // record, and no raw control character reaches whoever opens it.
    let planted = "\u{1b}[2J\u{1b}[31m\r\n2026-01-01T00:00:00Z,admin,transfer.approve";
    let changed = sql_execute(
        &w.gw.database_url,
        &format!(
            "UPDATE audit_events SET detail = '{planted}' WHERE seq = \
             (SELECT MIN(seq) FROM audit_events WHERE action = 'login.fail')"
        ),
    )
    .expect("tamper");
    assert_eq!(changed, 1);
    let csv = cli.run(&["audit", "log", "--format", "csv", "--action", "login.fail"]);
    assert_success(&csv, "audit log csv of a tampered database");
    let text = String::from_utf8_lossy(&csv.stdout[3..]).to_string();
    let records: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(records.len(), failures + 1, "{text}");
    assert!(
        records.iter().all(|r| !r.chars().any(|c| c.is_control())),
        "a raw control character in the CSV:\n{text:?}"
    );
    assert!(text.contains("\\u{1b}[2J"), "the escape is shown: {text}");

    // Staff see none of it.
    assert!(
        !w.gw
            .cli(&w.staff)
            .run(&["audit", "log", "--format", "jsonl"])
            .status
            .success()
    );
    // Auditors see metadata, never contents: no transfer file can be fetched.
    let token = w.gw.token(&w.auditor);
    let listed: Value =
        w.gw.http()
            .get(format!("{}/api/v1/transfers?scope=all", w.gw.internal_url))
            .bearer_auth(&token)
            .send()
            .expect("list")
            .json()
            .expect("json");
    let id = json_str(&listed[0]["id"]).expect("id");
    let links =
        w.gw.http()
            .get(format!("{}/api/v1/transfers/{id}/links", w.gw.internal_url))
            .bearer_auth(&token)
            .send()
            .expect("links");
    assert_eq!(links.status().as_u16(), 404);
}

#[test]
fn r07_1_a_clock_that_runs_backwards_is_recorded() {
    let w = world();
    w.gw.advance(-3 * 3600);
    let _ = w.gw.login(&w.staff);
    let events = stored_events(&w.gw.database_url).expect("events");
    let warning = events
        .iter()
        .find(|e| e.action == "clock.backwards")
        .expect("clock.backwards event");
    assert_eq!(warning.outcome, "error");
    let (ok, all, _) = verify(&w);
    assert!(ok, "{all}");
}

#[test]
fn r06_1_4_retention_pruning_keeps_the_rest_verifiable() {
    let mut w = world();
    traffic(&w);
    pin(&w);
    // The command, in a maintenance window: the gateway is down, so it is
    // the command and not the gateway's own hourly pruning that prunes.
    w.gw.reconfigure(&[("audit", "retention_days", "30")]);
    w.gw.stop().expect("stop");
    w.gw.advance(40 * 86_400);
    let before = stored_events(&w.gw.database_url).expect("events").len();
    let out = w.gw.admin_command(&["audit-prune"]);
    assert_success(&out, "audit-prune");
    w.gw.start_again();
    let _ = w.gw.login(&w.auditor);
    let after = stored_events(&w.gw.database_url).expect("events");
    assert!(
        after.len() < before,
        "nothing pruned: {}\n{}",
        text(&out),
        w.gw.log()
    );
    assert!(after[0].seq > 1);
    let (ok, all, _) = verify(&w);
    assert!(ok, "pruned log no longer verifies:\n{all}");
}

#[test]
fn r06_1_4_events_stream_to_an_outside_collector() {
    let collector = std::net::TcpListener::bind("127.0.0.1:0").expect("collector");
    let address = collector.local_addr().expect("addr");
    let mut w = world();
    w.gw.reconfigure(&[
        ("audit", "export", &format!("\"tcp://{address}\"")),
        ("audit", "export_format", "\"syslog\""),
    ]);
    let _ = w.gw.login(&w.staff);
    collector
        .set_nonblocking(false)
        .expect("blocking collector");
    let (mut stream, _) = collector.accept().expect("the gateway connects");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 65536];
    let wanted = stored_events(&w.gw.database_url).expect("events").len();
    while received.iter().filter(|b| **b == b'<').count() < wanted {
        use std::io::Read;
        let n = stream.read(&mut buffer).expect("read");
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.contains("sekisho - user.create [sekisho@32473 seq=\"1\""),
        "{text}"
    );
    assert!(text.contains("login.ok"), "{text}");
}

/// One transfer of `class` from tanaka to the partner; class II waits for
/// the approver.
fn send_one(w: &World, class: &str) -> String {
    let f = write_file(
        w.gw.dir.path(),
        &format!("report-{class}.txt"),
        class.as_bytes(),
    );
    let sent = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "send",
        &f.display().to_string(),
        "--class",
        class,
        "--to",
        "partner",
        "--purpose",
        "yearly report",
    ]));
    json_str(&sent["transfer"]["id"]).expect("id")
}

fn failed_login(w: &World, username: &str) {
    let response = w
        .gw
        .http()
        .post(format!("{}/api/v1/login", w.gw.internal_url))
        .json(&serde_json::json!({"username": username, "password": "Wrong-Password-1", "otp": "000000"}))
        .send()
        .expect("login");
    assert_eq!(response.status().as_u16(), 401);
}

/// Moves the gateway's clock to `rfc3339` (forward only).
fn move_clock_to(w: &World, rfc3339: &str) {
    let target =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .expect("time")
            .unix_timestamp();
    let now = w.gw.now();
    assert!(target > now, "the test needs {rfc3339} to be in the future");
    w.gw.advance(target - now);
}

fn report(w: &World, args: &[&str]) -> Value {
    let mut all = vec!["--json", "audit", "report"];
    all.extend_from_slice(args);
    let out = w.gw.cli(&w.auditor).run(&all);
    assert_success(&out, "report");
    serde_json::from_slice(&out.stdout).expect("report json")
}

/// Every section of the report, as `(section, figure) = value` lines, so a
/// failed comparison shows all of them.
fn figures_of(report: &Value) -> Vec<(String, u64)> {
    let f = &report["figures"];
    let mut out = Vec::new();
    for class in ["I", "II", "III"] {
        for what in ["submitted", "released", "rejected", "revoked", "expired"] {
            out.push((
                format!("transfers.{class}.{what}"),
                f["transfers"][class][what].as_u64().unwrap_or(u64::MAX),
            ));
        }
        out.push((
            format!("disposals.{class}"),
            f["disposals"][class].as_u64().unwrap_or(u64::MAX),
        ));
    }
    for what in ["approved", "rejected"] {
        out.push((
            format!("decisions.jicho.{what}"),
            f["decisions_by_approver"]["jicho"][what]
                .as_u64()
                .unwrap_or(0),
        ));
    }
    for key in [
        "downloads",
        "downloads_refused",
        "incidents_opened",
        "incidents_closed",
        "media_carried_out",
        "media_overdue",
        "failed_logins",
    ] {
        out.push((key.to_string(), f[key].as_u64().unwrap_or(u64::MAX)));
    }
    for key in [
        "created",
        "disabled",
        "enabled",
        "role_changed",
        "retired",
        "locked",
        "step_up_failed",
    ] {
        out.push((
            format!("accounts.{key}"),
            f["accounts"][key].as_u64().unwrap_or(u64::MAX),
        ));
    }
    out
}

fn expect(overrides: &[(&str, u64)]) -> Vec<(String, u64)> {
    let zero = figures_of(&serde_json::json!({}));
    zero.into_iter()
        .map(|(name, _)| {
            let value = overrides
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0, |(_, v)| *v);
            (name, value)
        })
        .collect()
}

#[test]
fn r09_1_the_yearly_report_counts_the_fiscal_year_in_japan_time() {
    let w = world_with(GatewayOptions {
        config_patch: vec![
            // Links and content outlive the months the clock is moved, so
            // no expiry or erasure happens at a moment the test cannot pin.
            ("links".into(), "expiry_hours".into(), "8760".into()),
        ],
    });
    add_age_partner(&w.gw, &w.staff);
    let created_accounts = stored_events(&w.gw.database_url)
        .expect("events")
        .iter()
        .filter(|e| e.action == "user.create")
        .count() as u64;

    // Today (fiscal 2026, calendar 2026): a class II approved, a class III
    // released and downloaded once, one failed login.
    let ii = send_one(&w, "II");
    let code = w.gw.otp(&w.approver.totp_secret);
    assert_success(
        &w.gw.cli(&w.approver).run(&["approve", &ii, "--otp", &code]),
        "approve",
    );
    let iii = send_one(&w, "III");
    let links = json_of(&w.gw.cli(&w.staff).run(&["--json", "link", &iii]));
    let url = json_str(&links[0]["url"]).expect("url");
    let download = w.gw.http().post(&url).send().expect("download");
    assert_eq!(download.status().as_u16(), 200);
    let _ = download.bytes();
    failed_login(&w, "nobody");

    // 31 March 2027, 23:30 in Japan (14:30 UTC): still fiscal 2026, but
    // calendar 2027.
    move_clock_to(&w, "2027-03-31T14:30:00Z");
    assert_success(&w.gw.login(&w.staff), "login on 31 March");
    send_one(&w, "III");
    failed_login(&w, "tanaka");

    // 1 April 2027, 00:30 in Japan (15:30 UTC on 31 March): fiscal 2027.
    // A year counted in UTC would put these in fiscal 2026.
    move_clock_to(&w, "2027-03-31T15:30:00Z");
    assert_success(&w.gw.login(&w.staff), "login on 1 April");
    let rejected = send_one(&w, "II");
    assert_success(&w.gw.login(&w.approver), "approver login on 1 April");
    let code = w.gw.otp(&w.approver.totp_secret);
    assert_success(
        &w.gw.cli(&w.approver).run(&[
            "reject",
            &rejected,
            "--reason",
            "not needed",
            "--otp",
            &code,
        ]),
        "reject",
    );
    assert_success(&w.gw.login(&w.auditor), "auditor login on 1 April");

    let fiscal_2026 = report(&w, &["--fiscal-year", "2026"]);
    assert_eq!(fiscal_2026["period"], "fiscal_year");
    assert_eq!(fiscal_2026["since"], "2026-03-31T15:00:00Z");
    assert_eq!(fiscal_2026["until"], "2027-03-31T15:00:00Z");
    assert_eq!(fiscal_2026["status"], "OK");
    assert_eq!(
        figures_of(&fiscal_2026),
        expect(&[
            ("transfers.II.submitted", 1),
            ("transfers.II.released", 1),
            ("transfers.III.submitted", 2),
            ("transfers.III.released", 2),
            ("decisions.jicho.approved", 1),
            ("downloads", 1),
            ("failed_logins", 2),
            ("accounts.created", created_accounts),
        ]),
        "fiscal 2026"
    );
    let fiscal_2027 = report(&w, &["--fiscal-year", "2027"]);
    assert_eq!(
        figures_of(&fiscal_2027),
        expect(&[
            ("transfers.II.submitted", 1),
            ("transfers.II.rejected", 1),
            ("decisions.jicho.rejected", 1),
        ]),
        "fiscal 2027"
    );
    let calendar_2026 = report(&w, &["--year", "2026"]);
    assert_eq!(calendar_2026["period"], "calendar_year");
    assert_eq!(
        figures_of(&calendar_2026),
        expect(&[
            ("transfers.II.submitted", 1),
            ("transfers.II.released", 1),
            ("transfers.III.submitted", 1),
            ("transfers.III.released", 1),
            ("decisions.jicho.approved", 1),
            ("downloads", 1),
            ("failed_logins", 1),
            ("accounts.created", created_accounts),
        ]),
        "calendar 2026"
    );
    let calendar_2027 = report(&w, &["--year", "2027"]);
    assert_eq!(
        figures_of(&calendar_2027),
        expect(&[
            ("transfers.II.submitted", 1),
            ("transfers.II.rejected", 1),
            ("transfers.III.submitted", 1),
            ("transfers.III.released", 1),
            ("decisions.jicho.rejected", 1),
            ("failed_logins", 1),
        ]),
        "calendar 2027"
    );

    // Without a year: the fiscal year the auditor's computer is in.
    let today = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+9));
    let current = if today.month() >= time::Month::April {
        today.year()
    } else {
        today.year() - 1
    };
    let default = report(&w, &[]);
    assert_eq!(default["period"], "fiscal_year");
    assert_eq!(default["year"], current);

    // The printable formats say which year they count.
    let out = w.gw.cli(&w.auditor).run(&[
        "audit",
        "report",
        "--fiscal-year",
        "2026",
        "--format",
        "csv",
    ]);
    assert_success(&out, "csv report");
    assert!(out.stdout.starts_with(&[0xEF, 0xBB, 0xBF]));
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(csv.contains("2026 年度 (fiscal year 2026)"), "{csv}");
    let md = text(
        &w.gw
            .cli(&w.auditor)
            .run(&["audit", "report", "--fiscal-year", "2026"]),
    );
    assert!(md.contains("2026 年度"), "{md}");
    assert!(
        w.gw.cli(&w.auditor)
            .run(&["audit", "report", "--fiscal-year", "2026", "--year", "2026"])
            .status
            .code()
            == Some(2),
        "both years at once must be refused"
    );
}

#[test]
fn postgres_app_role_cannot_update_or_delete_audit_rows() {
    let TestDatabase::Postgres { .. } = test_database() else {
        eprintln!(
            "skipped here: roles exist only on PostgreSQL; scripts/test.sh runs this against PostgreSQL"
        );
        return;
    };
    let mut w = world();
    let app_url =
        w.gw.switch_to_app_role(&format!("sekisho_app_{}", std::process::id()));
    // The gateway works with the restricted role...
    traffic(&w);
    let (ok, all, _) = verify(&w);
    assert!(ok, "{all}");
    // ...but that role cannot rewrite history.
    let update = sql_execute(
        &app_url,
        "UPDATE audit_events SET actor = 'x' WHERE seq = 1",
    );
    assert!(update.is_err(), "the app role could UPDATE audit rows");
    let delete = sql_execute(&app_url, "DELETE FROM audit_events WHERE seq = 1");
    assert!(delete.is_err(), "the app role could DELETE audit rows");
    let checkpoint = sql_execute(&app_url, "DELETE FROM audit_checkpoints");
    assert!(checkpoint.is_err(), "the app role could DELETE checkpoints");
    let _ = w.admin;
}

/// What a start's event says changed, without the listener addresses: the
/// kit lets the system pick ports at the first start (`127.0.0.1:0`) and
/// reuses the bound ones after, which is a real change of the effective
/// configuration but not the one these tests make.
fn changed_settings(start: &Value) -> Vec<Value> {
    start["changed"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            !matches!(
                c["key"].as_str(),
                Some("server.listen" | "server.public_listen")
            )
        })
        .collect()
}

fn config_starts(w: &World) -> Vec<Value> {
    stored_events(&w.gw.database_url)
        .expect("events")
        .iter()
        .filter(|e| e.action == "config.start")
        .map(|e| serde_json::from_str(&e.detail).expect("detail"))
        .collect()
}

#[test]
fn r06_1_4_a_the_configuration_of_every_start_and_each_change_is_recorded() {
    let mut w = world();
    let first = config_starts(&w);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["first"], true);
    let digest = json_str(&first[0]["digest"]).expect("digest");
    assert_eq!(digest.len(), 64, "SHA-256 in hex");
    assert_eq!(first[0]["settings"]["auth.lockout_threshold"], "5");

    // Someone loosens the lockout for a while, then puts it back.
    w.gw.reconfigure(&[("auth", "lockout_threshold", "50")]);
    let starts = config_starts(&w);
    assert_eq!(starts.len(), 2);
    let changed = changed_settings(&starts[1]);
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["key"], "auth.lockout_threshold");
    assert_eq!(changed[0]["from"], "5");
    assert_eq!(changed[0]["to"], "50");
    assert_ne!(starts[1]["digest"], starts[0]["digest"]);

    // A restart without a change says so; going back is a change again,
    // and the digest is the first one again.
    w.gw.restart();
    let starts = config_starts(&w);
    assert_eq!(starts.len(), 3);
    assert_eq!(
        starts[2]["changed"].as_array().map(Vec::len),
        Some(0),
        "{}",
        starts[2]
    );
    assert_eq!(starts[2]["digest"], starts[1]["digest"]);
    w.gw.reconfigure(&[("auth", "lockout_threshold", "5")]);
    let starts = config_starts(&w);
    assert_eq!(changed_settings(&starts[3])[0]["to"], "5");
    assert_eq!(starts[3]["settings"], {
        let mut first_settings = first[0]["settings"].clone();
        for key in ["server.listen", "server.public_listen"] {
            first_settings[key] = starts[3]["settings"][key].clone();
        }
        first_settings
    });

    // The events are in the chain, visible to the auditor, and hold no
    // secret: the database URL is masked like everywhere else.
    let out = w.gw.cli(&w.auditor).run(&[
        "audit",
        "log",
        "--format",
        "jsonl",
        "--action",
        "config.start",
    ]);
    assert_success(&out, "audit log");
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(listed.lines().count(), 4, "{listed}");
    for start in &starts {
        let url = start["settings"]["database.url"].as_str().unwrap_or("");
        assert!(
            !url.contains(":secret@") && !url.contains("password="),
            "{url}"
        );
    }
    let (ok, all, _) = verify(&w);
    assert!(ok, "{all}");
}

#[test]
fn r06_1_4_a_the_gateway_prunes_past_retention_by_itself_and_the_rest_verifies() {
    let mut w = world();
    traffic(&w);
    pin(&w);
    let mut patches = vec![
        ("audit", "retention_days", "30".to_string()),
        ("housekeeping", "interval_seconds", "1".to_string()),
    ];
    // On PostgreSQL the gateway runs as the least-privilege role, which may
    // not delete audit rows: pruning goes through the owner's URL, kept in
    // a file of its own.
    let postgres = matches!(test_database(), TestDatabase::Postgres { .. });
    let owner_url = w.gw.database_url.clone();
    if postgres {
        let app_url =
            w.gw.switch_to_app_role(&format!("sekisho_prune_{}", std::process::id()));
        assert!(sql_execute(&app_url, "DELETE FROM audit_events WHERE seq = 1").is_err());
        let secret = w.gw.data_dir().join("audit-prune.url");
        std::fs::write(&secret, &owner_url).expect("owner url file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        patches.push((
            "audit",
            "prune_database_url_file",
            "\"audit-prune.url\"".to_string(),
        ));
    }
    let patches: Vec<(&str, &str, &str)> = patches
        .iter()
        .map(|(s, k, v)| (*s, *k, v.as_str()))
        .collect();
    w.gw.reconfigure(&patches);
    let before = stored_events(&owner_url).expect("events");
    assert_eq!(before[0].seq, 1);

    // Nothing is old enough yet; 40 days later the old events go by
    // themselves, without anyone running a command.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(stored_events(&owner_url).expect("events")[0].seq, 1);
    w.gw.advance(40 * 86_400);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pruned = loop {
        let events = stored_events(&owner_url).expect("events");
        if let Some(prune) = events.iter().find(|e| e.action == "audit.prune") {
            break (events[0].seq, prune.clone());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit.prune within 30 s:\n{}",
            w.gw.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(pruned.0 > 1, "the oldest event is still #1");
    assert_eq!(pruned.1.actor, "(gateway)");
    assert_success(&w.gw.login(&w.auditor), "auditor login 40 days later");
    let (ok, all, _) = verify(&w);
    assert!(ok, "the pruned log no longer verifies:\n{all}");
}
