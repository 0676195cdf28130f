//! A database that goes away under a running gateway (policy "Availability
//! and recovery"): requests answer 503 with a clear message within a
//! bounded time, never hang; readiness says which part is down while
//! liveness stays up; and when the database returns the gateway works again
//! without a restart.
//!
//! PostgreSQL really stopped and started: the test runs its own cluster, so
//! it runs in both passes of the suite (the SQLite pass included); the full
//! disk of the embedded database is `disk.rs`.

use std::time::{Duration, Instant};

use sekisho_e2e::*;
use serde_json::Value;

fn timed_get(gw: &Gateway, url: &str, token: &str) -> (u16, Value, Option<String>, Duration) {
    let started = Instant::now();
    let answer = gw
        .http()
        .get(url)
        .bearer_auth(token)
        .send()
        .expect("request");
    let took = started.elapsed();
    let status = answer.status().as_u16();
    let retry = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = answer.json().unwrap_or(Value::Null);
    (status, body, retry, took)
}

#[test]
fn r_availability_postgres_stopped_answers_503_at_once_and_recovers_without_a_restart() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let mut gw = Gateway::start_on(
        TestDatabase::Postgres {
            admin_url: cluster.admin_url(),
        },
        GatewayOptions::default(),
    );
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let token = gw.token(&staff);
    let transfers = format!("{}/api/v1/transfers", gw.internal_url);
    let (status, _, _, _) = timed_get(&gw, &transfers, &token);
    assert_eq!(status, 200);

    cluster.stop().expect("stop PostgreSQL");
    // Reads, a login and readiness: each answers within the bound.
    for _ in 0..3 {
        let (status, body, retry, took) = timed_get(&gw, &transfers, &token);
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "unavailable", "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("データベース") && message.contains("database"),
            "{message}"
        );
        assert!(retry.is_some(), "no Retry-After");
        assert!(took < Duration::from_secs(7), "a request hung for {took:?}");
    }
    let started = Instant::now();
    let login = gw.login(&staff);
    assert!(
        !login.status.success(),
        "a login succeeded without a database"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "login hung");
    let started = Instant::now();
    let ready = gw
        .http()
        .get(format!("{}/readyz", gw.public_url))
        .send()
        .expect("readyz");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "readiness hung"
    );
    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().expect("json");
    let database = body["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "database").cloned())
        .unwrap_or(Value::Null);
    assert_eq!(database["ready"], false, "{body}");
    let live = gw.http().get(format!("{}/healthz", gw.public_url)).send();
    assert_eq!(live.expect("healthz").status().as_u16(), 200);

    // The database returns: the same gateway process serves again.
    cluster.start_again().expect("start PostgreSQL");
    let started = Instant::now();
    loop {
        let (status, _, _, _) = timed_get(&gw, &transfers, &token);
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway did not recover without a restart (last status {status})"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!gw.has_exited(), "the gateway died during the outage");
    let ready = gw.http().get(format!("{}/readyz", gw.internal_url)).send();
    assert_eq!(ready.expect("readyz").status().as_u16(), 200);
    // Writes work again, and nothing acknowledged was lost on the way.
    let clerk = gw.user(&admin, "sato", "staff");
    assert_success(&gw.cli(&clerk).run(&["whoami"]), "whoami after recovery");
    let events = stored_events(&gw.database_url).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.action == "user.create" && e.object == "user:sato")
    );
    gw.restart();
}
