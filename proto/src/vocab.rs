//! The domain's vocabulary, named once: every state, verdict and kind that
//! is stored in the database or crosses the wire, as an enum whose spelling
//! is defined here and nowhere else. The gateway stores `as_str()`, reads
//! back with `FromStr`, and the client matches on the same variants, so a
//! renamed word is a compile error on both sides instead of a silently
//! empty list or report row.

use std::fmt;

/// A word that is not part of a vocabulary: a corrupted row, or a newer
/// gateway talking to an older client. It names the vocabulary and the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    pub vocabulary: &'static str,
    pub word: String,
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a known {} (a newer gateway or a damaged record)",
            self.word.escape_debug(),
            self.vocabulary
        )
    }
}

impl std::error::Error for UnknownWord {}

/// Declares a closed vocabulary: an enum, its stored spelling, `ALL`,
/// `Display`, `FromStr` and serde, all from one list.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:tt) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every word of this vocabulary, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The spelling stored in the database and sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::vocab::UnknownWord;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|word| word.as_str() == text)
                    .ok_or_else(|| $crate::vocab::UnknownWord {
                        vocabulary: $what,
                        word: text.to_string(),
                    })
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// Where an account stands (5.(4)①, 6.(2)②).
    pub enum AccountStatus ("account status") {
        /// May log in.
        Active = "active",
        /// Suspended or switched off; a sysadmin may enable it again.
        Disabled = "disabled",
        /// Its holder left or moved: it keeps its history and never logs
        /// in again (the name stays taken, so records stay unambiguous).
        Retired = "retired",
    }
}

vocabulary! {
    /// Where an inbound file stands (2.(2)④, "Bringing in").
    pub enum InboundState ("inbound file state") {
        /// Scanned clean; its requester must set the class.
        AwaitingClass = "awaiting_class",
        /// Clean and classified: the requester may download it.
        Ready = "ready",
        /// Classed `unknown`: a manager sets the class (2.(2)④(イ)).
        NeedsManager = "needs_manager",
        /// Malware detected: kept encrypted for the investigation, never readable.
        Quarantined = "quarantined",
        /// Could not be checked: not readable until a sysadmin rescans it.
        Held = "held",
        /// Scanned clean, but the sanitiser could not rebuild it without
        /// active content (unsupported type, malformed, over a bound,
        /// macros in a legacy Office file): never readable by staff; only a
        /// manager may release the original, with step-up (6.(4)②).
        NotSanitised = "not_sanitised",
        /// Content securely deleted; the record stays.
        Erased = "erased",
    }
}

vocabulary! {
    /// What the scanner said about a file. Anything that could not be
    /// checked is `Unscanned`, never `Clean` (fail closed).
    pub enum VerdictKind ("scan verdict") {
        Clean = "clean",
        Infected = "infected",
        Unscanned = "unscanned",
    }
}

impl VerdictKind {
    /// The state a freshly scanned inbound file enters.
    pub fn initial_state(self) -> InboundState {
        match self {
            VerdictKind::Clean => InboundState::AwaitingClass,
            VerdictKind::Infected => InboundState::Quarantined,
            VerdictKind::Unscanned => InboundState::Held,
        }
    }

    /// How the uploader is told (never the signature).
    ///
    /// (See [`InboundState::after_sanitising`] for the state once the
    /// sanitiser has seen a clean file.)
    pub fn upload_outcome(self) -> UploadOutcomeKind {
        match self {
            VerdictKind::Clean => UploadOutcomeKind::Accepted,
            VerdictKind::Infected => UploadOutcomeKind::Rejected,
            VerdictKind::Unscanned => UploadOutcomeKind::Held,
        }
    }
}

impl InboundState {
    /// The one transition sanitisation makes: a clean file the sanitiser
    /// held goes to `not_sanitised`; every other state and outcome stays.
    pub fn after_sanitising(self, outcome: Option<SanitiseOutcome>) -> InboundState {
        match (self, outcome) {
            (InboundState::AwaitingClass, Some(SanitiseOutcome::Held)) => {
                InboundState::NotSanitised
            }
            (state, _) => state,
        }
    }
}

vocabulary! {
    /// What sanitisation (無害化) made of a clean inbound file.
    pub enum SanitiseOutcome ("sanitisation outcome") {
        /// Rebuilt without its active content: staff receive the copy.
        Rebuilt = "rebuilt",
        /// Nothing to remove (plain text, CSV, a legacy Office file without
        /// macros or objects): staff receive the file as it came.
        Unchanged = "unchanged",
        /// Could not be sanitised: held, never readable by staff.
        Held = "held",
        /// Sanitisation is switched off for this source; passed on the scan.
        Off = "off",
    }
}

vocabulary! {
    /// What an outside uploader is told about each file.
    pub enum UploadOutcomeKind ("upload outcome") {
        Accepted = "accepted",
        /// Malware detected.
        Rejected = "rejected",
        /// Could not be checked.
        Held = "held",
    }
}

vocabulary! {
    /// The class staff give an inbound file: a class, or "I do not know",
    /// which hands the decision to a manager (2.(2)④(イ)).
    pub enum InboundClass ("inbound classification") {
        I = "I",
        II = "II",
        III = "III",
        Unknown = "unknown",
    }
}

impl InboundClass {
    pub fn class(self) -> Option<crate::Class> {
        match self {
            InboundClass::I => Some(crate::Class::I),
            InboundClass::II => Some(crate::Class::II),
            InboundClass::III => Some(crate::Class::III),
            InboundClass::Unknown => None,
        }
    }

    /// Accepts what a clerk types: `I`, `2`, `重要性III`, `unknown`.
    pub fn parse_lenient(text: &str) -> Result<Self, UnknownWord> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("unknown") || text == "不明" {
            return Ok(InboundClass::Unknown);
        }
        text.parse::<crate::Class>()
            .map(InboundClass::from)
            .map_err(|_| UnknownWord {
                vocabulary: "classification (I, II, III or unknown)",
                word: text.to_string(),
            })
    }
}

impl From<crate::Class> for InboundClass {
    fn from(class: crate::Class) -> Self {
        match class {
            crate::Class::I => InboundClass::I,
            crate::Class::II => InboundClass::II,
            crate::Class::III => InboundClass::III,
        }
    }
}

vocabulary! {
    /// An incident opened for an infected file.
    pub enum IncidentState ("incident state") {
        Open = "open",
        /// A manager handed it to the approvers and the CISO.
        Escalated = "escalated",
        Closed = "closed",
    }
}

vocabulary! {
    /// How files come in: a link handed to an outside party, or a member of
    /// staff's own intake of a medium.
    pub enum UploadRequestKind ("upload request kind") {
        Link = "link",
        Intake = "intake",
    }
}

vocabulary! {
    /// Expiry and the file and byte limits are checked against the clock
    /// and counters, so a request link has one stored state today.
    pub enum UploadRequestState ("upload request state") {
        /// Accepting files until it expires or its limits are reached.
        Open = "open",
    }
}

vocabulary! {
    /// A request to wipe or dispose of a medium.
    pub enum MediumDisposalState ("medium disposal state") {
        Requested = "requested",
        /// Approved and recorded.
        Done = "done",
        Rejected = "rejected",
    }
}

vocabulary! {
    /// Why content is being deleted.
    pub enum DeletionTrigger ("deletion trigger") {
        /// Someone asked (2.(2)⑩).
        Request = "request",
        /// Its retention time was up.
        Retention = "retention",
    }
}

vocabulary! {
    /// How a delivered package is protected (the `x-sekisho-encryption`
    /// header): age for classes I and II, a plain tar for class III.
    pub enum PackageEncryption ("package encryption") {
        Age = "age",
        None = "none",
    }
}

impl PackageEncryption {
    pub fn of(encrypted: bool) -> Self {
        if encrypted {
            PackageEncryption::Age
        } else {
            PackageEncryption::None
        }
    }
}

vocabulary! {
    /// What the health check says. Liveness only today: a gateway that
    /// answers is up (the database and scanner have their own checks).
    pub enum HealthStatus ("health status") {
        Ok = "ok",
    }
}

vocabulary! {
    /// Whether an audited action happened or was refused.
    pub enum Outcome ("audit outcome") {
        Ok = "ok",
        /// Refused by the policy, a bad credential or a bad link.
        Denied = "denied",
        /// Attempted and failed (e.g. a deletion that could not finish).
        Error = "error",
    }
}
