//! Audit checkpoints as the auditor's client reads them (`verify
//! --checkpoint FILE`, the saved state, the gateway's list): parsing never
//! panics, a parsed checkpoint survives a JSON round trip unchanged, and the
//! signature binds every field: a checkpoint the pinned key verifies stops
//! verifying when its sequence number, head hash or time is changed. The
//! target also signs each parsed checkpoint itself with the pinned key, so
//! the accepting path is exercised for every input, not only for the few
//! the fuzzer happens to sign correctly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_proto::{AuditCheckpoint, checkpoint_message, verify_checkpoint};

fn assert_binds_every_field(pinned: &str, checkpoint: &AuditCheckpoint) {
    let mut changed = checkpoint.clone();
    changed.seq = changed.seq.wrapping_add(1);
    assert!(
        verify_checkpoint(pinned, &changed).is_err(),
        "a changed sequence number still verifies"
    );
    let mut changed = checkpoint.clone();
    changed.head_hash.push('0');
    assert!(
        verify_checkpoint(pinned, &changed).is_err(),
        "a changed head hash still verifies"
    );
    let mut changed = checkpoint.clone();
    changed.at.push('Z');
    assert!(
        verify_checkpoint(pinned, &changed).is_err(),
        "a changed time still verifies"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(checkpoint) = serde_json::from_slice::<AuditCheckpoint>(data) else {
        return;
    };
    let json = serde_json::to_vec(&checkpoint).expect("a parsed checkpoint serialises");
    let back: AuditCheckpoint =
        serde_json::from_slice(&json).expect("a serialised checkpoint parses");
    assert_eq!(
        back, checkpoint,
        "the JSON round trip changed the checkpoint"
    );

    let pinned = sekisho_fuzz::pinned_public_key();
    if verify_checkpoint(&pinned, &checkpoint).is_ok() {
        assert_eq!(
            checkpoint.key_fingerprint,
            sekisho_fuzz::pinned_fingerprint()
        );
        assert_binds_every_field(&pinned, &checkpoint);
    }

    let mut signed = checkpoint;
    signed.key_fingerprint = sekisho_fuzz::pinned_fingerprint();
    signed.signature = sekisho_fuzz::sign(&checkpoint_message(
        signed.seq,
        &signed.head_hash,
        &signed.at,
    ));
    assert!(
        verify_checkpoint(&pinned, &signed).is_ok(),
        "a checkpoint signed by the pinned key does not verify"
    );
    assert_binds_every_field(&pinned, &signed);
    // Another key's checkpoint is refused, even with a valid signature.
    let other = sekisho_proto::audit_key_fingerprint(&[1u8; 32]);
    let mut foreign = signed;
    foreign.key_fingerprint = other;
    assert!(verify_checkpoint(&pinned, &foreign).is_err());
});
