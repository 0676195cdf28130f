//! The fast tier: both routers driven in-process with `tower::ServiceExt::
//! oneshot`, on a real state (`init` then `AppState::open` on a temporary
//! directory with SQLite), without sockets or TLS. Authentication and policy
//! edges live here; the end-to-end suite (`tests/`) proves the same paths
//! through the real binaries.
//!
//! Sessions are made the way a clerk makes them: a login through the router
//! with a TOTP code computed here. The state's clock reads an offset file
//! the test owns, moved 30 s before each login because a TOTP step is
//! accepted only once.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sekisho_gateway::clock::Clock;
use sekisho_gateway::config::Overrides;
use sekisho_gateway::state::{AppState, Shared};
use sekisho_gateway::{Listeners, http, serve_on};
use serde_json::{Value, json};
use tower::ServiceExt;

struct World {
    _dir: tempfile::TempDir,
    offset_file: PathBuf,
    offset: std::sync::Mutex<i64>,
    state: Shared,
    internal: Router,
    public: Router,
    admin: Person,
}

#[derive(Clone)]
struct Person {
    name: String,
    password: String,
    totp_secret: String,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let init = sekisho_gateway::init::run(&data, None, "admin")
            .await
            .expect("init");
        let mut state = AppState::open(&data, &Overrides::default())
            .await
            .expect("open");
        let offset_file = dir.path().join("clock-offset");
        std::fs::write(&offset_file, "0").expect("offset");
        state.clock = Clock::OffsetFile(Arc::new(offset_file.clone()));
        // What serve_on would fill in from the public listener.
        state.public_base_url = "https://files.example.test".into();
        let state = Arc::new(state);
        World {
            _dir: dir,
            offset_file,
            offset: std::sync::Mutex::new(0),
            internal: http::internal_router(state.clone()),
            public: http::public_router(state.clone()),
            state,
            admin: Person {
                name: init.admin.username.clone(),
                password: init.admin.temporary_password.clone(),
                totp_secret: init.admin.totp_secret.clone(),
            },
        }
    }

    /// A code for the next TOTP step (the clock moves 30 s first).
    fn otp(&self, secret: &str) -> String {
        let mut offset = self.offset.lock().expect("offset lock");
        *offset += 30;
        std::fs::write(&self.offset_file, offset.to_string()).expect("offset");
        let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32");
        let totp = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_secret(bytes)
            .with_account_name("t")
            .build()
            .expect("totp");
        totp.generate(self.state.clock.now().unix_timestamp() as u64)
            .to_string()
    }

    async fn login(&self, person: &Person) -> String {
        let body = json!({
            "username": person.name,
            "password": person.password,
            "otp": self.otp(&person.totp_secret),
        });
        let (status, answer) = call(
            &self.internal,
            Method::POST,
            "/api/v1/login",
            None,
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "login of {}: {answer}", person.name);
        answer["token"].as_str().expect("token").to_string()
    }

    /// Logs in with the temporary password, replaces it, logs in again.
    async fn activate(&self, person: &mut Person) -> String {
        let first = self.login(person).await;
        let new_password = format!("{}-Strong-Pass-9", person.name);
        let (status, answer) = call(
            &self.internal,
            Method::POST,
            "/api/v1/password",
            Some(&first),
            Some(json!({ "current_password": person.password, "new_password": new_password })),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
        person.password = new_password;
        self.login(person).await
    }

    /// A new account made by the (activated) admin, logged in and active.
    async fn person(&self, admin_token: &str, name: &str, role: &str) -> (Person, String) {
        let (status, created) = call(
            &self.internal,
            Method::POST,
            "/api/v1/admin/users",
            Some(admin_token),
            Some(json!({ "username": name, "role": role })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let mut person = Person {
            name: name.to_string(),
            password: created["temporary_password"].as_str().expect("pw").into(),
            totp_secret: created["totp_secret"].as_str().expect("totp").into(),
        };
        let token = self.activate(&mut person).await;
        (person, token)
    }
}

/// One request through `router`; the answer's status and JSON body (`null`
/// when the body is empty or not JSON).
async fn call(
    router: &Router,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, bytes) = call_raw(
        router,
        method,
        path,
        bearer.map(|t| format!("Bearer {t}")),
        body,
    )
    .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn call_raw(
    router: &Router,
    method: Method,
    path: &str,
    authorization: Option<String>,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let request = match body {
        Some(json) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_string())),
        None => request.body(Body::empty()),
    }
    .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, bytes.to_vec())
}

fn a_valid_send() -> Value {
    json!({
        "class": "III",
        "purpose": "router test",
        "recipients": ["nobody"],
        "files": [{ "name": "a.txt", "size": 1 }],
    })
}

#[tokio::test]
async fn health_answers_on_each_listener_without_a_session() {
    let w = World::new().await;
    let (status, body) = call(&w.internal, Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, bytes) = call_raw(&w.public, Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, b"ok".as_slice())
    );
}

#[tokio::test]
async fn each_router_serves_only_its_own_paths() {
    let w = World::new().await;
    // The public listener faces the Internet: no API at all, not even login.
    for (method, path) in [
        (Method::GET, "/api/v1/health"),
        (Method::POST, "/api/v1/login"),
        (Method::GET, "/api/v1/admin/users"),
        (Method::GET, "/api/v1/openapi.json"),
    ] {
        let (status, _) = call_raw(&w.public, method.clone(), path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "public {method} {path}");
    }
    // The internal listener has no recipients' pages.
    for (method, path) in [
        (Method::GET, "/d/sometoken"),
        (Method::POST, "/d/sometoken"),
        (Method::GET, "/u/sometoken"),
        (Method::POST, "/u/sometoken"),
        (Method::GET, "/healthz"),
    ] {
        let (status, _) = call_raw(&w.internal, method.clone(), path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "internal {method} {path}");
    }
}

#[tokio::test]
async fn authentication_edges_and_the_temporary_password_rule() {
    let w = World::new().await;

    // No token at all.
    let (status, body) = call(&w.internal, Method::GET, "/api/v1/whoami", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthenticated");

    // A malformed token and a well-formed unknown one are indistinguishable.
    let unknown = "A".repeat(43);
    let mut bodies = Vec::new();
    for token in ["not a token at all %%", "x", unknown.as_str()] {
        let (status, bytes) = call_raw(
            &w.internal,
            Method::GET,
            "/api/v1/transfers",
            Some(format!("Bearer {token}")),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token {token:?}");
        bodies.push(bytes);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "bodies differ: {:?}",
        bodies
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    );
    assert!(!bodies[0].is_empty());

    // A temporary-password session may look at itself and change the
    // password, and nothing else.
    let temporary = w.login(&w.admin).await;
    let (status, me) = call(
        &w.internal,
        Method::GET,
        "/api/v1/whoami",
        Some(&temporary),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["must_change_password"], true);
    for (method, path, body) in [
        (Method::GET, "/api/v1/admin/users", None),
        (
            Method::POST,
            "/api/v1/admin/users",
            Some(json!({ "username": "someone", "role": "staff" })),
        ),
        (Method::GET, "/api/v1/audit/events", None),
        (Method::GET, "/api/v1/scan/status", None),
    ] {
        let (status, answer) =
            call(&w.internal, method.clone(), path, Some(&temporary), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains("temporary password"),
            "{answer}"
        );
    }
    let mut admin = w.admin.clone();
    let admin_token = w.activate(&mut admin).await;
    // Changing the password ended the temporary session.
    let (status, _) = call(
        &w.internal,
        Method::GET,
        "/api/v1/whoami",
        Some(&temporary),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, users) = call(
        &w.internal,
        Method::GET,
        "/api/v1/admin/users",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{users}");

    // After logout the token is unknown like any other.
    let (status, _) = call(
        &w.internal,
        Method::POST,
        "/api/v1/logout",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, bytes) = call_raw(
        &w.internal,
        Method::GET,
        "/api/v1/transfers",
        Some(format!("Bearer {admin_token}")),
        None,
    )
    .await;
    assert_eq!((status, &bytes), (StatusCode::UNAUTHORIZED, &bodies[0]));
}

#[tokio::test]
async fn roles_are_held_to_their_routes() {
    let w = World::new().await;
    let mut admin = w.admin.clone();
    let admin_token = w.activate(&mut admin).await;
    let (_, staff) = w.person(&admin_token, "tanaka", "staff").await;
    let (_, auditor) = w.person(&admin_token, "kansa", "auditor").await;

    // Staff on the administrators' routes.
    for (method, path, body) in [
        (Method::GET, "/api/v1/admin/users", None),
        (
            Method::POST,
            "/api/v1/admin/users",
            Some(json!({ "username": "intruder", "role": "sysadmin" })),
        ),
        (Method::POST, "/api/v1/admin/users/kansa/disable", None),
    ] {
        let (status, answer) = call(&w.internal, method.clone(), path, Some(&staff), body).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "staff {method} {path}: {answer}"
        );
        assert_eq!(answer["code"], "forbidden");
    }

    // An auditor inspects and never sends; nor does the sysadmin.
    for (who, token) in [("auditor", &auditor), ("sysadmin", &admin_token)] {
        let (status, answer) = call(
            &w.internal,
            Method::POST,
            "/api/v1/transfers",
            Some(token),
            Some(a_valid_send()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} sent: {answer}");
    }
    let (status, _) = call(
        &w.internal,
        Method::GET,
        "/api/v1/audit/events",
        Some(&auditor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the auditor reads the audit log");
    let (status, _) = call(
        &w.internal,
        Method::GET,
        "/api/v1/audit/events",
        Some(&staff),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "staff do not read the audit log"
    );

    // Staff may send: the same request passes the policy and fails only on
    // the unknown recipient, so the 403s above were the policy's.
    let (status, answer) = call(
        &w.internal,
        Method::POST,
        "/api/v1/transfers",
        Some(&staff),
        Some(a_valid_send()),
    )
    .await;
    assert_ne!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(status.is_client_error(), "{status}: {answer}");
}

#[tokio::test]
async fn a_database_outage_answers_503_without_driver_text() {
    let w = World::new().await;
    let mut admin = w.admin.clone();
    let token = w.activate(&mut admin).await;
    w.state.db.close().await;
    let (status, bytes) = call_raw(
        &w.internal,
        Method::GET,
        "/api/v1/whoami",
        Some(format!("Bearer {token}")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body["code"], "unavailable");
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    for leak in ["sqlite", "pool", "closed", "sqlx", "sekisho.db"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

/// `serve_on` takes listeners the test bound (port 0) and a shutdown future
/// the test owns: no sleeps, no fixed ports.
#[tokio::test]
async fn serve_on_serves_bound_listeners_until_its_shutdown_future_completes() {
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    sekisho_gateway::init::run(&data, None, "admin")
        .await
        .expect("init");
    let state = AppState::open(&data, &Overrides::default())
        .await
        .expect("open");
    let listeners = Listeners {
        internal: http::bind("127.0.0.1:0", "internal").expect("bind"),
        public: http::bind("127.0.0.1:0", "public").expect("bind"),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, serving) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(serve_on(
        listeners,
        state,
        async {
            let _ = stopped.await;
        },
        move |serving: &sekisho_gateway::Serving| {
            let _ = ready.send(*serving);
        },
    ));
    let serving = tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("ready in time")
        .expect("ready was called");
    assert_eq!(serving.database, "sqlite");
    assert_ne!(serving.internal.port(), 0);
    for address in [serving.internal, serving.public] {
        let connection = tokio::net::TcpStream::connect(address).await;
        assert!(connection.is_ok(), "{address} does not accept");
    }
    assert!(
        !server.is_finished(),
        "serve_on returned before its shutdown"
    );

    stop.send(()).expect("serve_on is waiting");
    let result = tokio::time::timeout(http::SHUTDOWN_GRACE, server)
        .await
        .expect("serve_on stopped within the grace")
        .expect("serve_on task");
    assert!(result.is_ok(), "{result:?}");
    for address in [serving.internal, serving.public] {
        assert!(
            tokio::net::TcpStream::connect(address).await.is_err(),
            "{address} still accepts after shutdown"
        );
    }
}
