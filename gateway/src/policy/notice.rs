//! Who is told of what by mail, as pure functions beside the permissions
//! they mirror: a notice goes to exactly the people the policy lets act on
//! it, so a mail never invites someone to do what they may not.

use sekisho_proto::Role;
use sekisho_proto::vocab::AccountStatus;

use super::{TransferFacts, approver_role_for};

/// Someone who could be mailed.
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    pub user_id: &'a str,
    pub role: Role,
    pub status: AccountStatus,
}

/// 2.(2)⑨(イ) and separation of duties: a transfer waiting for approval is
/// announced to the role that must decide it (the CISO for an approver's
/// own request), never to its sender, and never to a closed account. The
/// CISO may decide any request but is not mailed for every one: they are
/// told of the requests only they may decide.
pub fn is_told_of_waiting(who: &Addressee<'_>, t: &TransferFacts<'_>) -> bool {
    who.status == AccountStatus::Active
        && who.user_id != t.sender_id
        && t.needs_approval
        && who.role == approver_role_for(t.sender_role)
}

/// A decider away with a stand-in in effect is not mailed; the stand-in is
/// told in their place, if the stand-in is active and is not the sender
/// (nobody decides their own request, so they would be told in vain; then
/// the absent decider is told after all).
pub fn is_told_in_place_of(
    decider: &Addressee<'_>,
    stand_in: &Addressee<'_>,
    t: &TransferFacts<'_>,
) -> bool {
    is_told_of_waiting(decider, t)
        && stand_in.status == AccountStatus::Active
        && stand_in.user_id != t.sender_id
        && stand_in.user_id != decider.user_id
}

/// The sender is told of a revocation made by someone else; one they made
/// themselves needs no mail.
pub fn sender_is_told_of_revocation(revoked_by_id: &str, t: &TransferFacts<'_>) -> bool {
    revoked_by_id != t.sender_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_proto::{Class, TransferState};

    fn facts(sender_role: Role) -> TransferFacts<'static> {
        TransferFacts {
            sender_id: "sender",
            sender_role,
            class: Class::II,
            state: TransferState::PendingApproval,
            needs_approval: true,
        }
    }

    fn who(user_id: &'static str, role: Role) -> Addressee<'static> {
        Addressee {
            user_id,
            role,
            status: AccountStatus::Active,
        }
    }

    #[test]
    fn clause_2_2_9_i_the_approver_is_told_of_a_staff_request() {
        assert!(is_told_of_waiting(
            &who("a", Role::Approver),
            &facts(Role::Staff)
        ));
        assert!(!is_told_of_waiting(
            &who("c", Role::Ciso),
            &facts(Role::Staff)
        ));
        assert!(!is_told_of_waiting(
            &who("m", Role::Manager),
            &facts(Role::Staff)
        ));
    }

    #[test]
    fn separation_of_duties_an_approvers_own_request_goes_to_the_ciso_not_to_them() {
        let own = facts(Role::Approver);
        assert!(is_told_of_waiting(&who("c", Role::Ciso), &own));
        assert!(!is_told_of_waiting(&who("sender", Role::Approver), &own));
        assert!(!is_told_of_waiting(&who("other", Role::Approver), &own));
    }

    #[test]
    fn nobody_is_told_of_their_own_request_or_while_their_account_is_closed() {
        let t = facts(Role::Staff);
        assert!(!is_told_of_waiting(&who("sender", Role::Approver), &t));
        for status in [AccountStatus::Disabled, AccountStatus::Retired] {
            let closed = Addressee {
                status,
                ..who("a", Role::Approver)
            };
            assert!(!is_told_of_waiting(&closed, &t));
        }
    }

    #[test]
    fn class_iii_needs_no_approval_so_nobody_is_asked() {
        let t = TransferFacts {
            class: Class::III,
            needs_approval: false,
            ..facts(Role::Staff)
        };
        assert!(!is_told_of_waiting(&who("a", Role::Approver), &t));
    }

    #[test]
    fn clause_6_1_8_e_the_sender_is_told_when_someone_else_revokes() {
        let t = facts(Role::Staff);
        assert!(sender_is_told_of_revocation("approver", &t));
        assert!(!sender_is_told_of_revocation("sender", &t));
    }

    #[test]
    fn a_stand_in_is_told_in_place_of_the_absent_approver_unless_it_is_their_own_request() {
        let jicho = who("jicho", Role::Approver);
        let ciso = who("ciso", Role::Ciso);
        let of_staff = facts(Role::Staff);
        // The CISO is not told of staff requests, but is as a stand-in.
        assert!(!is_told_of_waiting(&ciso, &of_staff));
        assert!(is_told_in_place_of(&jicho, &ciso, &of_staff));
        // A stand-in who sent the request is not asked to decide it.
        let kacho = who("sender", Role::Approver);
        assert!(!is_told_in_place_of(&jicho, &kacho, &of_staff));
        let closed = Addressee {
            status: AccountStatus::Disabled,
            ..ciso
        };
        assert!(!is_told_in_place_of(&jicho, &closed, &of_staff));
    }
}
