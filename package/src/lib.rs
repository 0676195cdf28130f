//! Reading a Sekisho package: the tar stream (after age decryption) that
//! a recipient's client saves. Shared by the client's `receive` and the
//! fuzz targets, so what is fuzzed is exactly what runs.
//!
//! Everything in the package is untrusted until checked, so this crate
//! never lets tar decide where anything goes. It accepts only regular-file
//! entries named exactly `MANIFEST.json`, `SHA256SUMS` or `files/<name>`
//! (a name that passes `names::check_file_name` and is listed in the
//! manifest), writes each file under a temporary name while hashing it, and
//! puts the files in place only after every one of them, the manifest's
//! content digest and the digest the gateway announced in its headers all
//! agree. Nothing is ever overwritten, and when anything goes wrong every
//! file this run made is removed again ([`Staging::discard`]), so the clerk
//! never works from a half-checked package. The package is read as a
//! stream, never held whole in memory.
//!
//! Modules: [`rules`] (which entries and manifests are acceptable, pure),
//! [`staging`] (temporary files and placing them without overwriting).

pub mod rules;
pub mod staging;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use anyhow::{Result, anyhow};
use sekisho_proto::{CHECKSUMS_NAME, Class, MANIFEST_NAME, Manifest};

pub use rules::is_sha256_hex;
use rules::{EntryName, accept_entry, check_manifest, parse_checksums};
pub use staging::Staging;

/// The manifest and checksum list are small; anything bigger is an attack.
const MAX_META_BYTES: u64 = 16 * 1024 * 1024;
/// A tar ends with zero blocks and at most a record of padding.
const MAX_TRAILER_BYTES: u64 = 1024 * 1024;

/// What the gateway announced about the package in its headers.
#[derive(Debug, Clone)]
pub struct Announced {
    pub encrypted: bool,
    pub class: Class,
    pub content_digest: String,
}

pub(crate) fn damaged(why: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("the package was damaged or tampered with: {why}")
}

pub(crate) fn broken_stream(err: io::Error) -> anyhow::Error {
    anyhow!(
        "the package could not be read to the end: it was cut off, or changed or damaged in transit, or the key is wrong ({err})"
    )
}

fn read_small(entry: &mut impl Read, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    entry
        .take(MAX_META_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(broken_stream)?;
    if bytes.len() as u64 > MAX_META_BYTES {
        return Err(damaged(format!("its {what} is far too large")));
    }
    Ok(bytes)
}

/// Reads a whole package (a plain tar stream: decrypt it first) into
/// `staging`, checking every entry, the manifest against `announced`, and
/// every file against the manifest, then gives the files their names.
/// On an error nothing is placed; call [`Staging::discard`] to remove
/// what this run wrote.
pub fn unpack<R: Read>(
    reader: R,
    staging: &mut Staging,
    announced: &Announced,
) -> Result<Manifest> {
    let mut archive = tar::Archive::new(reader);
    let mut manifest: Option<Manifest> = None;
    let mut checksums_seen = false;
    let mut received: HashSet<String> = HashSet::new();

    for entry in archive.entries().map_err(broken_stream)? {
        let mut entry = entry.map_err(broken_stream)?;
        let name =
            accept_entry(&entry.path_bytes(), entry.header().entry_type()).map_err(damaged)?;
        match name {
            EntryName::Manifest => {
                if manifest.is_some() {
                    return Err(damaged("it holds two manifests"));
                }
                let bytes = read_small(&mut entry, MANIFEST_NAME)?;
                let m: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| damaged(format!("its {MANIFEST_NAME} cannot be read ({e})")))?;
                check_manifest(&m, announced)?;
                // Refuse now, before any file is written, if something is
                // in the way: nothing is ever overwritten.
                staging.ensure_free(MANIFEST_NAME)?;
                for f in &m.files {
                    staging.ensure_free(&f.name)?;
                }
                staging.stage_bytes(MANIFEST_NAME, &bytes)?;
                manifest = Some(m);
            }
            EntryName::Checksums => {
                let Some(m) = &manifest else {
                    return Err(damaged(format!("it does not start with {MANIFEST_NAME}")));
                };
                if checksums_seen {
                    return Err(damaged(format!("it holds two {CHECKSUMS_NAME} files")));
                }
                let bytes = read_small(&mut entry, CHECKSUMS_NAME)?;
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| damaged(format!("its {CHECKSUMS_NAME} is not text")))?;
                let sums = parse_checksums(text).map_err(damaged)?;
                let listed: HashMap<&str, &str> = m
                    .files
                    .iter()
                    .map(|f| (f.name.as_str(), f.sha256.as_str()))
                    .collect();
                let summed: HashMap<&str, &str> =
                    sums.iter().map(|(h, n)| (n.as_str(), h.as_str())).collect();
                if summed.len() != sums.len() || summed != listed {
                    return Err(damaged(format!(
                        "its {CHECKSUMS_NAME} disagrees with the manifest"
                    )));
                }
                checksums_seen = true;
            }
            EntryName::File(name) => {
                let Some(m) = &manifest else {
                    return Err(damaged(format!("it does not start with {MANIFEST_NAME}")));
                };
                if !checksums_seen {
                    return Err(damaged(format!("its {CHECKSUMS_NAME} is missing")));
                }
                let Some(expected) = m.files.iter().find(|f| f.name == name) else {
                    return Err(damaged(format!(
                        "it contains '{name}', which the manifest does not list"
                    )));
                };
                if !received.insert(name.clone()) {
                    return Err(damaged(format!("it contains '{name}' twice")));
                }
                if entry.size() != expected.size {
                    return Err(damaged(format!(
                        "'{name}' is {} bytes but the manifest says {}",
                        entry.size(),
                        expected.size
                    )));
                }
                staging.stage_stream(&name, &mut entry, expected.size, &expected.sha256)?;
            }
        }
    }

    // Read to the real end: age checks the last chunk only there, so a
    // package cut short after its last file is still noticed.
    let mut rest = archive.into_inner();
    let trailer = io::copy(
        &mut (&mut rest).take(MAX_TRAILER_BYTES + 1),
        &mut io::sink(),
    )
    .map_err(broken_stream)?;
    if trailer > MAX_TRAILER_BYTES {
        return Err(damaged("unexpected data follows the end of the package"));
    }

    let Some(m) = manifest else {
        return Err(damaged(format!("it has no {MANIFEST_NAME}")));
    };
    if !checksums_seen {
        return Err(damaged(format!("its {CHECKSUMS_NAME} is missing")));
    }
    let missing: Vec<&str> = m
        .files
        .iter()
        .filter(|f| !received.contains(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(damaged(format!(
            "these files are missing: {}",
            missing.join(", ")
        )));
    }
    staging.commit()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;
    use std::fs;
    use std::path::Path;

    use crate::fixtures::{manifest, tar_of};

    fn announced(m: &Manifest, encrypted: bool) -> Announced {
        Announced {
            encrypted,
            class: m.class,
            content_digest: m.content_digest.clone(),
        }
    }

    fn receive_plain(dir: &Path, bytes: &[u8], a: &Announced) -> Result<Manifest> {
        let mut staging = Staging::prepare(dir)?;
        let result = unpack(bytes, &mut staging, a);
        if result.is_err() {
            staging.discard();
        }
        result
    }

    const FILES: [(&str, &[u8]); 2] = [("a.txt", b"hello"), ("議事録.txt", b"minutes")];

    #[test]
    fn good_package_is_saved_with_its_manifest() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let out = tmp.path().join("out");
        let m = manifest(Class::III, &FILES);
        let bytes = tar_of(&m, &FILES)?;
        let got = receive_plain(&out, &bytes, &announced(&m, false))?;
        assert_eq!(got, m);
        assert_eq!(fs::read(out.join("a.txt"))?, b"hello");
        assert_eq!(fs::read(out.join("議事録.txt"))?, b"minutes");
        assert!(out.join(MANIFEST_NAME).exists());
        // Only the files and the manifest: no temporaries are left.
        assert_eq!(fs::read_dir(&out)?.count(), 3);
        Ok(())
    }

    #[test]
    fn changed_file_is_refused_and_nothing_is_kept() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let out = tmp.path().join("out");
        let m = manifest(Class::III, &FILES);
        let bytes = tar_of(&m, &[("a.txt", b"HELLO"), ("議事録.txt", b"minutes")])?;
        let err = receive_plain(&out, &bytes, &announced(&m, false))
            .err()
            .context("a changed file was accepted")?;
        assert!(
            format!("{err:#}").contains("damaged or tampered"),
            "{err:#}"
        );
        assert!(!out.exists(), "the folder this run created must be gone");
        Ok(())
    }

    #[test]
    fn missing_or_extra_files_and_wrong_digest_are_refused() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let m = manifest(Class::III, &FILES);
        let short = tar_of(&m, &FILES[..1])?;
        assert!(receive_plain(&tmp.path().join("a"), &short, &announced(&m, false)).is_err());
        let extra = tar_of(&m, &[FILES[0], FILES[1], ("x.txt", b"x")])?;
        assert!(receive_plain(&tmp.path().join("b"), &extra, &announced(&m, false)).is_err());
        let bytes = tar_of(&m, &FILES)?;
        let mut wrong = announced(&m, false);
        wrong.content_digest = "0".repeat(64);
        assert!(receive_plain(&tmp.path().join("c"), &bytes, &wrong).is_err());
        for d in ["a", "b", "c"] {
            assert!(!tmp.path().join(d).exists());
        }
        Ok(())
    }

    #[test]
    fn existing_files_are_never_overwritten() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let out = tmp.path().join("out");
        fs::create_dir(&out)?;
        fs::write(out.join("a.txt"), b"mine")?;
        let m = manifest(Class::III, &FILES);
        let bytes = tar_of(&m, &FILES)?;
        assert!(receive_plain(&out, &bytes, &announced(&m, false)).is_err());
        assert_eq!(fs::read(out.join("a.txt"))?, b"mine");
        // The folder existed before, so it stays, with only the clerk's file.
        assert_eq!(fs::read_dir(&out)?.count(), 1);
        Ok(())
    }

    #[test]
    fn approval_must_cover_the_contents() -> Result<()> {
        let mut m = manifest(Class::I, &FILES);
        if let Some(a) = m.approval.as_mut() {
            a.content_digest = "0".repeat(64);
        }
        assert!(check_manifest(&m, &announced(&m, true)).is_err());
        m.approval = None;
        assert!(check_manifest(&m, &announced(&m, true)).is_err());
        Ok(())
    }
}
