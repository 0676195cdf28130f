//! What a yearly report says, before it has a format: the period, who
//! made it, the verification status and the figures, laid out as a list of
//! small tables ([`Section`]) that the Markdown, CSV and HTML renderers
//! each write out through their own escaper. Every label, title and note
//! is written here once, so the three formats cannot disagree.

use serde::Serialize;

use super::checker::Verification;
use super::tally::{ClassCounts, UNKNOWN_CLASS, YearFigures};
use super::times::YearKind;

/// `2時間05分 (2 h 05 min)`, rounded to the minute.
pub fn hours_minutes(seconds: i64) -> String {
    let minutes = (seconds + 30) / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    format!("{h}時間{m:02}分 ({h} h {m:02} min)")
}

/// One small table of the report.
pub struct Section {
    /// Stable name for the CSV `section` column.
    pub id: &'static str,
    pub title: String,
    pub row_header: &'static str,
    /// (label, key for the CSV metric)
    pub columns: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Row>,
    /// Counts and durations line up on the right, sentences on the left.
    pub numeric: bool,
}

pub struct Row {
    pub label: String,
    /// The row's part of the CSV metric (`II`, `suzuki`, `account:x`).
    pub key: String,
    pub values: Vec<String>,
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
    if key == UNKNOWN_CLASS {
        "不明 (unknown)".to_string()
    } else {
        format!("重要性{key} (class {key})")
    }
}

/// Whether the log the figures come from verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "BROKEN")]
    Broken,
}

impl Status {
    pub fn of(verification: &Verification) -> Status {
        if verification.verified {
            Status::Ok
        } else {
            Status::Broken
        }
    }

    /// As printed in the report and its CSV: `OK` or `BROKEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Broken => "BROKEN",
        }
    }
}

/// Everything a report says, before it is given a format. Its JSON is the
/// output of `audit report --json`.
#[derive(Serialize)]
pub struct Report<'a> {
    pub period: YearKind,
    pub year: i32,
    pub since: String,
    pub until: String,
    pub gateway: &'a str,
    pub generated_at: String,
    pub generated_by: &'a str,
    pub status: Status,
    pub figures: &'a YearFigures,
    pub verification: &'a Verification,
    /// Where the log was checked and counted: the auditor's computer (the
    /// CLI, independent of the gateway) or the gateway itself (the web
    /// console's page, which can only vouch for what the gateway holds).
    #[serde(skip_serializing_if = "CountedOn::is_auditor")]
    pub counted_on: CountedOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountedOn {
    AuditorComputer,
    Gateway,
}

impl CountedOn {
    fn is_auditor(&self) -> bool {
        *self == CountedOn::AuditorComputer
    }
}

impl Report<'_> {
    pub fn status_reason(&self) -> String {
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

    /// The report's sections in order; each is built by its own method.
    pub fn sections(&self) -> Vec<Section> {
        let mut out = vec![
            self.transfers(),
            self.approvals(),
            self.decision_time(),
            self.downloads(),
            self.incidents(),
            self.disposals(),
            self.media(),
            self.accounts(),
            self.failed_logins(),
            self.verification(),
        ];
        out.extend(self.other_actions());
        out
    }

    fn transfers(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        let mut rows = Vec::new();
        let mut total = ClassCounts::default();
        for (key, c) in &f.transfers {
            if key == UNKNOWN_CLASS && *c == ClassCounts::default() {
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
        Section {
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
            numeric: true,
        }
    }

    fn approvals(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
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
        Section {
            id: "approvals",
            title: "2. 承認と却下 (Approvals and rejections)".into(),
            row_header: "承認者 (Approver)",
            columns: vec![
                ("承認 (Approved)", "approved"),
                ("却下 (Rejected)", "rejected"),
            ],
            rows,
            numeric: true,
        }
    }

    fn decision_time(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        let shown = |v: Option<i64>| v.map_or_else(|| "-".to_string(), hours_minutes);
        Section {
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
            numeric: true,
        }
    }

    fn downloads(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        Section {
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
            numeric: true,
        }
    }

    fn incidents(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        Section {
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
            numeric: true,
        }
    }

    fn disposals(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        let mut rows = Vec::new();
        for (key, count) in &f.disposals {
            if key == UNKNOWN_CLASS && *count == 0 {
                continue;
            }
            rows.push(row(class_label(key), key.as_str(), vec![n(*count)]));
        }
        rows.push(row(
            "合計 (Total)",
            "total",
            vec![n(f.disposals.values().sum())],
        ));
        Section {
            id: "disposals",
            title: "6. 廃棄 (Disposals, deletion.done)".into(),
            row_header: "重要性 (Class)",
            columns: VALUE.to_vec(),
            rows,
            numeric: true,
        }
    }

    fn media(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        Section {
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
            numeric: true,
        }
    }

    fn accounts(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        let a = &f.accounts;
        Section {
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
                row(
                    "役割の変更 (Role changed, user.role)",
                    "role_changed",
                    vec![n(a.role_changed)],
                ),
                row("廃止 (Retired, user.retire)", "retired", vec![n(a.retired)]),
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
                row(
                    "確認コードの誤り (Wrong step-up codes, stepup.fail)",
                    "step_up_failed",
                    vec![n(a.step_up_failed)],
                ),
                row(
                    "拒否された操作 (Refused requests, access.refused)",
                    "access_refused",
                    vec![n(a.access_refused)],
                ),
            ],
            numeric: true,
        }
    }

    fn failed_logins(&self) -> Section {
        let f = self.figures;
        let n = |v: u64| v.to_string();
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
        Section {
            id: "failed_logins",
            title: "9. ログイン失敗 (Failed logins; top 5 accounts)".into(),
            row_header: "アカウント (Account)",
            columns: vec![("失敗回数 (Failures)", "")],
            rows,
            numeric: true,
        }
    }

    fn verification(&self) -> Section {
        let n = |v: u64| v.to_string();
        let v = self.verification;
        let mut rows = vec![
            row(
                "状態 (Status)",
                "status",
                vec![self.status.as_str().to_string()],
            ),
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
        Section {
            id: "verification",
            title: "10. 監査ログの検証 (Verification of the audit log)".into(),
            row_header: "項目 (Metric)",
            columns: vec![("値 (Value)", "")],
            rows,
            numeric: false,
        }
    }

    // Only when a newer gateway logged actions this client cannot
    // name: they are evidence too, so they are listed, not dropped.
    fn other_actions(&self) -> Option<Section> {
        let f = self.figures;
        let n = |v: u64| v.to_string();
        if f.other_actions.is_empty() {
            return None;
        }
        let mut rows: Vec<Row> = f
            .other_actions
            .iter()
            .map(|(action, count)| row(action.clone(), action.clone(), vec![n(*count)]))
            .collect();
        rows.push(row(
            "合計 (Total)",
            "total",
            vec![n(f.other_actions.values().sum())],
        ));
        Some(Section {
            id: "other_actions",
            title: "11. その他の操作 (Other actions, unknown to this client)".into(),
            row_header: "操作 (Action)",
            columns: VALUE.to_vec(),
            rows,
            numeric: true,
        })
    }

    pub fn about(&self) -> Vec<(&'static str, String)> {
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

    /// `2026 年度 (fiscal year 2026)` or `2026 年 (calendar year 2026)`.
    pub fn period_label(&self) -> String {
        match self.period {
            YearKind::FiscalYear => {
                format!("{} 年度 (fiscal year {})", self.year, self.year)
            }
            YearKind::CalendarYear => {
                format!("{} 年 (calendar year {})", self.year, self.year)
            }
        }
    }

    pub fn title(&self) -> String {
        format!(
            "関所 監査ログ 年次自己点検報告 {} (Sekisho yearly audit self-inspection report)",
            self.period_label()
        )
    }

    pub fn notes(&self) -> Vec<String> {
        let mut notes = vec![match self.counted_on {
            CountedOn::AuditorComputer => "集計は監査担当者の端末で、ダウンロードしたイベントから行いました (counted on the auditor's computer from the downloaded events; policy 9.(1)).".to_string(),
            CountedOn::Gateway => "この報告はゲートウェイ自身が、保持している監査ログを検証・集計して作成しました。ゲートウェイから独立した検証ではありません。独立した報告は、監査担当者の端末で `sekisho audit report --format html` を実行して作成してください (checked and counted by the gateway itself, not independently of it; for an independent report run `sekisho audit report --format html` on the auditor's computer).".to_string(),
        }];
        if self.figures.events_with_unreadable_time > 0 {
            notes.push(format!(
                "{} events had a time that could not be read and are not counted.",
                self.figures.events_with_unreadable_time
            ));
        }
        if !self.figures.other_actions.is_empty() {
            notes.push(format!(
                "{} events had an action this client does not know (a newer gateway?); they are listed in section 11 and counted nowhere else. Update sekisho to count them.",
                self.figures.other_actions.values().sum::<u64>()
            ));
        }
        if self.figures.events_with_unknown_outcome > 0 {
            notes.push(format!(
                "{} events had an outcome other than ok, denied or error; they are counted as not done.",
                self.figures.events_with_unknown_outcome
            ));
        }
        notes
    }

    pub fn banner(&self) -> String {
        if self.status == Status::Ok {
            "検証状態 (Verification): OK — 監査ログの検証に成功しました (the audit log verified)"
                .to_string()
        } else {
            "検証状態 (Verification): BROKEN — 監査ログに改ざん・欠落の疑いがあります。この報告の数値は信頼できません (the audit log FAILED verification; the figures below cannot be trusted)".to_string()
        }
    }
}

/// Sample events and reports shared by the tests of every renderer (the
/// client's CSV and Markdown ones included).
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    pub fn verification(ok: bool) -> Verification {
        Verification {
            verified: ok,
            events_checked: 36,
            first_bad: (!ok).then(|| crate::BadEvent {
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

    pub fn report<'a>(figures: &'a YearFigures, v: &'a Verification) -> Report<'a> {
        Report {
            period: YearKind::FiscalYear,
            year: 2026,
            since: "2026-03-31T15:00:00Z".into(),
            until: "2027-03-31T15:00:00Z".into(),
            gateway: "https://gw.example.lg.jp:8443",
            generated_at: "2027-01-05T00:00:00Z".into(),
            generated_by: "kansa",
            status: Status::of(v),
            figures,
            verification: v,
            counted_on: CountedOn::AuditorComputer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::report::tally::fixtures::*;
    use crate::report::tally::tally;
    #[test]
    fn durations_are_rounded_to_the_minute() {
        assert_eq!(hours_minutes(18_100), "5時間02分 (5 h 02 min)");
        assert_eq!(hours_minutes(9_000), "2時間30分 (2 h 30 min)");
        assert_eq!(hours_minutes(29), "0時間00分 (0 h 00 min)");
    }

    #[test]
    fn the_status_follows_the_verification() {
        assert_eq!(Status::of(&verification(true)), Status::Ok);
        assert_eq!(Status::of(&verification(false)), Status::Broken);
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(false);
        let r = report(&f, &v);
        assert!(r.banner().contains("BROKEN"));
        assert!(r.status_reason().contains("#12"));
    }

    #[test]
    fn a_sample_year_has_the_ten_sections_and_no_other_actions() {
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(true);
        let ids: Vec<&str> = report(&f, &v).sections().iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            [
                "transfers",
                "approvals",
                "decision_time",
                "downloads",
                "incidents",
                "disposals",
                "media",
                "accounts",
                "failed_logins",
                "verification"
            ]
        );
        assert_eq!(report(&f, &v).notes().len(), 2);
    }

    #[test]
    fn unknown_actions_get_their_own_section_and_a_note() {
        let mut events = sample();
        events.push(ev(
            "2026-11-01T00:00:00Z",
            "x",
            "vault.open",
            "vault:1",
            "",
            "ok",
        ));
        events.push(ev(
            "2026-11-02T00:00:00Z",
            "x",
            "vault.open",
            "vault:1",
            "",
            "ok",
        ));
        let f = tally(&events, SINCE, UNTIL);
        let v = verification(true);
        let r = report(&f, &v);
        let sections = r.sections();
        let other = sections.last().map(|s| (s.id, s.rows.len()));
        assert_eq!(other, Some(("other_actions", 2)));
        let rows = sections.last().map(|s| &s.rows);
        assert_eq!(
            rows.and_then(|r| r.first())
                .map(|r| (r.key.as_str(), r.values.clone())),
            Some(("vault.open", vec!["2".to_string()]))
        );
        assert!(
            r.notes()
                .iter()
                .any(|n| n.starts_with("2 events had an action"))
        );
    }
}
