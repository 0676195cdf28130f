//! What the fuzz targets share: the properties a file name the gateway
//! accepted must have, and the fixed audit key that signs what the
//! checkpoint and certificate targets verify.

use std::path::{Component, Path};

use base64::Engine as _;
use ed25519_dalek::SigningKey;

/// Asserts what `check_file_name` promises for a name it accepted: it is
/// exactly one ordinary path component, so joining it to a folder can only
/// name something directly inside that folder. Panics (a fuzz crash) if not.
pub fn assert_one_component(name: &str) {
    assert!(!name.is_empty(), "an empty name was accepted");
    assert!(
        name.len() <= sekisho_proto::names::MAX_NAME_BYTES,
        "a name of {} bytes was accepted",
        name.len()
    );
    assert!(
        !name.contains(['/', '\\']),
        "a name with a separator was accepted: {name:?}"
    );
    assert!(
        !name.chars().any(char::is_control),
        "a name with a control character was accepted: {name:?}"
    );
    let components: Vec<Component> = Path::new(name).components().collect();
    assert_eq!(
        components,
        [Component::Normal(std::ffi::OsStr::new(name))],
        "an accepted name is not one plain path component: {name:?}"
    );
    let base = Path::new("/inbox");
    assert_eq!(
        base.join(name).parent(),
        Some(base),
        "an accepted name leaves its folder: {name:?}"
    );
}

/// The audit key the targets pin: fixed, so that seed inputs signed with it
/// stay valid across runs. Never a real key.
pub fn audit_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// The pinned public key as `sekisho audit pin` stores it (base64).
pub fn pinned_public_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(audit_key().verifying_key().as_bytes())
}

/// The fingerprint checkpoints and certificates signed by [`audit_key`] carry.
pub fn pinned_fingerprint() -> String {
    sekisho_proto::audit_key_fingerprint(audit_key().verifying_key().as_bytes())
}

/// Base64 of an Ed25519 signature over `message` by [`audit_key`].
pub fn sign(message: &[u8]) -> String {
    use ed25519_dalek::Signer as _;
    base64::engine::general_purpose::STANDARD.encode(audit_key().sign(message).to_bytes())
}

/// Small bounds for the sanitiser targets: large enough for every seed,
/// small enough that a fuzzed size field reaches them quickly and that one
/// input takes milliseconds.
pub fn sanitise_limits() -> sekisho_sanitise::Limits {
    sekisho_sanitise::Limits {
        max_input_bytes: 1 << 20,
        max_output_bytes: 2 << 20,
        max_zip_entries: 64,
        max_expanded_bytes: 4 << 20,
        max_ratio: 200,
        max_pdf_bytes: 1 << 20,
        max_pdf_objects: 4096,
        max_pixels: 1 << 18,
        max_seconds: 10,
    }
}

/// Runs `sanitise` on `data` called `name` and asserts what it promises,
/// whatever the bytes:
/// - it returns (a panic in a parser would abort the fuzzer here; in the
///   gateway it is caught and held as `crashed`);
/// - `Rebuilt`: the report's format is one of `formats`, the output is not
///   empty and within `max_output_bytes`, and sanitising the output again
///   (under its new name) rebuilds it with nothing removed and the same
///   name and format: the sanitiser reads what it writes, and leaves
///   nothing it would remove. A second pass may only be held for a bound
///   (re-compressed parts can expand more than the original's did);
/// - `Unchanged`: nothing was written and nothing was removed (the
///   original is handed on, so it must have had nothing to remove);
/// - held: only the output is left, which the gateway discards; nothing
///   to check beyond the reason being one of the documented ones.
pub fn check_sanitise(data: &[u8], name: &str, formats: &[sekisho_sanitise::Format]) {
    use sekisho_sanitise::{HeldReason, Outcome, sanitise};
    use std::io::Cursor;

    let limits = sanitise_limits();
    let mut out = Vec::new();
    match sanitise(Cursor::new(data), name, &mut out, &limits) {
        Ok(Outcome::Rebuilt { report, new_name }) => {
            assert!(
                formats.contains(&report.format),
                "{name} rebuilt as {}",
                report.format
            );
            assert!(!out.is_empty(), "{name} rebuilt as nothing");
            assert!(
                out.len() as u64 <= limits.max_output_bytes,
                "{name} rebuilt as {} bytes, over max_output_bytes",
                out.len()
            );
            if out.len() as u64 > limits.max_input_bytes {
                return;
            }
            let mut again = Vec::new();
            match sanitise(Cursor::new(&out), &new_name, &mut again, &limits) {
                Ok(Outcome::Rebuilt {
                    report: second,
                    new_name: second_name,
                }) => {
                    assert!(
                        second.removals.is_empty(),
                        "{name} rebuilt still had something to remove: {}",
                        second.summary()
                    );
                    assert_eq!(second_name, new_name, "a second pass renamed {name}");
                    assert_eq!(second.format, report.format);
                }
                Ok(Outcome::Unchanged { report: second }) => {
                    panic!("{name} rebuilt as {} reads back unchanged", second.format)
                }
                Err(held) => assert!(
                    matches!(
                        held.reason,
                        HeldReason::BoundExceeded | HeldReason::TimedOut
                    ),
                    "the sanitiser cannot read back {name} as it rebuilt it ({} bytes, {}): {held}",
                    out.len(),
                    report.summary()
                ),
            }
        }
        Ok(Outcome::Unchanged { report }) => {
            assert!(
                formats.contains(&report.format),
                "{name} passed as {}",
                report.format
            );
            assert!(out.is_empty(), "{name} unchanged but output written");
            assert!(
                report.removals.is_empty(),
                "{name} handed on unchanged although something was to be removed: {}",
                report.summary()
            );
        }
        Err(_held) => {}
    }
}
