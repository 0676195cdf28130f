//! Policy conformance (issue 14): clauses of `../shared/policy/requirements.md`
//! that other suites covered only in part, each proven end to end through the
//! real binaries and named after its clause.
//!
//! - 6.(1)⑦(イ): only TLS 1.2 and 1.3 on both listeners, no plaintext HTTP.
//! - 5.(4)②(ウ): the gateway itself refuses weak passwords (the client checks
//!   first, so only a direct API call shows the gateway's own rule).
//! - 2.(2)⑤(ア), 5.(1)②: carry-outs, disposals and carry-ins need a stated
//!   purpose (a reason, for disposals); a blank one stores nothing.
//! - 2.(2)③(ウ): rejected transfers and uploads never submitted are erased by
//!   retention, and nothing that must stay is.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sekisho_e2e::*;
use serde_json::{Value, json};

struct World {
    gw: Gateway,
    admin: Account,
    staff: Account,
    approver: Account,
}

fn world_with(patches: &[(&str, &str, &str)]) -> World {
    let mut gw = Gateway::start_with(GatewayOptions {
        config_patch: patches
            .iter()
            .map(|(s, k, v)| (s.to_string(), k.to_string(), v.to_string()))
            .collect(),
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

// ---------------------------------------------------------------------------
// 6.(1)⑦(イ) TLS floor
// ---------------------------------------------------------------------------

/// `host:port` of a listener URL such as `https://127.0.0.1:4431`.
fn socket_of(url: &str) -> SocketAddr {
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("listener URL {url} is not host:port: {e}"))
}

fn connect(to: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect_timeout(&to, Duration::from_secs(5)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    tcp
}

/// Protocol versions as they appear on the wire (RFC 5246 §6.2.1,
/// RFC 8446 §4.1.2: `{3, 1}` is TLS 1.0, `{3, 2}` 1.1, `{3, 3}` 1.2).
const TLS_1_0: [u8; 2] = [0x03, 0x01];
const TLS_1_1: [u8; 2] = [0x03, 0x02];
const TLS_1_2: [u8; 2] = [0x03, 0x03];

/// Cipher suites a client of the TLS 1.0/1.1 era offers (ECDHE and RSA key
/// exchange with AES-CBC), followed by the AEAD suites of TLS 1.2. Every
/// hello below offers this same list, so the only thing that differs
/// between the refused hellos and the accepted control is the version: a
/// refusal cannot be about the ciphers.
const CIPHER_SUITES: [u16; 10] = [
    0xC009, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    0xC00A, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    0xC013, // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
    0xC014, // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    0x002F, // TLS_RSA_WITH_AES_128_CBC_SHA
    0x0035, // TLS_RSA_WITH_AES_256_CBC_SHA
    0xC02B, // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    0xC02F, // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    0xC02C, // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    0xC030, // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
];

fn push_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// `body` preceded by its length as a big-endian u16 (TLS vectors).
fn with_u16_length(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    push_u16(
        &mut out,
        u16::try_from(body.len()).expect("vector fits u16"),
    );
    out.extend_from_slice(body);
    out
}

/// One extension: type, then its data as a u16-length vector.
fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_u16(&mut out, kind);
    out.extend_from_slice(&with_u16_length(data));
    out
}

/// A ClientHello record offering exactly `version` and nothing newer: no
/// `supported_versions` extension (that is how TLS 1.3 is offered), so a
/// server may only answer with `version` or refuse. Built field by field
/// after RFC 5246 §7.4.1.2 so each byte is accounted for.
fn client_hello(version: [u8; 2]) -> Vec<u8> {
    let mut hello = Vec::new();
    // client_version: the highest (here: only) version the client speaks.
    hello.extend_from_slice(&version);
    // random: 32 bytes; their value does not matter to the server.
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    // session_id: empty (no resumption).
    hello.push(0);
    // cipher_suites: a u16-length vector of u16 codes.
    let mut suites = Vec::new();
    for suite in CIPHER_SUITES {
        push_u16(&mut suites, suite);
    }
    hello.extend_from_slice(&with_u16_length(&suites));
    // compression_methods: only `null`.
    hello.extend_from_slice(&[1, 0]);
    // Extensions every browser of the time sent, so that the hello is
    // acceptable in every respect except its version.
    let mut extensions = Vec::new();
    // server_name (RFC 6066 §3): a list of one host_name entry.
    let host = b"localhost";
    let mut name = vec![0u8]; // name_type host_name
    name.extend_from_slice(&with_u16_length(host));
    extensions.extend(extension(0x0000, &with_u16_length(&name)));
    // supported_groups (RFC 8422 §5.1.1): x25519, secp256r1, secp384r1.
    let mut groups = Vec::new();
    for group in [0x001Du16, 0x0017, 0x0018] {
        push_u16(&mut groups, group);
    }
    extensions.extend(extension(0x000A, &with_u16_length(&groups)));
    // ec_point_formats (RFC 8422 §5.1.2): uncompressed only.
    extensions.extend(extension(0x000B, &[1, 0]));
    // signature_algorithms (RFC 5246 §7.4.1.4.1): ECDSA P-256/SHA-256,
    // RSA-PSS/SHA-256, RSA PKCS#1/SHA-256, Ed25519. A TLS 1.0/1.1 server
    // ignores it; a TLS 1.2 server needs it to pick the certificate's.
    let mut schemes = Vec::new();
    for scheme in [0x0403u16, 0x0804, 0x0401, 0x0807] {
        push_u16(&mut schemes, scheme);
    }
    extensions.extend(extension(0x000D, &with_u16_length(&schemes)));
    hello.extend_from_slice(&with_u16_length(&extensions));

    // Handshake header: msg_type client_hello (1), then a u24 length.
    let length = u32::try_from(hello.len()).expect("hello length");
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&length.to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);

    // Record header: content type handshake (22), the record's version,
    // then a u16 length.
    let mut record = vec![0x16];
    record.extend_from_slice(&version);
    record.extend_from_slice(&with_u16_length(&handshake));
    record
}

/// What a server sent back to a hand-made ClientHello.
#[derive(Debug, PartialEq, Eq)]
enum HelloAnswer {
    /// A handshake record that starts with a ServerHello, at this version.
    ServerHello([u8; 2]),
    /// An alert record: (level, description).
    Alert(u8, u8),
    /// The connection was closed (or reset) with nothing sent.
    Closed,
    /// Anything else: the first bytes received.
    Other(Vec<u8>),
}

/// Reads until the first record header (and a few bytes of its body) are in,
/// the server closes, or the read times out.
fn read_first_bytes(tcp: &mut TcpStream, wanted: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let started = Instant::now();
    while got.len() < wanted && started.elapsed() < Duration::from_secs(10) {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            // A reset after an alert or instead of one: the server is done.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => panic!("reading the server's answer: {e}"),
        }
    }
    got
}

fn hello_answer(to: SocketAddr, version: [u8; 2]) -> HelloAnswer {
    let mut tcp = connect(to);
    tcp.write_all(&client_hello(version)).expect("send hello");
    tcp.flush().expect("flush");
    // Record header (5) + handshake type (1) + u24 length (3) + version (2).
    let got = read_first_bytes(&mut tcp, 11);
    match got.as_slice() {
        [] => HelloAnswer::Closed,
        [0x15, _, _, _, _, level, description, ..] => HelloAnswer::Alert(*level, *description),
        [0x16, _, _, _, _, 0x02, _, _, _, major, minor, ..] => {
            HelloAnswer::ServerHello([*major, *minor])
        }
        other => HelloAnswer::Other(other.to_vec()),
    }
}

/// TLS alert descriptions (RFC 5246 §7.2).
const ALERT_HANDSHAKE_FAILURE: u8 = 40;
const ALERT_PROTOCOL_VERSION: u8 = 70;

/// A rustls client that speaks only `version` and trusts the gateway's CA.
fn tls_client(
    gw: &Gateway,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(&gw.ca_file).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("ca cert")).expect("add ca");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Handshakes with only `version`, checks it was negotiated, sends one
/// request and returns the first line of the answer.
fn https_status_line(
    gw: &Gateway,
    to: SocketAddr,
    version: &'static rustls::SupportedProtocolVersion,
    path: &str,
) -> String {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(tls_client(gw, version), name).expect("tls");
    let mut tls = rustls::StreamOwned::new(connection, connect(to));
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .unwrap_or_else(|e| panic!("{:?} handshake with {to} failed: {e}", version.version));
    }
    assert_eq!(tls.conn.protocol_version(), Some(version.version));
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("request");
    tls.flush().expect("flush");
    let mut answer = Vec::new();
    // The gateway closes after `Connection: close`; rustls reports a close
    // without close_notify as an error, which does not matter here.
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn r06_1_7_i_only_tls_1_2_and_1_3_on_both_listeners_and_no_plaintext() {
    let gw = Gateway::start();
    let listeners = [
        ("internal", socket_of(&gw.internal_url), "/api/v1/health"),
        ("public", socket_of(&gw.public_url), "/healthz"),
    ];
    for (which, to, health) in listeners {
        // The control: the same hand-made hello at TLS 1.2 gets a
        // ServerHello, so the bytes are a well-formed hello and a refusal
        // below is about the version alone.
        assert_eq!(
            hello_answer(to, TLS_1_2),
            HelloAnswer::ServerHello(TLS_1_2),
            "{which}: the hand-made TLS 1.2 hello was not answered"
        );
        for (name, version) in [("TLS 1.0", TLS_1_0), ("TLS 1.1", TLS_1_1)] {
            match hello_answer(to, version) {
                HelloAnswer::Alert(level, description) => {
                    assert_eq!(level, 2, "{which}: {name}: the alert must be fatal");
                    assert!(
                        [ALERT_PROTOCOL_VERSION, ALERT_HANDSHAKE_FAILURE].contains(&description),
                        "{which}: {name}: unexpected alert {description}"
                    );
                }
                HelloAnswer::Closed => {}
                other => panic!("{which}: a {name} hello was answered with {other:?}"),
            }
        }
        // rustls clients restricted to one version each: both work, end to end.
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let line = https_status_line(&gw, to, version, health);
            assert!(
                line.starts_with("HTTP/1.1 200"),
                "{which}: {:?}: {line}",
                version.version
            );
        }
        // Plaintext HTTP on the TLS port gets no HTTP answer.
        let mut tcp = connect(to);
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("plain request");
        let answer = read_first_bytes(&mut tcp, 64);
        // rustls answers bytes that are no TLS record with a decode_error
        // alert; closing without a word would do as well.
        assert!(
            answer.is_empty() || answer.first() == Some(&0x15),
            "{which}: plaintext HTTP got something other than a TLS alert: {answer:?}"
        );
        assert!(
            !String::from_utf8_lossy(&answer).contains("HTTP/"),
            "{which}: plaintext HTTP was answered: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
}

// ---------------------------------------------------------------------------
// 5.(4)②(ウ) password rule, enforced by the gateway
// ---------------------------------------------------------------------------

#[test]
fn r05_4_2_u_the_gateway_refuses_weak_passwords_and_keeps_the_old_one() {
    let w = world_with(&[]);
    let http = w.gw.http();
    let url = format!("{}/api/v1/password", w.gw.internal_url);
    let token = w.gw.token(&w.staff);
    // Each weak password misses exactly one thing; the refusal must name it.
    let weak = [
        ("Short-Pw-1", "12 characters"),
        ("no-upper-case-9", "upper-case"),
        ("NO-LOWER-CASE-9", "lower-case"),
        ("No-Digits-Here!", "digit"),
        ("NoSymbols12345", "symbol"),
        // Spaces are not symbols.
        ("No Symbols 12345", "symbol"),
    ];
    for (password, missing) in weak {
        let answer = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "current_password": w.staff.password, "new_password": password }))
            .send()
            .expect("change password");
        assert_eq!(answer.status().as_u16(), 400, "{password} was accepted");
        let body: Value = answer.json().expect("error body");
        assert_eq!(body["code"], "weak_password", "{password}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(missing) && message.contains("5.(4)②(ウ)"),
            "{password}: the message should name '{missing}' and the clause: {message}"
        );
    }
    // The same password again is refused too, with its own code.
    let answer = http
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "current_password": w.staff.password, "new_password": w.staff.password }))
        .send()
        .expect("change password");
    assert_eq!(answer.status().as_u16(), 400);
    let body: Value = answer.json().expect("error body");
    assert_eq!(body["code"], "same_password", "{body}");
    assert!(!body["message"].as_str().unwrap_or_default().is_empty());

    // Nothing changed: the session still works and the old password logs in.
    let whoami = http
        .get(format!("{}/api/v1/whoami", w.gw.internal_url))
        .bearer_auth(&token)
        .send()
        .expect("whoami");
    assert_eq!(
        whoami.status().as_u16(),
        200,
        "a refused change ended the session"
    );
    assert_success(&w.gw.login(&w.staff), "login with the old password");
}

// ---------------------------------------------------------------------------
// 2.(2)⑤(ア), 5.(1)② a purpose for every carry-out, disposal and carry-in
// ---------------------------------------------------------------------------

/// Blank purposes a clerk could type: nothing, spaces, the full-width space
/// of a Japanese input method, and characters that render as nothing (a
/// zero-width space pasted from a web page, a byte-order mark), which look
/// as empty on every screen and in every report.
const BLANKS: [&str; 5] = [
    "",
    "   ",
    "\u{3000}\u{3000}",
    "\u{200B}\u{200B}",
    "\u{FEFF} \u{200D}",
];

/// Row counts of every table a carry-out, disposal or carry-in writes, and
/// the audit events whose outcome is not a refusal.
fn stored_counts(w: &World) -> (Vec<String>, Vec<String>) {
    let counts = [
        "transfers",
        "transfer_files",
        "objects",
        "deletions",
        "media_disposals",
    ]
    .iter()
    .map(|table| {
        let rows = query_text(
            &w.gw.database_url,
            &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"),
        )
        .expect("count");
        format!(
            "{table}={}",
            rows.first()
                .and_then(|r| r.first().cloned().flatten())
                .unwrap_or_default()
        )
    })
    .collect();
    let accepted = stored_events(&w.gw.database_url)
        .expect("events")
        .into_iter()
        .filter(|e| e.outcome == "ok")
        // Logging in is not what is measured here.
        .filter(|e| !e.action.starts_with("login."))
        .map(|e| format!("{} {}", e.action, e.object))
        .collect();
    (counts, accepted)
}

fn assert_refused_blank(answer: reqwest::blocking::Response, what: &str, codes: &[&str]) {
    let status = answer.status().as_u16();
    let body: Value = answer.json().unwrap_or(Value::Null);
    assert_eq!(status, 400, "{what} was not refused: {body}");
    let code = body["code"].as_str().unwrap_or_default();
    assert!(codes.contains(&code), "{what}: code {code}: {body}");
    assert!(
        !body["message"].as_str().unwrap_or_default().is_empty(),
        "{what}: no message: {body}"
    );
}

#[test]
fn r02_2_5_a_r05_1_2_carry_outs_disposals_and_carry_ins_need_a_purpose() {
    let w = world_with(&[]);
    let http = w.gw.http();
    let base = &w.gw.internal_url;
    let staff_token = w.gw.token(&w.staff);
    let admin_token = w.gw.token(&w.admin);
    assert_success(
        &w.gw
            .cli(&w.admin)
            .run(&["media", "register", "USB-001", "--label", "課のUSB"]),
        "register",
    );
    // A released class III transfer to ask a disposal of.
    add_age_partner(&w.gw, &w.staff);
    let doc = w.gw.dir.path().join("notice.txt");
    std::fs::write(&doc, "説明会のお知らせ").expect("file");
    let doc = doc.display().to_string();
    let sent = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "send",
        &doc,
        "--class",
        "III",
        "--to",
        "partner",
        "--purpose",
        "お知らせの送付",
    ]));
    let transfer = json_str(&sent["transfer"]["id"]).expect("id");
    let before = stored_counts(&w);

    for blank in BLANKS {
        // Carry-out: the client refuses, and so does the gateway.
        let out = w.gw.cli(&w.staff).run(&[
            "media",
            "checkout",
            "--medium",
            "USB-001",
            "--purpose",
            blank,
            "--return-by",
            "2030-01-31",
            "--class",
            "III",
            &doc,
        ]);
        assert_failure(&out, "purpose");
        let answer = http
            .post(format!("{base}/api/v1/transfers"))
            .bearer_auth(&staff_token)
            .json(&json!({
                "class": "III",
                "purpose": blank,
                "recipients": [],
                "files": [{ "name": "notice.txt", "size": 24 }],
                "medium": "USB-001",
                "return_by": "2030-01-31",
            }))
            .send()
            .expect("carry-out");
        assert_refused_blank(
            answer,
            "a carry-out with a blank purpose",
            &["purpose_missing"],
        );

        // Disposal of stored content: a blank reason.
        let out =
            w.gw.cli(&w.staff)
                .run(&["dispose", &transfer, "--reason", blank]);
        assert!(
            !out.status.success(),
            "dispose accepted a blank reason:\n{}",
            text(&out)
        );
        let answer = http
            .post(format!("{base}/api/v1/disposals"))
            .bearer_auth(&staff_token)
            .json(&json!({ "object": transfer, "reason": blank }))
            .send()
            .expect("disposal");
        assert_refused_blank(answer, "a disposal with a blank reason", &["missing_field"]);

        // Wiping or disposing of a medium: a blank reason.
        let out = w.gw.cli(&w.admin).run(&[
            "media",
            "dispose",
            "USB-001",
            "--kind",
            "wipe",
            "--method",
            "全領域上書き消去",
            "--reason",
            blank,
        ]);
        assert_failure(&out, "reason");
        let answer = http
            .post(format!("{base}/api/v1/media/USB-001/disposal"))
            .bearer_auth(&admin_token)
            .json(&json!({ "kind": "wipe", "method": "全領域上書き消去", "reason": blank }))
            .send()
            .expect("medium disposal");
        assert_refused_blank(
            answer,
            "a medium wipe with a blank reason",
            &["missing_field"],
        );

        // Carry-in of an outside medium: a blank purpose.
        let out = w.gw.cli(&w.staff).run(&[
            "media",
            "carry-in",
            "VENDOR-CD-1",
            "--purpose",
            blank,
            "--origin",
            "萩設計",
        ]);
        assert_failure(&out, "purpose");
        let answer = http
            .post(format!("{base}/api/v1/media/VENDOR-CD-1/carry-in"))
            .bearer_auth(&staff_token)
            .json(&json!({ "purpose": blank, "origin": "萩設計" }))
            .send()
            .expect("carry-in");
        assert_refused_blank(
            answer,
            "a carry-in with a blank purpose",
            &["missing_field"],
        );
    }
    // A carry-out with no purpose field at all is refused the same way.
    let answer = http
        .post(format!("{base}/api/v1/transfers"))
        .bearer_auth(&staff_token)
        .json(&json!({
            "class": "III",
            "recipients": [],
            "files": [{ "name": "notice.txt", "size": 24 }],
            "medium": "USB-001",
            "return_by": "2030-01-31",
        }))
        .send()
        .expect("carry-out");
    assert_refused_blank(
        answer,
        "a carry-out without a purpose",
        &["purpose_missing"],
    );

    // Nothing was stored and nothing was recorded as done.
    assert_eq!(stored_counts(&w), before);
    let ledger = json_of(&w.gw.cli(&w.staff).run(&["--json", "media", "list"]));
    assert_eq!(ledger[0]["state"], "available", "{ledger}");
    assert_eq!(
        json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &transfer]))["state"],
        "released"
    );
}

// ---------------------------------------------------------------------------
// 2.(2)③(ウ) drafts no longer needed are erased
// ---------------------------------------------------------------------------

fn state_of(w: &World, id: &str) -> String {
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", id]));
    json_str(&shown["state"]).expect("state")
}

/// The stored objects of a transfer's files (read before an erase: erasing
/// may clear the link).
fn objects_of(w: &World, transfer: &str) -> Vec<String> {
    let rows = query_text(
        &w.gw.database_url,
        &format!(
            "SELECT object_id FROM transfer_files WHERE transfer_id = '{transfer}' ORDER BY idx"
        ),
    )
    .expect("objects");
    let ids: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    assert!(!ids.is_empty(), "{transfer} has no stored object");
    ids
}

/// Whether each object's blob and key share are both still on disk.
fn content_kept(w: &World, objects: &[String]) -> bool {
    let listing = store_listing(&w.gw);
    objects
        .iter()
        .all(|id| listing.blobs.contains(id) && listing.shares.contains(id))
}

/// Whether the blob and the key share of every object are gone.
fn content_gone(w: &World, objects: &[String]) -> bool {
    let listing = store_listing(&w.gw);
    objects
        .iter()
        .all(|id| !listing.blobs.contains(id) && !listing.shares.contains(id))
}

fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    for _ in 0..60 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("timed out waiting for: {what}");
}

fn send(w: &World, class: &str, name: &str, contents: &[u8]) -> String {
    let path = w.gw.dir.path().join(name);
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
        "下書き消去の確認",
    ]));
    json_str(&sent["transfer"]["id"]).expect("id")
}

/// The retention certificate of an erased transfer, checked.
fn assert_retention_certificate(w: &World, transfer: &str, reason_word: &str) {
    let certificate = json_of(
        &w.gw
            .cli(&w.staff)
            .run(&["--json", "deletion", "show", transfer]),
    );
    assert_eq!(certificate["object"], transfer, "{certificate}");
    assert_eq!(certificate["trigger"], "retention", "{certificate}");
    assert!(
        certificate["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(reason_word),
        "{certificate}"
    );
    let events = stored_events(&w.gw.database_url).expect("events");
    for action in ["deletion.erase", "deletion.done"] {
        assert!(
            events
                .iter()
                .any(|e| e.action == action && e.object.contains(transfer)),
            "no {action} for {transfer}"
        );
    }
}

#[test]
fn r02_2_3_u_rejected_transfers_and_abandoned_uploads_are_erased_and_nothing_else() {
    let w = world_with(&[("housekeeping", "interval_seconds", "1")]);
    add_age_partner(&w.gw, &w.staff);
    // What must stay: one waiting for its approver, one released.
    let pending = send(&w, "II", "pending.txt", b"waiting for the approver");
    let released = send(&w, "III", "released.txt", b"released to the partner");
    // A draft uploaded but never submitted (the client always submits, so
    // the API is driven directly, as an interrupted client leaves it).
    let http = w.gw.http();
    let token = w.gw.token(&w.staff);
    let draft_bytes = b"an upload nobody submitted";
    let created: Value = http
        .post(format!("{}/api/v1/transfers", w.gw.internal_url))
        .bearer_auth(&token)
        .json(&json!({
            "class": "III",
            "purpose": "途中で止めた送付",
            "recipients": ["partner"],
            "files": [{ "name": "draft.txt", "size": draft_bytes.len() }],
        }))
        .send()
        .expect("create")
        .json()
        .expect("created");
    let draft = json_str(&created["id"]).expect("draft id");
    let uploaded = http
        .put(format!(
            "{}/api/v1/transfers/{draft}/files/0",
            w.gw.internal_url
        ))
        .bearer_auth(&token)
        .body(draft_bytes.to_vec())
        .send()
        .expect("upload");
    assert!(
        uploaded.status().is_success(),
        "upload: {}",
        uploaded.status()
    );
    assert_eq!(state_of(&w, &draft), "uploading");
    // The one to reject.
    let rejected = send(&w, "II", "rejected.txt", b"refused by the approver");
    let (pending_objects, released_objects, draft_objects, rejected_objects) = (
        objects_of(&w, &pending),
        objects_of(&w, &released),
        objects_of(&w, &draft),
        objects_of(&w, &rejected),
    );
    for objects in [
        &pending_objects,
        &released_objects,
        &draft_objects,
        &rejected_objects,
    ] {
        assert!(
            content_kept(&w, objects),
            "content missing before any erase"
        );
    }

    let code = w.gw.otp(&w.approver.totp_secret);
    assert_success(
        &w.gw.cli(&w.approver).run(&[
            "reject",
            &rejected,
            "--reason",
            "宛先の確認が必要",
            "--otp",
            &code,
        ]),
        "reject",
    );
    // closed_days = 0: the rejected content goes at the next round.
    wait_for(
        || deletion_done(&w.gw.database_url, &rejected),
        "rejected transfer erased",
    );
    assert_eq!(state_of(&w, &rejected), "erased");
    assert!(
        content_gone(&w, &rejected_objects),
        "rejected content left behind"
    );
    assert_retention_certificate(&w, &rejected, "rejected");
    // The record stays, with its history: who rejected it and why.
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &rejected]));
    assert_eq!(shown["purpose"], "下書き消去の確認", "{shown}");
    assert_eq!(shown["decision"]["decision"], "rejected", "{shown}");
    assert_eq!(shown["decision"]["by"], "jicho", "{shown}");
    assert_eq!(shown["decision"]["comment"], "宛先の確認が必要", "{shown}");
    assert_eq!(shown["files"][0]["name"], "rejected.txt", "{shown}");
    assert_eq!(
        shown["files"][0]["sha256"],
        sha256_hex(b"refused by the approver").as_str(),
        "{shown}"
    );
    let events = stored_events(&w.gw.database_url).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.action == "transfer.reject" && e.object.contains(&rejected)),
        "the rejection is no longer in the log"
    );

    // Less than abandoned_upload_hours (24) later, the draft is still kept;
    // a few rounds run first so a wrong erase would have happened.
    w.gw.advance(23 * 3600);
    // Sessions do not last a day: log in again to look.
    assert_success(&w.gw.login(&w.staff), "login after a day");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(state_of(&w, &draft), "uploading");
    assert!(content_kept(&w, &draft_objects), "the draft went too early");
    // Past 24 hours it goes.
    w.gw.advance(2 * 3600);
    assert_success(&w.gw.login(&w.staff), "login two hours later");
    wait_for(
        || deletion_done(&w.gw.database_url, &draft),
        "abandoned upload erased",
    );
    assert_eq!(state_of(&w, &draft), "erased");
    assert!(
        content_gone(&w, &draft_objects),
        "draft content left behind"
    );
    assert_retention_certificate(&w, &draft, "abandoned");
    // Its record stays too: what was being uploaded, by whom, for what.
    let shown = json_of(&w.gw.cli(&w.staff).run(&["--json", "show", &draft]));
    assert_eq!(shown["sender"], "tanaka", "{shown}");
    assert_eq!(shown["purpose"], "途中で止めた送付", "{shown}");
    assert_eq!(shown["files"][0]["name"], "draft.txt", "{shown}");
    assert!(
        shown["released_at"].is_null(),
        "a draft was released: {shown}"
    );

    // Nothing that must stay was erased: the pending transfer still waits
    // for its approver, the released one is live until its links expire.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(state_of(&w, &pending), "pending_approval");
    assert_eq!(state_of(&w, &released), "released");
    assert!(content_kept(&w, &pending_objects), "pending content erased");
    assert!(
        content_kept(&w, &released_objects),
        "released content erased"
    );
}
