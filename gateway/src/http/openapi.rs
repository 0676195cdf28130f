//! The OpenAPI 3.1 document served at `GET /api/v1/openapi.json`, generated
//! from the handlers' `#[utoipa::path]` attributes and the wire types'
//! `ToSchema` derives (the `openapi` feature of `sekisho-proto`), never
//! written by hand.
//!
//! Both routers are built only through [`Documented`], which accepts a route
//! solely as `utoipa_axum::routes!(handler)`: a handler without its
//! `#[utoipa::path]` does not compile there, and the path and method axum
//! routes are the ones the document states. What the attribute cannot know
//! (the document's title and tags, the bearer scheme, the error answers all
//! handlers share) is declared once here.

use axum::Router;
use sekisho_proto::ErrorBody;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToResponse};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::state::Shared;

/// Name of the security scheme every authenticated operation names.
pub const BEARER: &str = "bearer";

pub const TAG_META: &str = "meta";
pub const TAG_ACCOUNTS: &str = "accounts";
pub const TAG_RECIPIENTS: &str = "recipients";
pub const TAG_TRANSFERS: &str = "transfers";
pub const TAG_DISPOSALS: &str = "disposals";
pub const TAG_MEDIA: &str = "media";
pub const TAG_AUDIT: &str = "audit";
pub const TAG_INBOX: &str = "inbox";
pub const TAG_INCIDENTS: &str = "incidents";
pub const TAG_SCAN: &str = "scan";
pub const TAG_PUBLIC: &str = "public";

const DESCRIPTION: &str = "\
関所 (Sekisho) 安全なファイル交換ゲートウェイの API。/ The API of the Sekisho secure file-transfer gateway.

The gateway has two HTTPS listeners. The **internal** one (`--listen`) serves \
`/api/v1/...` to staff, approvers, auditors and the system staff; this document is \
served there. The **public** one (`--public-listen`) serves only what recipients and \
outside senders open: the download page and package at `/d/{token}`, the upload form \
and upload at `/u/{token}`, `/healthz` and `/readyz` (tag `public`; when the gateway knows its \
public base URL, those paths name it as their server). The login, admin and approval \
API is not routed on the public listener at all.

Authentication: `POST /api/v1/login` with the password and a TOTP code returns a \
session token; send it as `Authorization: Bearer <token>`. A temporary password must \
be changed (`POST /api/v1/password`) before anything else is allowed (403).

Errors: every error is an `ErrorBody` (`code` for scripts, `message` for people, \
saying how to fix it), the decoder's own refusals included (a body, path or query it \
cannot read: 400, 415, 422; its detail follows the message). JSON bodies are limited \
to 2 MiB (413). The public pages answer their errors as HTML pages when asked for \
HTML. Too many requests from one address answer 429 with `Retry-After`; every answer \
carries `Cache-Control: no-store` and the security headers (HSTS, nosniff, \
no-referrer, frame denial, a content security policy).

This document is generated from the gateway's handlers and wire types; a route \
cannot be served without being described here.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Sekisho gateway API", version = "1", description = DESCRIPTION),
    modifiers(&BearerScheme),
    components(
        schemas(ErrorBody),
        responses(
            BadRequest,
            Unauthenticated,
            Forbidden,
            NotFound,
            Conflict,
            Gone,
            TooLarge,
            UnsupportedMediaType,
            Unprocessable,
            Locked,
            TooManyRequests,
            Internal
        )
    ),
    tags(
        (name = TAG_META, description = "稼働確認と本書 / liveness and this document"),
        (name = TAG_ACCOUNTS, description = "ログインとアカウント / login, sessions, passwords and accounts"),
        (name = TAG_RECIPIENTS, description = "送付先 / the sender's address book of outside recipients"),
        (name = TAG_TRANSFERS, description = "外部送信と承認 / outbound transfers: create, upload, submit, approve or reject, revoke"),
        (name = TAG_DISPOSALS, description = "廃棄 / disposal of stored content before its time, and signed deletion certificates"),
        (name = TAG_MEDIA, description = "電磁的記録媒体 / removable media: the ledger, carry-outs, returns, wiping and disposal"),
        (name = TAG_AUDIT, description = "監査ログ / the hash-chained audit log, its signed checkpoints and key"),
        (name = TAG_INBOX, description = "外部からの受領 / inbound files: upload requests, media intake, classification, content"),
        (name = TAG_INCIDENTS, description = "マルウェア検知 / incidents opened for infected files"),
        (name = TAG_SCAN, description = "ウイルス検査 / scan engines and their signatures"),
        (name = TAG_PUBLIC, description = "公開リスナー / the public listener (`--public-listen`) only: recipients' download pages and outside senders' upload links; not routed on the internal listener"),
    )
)]
struct Base;

/// The session token of `POST /api/v1/login`.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The session token from `POST /api/v1/login`. It ends at logout, at a \
                 password change, when the account is disabled, or after the configured \
                 session time.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .security_schemes
            .insert(BEARER.to_string(), SecurityScheme::Http(scheme).into());
    }
}

/// A router that grows only by documented handlers: unlike `axum::Router`
/// and `OpenApiRouter` it has no `route`, `nest` or `merge`, so every path
/// and method it serves is one the document describes.
///
/// It starts from an empty document: [`document`] adds the title, version
/// and tags of `Base`.
#[derive(Default)]
pub struct Documented(OpenApiRouter<Shared>);

impl Documented {
    /// Adds the handlers of one `utoipa_axum::routes!(...)` (one path).
    pub fn routes(self, routes: UtoipaMethodRouter<Shared>) -> Self {
        Documented(self.0.routes(routes))
    }

    pub fn into_router(self) -> Router<Shared> {
        self.0.split_for_parts().0
    }

    pub fn into_openapi(self) -> utoipa::openapi::OpenApi {
        self.0.into_openapi()
    }
}

/// The whole document: the internal API and the public listener's paths.
/// `public_base_url` (without a trailing slash; empty when unknown) is named
/// as the server of the public paths, so a client of the document does not
/// send them to the internal listener.
pub fn document(public_base_url: &str) -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi();
    document.merge(super::api::routes().into_openapi());
    let mut public = super::public::routes().into_openapi();
    // Served on both listeners (`/readyz`): described once, with no server
    // of its own.
    public
        .paths
        .paths
        .retain(|path, _| !document.paths.paths.contains_key(path));
    if !public_base_url.is_empty() {
        let mut server = Server::new(public_base_url);
        server.description = Some("公開リスナー / the public listener".to_string());
        for item in public.paths.paths.values_mut() {
            item.servers = Some(vec![server.clone()]);
        }
    }
    document.merge(public);
    document
}

/// Reusable error answers: each carries an [`ErrorBody`] unless it says
/// otherwise. The wording follows the variants of [`crate::error::AppError`].
macro_rules! error_response {
    ($name:ident, $description:expr, $($content:expr),+) => {
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                let mut response = ResponseBuilder::new().description($description);
                for (content_type, schema) in [$($content),+] {
                    response = response
                        .content(content_type, ContentBuilder::new().schema(Some(schema)).build());
                }
                (stringify!($name), response.build().into())
            }
        }
    };
}

fn error_body() -> RefOr<utoipa::openapi::schema::Schema> {
    Ref::from_schema_name("ErrorBody").into()
}

error_response!(
    BadRequest,
    "The request is wrong; `message` says how to fix it (for a JSON body, path or \
     query that cannot be decoded at all, the decoder's detail follows).",
    ("application/json", error_body())
);
error_response!(
    Unauthenticated,
    "No session, or it ended: log in again (`sekisho login`).",
    ("application/json", error_body())
);
error_response!(
    Forbidden,
    "The policy refuses; `message` says why (also: a temporary password must be \
     changed first, or a step-up code was wrong).",
    ("application/json", error_body())
);
error_response!(
    NotFound,
    "No such object, or the caller may not know it exists.",
    ("application/json", error_body())
);
error_response!(
    Conflict,
    "The object is in a state that does not allow this.",
    ("application/json", error_body())
);
error_response!(
    Gone,
    "The link expired, was revoked or used up.",
    ("application/json", error_body())
);
error_response!(
    TooLarge,
    "The upload is larger than allowed or than declared.",
    ("application/json", error_body())
);
error_response!(
    UnsupportedMediaType,
    "The body was sent without `Content-Type: application/json`.",
    ("application/json", error_body())
);
error_response!(
    Unprocessable,
    "The JSON body does not have the fields and types of the request; the \
     decoder's detail follows the message.",
    ("application/json", error_body())
);
error_response!(
    Locked,
    "The account is locked after repeated failed logins; `message` says until when.",
    ("application/json", error_body())
);
error_response!(
    TooManyRequests,
    "Too many requests from this address (public pages, login attempts); wait for \
     `Retry-After` seconds.",
    ("application/json", error_body())
);
error_response!(
    Internal,
    "The gateway could not complete the request and nothing was released; the \
     detail is in the gateway's log only.",
    ("application/json", error_body())
);

/// Raw bytes of a streamed body (`application/octet-stream`): a file going
/// in, or a file or package coming out.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        binary_string().into()
    }
}

impl utoipa::ToSchema for Binary {}

fn binary_string() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
}

/// A `multipart/form-data` upload: one part per file, all named
/// [`crate::service::inbound::FILE_FIELD`], each with its file name.
pub struct FileParts;

impl utoipa::PartialSchema for FileParts {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder};
        ObjectBuilder::new()
            .property(
                crate::service::inbound::FILE_FIELD,
                ArrayBuilder::new()
                    .items(binary_string())
                    .description(Some("The files; repeat the part once per file")),
            )
            .required(crate::service::inbound::FILE_FIELD)
            .into()
    }
}

impl utoipa::ToSchema for FileParts {}

#[cfg(test)]
mod tests {
    //! The document is checked against the real routers in-process, without
    //! reading any source text: every documented operation must be routed on
    //! its listener, every other method on a documented path must not be,
    //! and what each operation answers must be what it documents.

    use std::collections::BTreeSet;
    use std::sync::Arc;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use sekisho_proto::{API_PREFIX, LoginResponse, NewAccount};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use crate::clock::Clock;
    use crate::state::{AppState, Shared};

    /// Set by the test's fallbacks: the request matched no route (`path`)
    /// or no method of a route (`method`).
    const UNROUTED: &str = "x-test-unrouted";
    const METHODS: [Method; 5] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    const PUBLIC_BASE: &str = "https://public.example.jp";

    fn doc() -> Value {
        serde_json::to_value(super::document(PUBLIC_BASE)).expect("the document serialises")
    }

    struct Operation {
        path: String,
        method: Method,
        spec: Value,
    }

    impl Operation {
        fn internal(&self) -> bool {
            self.path.starts_with(API_PREFIX)
        }

        /// Readiness is served on both listeners.
        fn on_both(&self) -> bool {
            self.path == "/readyz"
        }

        /// The path with every `{parameter}` filled in (`0` for the file
        /// index, which must parse as a number; `1` for ids and tokens, which
        /// exist nowhere).
        fn concrete_path(&self) -> String {
            self.path
                .replace("{index}", "0")
                .split('/')
                .map(|part| if part.starts_with('{') { "1" } else { part })
                .collect::<Vec<_>>()
                .join("/")
        }

        fn bearer(&self) -> bool {
            self.spec["security"]
                .as_array()
                .is_some_and(|all| all.iter().any(|s| s.get(super::BEARER).is_some()))
        }

        fn json_body(&self) -> bool {
            self.spec["requestBody"]["content"]["application/json"].is_object()
        }

        fn statuses(&self) -> BTreeSet<u16> {
            self.spec["responses"]
                .as_object()
                .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
                .unwrap_or_default()
        }

        fn name(&self) -> String {
            format!("{} {}", self.method, self.path)
        }
    }

    fn operations(doc: &Value) -> Vec<Operation> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in METHODS {
                let spec = &item[method.as_str().to_ascii_lowercase()];
                if spec.is_object() {
                    all.push(Operation {
                        path: path.clone(),
                        method,
                        spec: spec.clone(),
                    });
                }
            }
        }
        // Logging out ends the probing session: keep it for last.
        all.sort_by_key(|op| op.spec["operationId"] == "logout");
        all
    }

    /// Follows a `$ref` to `components`, or returns the value itself.
    fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                doc.pointer(pointer).unwrap_or(&Value::Null)
            }
            None => value,
        }
    }

    /// Whether `value` is an instance of `schema`, strictly: no property the
    /// schema does not name, every required one present.
    fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        if schema.get("$ref").is_some() {
            let target = resolve(doc, schema);
            if target.is_null() {
                return Err(format!("{at}: dangling {schema}"));
            }
            return conforms(doc, target, value, at);
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
                return if options
                    .iter()
                    .any(|option| conforms(doc, option, value, at).is_ok())
                {
                    Ok(())
                } else {
                    Err(format!("{at}: {value} matches none of {keyword}"))
                };
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                conforms(doc, part, value, at)?;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "number",
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !types.is_empty() && !types.contains(&actual) {
            return Err(format!("{at}: {value} is {actual}, not {types:?}"));
        }
        match value {
            Value::Object(fields) => {
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    for (name, field) in fields {
                        let property = properties
                            .get(name)
                            .ok_or_else(|| format!("{at}: undocumented property `{name}`"))?;
                        conforms(doc, property, field, &format!("{at}.{name}"))?;
                    }
                }
                for required in schema["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if !fields.contains_key(name) {
                        return Err(format!("{at}: required property `{name}` is missing"));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for (index, element) in items.iter().enumerate() {
                        conforms(doc, item, element, &format!("{at}[{index}]"))?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A gateway data folder made by `init`, opened as the server opens it,
    /// with a fixed clock so TOTP codes can be computed for it.
    async fn gateway(dir: &std::path::Path) -> (Shared, NewAccount) {
        let data = dir.join("gateway");
        let initialised = crate::init::run(&data, None, "admin").await.expect("init");
        let mut state = AppState::open(&data, &crate::config::Overrides::default())
            .await
            .expect("open the data folder");
        state.clock = Clock::Fixed(time::macros::datetime!(2026-12-01 09:00 UTC));
        state.public_base_url = PUBLIC_BASE.to_string();
        (Arc::new(state), initialised.admin)
    }

    /// A router whose unmatched requests say so in a header.
    fn marked(router: Router) -> Router {
        router
            .fallback(|| async { (StatusCode::NOT_FOUND, [(UNROUTED, "path")]) })
            .method_not_allowed_fallback(|| async {
                (StatusCode::METHOD_NOT_ALLOWED, [(UNROUTED, "method")])
            })
    }

    struct Answer {
        status: StatusCode,
        unrouted: Option<String>,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    async fn send(
        router: &Router,
        method: Method,
        path: &str,
        token: Option<&str>,
        json: Option<&Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match json {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let response = router
            .clone()
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("the router answers");
        let header_text = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let unrouted = header_text(UNROUTED);
        let content_type = header_text(header::CONTENT_TYPE.as_str())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        Answer {
            status,
            unrouted,
            content_type,
            body,
        }
    }

    /// The answer's status, content type and (for JSON) shape are the ones
    /// the operation documents.
    fn check_documented(doc: &Value, op: &Operation, answer: &Answer) {
        let name = op.name();
        assert!(
            op.statuses().contains(&answer.status.as_u16()),
            "{name} answered {} which it does not document (it documents {:?})",
            answer.status,
            op.statuses()
        );
        let response = resolve(doc, &op.spec["responses"][answer.status.as_str()]);
        let Some(content_type) = &answer.content_type else {
            assert!(answer.body.is_empty(), "{name}: a body without a type");
            return;
        };
        let content = &response["content"][content_type.as_str()];
        assert!(
            content.is_object(),
            "{name} answered {} as {content_type}, which is not documented for it",
            answer.status
        );
        if content_type == "application/json" {
            let value: Value = serde_json::from_slice(&answer.body).expect("a JSON answer");
            if let Err(e) = conforms(doc, &content["schema"], &value, &name) {
                panic!("{name} answered {}: {e}", answer.status);
            }
        }
    }

    fn totp_code(secret: &str, account: &str, unix_seconds: i64) -> String {
        let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
        let totp = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(30)
            .with_secret(bytes)
            .with_issuer(Some("Sekisho"))
            .with_account_name(account)
            .build()
            .expect("totp");
        totp.generate(unix_seconds as u64).to_string()
    }

    #[tokio::test]
    async fn every_documented_operation_is_routed_on_its_listener_and_nothing_else_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, _) = gateway(dir.path()).await;
        let internal = marked(super::super::internal_router(state.clone()));
        let public = marked(super::super::public_router(state.clone()));
        let doc = doc();
        let ops = operations(&doc);
        assert!(ops.len() >= 55, "only {} operations documented", ops.len());

        let mut routed = BTreeSet::new();
        for op in &ops {
            let (own, other) = if op.internal() {
                (&internal, &public)
            } else {
                (&public, &internal)
            };
            let path = op.concrete_path();
            let answer = send(own, op.method.clone(), &path, None, None).await;
            assert_eq!(
                answer.unrouted,
                None,
                "{} is documented but not routed",
                op.name()
            );
            check_documented(&doc, op, &answer);
            if op.bearer() {
                assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", op.name());
                let body: sekisho_proto::ErrorBody =
                    serde_json::from_slice(&answer.body).expect("ErrorBody");
                assert_eq!(body.code, "unauthenticated");
            } else {
                assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{}", op.name());
            }
            let elsewhere = send(other, op.method.clone(), &path, None, None).await;
            if op.on_both() {
                assert_eq!(elsewhere.unrouted, None, "{} is not on both", op.name());
                check_documented(&doc, op, &elsewhere);
            } else {
                assert_eq!(
                    elsewhere.unrouted.as_deref(),
                    Some("path"),
                    "{} must not be routed on the other listener",
                    op.name()
                );
            }
            routed.insert((op.path.clone(), op.method.clone()));
        }

        // A documented path answers no method it does not document: the
        // router's (path, method) pairs are exactly the document's.
        for path in doc["paths"].as_object().expect("paths").keys() {
            let router = if path.starts_with(API_PREFIX) {
                &internal
            } else {
                &public
            };
            let concrete = Operation {
                path: path.clone(),
                method: Method::GET,
                spec: Value::Null,
            }
            .concrete_path();
            for method in METHODS {
                if routed.contains(&(path.clone(), method.clone())) {
                    continue;
                }
                let answer = send(router, method.clone(), &concrete, None, None).await;
                assert_eq!(
                    answer.unrouted.as_deref(),
                    Some("method"),
                    "{method} {path} is routed but not documented"
                );
            }
        }
    }

    #[tokio::test]
    async fn with_a_session_every_operation_answers_only_what_it_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, admin) = gateway(dir.path()).await;
        let now = state.clock.now().unix_timestamp();
        let internal = marked(super::super::internal_router(state.clone()));
        let public = marked(super::super::public_router(state.clone()));
        let doc = doc();
        let ops = operations(&doc);
        let login = ops
            .iter()
            .find(|op| op.spec["operationId"] == "login")
            .expect("login is documented");

        // A new account must change its temporary password first; that ends
        // the session, so log in again with the next step's code.
        let first = send(
            &internal,
            Method::POST,
            "/api/v1/login",
            None,
            Some(&json!({
                "username": admin.username,
                "password": admin.temporary_password,
                "otp": totp_code(&admin.totp_secret, &admin.username, now),
            })),
        )
        .await;
        check_documented(&doc, login, &first);
        let session: LoginResponse = serde_json::from_slice(&first.body).expect("LoginResponse");
        let password = "Probe-Password-42";
        let changed = send(
            &internal,
            Method::POST,
            "/api/v1/password",
            Some(&session.token),
            Some(&json!({
                "current_password": admin.temporary_password,
                "new_password": password,
            })),
        )
        .await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT);
        let second = send(
            &internal,
            Method::POST,
            "/api/v1/login",
            None,
            Some(&json!({
                "username": admin.username,
                "password": password,
                "otp": totp_code(&admin.totp_secret, &admin.username, now + 30),
            })),
        )
        .await;
        check_documented(&doc, login, &second);
        let session: LoginResponse = serde_json::from_slice(&second.body).expect("LoginResponse");

        let mut seen = BTreeSet::new();
        for op in &ops {
            let router = if op.internal() { &internal } else { &public };
            let path = op.concrete_path();
            let token = op.bearer().then_some(session.token.as_str());
            let answer = send(router, op.method.clone(), &path, token, None).await;
            assert_eq!(answer.unrouted, None, "{}", op.name());
            check_documented(&doc, op, &answer);
            // A JSON body is documented exactly where the handler reads one.
            if op.json_body() {
                assert_eq!(
                    answer.status,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "{} documents a JSON body but did not ask for one",
                    op.name()
                );
                let with_body =
                    send(router, op.method.clone(), &path, token, Some(&json!({}))).await;
                check_documented(&doc, op, &with_body);
                seen.insert(with_body.status.as_u16());
            } else {
                assert_ne!(
                    answer.status,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "{} reads a JSON body it does not document",
                    op.name()
                );
            }
            seen.insert(answer.status.as_u16());
        }
        // The probe reached the handlers, not only the extractors.
        for status in [200, 204, 400, 403, 404, 415, 422] {
            assert!(
                seen.contains(&status),
                "no operation answered {status}: {seen:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_served_document_is_the_generated_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, _) = gateway(dir.path()).await;
        let internal = super::super::internal_router(state);
        let answer = send(&internal, Method::GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        let served: Value = serde_json::from_slice(&answer.body).expect("JSON");
        assert_eq!(served, doc());
        assert_eq!(served["openapi"], "3.1.0");
        assert_eq!(served["info"]["version"], "1");
    }

    #[test]
    fn vocabulary_words_are_documented_as_they_are_sent() {
        let text =
            serde_json::to_string(&super::document("https://files.example.jp")).unwrap_or_default();
        for word in [
            "awaiting_class",
            "needs_manager",
            "keys_destroyed",
            "unscanned",
            "ok",
        ] {
            assert!(
                text.contains(&format!("\"{word}\"")),
                "{word} is not in the document"
            );
        }
        assert!(!text.contains("\"AwaitingClass\""));
    }

    #[test]
    fn the_document_is_complete_and_consistent() {
        let doc = doc();
        let declared_tags: BTreeSet<&str> = doc["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter(|t| t["description"].is_string())
            .filter_map(|t| t["name"].as_str())
            .collect();
        let schemes = doc["components"]["securitySchemes"]
            .as_object()
            .expect("security schemes");
        assert_eq!(schemes[super::BEARER]["scheme"], "bearer");

        for op in operations(&doc) {
            let name = op.name();
            assert!(op.spec["summary"].is_string(), "{name} has no summary");
            let tags = op.spec["tags"].as_array().expect("tags");
            assert!(
                tags.iter()
                    .all(|t| declared_tags.contains(t.as_str().unwrap_or_default())),
                "{name} uses an undeclared tag"
            );
            assert!(
                op.statuses().iter().any(|s| (200..300).contains(s)),
                "{name} documents no success"
            );
            for requirement in op.spec["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().expect("requirement").keys() {
                    assert!(schemes.contains_key(scheme), "{name} names {scheme}");
                }
            }
            // The internal API is behind the session except for the way in.
            let open = ["login", "health", "openapi_document"]
                .contains(&op.spec["operationId"].as_str().unwrap_or_default());
            assert_eq!(op.bearer(), op.internal() && !open, "{name}: security");
            if op.bearer() {
                assert!(op.statuses().contains(&401), "{name} lacks 401");
            }
            if op.json_body() {
                for status in [400, 415, 422] {
                    assert!(op.statuses().contains(&status), "{name} lacks {status}");
                }
            }
            // Every `{parameter}` of the path is a documented path parameter.
            for part in op.path.split('/').filter(|p| p.starts_with('{')) {
                let wanted = part.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    op.spec["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == wanted && p["in"] == "path" && p["required"] == true),
                    "{name}: path parameter {wanted} is not documented"
                );
            }
            // Public paths name the public listener as their server.
            let servers = &doc["paths"][&op.path]["servers"];
            if op.internal() || op.on_both() {
                assert!(servers.is_null(), "{name} is served where the document is");
            } else {
                assert_eq!(servers[0]["url"], PUBLIC_BASE, "{name}");
            }
        }

        // No reference points nowhere.
        fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                        found.push(r);
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 100);
        for reference in found {
            assert!(
                !resolve(&doc, &json!({ "$ref": reference })).is_null(),
                "{reference} does not resolve"
            );
        }
    }

    #[test]
    fn wire_types_are_described_field_for_field() {
        let doc = doc();
        let schema = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
        // The hand-written document had lost both of these fields.
        let request = sekisho_proto::CreateTransferRequest {
            class: Some("II".into()),
            purpose: Some("p".into()),
            recipients: vec!["r".into()],
            files: vec![sekisho_proto::NewFile {
                name: "a.pdf".into(),
                size: 1,
                class: Some("I".into()),
            }],
            medium: Some("USB-1".into()),
            return_by: Some("2026-12-31".into()),
            medium_key: Some("age1...".into()),
        };
        let value = serde_json::to_value(&request).expect("serialise");
        conforms(&doc, &schema("CreateTransferRequest"), &value, "request").expect("conforms");
        // The check itself bites: an unknown field or a wrong type fails.
        let mut extra = value.clone();
        extra["files"][0]["colour"] = json!("red");
        assert!(conforms(&doc, &schema("CreateTransferRequest"), &extra, "x").is_err());
        let mut wrong = value;
        wrong["files"][0]["size"] = json!("one");
        assert!(conforms(&doc, &schema("CreateTransferRequest"), &wrong, "x").is_err());

        // The package headers and the upload field are the code's own names.
        let download = &doc["paths"]["/d/{token}"]["post"]["responses"]["200"]["headers"];
        for name in [
            sekisho_proto::HEADER_ENCRYPTION,
            sekisho_proto::HEADER_CLASS,
            sekisho_proto::HEADER_CONTENT_DIGEST,
        ] {
            assert!(download[name].is_object(), "{name} is not documented");
        }
        let upload = &doc["paths"]["/u/{token}"]["post"]["requestBody"]["content"];
        let form = &upload["multipart/form-data"]["schema"]["properties"];
        assert!(form[crate::service::inbound::FILE_FIELD].is_object());
        let stream = &doc["paths"]["/api/v1/transfers/{id}/files/{index}"]["put"]["requestBody"];
        assert_eq!(
            stream["content"]["application/octet-stream"]["schema"]["format"],
            "binary"
        );
    }
}
