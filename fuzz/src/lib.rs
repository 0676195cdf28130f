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
