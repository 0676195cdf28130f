//! Grants: proof values that the policy allowed an actor something.
//!
//! A `Grant<P, T>` can only be built inside `policy` (its constructor is
//! private to this module tree), and only by a function that asked the
//! matching `may_*` rule first. Service functions that read or change an
//! object take the grant instead of the raw row, so the check cannot be
//! forgotten: without it there is nothing to pass (the lldap "handle" model).

use std::marker::PhantomData;

use super::Actor;

/// Permission `P` on `object`, granted to `actor`.
#[must_use = "a grant is the only way to reach the action it permits"]
pub struct Grant<P, T> {
    actor: Actor,
    object: T,
    permission: PhantomData<fn() -> P>,
}

impl<P, T> Grant<P, T> {
    pub(in crate::policy) fn new(actor: &Actor, object: T) -> Self {
        Grant {
            actor: actor.clone(),
            object,
            permission: PhantomData,
        }
    }

    /// Who was granted it (for the audit record).
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn object(&self) -> &T {
        &self.object
    }

    /// The object, for updating it after the change was stored. The grant
    /// itself is used up: it proved something about the object as it was.
    pub fn into_object(self) -> T {
        self.object
    }
}

impl<P, T: std::fmt::Debug> std::fmt::Debug for Grant<P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("permission", &std::any::type_name::<P>())
            .field("actor", &self.actor.username)
            .field("object", &self.object)
            .finish()
    }
}

/// A recipient's link allowed handing out `object`: the link is the
/// permission (there is no account behind it).
#[must_use = "a grant is the only way to reach the action it permits"]
#[derive(Debug)]
pub struct LinkGrant<T> {
    object: T,
}

impl<T> LinkGrant<T> {
    pub(in crate::policy) fn new(object: T) -> Self {
        LinkGrant { object }
    }

    pub fn object(&self) -> &T {
        &self.object
    }
}

/// Declares permission marker types: uninhabited, used only as `P`.
macro_rules! permissions {
    ($( $(#[$meta:meta])* $name:ident; )+) => {
        $( $(#[$meta])* #[derive(Debug)] pub enum $name {} )+
    };
}

/// The permissions a grant can carry, one uninhabited type each.
pub mod perm {
    permissions! {
        /// See an object (and its metadata).
        View;
        /// Stream files into a transfer being uploaded.
        Upload;
        /// Approve or reject.
        Decide;
        Revoke;
        /// See a transfer's recipient links (they carry the download permission).
        ViewLinks;
        /// Hand a released transfer out through a recipient's link.
        Deliver;
        RequestDisposal;
        /// Record what was written onto a medium for a carry-out.
        RecordWritten;
        CheckIn;
        /// Set the class of an inbound file.
        Classify;
        /// Read an inbound file's content.
        Read;
        /// Release the original of a sanitised (or sanitisation-held) file.
        ReleaseOriginal;
        /// Stream files into one's own media intake.
        Intake;
        /// Take a returned or carried-in medium's files in through the scan.
        TakeIn;
        /// Send files out and keep an address book.
        Send;
        /// Ask outside parties for files, bring media in.
        RequestInbound;
        ManageAccounts;
        ReadAudit;
        RegisterMedia;
        RecordCarryIn;
        RequestMediumDisposal;
        ViewMedia;
        ViewIncidents;
        EscalateIncident;
        CloseIncident;
        Rescan;
        ViewScanStatus;
        ListAllTransfers;
        /// See revocations of transfers one approved.
        ReviewRevocations;
        /// See accounts suspended recently.
        ReviewSuspensions;
    }
}

pub type Visible<T> = Grant<perm::View, T>;
pub type Decidable<T> = Grant<perm::Decide, T>;
/// An actor-wide permission: no particular object.
pub type Allowed<P> = Grant<P, ()>;
