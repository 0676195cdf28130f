//! The recipient's client saving a package (`sekisho receive`, after age
//! decryption): `sekisho_package::unpack` on an arbitrary tar stream, into
//! a real folder. Properties: on success the folder holds exactly the
//! manifest and the files it lists, each one plain path component with the
//! size and SHA-256 the manifest gives, and the manifest carries the
//! announced digest; on failure nothing at all is left (the folder this
//! run created is gone).
//!
//! Input: one byte for the announced class (and whether it was encrypted),
//! 64 bytes of announced content digest, then the tar stream.
#![no_main]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sekisho_package::{Announced, Staging, unpack};
use sekisho_proto::{Class, MANIFEST_NAME};

/// One scratch folder per fuzzing process; each input gets `out` inside it.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sekisho-fuzz-unpack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the scratch folder can be made");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Some((digest, tar)) = rest.split_at_checked(64) else {
        return;
    };
    let class = match first % 3 {
        0 => Class::III,
        1 => Class::II,
        _ => Class::I,
    };
    let announced = Announced {
        encrypted: first & 0x80 != 0,
        class,
        content_digest: String::from_utf8_lossy(digest).into_owned(),
    };
    let out = scratch().join("out");
    let mut staging = Staging::prepare(&out).expect("an empty scratch folder is usable");
    match unpack(tar, &mut staging, &announced) {
        Ok(manifest) => {
            assert_eq!(manifest.content_digest, announced.content_digest);
            assert_eq!(manifest.class, announced.class);
            let mut expected = BTreeSet::from([MANIFEST_NAME.to_string()]);
            for file in &manifest.files {
                sekisho_fuzz::assert_one_component(&file.name);
                let bytes = std::fs::read(out.join(&file.name)).expect("a saved file is there");
                assert_eq!(
                    bytes.len() as u64,
                    file.size,
                    "{} has the wrong size",
                    file.name
                );
                assert_eq!(
                    sekisho_package::fixtures::sha256_hex(&bytes),
                    file.sha256,
                    "{} has the wrong digest",
                    file.name
                );
                assert!(
                    expected.insert(file.name.clone()),
                    "{} listed twice",
                    file.name
                );
            }
            let found: BTreeSet<String> = std::fs::read_dir(&out)
                .expect("the folder is there")
                .map(|e| {
                    e.expect("a folder entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            assert_eq!(found, expected, "the folder holds something else");
            std::fs::remove_dir_all(&out).expect("the scratch folder can be emptied");
        }
        Err(_) => {
            staging.discard();
            assert!(
                !out.exists(),
                "a refused package left files behind: {:?}",
                std::fs::read_dir(&out).map(|d| d.count())
            );
        }
    }
});
