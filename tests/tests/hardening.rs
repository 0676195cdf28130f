//! The Internet-facing side under attack and outage (policy 6.(1)⑦, 6.(5)):
//! security headers, framework refusals as JSON, slow and greedy clients,
//! per-address throttles, refusals as evidence, step-up lockout, readiness.
//! Everything goes through the real gateway over real TLS connections.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sekisho_e2e::*;
use serde_json::{Value, json};

struct World {
    gw: Gateway,
    admin: Account,
    staff: Account,
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
    World { gw, admin, staff }
}

/// A class III transfer (released at once) and its recipient's link.
fn released_link(w: &World) -> String {
    let (_, recipient) = age_identity(w.gw.dir.path(), "resident");
    let out = w.gw.cli(&w.staff).run(&[
        "recipient",
        "add",
        "resident",
        "--org",
        "Hagi",
        "--email",
        "resident@example.jp",
        "--age-key",
        &recipient,
    ]);
    assert_success(&out, "recipient add");
    let file = w.gw.dir.path().join("notice.txt");
    std::fs::write(&file, "ごみ収集日のお知らせ".repeat(1000)).expect("file");
    let sent = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "send",
        &file.display().to_string(),
        "--class",
        "III",
        "--to",
        "resident",
        "--purpose",
        "お知らせの送付",
    ]));
    let id = json_str(&sent["transfer"]["id"]).expect("id");
    let links = json_of(&w.gw.cli(&w.staff).run(&["--json", "link", &id]));
    json_str(&links[0]["url"]).expect("url")
}

fn address_of(url: &str) -> SocketAddr {
    let host = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    host.parse().expect("listener address")
}

fn header<'a>(response: &'a reqwest::blocking::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn assert_security_headers(response: &reqwest::blocking::Response, what: &str) {
    assert!(
        header(response, "strict-transport-security").starts_with("max-age="),
        "{what}: HSTS"
    );
    assert_eq!(
        header(response, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(response, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(response, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(response, "cache-control"), "no-store", "{what}");
    let csp = header(response, "content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp}"
    );
    assert!(!csp.contains("unsafe"), "{what}: CSP {csp}");
}

#[test]
fn r06_1_7_every_answer_carries_the_security_headers() {
    let w = world_with(&[]);
    let url = released_link(&w);
    let http = w.gw.http();
    let page = http.get(&url).send().expect("page");
    assert_eq!(page.status().as_u16(), 200);
    assert_security_headers(&page, "download page");
    let download = http.post(&url).send().expect("download");
    assert_eq!(download.status().as_u16(), 200);
    assert_security_headers(&download, "download");
    let missing = http
        .get(format!(
            "{}/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            w.gw.public_url
        ))
        .send()
        .expect("missing link");
    assert_security_headers(&missing, "missing link page");
    for path in ["/healthz", "/readyz"] {
        let answer = http
            .get(format!("{}{path}", w.gw.public_url))
            .send()
            .expect("probe");
        assert_security_headers(&answer, path);
    }
    let api = http
        .get(format!("{}/api/v1/whoami", w.gw.internal_url))
        .send()
        .expect("api");
    assert_eq!(api.status().as_u16(), 401);
    assert_security_headers(&api, "API refusal");
}

#[test]
fn framework_refusals_answer_the_documented_json_error() {
    let w = world_with(&[]);
    let http = w.gw.http();
    let login = format!("{}/api/v1/login", w.gw.internal_url);
    let cases = [
        (
            http.post(&login)
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "unsupported_media_type",
        ),
        (
            http.post(&login)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "bad_request",
        ),
        (
            http.post(&login).json(&json!({"username": 1})),
            422,
            "bad_request",
        ),
        (
            http.get(format!("{}/api/v1/no-such-thing", w.gw.internal_url)),
            404,
            "not_found",
        ),
        (http.delete(&login), 405, "method_not_allowed"),
        (
            http.get(format!(
                "{}/api/v1/audit/events?after=minus",
                w.gw.internal_url
            ))
            .bearer_auth(w.gw.token(&w.admin)),
            400,
            "bad_request",
        ),
    ];
    for (request, status, code) in cases {
        let answer = request.send().expect("request");
        assert_eq!(answer.status().as_u16(), status);
        assert!(
            header(&answer, "content-type").starts_with("application/json"),
            "{status}: {}",
            header(&answer, "content-type")
        );
        let body: Value = answer.json().expect("JSON error body");
        assert_eq!(body["code"], code, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{body}");
    }
}

/// A TLS client that trusts the gateway's CA, for hand-made requests.
fn tls_config(gw: &Gateway) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(&gw.ca_file).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("ca cert")).expect("add ca");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A TCP connection to `to` from the loopback address `from`, so that
/// one test can be many clients.
fn connect_from(from: IpAddr, to: SocketAddr) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(from, 0)).expect("bind");
        socket.connect(to).await.expect("connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream
}

fn tls_from(config: &Arc<rustls::ClientConfig>, from: IpAddr, to: SocketAddr) -> Tls {
    let tcp = connect_from(from, to);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(config.clone(), name).expect("tls");
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("handshake");
    }
    tls
}

/// Whether the gateway closed the connection within `within`.
fn closed_within(read: &mut dyn Read, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        match read.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if started.elapsed() >= within {
                    return false;
                }
            }
            Err(_) => return true,
        }
        if started.elapsed() >= within {
            return false;
        }
    }
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

#[test]
fn r06_1_7_hundreds_of_slow_clients_are_cut_and_a_download_still_succeeds() {
    let w = world_with(&[
        ("http", "tls_handshake_seconds", "3"),
        ("http", "header_read_seconds", "3"),
        ("http", "max_connections_per_address", "40"),
    ]);
    let url = released_link(&w);
    let public = address_of(&w.gw.public_url);
    let config = tls_config(&w.gw);

    // 150 clients that finish the handshake and send half a request, and
    // 150 that open a connection and send nothing, from eight addresses.
    let mut half_requests = Vec::new();
    for n in 0..150u8 {
        let mut tls = tls_from(&config, loopback(2 + n % 8), public);
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .expect("half a request");
        tls.flush().expect("flush");
        half_requests.push(tls);
    }
    let mut silent = Vec::new();
    for n in 0..150u8 {
        silent.push(connect_from(loopback(2 + n % 8), public));
    }
    let held_at = Instant::now();

    // Meanwhile a recipient downloads, from an address of their own.
    let started = Instant::now();
    let package = w.gw.http().post(&url).send().expect("download");
    assert_eq!(package.status().as_u16(), 200);
    let bytes = package.bytes().expect("package");
    let took = started.elapsed();
    assert!(!bytes.is_empty());
    assert!(took < Duration::from_secs(2), "the download took {took:?}");
    assert!(
        held_at.elapsed() < Duration::from_secs(3),
        "the slow clients were still within their time when the download ran"
    );

    // After the time-outs every slow connection is gone.
    let deadline = Duration::from_secs(8);
    for tls in &mut half_requests {
        tls.sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
    }
    for stream in &mut silent {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
    }
    let open_half = half_requests
        .iter_mut()
        .map(|tls| closed_within(tls, deadline.saturating_sub(held_at.elapsed())))
        .filter(|closed| !closed)
        .count();
    let open_silent = silent
        .iter_mut()
        .map(|s| closed_within(s, deadline.saturating_sub(held_at.elapsed())))
        .filter(|closed| !closed)
        .count();
    assert_eq!(
        (open_half, open_silent),
        (0, 0),
        "slow connections still open after the time-outs"
    );
    // And the gateway still serves.
    let page = w.gw.http().get(&url).send().expect("page");
    assert_eq!(page.status().as_u16(), 200);
}

#[test]
fn r06_1_7_connections_over_the_cap_of_an_address_are_closed_at_once() {
    let w = world_with(&[
        ("http", "max_connections_per_address", "10"),
        ("http", "tls_handshake_seconds", "30"),
    ]);
    let public = address_of(&w.gw.public_url);
    let mut held: Vec<_> = (0..10)
        .map(|_| connect_from(loopback(20), public))
        .collect();
    // Give the gateway time to accept all ten.
    std::thread::sleep(Duration::from_millis(300));
    let mut over = connect_from(loopback(20), public);
    over.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(
        closed_within(&mut over, Duration::from_secs(3)),
        "the eleventh connection from one address was kept"
    );
    // Another address is not affected, nor is the first one's tenth.
    let other =
        w.gw.http()
            .get(format!("{}/healthz", w.gw.public_url))
            .send();
    assert_eq!(other.expect("healthz").status().as_u16(), 200);
    held[9]
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(!closed_within(&mut held[9], Duration::from_millis(500)));
}

/// Sends a login body in pieces, `pause` apart; the answer's status line.
fn login_in_pieces(
    tls: &mut Tls,
    pieces: usize,
    pause: Duration,
    stop_after: Option<usize>,
) -> String {
    let body = br#"{"username":"nobody","password":"Wrong-Password-1","otp":"000000"}"#;
    let head = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).expect("head");
    tls.flush().expect("flush");
    let size = body.len().div_ceil(pieces);
    for (n, piece) in body.chunks(size).enumerate() {
        if stop_after == Some(n) {
            break;
        }
        std::thread::sleep(pause);
        tls.write_all(piece).expect("piece");
        tls.flush().expect("flush");
    }
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn r06_1_7_an_honest_slow_body_goes_on_and_a_stalled_one_is_cut() {
    let w = world_with(&[("http", "idle_body_seconds", "2")]);
    let internal = address_of(&w.gw.internal_url);
    let config = tls_config(&w.gw);
    // Seven pieces a second apart: slower in all than the idle time-out,
    // never idle for as long.
    let mut slow = tls_from(&config, loopback(1), internal);
    let status = login_in_pieces(&mut slow, 7, Duration::from_secs(1), None);
    assert!(
        status.contains(" 401 "),
        "the slow login was not heard: {status}"
    );
    // Half the body, then nothing: cut after the idle time-out.
    let mut stalled = tls_from(&config, loopback(1), internal);
    let started = Instant::now();
    let status = login_in_pieces(&mut stalled, 4, Duration::ZERO, Some(2));
    let took = started.elapsed();
    assert!(
        !status.contains(" 401 ") && !status.contains(" 200 "),
        "a stalled body was answered as if whole: {status}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the stalled body was kept {took:?}"
    );
}

fn client_from(gw: &Gateway, from: IpAddr) -> reqwest::blocking::Client {
    let ca = std::fs::read(&gw.ca_file).expect("ca");
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .tls_backend_rustls()
        .local_address(from)
        .build()
        .expect("client")
}

fn get_from(gw: &Gateway, from: IpAddr, url: &str) -> reqwest::blocking::Response {
    client_from(gw, from).get(url).send().expect("request")
}

#[test]
fn r06_5_token_guesses_and_password_spraying_are_throttled_per_address() {
    let w = world_with(&[
        ("http", "public_requests_per_minute", "10"),
        ("http", "login_attempts_per_minute", "5"),
    ]);
    let guess = |n: usize| format!("{}/d/{}", w.gw.public_url, "A".repeat(40 + n % 3));
    let mut statuses = Vec::new();
    for n in 0..12 {
        statuses.push(get_from(&w.gw, loopback(30), &guess(n)).status().as_u16());
    }
    assert!(statuses[..10].iter().all(|s| *s != 429), "{statuses:?}");
    let refused = get_from(&w.gw, loopback(30), &guess(12));
    assert_eq!(refused.status().as_u16(), 429);
    let wait: u64 = header(&refused, "retry-after").parse().unwrap_or(0);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = refused.json().expect("json");
    assert_eq!(body["code"], "throttled");
    // Probes are not throttled, and another address is not affected.
    let probe = get_from(&w.gw, loopback(30), &format!("{}/healthz", w.gw.public_url));
    assert_eq!(probe.status().as_u16(), 200);
    assert_ne!(
        get_from(&w.gw, loopback(31), &guess(0)).status().as_u16(),
        429
    );

    // One password tried over many accounts from one address (not the
    // one the test's own logins came from).
    let http = client_from(&w.gw, loopback(32));
    let login = format!("{}/api/v1/login", w.gw.internal_url);
    let mut statuses = Vec::new();
    for name in [
        "admin", "tanaka", "ciso", "jicho", "kacho", "sato", "suzuki",
    ] {
        let answer = http
            .post(&login)
            .json(&json!({"username": name, "password": "Spring-2026-Pass", "otp": "123456"}))
            .send()
            .expect("login");
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert_eq!(&statuses[5..], &[429; 2], "{statuses:?}");
    // No account was locked by the spraying beyond its own attempts.
    let events = stored_events(&w.gw.database_url).expect("events");
    let failures = events
        .iter()
        .filter(|e| e.action == "login.fail" && e.source == "127.0.0.32")
        .count();
    assert_eq!(
        failures, 5,
        "throttled attempts must not reach the accounts"
    );
}

fn approver_with_pending(w: &World) -> (Account, String) {
    let approver = w.gw.user(&w.admin, "jicho", "approver");
    let (_, recipient) = age_identity(w.gw.dir.path(), "vendor");
    let out = w.gw.cli(&w.staff).run(&[
        "recipient",
        "add",
        "vendor",
        "--org",
        "Hagi",
        "--email",
        "vendor@example.jp",
        "--age-key",
        &recipient,
    ]);
    assert_success(&out, "recipient add");
    let file = w.gw.dir.path().join("budget.xlsx");
    std::fs::write(&file, b"budget figures").expect("file");
    let sent = json_of(&w.gw.cli(&w.staff).run(&[
        "--json",
        "send",
        &file.display().to_string(),
        "--class",
        "II",
        "--to",
        "vendor",
        "--purpose",
        "予算資料の送付",
    ]));
    assert_eq!(sent["transfer"]["state"], "pending_approval");
    (approver, json_str(&sent["transfer"]["id"]).expect("id"))
}

#[test]
fn r06_5_2_refused_requests_of_a_logged_in_actor_are_recorded_and_bounded() {
    let w = world_with(&[]);
    let (_approver, id) = approver_with_pending(&w);
    let other = w.gw.user(&w.admin, "suzuki", "staff");
    let token = w.gw.token(&other);
    let http = w.gw.http();
    // Someone else's transfer (404) and the account list, for system staff only (403).
    let shown = http
        .get(format!("{}/api/v1/transfers/{id}", w.gw.internal_url))
        .bearer_auth(&token)
        .send()
        .expect("show");
    assert_eq!(shown.status().as_u16(), 404);
    let users = http
        .get(format!("{}/api/v1/admin/users", w.gw.internal_url))
        .bearer_auth(&token)
        .send()
        .expect("users");
    assert_eq!(users.status().as_u16(), 403);
    let events = stored_events(&w.gw.database_url).expect("events");
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.action == "access.refused" && e.actor == "suzuki")
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].object, "route:GET /api/v1/transfers/{id}");
    assert_eq!(refused[1].object, "route:GET /api/v1/admin/users");
    assert!(
        refused
            .iter()
            .all(|e| e.outcome == "denied" && e.source == "127.0.0.1")
    );
    let detail: Value = serde_json::from_str(&refused[0].detail).expect("detail");
    assert_eq!(detail["status"], 404);

    // A flood of refusals writes a bounded number of events.
    for _ in 0..60 {
        let _ = http
            .get(format!("{}/api/v1/transfers/{id}", w.gw.internal_url))
            .bearer_auth(&token)
            .send()
            .expect("probe");
    }
    let events = stored_events(&w.gw.database_url).expect("events");
    let recorded = events
        .iter()
        .filter(|e| e.action == "access.refused" && e.actor == "suzuki")
        .count();
    assert!(
        (20..=22).contains(&recorded),
        "62 refusals wrote {recorded} events"
    );
    // Anonymous refusals are not access events (login failures are).
    assert!(
        events
            .iter()
            .all(|e| e.action != "access.refused" || !e.actor.is_empty())
    );
}

#[test]
fn r05_4_2_wrong_step_up_codes_lock_the_account_and_end_its_sessions() {
    let w = world_with(&[]);
    let (approver, id) = approver_with_pending(&w);
    let token = w.gw.token(&approver);
    let http = w.gw.http();
    let approve = format!("{}/api/v1/transfers/{id}/approve", w.gw.internal_url);
    let shown: Value = http
        .get(format!("{}/api/v1/transfers/{id}", w.gw.internal_url))
        .bearer_auth(&token)
        .send()
        .expect("show")
        .json()
        .expect("transfer");
    let digest = json_str(&shown["content_digest"]).expect("digest");
    for n in 0..5 {
        let answer = http
            .post(&approve)
            .bearer_auth(&token)
            .json(&json!({"otp": format!("{:06}", 100_000 + n), "content_digest": digest}))
            .send()
            .expect("approve");
        assert_eq!(answer.status().as_u16(), 403, "attempt {n}");
    }
    // The fifth wrong code locked the account and ended the session.
    let after = http
        .get(format!("{}/api/v1/whoami", w.gw.internal_url))
        .bearer_auth(&token)
        .send();
    assert_eq!(after.expect("whoami").status().as_u16(), 401);
    let events = stored_events(&w.gw.database_url).expect("events");
    let failed = events
        .iter()
        .filter(|e| e.action == "stepup.fail" && e.actor == "jicho")
        .count();
    assert_eq!(failed, 5);
    assert!(
        events
            .iter()
            .any(|e| e.action == "user.lock" && e.actor == "jicho")
    );
    let transfer = events
        .iter()
        .filter(|e| e.action == "transfer.approve")
        .count();
    assert_eq!(transfer, 0, "nothing was approved");

    // Locked: the right password and code answer exactly like a wrong
    // password, and like a name that does not exist.
    let login = format!("{}/api/v1/login", w.gw.internal_url);
    let code = w.gw.otp(&approver.totp_secret);
    let right_password = format!("{}-Strong-Pass-9", approver.username);
    let locked = http
        .post(&login)
        .json(&json!({"username": "jicho", "password": right_password, "otp": code}))
        .send()
        .expect("login");
    let unknown = http
        .post(&login)
        .json(&json!({"username": "nobody-here", "password": "Whatever-Pass-1", "otp": "123456"}))
        .send()
        .expect("login");
    let (locked_status, unknown_status) = (locked.status().as_u16(), unknown.status().as_u16());
    assert_eq!((locked_status, unknown_status), (401, 401));
    let locked_body: Value = locked.json().expect("json");
    let unknown_body: Value = unknown.json().expect("json");
    assert_eq!(locked_body, unknown_body);
    let events = stored_events(&w.gw.database_url).expect("events");
    let last_fail = events
        .iter()
        .rev()
        .find(|e| e.action == "login.fail" && e.actor == "jicho")
        .expect("login.fail");
    assert!(
        last_fail.detail.contains("account locked"),
        "{}",
        last_fail.detail
    );
}

fn readiness(gw: &Gateway, base: &str) -> (u16, Value) {
    let answer = gw
        .http()
        .get(format!("{base}/readyz"))
        .send()
        .expect("readyz");
    let status = answer.status().as_u16();
    (status, answer.json().expect("readiness json"))
}

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

#[test]
fn r06_1_2_readiness_names_a_scanner_that_is_down_and_recovers_with_it() {
    let Some(mut clamd) = Clamd::start() else {
        return;
    };
    let mut w = world_with(&[]);
    w.gw.reconfigure(&[(
        "scan",
        "clamd",
        &format!(
            "{{ address = \"{}\", connect_timeout_seconds = 2 }}",
            clamd.socket()
        ),
    )]);
    for base in [w.gw.internal_url.clone(), w.gw.public_url.clone()] {
        let (status, body) = readiness(&w.gw, &base);
        assert_eq!(status, 200, "{body}");
        for name in ["database", "store", "scanner"] {
            assert_eq!(check(&body, name)["ready"], true, "{name}: {body}");
        }
    }
    let health =
        w.gw.http()
            .get(format!("{}/healthz", w.gw.public_url))
            .send();
    assert_eq!(health.expect("healthz").status().as_u16(), 200);

    clamd.stop();
    let started = Instant::now();
    let (status, body) = readiness(&w.gw, &w.gw.internal_url);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "readiness took too long"
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(check(&body, "scanner")["ready"], false, "{body}");
    assert_eq!(check(&body, "database")["ready"], true, "{body}");
    // Liveness is not readiness: the process still answers.
    let health =
        w.gw.http()
            .get(format!("{}/healthz", w.gw.public_url))
            .send();
    assert_eq!(health.expect("healthz").status().as_u16(), 200);

    // clamd back: ready again, without a restart of the gateway.
    let clamd = Clamd::restart(clamd);
    let (status, body) = readiness(&w.gw, &w.gw.public_url);
    assert_eq!(status, 200, "{body}");
    drop(clamd);
}

#[test]
fn r06_1_keys_readable_by_others_stop_the_gateway_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let mut w = world_with(&[]);
    w.gw.stop().expect("stop");
    let ca_key = w.gw.data_dir().join("keys").join("tls-ca.key");
    std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = w.gw.admin_command(&["status"]);
    assert!(!out.status.success(), "a loose CA key was accepted");
    let said = text(&out);
    assert!(
        said.contains("tls-ca.key") && said.contains("chmod 600"),
        "{said}"
    );
    assert_loose_refused(&w.gw.data_dir(), &ca_key);
    std::fs::set_permissions(&ca_key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = w.gw.admin_command(&["status"]);
    assert_success(&out, "status with the modes fixed");
}

fn assert_loose_refused(data: &Path, key: &Path) {
    let out = std::process::Command::new(bin("sekisho-gateway"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-listen",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(data)
        .output()
        .expect("serve");
    assert!(!out.status.success(), "serve started with a loose key");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("chmod 600 {}", key.display())),
        "{said}"
    );
}

#[test]
fn r07_1_concurrent_requests_raise_no_false_clock_alarm() {
    let w = world_with(&[]);
    let accounts: Vec<Account> = (0..6)
        .map(|n| w.gw.user(&w.admin, &format!("clerk{n}"), "staff"))
        .collect();
    // Many logins at once, failed and successful, all appending events.
    std::thread::scope(|scope| {
        for account in &accounts {
            let gw = &w.gw;
            scope.spawn(move || {
                for _ in 0..3 {
                    let _ = gw.http()
                        .post(format!("{}/api/v1/login", gw.internal_url))
                        .json(&json!({"username": account.username, "password": "Wrong-Password-1", "otp": "000000"}))
                        .send();
                }
            });
        }
    });
    let events = stored_events(&w.gw.database_url).expect("events");
    assert!(events.iter().filter(|e| e.action == "login.fail").count() >= 18);
    assert!(
        events.iter().all(|e| e.action != "clock.backwards"),
        "a false clock alarm"
    );
    let times: Vec<&str> = events.iter().map(|e| e.at.as_str()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "event times decrease"
    );
}

/// An upload link of `staff`'s for an outside party, `--max-mb` well above
/// the quotas so that the quotas are what is tested.
fn upload_link(w: &World, staff: &Account) -> String {
    let created = json_of(&w.gw.cli(staff).run(&[
        "--json",
        "inbox",
        "request",
        "--from",
        "Hagi Printing",
        "--purpose",
        "見積書の受領",
        "--max-mb",
        "100",
        "--max-files",
        "20",
    ]));
    json_str(&created["url"]).expect("upload link")
}

fn outsider_upload(w: &World, url: &str, name: &str, size: usize) -> std::process::Output {
    let home = w.gw.dir.path().join("home-outsider");
    std::fs::create_dir_all(&home).expect("home");
    let file = w.gw.dir.path().join(name);
    std::fs::write(&file, vec![b'q'; size]).expect("file");
    w.gw.outsider(&home)
        .run(&["upload", url, &file.display().to_string()])
}

/// The head of a multipart upload to a link, with a declared length, and
/// the start of one file part; the caller decides how much body follows.
fn upload_head(url: &str, declared: u64) -> String {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = &path[path.find('/').unwrap_or(0)..];
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {declared}\r\n\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
}

fn status_line(tls: &mut Tls, within: Duration) -> String {
    tls.sock.set_read_timeout(Some(within)).expect("timeout");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn r06_1_7_inbound_uploads_are_bounded_by_quotas_running_uploads_and_declared_length() {
    let w = world_with(&[
        ("housekeeping", "interval_seconds", "1"),
        ("inbound", "quota_per_requester_mb", "2"),
        ("inbound", "quota_total_mb", "3"),
        ("inbound", "concurrent_uploads_per_link", "1"),
    ]);
    let suzuki = w.gw.user(&w.admin, "suzuki", "staff");
    let tanaka_link = upload_link(&w, &w.staff);
    let suzuki_link = upload_link(&w, &suzuki);
    let public = address_of(&w.gw.public_url);
    let config = tls_config(&w.gw);
    const MIB: usize = 1 << 20;

    // A declared length far above the quota is refused before a byte of
    // the body is sent, and leaves no key share or blob behind. (A link's
    // own limit is judged the same way: tests/inbound.rs.)
    let before = store_listing(&w.gw);
    let mut huge = tls_from(&config, loopback(1), public);
    huge.write_all(upload_head(&tanaka_link, 10 << 30).as_bytes())
        .expect("head");
    huge.flush().expect("flush");
    let started = Instant::now();
    let status = status_line(&mut huge, Duration::from_secs(10));
    assert!(status.contains(" 413 "), "10 GiB declared: {status}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the refusal waited for the body: {:?}",
        started.elapsed()
    );
    drop(huge);
    assert_eq!(store_listing(&w.gw), before, "a refused upload left files");

    // One upload at a time per link: while one is running, another is
    // told to wait (429 with Retry-After) and nothing of it is kept.
    let mut running = tls_from(&config, loopback(2), public);
    running
        .write_all(upload_head(&tanaka_link, 400_000).as_bytes())
        .expect("head");
    running.write_all(&[b'r'; 8192]).expect("some body");
    running.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(500));
    let second = outsider_upload(&w, &tanaka_link, "second.bin", 1000);
    assert_failure(&second, "at most 1 upload");
    assert_failure(&second, "同時に");
    let answer =
        w.gw.http()
            .post(&tanaka_link)
            .header("Accept", "application/json")
            .multipart(reqwest::blocking::multipart::Form::new().part(
                "file",
                reqwest::blocking::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"),
            ))
            .send()
            .expect("second upload");
    assert_eq!(answer.status().as_u16(), 429);
    assert_eq!(header(&answer, "retry-after"), "30");
    let body: Value = answer.json().expect("json");
    assert_eq!(body["code"], "uploads_in_progress", "{body}");
    // Once the running upload is gone (the sender gave up), the link takes
    // uploads again.
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = outsider_upload(&w, &tanaka_link, "first.bin", 3 * MIB / 2);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline && text(&out).contains("at most 1 upload"),
            "the link did not take uploads again: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The requester's quota: 1.5 MiB stored of 2, so 0.6 MiB more is
    // refused, on the declared length and with a message that says whose.
    let over = outsider_upload(&w, &tanaka_link, "over.bin", 6 * MIB / 10);
    assert_failure(&over, "requester's storage quota");
    assert_failure(&over, "保存容量");
    // Another requester has room of their own, until the gateway's total
    // (3 MiB) is reached: 1.5 + 1.2 stored, 0.4 more does not fit.
    assert_success(
        &outsider_upload(&w, &suzuki_link, "suzuki.bin", 12 * MIB / 10),
        "another requester's upload",
    );
    let total = outsider_upload(&w, &suzuki_link, "total.bin", 4 * MIB / 10);
    assert_failure(&total, "gateway's storage quota");

    // Refusals are evidence; what was accepted is all that is stored.
    let events = stored_events(&w.gw.database_url).expect("events");
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.action == "inbound.refused")
        .map(|e| e.detail.clone())
        .collect();
    for reason in [
        "already running",
        "requester's storage quota",
        "gateway's storage quota",
    ] {
        assert!(
            refused.iter().any(|d| d.contains(reason)),
            "no inbound.refused event saying {reason:?}: {refused:?}"
        );
    }
    let listing = store_listing(&w.gw);
    assert_eq!(listing.shares.len(), 2, "{listing:?}");
    assert_eq!(listing.blobs.len(), 2, "{listing:?}");
    assert!(listing.partial_shares.is_empty() && listing.partial_blobs.is_empty());

    // Erasing received content gives the room back: after retention the
    // files are erased and the same upload is taken.
    w.gw.advance(31 * 24 * 3600);
    assert_success(&w.gw.login(&w.staff), "login a month later");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store_listing(&w.gw).blobs.is_empty() {
        assert!(
            Instant::now() < deadline,
            "received files were not erased after retention"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let fresh = upload_link(&w, &w.staff);
    assert_success(
        &outsider_upload(&w, &fresh, "after.bin", 6 * MIB / 10),
        "an upload once the quota has room again",
    );
}
