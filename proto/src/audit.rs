//! What the audit log records, named once: every action the gateway logs
//! and the one spelling of each kind of object an event is about. The
//! gateway writes `Action::as_str()` and `ObjectRef`'s `Display`; the
//! client's yearly report tallies by `Action`, so renaming an action breaks
//! the build instead of silently emptying a row of the report.
//!
//! Events travel as strings (`AuditEvent::action`, `AuditEvent::object`)
//! because they are hashed as stored: an auditor must be able to read and
//! verify a log written by an older or newer gateway. Parse them with
//! `str::parse::<Action>()` and `ObjectRef::parse` where the meaning matters.

use std::fmt;

use crate::vocab::{UnknownWord, vocabulary};

vocabulary! {
    /// Every action the gateway records, grouped by family (the part before
    /// the dot, which `sekisho audit log --action FAMILY.` filters by).
    pub enum Action ("audit action") {
        LoginOk = "login.ok",
        LoginFail = "login.fail",
        /// A session ended by its owner (a word of its own, kept as first logged).
        Logout = "logout",
        PasswordChange = "password.change",
        UserCreate = "user.create",
        UserDisable = "user.disable",
        UserEnable = "user.enable",
        UserLock = "user.lock",
        /// A sysadmin gave an account another role; its sessions ended.
        UserRole = "user.role",
        /// An account closed for good when its holder left or moved.
        UserRetire = "user.retire",
        /// A sysadmin gave an account another e-mail address.
        UserEmail = "user.email",
        /// A wrong one-time code given to confirm an approval or rejection.
        StepUpFail = "stepup.fail",
        /// A request by a logged-in actor that was refused (403, or 404 on
        /// an object they may not know); 6.(5)② asks for records of attacks.
        AccessRefused = "access.refused",
        RecipientCreate = "recipient.create",
        TransferCreate = "transfer.create",
        TransferUpload = "transfer.upload",
        TransferSubmit = "transfer.submit",
        TransferApprove = "transfer.approve",
        TransferReject = "transfer.reject",
        TransferRelease = "transfer.release",
        TransferRevoke = "transfer.revoke",
        TransferExpire = "transfer.expire",
        LinkDownload = "link.download",
        LinkRefused = "link.refused",
        LinkExpire = "link.expire",
        InboundRequest = "inbound.request",
        InboundIntake = "inbound.intake",
        InboundUpload = "inbound.upload",
        InboundRefused = "inbound.refused",
        InboundClassify = "inbound.classify",
        InboundDownload = "inbound.download",
        InboundRescan = "inbound.rescan",
        InboundOriginalRelease = "inbound.original_release",
        IncidentOpen = "incident.open",
        IncidentEscalate = "incident.escalate",
        IncidentClose = "incident.close",
        MediaRegister = "media.register",
        MediaRequest = "media.request",
        MediaCheckout = "media.checkout",
        MediaCheckin = "media.checkin",
        MediaCarryIn = "media.carry_in",
        MediaOverdue = "media.overdue",
        MediaDisposalRequest = "media.disposal_request",
        MediaDisposalReject = "media.disposal_reject",
        MediaDispose = "media.dispose",
        DeletionRequest = "deletion.request",
        DeletionApprove = "deletion.approve",
        DeletionReject = "deletion.reject",
        DeletionErase = "deletion.erase",
        DeletionDone = "deletion.done",
        AuditCheckpoint = "audit.checkpoint",
        AuditPrune = "audit.prune",
        /// `sekisho-gateway backup` wrote an encrypted archive.
        BackupCreate = "backup.create",
        ClockBackwards = "clock.backwards",
        /// An approver (or a sysadmin for them) named a stand-in (代理承認者).
        DelegationSet = "delegation.set",
        /// A stand-in was cleared before the end of its period.
        DelegationClear = "delegation.clear",
        /// A request waited `approval.reminder_hours`: its deciders were reminded.
        ApprovalRemind = "approval.remind",
        /// An engine's signatures went stale, or the engine stopped answering.
        ScannerAlert = "scanner.alert",
        /// The engine of an earlier alert is healthy again.
        ScannerRecovered = "scanner.recovered",
        /// A notification left the outbox for the SMTP server.
        MailSend = "mail.send",
        /// A notification was given up after its last attempt.
        MailFail = "mail.fail",
        /// The configuration a gateway started with: its digest and what
        /// changed since the previous start (6.(1)④(ア)).
        ConfigStart = "config.start",
    }
}

impl Action {
    /// The family, e.g. `transfer` for `transfer.approve`.
    pub fn family(self) -> &'static str {
        let text = self.as_str();
        text.split_once('.').map_or(text, |(family, _)| family)
    }
}

/// What an audit event is about, with one spelling per kind of object
/// (`transfer:<id>`, `inbound_file:<id>`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectRef {
    Transfer(String),
    InboundFile(String),
    UploadRequest(String),
    Incident(String),
    /// Accounts are named by user name, which is what an auditor reads.
    User(String),
    Recipient(String),
    Medium(String),
    /// An audit event itself, by sequence number (checkpoints, pruning).
    AuditEvent(i64),
    /// The gateway itself (`gateway:clock` when its clock went backwards).
    Gateway(String),
    /// An API operation, as `METHOD /path/{template}` (refused requests).
    Route(String),
}

impl ObjectRef {
    pub fn kind(&self) -> &'static str {
        match self {
            ObjectRef::Transfer(_) => "transfer",
            ObjectRef::InboundFile(_) => "inbound_file",
            ObjectRef::UploadRequest(_) => "upload_request",
            ObjectRef::Incident(_) => "incident",
            ObjectRef::User(_) => "user",
            ObjectRef::Recipient(_) => "recipient",
            ObjectRef::Medium(_) => "medium",
            ObjectRef::AuditEvent(_) => "audit",
            ObjectRef::Gateway(_) => "gateway",
            ObjectRef::Route(_) => "route",
        }
    }

    /// Reads `kind:id` as written by [`fmt::Display`].
    pub fn parse(text: &str) -> Result<Self, UnknownWord> {
        let unknown = || UnknownWord {
            vocabulary: "audit object",
            word: text.to_string(),
        };
        let (kind, id) = text.split_once(':').ok_or_else(unknown)?;
        let id = id.to_string();
        Ok(match kind {
            "transfer" => ObjectRef::Transfer(id),
            "inbound_file" => ObjectRef::InboundFile(id),
            "upload_request" => ObjectRef::UploadRequest(id),
            "incident" => ObjectRef::Incident(id),
            "user" => ObjectRef::User(id),
            "recipient" => ObjectRef::Recipient(id),
            "medium" => ObjectRef::Medium(id),
            "gateway" => ObjectRef::Gateway(id),
            "route" => ObjectRef::Route(id),
            "audit" => ObjectRef::AuditEvent(id.parse().map_err(|_| unknown())?),
            _ => return Err(unknown()),
        })
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectRef::Transfer(id)
            | ObjectRef::InboundFile(id)
            | ObjectRef::UploadRequest(id)
            | ObjectRef::Incident(id)
            | ObjectRef::User(id)
            | ObjectRef::Recipient(id)
            | ObjectRef::Medium(id)
            | ObjectRef::Gateway(id)
            | ObjectRef::Route(id) => write!(f, "{}:{id}", self.kind()),
            ObjectRef::AuditEvent(seq) => write!(f, "audit:{seq}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_and_has_a_family() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(*action));
            assert!(action.as_str().starts_with(action.family()));
        }
        assert!("transfer.teleport".parse::<Action>().is_err());
    }

    #[test]
    fn object_refs_round_trip_with_one_spelling_per_kind() {
        let all = [
            ObjectRef::Transfer("t1".into()),
            ObjectRef::InboundFile("f1".into()),
            ObjectRef::UploadRequest("r1".into()),
            ObjectRef::Incident("i1".into()),
            ObjectRef::User("tanaka".into()),
            ObjectRef::Recipient("p1".into()),
            ObjectRef::Medium("USB-001".into()),
            ObjectRef::AuditEvent(42),
            ObjectRef::Gateway("clock".into()),
            ObjectRef::Route("POST /api/v1/transfers/{id}/approve".into()),
        ];
        for object in &all {
            assert_eq!(ObjectRef::parse(&object.to_string()).as_ref(), Ok(object));
        }
        assert_eq!(
            ObjectRef::InboundFile("x".into()).to_string(),
            "inbound_file:x"
        );
        assert!(ObjectRef::parse("inbound:x").is_err());
        assert!(ObjectRef::parse("audit:notanumber").is_err());
    }
}
