//! Benchmark: filtered audit queries over a log of 1,000,000 events
//! (target: under 100 ms). Uses the gateway's own query code on SQLite, or
//! on PostgreSQL when BENCH_DATABASE_URL names an empty database.
//! Run with `cargo bench -p sekisho-gateway --bench audit_query`.

use std::time::Instant;

use sekisho_gateway::db::Db;
use sekisho_gateway::db::audit::{Query, page};
use sekisho_proto::AuditFilter;

const EVENTS: i64 = 1_000_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("sekisho-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
    let db = Db::connect(&url).await?;
    let started = Instant::now();
    fill(&db).await?;
    println!(
        "inserted {EVENTS} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let cases: Vec<(&str, Query)> = vec![
        (
            "actor = user7, first page",
            filter(|f| f.actor = Some("user7".into())),
        ),
        (
            "action family transfer., class I",
            filter(|f| {
                f.action = Some("transfer.".into());
                f.class = Some("I".into());
            }),
        ),
        (
            "object = one transfer",
            filter(|f| f.object = Some(format!("transfer:{:08}", 4242))),
        ),
        (
            "outcome denied",
            filter(|f| f.outcome = Some("denied".into())),
        ),
        (
            "one day (time range)",
            Query {
                since_ms: Some(base_ms() + 200 * 86_400_000),
                until_ms: Some(base_ms() + 201 * 86_400_000),
                filter: AuditFilter::default(),
            },
        ),
    ];
    for (name, query) in cases {
        let mut conn = db.read().await?;
        let mut best = f64::MAX;
        let mut rows = 0;
        for _ in 0..5 {
            let t = Instant::now();
            rows = page(&mut conn, 0, 100, &query).await?.len();
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("{name:<36} {rows:>4} rows  {best:>7.2} ms (best of 5)");
    }
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn filter(set: impl FnOnce(&mut AuditFilter)) -> Query {
    let mut f = AuditFilter::default();
    set(&mut f);
    Query {
        since_ms: None,
        until_ms: None,
        filter: f,
    }
}

fn base_ms() -> i64 {
    1_767_225_600_000 // 2026-01-01T00:00:00Z
}

/// Rows shaped like real events; hashes are not chained because the
/// benchmark measures queries, not verification.
async fn fill(db: &Db) -> anyhow::Result<()> {
    let actions = [
        "login.ok",
        "transfer.upload",
        "transfer.submit",
        "link.download",
        "login.fail",
        "transfer.release",
    ];
    let classes = ["I", "II", "III", ""];
    let mut seq = 0;
    while seq < EVENTS {
        let mut tx = db.write().await?;
        let mut sql = String::from(
            "INSERT INTO audit_events (seq, at, at_ms, actor, action, object, class, outcome, source, detail, prev_hash, hash) VALUES ",
        );
        let batch = 500.min(EVENTS - seq);
        for i in 0..batch {
            let n = seq + i + 1;
            let at_ms = base_ms() + n * 31_000;
            let action = actions[(n % 6) as usize];
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "({n}, '2026-01-01T00:00:00Z', {at_ms}, 'user{}', '{action}', 'transfer:{:08}', '{}', '{}', '192.0.2.1', '{{}}', 'p', 'h')",
                n % 97,
                n / 5,
                classes[(n % 4) as usize],
                if action == "login.fail" { "denied" } else { "ok" },
            ));
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        seq += batch;
    }
    Ok(())
}
