//! Copies every audit event to an outside collector, so a copy of the log
//! lives off the gateway (policy 6.(1)④, 6.(5)②). The exporter tails the
//! log by sequence number and remembers how far it got in
//! `DIR/audit-export.cursor`, so a collector outage or a restart loses
//! nothing: sending resumes where it stopped (delivery is at least once).
//!
//! Formats: JSON lines (one event per line, as the API shows it) or RFC 5424
//! syslog over TCP with RFC 6587 octet-counting framing. The target and the
//! format arrive typed from [`crate::config`], which refused wrong values at
//! start-up; nothing here parses settings.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use sekisho_proto::AuditEvent;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::config::{ExportFormat as Format, ExportTarget};
use crate::db::audit::{self, Query};
use crate::fsutil;
use crate::state::Shared;

fn cursor_path(state: &Shared) -> PathBuf {
    state.dir.join("audit-export.cursor")
}

fn read_cursor(state: &Shared) -> i64 {
    std::fs::read_to_string(cursor_path(state))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Keeps the characters RFC 5424 allows in a header field.
fn header_token(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

/// Escapes an SD-PARAM value (RFC 5424 §6.3.3) and drops control characters
/// so user text cannot end the record early.
fn param_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

pub fn format_event(event: &AuditEvent, format: Format, hostname: &str) -> Result<Vec<u8>> {
    match format {
        Format::JsonLines => {
            let mut line = serde_json::to_vec(event)?;
            line.push(b'\n');
            Ok(line)
        }
        Format::Syslog => {
            // Facility 13 (log audit); warning for refusals, info otherwise.
            let severity = if event.outcome == "ok" { 6 } else { 4 };
            let message = format!(
                "<{}>1 {} {} sekisho - {} [sekisho@32473 seq=\"{}\" actor=\"{}\" object=\"{}\" class=\"{}\" outcome=\"{}\" source=\"{}\" hash=\"{}\" prev=\"{}\"] {}",
                13 * 8 + severity,
                event.at,
                header_token(hostname, 255),
                header_token(&event.action, 32),
                event.seq,
                param_value(&event.actor),
                param_value(&event.object),
                param_value(&event.class),
                param_value(&event.outcome),
                param_value(&event.source),
                event.hash,
                event.prev_hash,
                param_value(&event.detail),
            );
            Ok(format!("{} {}", message.len(), message).into_bytes())
        }
    }
}

/// Runs until the task is dropped (at shutdown). The cursor is saved only
/// after a page was sent, so stopping anywhere loses nothing: at worst the
/// last page is sent again.
pub async fn run(state: Shared, target: ExportTarget, format: Format) {
    let target = target.address();
    let hostname = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "sekisho".into());
    let mut cursor = read_cursor(&state);
    let mut stream: Option<TcpStream> = None;
    let mut lease = super::lease::Lease::new(super::lease::Job::AuditExport);
    loop {
        if !lease.hold(&state).await {
            stream = None;
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        match export_once(&state, target, format, &hostname, &mut cursor, &mut stream).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                stream = None;
                tracing::warn!("audit export to {target} failed, will retry: {e:#}");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Sends one page; true when there may be more right away.
async fn export_once(
    state: &Shared,
    target: &str,
    format: Format,
    hostname: &str,
    cursor: &mut i64,
    stream: &mut Option<TcpStream>,
) -> Result<bool> {
    let events = {
        let mut conn = state.db.read().await?;
        audit::page(&mut conn, *cursor, 1000, &Query::default()).await?
    };
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(false);
    };
    if stream.is_none() {
        *stream = Some(
            TcpStream::connect(target)
                .await
                .with_context(|| format!("cannot reach the log collector at {target}"))?,
        );
    }
    let Some(connection) = stream.as_mut() else {
        return Ok(false);
    };
    let mut buffer = Vec::new();
    for event in &events {
        buffer.extend(format_event(event, format, hostname)?);
    }
    connection.write_all(&buffer).await?;
    connection.flush().await?;
    *cursor = last;
    fsutil::write_atomic(&cursor_path(state), last.to_string().as_bytes(), 0o600)?;
    Ok(events.len() == 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: &str, actor: &str) -> AuditEvent {
        AuditEvent {
            seq: 7,
            at: "2026-11-25T00:00:00Z".into(),
            actor: actor.into(),
            action: "login.fail".into(),
            object: "user:x".into(),
            class: String::new(),
            outcome: "denied".into(),
            source: "192.0.2.1".into(),
            detail: detail.into(),
            prev_hash: "aa".into(),
            hash: "bb".into(),
        }
    }

    #[test]
    fn syslog_records_are_framed_and_escaped() {
        let line = format_event(
            &event("{\"a\":1}", "eve\"] [forged x=\"1\"]\n<13>1 fake"),
            Format::Syslog,
            "gw",
        )
        .unwrap();
        let text = String::from_utf8(line).unwrap();
        let (length, record) = text.split_once(' ').unwrap();
        assert_eq!(length.parse::<usize>().unwrap(), record.len());
        assert!(record.starts_with(
            "<108>1 2026-11-25T00:00:00Z gw sekisho - login.fail [sekisho@32473 seq=\"7\""
        ));
        assert!(record.contains("actor=\"eve\\\"\\] [forged x=\\\"1\\\"\\]\\u{a}<13>1 fake\""));
        assert!(!record.contains('\n'));
    }

    #[test]
    fn json_lines_are_one_line_each() {
        let line = format_event(&event("{}", "a\nb"), Format::JsonLines, "gw").unwrap();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
    }
}
