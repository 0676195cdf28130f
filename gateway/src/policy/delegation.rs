//! Stand-in approvers (代理承認): who may name one, who may be named, and
//! whom a stand-in's decision is recorded for. What a stand-in may decide
//! is `may_decide`'s (through `Actor::stands_in_for`), so there is one rule
//! for deciding, with or without a stand-in.

use sekisho_proto::Role;
use sekisho_proto::vocab::AccountStatus;

use super::{Actor, Denied, StandIn, TransferFacts, Verdict, active, approver_role_for};

/// An account as the delegation rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    pub user_id: &'a str,
    pub role: Role,
    pub status: AccountStatus,
}

fn decides(role: Role) -> bool {
    matches!(role, Role::Approver | Role::Ciso)
}

/// An approver or the CISO names their own stand-in; a sysadmin may do it
/// for them (the approver may be away already). The stand-in is another
/// active approver or the CISO: deciding needs that role's training and
/// step-up code, so nobody else can be handed the queue.
pub fn may_delegate(actor: &Actor, approver: &Principal, stand_in: &Principal) -> Verdict {
    may_manage_stand_in(actor, approver)?;
    if stand_in.user_id == approver.user_id {
        return Err(Denied::Forbidden("nobody stands in for themselves"));
    }
    if !decides(stand_in.role) {
        return Err(Denied::Forbidden(
            "the stand-in must be another approver or the CISO",
        ));
    }
    if stand_in.status != AccountStatus::Active {
        return Err(Denied::Forbidden("the stand-in's account is not active"));
    }
    Ok(())
}

/// Naming and clearing an approver's stand-in: the approver (or CISO)
/// themself, or a sysadmin for them.
pub fn may_manage_stand_in(actor: &Actor, approver: &Principal) -> Verdict {
    active(actor)?;
    let for_self = actor.user_id == approver.user_id;
    if !(for_self && decides(actor.role) || actor.role == Role::Sysadmin) {
        return Err(Denied::Forbidden(
            "only an approver or the CISO names their own stand-in, or a sysadmin for them",
        ));
    }
    if !decides(approver.role) {
        return Err(Denied::Forbidden(
            "only an approver or the CISO has a queue to hand over",
        ));
    }
    Ok(())
}

/// Whether a recorded delegation still hands anything over: both accounts
/// active and both still in a deciding role (a role change or a closed
/// account ends it without anyone clearing it). Its period is the caller's
/// to check on the gateway's clock.
pub fn is_in_force(approver: &Principal, stand_in: &Principal) -> bool {
    approver.status == AccountStatus::Active
        && stand_in.status == AccountStatus::Active
        && decides(approver.role)
        && decides(stand_in.role)
        && approver.user_id != stand_in.user_id
}

/// Who sees the stand-ins: those who decide, the system staff who set them
/// up, and the auditors who check the decisions made under them.
pub fn may_view_delegations(actor: &Actor) -> Verdict {
    active(actor)?;
    match actor.role {
        Role::Approver | Role::Ciso | Role::Sysadmin | Role::Auditor => Ok(()),
        _ => Err(Denied::Forbidden(
            "only approvers, the CISO, the system staff and auditors see stand-ins",
        )),
    }
}

/// Whom a decision the actor may take on `t` is recorded for: the absent
/// approver whose queue it belongs to, or `None` when the actor decides on
/// their own authority. The approver of the request's own role comes first,
/// so a stand-in for an approver is recorded as such even when their own
/// role would do; the CISO's authority is named only when it was needed.
pub fn decided_for<'a>(actor: &'a Actor, t: &TransferFacts) -> Option<&'a StandIn> {
    stand_in_used(actor, approver_role_for(t.sender_role), |s| {
        s.user_id != t.sender_id
    })
}

/// The same for a disposal (of stored content or of a medium), asked for
/// by `requested_by` in `requested_by_role`.
pub fn disposal_decided_for<'a>(
    actor: &'a Actor,
    requested_by: &str,
    requested_by_role: Role,
) -> Option<&'a StandIn> {
    stand_in_used(actor, approver_role_for(requested_by_role), |s| {
        s.username != requested_by
    })
}

fn stand_in_used(
    actor: &Actor,
    required: Role,
    eligible: impl Fn(&StandIn) -> bool,
) -> Option<&StandIn> {
    let mut held = actor.stands_in_for.iter().filter(|s| eligible(s));
    if let Some(of_role) = held.clone().find(|s| s.role == required) {
        return Some(of_role);
    }
    if actor.role == required || actor.role == Role::Ciso {
        return None;
    }
    held.find(|s| s.role == Role::Ciso)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::may_decide;
    use sekisho_proto::{Class, TransferState};

    fn actor(id: &str, role: Role, stands_in_for: &[(&str, Role)]) -> Actor {
        Actor {
            user_id: id.into(),
            username: id.into(),
            role,
            must_change_password: false,
            stands_in_for: stands_in_for
                .iter()
                .map(|(id, role)| StandIn {
                    user_id: id.to_string(),
                    username: id.to_string(),
                    role: *role,
                })
                .collect(),
        }
    }

    fn principal(user_id: &str, role: Role) -> Principal<'_> {
        Principal {
            user_id,
            role,
            status: AccountStatus::Active,
        }
    }

    fn pending(sender: &str, sender_role: Role) -> TransferFacts<'_> {
        TransferFacts {
            sender_id: sender,
            sender_role,
            class: Class::II,
            state: TransferState::PendingApproval,
            needs_approval: true,
        }
    }

    #[test]
    fn an_approver_names_their_own_stand_in_and_a_sysadmin_may_do_it_for_them() {
        let jicho = principal("jicho", Role::Approver);
        let kacho = principal("kacho", Role::Approver);
        let ciso = principal("ciso", Role::Ciso);
        assert!(may_delegate(&actor("jicho", Role::Approver, &[]), &jicho, &kacho).is_ok());
        assert!(may_delegate(&actor("jicho", Role::Approver, &[]), &jicho, &ciso).is_ok());
        assert!(may_delegate(&actor("admin", Role::Sysadmin, &[]), &jicho, &kacho).is_ok());
        assert!(may_delegate(&actor("ciso", Role::Ciso, &[]), &ciso, &kacho).is_ok());
        // Not for someone else, unless the system staff.
        assert!(may_delegate(&actor("kacho", Role::Approver, &[]), &jicho, &kacho).is_err());
        assert!(may_delegate(&actor("staff", Role::Staff, &[]), &jicho, &kacho).is_err());
    }

    #[test]
    fn the_stand_in_is_another_active_approver_or_the_ciso() {
        let admin = actor("admin", Role::Sysadmin, &[]);
        let jicho = principal("jicho", Role::Approver);
        for role in [Role::Staff, Role::Manager, Role::Sysadmin, Role::Auditor] {
            assert!(may_delegate(&admin, &jicho, &principal("x", role)).is_err());
        }
        assert!(may_delegate(&admin, &jicho, &jicho).is_err());
        let disabled = Principal {
            status: AccountStatus::Disabled,
            ..principal("kacho", Role::Approver)
        };
        assert!(may_delegate(&admin, &jicho, &disabled).is_err());
        // Staff have no queue to hand over.
        let staff = principal("sato", Role::Staff);
        assert!(may_delegate(&admin, &staff, &principal("kacho", Role::Approver)).is_err());
    }

    #[test]
    fn a_disposal_decided_by_a_stand_in_names_the_absent_approver_but_never_for_the_requester() {
        let kacho = actor("kacho", Role::Approver, &[("ciso", Role::Ciso)]);
        // An approver asked: the CISO's queue, decided by the CISO's stand-in.
        assert_eq!(
            disposal_decided_for(&kacho, "jicho", Role::Approver).map(|s| s.username.as_str()),
            Some("ciso")
        );
        // Staff asked: kacho's own authority.
        assert_eq!(disposal_decided_for(&kacho, "sato", Role::Staff), None);
        let for_jicho = actor("kacho", Role::Approver, &[("jicho", Role::Approver)]);
        assert_eq!(
            disposal_decided_for(&for_jicho, "jicho", Role::Approver),
            None,
            "a stand-in is never recorded as deciding for the requester"
        );
    }

    #[test]
    fn a_role_change_or_a_closed_account_ends_a_delegation() {
        let jicho = principal("jicho", Role::Approver);
        let kacho = principal("kacho", Role::Approver);
        assert!(is_in_force(&jicho, &kacho));
        let moved = principal("kacho", Role::Staff);
        assert!(!is_in_force(&jicho, &moved));
        let gone = Principal {
            status: AccountStatus::Retired,
            ..jicho
        };
        assert!(!is_in_force(&gone, &kacho));
    }

    #[test]
    fn a_stand_in_for_the_ciso_decides_an_approvers_request_but_never_their_own() {
        let kacho = actor("kacho", Role::Approver, &[("ciso", Role::Ciso)]);
        let plain = actor("kacho", Role::Approver, &[]);
        let of_jicho = pending("jicho", Role::Approver);
        assert!(may_decide(&plain, &of_jicho).is_err());
        assert!(may_decide(&kacho, &of_jicho).is_ok());
        assert_eq!(
            decided_for(&kacho, &of_jicho).map(|s| s.username.as_str()),
            Some("ciso")
        );
        let own = pending("kacho", Role::Approver);
        assert!(may_decide(&kacho, &own).is_err());
    }

    #[test]
    fn a_stand_in_for_an_approver_is_recorded_for_them() {
        let kacho = actor("kacho", Role::Approver, &[("jicho", Role::Approver)]);
        let of_staff = pending("sato", Role::Staff);
        assert!(may_decide(&kacho, &of_staff).is_ok());
        assert_eq!(
            decided_for(&kacho, &of_staff).map(|s| s.username.as_str()),
            Some("jicho")
        );
        // The absent approver's own request still goes to the CISO.
        let of_jicho = pending("jicho", Role::Approver);
        assert!(may_decide(&kacho, &of_jicho).is_err());
        // Without a stand-in nobody is named.
        assert_eq!(
            decided_for(&actor("kacho", Role::Approver, &[]), &of_staff),
            None
        );
        // The CISO standing in for an approver is recorded as such.
        let ciso = actor("ciso", Role::Ciso, &[("jicho", Role::Approver)]);
        assert_eq!(
            decided_for(&ciso, &of_staff).map(|s| s.username.as_str()),
            Some("jicho")
        );
    }
}
