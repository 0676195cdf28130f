//! Retention and secure deletion end to end (requirements.md, "Disposal").

use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use sekisho_e2e::*;
use serde_json::Value;

struct World {
    gw: Gateway,
    admin: Account,
    staff: Account,
    approver: Account,
}

fn world_with(options: GatewayOptions) -> World {
    let mut gw = Gateway::start_with(options);
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    let (_, recipient) = age_identity(gw.dir.path(), "partner");
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
        "recipient",
    );
    World {
        gw,
        admin,
        staff,
        approver,
    }
}

fn world() -> World {
    world_with(GatewayOptions::default())
}

fn send(w: &World, class: &str, contents: &[u8]) -> String {
    let path = w.gw.dir.path().join(format!("doc-{}.bin", uuid_suffix()));
    std::fs::write(&path, contents).expect("write");
    let sent = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "send",
        &path.display().to_string(),
        "--class",
        class,
        "--to",
        "partner",
        "--purpose",
        "deletion test",
    ]));
    json_str(&sent["transfer"]["id"]).expect("id")
}

fn uuid_suffix() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

fn approve(w: &World, who: &Account, id: &str) -> std::process::Output {
    let code = w.gw.otp(&who.totp_secret);
    w.gw.cli(who).run(&["approve", id, "--otp", &code])
}

fn state_of(w: &World, id: &str) -> String {
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", id]));
    json_str(&shown["state"]).expect("state")
}

fn audit_key(w: &World) -> String {
    let out = w.gw.admin_command(&["audit-key", "--json"]);
    assert_success(&out, "audit-key");
    let key: Value = serde_json::from_slice(&out.stdout).expect("json");
    json_str(&key["public_key"]).expect("key")
}

/// Each stored object's id and its key share, from the folder or the
/// bucket the gateway uses.
fn object_paths(gw: &Gateway) -> Vec<(String, PathBuf)> {
    store_listing(gw)
        .blobs
        .into_iter()
        .map(|id| {
            let share = gw.key_share_path(&id);
            (id, share)
        })
        .collect()
}

#[test]
fn r02_2_10_class_three_disposal_is_immediate_and_certified() {
    let w = world();
    let id = send(&w, "III", b"public notice");
    let url = {
        let links = json_of(&w.gw.cli(&w.staff).run(&["--json", "link", &id]));
        json_str(&links[0]["url"]).expect("url")
    };
    let out =
        w.gw.cli(&w.staff)
            .run(&["--json", "dispose", &id, "--reason", "誤送付のため"]);
    let disposal = json_of(&out);
    assert_eq!(disposal["state"], "complete");
    assert_eq!(state_of(&w, &id), "erased");
    assert!(
        object_paths(&w.gw).is_empty(),
        "stored bytes or key share left behind"
    );
    let status = w.gw.http().post(&url).send().expect("post").status();
    assert_eq!(status.as_u16(), 410, "erased content was delivered");

    let cert_file = w.gw.dir.path().join("certificate.json");
    let shown = w.gw.cli(&w.staff).run(&[
        "deletion",
        "show",
        &id,
        "-o",
        &cert_file.display().to_string(),
    ]);
    assert_success(&shown, "deletion show");
    let certificate: Value =
        serde_json::from_slice(&std::fs::read(&cert_file).expect("cert")).expect("json");
    assert_eq!(certificate["object"], id.as_str());
    assert_eq!(certificate["class"], "III");
    assert_eq!(certificate["reason"], "誤送付のため");
    assert_eq!(certificate["requested_by"], "tanaka");
    assert_eq!(
        certificate["files"][0]["sha256"],
        sha256_hex(b"public notice").as_str()
    );
    assert!(
        certificate["method"]
            .as_str()
            .unwrap_or("")
            .contains("cryptographic erase")
    );

    // Offline verification with the gateway's audit key; any change fails.
    let key = audit_key(&w);
    let auditor_home = w.gw.dir.path().join("offline-auditor");
    std::fs::create_dir_all(&auditor_home).expect("home");
    let offline = w.gw.outsider(&auditor_home);
    let file = cert_file.display().to_string();
    assert_success(
        &offline.run(&["deletion", "verify", &file, "--key", &key]),
        "certificate verifies",
    );
    let mut altered = certificate.clone();
    altered["requested_by"] = Value::String("somebody-else".into());
    let altered_file = w.gw.dir.path().join("altered.json");
    std::fs::write(&altered_file, altered.to_string()).expect("write");
    let out = offline.run(&[
        "deletion",
        "verify",
        &altered_file.display().to_string(),
        "--key",
        &key,
    ]);
    assert!(!out.status.success(), "an altered certificate verified");
    // The deletion is in the audit log.
    let events = stored_events(&w.gw.database_url).expect("events");
    for action in ["deletion.request", "deletion.erase", "deletion.done"] {
        assert!(events.iter().any(|e| e.action == action), "no {action}");
    }
}

#[test]
fn r02_2_10_disposing_of_class_two_needs_the_approvers_permission() {
    let w = world();
    let id = send(&w, "II", b"personal data");
    assert_success(&approve(&w, &w.approver, &id), "approve transfer");
    let disposal =
        json_of(
            &w.gw
                .cli(&w.staff)
                .run(&["--json", "dispose", &id, "--reason", "不要になった"]),
        );
    assert_eq!(disposal["state"], "requested");
    let request = json_str(&disposal["id"]).expect("request id");
    assert_eq!(state_of(&w, &id), "released", "deleted before approval");
    assert_eq!(object_paths(&w.gw).len(), 1);
    // Nobody approves their own request; staff never approve.
    let colleague = w.gw.user(&w.admin, "suzuki", "staff");
    assert!(!approve(&w, &w.staff, &request).status.success());
    assert!(!approve(&w, &colleague, &request).status.success());
    // The approver sees it among pending decisions and approves.
    let pending = w.gw.cli(&w.approver).run(&["pending"]);
    assert!(String::from_utf8_lossy(&pending.stdout).contains(&request));
    assert_success(&approve(&w, &w.approver, &request), "approve disposal");
    assert_eq!(state_of(&w, &id), "erased");
    assert!(object_paths(&w.gw).is_empty());
    let certificate = json_of(&w.gw.cli(&w.staff).run(&["--json", "deletion", "show", &id]));
    assert_eq!(certificate["approved_by"], "jicho");

    // A rejected disposal deletes nothing.
    let other = send(&w, "I", b"keep me");
    let disposal = json_of(
        &w.gw
            .cli(&w.staff)
            .run(&["--json", "dispose", &other, "--reason", "test"]),
    );
    let request = json_str(&disposal["id"]).expect("id");
    let code = w.gw.otp(&w.approver.totp_secret);
    assert_success(
        &w.gw
            .cli(&w.approver)
            .run(&["reject", &request, "--reason", "保存期間中", "--otp", &code]),
        "reject disposal",
    );
    assert_eq!(state_of(&w, &other), "pending_approval");
    assert_eq!(object_paths(&w.gw).len(), 1);
}

/// Opens a stored object the way the gateway does, from the material an
/// attacker might hold: master key, wrapped key (from a database copy),
/// key share and ciphertext.
fn try_decrypt(
    master: &str,
    wrapped: &[u8],
    share: Option<&[u8]>,
    ciphertext: &[u8],
) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let master = age::x25519::Identity::from_str(master.trim()).ok()?;
    let mut inner = Vec::new();
    age::Decryptor::new_buffered(wrapped)
        .ok()?
        .decrypt(std::iter::once(&master as &dyn age::Identity))
        .ok()?
        .read_to_end(&mut inner)
        .ok()?;
    let share: [u8; 32] = share?.try_into().ok()?;
    let cipher = chacha20poly1305::ChaCha20Poly1305::new((&share).into());
    let text = cipher
        .decrypt(&chacha20poly1305::Nonce::default(), inner.as_slice())
        .ok()?;
    let identity = age::x25519::Identity::from_str(std::str::from_utf8(&text).ok()?).ok()?;
    let mut plain = Vec::new();
    age::Decryptor::new_buffered(ciphertext)
        .ok()?
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .ok()?
        .read_to_end(&mut plain)
        .ok()?;
    Some(plain)
}

#[test]
fn r02_2_10_erased_content_cannot_be_decrypted_even_with_an_old_database_copy_and_the_master_key() {
    let w = world();
    let secret = b"residents' register: do not leak".to_vec();
    let id = send(&w, "III", &secret);
    let (object_id, share) = object_paths(&w.gw).pop().expect("one object");
    // The insider's haul before deletion: a database copy (the wrapped key),
    // the master key, and a copy of the stored ciphertext.
    let wrapped = {
        let events = sql_wrapped_key(&w.gw.database_url, &object_id);
        events.expect("wrapped key")
    };
    let master =
        std::fs::read_to_string(w.gw.data_dir().join("keys").join("master.key")).expect("master");
    let ciphertext = w.gw.stored_blob(&object_id).expect("the stored ciphertext");
    assert!(
        !ciphertext
            .windows(secret.len())
            .any(|win| win == secret.as_slice())
    );
    // Control: with the share still present the material does open it, so
    // the decryption below is a real attempt, not a broken one.
    let share_before = std::fs::read(&share).expect("share");
    assert_eq!(
        try_decrypt(&master, &wrapped, Some(&share_before), &ciphertext).as_deref(),
        Some(secret.as_slice())
    );

    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["dispose", &id, "--reason", "erase test"]),
        "dispose",
    );
    assert!(!share.exists(), "the key share survived");
    assert!(
        w.gw.stored_blob(&object_id).is_none(),
        "the ciphertext survived"
    );
    let share_after = std::fs::read(&share).ok();
    assert_eq!(
        try_decrypt(&master, &wrapped, share_after.as_deref(), &ciphertext),
        None,
        "erased content was decrypted from a database copy and the master key"
    );
    // Nor with any share that is left on the gateway.
    for (_, other) in object_paths(&w.gw) {
        let bytes = std::fs::read(other).ok();
        assert_eq!(
            try_decrypt(&master, &wrapped, bytes.as_deref(), &ciphertext),
            None
        );
    }
    // And the gateway's own database no longer holds the wrapped key.
    assert!(sql_wrapped_key(&w.gw.database_url, &object_id).is_none());
}

fn sql_wrapped_key(database_url: &str, object_id: &str) -> Option<Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        use sqlx::{Connection, Row};
        let mut conn = sqlx::AnyConnection::connect(database_url).await.ok()?;
        let row = sqlx::query("SELECT wrapped_key FROM objects WHERE id = $1")
            .bind(object_id)
            .fetch_optional(&mut conn)
            .await
            .ok()??;
        row.try_get::<Vec<u8>, _>("wrapped_key").ok()
    })
}

#[test]
fn r02_2_3_retention_deletes_on_schedule_without_anyone_asking() {
    let w = world_with(GatewayOptions {
        config_patch: vec![("housekeeping".into(), "interval_seconds".into(), "1".into())],
    });
    let released = send(&w, "III", b"released");
    let revoked = send(&w, "III", b"revoked");
    assert_success(
        &w.gw
            .cli(&w.staff)
            .run(&["revoke", &revoked, "--reason", "宛先誤り"]),
        "revoke",
    );
    // Revoked content goes at the next housekeeping round (closed_days = 0).
    wait_for(
        || deletion_done(&w.gw.database_url, &revoked),
        "revoked transfer erased",
    );
    assert_eq!(state_of(&w, &revoked), "erased");
    assert_eq!(state_of(&w, &released), "released");
    // Links expire after 7 days; the content is kept 7 more days.
    w.gw.advance(8 * 86_400);
    let _ = w.gw.login(&w.staff);
    wait_for(|| state_of(&w, &released) == "expired", "transfer expired");
    w.gw.advance(7 * 86_400);
    let _ = w.gw.login(&w.staff);
    wait_for(
        || deletion_done(&w.gw.database_url, &released),
        "expired transfer erased",
    );
    assert_eq!(state_of(&w, &released), "erased");
    let certificate = json_of(
        &w.gw
            .cli(&w.staff)
            .run(&["--json", "deletion", "show", &released]),
    );
    assert_eq!(certificate["trigger"], "retention");
    assert!(object_paths(&w.gw).is_empty());
}

fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    for _ in 0..60 {
        if condition() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn r01_3_a_deletion_interrupted_by_a_crash_finishes_at_restart() {
    let mut w = world();
    let id = send(&w, "III", b"to be erased");
    let (object_id, share) = object_paths(&w.gw).pop().expect("object");
    w.gw.set_env("SEKISHO_DANGER_CRASH_AFTER_KEYS_DESTROYED", Some("1"));
    w.gw.restart();
    let out =
        w.gw.cli(&w.staff)
            .run(&["dispose", &id, "--reason", "crash test"]);
    assert!(!out.status.success(), "the crash hook did not fire");
    eprintln!("dispose during crash: {}", text(&out));
    wait_for(|| w.gw.has_exited(), "gateway aborted");
    // Phase 1 committed: the key is gone from the database, bytes remain.
    assert!(w.gw.stored_blob(&object_id).is_some() && share.exists());
    w.gw.set_env("SEKISHO_DANGER_CRASH_AFTER_KEYS_DESTROYED", None);
    w.gw.restart();
    assert!(
        w.gw.stored_blob(&object_id).is_none(),
        "recovery did not remove the ciphertext"
    );
    assert!(!share.exists(), "recovery did not erase the key share");
    assert_eq!(state_of(&w, &id), "erased");
    let certificate = json_of(&w.gw.cli(&w.staff).run(&["--json", "deletion", "show", &id]));
    assert_eq!(certificate["reason"], "crash test");
}
