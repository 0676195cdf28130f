//! Deletion certificates as `sekisho deletion verify FILE` reads them:
//! parsing never panics, a parsed certificate survives a JSON round trip
//! unchanged, and the signature binds its content: one the pinned key
//! verifies stops verifying when its reason, object or file list changes.
//! Each parsed certificate is also signed here with the pinned key, so the
//! accepting path is exercised for every input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_proto::deletion::{
    CERTIFICATE_FORMAT, DeletionCertificate, certificate_message, verify_certificate,
};

fn assert_binds_content(pinned: &str, certificate: &DeletionCertificate) {
    let mut changed = certificate.clone();
    changed.reason.push('!');
    assert!(
        verify_certificate(pinned, &changed).is_err(),
        "a changed reason still verifies"
    );
    let mut changed = certificate.clone();
    changed.object.push('0');
    assert!(
        verify_certificate(pinned, &changed).is_err(),
        "a changed object still verifies"
    );
    let mut changed = certificate.clone();
    if changed.files.pop().is_some() {
        assert!(
            verify_certificate(pinned, &changed).is_err(),
            "a certificate with a file removed still verifies"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(certificate) = serde_json::from_slice::<DeletionCertificate>(data) else {
        return;
    };
    let json = serde_json::to_vec(&certificate).expect("a parsed certificate serialises");
    let back: DeletionCertificate =
        serde_json::from_slice(&json).expect("a serialised certificate parses");
    assert_eq!(
        back, certificate,
        "the JSON round trip changed the certificate"
    );

    let pinned = sekisho_fuzz::pinned_public_key();
    if verify_certificate(&pinned, &certificate).is_ok() {
        assert_eq!(certificate.format, CERTIFICATE_FORMAT);
        assert_eq!(
            certificate.key_fingerprint,
            sekisho_fuzz::pinned_fingerprint()
        );
        assert_binds_content(&pinned, &certificate);
    }

    let mut signed = certificate;
    signed.format = CERTIFICATE_FORMAT.to_string();
    signed.key_fingerprint = sekisho_fuzz::pinned_fingerprint();
    signed.signature = String::new();
    signed.signature = sekisho_fuzz::sign(&certificate_message(&signed));
    assert!(
        verify_certificate(&pinned, &signed).is_ok(),
        "a certificate signed by the pinned key does not verify"
    );
    assert_binds_content(&pinned, &signed);
});
