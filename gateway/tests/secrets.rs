//! Secrets never reach a log through `{:?}`: every type in the gateway that
//! holds a password, password hash, token part or wrapped secret masks it in
//! its `Debug`. (The configuration's database URL is tested in `config.rs`;
//! keys, key shares and object keys have no `Debug` at all.)

use sekisho_gateway::db::inbound::RequestRow;
use sekisho_gateway::db::transfers::LinkRow;
use sekisho_gateway::db::users::UserRow;
use sekisho_proto::vocab::{UploadRequestKind, UploadRequestState};
use sekisho_proto::{KeyKind, LinkState, Role};

const SECRET: &str = "hunter2";

#[test]
fn account_rows_hide_the_password_hash_and_the_totp_seed() {
    let row = UserRow {
        id: "u1".into(),
        username: "tanaka".into(),
        role: Role::Staff,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${SECRET}"),
        must_change_password: false,
        totp_secret_wrapped: SECRET.as_bytes().to_vec(),
        totp_last_step: 0,
        status: sekisho_proto::AccountStatus::Active,
        failed_logins: 0,
        locked_until: None,
        created_at: 0,
        email: Some("tanaka@example.jp".into()),
    };
    let shown = format!("{row:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains("argon2"),
        "{shown}"
    );
    // Bytes would otherwise print as a list of numbers.
    assert!(!shown.contains("104, 117, 110"), "{shown}");
    assert!(shown.contains("tanaka"), "the rest stays useful: {shown}");
}

#[test]
fn link_rows_hide_the_token_nonce_and_the_wrapped_passphrase() {
    let row = LinkRow {
        id: "l1".into(),
        transfer_id: "t1".into(),
        position: 0,
        name: "printer".into(),
        organisation: "org".into(),
        email: "p@example.jp".into(),
        key_kind: KeyKind::Passphrase,
        public_key: None,
        passphrase_wrapped: Some(SECRET.as_bytes().to_vec()),
        nonce: SECRET.into(),
        state: Some(LinkState::Active),
        expires_at: None,
        max_downloads: 3,
        downloads: 0,
    };
    let shown = format!("{row:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains("104, 117, 110"),
        "{shown}"
    );
    assert!(shown.contains("printer"), "{shown}");
}

#[test]
fn upload_request_rows_hide_the_token_nonce() {
    let row = RequestRow {
        id: "r1".into(),
        owner_id: "u1".into(),
        kind: UploadRequestKind::Link,
        sender_name: "sender".into(),
        sender_org: "org".into(),
        sender_email: "s@example.jp".into(),
        purpose: "p".into(),
        nonce: SECRET.into(),
        expires_at: 0,
        max_files: 1,
        max_bytes: 1,
        files_received: 0,
        bytes_received: 0,
        state: UploadRequestState::Open,
        created_at: 0,
        arrival_kind: None,
    };
    let shown = format!("{row:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("r1"), "{shown}");
}
