//! Checking an audit log: the hash chain, where a log shortened by
//! retention starts, and every checkpoint (a valid signature from the
//! pinned key, and a head hash the chain still holds). A checkpoint beyond
//! the end of the log means events were cut off the end; one whose hash no
//! longer matches means the log was rewritten and re-hashed, which the
//! chain alone cannot see.
//!
//! [`Checker`] works on events handed to it and knows nothing about the
//! network: `sekisho audit verify` feeds it on the auditor's computer, the
//! console's yearly report page on the gateway (which says so). Hashes of
//! good events are kept as 32 bytes each (32 MB for a million events) so
//! any checkpoint can be compared.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::{
    AUDIT_GENESIS, AuditCheckpoint, AuditEvent, BadEvent, ChainVerifier, verify_checkpoint,
};

/// Where a checkpoint came from, named in every message about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Gateway,
    File(PathBuf),
    Saved,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Gateway => f.write_str("from the gateway"),
            Origin::File(path) => write!(f, "from the file {}", path.display()),
            Origin::Saved => f.write_str("saved on this computer by the last verification"),
        }
    }
}

/// What a verification found. The JSON of `audit verify --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// True only when there are no problems at all.
    pub verified: bool,
    /// Events that verified, in order, from the start of the log.
    pub events_checked: u64,
    /// The earliest event a problem points at, with the reason.
    pub first_bad: Option<BadEvent>,
    /// Hash of the last event that verified (the genesis hash when none).
    pub head_hash: String,
    /// Sequence number of the last event that verified.
    pub last_seq: i64,
    /// First event the gateway still has (later than 1 after retention).
    pub first_seq: Option<i64>,
    /// Last event the gateway has, verified or not.
    pub gateway_last_seq: i64,
    /// Whether every event linked to the one before it (a rewritten and
    /// re-hashed log still does; only checkpoints reveal that).
    pub chain_intact: bool,
    /// Checkpoints whose head the chain still holds (and whose signature
    /// verified, when a key is pinned).
    pub checkpoints_verified: usize,
    /// The newest of those.
    pub latest_checkpoint: Option<AuditCheckpoint>,
    /// Checkpoints whose signature did not verify with the pinned key.
    pub checkpoints_rejected: usize,
    /// False when no key is pinned: then a forged checkpoint goes unseen.
    pub signatures_checked: bool,
    /// Every failure, each a sentence.
    pub problems: Vec<String>,
    /// Things the auditor should know that do not fail the check.
    pub warnings: Vec<String>,
}

struct Problem {
    /// The event it points at, if any (a forged checkpoint points at none).
    seq: Option<i64>,
    text: String,
}

struct Candidate {
    checkpoint: AuditCheckpoint,
    origin: Origin,
}

/// Checks events handed to it in order against the checkpoints it was
/// given; see the module documentation.
pub struct Checker {
    signatures_checked: bool,
    rejected: usize,
    candidates: Vec<Candidate>,
    problems: Vec<Problem>,
    verifier: Option<ChainVerifier>,
    /// The trusted point the chain continues from: (seq, hash).
    anchor: Option<(i64, [u8; 32])>,
    first_seq: Option<i64>,
    hashes: Vec<[u8; 32]>,
    gateway_last_seq: i64,
}

fn decode_hash(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).ok()?;
    Some(out)
}

/// The first characters of a hash, enough to compare by eye.
fn short(hash: &str) -> String {
    let shown: String = hash.chars().take(16).collect();
    if shown.len() < hash.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

impl Checker {
    /// `pin` is the pinned key (base64), or `None` to check checkpoints
    /// against the chain only. Forged checkpoints are set aside here.
    pub fn new(pin: Option<&str>, checkpoints: Vec<(AuditCheckpoint, Origin)>) -> Checker {
        let mut problems = Vec::new();
        let mut rejected = 0;
        let mut candidates: Vec<Candidate> = Vec::new();
        for (checkpoint, origin) in checkpoints {
            // The same checkpoint from two places is checked once.
            if candidates.iter().any(|c| c.checkpoint == checkpoint) {
                continue;
            }
            if let Some(key) = pin
                && let Err(why) = verify_checkpoint(key, &checkpoint)
            {
                // The proto's reason starts with "checkpoint #N" too.
                let prefix = format!("checkpoint #{} ", checkpoint.seq);
                let why = why
                    .strip_prefix(&prefix)
                    .map_or_else(|| why.clone(), |rest| format!("it {rest}"));
                problems.push(Problem {
                    seq: None,
                    text: format!(
                        "checkpoint #{} ({origin}) is forged or was signed by another key: {why}",
                        checkpoint.seq
                    ),
                });
                rejected += 1;
                continue;
            }
            candidates.push(Candidate { checkpoint, origin });
        }
        Checker {
            signatures_checked: pin.is_some(),
            rejected,
            candidates,
            problems,
            verifier: None,
            anchor: None,
            first_seq: None,
            hashes: Vec::new(),
            gateway_last_seq: 0,
        }
    }

    /// Chooses where the chain starts when the first event arrives.
    fn start(&mut self, first: &AuditEvent) -> ChainVerifier {
        self.first_seq = Some(first.seq);
        if first.seq <= 1 {
            self.anchor = decode_hash(AUDIT_GENESIS).map(|h| (0, h));
            return ChainVerifier::default();
        }
        let before = first.seq - 1;
        // Prefer a checkpoint that agrees with the first event's link; a
        // disagreeing one is reported with the other checkpoints.
        let chosen = self
            .candidates
            .iter()
            .filter(|c| c.checkpoint.seq == before)
            .max_by_key(|c| c.checkpoint.head_hash.trim() == first.prev_hash)
            .map(|c| c.checkpoint.head_hash.clone());
        match chosen {
            Some(head) => {
                self.anchor = decode_hash(&head).map(|h| (before, h));
                ChainVerifier::starting_after(before, &head)
            }
            None => {
                self.problems.push(Problem {
                    seq: Some(first.seq),
                    text: format!(
                        "the start of the log cannot be trusted: it begins at event #{} (events #1..#{before} were removed), but no {}checkpoint #{before} vouches for where it begins",
                        first.seq,
                        if self.signatures_checked { "signed " } else { "" }
                    ),
                });
                // Still check the rest, so later breaks are named too.
                ChainVerifier::starting_after(before, &first.prev_hash)
            }
        }
    }

    pub fn push(&mut self, event: &AuditEvent) {
        self.gateway_last_seq = self.gateway_last_seq.max(event.seq);
        let mut verifier = match self.verifier.take() {
            Some(v) => v,
            None => self.start(event),
        };
        if verifier.push(event) {
            // The verifier recomputed this hash, so it is well-formed hex.
            self.hashes
                .push(decode_hash(&event.hash).unwrap_or_default());
        }
        self.verifier = Some(verifier);
    }

    /// The hash the verified chain holds at `seq`, if it reaches there.
    fn hash_at(&self, seq: i64) -> Option<[u8; 32]> {
        if let Some((anchor_seq, hash)) = self.anchor
            && anchor_seq == seq
        {
            return Some(hash);
        }
        let first = self.first_seq?;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.hashes.get(index).copied()
    }

    pub fn finish(mut self) -> Verification {
        let verifier = self.verifier.take().unwrap_or_default();
        let head_hash = verifier.head().to_string();
        let last_seq = verifier.last_seq();
        let report = verifier.finish();
        if let Some(bad) = &report.first_bad {
            self.problems.push(Problem {
                seq: Some(bad.seq),
                text: format!("audit log BROKEN at event #{}: {}", bad.seq, bad.reason),
            });
        }

        // First pass: which checkpoints does the chain still hold?
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.sort_by_key(|c| c.checkpoint.seq);
        let matched: Vec<Option<bool>> = candidates
            .iter()
            .map(|c| {
                let at = self.hash_at(c.checkpoint.seq)?;
                Some(decode_hash(&c.checkpoint.head_hash) == Some(at))
            })
            .collect();
        let anchor_seq = self.anchor.map(|(seq, _)| seq);
        let mut verified: Vec<&AuditCheckpoint> = Vec::new();
        for (candidate, status) in candidates.iter().zip(&matched) {
            let cp = &candidate.checkpoint;
            let origin = &candidate.origin;
            let n = cp.seq;
            let m = self.gateway_last_seq;
            if n > m {
                self.problems.push(Problem {
                    seq: Some(m + 1),
                    text: format!(
                        "the log was truncated: checkpoint #{n} ({origin}) says the log had {n} events, but the gateway now has only {m} (events #{}..#{n} are missing)",
                        m + 1
                    ),
                });
                continue;
            }
            match status {
                Some(true) => verified.push(cp),
                Some(false) => {
                    // Everything up to the last checkpoint that still
                    // matches is as it was signed; the change lies after.
                    let since = candidates
                        .iter()
                        .zip(&matched)
                        .filter(|(c, m)| **m == Some(true) && c.checkpoint.seq < n)
                        .map(|(c, _)| c.checkpoint.seq)
                        .chain(anchor_seq.filter(|&a| a < n))
                        .max()
                        .map_or(1, |k| k + 1);
                    let now = self.hash_at(n).map(hex::encode).unwrap_or_default();
                    self.problems.push(Problem {
                        seq: Some(n),
                        text: format!(
                            "the log was rewritten before event #{n}: checkpoint #{n} ({origin}) signed head hash {}, but event #{n} now has hash {} (the change is in events #{since}..#{n})",
                            short(&cp.head_hash),
                            short(&now)
                        ),
                    });
                }
                // Before the kept log (pruned: only its signature could be
                // checked) or after a break (nothing there can be trusted).
                None => {}
            }
        }

        let first_bad = self
            .problems
            .iter()
            .filter_map(|p| p.seq.map(|seq| (seq, p)))
            .min_by_key(|(seq, _)| *seq)
            .map(|(seq, p)| match &report.first_bad {
                // Keep the chain's own wording for the event it names.
                Some(bad) if bad.seq == seq => bad.clone(),
                _ => BadEvent {
                    seq,
                    reason: p.text.clone(),
                },
            });
        let latest_checkpoint = verified.last().map(|cp| (*cp).clone());
        Verification {
            verified: self.problems.is_empty(),
            events_checked: report.events_checked,
            first_bad,
            head_hash,
            last_seq,
            first_seq: self.first_seq,
            gateway_last_seq: self.gateway_last_seq,
            chain_intact: report.first_bad.is_none(),
            checkpoints_verified: verified.len(),
            latest_checkpoint,
            checkpoints_rejected: self.rejected,
            signatures_checked: self.signatures_checked,
            problems: self.problems.into_iter().map(|p| p.text).collect(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{audit_event_hash, audit_key_fingerprint, checkpoint_message};
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};

    pub fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = AUDIT_GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent {
                    seq,
                    at: format!("2026-11-25T00:00:{:02}Z", seq % 60),
                    actor: "alice".into(),
                    action: "login.ok".into(),
                    object: format!("user:{seq}"),
                    class: String::new(),
                    outcome: "ok".into(),
                    source: "127.0.0.1".into(),
                    detail: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = audit_event_hash(&e);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    /// Changes one event and re-hashes everything after it, as an insider
    /// with database access would to hide the change from the chain.
    fn rewrite(events: &mut [AuditEvent], index: usize) {
        events[index].detail = "{\"forged\":true}".into();
        for i in index..events.len() {
            if i > 0 {
                events[i].prev_hash = events[i - 1].hash.clone();
            }
            events[i].hash = audit_event_hash(&events[i]);
        }
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn public(key: &SigningKey) -> String {
        base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes())
    }

    fn sign(key: &SigningKey, seq: i64, head_hash: &str) -> AuditCheckpoint {
        let at = "2026-11-25T01:00:00Z".to_string();
        let signature = key.sign(&checkpoint_message(seq, head_hash, &at));
        AuditCheckpoint {
            seq,
            head_hash: head_hash.to_string(),
            at,
            key_fingerprint: audit_key_fingerprint(&key.verifying_key().to_bytes()),
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        }
    }

    fn check(
        pin: Option<&SigningKey>,
        checkpoints: Vec<AuditCheckpoint>,
        events: &[AuditEvent],
    ) -> Verification {
        let pin = pin.map(public);
        let mut checker = Checker::new(
            pin.as_deref(),
            checkpoints
                .into_iter()
                .map(|c| (c, Origin::Gateway))
                .collect(),
        );
        for e in events {
            checker.push(e);
        }
        checker.finish()
    }

    #[test]
    fn an_intact_log_with_checkpoints_verifies() {
        let k = key(1);
        let events = chain(10);
        let cps = vec![sign(&k, 4, &events[3].hash), sign(&k, 10, &events[9].hash)];
        let v = check(Some(&k), cps, &events);
        assert!(v.verified, "{:?}", v.problems);
        assert_eq!(v.events_checked, 10);
        assert_eq!(v.first_bad, None);
        assert_eq!(v.head_hash, events[9].hash);
        assert_eq!(v.last_seq, 10);
        assert_eq!(v.checkpoints_verified, 2);
        assert_eq!(v.latest_checkpoint.map(|c| c.seq), Some(10));
        assert!(v.signatures_checked);
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut events = chain(6);
        events[2].actor = "mallory".into();
        let v = check(None, vec![], &events);
        assert!(!v.verified);
        let bad = v.first_bad.clone().map(|b| b.seq);
        assert_eq!(bad, Some(3));
        assert_eq!(v.events_checked, 2);
        assert!(!v.chain_intact);
        assert!(v.problems[0].starts_with("audit log BROKEN at event #3: "));
    }

    #[test]
    fn a_truncated_log_is_caught_by_a_checkpoint() {
        let k = key(1);
        let events = chain(8);
        let cp = sign(&k, 8, &events[7].hash);
        let v = check(Some(&k), vec![cp], &events[..5]);
        assert!(!v.verified);
        assert_eq!(v.first_bad.as_ref().map(|b| b.seq), Some(6));
        assert!(
            v.problems[0].contains(
                "the log was truncated: checkpoint #8 (from the gateway) says the log had 8 events, but the gateway now has only 5 (events #6..#8 are missing)"
            ),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn a_rewritten_and_rehashed_log_is_caught_by_a_checkpoint() {
        let k = key(1);
        let mut events = chain(10);
        let cps = vec![sign(&k, 3, &events[2].hash), sign(&k, 7, &events[6].hash)];
        rewrite(&mut events, 4);
        let v = check(Some(&k), cps, &events);
        assert!(!v.verified);
        // The chain itself is consistent again; only the checkpoint shows it.
        assert!(v.chain_intact);
        assert_eq!(v.events_checked, 10);
        assert_eq!(v.first_bad.as_ref().map(|b| b.seq), Some(7));
        assert!(
            v.problems[0].starts_with("the log was rewritten before event #7")
                && v.problems[0].contains("events #4..#7"),
            "{:?}",
            v.problems
        );
        assert_eq!(v.checkpoints_verified, 1);
    }

    #[test]
    fn a_forged_checkpoint_is_refused() {
        let k = key(1);
        let events = chain(5);
        let forged = sign(&key(2), 5, &events[4].hash);
        let mut altered = sign(&k, 5, &events[4].hash);
        altered.seq = 4;
        altered.head_hash = events[3].hash.clone();
        let v = check(Some(&k), vec![forged, altered], &events);
        assert!(!v.verified);
        assert_eq!(v.problems.len(), 2, "{:?}", v.problems);
        for p in &v.problems {
            assert!(
                p.contains("is forged or was signed by another key: it "),
                "{p}"
            );
        }
        assert_eq!(v.checkpoints_rejected, 2);
        // Nothing wrong with the events themselves.
        assert_eq!(v.first_bad, None);
        assert_eq!(v.checkpoints_verified, 0);
    }

    #[test]
    fn without_a_pin_checkpoints_are_still_compared_with_the_chain() {
        let events = chain(5);
        let forged = sign(&key(2), 5, &events[4].hash);
        let v = check(None, vec![forged], &events);
        assert!(v.verified);
        assert!(!v.signatures_checked);
        assert_eq!(v.checkpoints_verified, 1);
        let wrong = sign(&key(2), 3, &events[4].hash);
        let v = check(None, vec![wrong], &events);
        assert!(!v.verified);
        assert_eq!(v.first_bad.map(|b| b.seq), Some(3));
    }

    #[test]
    fn a_pruned_log_continues_from_its_signed_checkpoint() {
        let k = key(1);
        let events = chain(10);
        let anchor = sign(&k, 3, &events[2].hash);
        let older = sign(&k, 2, &events[1].hash);
        let v = check(Some(&k), vec![older, anchor], &events[3..]);
        assert!(v.verified, "{:?}", v.problems);
        assert_eq!(v.first_seq, Some(4));
        assert_eq!(v.events_checked, 7);
        assert_eq!(v.last_seq, 10);
        // The anchor matches the chain; the older one is signature-only.
        assert_eq!(v.checkpoints_verified, 1);
    }

    #[test]
    fn a_pruned_log_without_its_checkpoint_cannot_be_trusted() {
        let k = key(1);
        let events = chain(10);
        let v = check(Some(&k), vec![sign(&k, 2, &events[1].hash)], &events[3..]);
        assert!(!v.verified);
        assert_eq!(v.first_bad.as_ref().map(|b| b.seq), Some(4));
        assert!(v.problems[0].contains("the start of the log cannot be trusted"));
        // A forged anchor is no anchor.
        let forged = sign(&key(2), 3, &events[2].hash);
        let v = check(Some(&k), vec![forged], &events[3..]);
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("start of the log cannot be trusted"))
        );
    }

    #[test]
    fn a_break_after_the_start_is_still_named_in_a_pruned_log() {
        let k = key(1);
        let mut events = chain(10);
        events[6].outcome = "denied".into();
        let v = check(Some(&k), vec![sign(&k, 3, &events[2].hash)], &events[3..]);
        assert_eq!(v.first_bad.map(|b| b.seq), Some(7));
    }

    #[test]
    fn an_empty_log_with_a_checkpoint_was_truncated() {
        let k = key(1);
        let events = chain(2);
        let v = check(Some(&k), vec![sign(&k, 2, &events[1].hash)], &[]);
        assert!(!v.verified);
        assert!(v.problems[0].contains("the gateway now has only 0"));
        let v = check(Some(&k), vec![], &[]);
        assert!(v.verified);
        assert_eq!(v.head_hash, AUDIT_GENESIS);
    }

    #[test]
    fn the_same_checkpoint_from_two_places_counts_once() {
        let k = key(1);
        let events = chain(3);
        let cp = sign(&k, 3, &events[2].hash);
        let mut checker = Checker::new(
            Some(&public(&k)),
            vec![
                (cp.clone(), Origin::File(PathBuf::from("cp.json"))),
                (cp, Origin::Gateway),
            ],
        );
        for e in &events {
            checker.push(e);
        }
        assert_eq!(checker.finish().checkpoints_verified, 1);
    }
}
