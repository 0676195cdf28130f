//! The gateway's life cycle through the real binary: a SIGTERM stops it
//! cleanly (exit 0, within its grace period), an upload cut by that stop
//! leaves nothing half-stored, and `SEKISHO_DATABASE_URL` chooses the
//! database of an initialised directory for `serve` and the maintenance
//! commands alike.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sekisho_e2e::*;
use serde_json::{Value, json};

/// The gateway's own grace for requests in flight (`http::SHUTDOWN_GRACE`).
const GRACE: Duration = Duration::from_secs(10);

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Blob ids in the store (`store/objects/<shard>/<id>`).
/// Objects in the folder or the bucket the gateway stores into.
fn blobs(gw: &Gateway) -> BTreeSet<String> {
    store_listing(gw).blobs
}

fn key_shares(gw: &Gateway) -> BTreeSet<String> {
    files_in(&gw.data_dir().join("keys").join("objects"))
}

fn temp_files(gw: &Gateway) -> BTreeSet<String> {
    files_in(&gw.data_dir().join("store").join("tmp"))
}

fn object_rows(gw: &Gateway) -> BTreeSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&gw.database_url)
            .await
            .expect("connect");
        sqlx::query("SELECT id FROM objects")
            .fetch_all(&mut conn)
            .await
            .expect("objects")
            .iter()
            .map(|r| r.try_get::<String, _>("id").expect("id"))
            .collect()
    })
}

fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request body that sends `fast` bytes at once, then a trickle that
/// never ends on its own: the request is still running when the gateway's
/// grace runs out. It gives up after `give_up` so a broken test cannot hang.
struct Trickle {
    fast: u64,
    sent: u64,
    started: Instant,
    give_up: Duration,
    flowing: Arc<AtomicBool>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.started.elapsed() > self.give_up {
            return Err(std::io::Error::other("the test gave up"));
        }
        let n = if self.sent < self.fast {
            buf.len().min((self.fast - self.sent) as usize)
        } else {
            self.flowing.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            buf.len().min(1024)
        };
        buf[..n].fill(0x5a);
        self.sent += n as u64;
        Ok(n)
    }
}

#[test]
fn sigterm_stops_the_gateway_with_exit_0_within_its_grace_period() {
    let mut gw = Gateway::start();
    // An idle keep-alive connection must not hold the stop up.
    let http = gw.http();
    let health = http
        .get(format!("{}/api/v1/health", gw.internal_url))
        .send()
        .expect("health");
    assert!(health.status().is_success());
    gw.terminate().expect("SIGTERM");
    let (status, took) = gw.wait_stopped(STOP_TIMEOUT).expect("stopped");
    assert!(status.success(), "exit status {status}\n{}", gw.log());
    assert!(took < GRACE, "stopping took {took:?}\n{}", gw.log());
    let log = gw.log();
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        !log.contains("were cut"),
        "nothing was in flight, yet requests were cut:\n{log}"
    );
    // What was stopped starts again on the same data.
    gw.restart();
    assert_success(&gw.login(&gw.admin.clone()), "login after a restart");
}

#[test]
fn an_upload_cut_by_a_graceful_stop_leaves_nothing_half_stored() {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let (_, recipient) = age_identity(gw.dir.path(), "printer");
    assert_success(
        &gw.cli(&staff).run(&[
            "recipient",
            "add",
            "printer",
            "--org",
            "Hagi Printing Co.",
            "--email",
            "printer@example.jp",
            "--age-key",
            &recipient,
        ]),
        "recipient add",
    );
    // One file stored completely before: the stop must leave it alone.
    let kept = gw.dir.path().join("kept.txt");
    std::fs::write(&kept, b"kept across the stop").expect("file");
    let kept_path = kept.display().to_string();
    let sent = json_of(&gw.cli(&staff).run(&[
        "--json",
        "send",
        &kept_path,
        "--class",
        "III",
        "--to",
        "printer",
        "--purpose",
        "lifecycle test",
    ]));
    let kept_id = json_str(&sent["transfer"]["id"]).expect("transfer id");
    let before = object_rows(&gw);
    assert_eq!(before.len(), 1, "one stored object before the stop");
    assert_eq!(blobs(&gw), before);
    assert_eq!(key_shares(&gw), before);

    // A large upload, started and left streaming.
    let size: u64 = 256 << 20;
    let token = gw.token(&staff);
    let http = gw.http();
    let created: Value = http
        .post(format!("{}/api/v1/transfers", gw.internal_url))
        .bearer_auth(&token)
        .json(&json!({
            "class": "III",
            "purpose": "cut by a stop",
            "recipients": ["printer"],
            "files": [{ "name": "big.bin", "size": size }],
        }))
        .send()
        .expect("create")
        .json()
        .expect("json");
    let id = json_str(&created["id"]).unwrap_or_else(|_| panic!("no id in {created}"));
    let flowing = Arc::new(AtomicBool::new(false));
    let upload = {
        let url = format!("{}/api/v1/transfers/{id}/files/0", gw.internal_url);
        let body = Trickle {
            fast: 8 << 20,
            sent: 0,
            started: Instant::now(),
            give_up: Duration::from_secs(60),
            flowing: flowing.clone(),
        };
        let http = http.clone();
        let token = token.clone();
        std::thread::spawn(move || {
            http.put(url)
                .bearer_auth(token)
                .body(reqwest::blocking::Body::sized(body, size))
                .send()
                .map(|r| r.status())
        })
    };
    // The upload is inside the store: a partial blob (on S3 an unfinished
    // multipart upload, which no listing shows) and a new key share.
    wait_until(
        "the upload to reach the store",
        Duration::from_secs(30),
        || {
            flowing.load(Ordering::SeqCst)
                && (gw.s3.is_some() || !temp_files(&gw).is_empty())
                && key_shares(&gw).len() > before.len()
        },
    );

    gw.terminate().expect("SIGTERM");
    let (status, took) = gw.wait_stopped(STOP_TIMEOUT).expect("stopped");
    assert!(status.success(), "exit status {status}\n{}", gw.log());
    assert!(
        took >= GRACE - Duration::from_secs(1),
        "the upload in flight was given its grace, not cut at once: {took:?}"
    );
    let answer = upload.join().expect("upload thread");
    assert!(
        !matches!(answer, Ok(s) if s.is_success()),
        "the cut upload was accepted: {answer:?}"
    );
    assert!(gw.log().contains("were cut"), "{}", gw.log());

    gw.restart();
    assert!(
        temp_files(&gw).is_empty(),
        "temp files: {:?}",
        temp_files(&gw)
    );
    let rows = object_rows(&gw);
    assert_eq!(rows, before, "object rows after the cut upload");
    assert_eq!(blobs(&gw), rows, "blobs and rows disagree");
    assert_eq!(
        key_shares(&gw),
        rows,
        "key shares and rows disagree\n{}",
        gw.log()
    );

    // The transfer was not submitted; the one sent before still is.
    let view = |transfer: &str| -> Value {
        gw.http()
            .get(format!("{}/api/v1/transfers/{transfer}", gw.internal_url))
            .bearer_auth(gw.token(&staff))
            .send()
            .expect("view")
            .json()
            .expect("json")
    };
    assert_eq!(view(&id)["state"], "uploading", "{}", view(&id));
    assert_eq!(view(&kept_id)["state"], "released");
    let object = format!("transfer:{id}");
    let events = stored_events(&gw.database_url).expect("events");
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.object == object)
        .map(|e| e.action.as_str())
        .collect();
    assert!(
        !actions
            .iter()
            .any(|a| a.ends_with(".upload") || a.ends_with(".submit")),
        "{actions:?}"
    );
}

#[test]
fn sekisho_database_url_chooses_the_database_of_an_initialised_directory() {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let elsewhere_file = gw.dir.path().join("elsewhere.db");
    let elsewhere = format!("sqlite://{}?mode=rwc", elsewhere_file.display());
    let login_status = |gw: &Gateway| {
        let otp = gw.otp(&admin.totp_secret);
        gw.http()
            .post(format!("{}/api/v1/login", gw.internal_url))
            .json(&json!({ "username": admin.username, "password": admin.password, "otp": otp }))
            .send()
            .expect("login")
            .status()
            .as_u16()
    };
    assert_eq!(login_status(&gw), 200);

    // Served with the variable set, the gateway uses that (empty) database:
    // the admin of the configured one does not exist there.
    gw.set_env("SEKISHO_DATABASE_URL", Some(&elsewhere));
    gw.restart();
    assert!(elsewhere_file.exists(), "the other database was not opened");
    assert_eq!(login_status(&gw), 401);
    let there = stored_events(&elsewhere).expect("events elsewhere");
    assert!(
        there
            .iter()
            .any(|e| e.action == "login.fail" && e.object.contains(&admin.username)),
        "the refused login was not recorded in the other database: {there:?}"
    );

    // Without it, the configured database again.
    gw.set_env("SEKISHO_DATABASE_URL", None);
    gw.restart();
    assert_eq!(login_status(&gw), 200);
    let here = stored_events(&gw.database_url).expect("events");
    assert_eq!(
        here.iter().filter(|e| e.action == "login.fail").count(),
        0,
        "the refused login reached the configured database"
    );

    // Maintenance commands honour the same variable.
    let third_file = gw.dir.path().join("third.db");
    let out = Command::new(bin("sekisho-gateway"))
        .args(["migrate", "--dir"])
        .arg(gw.data_dir())
        .env(
            "SEKISHO_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", third_file.display()),
        )
        .output()
        .expect("migrate");
    assert_success(&out, "migrate elsewhere");
    assert!(
        third_file.exists(),
        "migrate did not use SEKISHO_DATABASE_URL"
    );
}
