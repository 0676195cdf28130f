//! The one policy decision point: every "may this actor do this to that
//! object" is answered here, by pure functions, and nowhere else. Handlers
//! gather facts, ask, and obey. Tests below are named after the clause of
//! `shared/policy/requirements.md` they prove.
//!
//! A refusal says whether the caller may know the object exists: a user who
//! may not see a transfer gets "not found", exactly as for an id that does
//! not exist (6.(2)①), so ids cannot be probed.

use sekisho_proto::vocab::{AccountStatus, InboundState, UploadRequestKind};
use sekisho_proto::{Class, LinkState, Role, TransferState};

mod delegation;
mod grant;
mod notice;
pub use delegation::{
    Principal, decided_for, disposal_decided_for, is_in_force, may_delegate, may_manage_stand_in,
    may_view_delegations,
};
pub use grant::{Allowed, Decidable, Grant, LinkGrant, Visible, perm};
pub use notice::{
    Addressee, is_told_in_place_of, is_told_of_waiting, sender_is_told_of_revocation,
};

/// Who is asking, as established by a valid session.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub must_change_password: bool,
    /// The approvers this actor stands in for right now (代理承認): read
    /// with the session on the gateway's clock, so a delegation past its
    /// end grants nothing.
    pub stands_in_for: Vec<StandIn>,
}

/// An approver (or the CISO) whose queue the actor decides while they are away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandIn {
    pub user_id: String,
    pub username: String,
    pub role: Role,
}

/// What the policy needs to know about a transfer.
#[derive(Debug, Clone, Copy)]
pub struct TransferFacts<'a> {
    pub sender_id: &'a str,
    pub sender_role: Role,
    pub class: Class,
    pub state: TransferState,
    /// Class I/II, and every carry-out on a medium (5.(1)③ covers all classes).
    pub needs_approval: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Answered as 404: the caller may not learn the object exists.
    Hidden,
    /// Answered as 403 with the reason.
    Forbidden(&'static str),
}

pub type Verdict = Result<(), Denied>;

/// 5.(4)②(オ): an account with a temporary password may only change it.
fn active(actor: &Actor) -> Verdict {
    if actor.must_change_password {
        Err(Denied::Forbidden(
            "you must change your temporary password first: run `sekisho password`",
        ))
    } else {
        Ok(())
    }
}

/// Always allowed for a logged-in user, even with a temporary password.
pub fn may_change_own_password(_actor: &Actor) -> Verdict {
    Ok(())
}

pub fn may_view_self(_actor: &Actor) -> Verdict {
    Ok(())
}

/// 5.(4)①, 6.(2)②: accounts are created and re-enabled by the system staff.
pub fn may_manage_accounts(actor: &Actor) -> Verdict {
    active(actor)?;
    if actor.role == Role::Sysadmin {
        Ok(())
    } else {
        Err(Denied::Forbidden("only a sysadmin manages accounts"))
    }
}

/// 7.(5)②: besides the system staff, a manager or the CISO may suspend an
/// account. Nobody suspends themselves (it would lock them out mid-request).
pub fn may_disable_account(actor: &Actor, target_user_id: &str) -> Verdict {
    active(actor)?;
    if actor.user_id == target_user_id {
        return Err(Denied::Forbidden("you cannot disable your own account"));
    }
    match actor.role {
        Role::Sysadmin | Role::Manager | Role::Ciso => Ok(()),
        _ => Err(Denied::Forbidden(
            "only a sysadmin, a manager or the CISO may disable an account",
        )),
    }
}

/// Who may send outward: everyone who handles information in their work.
/// The system staff never handle contents and auditors only inspect.
pub fn may_send(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Staff | Role::Manager | Role::Approver | Role::Ciso => Ok(()),
        Role::Sysadmin | Role::Auditor => Err(Denied::Forbidden(
            "sysadmin and auditor accounts cannot send files",
        )),
    }
}

/// The address book belongs to whoever may send.
pub fn may_manage_recipients(actor: &Actor) -> Verdict {
    may_send(actor)
}

/// Which role must approve a request of `sender_role` (separation of
/// duties: an approver's own request goes to the CISO).
pub fn approver_role_for(sender_role: Role) -> Role {
    match sender_role {
        Role::Approver => Role::Ciso,
        _ => Role::Approver,
    }
}

/// 6.(2)①, 6.(1)①: a user sees their own transfers; approvers and the CISO
/// see what they supervise; auditors see metadata. Everyone else: not found.
pub fn may_view_transfer(actor: &Actor, t: &TransferFacts) -> Verdict {
    active(actor)?;
    if actor.user_id == t.sender_id {
        return Ok(());
    }
    match actor.role {
        Role::Approver | Role::Ciso | Role::Auditor => Ok(()),
        _ => Err(Denied::Hidden),
    }
}

/// Only the sender streams files into their own transfer, and only while
/// it is being uploaded.
pub fn may_upload(actor: &Actor, t: &TransferFacts) -> Verdict {
    active(actor)?;
    if actor.user_id != t.sender_id {
        return Err(Denied::Hidden);
    }
    if t.state != TransferState::Uploading {
        return Err(Denied::Forbidden("this transfer no longer accepts files"));
    }
    Ok(())
}

/// 2.(2)⑨(イ), 6.(1)⑨ and separation of duties: class I/II needs the
/// approver (the CISO for an approver's own request); nobody decides their
/// own request; the CISO, as final authority, may decide any other.
pub fn may_decide(actor: &Actor, t: &TransferFacts) -> Verdict {
    may_view_transfer(actor, t)?;
    if actor.user_id == t.sender_id {
        return Err(Denied::Forbidden(
            "nobody may approve or reject their own request",
        ));
    }
    if !matches!(actor.role, Role::Approver | Role::Ciso) {
        return Err(Denied::Forbidden("only an approver or the CISO may decide"));
    }
    if !t.needs_approval {
        return Err(Denied::Forbidden("class III transfers need no approval"));
    }
    if t.state != TransferState::PendingApproval {
        return Err(Denied::Forbidden(
            "this transfer is not waiting for a decision",
        ));
    }
    if has_authority_of(actor, approver_role_for(t.sender_role)) {
        Ok(())
    } else {
        Err(Denied::Forbidden(
            "a request made by an approver must be decided by the CISO",
        ))
    }
}

/// Whether the actor may decide what `required` decides: by their own
/// role, as the CISO (the final authority), or as the stand-in of someone
/// who may. The caller has already refused a decision on one's own request.
fn has_authority_of(actor: &Actor, required: Role) -> bool {
    let suffices = |role: Role| role == required || role == Role::Ciso;
    suffices(actor.role) || actor.stands_in_for.iter().any(|s| suffices(s.role))
}

/// Whether the actor has an approval queue at all (the console shows it,
/// with its count, on every page); which transfers are in it is
/// [`is_in_approval_queue`].
pub fn has_approval_queue(actor: &Actor) -> bool {
    active(actor).is_ok() && matches!(actor.role, Role::Approver | Role::Ciso)
}

/// Transfers the actor could decide now: the approval queue.
pub fn is_in_approval_queue(actor: &Actor, t: &TransferFacts) -> bool {
    may_decide(actor, t).is_ok()
}

/// 6.(1)⑧(エ): the sender withdraws or revokes at once; the approver and
/// the CISO, who receive reports of misdirected mail, may as well.
pub fn may_revoke(actor: &Actor, t: &TransferFacts) -> Verdict {
    may_view_transfer(actor, t)?;
    let allowed = actor.user_id == t.sender_id || matches!(actor.role, Role::Approver | Role::Ciso);
    if !allowed {
        return Err(Denied::Forbidden(
            "only the sender, an approver or the CISO may revoke a transfer",
        ));
    }
    match t.state {
        TransferState::Uploading | TransferState::PendingApproval | TransferState::Released => {
            Ok(())
        }
        _ => Err(Denied::Forbidden("this transfer is already closed")),
    }
}

/// The links carry the download permission, so only the sender sees them.
pub fn may_view_links(actor: &Actor, t: &TransferFacts) -> Verdict {
    active(actor)?;
    if actor.user_id == t.sender_id {
        Ok(())
    } else {
        Err(Denied::Hidden)
    }
}

/// A link may hand out content only for a released transfer.
pub fn may_deliver(t: &TransferFacts) -> Verdict {
    if t.state == TransferState::Released {
        Ok(())
    } else {
        Err(Denied::Hidden)
    }
}

/// 2.(2)⑩: the sender, an approver or the CISO may ask to dispose of a
/// stored object before its time; auditors and the system staff may not.
pub fn may_request_disposal(actor: &Actor, t: &TransferFacts) -> Verdict {
    may_view_transfer(actor, t)?;
    if actor.user_id == t.sender_id || matches!(actor.role, Role::Approver | Role::Ciso) {
        Ok(())
    } else {
        Err(Denied::Forbidden(
            "only the sender, an approver or the CISO may ask to dispose of it",
        ))
    }
}

/// 2.(2)⑩(ウ): disposing of I/II before its time needs the approver (the
/// CISO when an approver asked), never the person who asked.
pub fn may_decide_disposal(
    actor: &Actor,
    requested_by_user: &str,
    requested_by_role: Role,
) -> Verdict {
    active(actor)?;
    if actor.username == requested_by_user {
        return Err(Denied::Forbidden(
            "nobody may approve or reject their own request",
        ));
    }
    if has_authority_of(actor, approver_role_for(requested_by_role)) {
        Ok(())
    } else if matches!(actor.role, Role::Approver) {
        Err(Denied::Forbidden(
            "a request made by an approver must be decided by the CISO",
        ))
    } else {
        Err(Denied::Forbidden("only an approver or the CISO may decide"))
    }
}

/// Whether disposing of this class before its time needs a decision.
pub fn disposal_needs_approval(class: sekisho_proto::Class) -> bool {
    class.needs_approval()
}

/// Deletion certificates: whoever could see the transfer, including auditors.
pub fn may_view_deletion(actor: &Actor, t: &TransferFacts) -> Verdict {
    may_view_transfer(actor, t)
}

/// 5.(1)⑤: the system staff keep the media ledger.
pub fn may_register_media(actor: &Actor) -> Verdict {
    active(actor)?;
    if actor.role == Role::Sysadmin {
        Ok(())
    } else {
        Err(Denied::Forbidden("only a sysadmin registers media"))
    }
}

/// Wiping or disposing of a medium is asked by the system staff who keep
/// the ledger (or a manager); it is decided like any disposal.
pub fn may_request_medium_disposal(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Sysadmin | Role::Manager => Ok(()),
        _ => Err(Denied::Forbidden(
            "only a sysadmin or a manager asks to wipe or dispose of a medium",
        )),
    }
}

/// The ledger (which media exist, which are out) is open to every account.
pub fn may_view_media(actor: &Actor) -> Verdict {
    active(actor)
}

/// Only the requester records what was written for an approved carry-out.
pub fn may_record_written(actor: &Actor, t: &TransferFacts) -> Verdict {
    active(actor)?;
    if actor.user_id != t.sender_id {
        return Err(Denied::Hidden);
    }
    if t.state != TransferState::Released {
        return Err(Denied::Forbidden(
            "only an approved carry-out can be written onto its medium",
        ));
    }
    Ok(())
}

/// A return is recorded by whoever carried the medium out, or by the system
/// staff or a supervisor who received it.
pub fn may_check_in(actor: &Actor, requester_id: &str) -> Verdict {
    active(actor)?;
    if actor.user_id == requester_id
        || matches!(actor.role, Role::Sysadmin | Role::Approver | Role::Ciso)
    {
        Ok(())
    } else {
        Err(Denied::Forbidden(
            "the return is recorded by the person who carried it out, a sysadmin or an approver",
        ))
    }
}

/// Outside media brought in are recorded by staff or the system staff.
pub fn may_record_carry_in(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Auditor => Err(Denied::Forbidden("auditors do not handle media")),
        _ => Ok(()),
    }
}

/// What the arrival rule needs: who recorded a medium's return or
/// carry-in, and who carried it out (for a return).
pub struct ArrivalFacts<'a> {
    pub recorded_by_id: &'a str,
    pub carried_out_by_id: Option<&'a str>,
}

/// 6.(4)②(イ): the files of a returned or carried-in medium are taken in by
/// the person who recorded its arrival or the person who carried it out;
/// nobody else can mark another person's medium as scanned. The system
/// staff may record a return but never take files in (they never read
/// content), so the carrier does.
pub fn may_take_in_arrival(actor: &Actor, a: &ArrivalFacts) -> Verdict {
    may_request_inbound(actor)?;
    if actor.user_id == a.recorded_by_id || a.carried_out_by_id == Some(actor.user_id.as_str()) {
        Ok(())
    } else {
        Err(Denied::Forbidden(
            "媒体のファイルは、返却・持込みを記録した人か持ち出した人が取り込みます。 \
             The files of a medium are taken in by whoever recorded its return or carry-in, \
             or whoever carried it out.",
        ))
    }
}

/// 2.(2)④(イ): files whose class staff could not set wait for a manager.
pub fn decides_unknown_classes(actor: &Actor) -> bool {
    active(actor).is_ok() && actor.role == Role::Manager
}

/// Whole-organisation lists: supervisors and auditors.
pub fn may_list_all_transfers(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Approver | Role::Ciso | Role::Auditor => Ok(()),
        _ => Err(Denied::Forbidden(
            "only approvers, the CISO and auditors see every transfer",
        )),
    }
}

/// 6.(1)④, 9.: the audit log is read by auditors and the CISO.
pub fn may_read_audit(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Auditor | Role::Ciso => Ok(()),
        _ => Err(Denied::Forbidden(
            "only auditors and the CISO read the audit log",
        )),
    }
}

/// What the policy needs to know about an inbound file.
#[derive(Debug, Clone, Copy)]
pub struct InboundFacts<'a> {
    /// The member of staff who asked for it (the request's owner).
    pub owner_id: &'a str,
    pub state: InboundState,
    /// Staff receive a sanitised copy instead of the original, or nothing
    /// (the sanitiser held it): the original is withheld (6.(4)②).
    pub original_withheld: bool,
}

/// "Bringing in" (2.(2)): whoever may send out may also ask for files.
pub fn may_request_inbound(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Staff | Role::Manager | Role::Approver | Role::Ciso => Ok(()),
        Role::Sysadmin | Role::Auditor => Err(Denied::Forbidden(
            "sysadmin and auditor accounts cannot ask for files",
        )),
    }
}

/// The requester sees their inbound files; a manager also sees the ones
/// sent to them for classification (2.(2)④(イ)). Everyone else: not found.
pub fn may_view_inbound(actor: &Actor, f: &InboundFacts) -> Verdict {
    active(actor)?;
    if actor.user_id == f.owner_id {
        return Ok(());
    }
    if actor.role == Role::Manager && f.state == InboundState::NeedsManager {
        return Ok(());
    }
    Err(Denied::Hidden)
}

/// 2.(2)④: the requester classifies a clean file; `unknown` hands the
/// decision to a manager, and then only a manager may set the class.
pub fn may_classify_inbound(actor: &Actor, f: &InboundFacts) -> Verdict {
    may_view_inbound(actor, f)?;
    match f.state {
        InboundState::AwaitingClass if actor.user_id == f.owner_id => Ok(()),
        InboundState::NeedsManager if actor.role == Role::Manager => Ok(()),
        InboundState::NeedsManager => Err(Denied::Forbidden(
            "the class of this file was left to a manager (2.(2)④(イ)); a manager must set it",
        )),
        InboundState::Quarantined => Err(Denied::Forbidden(
            "this file is quarantined (malware was detected) and cannot be classified",
        )),
        InboundState::Held => Err(Denied::Forbidden(
            "this file could not be checked for malware and is held; ask the system staff to rescan it",
        )),
        InboundState::NotSanitised => Err(Denied::Forbidden(
            "無害化できなかったため保留中です。This file could not be sanitised and is held; only a manager may release the original",
        )),
        InboundState::AwaitingClass | InboundState::Ready | InboundState::Erased => {
            Err(Denied::Forbidden("this file has already been classified"))
        }
    }
}

/// Only the requester reads an inbound file, and only once it was scanned
/// clean and classified. Quarantined and held files are never readable.
pub fn may_read_inbound(actor: &Actor, f: &InboundFacts) -> Verdict {
    active(actor)?;
    if actor.user_id != f.owner_id {
        return Err(Denied::Hidden);
    }
    match f.state {
        InboundState::Ready => Ok(()),
        InboundState::AwaitingClass => Err(Denied::Forbidden(
            "set the file's class first: sekisho inbox classify ID --class I|II|III|unknown",
        )),
        InboundState::NeedsManager => Err(Denied::Forbidden(
            "this file waits for a manager to set its class",
        )),
        InboundState::Quarantined => Err(Denied::Forbidden(
            "this file is quarantined (malware was detected) and can never be downloaded",
        )),
        InboundState::Held => Err(Denied::Forbidden(
            "this file could not be checked for malware and is held until it is rescanned",
        )),
        InboundState::NotSanitised => Err(Denied::Forbidden(
            "無害化できなかったため保留中です。This file could not be sanitised (its active content could not be removed) and is held; a manager may release the original",
        )),
        InboundState::Erased => Err(Denied::Forbidden("this file's content is no longer kept")),
    }
}

/// 6.(4)②: staff receive the sanitised copy; the original (with its
/// macros, scripts or objects) is released only by a manager, for a stated
/// reason and after a fresh TOTP code (checked by the service). Never a
/// quarantined or erased file, nor one whose original staff already get.
/// A manager reaches any file by its id (the member of staff gives it);
/// to anyone else a file that is not theirs stays hidden.
pub fn may_release_original(actor: &Actor, f: &InboundFacts) -> Verdict {
    active(actor)?;
    if actor.role != Role::Manager {
        if actor.user_id != f.owner_id {
            return Err(Denied::Hidden);
        }
        return Err(Denied::Forbidden(
            "原本の開放は所属長（manager）のみが行えます。Only a manager may release the original of a sanitised file",
        ));
    }
    match f.state {
        InboundState::Quarantined => Err(Denied::Forbidden(
            "this file is quarantined (malware was detected): its original is never released",
        )),
        InboundState::Held => Err(Denied::Forbidden(
            "this file has not been checked for malware yet; it must be rescanned first",
        )),
        InboundState::Erased => Err(Denied::Forbidden("this file's content is no longer kept")),
        _ if !f.original_withheld => Err(Denied::Forbidden(
            "staff already receive this file as it came: there is no withheld original to release",
        )),
        InboundState::AwaitingClass
        | InboundState::Ready
        | InboundState::NeedsManager
        | InboundState::NotSanitised => Ok(()),
    }
}

/// Incidents are read by managers, approvers, the CISO and auditors.
pub fn may_view_incidents(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Manager | Role::Approver | Role::Ciso | Role::Auditor => Ok(()),
        _ => Err(Denied::Forbidden(
            "only managers, approvers, the CISO and auditors see incidents",
        )),
    }
}

/// A manager escalates an incident to the approvers and the CISO.
pub fn may_escalate_incident(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Manager => Ok(()),
        _ => Err(Denied::Forbidden("only a manager escalates an incident")),
    }
}

/// Managers, approvers and the CISO close incidents; auditors only read.
pub fn may_close_incident(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Manager | Role::Approver | Role::Ciso => Ok(()),
        _ => Err(Denied::Forbidden(
            "only a manager, an approver or the CISO closes an incident",
        )),
    }
}

/// The system staff rescan held files once the engine is fixed.
pub fn may_rescan(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Sysadmin => Ok(()),
        _ => Err(Denied::Forbidden("only a sysadmin rescans held files")),
    }
}

/// A sysadmin sees no inbound file but the held ones (ids come from the
/// requester or the incident): any other file is "not found" to them, so a
/// rescan cannot be used to learn that a file exists or what state it is in.
pub fn may_rescan_inbound(actor: &Actor, f: &InboundFacts) -> Verdict {
    may_rescan(actor)?;
    if f.state == InboundState::Held {
        Ok(())
    } else {
        Err(Denied::Hidden)
    }
}

/// Engine versions and signature ages.
pub fn may_view_scan_status(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Sysadmin | Role::Manager | Role::Ciso | Role::Auditor => Ok(()),
        _ => Err(Denied::Forbidden(
            "only the system staff, managers, the CISO and auditors see the scanner status",
        )),
    }
}

/// What the policy needs to know about an upload request.
#[derive(Debug, Clone, Copy)]
pub struct UploadRequestFacts<'a> {
    pub owner_id: &'a str,
    pub kind: UploadRequestKind,
}

/// "Bringing in" (2.(2)): a media intake is its owner's own; nobody
/// streams files into another person's intake, and a link's request takes
/// files only through its link. Anything else: not found.
pub fn may_intake(actor: &Actor, r: &UploadRequestFacts) -> Verdict {
    may_request_inbound(actor)?;
    if actor.user_id == r.owner_id && r.kind == UploadRequestKind::Intake {
        Ok(())
    } else {
        Err(Denied::Hidden)
    }
}

/// 2.(2)⑩: the deletion certificate of an inbound file is read by whoever
/// could see the file, and by auditors and the CISO.
pub fn may_view_inbound_deletion(actor: &Actor, f: &InboundFacts) -> Verdict {
    may_view_inbound(actor, f).or_else(|denied| may_read_audit(actor).map_err(|_| denied))
}

/// What the policy needs to know about a recipient's link right now.
#[derive(Debug, Clone, Copy)]
pub struct LinkFacts {
    /// The stored state, with expiry already applied for the current time.
    pub state: Option<LinkState>,
}

/// Why a recipient's link hands nothing out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// The sender (or an approver) withdrew the transfer.
    Withdrawn,
    /// The transfer is not released (or was erased): nothing to hand out.
    Unusable,
    UsedUp,
    Expired,
}

/// 2.(2)⑦, 6.(1)⑧: a link hands content out only for a released transfer,
/// while the link is active (not revoked, expired or used up).
pub fn may_use_link(t: &TransferFacts, link: &LinkFacts) -> Result<(), LinkRefusal> {
    if t.state == TransferState::Revoked || link.state == Some(LinkState::Revoked) {
        return Err(LinkRefusal::Withdrawn);
    }
    if may_deliver(t).is_err() && t.state != TransferState::Expired {
        return Err(LinkRefusal::Unusable);
    }
    match link.state {
        Some(LinkState::Active) => Ok(()),
        Some(LinkState::Exhausted) => Err(LinkRefusal::UsedUp),
        _ => Err(LinkRefusal::Expired),
    }
}

/// 5.(4)①, 7.(5)②: a disabled (suspended) or retired account starts no
/// session, whatever credentials it shows.
pub fn may_start_session(status: AccountStatus) -> Verdict {
    match status {
        AccountStatus::Active => Ok(()),
        AccountStatus::Disabled => Err(Denied::Forbidden(
            "このアカウントは無効にされています。システム担当者に連絡してください。 \
             This account is disabled; ask the system staff",
        )),
        AccountStatus::Retired => Err(Denied::Forbidden(
            "このアカウントは廃止されており、もう使えません。システム担当者に連絡してください。 \
             This account was retired and can no longer be used; ask the system staff",
        )),
    }
}

/// Facts the media rules need about a transfer: whether it is a carry-out.
#[derive(Debug, Clone, Copy)]
pub struct CarryOutFacts<'a> {
    pub transfer: TransferFacts<'a>,
    pub is_carry_out: bool,
}

/// Only the requester records what was written for an approved carry-out.
/// Ownership is asked first, so another person's transfer id is "not
/// found", exactly like a random one.
pub fn may_record_written_carry_out(actor: &Actor, c: &CarryOutFacts) -> Verdict {
    active(actor)?;
    if actor.user_id != c.transfer.sender_id {
        return Err(Denied::Hidden);
    }
    if !c.is_carry_out {
        return Err(Denied::Forbidden(
            "this transfer is not a carry-out onto a medium",
        ));
    }
    may_record_written(actor, &c.transfer)
}

// ---------------------------------------------------------------------------
// Grants: the only way to obtain one is to pass the matching rule above.

/// An object the transfer rules can judge.
pub trait TransferSubject {
    fn transfer_facts(&self) -> TransferFacts<'_>;
}

impl<T: TransferSubject> TransferSubject for &T {
    fn transfer_facts(&self) -> TransferFacts<'_> {
        (**self).transfer_facts()
    }
}

/// An object the inbound rules can judge.
pub trait InboundSubject {
    fn inbound_facts(&self) -> InboundFacts<'_>;
}

impl<T: InboundSubject> InboundSubject for &T {
    fn inbound_facts(&self) -> InboundFacts<'_> {
        (**self).inbound_facts()
    }
}

/// An upload request the intake rule can judge.
pub trait UploadRequestSubject {
    fn upload_request_facts(&self) -> UploadRequestFacts<'_>;
}

/// A carry-out the media rules can judge.
pub trait CarryOutSubject {
    fn carry_out_facts(&self) -> CarryOutFacts<'_>;
}

impl<T: CarryOutSubject> CarryOutSubject for &T {
    fn carry_out_facts(&self) -> CarryOutFacts<'_> {
        (**self).carry_out_facts()
    }
}

/// A medium arrival the intake rule can judge.
pub trait ArrivalSubject {
    fn arrival_facts(&self) -> ArrivalFacts<'_>;
}

impl<T: UploadRequestSubject> UploadRequestSubject for &T {
    fn upload_request_facts(&self) -> UploadRequestFacts<'_> {
        (**self).upload_request_facts()
    }
}

macro_rules! object_grants {
    ($( $(#[$meta:meta])* $name:ident($rule:ident) on $subject:ident :: $facts:ident => $perm:ident; )+) => {
        $(
            $(#[$meta])*
            pub fn $name<T: $subject>(actor: &Actor, object: T) -> Result<Grant<perm::$perm, T>, Denied> {
                $rule(actor, &object.$facts())?;
                Ok(Grant::new(actor, object))
            }
        )+
    };
}

macro_rules! actor_grants {
    ($( $(#[$meta:meta])* $name:ident($rule:ident) => $perm:ident; )+) => {
        $(
            $(#[$meta])*
            pub fn $name(actor: &Actor) -> Result<Allowed<perm::$perm>, Denied> {
                $rule(actor)?;
                Ok(Grant::new(actor, ()))
            }
        )+
    };
}

object_grants! {
    view_transfer(may_view_transfer) on TransferSubject::transfer_facts => View;
    upload(may_upload) on TransferSubject::transfer_facts => Upload;
    decide(may_decide) on TransferSubject::transfer_facts => Decide;
    revoke(may_revoke) on TransferSubject::transfer_facts => Revoke;
    view_links(may_view_links) on TransferSubject::transfer_facts => ViewLinks;
    request_disposal(may_request_disposal) on TransferSubject::transfer_facts => RequestDisposal;
    view_deletion(may_view_deletion) on TransferSubject::transfer_facts => View;
    record_written(may_record_written_carry_out) on CarryOutSubject::carry_out_facts => RecordWritten;
    view_inbound(may_view_inbound) on InboundSubject::inbound_facts => View;
    view_inbound_deletion(may_view_inbound_deletion) on InboundSubject::inbound_facts => View;
    classify_inbound(may_classify_inbound) on InboundSubject::inbound_facts => Classify;
    read_inbound(may_read_inbound) on InboundSubject::inbound_facts => Read;
    release_original(may_release_original) on InboundSubject::inbound_facts => ReleaseOriginal;
    rescan_inbound(may_rescan_inbound) on InboundSubject::inbound_facts => Rescan;
    intake(may_intake) on UploadRequestSubject::upload_request_facts => Intake;
    take_in_arrival(may_take_in_arrival) on ArrivalSubject::arrival_facts => TakeIn;
}

actor_grants! {
    send(may_send) => Send;
    manage_recipients(may_manage_recipients) => Send;
    manage_accounts(may_manage_accounts) => ManageAccounts;
    list_all_transfers(may_list_all_transfers) => ListAllTransfers;
    read_audit(may_read_audit) => ReadAudit;
    register_media(may_register_media) => RegisterMedia;
    request_medium_disposal(may_request_medium_disposal) => RequestMediumDisposal;
    view_media(may_view_media) => ViewMedia;
    record_carry_in(may_record_carry_in) => RecordCarryIn;
    request_inbound(may_request_inbound) => RequestInbound;
    view_incidents(may_view_incidents) => ViewIncidents;
    escalate_incident(may_escalate_incident) => EscalateIncident;
    close_incident(may_close_incident) => CloseIncident;
    view_scan_status(may_view_scan_status) => ViewScanStatus;
    review_revocations(may_review_revocations) => ReviewRevocations;
    review_suspensions(may_review_suspensions) => ReviewSuspensions;
}

/// 7.(5)②: a suspension by a manager reaches the CISO, who answers for
/// the measures taken against violations; the system staff see them too.
pub fn may_review_suspensions(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Ciso | Role::Sysadmin => Ok(()),
        _ => Err(Denied::Forbidden(
            "only the CISO or a sysadmin reviews suspended accounts",
        )),
    }
}

/// 6.(1)⑧(エ): whoever approves is told when something they let out was
/// revoked (a misdirected send), with the reason. Only the transfers they
/// approved themselves are listed.
pub fn may_review_revocations(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Approver | Role::Ciso => Ok(()),
        _ => Err(Denied::Forbidden(
            "only an approver or the CISO reviews revocations of what they approved",
        )),
    }
}

/// Enabling an account is the system staff's; disabling it may also be a
/// manager or the CISO suspending someone else (7.(5)②). A retired account
/// is neither: it never logs in again.
pub fn may_set_account_enabled(
    actor: &Actor,
    target_user_id: &str,
    target_status: AccountStatus,
    enable: bool,
) -> Verdict {
    if enable {
        may_manage_accounts(actor)?;
    } else {
        may_disable_account(actor, target_user_id)?;
    }
    not_retired(target_status)
}

pub fn set_account_enabled<T>(
    actor: &Actor,
    target_user_id: &str,
    target_status: AccountStatus,
    enable: bool,
    target: T,
) -> Result<Grant<perm::ManageAccounts, T>, Denied> {
    may_set_account_enabled(actor, target_user_id, target_status, enable)?;
    Ok(Grant::new(actor, target))
}

fn not_retired(status: AccountStatus) -> Verdict {
    if status == AccountStatus::Retired {
        return Err(Denied::Forbidden(
            "this account was retired when its holder left or moved and cannot be changed or used again; create a new account",
        ));
    }
    Ok(())
}

/// 5.(4)①, 6.(2)②: when someone moves, the system staff give their account
/// the role of the new post. Never one's own: a sysadmin who could change
/// their own role could give themselves the approver's.
pub fn may_change_role(
    actor: &Actor,
    target_user_id: &str,
    target_status: AccountStatus,
) -> Verdict {
    may_manage_accounts(actor)?;
    if actor.user_id == target_user_id {
        return Err(Denied::Forbidden(
            "you cannot change your own role; ask another sysadmin",
        ));
    }
    not_retired(target_status)
}

pub fn change_role<T>(
    actor: &Actor,
    target_user_id: &str,
    target_status: AccountStatus,
    target: T,
) -> Result<Grant<perm::ManageAccounts, T>, Denied> {
    may_change_role(actor, target_user_id, target_status)?;
    Ok(Grant::new(actor, target))
}

/// 5.(4)①, 6.(2)②: an account is retired by the system staff when its
/// holder leaves; never one's own (someone must remain to manage accounts).
pub fn may_retire_account(
    actor: &Actor,
    target_user_id: &str,
    target_status: AccountStatus,
) -> Verdict {
    may_manage_accounts(actor)?;
    if actor.user_id == target_user_id {
        return Err(Denied::Forbidden("you cannot retire your own account"));
    }
    not_retired(target_status)
}

pub fn retire_account<T>(
    actor: &Actor,
    target_user_id: &str,
    target_status: AccountStatus,
    target: T,
) -> Result<Grant<perm::ManageAccounts, T>, Denied> {
    may_retire_account(actor, target_user_id, target_status)?;
    Ok(Grant::new(actor, target))
}

/// Deciding a disposal request (of stored content or of a medium).
pub fn decide_disposal<T>(
    actor: &Actor,
    requested_by_user: &str,
    requested_by_role: Role,
    request: T,
) -> Result<Grant<perm::Decide, T>, Denied> {
    may_decide_disposal(actor, requested_by_user, requested_by_role)?;
    Ok(Grant::new(actor, request))
}

/// A return of a medium, recorded by whoever may (see [`may_check_in`]).
pub fn check_in<T>(
    actor: &Actor,
    requester_id: &str,
    carry_out: T,
) -> Result<Grant<perm::CheckIn, T>, Denied> {
    may_check_in(actor, requester_id)?;
    Ok(Grant::new(actor, carry_out))
}

/// The recipient's link is the permission: no actor, only the link.
pub fn use_link<T: TransferSubject>(
    link: &LinkFacts,
    object: T,
) -> Result<LinkGrant<T>, LinkRefusal> {
    may_use_link(&object.transfer_facts(), link)?;
    Ok(LinkGrant::new(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(id: &str, role: Role) -> Actor {
        Actor {
            user_id: id.into(),
            username: id.into(),
            role,
            must_change_password: false,
            stands_in_for: Vec::new(),
        }
    }

    fn pending(sender: &str, sender_role: Role, class: Class) -> TransferFacts<'_> {
        TransferFacts {
            sender_id: sender,
            sender_role,
            class,
            state: TransferState::PendingApproval,
            needs_approval: class.needs_approval(),
        }
    }

    #[test]
    fn r05_4_temporary_password_allows_nothing_but_changing_it() {
        let mut a = actor("a", Role::Staff);
        a.must_change_password = true;
        assert!(may_change_own_password(&a).is_ok());
        assert!(may_send(&a).is_err());
        let mut admin = actor("s", Role::Sysadmin);
        admin.must_change_password = true;
        assert!(may_manage_accounts(&admin).is_err());
    }

    #[test]
    fn r05_4_only_sysadmin_creates_accounts() {
        assert!(may_manage_accounts(&actor("s", Role::Sysadmin)).is_ok());
        for role in [
            Role::Ciso,
            Role::Approver,
            Role::Manager,
            Role::Auditor,
            Role::Staff,
        ] {
            assert!(may_manage_accounts(&actor("x", role)).is_err(), "{role}");
        }
    }

    #[test]
    fn r07_5_manager_and_ciso_may_suspend_an_account() {
        assert!(may_disable_account(&actor("m", Role::Manager), "v").is_ok());
        assert!(may_disable_account(&actor("c", Role::Ciso), "v").is_ok());
        assert!(may_disable_account(&actor("s", Role::Staff), "v").is_err());
        assert!(may_disable_account(&actor("m", Role::Manager), "m").is_err());
    }

    #[test]
    fn r06_requester_cannot_approve_own_transfer() {
        let approver = actor("ap", Role::Approver);
        let t = pending("ap", Role::Approver, Class::II);
        assert_eq!(
            may_decide(&approver, &t),
            Err(Denied::Forbidden(
                "nobody may approve or reject their own request"
            ))
        );
    }

    #[test]
    fn r06_approvers_own_request_goes_to_the_ciso() {
        let t = pending("ap1", Role::Approver, Class::I);
        assert_eq!(approver_role_for(Role::Approver), Role::Ciso);
        assert!(may_decide(&actor("ap2", Role::Approver), &t).is_err());
        assert!(may_decide(&actor("ciso", Role::Ciso), &t).is_ok());
    }

    #[test]
    fn r02_2_9_staff_and_managers_cannot_approve() {
        let t = pending("s1", Role::Staff, Class::II);
        assert!(may_decide(&actor("s2", Role::Staff), &t).is_err());
        assert!(may_decide(&actor("m", Role::Manager), &t).is_err());
        assert!(may_decide(&actor("sa", Role::Sysadmin), &t).is_err());
        assert!(may_decide(&actor("au", Role::Auditor), &t).is_err());
        assert!(may_decide(&actor("ap", Role::Approver), &t).is_ok());
    }

    #[test]
    fn r02_2_9_class_three_and_decided_transfers_are_not_decided_again() {
        let three = pending("s1", Role::Staff, Class::III);
        assert!(may_decide(&actor("ap", Role::Approver), &three).is_err());
        let mut released = pending("s1", Role::Staff, Class::I);
        released.state = TransferState::Released;
        assert!(may_decide(&actor("ap", Role::Approver), &released).is_err());
    }

    #[test]
    fn r06_2_users_cannot_see_each_others_transfers() {
        let t = pending("s1", Role::Staff, Class::II);
        assert_eq!(
            may_view_transfer(&actor("s2", Role::Staff), &t),
            Err(Denied::Hidden)
        );
        assert_eq!(
            may_view_transfer(&actor("m", Role::Manager), &t),
            Err(Denied::Hidden)
        );
        assert_eq!(
            may_view_transfer(&actor("sa", Role::Sysadmin), &t),
            Err(Denied::Hidden)
        );
        assert!(may_view_transfer(&actor("s1", Role::Staff), &t).is_ok());
        assert!(may_view_transfer(&actor("au", Role::Auditor), &t).is_ok());
        assert_eq!(
            may_view_links(&actor("au", Role::Auditor), &t),
            Err(Denied::Hidden)
        );
    }

    #[test]
    fn r06_2_sysadmins_and_auditors_never_send() {
        assert!(may_send(&actor("sa", Role::Sysadmin)).is_err());
        assert!(may_send(&actor("au", Role::Auditor)).is_err());
        assert!(may_send(&actor("s", Role::Staff)).is_ok());
    }

    #[test]
    fn r06_1_8_sender_revokes_and_closed_transfers_stay_closed() {
        let mut t = pending("s1", Role::Staff, Class::II);
        t.state = TransferState::Released;
        assert!(may_revoke(&actor("s1", Role::Staff), &t).is_ok());
        assert!(may_revoke(&actor("ap", Role::Approver), &t).is_ok());
        assert!(may_revoke(&actor("au", Role::Auditor), &t).is_err());
        t.state = TransferState::Rejected;
        assert!(may_revoke(&actor("s1", Role::Staff), &t).is_err());
    }

    #[test]
    fn only_released_transfers_are_delivered() {
        let mut t = pending("s1", Role::Staff, Class::II);
        assert!(may_deliver(&t).is_err());
        t.state = TransferState::Released;
        assert!(may_deliver(&t).is_ok());
        t.state = TransferState::Revoked;
        assert!(may_deliver(&t).is_err());
    }

    #[test]
    fn r02_2_10_disposal_is_asked_by_the_sender_and_decided_by_someone_else() {
        let mut t = pending("s1", Role::Staff, Class::II);
        t.state = TransferState::Expired;
        assert!(may_request_disposal(&actor("s1", Role::Staff), &t).is_ok());
        assert!(may_request_disposal(&actor("au", Role::Auditor), &t).is_err());
        assert_eq!(
            may_request_disposal(&actor("s2", Role::Staff), &t),
            Err(Denied::Hidden)
        );
        assert!(may_decide_disposal(&actor("ap", Role::Approver), "s1", Role::Staff).is_ok());
        assert!(may_decide_disposal(&actor("s1", Role::Approver), "s1", Role::Approver).is_err());
        assert!(may_decide_disposal(&actor("ap2", Role::Approver), "ap1", Role::Approver).is_err());
        assert!(may_decide_disposal(&actor("c", Role::Ciso), "ap1", Role::Approver).is_ok());
        assert!(may_decide_disposal(&actor("m", Role::Manager), "s1", Role::Staff).is_err());
        assert!(disposal_needs_approval(Class::I) && !disposal_needs_approval(Class::III));
    }

    #[test]
    fn r05_1_3_every_carry_out_needs_an_approver_even_class_three() {
        let mut t = pending("s1", Role::Staff, Class::III);
        t.needs_approval = true;
        assert!(may_decide(&actor("ap", Role::Approver), &t).is_ok());
        assert!(may_decide(&actor("s1", Role::Staff), &t).is_err());
    }

    #[test]
    fn r05_1_5_media_ledger_roles() {
        assert!(may_register_media(&actor("sa", Role::Sysadmin)).is_ok());
        assert!(may_register_media(&actor("s", Role::Staff)).is_err());
        assert!(may_check_in(&actor("s1", Role::Staff), "s1").is_ok());
        assert!(may_check_in(&actor("s2", Role::Staff), "s1").is_err());
        assert!(may_check_in(&actor("sa", Role::Sysadmin), "s1").is_ok());
        let mut t = pending("s1", Role::Staff, Class::II);
        assert!(may_record_written(&actor("s1", Role::Staff), &t).is_err());
        t.state = TransferState::Released;
        assert!(may_record_written(&actor("s1", Role::Staff), &t).is_ok());
        assert_eq!(
            may_record_written(&actor("s2", Role::Staff), &t),
            Err(Denied::Hidden)
        );
    }

    #[test]
    fn audit_log_is_for_auditors_and_the_ciso() {
        assert!(may_read_audit(&actor("au", Role::Auditor)).is_ok());
        assert!(may_read_audit(&actor("c", Role::Ciso)).is_ok());
        assert!(may_read_audit(&actor("sa", Role::Sysadmin)).is_err());
        assert!(may_read_audit(&actor("s", Role::Staff)).is_err());
    }

    fn inbound(owner: &str, state: InboundState) -> InboundFacts<'_> {
        InboundFacts {
            owner_id: owner,
            state,
            original_withheld: false,
        }
    }

    fn sanitised(owner: &str, state: InboundState) -> InboundFacts<'_> {
        InboundFacts {
            original_withheld: true,
            ..inbound(owner, state)
        }
    }

    #[test]
    fn clause_6_4_2_only_a_manager_releases_a_withheld_original() {
        let owner = actor("o", Role::Staff);
        let manager = actor("m", Role::Manager);
        for state in [
            InboundState::AwaitingClass,
            InboundState::Ready,
            InboundState::NeedsManager,
            InboundState::NotSanitised,
        ] {
            assert!(
                may_release_original(&manager, &sanitised("o", state)).is_ok(),
                "{state}"
            );
            assert!(matches!(
                may_release_original(&owner, &sanitised("o", state)),
                Err(Denied::Forbidden(_))
            ));
        }
        assert_eq!(
            may_release_original(
                &actor("x", Role::Staff),
                &sanitised("o", InboundState::Ready)
            ),
            Err(Denied::Hidden)
        );
        for role in [Role::Ciso, Role::Sysadmin, Role::Auditor, Role::Approver] {
            assert!(
                may_release_original(&actor("x", role), &sanitised("o", InboundState::Ready))
                    .is_err()
            );
        }
        for state in [
            InboundState::Quarantined,
            InboundState::Held,
            InboundState::Erased,
        ] {
            assert!(
                may_release_original(&manager, &sanitised("o", state)).is_err(),
                "{state}"
            );
        }
        // Nothing withheld: nothing to release.
        assert!(may_release_original(&manager, &inbound("o", InboundState::Ready)).is_err());
    }

    #[test]
    fn clause_6_4_2_a_file_the_sanitiser_held_is_never_read_by_staff() {
        let owner = actor("o", Role::Staff);
        assert!(may_read_inbound(&owner, &sanitised("o", InboundState::NotSanitised)).is_err());
        assert!(may_classify_inbound(&owner, &sanitised("o", InboundState::NotSanitised)).is_err());
    }

    #[test]
    fn clause_2_2_4_only_the_requester_classifies_and_unknown_goes_to_a_manager() {
        let owner = actor("o", Role::Staff);
        let other = actor("x", Role::Staff);
        let manager = actor("m", Role::Manager);
        assert!(may_classify_inbound(&owner, &inbound("o", InboundState::AwaitingClass)).is_ok());
        assert_eq!(
            may_classify_inbound(&other, &inbound("o", InboundState::AwaitingClass)),
            Err(Denied::Hidden)
        );
        assert!(matches!(
            may_classify_inbound(&owner, &inbound("o", InboundState::NeedsManager)),
            Err(Denied::Forbidden(_))
        ));
        assert!(may_classify_inbound(&manager, &inbound("o", InboundState::NeedsManager)).is_ok());
        for state in [
            InboundState::Quarantined,
            InboundState::Held,
            InboundState::Ready,
        ] {
            assert!(may_classify_inbound(&owner, &inbound("o", state)).is_err());
        }
    }

    #[test]
    fn inbound_content_is_read_only_by_the_requester_once_ready() {
        let owner = actor("o", Role::Staff);
        assert!(may_read_inbound(&owner, &inbound("o", InboundState::Ready)).is_ok());
        for state in [
            InboundState::AwaitingClass,
            InboundState::NeedsManager,
            InboundState::Quarantined,
            InboundState::Held,
            InboundState::Erased,
        ] {
            assert!(
                may_read_inbound(&owner, &inbound("o", state)).is_err(),
                "{state}"
            );
        }
        for role in [Role::Manager, Role::Ciso, Role::Sysadmin, Role::Auditor] {
            assert_eq!(
                may_read_inbound(&actor("x", role), &inbound("o", InboundState::Ready)),
                Err(Denied::Hidden)
            );
        }
    }

    #[test]
    fn incidents_are_seen_by_supervisors_and_auditors_closed_by_supervisors() {
        for role in [Role::Manager, Role::Approver, Role::Ciso, Role::Auditor] {
            assert!(may_view_incidents(&actor("a", role)).is_ok());
        }
        assert!(may_view_incidents(&actor("s", Role::Staff)).is_err());
        assert!(may_view_incidents(&actor("sa", Role::Sysadmin)).is_err());
        assert!(may_close_incident(&actor("a", Role::Auditor)).is_err());
        assert!(may_escalate_incident(&actor("m", Role::Manager)).is_ok());
        assert!(may_escalate_incident(&actor("c", Role::Ciso)).is_err());
        assert!(may_rescan(&actor("sa", Role::Sysadmin)).is_ok());
        assert!(may_rescan(&actor("m", Role::Manager)).is_err());
        assert!(may_view_scan_status(&actor("s", Role::Staff)).is_err());
        assert!(may_request_inbound(&actor("a", Role::Auditor)).is_err());
    }

    #[test]
    fn bringing_in_an_intake_is_its_owners_own_and_others_look_like_nothing() {
        let owner = actor("o", Role::Staff);
        let intake = UploadRequestFacts {
            owner_id: "o",
            kind: UploadRequestKind::Intake,
        };
        assert!(may_intake(&owner, &intake).is_ok());
        assert_eq!(
            may_intake(&actor("x", Role::Staff), &intake),
            Err(Denied::Hidden)
        );
        let link = UploadRequestFacts {
            owner_id: "o",
            kind: UploadRequestKind::Link,
        };
        assert_eq!(may_intake(&owner, &link), Err(Denied::Hidden));
        assert!(may_intake(&actor("a", Role::Auditor), &intake).is_err());
    }

    #[test]
    fn r06_4_2_i_a_mediums_files_are_taken_in_by_who_brought_it_back() {
        let returned = ArrivalFacts {
            recorded_by_id: "sa",
            carried_out_by_id: Some("carrier"),
        };
        // The system staff record returns but never read what is on them.
        assert!(may_take_in_arrival(&actor("sa", Role::Sysadmin), &returned).is_err());
        assert!(may_take_in_arrival(&actor("carrier", Role::Staff), &returned).is_ok());
        assert!(matches!(
            may_take_in_arrival(&actor("colleague", Role::Staff), &returned),
            Err(Denied::Forbidden(_))
        ));
        let carried_in = ArrivalFacts {
            recorded_by_id: "clerk",
            carried_out_by_id: None,
        };
        assert!(may_take_in_arrival(&actor("clerk", Role::Staff), &carried_in).is_ok());
        assert!(may_take_in_arrival(&actor("approver", Role::Approver), &carried_in).is_err());
        // Auditors never bring anything in, even a medium they recorded.
        let theirs = ArrivalFacts {
            recorded_by_id: "a",
            carried_out_by_id: None,
        };
        assert!(may_take_in_arrival(&actor("a", Role::Auditor), &theirs).is_err());
    }

    #[test]
    fn r02_2_10_inbound_certificates_for_whoever_saw_the_file_and_auditors() {
        let erased = inbound("o", InboundState::Erased);
        assert!(may_view_inbound_deletion(&actor("o", Role::Staff), &erased).is_ok());
        assert!(may_view_inbound_deletion(&actor("a", Role::Auditor), &erased).is_ok());
        assert!(may_view_inbound_deletion(&actor("c", Role::Ciso), &erased).is_ok());
        assert_eq!(
            may_view_inbound_deletion(&actor("x", Role::Staff), &erased),
            Err(Denied::Hidden)
        );
    }

    #[test]
    fn r06_1_8_links_hand_out_only_released_transfers_while_active() {
        let released = TransferFacts {
            state: TransferState::Released,
            ..pending("s", Role::Staff, Class::II)
        };
        let active = LinkFacts {
            state: Some(LinkState::Active),
        };
        assert_eq!(may_use_link(&released, &active), Ok(()));
        for (link, refusal) in [
            (LinkState::Revoked, LinkRefusal::Withdrawn),
            (LinkState::Exhausted, LinkRefusal::UsedUp),
            (LinkState::Expired, LinkRefusal::Expired),
        ] {
            let facts = LinkFacts { state: Some(link) };
            assert_eq!(may_use_link(&released, &facts), Err(refusal), "{link:?}");
        }
        let revoked = TransferFacts {
            state: TransferState::Revoked,
            ..released
        };
        assert_eq!(may_use_link(&revoked, &active), Err(LinkRefusal::Withdrawn));
        let pending = pending("s", Role::Staff, Class::II);
        assert_eq!(may_use_link(&pending, &active), Err(LinkRefusal::Unusable));
    }

    #[test]
    fn r07_5_a_suspended_or_retired_account_starts_no_session() {
        assert!(may_start_session(AccountStatus::Active).is_ok());
        for status in [AccountStatus::Disabled, AccountStatus::Retired] {
            assert!(matches!(
                may_start_session(status),
                Err(Denied::Forbidden(_))
            ));
        }
    }

    #[test]
    fn r07_5_only_the_system_staff_re_enable_but_a_manager_may_suspend() {
        let manager = actor("m", Role::Manager);
        let active = AccountStatus::Active;
        assert!(may_set_account_enabled(&manager, "v", active, false).is_ok());
        assert!(may_set_account_enabled(&manager, "v", active, true).is_err());
        let admin = actor("s", Role::Sysadmin);
        assert!(may_set_account_enabled(&admin, "v", AccountStatus::Disabled, true).is_ok());
    }

    #[test]
    fn r05_4_1_only_another_sysadmin_changes_a_role_or_retires_an_account() {
        let admin = actor("s", Role::Sysadmin);
        let active = AccountStatus::Active;
        assert!(may_change_role(&admin, "v", active).is_ok());
        assert!(may_retire_account(&admin, "v", active).is_ok());
        assert!(may_retire_account(&admin, "v", AccountStatus::Disabled).is_ok());
        assert!(may_change_role(&admin, "s", active).is_err(), "own role");
        assert!(
            may_retire_account(&admin, "s", active).is_err(),
            "own account"
        );
        for role in [
            Role::Manager,
            Role::Ciso,
            Role::Approver,
            Role::Staff,
            Role::Auditor,
        ] {
            assert!(
                may_change_role(&actor("x", role), "v", active).is_err(),
                "{role}"
            );
            assert!(
                may_retire_account(&actor("x", role), "v", active).is_err(),
                "{role}"
            );
        }
    }

    #[test]
    fn r06_1_8_e_approvers_review_revocations_of_what_they_approved() {
        for role in [Role::Approver, Role::Ciso] {
            assert!(may_review_revocations(&actor("a", role)).is_ok(), "{role}");
        }
        for role in [Role::Staff, Role::Manager, Role::Sysadmin, Role::Auditor] {
            assert!(may_review_revocations(&actor("x", role)).is_err(), "{role}");
        }
    }

    #[test]
    fn r07_5_2_suspensions_reach_the_ciso() {
        for role in [Role::Ciso, Role::Sysadmin] {
            assert!(may_review_suspensions(&actor("c", role)).is_ok(), "{role}");
        }
        for role in [Role::Staff, Role::Manager, Role::Approver, Role::Auditor] {
            assert!(may_review_suspensions(&actor("x", role)).is_err(), "{role}");
        }
    }

    #[test]
    fn r06_2_2_a_retired_account_is_never_used_or_changed_again() {
        let admin = actor("s", Role::Sysadmin);
        let retired = AccountStatus::Retired;
        assert!(may_set_account_enabled(&admin, "v", retired, true).is_err());
        assert!(may_set_account_enabled(&admin, "v", retired, false).is_err());
        assert!(may_change_role(&admin, "v", retired).is_err());
        assert!(may_retire_account(&admin, "v", retired).is_err());
    }

    #[test]
    fn r05_1_3_another_persons_transfer_is_not_found_before_its_kind_is_told() {
        let released = TransferFacts {
            state: TransferState::Released,
            ..pending("o", Role::Staff, Class::II)
        };
        let not_carry_out = CarryOutFacts {
            transfer: released,
            is_carry_out: false,
        };
        assert_eq!(
            may_record_written_carry_out(&actor("x", Role::Staff), &not_carry_out),
            Err(Denied::Hidden)
        );
        assert!(matches!(
            may_record_written_carry_out(&actor("o", Role::Staff), &not_carry_out),
            Err(Denied::Forbidden(_))
        ));
        let carry_out = CarryOutFacts {
            is_carry_out: true,
            ..not_carry_out
        };
        assert!(may_record_written_carry_out(&actor("o", Role::Staff), &carry_out).is_ok());
    }

    #[test]
    fn r06_4_a_sysadmin_rescans_held_files_and_sees_no_other() {
        let sysadmin = actor("sa", Role::Sysadmin);
        assert!(may_rescan_inbound(&sysadmin, &inbound("o", InboundState::Held)).is_ok());
        for state in [
            InboundState::AwaitingClass,
            InboundState::Ready,
            InboundState::Quarantined,
            InboundState::Erased,
        ] {
            assert_eq!(
                may_rescan_inbound(&sysadmin, &inbound("o", state)),
                Err(Denied::Hidden),
                "{state}"
            );
        }
        assert!(matches!(
            may_rescan_inbound(&actor("o", Role::Staff), &inbound("o", InboundState::Held)),
            Err(Denied::Forbidden(_))
        ));
    }

    #[test]
    fn grants_come_only_from_a_rule_that_said_yes() {
        struct Row(TransferState);
        impl TransferSubject for Row {
            fn transfer_facts(&self) -> TransferFacts<'_> {
                TransferFacts {
                    sender_id: "o",
                    sender_role: Role::Staff,
                    class: Class::II,
                    state: self.0,
                    needs_approval: true,
                }
            }
        }
        let approver = actor("ap", Role::Approver);
        let grant = decide(&approver, Row(TransferState::PendingApproval));
        assert!(grant.is_ok_and(|g| g.actor().user_id == "ap"));
        assert!(decide(&approver, Row(TransferState::Released)).is_err());
        assert_eq!(
            view_transfer(&actor("x", Role::Staff), Row(TransferState::Released)).err(),
            Some(Denied::Hidden)
        );
    }
}

// --- added for transfers/deletion ---
// The erase phases of a disposal are run by the gateway itself (after a
// request, a decision, retention, or at start-up to finish a crashed erase),
// so their grant has no actor: the journalled disposal is the permission.

use sekisho_proto::deletion::DisposalState;
use sekisho_proto::vocab::DeletionTrigger;

/// What the erase rule needs to know about a journalled disposal.
#[derive(Debug, Clone, Copy)]
pub struct DisposalFacts {
    pub state: DisposalState,
    pub trigger: DeletionTrigger,
    /// The content's class; `None` when it was never classified, which
    /// counts as the highest class.
    pub class: Option<Class>,
    /// Whether an approver's decision for it is recorded.
    pub decided: bool,
}

/// 2.(2)⑩(ウ), 2.(2)③(ウ): content is erased only when its disposal is
/// due: its keeping period ran out, it is class III (erased on request), or
/// the approver decided for it. An erase whose keys are already destroyed
/// is always finished; a rejected or completed one erases nothing.
pub fn may_erase(d: &DisposalFacts) -> Verdict {
    match d.state {
        DisposalState::KeysDestroyed => Ok(()),
        DisposalState::Complete => Err(Denied::Forbidden("this content was already deleted")),
        DisposalState::Rejected => Err(Denied::Forbidden("this disposal was rejected")),
        DisposalState::Requested => {
            let needs_decision = d.trigger == DeletionTrigger::Request
                && d.class.is_none_or(disposal_needs_approval);
            if needs_decision && !d.decided {
                Err(Denied::Forbidden(
                    "this disposal waits for the approver's decision",
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// A journalled disposal the erase rule can judge.
pub trait DisposalSubject {
    fn disposal_facts(&self) -> DisposalFacts;
}

impl<T: DisposalSubject> DisposalSubject for &T {
    fn disposal_facts(&self) -> DisposalFacts {
        (**self).disposal_facts()
    }
}

/// The gateway's permission to run the erase phases of `object`. Like
/// [`LinkGrant`], there is no account behind it; it exists only because
/// [`may_erase`] said yes.
#[must_use = "a grant is the only way to reach the action it permits"]
#[derive(Debug)]
pub struct ErasureGrant<T> {
    object: T,
}

impl<T> ErasureGrant<T> {
    pub fn object(&self) -> &T {
        &self.object
    }
}

/// Asks [`may_erase`] about a journalled disposal.
pub fn erase<T: DisposalSubject>(object: T) -> Result<ErasureGrant<T>, Denied> {
    may_erase(&object.disposal_facts())?;
    Ok(ErasureGrant { object })
}

#[cfg(test)]
mod disposal_tests {
    use super::*;

    fn requested(trigger: DeletionTrigger, class: Option<Class>, decided: bool) -> DisposalFacts {
        DisposalFacts {
            state: DisposalState::Requested,
            trigger,
            class,
            decided,
        }
    }

    #[test]
    fn r02_2_10_content_is_erased_only_when_due_or_approved() {
        use DeletionTrigger::{Request, Retention};
        assert!(may_erase(&requested(Request, Some(Class::III), false)).is_ok());
        assert!(may_erase(&requested(Request, Some(Class::II), false)).is_err());
        assert!(may_erase(&requested(Request, None, false)).is_err());
        assert!(may_erase(&requested(Request, Some(Class::I), true)).is_ok());
        assert!(may_erase(&requested(Retention, Some(Class::I), false)).is_ok());
        assert!(may_erase(&requested(Retention, None, false)).is_ok());
        let begun = DisposalFacts {
            state: DisposalState::KeysDestroyed,
            ..requested(Request, Some(Class::I), false)
        };
        assert!(erase(Subject(begun)).is_ok());
        for state in [DisposalState::Rejected, DisposalState::Complete] {
            let closed = DisposalFacts {
                state,
                ..requested(Retention, Some(Class::III), true)
            };
            assert!(matches!(may_erase(&closed), Err(Denied::Forbidden(_))));
        }
    }

    struct Subject(DisposalFacts);
    impl DisposalSubject for Subject {
        fn disposal_facts(&self) -> DisposalFacts {
            self.0
        }
    }
}
