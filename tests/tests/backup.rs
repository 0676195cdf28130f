//! Backup and restore ("Availability and recovery"): an encrypted archive of
//! a consistent snapshot taken while the gateway serves, checked without
//! restoring, and restored into a gateway that serves the same transfers,
//! files and audit chain.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sekisho_e2e::*;
use serde_json::Value;

struct World {
    gw: Gateway,
    staff: Account,
    auditor: Account,
    /// The backup identity, kept "off the server" (outside the data dir).
    identity: PathBuf,
}

fn world() -> World {
    let scratch = tempfile::tempdir().expect("scratch");
    let (identity, recipient) = age_identity(scratch.path(), "backup");
    let kept = std::env::temp_dir().join(format!("sekisho-backup-{}.agekey", unique()));
    std::fs::copy(&identity, &kept).expect("keep identity");
    let mut gw = Gateway::start_with(GatewayOptions {
        config_patch: vec![(
            "backup".into(),
            "recipients".into(),
            format!("[\"{recipient}\"]"),
        )],
    });
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let auditor = gw.user(&admin, "kansa", "auditor");
    let (_, partner) = age_identity(gw.dir.path(), "partner");
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
            &partner,
        ]),
        "recipient",
    );
    World {
        gw,
        staff,
        auditor,
        identity: kept,
    }
}

fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// `restore` arguments for the suite's database: PostgreSQL backups are
/// restored into a new database on the same cluster.
fn restore_database_args() -> Vec<String> {
    match test_database() {
        TestDatabase::Postgres { admin_url } => vec![
            "--database-url".into(),
            create_pg_database(&admin_url).expect("new database"),
        ],
        TestDatabase::Sqlite => Vec::new(),
    }
}

fn restore_into(archive: &Path, dir: &Path, identity: &str) -> std::process::Output {
    let mut args: Vec<String> = [
        "restore",
        "--from",
        &archive.display().to_string(),
        "--dir",
        &dir.display().to_string(),
        "--identity",
        identity,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(restore_database_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    gateway(&args)
}

/// Sends a class III file (released at once); returns the transfer id.
fn send(gw: &Gateway, staff: &Account, name: &str, contents: &[u8]) -> String {
    let path = gw.dir.path().join(name);
    std::fs::write(&path, contents).expect("write");
    let sent = json_of(&gw.cli(staff).run(&[
        "--json",
        "send",
        &path.display().to_string(),
        "--class",
        "III",
        "--to",
        "partner",
        "--purpose",
        "backup test",
    ]));
    json_str(&sent["transfer"]["id"]).expect("id")
}

fn transfer_ids(gw: &Gateway, staff: &Account) -> BTreeSet<String> {
    let listed = json_of(&gw.cli(staff).run(&["--json", "list"]));
    listed
        .as_array()
        .expect("list is an array")
        .iter()
        .map(|t| json_str(&t["id"]).expect("id"))
        .collect()
}

fn backup(w: &World, file: &Path) -> std::process::Output {
    w.gw.admin_command(&["backup", "-o", &file.display().to_string()])
}

fn gateway(args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin("sekisho-gateway"))
        .args(args)
        .output()
        .expect("run sekisho-gateway")
}

#[test]
fn backup_taken_while_serving_restores_transfers_files_and_audit_chain() {
    let mut w = world();
    let archive = w.gw.dir.path().join("gateway.backup");
    let contents: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let before = send(&w.gw, &w.staff, "before.bin", &contents);

    // A client keeps sending while the backup runs.
    let started = std::time::Instant::now();
    // A client keeps sending from before the backup starts until it ends.
    let done = std::sync::atomic::AtomicBool::new(false);
    let (first_sent_tx, first_sent) = std::sync::mpsc::channel();
    let (sent_during, backed_up) = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let mut ids = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let name = format!("during-{}.txt", ids.len());
                ids.push(send(&w.gw, &w.staff, &name, b"concurrent"));
                let _ = first_sent_tx.send(());
            }
            ids
        });
        first_sent.recv().expect("the sender started");
        let out = backup(&w, &archive);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (sender.join().expect("sender"), out)
    });
    assert_success(&backed_up, "backup");
    eprintln!(
        "backup with concurrent sends: {:?}, archive {} bytes",
        started.elapsed(),
        std::fs::metadata(&archive).expect("archive").len()
    );
    let events = stored_events(&w.gw.database_url).expect("events");
    assert!(
        events.iter().any(|e| e.action.as_str() == "backup.create"),
        "the backup is not in the audit log"
    );

    let verified = gateway(&[
        "backup",
        "verify",
        &archive.display().to_string(),
        "--identity",
        &w.identity.display().to_string(),
    ]);
    assert_success(&verified, "backup verify");

    let restored = w.gw.dir.path().join("restored");
    let started = std::time::Instant::now();
    assert_success(
        &restore_into(&archive, &restored, &w.identity.display().to_string()),
        "restore",
    );
    eprintln!("restore: {:?}", started.elapsed());
    for key in ["keys/master.key", "keys/link.key", "keys/audit.key"] {
        let mode = std::fs::metadata(restored.join(key))
            .expect("restored key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{key} restored with mode {mode:o}");
    }
    let all_sent = transfer_ids(&w.gw, &w.staff);
    w.gw.replace_data_dir(&restored);

    // Every transfer of the snapshot, none the original never had.
    let after = transfer_ids(&w.gw, &w.staff);
    assert!(
        after.contains(&before),
        "the transfer sent before is missing"
    );
    assert!(after.is_subset(&all_sent), "restored transfers nobody sent");
    eprintln!(
        "{} of {} transfers sent during the backup are in it",
        sent_during.iter().filter(|id| after.contains(*id)).count(),
        sent_during.len()
    );

    assert!(
        !w.gw.log().contains("missing from the store"),
        "the restored store lacks recorded objects:\n{}",
        w.gw.log()
    );

    // The file downloads with the same bytes.
    let links = json_of(&w.gw.cli(&w.staff).run(&["--json", "link", &before]));
    let url = json_str(&links[0]["url"]).expect("url");
    let out_dir = w.gw.dir.path().join("received");
    let home = w.gw.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");
    let received: Value = json_of(&w.gw.outsider(&home).run(&[
        "--json",
        "receive",
        &url,
        "-o",
        &out_dir.display().to_string(),
    ]));
    assert_eq!(received["verified"], true);
    assert_eq!(
        std::fs::read(out_dir.join("before.bin")).expect("received file"),
        contents
    );

    // The chain verifies, and the restored gateway takes new work.
    assert_success(
        &w.gw.cli(&w.auditor).run(&["audit", "verify"]),
        "audit verify on the restored gateway",
    );
    let new = send(&w.gw, &w.staff, "after.txt", b"after the restore");
    assert!(transfer_ids(&w.gw, &w.staff).contains(&new));
    let _ = std::fs::remove_file(&w.identity);
}

#[test]
fn backup_verify_refuses_changed_cut_and_foreign_archives() {
    let w = world();
    let archive = w.gw.dir.path().join("gateway.backup");
    send(&w.gw, &w.staff, "doc.txt", b"some content");
    assert_success(&backup(&w, &archive), "backup");
    let identity = w.identity.display().to_string();
    let verify = |file: &Path, identity: &str| {
        gateway(&[
            "backup",
            "verify",
            &file.display().to_string(),
            "--identity",
            identity,
        ])
    };
    assert_success(&verify(&archive, &identity), "verify intact");
    let bytes = std::fs::read(&archive).expect("archive");

    let changed = w.gw.dir.path().join("changed.backup");
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x01;
    std::fs::write(&changed, &altered).expect("write");
    assert_failure(
        &verify(&changed, &identity),
        "damaged, cut off or was changed",
    );

    let cut = w.gw.dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).expect("write");
    assert_failure(&verify(&cut, &identity), "damaged, cut off or was changed");

    let (other, _) = age_identity(w.gw.dir.path(), "someone-else");
    assert_failure(
        &verify(&archive, &other.display().to_string()),
        "cannot open the backup",
    );

    // Restore writes nothing over an existing folder.
    let busy = w.gw.dir.path().join("busy");
    std::fs::create_dir_all(&busy).expect("dir");
    std::fs::write(busy.join("something"), b"x").expect("write");
    assert_failure(&restore_into(&archive, &busy, &identity), "not empty");
    // A damaged archive leaves no directory behind.
    let never = w.gw.dir.path().join("never");
    assert_failure(&restore_into(&changed, &never, &identity), "damaged");
    assert!(!never.exists(), "a damaged archive was partly restored");
    // A PostgreSQL backup names its new database, or nothing is written.
    if matches!(test_database(), TestDatabase::Postgres { .. }) {
        let nowhere = w.gw.dir.path().join("nowhere");
        let out = gateway(&[
            "restore",
            "--from",
            &archive.display().to_string(),
            "--dir",
            &nowhere.display().to_string(),
            "--identity",
            &identity,
        ]);
        assert_failure(&out, "--database-url");
        assert!(!nowhere.exists());
    }
    let _ = std::fs::remove_file(&w.identity);
}

#[test]
fn backup_without_a_recipient_says_what_to_add() {
    let mut gw = Gateway::start();
    let archive = gw.dir.path().join("gateway.backup");
    let out = gw.admin_command(&["backup", "-o", &archive.display().to_string()]);
    assert_failure(&out, "[backup]");
    assert!(!archive.exists());

    // A plaintext snapshot left by a killed backup goes at the next start.
    let leftover = gw.data_dir().join(".backup-snapshot-killed");
    std::fs::write(&leftover, b"plaintext database copy").expect("write");
    gw.restart();
    assert!(!leftover.exists(), "a backup's snapshot outlived a restart");
}

/// Named without "backup_": the object-storage run of scripts/test.sh
/// leaves out the tests of that prefix, and this one belongs there most.
#[test]
fn object_storage_and_moved_folders_refuse_backups_and_say_what_to_back_up() {
    let mut gw = Gateway::start();
    if gw.s3.is_none() {
        // Any [store] setting means the files may live outside DIR; the
        // default folder named explicitly is enough to show the refusal.
        gw.reconfigure(&[("store", "path", "\"store\"")]);
    }
    let archive = gw.dir.path().join("gateway.backup");
    let out = gw.admin_command(&["backup", "-o", &archive.display().to_string()]);
    assert_failure(&out, "[store]");
    let said = text(&out);
    assert!(said.contains("key_shares"), "{said}");
    assert!(
        !archive.exists(),
        "a refused backup wrote {}",
        archive.display()
    );
}

/// What the README promises about cryptographic erase: content erased after
/// a backup comes back with its restore (the backup holds its key share),
/// and disposing of it again on the restored gateway erases it there.
#[test]
fn content_erased_after_the_backup_returns_with_it_until_disposed_again() {
    let mut w = world();
    let id = send(&w.gw, &w.staff, "notice.txt", b"erased after the backup");
    let archive = w.gw.dir.path().join("gateway.backup");
    assert_success(&backup(&w, &archive), "backup");
    let dispose = |gw: &Gateway| {
        let out = gw
            .cli(&w.staff)
            .run(&["--json", "dispose", &id, "--reason", "誤送付のため"]);
        assert_eq!(json_of(&out)["state"], "complete");
    };
    dispose(&w.gw);

    let restored = w.gw.dir.path().join("restored");
    assert_success(
        &restore_into(&archive, &restored, &w.identity.display().to_string()),
        "restore",
    );
    w.gw.replace_data_dir(&restored);
    let links = json_of(&w.gw.cli(&w.staff).run(&["--json", "link", &id]));
    let url = json_str(&links[0]["url"]).expect("url");
    let back = w.gw.http().post(&url).send().expect("download");
    assert_eq!(back.status().as_u16(), 200, "the backup's copy is not back");

    dispose(&w.gw);
    let gone = w.gw.http().post(&url).send().expect("download");
    assert_eq!(gone.status().as_u16(), 410, "erased again, still delivered");
    let _ = std::fs::remove_file(&w.identity);
}
