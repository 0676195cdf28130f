//! Benchmark: verifying a clean audit chain of 1,000,000 events on the
//! auditor's machine (target: at least 1,000,000 events per second).
//! Run with `cargo bench -p sekisho-proto --bench verify`.

use std::time::Instant;

use sekisho_proto::{AUDIT_GENESIS, AuditEvent, ChainVerifier, audit_event_hash};

fn main() {
    let count: i64 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut events = Vec::with_capacity(count as usize);
    let mut prev = AUDIT_GENESIS.to_string();
    for seq in 1..=count {
        let mut event = AuditEvent {
            seq,
            at: "2026-11-25T12:34:56Z".into(),
            actor: format!("user{}", seq % 50),
            action: "transfer.upload".into(),
            object: format!("transfer:{:032x}", seq / 7),
            class: "II".into(),
            outcome: "ok".into(),
            source: "192.0.2.10".into(),
            detail: r#"{"file":"見積書.pdf","sha256":"6e50c7ed30fc6c83a86aab3c2dba4f13624a0f9747ceb3a3154dd0a92d46f81c","size":100000}"#.into(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        event.hash = audit_event_hash(&event);
        prev = event.hash.clone();
        events.push(event);
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        let mut verifier = ChainVerifier::default();
        for event in &events {
            verifier.push(event);
        }
        let report = verifier.finish();
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(report.events_checked, count as u64);
        assert!(report.first_bad.is_none());
        best = best.min(seconds);
    }
    println!(
        "verified {count} events in {:.3} s (best of 5): {:.0} events/s",
        best,
        count as f64 / best
    );
}
