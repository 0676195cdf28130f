//! Probing by id (6.(2)①: "nobody else's by guessing an id"), end to end
//! over the real HTTP API with session tokens.
//!
//! For every route of the internal API that takes an object id, a user B
//! who may not see user A's object must get, for A's id, exactly the answer
//! a fresh random UUID gets and a malformed id gets: the same status and the
//! same error body (`code` and `message`). Otherwise B learns which ids exist,
//! and often their state, just by asking. B is chosen to pass the route's
//! role check wherever the route has one that comes before ownership, so the
//! probe reaches the ownership decision; on routes with a role check only,
//! B fails it and every id must be refused alike.
//!
//! Some objects are open by policy to B: the media ledger and medium
//! disposal requests to every account, every transfer to approvers. Asking
//! about them tells B nothing new, so there the test checks instead that B
//! can see the object through its read route and is still refused the act.
//!
//! Every probe runs before anything is asserted, and the test fails once with
//! the whole table, so a single run names every route that leaks.
//!
//! Not in the table, on purpose: `POST /media/{id}/carry-in` records any
//! outside medium by the name the user gives and looks nothing up;
//! `GET /media-disposals/{id}` is open to every account (the test uses it to
//! show such requests are visible); there is no route that deletes a
//! recipient; `/d/{token}` and `/u/{token}` on the public listener take
//! link tokens, not ids.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;
use sekisho_e2e::*;
use serde_json::{Value, json};

/// The people of the scenario, named by username in the table. A is
/// `tanaka` (staff); B is `suzuki` (staff), `jicho` (approver) or `admin`
/// (sysadmin), whichever passes the probed route's role check. `jicho2` is
/// the approver whose own requests only the CISO may decide.
struct World {
    gw: Gateway,
    admin: Account,
    alice: Account,
    bob: Account,
    jicho: Account,
    jicho2: Account,
}

/// What one request answered, reduced to what a prober can compare.
#[derive(Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    code: String,
    message: String,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.code)
    }
}

/// How a probed id travels in a request.
#[derive(Clone)]
enum Body {
    None,
    /// JSON; every string value `"{id}"` is replaced by the probed id.
    Json(Value),
    Bytes(&'static [u8]),
    /// A multipart form with one small file, as `sekisho intake` sends.
    Form,
}

/// One route: method, path (with `{id}` where the id goes) and body.
#[derive(Clone)]
struct Route {
    method: Method,
    path: &'static str,
    body: Body,
}

/// What kind of id a route takes: it decides what "random" and
/// "malformed" mean for it.
#[derive(Clone, Copy)]
enum IdKind {
    /// Transfers, disposal requests, inbound files, incidents, intakes.
    Uuid,
    /// Media ids and usernames: short names the user types.
    Name,
}

/// A row of the table: who asks which route about which of A's objects,
/// and what a nonexistent id must answer there (this proves the request
/// got past body parsing to the lookup, so a match is not an accident).
struct Probe {
    route: Route,
    who: &'static str,
    objects: Vec<(&'static str, String)>,
    kind: IdKind,
    missing: (u16, &'static str),
}

fn world() -> World {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let alice = gw.user(&admin, "tanaka", "staff");
    let bob = gw.user(&admin, "suzuki", "staff");
    let jicho = gw.user(&admin, "jicho", "approver");
    let jicho2 = gw.user(&admin, "jicho2", "approver");
    World {
        gw,
        admin,
        alice,
        bob,
        jicho,
        jicho2,
    }
}

impl World {
    fn account(&self, who: &str) -> &Account {
        match who {
            "admin" => &self.admin,
            "tanaka" => &self.alice,
            "suzuki" => &self.bob,
            "jicho" => &self.jicho,
            "jicho2" => &self.jicho2,
            other => panic!("no account {other} in this world"),
        }
    }

    /// One request as `who`, with the kit's HTTPS client and that person's
    /// session token.
    fn call(&self, who: &str, method: Method, path: &str, body: &Body) -> Answer {
        let token = self.gw.token(self.account(who));
        let url = format!("{}/api/v1{path}", self.gw.internal_url);
        let request = self.gw.http().request(method, &url).bearer_auth(token);
        let request = match body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Bytes(bytes) => request.body(bytes.to_vec()),
            Body::Form => request.multipart(reqwest::blocking::multipart::Form::new().part(
                "file",
                reqwest::blocking::multipart::Part::bytes(b"probe".to_vec()).file_name("probe.txt"),
            )),
        };
        let response = request.send().unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            code: json_str(&parsed["code"]).unwrap_or_else(|_| "<no JSON code>".into()),
            message: json_str(&parsed["message"]).unwrap_or(text),
        }
    }

    /// A successful JSON request as `who` (set-up steps).
    fn ok(&self, who: &str, method: Method, path: &str, body: Value) -> Value {
        let token = self.gw.token(self.account(who));
        let url = format!("{}/api/v1{path}", self.gw.internal_url);
        let mut request = self.gw.http().request(method, &url).bearer_auth(token);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let text = response.text().unwrap_or_default();
        assert!(status.is_success(), "{url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Asks `route` about `id` as `who`.
    fn ask(&self, who: &str, route: &Route, id: &str) -> Answer {
        let path = route.path.replace("{id}", &percent_encode(id));
        let body = match &route.body {
            Body::Json(template) => Body::Json(with_id(template, id)),
            other => other.clone(),
        };
        self.call(who, route.method.clone(), &path, &body)
    }

    /// The status of a GET as `who`.
    fn status(&self, who: &str, path: &str) -> u16 {
        self.call(who, Method::GET, path, &Body::None).status
    }

    fn cli_json(&self, who: &str, args: &[&str]) -> Value {
        json_of(&self.gw.cli(self.account(who)).run(args))
    }
}

/// A medium's state in the ledger as `who` sees it.
fn medium_state(w: &World, who: &str, medium: &str) -> String {
    let ledger = w.ok(who, Method::GET, "/media", Value::Null);
    ledger
        .as_array()
        .and_then(|all| all.iter().find(|m| m["id"] == medium))
        .and_then(|m| m["state"].as_str())
        .unwrap_or_else(|| panic!("{medium} is not in the ledger {who} sees: {ledger}"))
        .to_string()
}

/// Replaces every string `"{id}"` in a JSON template.
fn with_id(template: &Value, id: &str) -> Value {
    match template {
        Value::String(s) if s == "{id}" => Value::String(id.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(|v| with_id(v, id)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), with_id(v, id)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved).
fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A fresh, well-formed version 4 UUID that names nothing.
fn random_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{:?}/{}/{}",
        std::time::SystemTime::now(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut bytes = hex::decode(sha256_hex(seed.as_bytes())).expect("hex");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(&bytes[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The well-formed id that names nothing, for a kind of id.
fn random_id(kind: IdKind) -> String {
    match kind {
        IdKind::Uuid => random_uuid(),
        // Media ids and usernames are letters, digits and '-'.
        IdKind::Name => format!("x-{}", &random_uuid()[..13]),
    }
}

/// Ids no object can have: wrong syntax, quoting tricks, over-long.
fn malformed_ids(kind: IdKind) -> Vec<String> {
    let wrong_syntax = match kind {
        IdKind::Uuid => "not-an-id",
        IdKind::Name => "bad id!",
    };
    vec![
        wrong_syntax.to_string(),
        "' OR '1'='1".to_string(),
        "x".repeat(300),
    ]
}

fn write_file(w: &World, name: &str, contents: &[u8]) -> String {
    let path = w.gw.dir.path().join(name);
    std::fs::write(&path, contents).expect("write test file");
    path.display().to_string()
}

fn add_recipient(w: &World, who: &str, name: &str) {
    let (_, recipient) = age_identity(w.gw.dir.path(), &format!("{who}-{name}"));
    assert_success(
        &w.gw.cli(w.account(who)).run(&[
            "recipient",
            "add",
            name,
            "--org",
            "Hagi Printing Co.",
            "--email",
            "desk@hagi-print.example.jp",
            "--age-key",
            &recipient,
        ]),
        "recipient add",
    );
}

fn send(w: &World, who: &str, file: &str, class: &str, to: &str) -> String {
    let sent = w.cli_json(
        who,
        &[
            "--json",
            "send",
            file,
            "--class",
            class,
            "--to",
            to,
            "--purpose",
            "入札資料の送付",
        ],
    );
    json_str(&sent["transfer"]["id"]).expect("transfer id")
}

fn approve(w: &World, who: &str, id: &str) {
    let code = w.gw.otp(&w.account(who).totp_secret);
    assert_success(
        &w.gw
            .cli(w.account(who))
            .run(&["approve", id, "--otp", &code]),
        "approve",
    );
}

/// A's objects, and the two approvers' ones used where B may see them.
struct Objects {
    /// A's class II transfer, pending approval, with a disposal request.
    pending: String,
    /// A's carry-out onto USB-001: approved, written, the medium is out.
    carry_out: String,
    /// A's request to dispose of `pending`.
    disposal: String,
    /// A's intake and two files from it: clean (awaiting its class) and
    /// quarantined, with the incident the quarantine opened.
    intake: String,
    clean_file: String,
    quarantined_file: String,
    incident: String,
    /// jicho2's (an approver's) class II transfer, which only the CISO may
    /// decide, and jicho2's request to dispose of it.
    approvers_transfer: String,
    approvers_disposal: String,
    /// A request by the system staff to wipe USB-002.
    medium_disposal: String,
}

fn objects(w: &World) -> Objects {
    add_recipient(w, "tanaka", "printer");
    let pending = send(
        w,
        "tanaka",
        &write_file(w, "見積依頼書.txt", b"quote"),
        "II",
        "printer",
    );
    let disposal = w.cli_json(
        "tanaka",
        &[
            "--json",
            "dispose",
            &pending,
            "--reason",
            "誤って作成したため",
        ],
    );
    let disposal = json_str(&disposal["id"]).expect("disposal id");
    assert_eq!(
        w.cli_json("tanaka", &["--json", "show", &pending])["state"],
        "pending_approval"
    );

    for medium in ["USB-001", "USB-002"] {
        assert_success(
            &w.gw
                .cli(&w.admin)
                .run(&["media", "register", medium, "--label", "青いUSB"]),
            "register medium",
        );
    }
    let requested = w.cli_json(
        "tanaka",
        &[
            "--json",
            "media",
            "checkout",
            "--medium",
            "USB-001",
            "--purpose",
            "説明会資料",
            "--return-by",
            "2030-01-31",
            "--class",
            "III",
            &write_file(w, "資料.pdf", b"slides"),
        ],
    );
    let carry_out = json_str(&requested["transfer"]["id"]).expect("carry-out id");
    approve(w, "jicho", &carry_out);
    let mount = w.gw.dir.path().join("usb");
    std::fs::create_dir_all(&mount).expect("mount");
    assert_success(
        &w.gw.cli(&w.alice).run(&[
            "media",
            "write",
            &carry_out,
            "--to",
            &mount.display().to_string(),
        ]),
        "media write",
    );
    let medium_disposal = w.cli_json(
        "admin",
        &[
            "--json",
            "media",
            "dispose",
            "USB-002",
            "--kind",
            "wipe",
            "--method",
            "全領域上書き消去",
            "--reason",
            "再利用のため",
        ],
    );
    let medium_disposal = json_str(&medium_disposal["id"]).expect("medium disposal id");

    let intake = w.ok(
        "tanaka",
        Method::POST,
        "/inbox/intake",
        json!({"purpose": "業者からの図面"}),
    );
    let intake = json_str(&intake["id"]).expect("intake id");
    for (name, data) in [("図面.txt", b"drawing".to_vec()), ("bad.com", eicar())] {
        let token = w.gw.token(&w.alice);
        let form = reqwest::blocking::multipart::Form::new().part(
            "file",
            reqwest::blocking::multipart::Part::bytes(data).file_name(name.to_string()),
        );
        let response =
            w.gw.http()
                .post(format!(
                    "{}/api/v1/inbox/intake/{intake}/files",
                    w.gw.internal_url
                ))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .expect("intake upload");
        assert!(response.status().is_success(), "intake of {name}");
    }
    let files = w.ok("tanaka", Method::GET, "/inbox/files", Value::Null);
    let file_in = |state: &str| -> String {
        files
            .as_array()
            .and_then(|all| all.iter().find(|f| f["state"] == state))
            .and_then(|f| f["id"].as_str())
            .unwrap_or_else(|| panic!("no {state} file in {files}"))
            .to_string()
    };
    let clean_file = file_in("awaiting_class");
    let quarantined_file = file_in("quarantined");
    let incidents = w.ok("jicho", Method::GET, "/incidents", Value::Null);
    let incident = json_str(&incidents[0]["id"]).expect("incident id");

    add_recipient(w, "jicho2", "auditor-firm");
    let approvers_transfer = send(
        w,
        "jicho2",
        &write_file(w, "予算.xlsx", b"numbers"),
        "II",
        "auditor-firm",
    );
    let approvers_disposal = w.cli_json(
        "jicho2",
        &[
            "--json",
            "dispose",
            &approvers_transfer,
            "--reason",
            "宛先誤り",
        ],
    );
    let approvers_disposal = json_str(&approvers_disposal["id"]).expect("disposal id");

    Objects {
        pending,
        carry_out,
        disposal,
        intake,
        clean_file,
        quarantined_file,
        incident,
        approvers_transfer,
        approvers_disposal,
        medium_disposal,
    }
}

fn route(method: Method, path: &'static str, body: Body) -> Route {
    Route { method, path, body }
}

fn otp_json(extra: Value) -> Body {
    let mut body = json!({"otp": "000000"});
    if let (Some(map), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        map.extend(more.clone());
    }
    Body::Json(body)
}

/// Routes that take a transfer id.
fn transfer_routes() -> Vec<Route> {
    let digest = "0".repeat(64);
    vec![
        route(Method::GET, "/transfers/{id}", Body::None),
        route(Method::PUT, "/transfers/{id}/files/0", Body::Bytes(b"x")),
        route(
            Method::POST,
            "/transfers/{id}/submit",
            Body::Json(json!({"files": []})),
        ),
        route(
            Method::POST,
            "/transfers/{id}/approve",
            otp_json(json!({"content_digest": digest, "comment": "probe"})),
        ),
        route(
            Method::POST,
            "/transfers/{id}/reject",
            otp_json(json!({"reason": "probe"})),
        ),
        route(
            Method::POST,
            "/transfers/{id}/revoke",
            Body::Json(json!({"reason": "probe"})),
        ),
        route(Method::GET, "/transfers/{id}/links", Body::None),
        route(
            Method::POST,
            "/transfers/{id}/written",
            Body::Json(json!({"file_name": "probe.tar", "size": 1, "sha256": digest})),
        ),
        // `sekisho dispose`: the transfer id travels in the body.
        route(
            Method::POST,
            "/disposals",
            Body::Json(json!({"object": "{id}", "reason": "probe"})),
        ),
        route(Method::GET, "/deletions/{id}", Body::None),
    ]
}

/// Routes that take a disposal request's id.
fn disposal_routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/disposals/{id}", Body::None),
        route(
            Method::POST,
            "/disposals/{id}/approve",
            otp_json(json!({"comment": "probe"})),
        ),
        route(
            Method::POST,
            "/disposals/{id}/reject",
            otp_json(json!({"comment": "probe"})),
        ),
    ]
}

fn medium_disposal_decisions() -> Vec<Route> {
    vec![
        route(
            Method::POST,
            "/media-disposals/{id}/approve",
            otp_json(json!({"comment": "probe"})),
        ),
        route(
            Method::POST,
            "/media-disposals/{id}/reject",
            otp_json(json!({"comment": "probe"})),
        ),
    ]
}

/// The rows where A's object is hidden from B: A's id must answer exactly
/// like ids that name nothing.
fn hidden_probes(o: &Objects) -> Vec<Probe> {
    let not_found = (404, "not_found");
    let forbidden = (403, "forbidden");
    let mut probes = Vec::new();
    // Staff B passes every "may send" check and sees only their own
    // transfers; A's pending transfer and A's carry-out are both hidden.
    for r in transfer_routes() {
        probes.push(Probe {
            route: r,
            who: "suzuki",
            objects: vec![
                ("A's pending transfer", o.pending.clone()),
                ("A's carry-out", o.carry_out.clone()),
            ],
            kind: IdKind::Uuid,
            missing: not_found,
        });
    }
    for r in disposal_routes() {
        probes.push(Probe {
            route: r,
            who: "suzuki",
            objects: vec![("A's disposal request", o.disposal.clone())],
            kind: IdKind::Uuid,
            missing: not_found,
        });
    }
    let inbound = vec![
        ("A's clean inbound file", o.clean_file.clone()),
        ("A's quarantined inbound file", o.quarantined_file.clone()),
    ];
    for r in [
        route(
            Method::POST,
            "/inbox/files/{id}/classify",
            Body::Json(json!({"class": "III"})),
        ),
        route(Method::GET, "/inbox/files/{id}/content", Body::None),
        route(Method::GET, "/deletions/{id}", Body::None),
    ] {
        probes.push(Probe {
            route: r,
            who: "suzuki",
            objects: inbound.clone(),
            kind: IdKind::Uuid,
            missing: not_found,
        });
    }
    // Rescanning is the system staff's; they pass the role check but may
    // not see anyone's inbound files (they cannot list them), so a file
    // that is not held must not tell them it exists, nor its state.
    probes.push(Probe {
        route: route(Method::POST, "/inbox/files/{id}/rescan", Body::None),
        who: "admin",
        objects: inbound.clone(),
        kind: IdKind::Uuid,
        missing: not_found,
    });
    probes.push(Probe {
        route: route(Method::POST, "/inbox/intake/{id}/files", Body::Form),
        who: "suzuki",
        objects: vec![("A's intake", o.intake.clone())],
        kind: IdKind::Uuid,
        missing: not_found,
    });
    // Role checks only: staff may not rescan, act on incidents, ask to
    // dispose of media or manage accounts. They must learn nothing about
    // which ids exist either.
    probes.push(Probe {
        route: route(Method::POST, "/inbox/files/{id}/rescan", Body::None),
        who: "suzuki",
        objects: inbound,
        kind: IdKind::Uuid,
        missing: forbidden,
    });
    for r in [
        route(Method::POST, "/incidents/{id}/escalate", Body::None),
        route(
            Method::POST,
            "/incidents/{id}/close",
            Body::Json(json!({"note": "probe"})),
        ),
    ] {
        probes.push(Probe {
            route: r,
            who: "suzuki",
            objects: vec![("the incident A's upload opened", o.incident.clone())],
            kind: IdKind::Uuid,
            missing: forbidden,
        });
    }
    probes.push(Probe {
        route: route(
            Method::POST,
            "/media/{id}/disposal",
            Body::Json(json!({"kind": "wipe", "method": "probe", "reason": "probe"})),
        ),
        who: "suzuki",
        objects: vec![("the medium A carried out", "USB-001".to_string())],
        kind: IdKind::Name,
        missing: forbidden,
    });
    for r in [
        route(Method::POST, "/admin/users/{id}/disable", Body::None),
        route(Method::POST, "/admin/users/{id}/enable", Body::None),
    ] {
        probes.push(Probe {
            route: r,
            who: "suzuki",
            objects: vec![("A's username", "tanaka".to_string())],
            kind: IdKind::Name,
            missing: forbidden,
        });
    }
    probes
}

/// The rows where policy lets B see A's object: B must be refused the act,
/// and the object must indeed be visible to B (checked separately).
fn visible_probes(o: &Objects) -> Vec<Probe> {
    let not_found = (404, "not_found");
    let mut probes = Vec::new();
    // Approvers see every transfer; an approver's own request is the CISO's
    // to decide, so approver B is refused, with the reason.
    for r in transfer_routes()
        .into_iter()
        .filter(|r| r.path.ends_with("/approve") || r.path.ends_with("/reject"))
        .chain(
            disposal_routes()
                .into_iter()
                .filter(|r| r.method == Method::POST),
        )
    {
        let object = if r.path.starts_with("/transfers") {
            ("an approver's transfer", o.approvers_transfer.clone())
        } else {
            (
                "an approver's disposal request",
                o.approvers_disposal.clone(),
            )
        };
        probes.push(Probe {
            route: r,
            who: "jicho",
            objects: vec![object],
            kind: IdKind::Uuid,
            missing: not_found,
        });
    }
    // The media ledger (who has which medium) and medium disposal requests
    // are open to every account.
    probes.push(Probe {
        route: route(Method::POST, "/media/{id}/checkin", Body::None),
        who: "suzuki",
        objects: vec![("the medium A carried out", "USB-001".to_string())],
        kind: IdKind::Name,
        missing: not_found,
    });
    for r in medium_disposal_decisions() {
        probes.push(Probe {
            route: r,
            who: "suzuki",
            objects: vec![("a medium disposal request", o.medium_disposal.clone())],
            kind: IdKind::Uuid,
            missing: not_found,
        });
    }
    probes
}

/// One line of the printed table.
fn row(p: &Probe, object: &str, theirs: &Answer, random: &Answer, verdict: &str) -> String {
    format!(
        "{:<6} {:<32} as {:<7} {:<31} their id: {:<22} random: {:<16} {verdict}",
        p.route.method.as_str(),
        p.route.path,
        p.who,
        object,
        theirs.to_string(),
        random.to_string()
    )
}

/// The results of running probes: the printed table and what went wrong.
#[derive(Default)]
struct Findings {
    table: Vec<String>,
    leaks: Vec<String>,
}

impl Findings {
    fn leak(&mut self, p: &Probe, object: &str, problem: String) {
        self.leaks.push(format!(
            "{} {} as {} on {object}: {problem}",
            p.route.method, p.route.path, p.who
        ));
    }
}

/// A hidden object: A's id, a random id and every malformed id must get
/// one and the same answer, the one `missing` names.
fn probe_hidden(w: &World, p: &Probe, found: &mut Findings) {
    for (object, id) in &p.objects {
        let theirs = w.ask(p.who, &p.route, id);
        let random = w.ask(p.who, &p.route, &random_id(p.kind));
        let mut problems = Vec::new();
        if (random.status, random.code.as_str()) != p.missing {
            problems.push(format!(
                "a random id answered {random}, expected {} {}",
                p.missing.0, p.missing.1
            ));
        }
        if theirs != random {
            problems.push(format!(
                "their id answered {theirs} ({}), a random id {random} ({})",
                theirs.message, random.message
            ));
        }
        for bad in malformed_ids(p.kind) {
            let answer = w.ask(p.who, &p.route, &bad);
            if answer != random {
                problems.push(format!(
                    "malformed id {:?} answered {answer} ({}), a random id {random}",
                    bad.chars().take(20).collect::<String>(),
                    answer.message
                ));
            }
        }
        let verdict = match (problems.is_empty(), theirs.code == random.code) {
            (true, _) => "same",
            (false, true) if theirs.status == random.status && theirs != random => {
                "LEAKS (the message differs)"
            }
            (false, _) => "LEAKS",
        };
        found.table.push(row(p, object, &theirs, &random, verdict));
        for problem in problems {
            found.leak(p, object, problem);
        }
    }
}

/// An object B may see: B is refused the act (a 4xx of any kind, so that
/// answering "not found" there stays allowed), and a random id still
/// reaches the lookup.
fn probe_visible(w: &World, p: &Probe, found: &mut Findings) {
    for (object, id) in &p.objects {
        let theirs = w.ask(p.who, &p.route, id);
        let random = w.ask(p.who, &p.route, &random_id(p.kind));
        let refused = (400..500).contains(&theirs.status);
        let looked_up = (random.status, random.code.as_str()) == p.missing;
        let verdict = if refused && looked_up {
            "refused (visible to B)"
        } else {
            "WRONG"
        };
        found.table.push(row(p, object, &theirs, &random, verdict));
        if !refused {
            let problem = format!("B was not refused: {theirs} ({})", theirs.message);
            found.leak(p, object, problem);
        }
        if !looked_up {
            let problem = format!(
                "a random id answered {random}, expected {} {}",
                p.missing.0, p.missing.1
            );
            found.leak(p, object, problem);
        }
    }
}

#[test]
fn r06_2_1_another_users_ids_answer_exactly_like_ids_that_do_not_exist() {
    let w = world();
    let o = objects(&w);

    // The objects are real (their owners reach them) and hidden from B.
    assert_eq!(
        w.status("tanaka", &format!("/transfers/{}", o.pending)),
        200
    );
    assert_eq!(
        w.status("tanaka", &format!("/disposals/{}", o.disposal)),
        200
    );
    let owners = w.call(
        "tanaka",
        Method::GET,
        &format!("/deletions/{}", o.clean_file),
        &Body::None,
    );
    assert_eq!(owners.code, "not_deleted", "{}", owners.message);
    let bobs = w.ok("suzuki", Method::GET, "/inbox/files", Value::Null);
    assert_eq!(bobs.as_array().map(Vec::len), Some(0), "{bobs}");
    // The objects of the visible rows are indeed visible to their B.
    let approvers = format!("/transfers/{}", o.approvers_transfer);
    assert_eq!(w.status("jicho", &approvers), 200);
    let approvers = format!("/disposals/{}", o.approvers_disposal);
    assert_eq!(w.status("jicho", &approvers), 200);
    assert_eq!(medium_state(&w, "suzuki", "USB-001"), "out");
    let medium_disposal = format!("/media-disposals/{}", o.medium_disposal);
    assert_eq!(w.status("suzuki", &medium_disposal), 200);

    let mut found = Findings::default();
    for p in hidden_probes(&o) {
        probe_hidden(&w, &p, &mut found);
    }
    for p in visible_probes(&o) {
        probe_visible(&w, &p, &mut found);
    }

    // Nothing B asked changed A's objects.
    let shown = w.cli_json("tanaka", &["--json", "show", &o.pending]);
    assert_eq!(shown["state"], "pending_approval");
    assert_eq!(medium_state(&w, "tanaka", "USB-001"), "out");

    let table = found.table.join("\n");
    eprintln!("{table}");
    assert!(
        found.leaks.is_empty(),
        "{} probe(s) tell another user's objects from ones that do not exist:\n{}\n\nthe whole table:\n{table}",
        found.leaks.len(),
        found.leaks.join("\n"),
    );
}
