//! `audit report`: the yearly self-inspection report (policy 9.(1)).
//!
//! The figures are counted on the auditor's computer from the events the
//! verification downloads, not asked of the gateway, so the report and the
//! verification status printed in it describe the same data. A broken log
//! still gets its report, with the status shown first and in capitals:
//! the year's figures are still evidence, just not trustworthy evidence.
//!
//! [`Tally`] does the counting, one event at a time so that a large log is
//! never held in memory, and knows nothing of the network or formats;
//! [`tally`] runs it over a slice, for tests. The figures then become a
//! list of small tables ([`Section`]), written once and rendered as
//! Markdown, CSV or HTML, each through its own escaper, because names in
//! the report (approvers, accounts tried at the login prompt) are user
//! input.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result, bail};
use sekisho_proto::AuditEvent;
use serde::Serialize;

use super::escape::{UTF8_BOM, csv_row, html, markdown};
use super::files::Sink;
use super::times::{event_seconds, rfc3339, year_bounds};
use super::verify::{Verification, verify_gateway};
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The calendar year to report on (1 January to 31 December, UTC).
    #[arg(long, value_name = "YYYY",
          value_parser = clap::value_parser!(i32).range(2000..=9998))]
    pub year: i32,
    /// markdown (default), csv (opens in Excel) or html (one printable page).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Write to this new file instead of the screen (an existing file is never replaced).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Csv,
    Html,
}
use crate::config::Config;

/// Classes as the policy names them; events without one are "unknown".
const CLASSES: [&str; 3] = ["I", "II", "III"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    pub submitted: u64,
    pub released: u64,
    pub rejected: u64,
    pub revoked: u64,
    pub expired: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Decisions {
    pub approved: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountChanges {
    pub created: u64,
    pub disabled: u64,
    pub enabled: u64,
    pub locked: u64,
    pub password_changed: u64,
    pub password_change_refused: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failures {
    pub account: String,
    pub failures: u64,
}

/// Everything the report counts for one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct YearFigures {
    pub events_in_period: u64,
    /// Events whose time the client could not read (not counted anywhere).
    pub events_with_unreadable_time: u64,
    /// Keyed `I`, `II`, `III` and, when any, `unknown`.
    pub transfers: BTreeMap<String, ClassCounts>,
    pub decisions_by_approver: BTreeMap<String, Decisions>,
    /// Decisions whose submission is in the log, so their time is known.
    pub decisions_timed: u64,
    pub decision_median_seconds: Option<i64>,
    pub decision_max_seconds: Option<i64>,
    pub downloads: u64,
    pub downloads_refused: u64,
    pub incidents_opened: u64,
    pub incidents_closed: u64,
    /// Keyed like `transfers`.
    pub disposals: BTreeMap<String, u64>,
    pub media_carried_out: u64,
    pub media_overdue: u64,
    pub accounts: AccountChanges,
    pub failed_logins: u64,
    /// The five accounts with most failures, most first.
    pub failed_logins_top: Vec<Failures>,
}

fn class_key(class: &str) -> String {
    if CLASSES.contains(&class) {
        class.to_string()
    } else {
        "unknown".to_string()
    }
}

/// Counts events of the period `[since, until)` (Unix seconds), one at a
/// time, in log order.
pub struct Tally {
    since: i64,
    until: i64,
    figures: YearFigures,
    /// When each transfer was last submitted, over the whole log, so a
    /// January decision on a December request still has its time.
    submitted_at: HashMap<String, i64>,
    decision_seconds: Vec<i64>,
    failures: HashMap<String, u64>,
}

impl Tally {
    pub fn new(since: i64, until: i64) -> Tally {
        let mut figures = YearFigures::default();
        for class in CLASSES {
            figures
                .transfers
                .insert(class.to_string(), ClassCounts::default());
            figures.disposals.insert(class.to_string(), 0);
        }
        Tally {
            since,
            until,
            figures,
            submitted_at: HashMap::new(),
            decision_seconds: Vec::new(),
            failures: HashMap::new(),
        }
    }

    pub fn add(&mut self, e: &AuditEvent) {
        let Some(at) = event_seconds(&e.at) else {
            self.figures.events_with_unreadable_time += 1;
            return;
        };
        // Refused and failed attempts are logged under the same action;
        // only what actually happened counts as done.
        let ok = e.outcome == "ok";
        if ok && e.action == "transfer.submit" {
            self.submitted_at.insert(e.object.clone(), at);
        }
        if at < self.since || at >= self.until {
            return;
        }
        let f = &mut self.figures;
        f.events_in_period += 1;
        let class = || class_key(&e.class);
        match (e.action.as_str(), ok) {
            ("transfer.submit", true) => f.transfers.entry(class()).or_default().submitted += 1,
            ("transfer.release", true) => f.transfers.entry(class()).or_default().released += 1,
            ("transfer.revoke", true) => f.transfers.entry(class()).or_default().revoked += 1,
            ("transfer.expire", true) => f.transfers.entry(class()).or_default().expired += 1,
            (action @ ("transfer.approve" | "transfer.reject"), true) => {
                let by = f.decisions_by_approver.entry(e.actor.clone()).or_default();
                if action == "transfer.approve" {
                    by.approved += 1;
                } else {
                    by.rejected += 1;
                    f.transfers.entry(class()).or_default().rejected += 1;
                }
                if let Some(submitted) = self.submitted_at.remove(&e.object) {
                    // A clock that ran backwards is logged separately;
                    // it must not make a negative waiting time.
                    self.decision_seconds.push((at - submitted).max(0));
                }
            }
            ("link.download", true) => f.downloads += 1,
            ("link.refused", _) => f.downloads_refused += 1,
            ("incident.open", true) => f.incidents_opened += 1,
            ("incident.close", true) => f.incidents_closed += 1,
            ("deletion.done", true) => *f.disposals.entry(class()).or_default() += 1,
            ("media.checkout", true) => f.media_carried_out += 1,
            ("media.overdue", _) => f.media_overdue += 1,
            ("user.create", true) => f.accounts.created += 1,
            ("user.disable", true) => f.accounts.disabled += 1,
            ("user.enable", true) => f.accounts.enabled += 1,
            ("user.lock", _) => f.accounts.locked += 1,
            ("password.change", true) => f.accounts.password_changed += 1,
            ("password.change", false) => f.accounts.password_change_refused += 1,
            ("login.fail", _) => {
                f.failed_logins += 1;
                *self.failures.entry(e.actor.clone()).or_default() += 1;
            }
            _ => {}
        }
    }

    pub fn finish(mut self) -> YearFigures {
        let f = &mut self.figures;
        let mut times = std::mem::take(&mut self.decision_seconds);
        times.sort_unstable();
        f.decisions_timed = times.len() as u64;
        f.decision_median_seconds = median(&times);
        f.decision_max_seconds = times.last().copied();
        let mut failures: Vec<Failures> = self
            .failures
            .into_iter()
            .map(|(account, failures)| Failures { account, failures })
            .collect();
        failures.sort_by(|a, b| {
            b.failures
                .cmp(&a.failures)
                .then_with(|| a.account.cmp(&b.account))
        });
        failures.truncate(5);
        f.failed_logins_top = failures;
        self.figures
    }
}

/// The middle of sorted values; the mean of the two middles for an even count.
fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    let mid = n / 2;
    match n {
        0 => None,
        n if n % 2 == 1 => sorted.get(mid).copied(),
        _ => Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2),
    }
}

/// The figures of `[since, until)` over `events` in log order. `run`
/// streams the download through [`Tally`] instead of collecting it.
#[cfg(test)]
pub fn tally(events: &[AuditEvent], since: i64, until: i64) -> YearFigures {
    let mut t = Tally::new(since, until);
    for e in events {
        t.add(e);
    }
    t.finish()
}

/// `2時間05分 (2 h 05 min)`, rounded to the minute.
fn hours_minutes(seconds: i64) -> String {
    let minutes = (seconds + 30) / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    format!("{h}時間{m:02}分 ({h} h {m:02} min)")
}

/// One small table of the report.
struct Section {
    /// Stable name for the CSV `section` column.
    id: &'static str,
    title: String,
    row_header: &'static str,
    /// (label, key for the CSV metric)
    columns: Vec<(&'static str, &'static str)>,
    rows: Vec<Row>,
}

impl Section {
    /// Counts line up on the right, sentences on the left.
    fn numeric(&self) -> bool {
        self.rows
            .iter()
            .flat_map(|r| &r.values)
            .all(|v| v.parse::<u64>().is_ok() || v == "-" || v.contains("時間"))
    }
}

struct Row {
    label: String,
    key: String,
    values: Vec<String>,
}

fn row(label: impl Into<String>, key: impl Into<String>, values: Vec<String>) -> Row {
    Row {
        label: label.into(),
        key: key.into(),
        values,
    }
}

const VALUE: [(&str, &str); 1] = [("件数 (Count)", "")];

fn class_label(key: &str) -> String {
    if key == "unknown" {
        "不明 (unknown)".to_string()
    } else {
        format!("重要性{key} (class {key})")
    }
}

/// Everything a report says, before it is given a format.
#[derive(Serialize)]
struct Report<'a> {
    year: i32,
    since: String,
    until: String,
    gateway: &'a str,
    generated_at: String,
    generated_by: &'a str,
    /// `OK` or `BROKEN`.
    status: &'static str,
    figures: &'a YearFigures,
    verification: &'a Verification,
}

impl Report<'_> {
    fn status_reason(&self) -> String {
        let v = self.verification;
        match (&v.first_bad, v.problems.first()) {
            (Some(bad), _) => format!("audit log BROKEN at event #{}: {}", bad.seq, bad.reason),
            (None, Some(problem)) => problem.clone(),
            (None, None) if v.signatures_checked => {
                "the chain and every signed checkpoint verified on the auditor's computer".to_string()
            }
            (None, None) => {
                "the chain verified, but no audit key is pinned, so checkpoint signatures were not checked"
                    .to_string()
            }
        }
    }

    fn sections(&self) -> Vec<Section> {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        let mut out = Vec::new();

        let mut rows = Vec::new();
        let mut total = ClassCounts::default();
        for (key, c) in &f.transfers {
            if key == "unknown" && *c == ClassCounts::default() {
                continue;
            }
            total.submitted += c.submitted;
            total.released += c.released;
            total.rejected += c.rejected;
            total.revoked += c.revoked;
            total.expired += c.expired;
            rows.push(row(
                class_label(key),
                key.as_str(),
                vec![
                    n(c.submitted),
                    n(c.released),
                    n(c.rejected),
                    n(c.revoked),
                    n(c.expired),
                ],
            ));
        }
        rows.push(row(
            "合計 (Total)",
            "total",
            vec![
                n(total.submitted),
                n(total.released),
                n(total.rejected),
                n(total.revoked),
                n(total.expired),
            ],
        ));
        out.push(Section {
            id: "transfers",
            title: "1. 重要性別の送信 (Transfers by class)".into(),
            row_header: "重要性 (Class)",
            columns: vec![
                ("申請 (Submitted)", "submitted"),
                ("送出 (Released)", "released"),
                ("却下 (Rejected)", "rejected"),
                ("取消 (Revoked)", "revoked"),
                ("期限切れ (Expired)", "expired"),
            ],
            rows,
        });

        let mut rows: Vec<Row> = f
            .decisions_by_approver
            .iter()
            .map(|(who, d)| row(who.clone(), who.clone(), vec![n(d.approved), n(d.rejected)]))
            .collect();
        let (approved, rejected) = f
            .decisions_by_approver
            .values()
            .fold((0, 0), |(a, r), d| (a + d.approved, r + d.rejected));
        rows.push(row("合計 (Total)", "total", vec![n(approved), n(rejected)]));
        out.push(Section {
            id: "approvals",
            title: "2. 承認と却下 (Approvals and rejections)".into(),
            row_header: "承認者 (Approver)",
            columns: vec![
                ("承認 (Approved)", "approved"),
                ("却下 (Rejected)", "rejected"),
            ],
            rows,
        });

        let shown = |v: Option<i64>| v.map_or_else(|| "-".to_string(), hours_minutes);
        out.push(Section {
            id: "decision_time",
            title: "3. 申請から判断までの時間 (Time from submission to decision)".into(),
            row_header: "項目 (Metric)",
            columns: vec![("値 (Value)", "")],
            rows: vec![
                row(
                    "判断件数 (Decisions timed)",
                    "decisions",
                    vec![n(f.decisions_timed)],
                ),
                row(
                    "中央値 (Median)",
                    "median",
                    vec![shown(f.decision_median_seconds)],
                ),
                row(
                    "最大 (Maximum)",
                    "maximum",
                    vec![shown(f.decision_max_seconds)],
                ),
            ],
        });

        out.push(Section {
            id: "downloads",
            title: "4. ダウンロード (Downloads)".into(),
            row_header: "項目 (Metric)",
            columns: VALUE.to_vec(),
            rows: vec![
                row(
                    "ダウンロード (Downloads, link.download)",
                    "download",
                    vec![n(f.downloads)],
                ),
                row(
                    "拒否 (Refused, link.refused)",
                    "refused",
                    vec![n(f.downloads_refused)],
                ),
            ],
        });

        out.push(Section {
            id: "incidents",
            title: "5. インシデント (Incidents)".into(),
            row_header: "項目 (Metric)",
            columns: VALUE.to_vec(),
            rows: vec![
                row(
                    "発生 (Opened, incident.open)",
                    "opened",
                    vec![n(f.incidents_opened)],
                ),
                row(
                    "終結 (Closed, incident.close)",
                    "closed",
                    vec![n(f.incidents_closed)],
                ),
            ],
        });

        let mut rows = Vec::new();
        for (key, count) in &f.disposals {
            if key == "unknown" && *count == 0 {
                continue;
            }
            rows.push(row(class_label(key), key.as_str(), vec![n(*count)]));
        }
        rows.push(row(
            "合計 (Total)",
            "total",
            vec![n(f.disposals.values().sum())],
        ));
        out.push(Section {
            id: "disposals",
            title: "6. 廃棄 (Disposals, deletion.done)".into(),
            row_header: "重要性 (Class)",
            columns: VALUE.to_vec(),
            rows,
        });

        out.push(Section {
            id: "media",
            title: "7. 外部記録媒体 (Removable media)".into(),
            row_header: "項目 (Metric)",
            columns: VALUE.to_vec(),
            rows: vec![
                row(
                    "持出し (Carried out, media.checkout)",
                    "carried_out",
                    vec![n(f.media_carried_out)],
                ),
                row(
                    "返却期限超過 (Overdue, media.overdue)",
                    "overdue",
                    vec![n(f.media_overdue)],
                ),
            ],
        });

        let a = &f.accounts;
        out.push(Section {
            id: "accounts",
            title: "8. アカウントの変更 (Account changes)".into(),
            row_header: "項目 (Metric)",
            columns: VALUE.to_vec(),
            rows: vec![
                row("作成 (Created, user.create)", "created", vec![n(a.created)]),
                row(
                    "無効化 (Disabled, user.disable)",
                    "disabled",
                    vec![n(a.disabled)],
                ),
                row(
                    "有効化 (Enabled, user.enable)",
                    "enabled",
                    vec![n(a.enabled)],
                ),
                row("ロック (Locked, user.lock)", "locked", vec![n(a.locked)]),
                row(
                    "パスワード変更 (Password changed)",
                    "password_changed",
                    vec![n(a.password_changed)],
                ),
                row(
                    "パスワード変更の拒否 (Password change refused)",
                    "password_change_refused",
                    vec![n(a.password_change_refused)],
                ),
            ],
        });

        let mut rows = vec![row(
            "合計 (All accounts)",
            "total",
            vec![n(f.failed_logins)],
        )];
        for top in &f.failed_logins_top {
            rows.push(row(
                top.account.clone(),
                format!("account:{}", top.account),
                vec![n(top.failures)],
            ));
        }
        out.push(Section {
            id: "failed_logins",
            title: "9. ログイン失敗 (Failed logins; top 5 accounts)".into(),
            row_header: "アカウント (Account)",
            columns: vec![("失敗回数 (Failures)", "")],
            rows,
        });

        let v = self.verification;
        let mut rows = vec![
            row("状態 (Status)", "status", vec![self.status.to_string()]),
            row("理由 (Reason)", "reason", vec![self.status_reason()]),
            row(
                "検証したイベント数 (Events checked)",
                "events_checked",
                vec![n(v.events_checked)],
            ),
            row(
                "先頭ハッシュ (Head hash)",
                "head_hash",
                vec![v.head_hash.clone()],
            ),
            row(
                "最新の署名付きチェックポイント (Latest signed checkpoint)",
                "latest_checkpoint",
                vec![
                    v.latest_checkpoint
                        .as_ref()
                        .map_or_else(|| "-".to_string(), |c| format!("#{} ({})", c.seq, c.at)),
                ],
            ),
            row(
                "署名の確認 (Signatures)",
                "signatures_checked",
                vec![if v.signatures_checked {
                    "checked with the pinned key".to_string()
                } else {
                    "NOT checked: no audit key is pinned".to_string()
                }],
            ),
        ];
        for (i, problem) in v.problems.iter().enumerate() {
            rows.push(row(
                format!("問題 (Problem) {}", i + 1),
                format!("problem_{}", i + 1),
                vec![problem.clone()],
            ));
        }
        out.push(Section {
            id: "verification",
            title: "10. 監査ログの検証 (Verification of the audit log)".into(),
            row_header: "項目 (Metric)",
            columns: vec![("値 (Value)", "")],
            rows,
        });
        out
    }

    fn about(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ゲートウェイ (Gateway)", self.gateway.to_string()),
            (
                "対象期間 (Period, UTC; end not included)",
                format!("{} – {}", self.since, self.until),
            ),
            ("作成日時 (Generated at)", self.generated_at.clone()),
            ("作成者 (Generated by)", self.generated_by.to_string()),
            (
                "対象期間のイベント数 (Events in the period)",
                self.figures.events_in_period.to_string(),
            ),
        ]
    }

    fn title(&self) -> String {
        format!(
            "関所 監査ログ 年次自己点検報告 {} 年 (Sekisho yearly audit self-inspection report, {})",
            self.year, self.year
        )
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "集計は監査担当者の端末で、ダウンロードしたイベントから行いました (counted on the auditor's computer from the downloaded events; policy 9.(1)).".to_string(),
        ];
        if self.figures.events_with_unreadable_time > 0 {
            notes.push(format!(
                "{} events had a time that could not be read and are not counted.",
                self.figures.events_with_unreadable_time
            ));
        }
        notes
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {}\n", self.title());
        let _ = writeln!(s, "> **{}**", self.banner());
        let _ = writeln!(s, ">\n> {}\n", markdown(&self.status_reason()));
        let _ = writeln!(s, "| 項目 (Item) | 値 (Value) |\n|---|---|");
        for (label, value) in self.about() {
            let _ = writeln!(s, "| {label} | {} |", markdown(&value));
        }
        s.push('\n');
        for note in self.notes() {
            let _ = writeln!(s, "{}\n", markdown(&note));
        }
        for section in self.sections() {
            let _ = writeln!(s, "## {}\n", section.title);
            let _ = write!(s, "| {} |", section.row_header);
            for (label, _) in &section.columns {
                let _ = write!(s, " {label} |");
            }
            s.push_str("\n|---|");
            for _ in &section.columns {
                s.push_str(if section.numeric() { "---:|" } else { "---|" });
            }
            s.push('\n');
            for r in &section.rows {
                let _ = write!(s, "| {} |", markdown(&r.label));
                for value in &r.values {
                    let _ = write!(s, " {} |", markdown(value));
                }
                s.push('\n');
            }
            s.push('\n');
        }
        s
    }

    fn csv(&self) -> String {
        let mut s = String::from(UTF8_BOM);
        s.push_str(&csv_row(&["section", "metric", "value"]));
        let status = [
            ("year", self.year.to_string()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
            ("gateway", self.gateway.to_string()),
            ("generated_at", self.generated_at.clone()),
            ("generated_by", self.generated_by.to_string()),
            (
                "events_in_period",
                self.figures.events_in_period.to_string(),
            ),
            ("status", self.status.to_string()),
        ];
        for (metric, value) in status {
            s.push_str(&csv_row(&["report", metric, &value]));
        }
        for section in self.sections() {
            for r in &section.rows {
                for ((_, column), value) in section.columns.iter().zip(&r.values) {
                    let metric = if column.is_empty() {
                        r.key.clone()
                    } else {
                        format!("{}.{column}", r.key)
                    };
                    s.push_str(&csv_row(&[section.id, &metric, value]));
                }
            }
        }
        s
    }

    fn html(&self) -> String {
        let ok = self.status == "OK";
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n",
            html(&self.title()),
            CSS
        );
        let _ = writeln!(s, "<h1>{}</h1>", html(&self.title()));
        let _ = writeln!(
            s,
            "<div class=\"status {}\"><strong>{}</strong><br>{}</div>",
            if ok { "ok" } else { "broken" },
            html(&self.banner()),
            html(&self.status_reason())
        );
        s.push_str("<table class=\"about\">\n");
        for (label, value) in self.about() {
            let _ = writeln!(
                s,
                "<tr><th>{}</th><td>{}</td></tr>",
                html(label),
                html(&value)
            );
        }
        s.push_str("</table>\n");
        for note in self.notes() {
            let _ = writeln!(s, "<p class=\"note\">{}</p>", html(&note));
        }
        for section in self.sections() {
            let _ = writeln!(
                s,
                "<h2>{}</h2>\n<table{}>",
                html(&section.title),
                if section.numeric() {
                    ""
                } else {
                    " class=\"text\""
                }
            );
            let _ = write!(s, "<tr><th>{}</th>", html(section.row_header));
            for (label, _) in &section.columns {
                let _ = write!(s, "<th>{}</th>", html(label));
            }
            s.push_str("</tr>\n");
            for r in &section.rows {
                let _ = write!(s, "<tr><th>{}</th>", html(&r.label));
                for value in &r.values {
                    let _ = write!(s, "<td>{}</td>", html(value));
                }
                s.push_str("</tr>\n");
            }
            s.push_str("</table>\n");
        }
        s.push_str("</body>\n</html>\n");
        s
    }

    fn banner(&self) -> String {
        if self.status == "OK" {
            "検証状態 (Verification): OK — 監査ログの検証に成功しました (the audit log verified)"
                .to_string()
        } else {
            "検証状態 (Verification): BROKEN — 監査ログに改ざん・欠落の疑いがあります。この報告の数値は信頼できません (the audit log FAILED verification; the figures below cannot be trusted)".to_string()
        }
    }
}

const CSS: &str = "body { font-family: \"Yu Gothic\", \"Hiragino Sans\", \"Noto Sans JP\", Meiryo, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.4em; }
h2 { font-size: 1.1em; margin-top: 1.6em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #999; padding: 0.25em 0.6em; }
th { background: #f0f0f0; text-align: left; font-weight: normal; }
td { text-align: right; word-break: break-all; }
table.about td, table.text td { text-align: left; }
.status { padding: 0.8em; margin: 1em 0; border: 3px solid; }
.status.ok { border-color: #2a7a2a; }
.status.broken { border-color: #b00000; color: #b00000; font-size: 1.2em; }
.note { font-size: 0.9em; color: #444; }
@media print { body { margin: 0; } h2 { break-after: avoid; } table { break-inside: avoid; } }
";

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let format = match (cfg.json, args.format) {
        (false, format) => Some(format.unwrap_or(Format::Markdown)),
        (true, None) => None,
        (true, Some(_)) => bail!(
            "--json asks for JSON but --format asks for something else; give only one of them"
        ),
    };
    let (since, until) = year_bounds(args.year).map_err(anyhow::Error::msg)?;
    let (api, session) = crate::commands::logged_in(cfg)?;
    // A name already taken is refused before the long download.
    let mut sink = Sink::open(args.output.as_deref())?;
    let mut counter = Tally::new(since.unix_timestamp(), until.unix_timestamp());
    let (verification, _pinned) =
        verify_gateway(cfg, &api, &session.gateway, &[], super::MAX_PAGE, |event| {
            counter.add(event)
        })?;
    let figures = counter.finish();
    for warning in &verification.warnings {
        eprintln!("warning: {warning}");
    }
    let report = Report {
        year: args.year,
        since: rfc3339(since),
        until: rfc3339(until),
        gateway: &session.gateway,
        generated_at: super::times::now(),
        generated_by: &session.username,
        status: if verification.verified {
            "OK"
        } else {
            "BROKEN"
        },
        figures: &figures,
        verification: &verification,
    };
    let text = match format {
        None => {
            let mut json =
                serde_json::to_string_pretty(&report).context("could not encode the report")?;
            json.push('\n');
            json
        }
        Some(Format::Markdown) => report.markdown(),
        Some(Format::Csv) => report.csv(),
        Some(Format::Html) => report.html(),
    };
    sink.write_all(text.as_bytes())
        .context("could not write the report")?;
    sink.finish()?;
    if let Some(path) = &args.output {
        eprintln!("Report for {} written to {}.", args.year, path.display());
    }
    if verification.verified {
        Ok(())
    } else {
        eprintln!(
            "The report was written, but the audit log FAILED verification (監査ログの検証に失敗しました); the report says so at the top. Run `sekisho audit verify` for details and tell your CISO."
        );
        Err(crate::commands::Failed.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::audit::escape::tests::parse_csv;

    const SINCE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const UNTIL: i64 = 1_798_761_600; // 2027-01-01T00:00:00Z

    fn ev(
        at: &str,
        actor: &str,
        action: &str,
        object: &str,
        class: &str,
        outcome: &str,
    ) -> AuditEvent {
        AuditEvent {
            seq: 0,
            at: at.into(),
            actor: actor.into(),
            action: action.into(),
            object: object.into(),
            class: class.into(),
            outcome: outcome.into(),
            source: "10.0.0.1".into(),
            detail: "{}".into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// `at actor action object class outcome`, `-` for an empty field.
    const SAMPLE: &[&str] = &[
        // Submitted in December, decided in January: timed, counted in 2026 only as a decision.
        "2025-12-31T23:00:00Z tanaka transfer.submit transfer:a I ok",
        "2026-01-01T01:00:00Z suzuki transfer.approve transfer:a I ok",
        "2026-01-01T01:00:00Z suzuki transfer.release transfer:a I ok",
        // 1 h 30 min to a rejection.
        "2026-03-01T09:00:00Z tanaka transfer.submit transfer:b II ok",
        "2026-03-01T10:30:00Z sato transfer.reject transfer:b II ok",
        // 3 h to an approval, then revoked.
        "2026-04-01T09:00:00Z tanaka transfer.submit transfer:c II ok",
        "2026-04-01T12:00:00Z suzuki transfer.approve transfer:c II ok",
        "2026-04-01T12:00:00Z suzuki transfer.release transfer:c II ok",
        "2026-04-02T08:00:00Z tanaka transfer.revoke transfer:c II ok",
        // 5 h 01 min 40 s, rounds to 5 h 02 min.
        "2026-05-01T00:00:00Z tanaka transfer.submit transfer:d I ok",
        "2026-05-01T05:01:40Z sato transfer.approve transfer:d I ok",
        // Class III: released at once, later expired.
        "2026-06-01T00:00:00Z tanaka transfer.submit transfer:e III ok",
        "2026-06-01T00:00:00Z tanaka transfer.release transfer:e III ok",
        "2026-06-08T00:00:00Z (gateway) transfer.expire transfer:e III ok",
        // A refused attempt does not count as an approval.
        "2026-06-09T00:00:00Z tanaka transfer.approve transfer:f I denied",
        "2026-07-01T00:00:00Z - link.download link:1 I ok",
        "2026-07-01T00:00:00Z - link.download link:2 II ok",
        "2026-07-02T00:00:00Z - link.refused link:3 - denied",
        "2026-08-01T00:00:00Z admin user.create user:x - ok",
        "2026-08-02T00:00:00Z admin user.disable user:x - ok",
        "2026-08-03T00:00:00Z admin user.enable user:x - ok",
        "2026-08-04T00:00:00Z x user.lock user:x - denied",
        "2026-08-05T00:00:00Z x password.change user:x - ok",
        "2026-08-06T00:00:00Z x password.change user:x - denied",
        "2026-09-01T00:00:00Z mallory login.fail user:mallory - denied",
        "2026-09-01T00:00:01Z mallory login.fail user:mallory - denied",
        // (a hostile user name is added here by `sample`)
        "2026-09-01T00:00:03Z b login.fail user:b - denied",
        "2026-09-01T00:00:04Z c login.fail user:c - denied",
        "2026-09-01T00:00:05Z d login.fail user:d - denied",
        "2026-09-01T00:00:06Z e login.fail user:e - denied",
        "2026-10-01T00:00:00Z kansa incident.open incident:1 - ok",
        "2026-10-02T00:00:00Z (gateway) deletion.done transfer:a I ok",
        "2026-10-02T00:00:00Z (gateway) deletion.done transfer:q - ok",
        "2026-10-03T00:00:00Z tanaka media.checkout media:1 II ok",
        // Outside the year and unreadable: not counted.
        "2027-01-01T00:00:00Z tanaka transfer.submit transfer:z I ok",
        "2026-13-01T00:00:00Z tanaka transfer.submit transfer:y I ok",
    ];

    fn sample() -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = SAMPLE
            .iter()
            .map(|line| {
                let f: Vec<&str> = line
                    .split(' ')
                    .map(|x| if x == "-" { "" } else { x })
                    .collect();
                ev(f[0], f[1], f[2], f[3], f[4], f[5])
            })
            .collect();
        let hostile = ev(
            "2026-09-01T00:00:02Z",
            "admin\r\n| x |",
            "login.fail",
            "user:?",
            "",
            "denied",
        );
        events.insert(26, hostile);
        events
    }

    #[test]
    fn transfers_are_counted_by_class_and_outcome() {
        let f = tally(&sample(), SINCE, UNTIL);
        let get = |c: &str| f.transfers.get(c).cloned().unwrap_or_default();
        assert_eq!(
            get("I"),
            ClassCounts {
                submitted: 1,
                released: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            get("II"),
            ClassCounts {
                submitted: 2,
                released: 1,
                rejected: 1,
                revoked: 1,
                expired: 0
            }
        );
        assert_eq!(
            get("III"),
            ClassCounts {
                submitted: 1,
                released: 1,
                expired: 1,
                ..Default::default()
            }
        );
        assert!(!f.transfers.contains_key("unknown"));
        assert_eq!(f.events_with_unreadable_time, 1);
        assert_eq!(f.events_in_period, 34);
    }

    #[test]
    fn decisions_are_counted_by_approver_and_timed() {
        let f = tally(&sample(), SINCE, UNTIL);
        assert_eq!(
            f.decisions_by_approver.get("suzuki"),
            Some(&Decisions {
                approved: 2,
                rejected: 0
            })
        );
        assert_eq!(
            f.decisions_by_approver.get("sato"),
            Some(&Decisions {
                approved: 1,
                rejected: 1
            })
        );
        assert!(!f.decisions_by_approver.contains_key("tanaka"));
        // 2 h, 1 h 30, 3 h, 5 h 01 min 40 s: the median is the mean of the middle two.
        assert_eq!(f.decisions_timed, 4);
        assert_eq!(f.decision_median_seconds, Some((7_200 + 10_800) / 2));
        assert_eq!(f.decision_max_seconds, Some(18_100));
        assert_eq!(hours_minutes(18_100), "5時間02分 (5 h 02 min)");
        assert_eq!(hours_minutes(9_000), "2時間30分 (2 h 30 min)");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5]), Some(5));
        assert_eq!(median(&[1, 2, 9]), Some(2));
        assert_eq!(median(&[1, 2, 4, 9]), Some(3));
    }

    #[test]
    fn the_other_sections_are_counted() {
        let f = tally(&sample(), SINCE, UNTIL);
        assert_eq!((f.downloads, f.downloads_refused), (2, 1));
        assert_eq!((f.incidents_opened, f.incidents_closed), (1, 0));
        assert_eq!(f.disposals.get("I"), Some(&1));
        assert_eq!(f.disposals.get("unknown"), Some(&1));
        assert_eq!(f.disposals.get("III"), Some(&0));
        assert_eq!((f.media_carried_out, f.media_overdue), (1, 0));
        assert_eq!(
            f.accounts,
            AccountChanges {
                created: 1,
                disabled: 1,
                enabled: 1,
                locked: 1,
                password_changed: 1,
                password_change_refused: 1,
            }
        );
        assert_eq!(f.failed_logins, 7);
        assert_eq!(f.failed_logins_top.len(), 5);
        assert_eq!(
            f.failed_logins_top[0],
            Failures {
                account: "mallory".into(),
                failures: 2
            }
        );
        // Ties are listed by name.
        assert_eq!(f.failed_logins_top[1].account, "admin\r\n| x |");
        assert_eq!(f.failed_logins_top[4].account, "d");
    }

    #[test]
    fn an_empty_year_shows_zeros_not_gaps() {
        let f = tally(&[], SINCE, UNTIL);
        assert_eq!(f.transfers.len(), 3);
        assert_eq!(f.decision_median_seconds, None);
        assert!(f.failed_logins_top.is_empty());
    }

    fn verification(ok: bool) -> Verification {
        Verification {
            verified: ok,
            events_checked: 36,
            first_bad: (!ok).then(|| sekisho_proto::BadEvent {
                seq: 12,
                reason: "its content does not match its hash (the event was changed)".into(),
            }),
            head_hash: "ab".repeat(32),
            last_seq: 36,
            first_seq: Some(1),
            gateway_last_seq: 36,
            chain_intact: ok,
            checkpoints_verified: 1,
            latest_checkpoint: None,
            checkpoints_rejected: 0,
            signatures_checked: true,
            problems: if ok {
                vec![]
            } else {
                vec!["audit log BROKEN at event #12: its content does not match its hash (the event was changed)".into()]
            },
            warnings: vec![],
        }
    }

    fn report<'a>(figures: &'a YearFigures, v: &'a Verification) -> Report<'a> {
        Report {
            year: 2026,
            since: "2026-01-01T00:00:00Z".into(),
            until: "2027-01-01T00:00:00Z".into(),
            gateway: "https://gw.example.lg.jp:8443",
            generated_at: "2027-01-05T00:00:00Z".into(),
            generated_by: "kansa",
            status: if v.verified { "OK" } else { "BROKEN" },
            figures,
            verification: v,
        }
    }

    #[test]
    fn markdown_keeps_hostile_names_inside_their_cell() {
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(true);
        let text = report(&f, &v).markdown();
        assert!(text.contains("## 1. 重要性別の送信 (Transfers by class)"));
        assert!(
            text.contains("| 重要性II (class II) | 2 | 1 | 1 | 1 | 0 |"),
            "{text}"
        );
        assert!(text.contains("| admin\\\\r\\\\n\\| x \\| | 1 |"), "{text}");
        assert!(text.contains("2時間30分"));
        assert!(text.contains("OK"));
        // Every table line has as many cells as its header.
        for line in text.lines().filter(|l| l.starts_with('|')) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(cells >= 3, "{line}");
        }
    }

    #[test]
    fn a_broken_log_is_shown_first() {
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(false);
        let text = report(&f, &v).markdown();
        let banner = text.find("BROKEN").unwrap_or(usize::MAX);
        let first_section = text.find("## 1.").unwrap_or(0);
        assert!(banner < first_section, "{text}");
        assert!(text.contains("#12"));
        let page = report(&f, &v).html();
        assert!(page.contains("class=\"status broken\""));
    }

    #[test]
    fn csv_rows_are_section_metric_value() {
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(true);
        let text = report(&f, &v).csv();
        let body = text.strip_prefix(UTF8_BOM).unwrap_or("no BOM");
        let rows = parse_csv(body);
        assert_eq!(rows[0], ["section", "metric", "value"]);
        assert!(rows.iter().all(|r| r.len() == 3));
        assert!(rows.contains(&vec!["transfers".into(), "II.submitted".into(), "2".into()]));
        assert!(rows.contains(&vec![
            "approvals".into(),
            "suzuki.approved".into(),
            "2".into()
        ]));
        assert!(rows.contains(&vec![
            "failed_logins".into(),
            "account:mallory".into(),
            "2".into()
        ]));
        assert!(rows.contains(&vec!["report".into(), "status".into(), "OK".into()]));
    }

    #[test]
    fn html_is_one_escaped_japanese_page() {
        let mut events = sample();
        events.push(ev(
            "2026-09-02T00:00:00Z",
            "<script>alert(1)</script>",
            "login.fail",
            "user:x",
            "",
            "denied",
        ));
        let f = tally(&events, SINCE, UNTIL);
        let v = verification(true);
        let page = report(&f, &v).html();
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
        assert!(page.contains("<meta charset=\"utf-8\">"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("admin\\r\\n| x |"));
        assert!(page.contains("<style>"));
    }
}
