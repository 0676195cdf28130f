//! Crash loop (issue 12, point 3): the gateway is killed with SIGKILL (a
//! power cut: nothing runs on the way down) at a random moment while
//! clients send, approve, download, dispose of and bring in files from
//! background threads, then started again, round after round. After every
//! restart:
//!
//! - everything a client was told succeeded is still there (a send, an
//!   approval, a disposal, an inbound upload);
//! - nothing is half-visible: a submitted transfer has every file stored,
//!   an inbound file has its blob, an erased transfer has none, no erase is
//!   left half-done;
//! - the store and `keys/objects` hold exactly the objects the database
//!   knows, and nothing half-written;
//! - the auditor's `sekisho audit verify` accepts the chain;
//! - a new send works end to end, and every download that succeeded during
//!   the rounds gave exactly the bytes that were sent.
//!
//! Rounds: 30 on SQLite, 10 on PostgreSQL (`SEKISHO_CRASH_ROUNDS`
//! overrides). The seed of the random sizes, classes and kill delays is
//! printed; `SEKISHO_CRASH_SEED=N` replays it (the threads' interleaving
//! is the machine's, so a replay is close, not identical).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sekisho_e2e::*;
use serde_json::Value;

/// Largest file a sender makes: big enough that uploads are often cut in
/// the middle, small enough that a round stays short.
const MAX_FILE_BYTES: usize = 1_500_000;
/// The kill comes this long after the workload starts.
const KILL_AFTER_MS: std::ops::Range<u64> = 200..2_200;

struct World {
    gw: Gateway,
    staff: Account,
    approver: Account,
    auditor: Account,
    identity: PathBuf,
}

fn world() -> World {
    // Downloads are limited per link; the downloader must not use them up.
    let mut gw = Gateway::start_with(GatewayOptions {
        config_patch: vec![("links".into(), "max_downloads".into(), "100000".into())],
    });
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    let auditor = gw.user(&admin, "kansa", "auditor");
    let (identity, recipient) = age_identity(gw.dir.path(), "partner");
    assert_success(
        &gw.cli(&staff).run(&[
            "recipient",
            "add",
            "partner",
            "--org",
            "Partner K.K.",
            "--email",
            "p@example.jp",
            "--age-key",
            &recipient,
        ]),
        "recipient add",
    );
    let key = gw.admin_command(&["audit-key", "--json"]);
    let key: Value = serde_json::from_slice(&key.stdout).expect("audit key");
    let public = json_str(&key["public_key"]).expect("public key");
    assert_success(
        &gw.cli(&auditor).run(&["audit", "pin", "--key", &public]),
        "audit pin",
    );
    World {
        gw,
        staff,
        approver,
        auditor,
        identity,
    }
}

/// What clients were told, across all rounds.
#[derive(Default)]
struct Ledger {
    /// The files of every transfer whose send succeeded: name -> SHA-256.
    files: BTreeMap<String, BTreeMap<String, String>>,
    /// Acknowledged sends, with their class.
    sent: BTreeMap<String, String>,
    approved: BTreeSet<String>,
    disposed: BTreeSet<String>,
    /// Names of inbound files whose upload succeeded.
    inbound: BTreeSet<String>,
    downloads_verified: usize,
    /// Failures of commands that ended before the kill: a bug, not a crash.
    unexpected: Vec<String>,
}

/// What the workers pick their next step from; rebuilt from the database
/// after every restart, since a cut request may or may not have happened.
#[derive(Default)]
struct Queues {
    pending: Vec<String>,
    /// Released transfers: id -> class.
    released: BTreeMap<String, String>,
    /// Transfers being downloaded; not disposed of meanwhile.
    busy: BTreeSet<String>,
}

struct Round<'a> {
    w: &'a World,
    ledger: &'a Mutex<Ledger>,
    queues: &'a Mutex<Queues>,
    killed: &'a AtomicBool,
    files: PathBuf,
    counter: &'a AtomicU64,
}

impl Round<'_> {
    fn unique(&self, what: &str) -> String {
        format!("{what}-{}", self.counter.fetch_add(1, Ordering::SeqCst))
    }

    /// Notes a failed command, unless the kill can explain it.
    fn failed(&self, what: &str, out: &Output) {
        if !self.killed.load(Ordering::SeqCst) {
            self.ledger
                .lock()
                .expect("ledger")
                .unexpected
                .push(format!("{what}: {}", text(out)));
        }
    }

    fn random_file(&self, rng: &mut StdRng) -> (PathBuf, String) {
        let name = format!("{}.bin", self.unique("doc"));
        let size = rng.random_range(1..=MAX_FILE_BYTES);
        let mut contents = vec![0u8; size];
        rng.fill(&mut contents[..]);
        let path = self.files.join(&name);
        std::fs::write(&path, &contents).expect("write test file");
        (path, sha256_hex(&contents))
    }

    fn send(&self, rng: &mut StdRng) {
        let class = if rng.random_bool(0.5) { "III" } else { "II" };
        let count = rng.random_range(1..=2);
        let files: Vec<(PathBuf, String)> = (0..count).map(|_| self.random_file(rng)).collect();
        let mut args: Vec<String> = vec!["--json".into(), "send".into()];
        args.extend(files.iter().map(|(p, _)| p.display().to_string()));
        args.extend(
            [
                "--class",
                class,
                "--to",
                "partner",
                "--purpose",
                "crash loop",
            ]
            .map(String::from),
        );
        let out = self.w.gw.cli(&self.w.staff).run(&args);
        for (path, _) in &files {
            let _ = std::fs::remove_file(path);
        }
        if !out.status.success() {
            return self.failed("send", &out);
        }
        let sent: Value = serde_json::from_slice(&out.stdout).expect("send json");
        let id = json_str(&sent["transfer"]["id"]).expect("id");
        let names = files
            .iter()
            .map(|(path, sha)| {
                let name = path.file_name().expect("name").to_string_lossy();
                (name.into_owned(), sha.clone())
            })
            .collect();
        let mut ledger = self.ledger.lock().expect("ledger");
        ledger.files.insert(id.clone(), names);
        ledger.sent.insert(id.clone(), class.to_string());
        drop(ledger);
        let mut queues = self.queues.lock().expect("queues");
        match class {
            "III" => {
                queues.released.insert(id, class.to_string());
            }
            _ => queues.pending.push(id),
        }
    }

    fn approve(&self) {
        let Some(id) = self.queues.lock().expect("queues").pending.pop() else {
            std::thread::sleep(Duration::from_millis(50));
            return;
        };
        let code = self.w.gw.otp(&self.w.approver.totp_secret);
        let out = self
            .w
            .gw
            .cli(&self.w.approver)
            .run(&["approve", &id, "--otp", &code]);
        if !out.status.success() {
            return self.failed("approve", &out);
        }
        self.ledger
            .lock()
            .expect("ledger")
            .approved
            .insert(id.clone());
        self.queues
            .lock()
            .expect("queues")
            .released
            .insert(id, "II".into());
    }

    fn pick_released(&self, rng: &mut StdRng, class: Option<&str>) -> Option<String> {
        let mut queues = self.queues.lock().expect("queues");
        let candidates: Vec<String> = queues
            .released
            .iter()
            .filter(|(id, c)| {
                class.is_none_or(|want| want == c.as_str()) && !queues.busy.contains(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let id = candidates[rng.random_range(0..candidates.len())].clone();
        queues.busy.insert(id.clone());
        Some(id)
    }

    fn download(&self, rng: &mut StdRng) {
        let Some(id) = self.pick_released(rng, None) else {
            std::thread::sleep(Duration::from_millis(50));
            return;
        };
        self.download_and_check(&id);
        self.queues.lock().expect("queues").busy.remove(&id);
    }

    fn download_and_check(&self, id: &str) {
        let links = self.w.gw.cli(&self.w.staff).run(&["--json", "link", id]);
        if !links.status.success() {
            return self.failed("link", &links);
        }
        let links: Value = serde_json::from_slice(&links.stdout).expect("links json");
        let url = json_str(&links[0]["url"]).expect("url");
        let home = self.files.join(self.unique("home"));
        let out_dir = self.files.join(self.unique("received"));
        std::fs::create_dir_all(&home).expect("home");
        let out = self.w.gw.outsider(&home).run(&[
            "receive",
            &url,
            "-o",
            &out_dir.display().to_string(),
            "--identity",
            &self.w.identity.display().to_string(),
        ]);
        if !out.status.success() {
            return self.failed("receive", &out);
        }
        let expected = self
            .ledger
            .lock()
            .expect("ledger")
            .files
            .get(id)
            .cloned()
            .unwrap_or_default();
        let mut got = BTreeMap::new();
        for entry in std::fs::read_dir(&out_dir)
            .expect("received folder")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            // The package's own papers are staged beside the files.
            if name == "MANIFEST.json" || name == "SHA256SUMS" {
                continue;
            }
            let bytes = std::fs::read(entry.path()).expect("received file");
            got.insert(name, sha256_hex(&bytes));
        }
        let mut ledger = self.ledger.lock().expect("ledger");
        if got != expected {
            ledger.unexpected.push(format!(
                "transfer {id} was delivered with other files than were sent: {got:?} != {expected:?}"
            ));
        }
        ledger.downloads_verified += 1;
        drop(ledger);
        let _ = std::fs::remove_dir_all(&out_dir);
        let _ = std::fs::remove_dir_all(&home);
    }

    fn dispose(&self, rng: &mut StdRng) {
        let Some(id) = self.pick_released(rng, Some("III")) else {
            std::thread::sleep(Duration::from_millis(50));
            return;
        };
        {
            let mut queues = self.queues.lock().expect("queues");
            queues.released.remove(&id);
            queues.busy.remove(&id);
        }
        let out =
            self.w
                .gw
                .cli(&self.w.staff)
                .run(&["--json", "dispose", &id, "--reason", "crash loop"]);
        if !out.status.success() {
            return self.failed("dispose", &out);
        }
        let view: Value = serde_json::from_slice(&out.stdout).expect("dispose json");
        if view["state"] == "complete" {
            self.ledger.lock().expect("ledger").disposed.insert(id);
        }
    }

    fn bring_in(&self, rng: &mut StdRng) {
        let request = self.w.gw.cli(&self.w.staff).run(&[
            "--json",
            "inbox",
            "request",
            "--from",
            "Partner K.K.",
            "--purpose",
            "crash loop",
        ]);
        if !request.status.success() {
            return self.failed("inbox request", &request);
        }
        let request: Value = serde_json::from_slice(&request.stdout).expect("request json");
        let url = json_str(&request["url"]).expect("url");
        let (path, _) = self.random_file(rng);
        let home = self.files.join(self.unique("home"));
        std::fs::create_dir_all(&home).expect("home");
        let out = self.w.gw.outsider(&home).run(&[
            "--json".to_string(),
            "upload".to_string(),
            url,
            path.display().to_string(),
        ]);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&home);
        if !out.status.success() {
            return self.failed("upload", &out);
        }
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        self.ledger.lock().expect("ledger").inbound.insert(name);
    }
}

fn rounds_and_seed() -> (usize, u64) {
    let default_rounds = match test_database() {
        TestDatabase::Sqlite => 30,
        TestDatabase::Postgres { .. } => 10,
    };
    let rounds = std::env::var("SEKISHO_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rounds);
    let seed = std::env::var("SEKISHO_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    (rounds, seed)
}

/// One column of a query, as text.
fn column(w: &World, sql: &str) -> Vec<String> {
    query_text(&w.gw.database_url, sql)
        .expect("query")
        .into_iter()
        .map(|row| row.into_iter().next().flatten().unwrap_or_default())
        .collect()
}

/// Rebuilds the workers' queues from what the database holds now.
fn queues_from_database(w: &World, ledger: &Ledger) -> Queues {
    // A send cut by the kill after it was submitted is pending in the
    // database but unknown to the ledger: once approved, its download could
    // not be checked, so, like unknown released ones, it is left alone.
    let pending = column(
        w,
        "SELECT id FROM transfers WHERE state = 'pending_approval' ORDER BY id",
    )
    .into_iter()
    .filter(|id| ledger.files.contains_key(id))
    .collect();
    let released = column(
        w,
        "SELECT id FROM transfers WHERE state = 'released' ORDER BY id",
    )
    .into_iter()
    // Only transfers whose files the test knows can be checked on download.
    .filter_map(|id| ledger.files.get(&id).map(|_| id))
    .map(|id| {
        let class = ledger.sent.get(&id).cloned().unwrap_or_default();
        (id, class)
    })
    .collect();
    Queues {
        pending,
        released,
        busy: BTreeSet::new(),
    }
}

/// Everything checked after a restart; each failure names the round.
fn check_after_restart(w: &World, ledger: &Ledger, round: usize) {
    let at = format!("after round {round} (seed printed above)");

    // Acknowledged means durable.
    let states: BTreeMap<String, String> =
        query_text(&w.gw.database_url, "SELECT id, state FROM transfers")
            .expect("transfers")
            .into_iter()
            .filter_map(|row| {
                let mut row = row.into_iter();
                Some((row.next().flatten()?, row.next().flatten()?))
            })
            .collect();
    for (id, class) in &ledger.sent {
        let state = states.get(id).map(String::as_str);
        assert!(
            matches!(state, Some(s) if s != "uploading"),
            "{at}: the class {class} send {id} was acknowledged but is {state:?}"
        );
    }
    for id in &ledger.approved {
        let state = states.get(id).map(String::as_str);
        assert!(
            matches!(state, Some("released" | "erased" | "expired")),
            "{at}: the approval of {id} was acknowledged but it is {state:?}"
        );
    }
    for id in &ledger.disposed {
        assert_eq!(
            states.get(id).map(String::as_str),
            Some("erased"),
            "{at}: the disposal of {id} was acknowledged"
        );
    }
    let inbound_names: BTreeSet<String> = column(w, "SELECT name FROM inbound_files")
        .into_iter()
        .collect();
    for name in &ledger.inbound {
        assert!(
            inbound_names.contains(name),
            "{at}: the inbound upload of {name} was acknowledged but it is gone"
        );
    }

    // Nothing half-visible.
    let half_sent = column(
        w,
        "SELECT t.id FROM transfers t JOIN transfer_files f ON f.transfer_id = t.id \
         LEFT JOIN objects o ON o.id = f.object_id \
         WHERE t.state IN ('pending_approval', 'released') \
           AND (o.id IS NULL OR t.content_digest IS NULL)",
    );
    assert!(
        half_sent.is_empty(),
        "{at}: submitted transfers with files not stored: {half_sent:?}"
    );
    let erased_with_content = column(
        w,
        "SELECT t.id FROM transfers t JOIN transfer_files f ON f.transfer_id = t.id \
         WHERE t.state = 'erased' AND f.object_id IS NOT NULL",
    );
    assert!(
        erased_with_content.is_empty(),
        "{at}: erased transfers still pointing at content: {erased_with_content:?}"
    );
    let inbound_without_blob = column(
        w,
        "SELECT i.id FROM inbound_files i LEFT JOIN objects o ON o.id = i.object_id \
         WHERE i.state <> 'erased' AND o.id IS NULL",
    );
    assert!(
        inbound_without_blob.is_empty(),
        "{at}: inbound files without their stored object: {inbound_without_blob:?}"
    );
    let half_erased = column(
        w,
        "SELECT id FROM deletions WHERE state = 'keys_destroyed' \
         UNION SELECT id FROM inbound_deletions WHERE state = 'keys_destroyed'",
    );
    assert!(
        half_erased.is_empty(),
        "{at}: erases left half-done after recovery: {half_erased:?}"
    );
    // A disposal that was due (class III, or approved) is not left waiting.
    let stuck = column(
        w,
        "SELECT d.id FROM deletions d JOIN transfers t ON t.id = d.transfer_id \
         WHERE d.state = 'requested' AND (t.class = 'III' OR d.decided_by IS NOT NULL)",
    );
    assert!(
        stuck.is_empty(),
        "{at}: disposals that were due are still waiting: {stuck:?}"
    );

    // The folders agree with the database.
    let listing = store_listing(&w.gw);
    let rows = object_ids(&w.gw.database_url).expect("object rows");
    assert!(
        listing.partial_blobs.is_empty() && listing.partial_shares.is_empty(),
        "{at}: half-written files survived recovery: {listing:?}"
    );
    let orphan_blobs: Vec<_> = listing.blobs.difference(&rows).collect();
    let missing_blobs: Vec<_> = rows.difference(&listing.blobs).collect();
    assert!(
        orphan_blobs.is_empty() && missing_blobs.is_empty(),
        "{at}: blobs without a row {orphan_blobs:?}, rows without a blob {missing_blobs:?}"
    );
    let orphan_shares: Vec<_> = listing.shares.difference(&rows).collect();
    let missing_shares: Vec<_> = rows.difference(&listing.shares).collect();
    assert!(
        orphan_shares.is_empty() && missing_shares.is_empty(),
        "{at}: key shares without a row {orphan_shares:?}, rows without a share {missing_shares:?}"
    );

    // The auditor accepts the chain.
    let verified = w.gw.cli(&w.auditor).run(&["audit", "verify"]);
    assert_success(&verified, &format!("{at}: audit verify"));
}

/// A new send works end to end: sent, released, received, same bytes.
fn new_send_works(w: &World, round: usize) {
    let dir = w.gw.dir.path().join(format!("check-{round}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("after-restart.txt");
    let contents = format!("sent after the restart of round {round}");
    std::fs::write(&file, &contents).expect("file");
    let sent = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "send",
        &file.display().to_string(),
        "--class",
        "III",
        "--to",
        "partner",
        "--purpose",
        "after a crash",
    ]));
    assert_eq!(sent["transfer"]["state"], "released", "round {round}");
    let id = json_str(&sent["transfer"]["id"]).expect("id");
    let links = json_of(&w.gw.cli(&w.staff).run(&["--json", "link", &id]));
    let url = json_str(&links[0]["url"]).expect("url");
    let out_dir = dir.join("received");
    let out = w.gw.outsider(&dir).run(&[
        "receive",
        &url,
        "-o",
        &out_dir.display().to_string(),
        "--identity",
        &w.identity.display().to_string(),
    ]);
    assert_success(&out, &format!("round {round}: receive after the restart"));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("after-restart.txt")).expect("received"),
        contents
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends SIGKILL to the gateway while the workers are using it.
fn power_cut(gw: &Gateway) {
    let pid = gw.pid().expect("the gateway is running");
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -KILL {pid}")])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -KILL {pid} failed");
}

#[test]
fn killed_at_random_moments_the_gateway_keeps_what_it_acknowledged_and_nothing_else() {
    let (rounds, seed) = rounds_and_seed();
    eprintln!(
        "crash loop: {rounds} rounds, seed {seed} (replay: SEKISHO_CRASH_SEED={seed} SEKISHO_CRASH_ROUNDS={rounds})"
    );
    let mut w = world();
    let files = w.gw.dir.path().join("work");
    std::fs::create_dir_all(&files).expect("work dir");
    let mut rng = StdRng::seed_from_u64(seed);
    let ledger = Mutex::new(Ledger::default());
    let counter = AtomicU64::new(0);
    let started = Instant::now();
    let mut kills_mid_request = 0;

    for round in 1..=rounds {
        let queues = Mutex::new(queues_from_database(&w, &ledger.lock().expect("ledger")));
        let killed = AtomicBool::new(false);
        let kill_after = Duration::from_millis(rng.random_range(KILL_AFTER_MS));
        let worker_seeds: Vec<u64> = (0..5).map(|_| rng.random()).collect();
        let in_flight = AtomicU64::new(0);
        let r = Round {
            w: &w,
            ledger: &ledger,
            queues: &queues,
            killed: &killed,
            files: files.clone(),
            counter: &counter,
        };
        std::thread::scope(|scope| {
            for (job, seed) in worker_seeds.iter().enumerate() {
                let (r, killed, in_flight) = (&r, &killed, &in_flight);
                let mut rng = StdRng::seed_from_u64(*seed);
                scope.spawn(move || {
                    while !killed.load(Ordering::SeqCst) {
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        match job {
                            0 => r.send(&mut rng),
                            1 => r.approve(),
                            2 => r.download(&mut rng),
                            3 => r.dispose(&mut rng),
                            _ => r.bring_in(&mut rng),
                        }
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
            std::thread::sleep(kill_after);
            if in_flight.load(Ordering::SeqCst) > 0 {
                kills_mid_request += 1;
            }
            // The flag first: a command that fails from here on may have
            // been cut by the kill.
            killed.store(true, Ordering::SeqCst);
            power_cut(&w.gw);
        });
        w.gw.kill_and_restart();
        let ledger_now = ledger.lock().expect("ledger");
        assert!(
            ledger_now.unexpected.is_empty(),
            "round {round} (seed {seed}): commands failed while the gateway was up:\n{}",
            ledger_now.unexpected.join("\n")
        );
        check_after_restart(&w, &ledger_now, round);
        drop(ledger_now);
        new_send_works(&w, round);
    }

    let ledger = ledger.into_inner().expect("ledger");
    eprintln!(
        "crash loop: {rounds} rounds in {:.0?}; acknowledged {} sends, {} approvals, {} disposals, {} inbound uploads; {} downloads verified; {kills_mid_request} kills while a command ran",
        started.elapsed(),
        ledger.sent.len(),
        ledger.approved.len(),
        ledger.disposed.len(),
        ledger.inbound.len(),
        ledger.downloads_verified,
    );
    // The workload really ran: a loop that only ever killed an idle
    // gateway would prove nothing.
    assert!(
        !ledger.sent.is_empty() && ledger.downloads_verified > 0,
        "the workload did not get going"
    );
}

/// The one window of the loop that a kill rarely hits, made certain: a
/// disposal that was due (class III at once, or class II once approved) is
/// committed as `requested` before its erase begins. A crash in between
/// must not leave it waiting for good (its requester was told "already in
/// progress" and nobody could decide it any more): start-up erases it.
/// The journal rows are written exactly as the gateway commits them.
#[test]
fn a_due_disposal_cut_before_its_erase_is_finished_at_start_up() {
    let mut w = world();
    let dir = w.gw.dir.path().join("files");
    std::fs::create_dir_all(&dir).expect("dir");
    let send = |class: &str| -> String {
        let path = dir.join(format!("{class}.txt"));
        std::fs::write(&path, class.as_bytes()).expect("file");
        let sent = json_of(&w.gw.cli(&w.staff).run(&[
            "--json",
            "send",
            &path.display().to_string(),
            "--class",
            class,
            "--to",
            "partner",
            "--purpose",
            "disposal cut by a crash",
        ]));
        json_str(&sent["transfer"]["id"]).expect("id")
    };
    let public = send("III");
    let internal = send("II");
    let code = w.gw.otp(&w.approver.totp_secret);
    assert_success(
        &w.gw
            .cli(&w.approver)
            .run(&["approve", &internal, "--otp", &code]),
        "approve",
    );
    let now_ms = w.gw.now() * 1000;
    let journal = |transfer: &str, decided: &str| {
        format!(
            "INSERT INTO deletions (id, transfer_id, state, trigger_kind, reason, requested_by, \
             requested_by_role, requested_at, decided_by, decided_at) VALUES \
             ('{id}', '{transfer}', 'requested', 'request', 'cut by a crash', 'tanaka', 'staff', \
             {now_ms}, {decided}, {decided_at})",
            id = uuid_for(transfer),
            decided_at = if decided == "NULL" {
                "NULL".to_string()
            } else {
                now_ms.to_string()
            },
        )
    };
    sql_batch(
        &w.gw.database_url,
        &[journal(&public, "NULL"), journal(&internal, "'jicho'")],
    )
    .expect("journal rows");
    // Without a crash the requester is refused a second request:
    let out =
        w.gw.cli(&w.staff)
            .run(&["dispose", &public, "--reason", "again"]);
    assert_failure(&out, "already");

    w.gw.kill_and_restart();
    for id in [&public, &internal] {
        let state = column(
            &w,
            &format!("SELECT state FROM transfers WHERE id = '{id}'"),
        );
        assert_eq!(state, vec!["erased".to_string()], "transfer {id}");
        let deletion = column(
            &w,
            &format!("SELECT state FROM deletions WHERE transfer_id = '{id}'"),
        );
        assert_eq!(deletion, vec!["complete".to_string()], "disposal of {id}");
    }
    let listing = store_listing(&w.gw);
    let rows = object_ids(&w.gw.database_url).expect("rows");
    assert!(rows.is_empty() && listing.blobs.is_empty() && listing.shares.is_empty());
    assert_success(&w.gw.cli(&w.auditor).run(&["audit", "verify"]), "verify");
}

/// A disposal id of the gateway's form (a UUID), derived from the transfer.
fn uuid_for(transfer: &str) -> String {
    let hex = sha256_hex(transfer.as_bytes());
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
