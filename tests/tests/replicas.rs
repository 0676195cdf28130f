//! Several gateway processes on one PostgreSQL database and one store act
//! as one gateway (README, "Deployment"). Replicas need a database that
//! several processes on several machines can share, so these tests run in
//! the PostgreSQL runs of `scripts/test.sh` (and on S3 in the third one);
//! on SQLite they say so and do nothing.

use std::time::{Duration, Instant};

use sekisho_e2e::*;
use serde_json::{Value, json};

fn on_postgres() -> bool {
    if matches!(test_database(), TestDatabase::Postgres { .. }) {
        return true;
    }
    eprintln!("replicas share a PostgreSQL database: this test runs in the PostgreSQL runs");
    false
}

/// The same person with a client home of their own for another replica
/// (a client's session file is bound to the address it logged in at).
fn elsewhere(gw: &Gateway, account: &Account, name: &str) -> Account {
    let home = gw
        .dir
        .path()
        .join(format!("home-{}-{name}", account.username));
    std::fs::create_dir_all(&home).expect("home");
    Account {
        home,
        ..account.clone()
    }
}

fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fast_housekeeping() -> GatewayOptions {
    GatewayOptions {
        config_patch: vec![("housekeeping".into(), "interval_seconds".into(), "1".into())],
    }
}

#[test]
fn a_transfer_sent_on_one_replica_is_approved_and_downloaded_on_the_other() {
    if !on_postgres() {
        return;
    }
    let mut a = Gateway::start_with(fast_housekeeping());
    let admin = a.admin_ready();
    let staff = a.user(&admin, "tanaka", "staff");
    let approver = a.user(&admin, "jicho", "approver");
    let b = a.replica();

    let identity = add_age_partner(&a, &staff);
    let contents = b"budget 2027, draft".repeat(4096);
    let file = a.dir.path().join("budget.txt");
    std::fs::write(&file, &contents).expect("write");
    let sent = json_of(&a.cli(&staff).run(&[
        "--json",
        "send",
        &file.display().to_string(),
        "--class",
        "II",
        "--to",
        "partner",
        "--purpose",
        "replica test",
    ]));
    let id = json_str(&sent["transfer"]["id"]).expect("id");

    // A session made on A is good on B: sessions live in the database.
    let listed = b
        .http()
        .get(format!("{}/api/v1/transfers/{id}", b.internal_url))
        .bearer_auth(a.token(&staff))
        .send()
        .expect("B answers");
    assert_eq!(listed.status().as_u16(), 200, "A's session refused on B");

    let approver_b = elsewhere(&a, &approver, "b");
    assert_success(&b.login(&approver_b), "approver logs in on B");
    let code = b.otp(&approver.totp_secret);
    let approved = json_of(
        &b.cli(&approver_b)
            .run(&["--json", "approve", &id, "--otp", &code]),
    );
    assert_eq!(approved["state"], "released");

    // The link A hands out, fetched from B's public listener.
    let links = json_of(&a.cli(&staff).run(&["--json", "link", &id]));
    let url = json_str(&links[0]["url"]).expect("url");
    let path = url
        .split_once("/d/")
        .map(|(_, token)| format!("/d/{token}"))
        .expect("a download link");
    let on_b = format!("{}{path}", b.public_url);
    let home = a.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");
    let out_dir = a.dir.path().join("received");
    let received = json_of(&b.outsider(&home).run(&[
        "--json",
        "receive",
        &on_b,
        "-o",
        &out_dir.display().to_string(),
        "--identity",
        &identity.display().to_string(),
    ]));
    assert_eq!(received["manifest"]["class"], "II");
    assert_eq!(
        std::fs::read(out_dir.join("budget.txt")).expect("received file"),
        contents
    );
    // The download count is the database's: A sees B's download.
    let links = json_of(&a.cli(&staff).run(&["--json", "link", &id]));
    assert_eq!(links[0]["downloads"], 1, "{links}");
    drop(b);
    drop(a);
}

#[test]
fn a_one_time_code_used_on_one_replica_is_refused_on_the_other() {
    if !on_postgres() {
        return;
    }
    let mut a = Gateway::start();
    let admin = a.admin_ready();
    let staff = a.user(&admin, "tanaka", "staff");
    let b = a.replica();
    let code = a.otp(&staff.totp_secret);
    let on_a = elsewhere(&a, &staff, "a2");
    assert_success(
        &a.cli(&on_a)
            .run(&["login", "--user", &staff.username, "--otp", &code]),
        "login on A",
    );
    // Same step, same clock, other process: the step is spent.
    let on_b = elsewhere(&a, &staff, "b");
    let refused = b
        .cli(&on_b)
        .run(&["login", "--user", &staff.username, "--otp", &code]);
    assert!(
        !refused.status.success(),
        "a spent one-time code was accepted by the other replica: {}",
        text(&refused)
    );
}

fn events_named(database_url: &str, action: &str) -> usize {
    stored_events_of(database_url, action).len()
}

/// Appends audit events as fast as one client can, through `gw`.
fn add_recipients(gw: &Gateway, token: &str, tag: &str, count: usize) -> Vec<u16> {
    let http = gw.http();
    (0..count)
        .map(|i| {
            http.post(format!("{}/api/v1/recipients", gw.internal_url))
                .bearer_auth(token)
                .json(&json!({
                    "name": format!("{tag}-{i}"),
                    "organisation": "Load K.K.",
                    "email": format!("{tag}-{i}@example.jp"),
                    "key_kind": "passphrase",
                    "public_key": Value::Null,
                }))
                .send()
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
        .collect()
}

#[test]
fn audit_appends_from_two_replicas_at_once_keep_one_chain_and_housekeeping_moves_on_a_kill() {
    if !on_postgres() {
        return;
    }
    let mut a = Gateway::start_with(fast_housekeeping());
    let admin = a.admin_ready();
    let staff = a.user(&admin, "tanaka", "staff");
    let auditor = a.user(&admin, "kansa", "auditor");
    let mut b = a.replica();
    let token = a.token(&staff);
    // A released transfer whose link will expire later.
    let file = a.dir.path().join("notice.txt");
    std::fs::write(&file, b"public notice").expect("write");
    assert_success(
        &a.cli(&staff).run(&[
            "recipient",
            "add",
            "partner",
            "--org",
            "P",
            "--email",
            "p@example.jp",
            "--passphrase",
        ]),
        "recipient add",
    );
    assert_success(
        &a.cli(&staff).run(&[
            "send",
            &file.display().to_string(),
            "--class",
            "III",
            "--to",
            "partner",
            "--purpose",
            "replica housekeeping",
        ]),
        "send class III",
    );

    let before = stored_events(&a.database_url).expect("events").len();
    let statuses = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| add_recipients(&a, &token, "a", 1000));
        let on_b = scope.spawn(|| add_recipients(&b, &token, "b", 1000));
        let mut all = on_a.join().expect("A's writer");
        all.extend(on_b.join().expect("B's writer"));
        all
    });
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "some appends failed: {:?}",
        statuses
            .iter()
            .filter(|s| **s != 200 && **s != 201)
            .take(5)
            .collect::<Vec<_>>()
    );
    let events = stored_events(&a.database_url).expect("events");
    // Only what the two writers appended: "partner" above is one too.
    let added = events
        .iter()
        .skip(before)
        .filter(|e| e.action == "recipient.create")
        .count();
    assert_eq!(
        added,
        2000,
        "{} events before, {} after",
        before,
        events.len()
    );
    let verified = a.cli(&auditor).run(&["--json", "audit", "verify"]);
    assert_success(&verified, "audit verify after concurrent appends");

    // One replica runs housekeeping; A started first, so it holds the lease.
    assert!(
        a.log().contains("this replica now runs housekeeping"),
        "{}",
        a.log()
    );
    assert!(
        !b.log().contains("this replica now runs housekeeping"),
        "{}",
        b.log()
    );
    a.kill();
    wait_for(
        "B to take over housekeeping",
        Duration::from_secs(20),
        || b.log().contains("this replica now runs housekeeping"),
    );
    // And B does the work: links that expire after A died are closed by
    // B's sweep (a `link.expire` event only housekeeping writes).
    let expired_before = events_named(&a.database_url, "link.expire");
    a.advance(40 * 24 * 3600);
    wait_for(
        "B's housekeeping to close the expired link",
        Duration::from_secs(30),
        || events_named(&a.database_url, "link.expire") > expired_before,
    );
    b.stop().expect("B stops cleanly");
}
