//! Counting the year's events: [`Tally`] takes one event at a time, in log
//! order, so a large log is never held in memory, and knows nothing of the
//! network or of formats.
//!
//! Each event's action is parsed into `sekisho_proto::audit::Action` and
//! matched without a catch-all, so a renamed or added action is a compile
//! error here rather than a row that quietly drops to zero. An action this
//! client does not know (a newer gateway) is counted under its own word in
//! [`YearFigures::other_actions`], and the report shows it.

use std::collections::{BTreeMap, HashMap};

use crate::audit::Action;
use crate::vocab::Outcome;
use crate::{AuditEvent, Class};
use serde::Serialize;

use super::times::event_seconds;

/// Classes as the policy names them, in the order the report lists them;
/// events without one are "unknown".
pub const CLASSES: [Class; 3] = [Class::I, Class::II, Class::III];

/// The key of events whose class is empty or not one of [`CLASSES`].
pub const UNKNOWN_CLASS: &str = "unknown";

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
    /// Roles changed when someone moved (user.role).
    pub role_changed: u64,
    /// Accounts closed for good (user.retire).
    pub retired: u64,
    pub locked: u64,
    pub password_changed: u64,
    pub password_change_refused: u64,
    /// Wrong one-time codes given to confirm a decision (stepup.fail).
    pub step_up_failed: u64,
    /// Requests of logged-in accounts that were refused (access.refused).
    pub access_refused: u64,
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
    /// Events of the period whose action this client does not know, by
    /// the action as written (a newer gateway): shown, never dropped.
    pub other_actions: BTreeMap<String, u64>,
    /// Events of the period whose outcome is not `ok`, `denied` or `error`;
    /// they count as not done.
    pub events_with_unknown_outcome: u64,
}

/// `I`, `II` or `III` as proto spells them, else [`UNKNOWN_CLASS`].
fn class_key(class: &str) -> String {
    CLASSES
        .iter()
        .find(|c| c.as_str() == class)
        .map_or(UNKNOWN_CLASS, |c| c.as_str())
        .to_string()
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
                .insert(class.as_str().to_string(), ClassCounts::default());
            figures.disposals.insert(class.as_str().to_string(), 0);
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
        let action = e.action.parse::<Action>().ok();
        let outcome = e.outcome.parse::<Outcome>().ok();
        // Refused and failed attempts are logged under the same action;
        // only what actually happened counts as done.
        let ok = outcome == Some(Outcome::Ok);
        if ok && action == Some(Action::TransferSubmit) {
            self.submitted_at.insert(e.object.clone(), at);
        }
        if at < self.since || at >= self.until {
            return;
        }
        let f = &mut self.figures;
        f.events_in_period += 1;
        if outcome.is_none() {
            f.events_with_unknown_outcome += 1;
        }
        let Some(action) = action else {
            *f.other_actions.entry(e.action.clone()).or_default() += 1;
            return;
        };
        let class = || class_key(&e.class);
        match action {
            Action::TransferSubmit if ok => f.transfers.entry(class()).or_default().submitted += 1,
            Action::TransferRelease if ok => f.transfers.entry(class()).or_default().released += 1,
            Action::TransferRevoke if ok => f.transfers.entry(class()).or_default().revoked += 1,
            Action::TransferExpire if ok => f.transfers.entry(class()).or_default().expired += 1,
            Action::TransferApprove | Action::TransferReject if ok => {
                let by = f.decisions_by_approver.entry(e.actor.clone()).or_default();
                if action == Action::TransferApprove {
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
            Action::LinkDownload if ok => f.downloads += 1,
            // Refusals and alarms count whatever their outcome says.
            Action::LinkRefused => f.downloads_refused += 1,
            Action::IncidentOpen if ok => f.incidents_opened += 1,
            Action::IncidentClose if ok => f.incidents_closed += 1,
            Action::DeletionDone if ok => *f.disposals.entry(class()).or_default() += 1,
            Action::MediaCheckout if ok => f.media_carried_out += 1,
            Action::MediaOverdue => f.media_overdue += 1,
            Action::UserCreate if ok => f.accounts.created += 1,
            Action::UserDisable if ok => f.accounts.disabled += 1,
            Action::UserEnable if ok => f.accounts.enabled += 1,
            Action::UserRole if ok => f.accounts.role_changed += 1,
            Action::UserRetire if ok => f.accounts.retired += 1,
            Action::UserLock => f.accounts.locked += 1,
            Action::StepUpFail => f.accounts.step_up_failed += 1,
            Action::AccessRefused => f.accounts.access_refused += 1,
            Action::PasswordChange if ok => f.accounts.password_changed += 1,
            Action::PasswordChange => f.accounts.password_change_refused += 1,
            Action::LoginFail => {
                f.failed_logins += 1;
                *self.failures.entry(e.actor.clone()).or_default() += 1;
            }
            // Attempts that did not happen: counted in the period only.
            Action::TransferSubmit
            | Action::TransferRelease
            | Action::TransferRevoke
            | Action::TransferExpire
            | Action::TransferApprove
            | Action::TransferReject
            | Action::LinkDownload
            | Action::IncidentOpen
            | Action::IncidentClose
            | Action::DeletionDone
            | Action::MediaCheckout
            | Action::UserCreate
            | Action::UserDisable
            | Action::UserEnable
            | Action::UserRole
            | Action::UserRetire => {}
            // Known actions that no table of the yearly report counts
            // (policy 9.(1) asks for the figures above). Listed one by one
            // so that a new action is a decision, not an omission.
            Action::LoginOk
            | Action::Logout
            | Action::RecipientCreate
            | Action::TransferCreate
            | Action::TransferUpload
            | Action::LinkExpire
            | Action::InboundRequest
            | Action::InboundIntake
            | Action::InboundUpload
            | Action::InboundRefused
            | Action::InboundClassify
            | Action::InboundDownload
            | Action::InboundRescan
            | Action::InboundOriginalRelease
            | Action::DelegationSet
            | Action::DelegationClear
            | Action::ApprovalRemind
            | Action::ScannerAlert
            | Action::ScannerRecovered
            | Action::IncidentEscalate
            | Action::MediaRegister
            | Action::MediaRequest
            | Action::MediaCheckin
            | Action::MediaCarryIn
            | Action::MediaDisposalRequest
            | Action::MediaDisposalReject
            | Action::MediaDispose
            | Action::DeletionRequest
            | Action::DeletionApprove
            | Action::DeletionReject
            | Action::DeletionErase
            | Action::AuditCheckpoint
            | Action::AuditPrune
            | Action::BackupCreate
            | Action::ClockBackwards
            | Action::ConfigStart
            | Action::UserEmail
            | Action::MailSend
            | Action::MailFail => {}
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
pub fn tally(events: &[AuditEvent], since: i64, until: i64) -> YearFigures {
    let mut t = Tally::new(since, until);
    for e in events {
        t.add(e);
    }
    t.finish()
}

/// Sample events and reports shared by the tests of every renderer (the
/// client's CSV and Markdown ones included).
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    pub const SINCE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    pub const UNTIL: i64 = 1_798_761_600; // 2027-01-01T00:00:00Z

    pub fn ev(
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

    pub fn sample() -> Vec<AuditEvent> {
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
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
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
        assert!(f.other_actions.is_empty());
        assert_eq!(f.events_with_unknown_outcome, 0);
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
                role_changed: 0,
                retired: 0,
                locked: 1,
                password_changed: 1,
                password_change_refused: 1,
                step_up_failed: 0,
                access_refused: 0,
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

    #[test]
    fn actions_from_a_newer_gateway_are_counted_as_other_not_dropped() {
        let events = [
            ev(
                "2026-02-01T00:00:00Z",
                "x",
                "transfer.teleport",
                "transfer:t",
                "I",
                "ok",
            ),
            ev(
                "2026-02-02T00:00:00Z",
                "x",
                "transfer.teleport",
                "transfer:u",
                "II",
                "ok",
            ),
            ev(
                "2026-02-03T00:00:00Z",
                "x",
                "vault.open",
                "vault:1",
                "",
                "denied",
            ),
            // Outside the year: not in the period, not in "other" either.
            ev(
                "2027-02-03T00:00:00Z",
                "x",
                "vault.open",
                "vault:1",
                "",
                "ok",
            ),
        ];
        let f = tally(&events, SINCE, UNTIL);
        assert_eq!(f.events_in_period, 3);
        assert_eq!(f.other_actions.get("transfer.teleport"), Some(&2));
        assert_eq!(f.other_actions.get("vault.open"), Some(&1));
        assert_eq!(f.other_actions.len(), 2);
        assert_eq!(f.transfers.get("I"), Some(&ClassCounts::default()));
    }

    #[test]
    fn an_unknown_outcome_is_noted_and_never_counts_as_done() {
        let events = [
            ev(
                "2026-02-01T00:00:00Z",
                "t",
                "transfer.submit",
                "transfer:a",
                "II",
                "maybe",
            ),
            ev(
                "2026-02-01T00:00:01Z",
                "x",
                "password.change",
                "user:x",
                "",
                "maybe",
            ),
            ev(
                "2026-02-01T00:00:02Z",
                "x",
                "transfer.submit",
                "transfer:b",
                "II",
                "error",
            ),
        ];
        let f = tally(&events, SINCE, UNTIL);
        assert_eq!(f.events_with_unknown_outcome, 2);
        assert_eq!(f.transfers.get("II").map(|c| c.submitted), Some(0));
        assert_eq!(f.accounts.password_change_refused, 1);
        assert_eq!(f.accounts.password_changed, 0);
    }
}
