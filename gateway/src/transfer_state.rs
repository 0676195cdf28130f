//! The transfer state machine: the only transitions the gateway performs.
//! The database stores the state; every change is checked here first and
//! then applied with a compare-and-set on the stored value.

use sekisho_proto::TransferState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// All files arrived and matched the sender's digests.
    Submitted {
        needs_approval: bool,
    },
    Approved,
    Rejected,
    /// The sender (or a supervisor) withdrew or revoked it.
    Revoked,
    /// Every link's time ran out.
    LinksExpired,
    /// Nobody decided within `approval.expire_days`.
    Unattended,
    /// The stored content was securely deleted (retention or disposal).
    Erased,
}

pub fn next(from: TransferState, event: Event) -> Option<TransferState> {
    use TransferState::*;
    match (from, event) {
        (
            Uploading,
            Event::Submitted {
                needs_approval: true,
            },
        ) => Some(PendingApproval),
        (Uploading, Event::Submitted { .. }) => Some(Released),
        (PendingApproval, Event::Approved) => Some(Released),
        (PendingApproval, Event::Rejected) => Some(Rejected),
        (Uploading | PendingApproval | Released, Event::Revoked) => Some(Revoked),
        (Released, Event::LinksExpired) => Some(Expired),
        (PendingApproval, Event::Unattended) => Some(Expired),
        (Uploading | PendingApproval | Released | Rejected | Revoked | Expired, Event::Erased) => {
            Some(Erased)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransferState::*;
    use sekisho_proto::Class;

    #[test]
    fn only_a_waiting_request_expires_undecided() {
        assert_eq!(next(PendingApproval, Event::Unattended), Some(Expired));
        for from in [Uploading, Released, Rejected, Revoked, Expired, Erased] {
            assert_eq!(next(from, Event::Unattended), None, "{from:?}");
        }
        // Once expired, it can no longer be approved.
        assert_eq!(next(Expired, Event::Approved), None);
    }

    #[test]
    fn class_three_is_released_at_once_and_one_and_two_wait() {
        assert_eq!(
            next(
                Uploading,
                Event::Submitted {
                    needs_approval: Class::III.needs_approval()
                }
            ),
            Some(Released)
        );
        assert_eq!(
            next(
                Uploading,
                Event::Submitted {
                    needs_approval: Class::II.needs_approval()
                }
            ),
            Some(PendingApproval)
        );
        assert_eq!(
            next(
                Uploading,
                Event::Submitted {
                    needs_approval: Class::I.needs_approval()
                }
            ),
            Some(PendingApproval)
        );
    }

    #[test]
    fn nothing_is_released_without_approval_or_after_closing() {
        assert_eq!(next(Uploading, Event::Approved), None);
        assert_eq!(next(Rejected, Event::Approved), None);
        assert_eq!(next(Revoked, Event::Approved), None);
        assert_eq!(next(Expired, Event::Approved), None);
        assert_eq!(next(Released, Event::Approved), None);
        assert_eq!(next(Rejected, Event::Revoked), None);
        assert_eq!(next(PendingApproval, Event::LinksExpired), None);
    }

    #[test]
    fn r02_2_10_everything_but_an_erased_transfer_can_be_erased() {
        for from in [
            Uploading,
            PendingApproval,
            Released,
            Rejected,
            Revoked,
            Expired,
        ] {
            assert_eq!(next(from, Event::Erased), Some(Erased));
        }
        assert_eq!(next(Erased, Event::Erased), None);
        assert_eq!(next(Erased, Event::Approved), None);
        assert_eq!(next(Erased, Event::Revoked), None);
    }

    #[test]
    fn every_open_state_can_be_revoked() {
        for from in [Uploading, PendingApproval, Released] {
            assert_eq!(next(from, Event::Revoked), Some(Revoked));
        }
    }
}
