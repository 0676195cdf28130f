//! Which package entries and manifests are acceptable: pure functions of
//! the raw tar path, the checksum list and the manifest, so they can be
//! tested (and fuzzed) without a file system.

use std::collections::HashSet;

use anyhow::{Result, bail};
use sekisho_proto::{
    CHECKSUMS_NAME, MANIFEST_FORMAT, MANIFEST_NAME, Manifest, PAYLOAD_DIR, content_digest, names,
};

use crate::{Announced, damaged};

/// An accepted tar entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EntryName {
    Manifest,
    Checksums,
    File(String),
}

/// Decides from the raw tar path and type alone whether an entry may be
/// looked at at all. Anything else (links, folders, devices, `./x`, paths
/// with `..`, absolute paths, unknown names) is refused.
pub(crate) fn accept_entry(path: &[u8], kind: tar::EntryType) -> Result<EntryName, String> {
    let shown = String::from_utf8_lossy(path).into_owned();
    if !kind.is_file() {
        return Err(format!("it contains '{shown}', which is not a plain file"));
    }
    let Ok(path) = std::str::from_utf8(path) else {
        return Err(format!(
            "it contains an entry whose name is not valid text ('{shown}')"
        ));
    };
    if path == MANIFEST_NAME {
        return Ok(EntryName::Manifest);
    }
    if path == CHECKSUMS_NAME {
        return Ok(EntryName::Checksums);
    }
    if let Some(name) = path
        .strip_prefix(PAYLOAD_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        return match names::check_file_name(name) {
            Ok(()) => Ok(EntryName::File(name.to_string())),
            Err(why) => Err(format!(
                "it contains a file with an unsafe name ('{shown}': {why})"
            )),
        };
    }
    Err(format!("it contains an unexpected entry '{shown}'"))
}

/// `<hex>  files/<name>` lines (the `*` binary marker is accepted too), as
/// `sha256sum` writes them.
pub(crate) fn parse_checksums(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || format!("line {} of {CHECKSUMS_NAME} is malformed", i + 1);
        let (hex, rest) = line.split_once(' ').ok_or_else(bad)?;
        let path = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(bad)?;
        if !is_sha256_hex(hex) {
            return Err(bad());
        }
        let name = path
            .strip_prefix(PAYLOAD_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(bad)?;
        out.push((hex.to_string(), name.to_string()));
    }
    Ok(out)
}

/// Lower-case hex of a SHA-256 digest, as manifests and headers carry it.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks the manifest against itself and against the headers.
pub(crate) fn check_manifest(m: &Manifest, announced: &Announced) -> Result<()> {
    if m.format != MANIFEST_FORMAT {
        bail!(
            "the package format '{}' is not one this client knows; update sekisho",
            m.format
        );
    }
    if m.class != announced.class {
        return Err(damaged(format!(
            "the manifest says {} but the gateway said {}",
            m.class.label_ja(),
            announced.class.label_ja()
        )));
    }
    let mut seen = HashSet::new();
    for f in &m.files {
        names::check_file_name(&f.name).map_err(|why| {
            damaged(format!(
                "the manifest lists an unsafe file name '{}': {why}",
                f.name
            ))
        })?;
        if f.name == MANIFEST_NAME {
            return Err(damaged(format!(
                "the manifest lists a file called {MANIFEST_NAME}"
            )));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(damaged(format!("the manifest lists '{}' twice", f.name)));
        }
        if !is_sha256_hex(&f.sha256) {
            return Err(damaged(format!(
                "the manifest's digest of '{}' is malformed",
                f.name
            )));
        }
    }
    let computed = content_digest(
        m.files
            .iter()
            .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
    );
    if m.content_digest != computed {
        return Err(damaged(
            "the manifest's content digest does not match its file list",
        ));
    }
    if m.content_digest != announced.content_digest {
        return Err(damaged(
            "the manifest's content digest differs from the one the gateway released",
        ));
    }
    if m.class.needs_approval() {
        match &m.approval {
            None => {
                return Err(damaged(format!(
                    "a {} package must carry its approval, and this one has none",
                    m.class.label_ja()
                )));
            }
            Some(a) if a.content_digest != m.content_digest => {
                return Err(damaged("the approval was given for different contents"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::EntryType;

    #[test]
    fn only_the_three_kinds_of_names_are_accepted() {
        let f = EntryType::Regular;
        assert_eq!(accept_entry(b"MANIFEST.json", f), Ok(EntryName::Manifest));
        assert_eq!(accept_entry(b"SHA256SUMS", f), Ok(EntryName::Checksums));
        assert_eq!(
            accept_entry("files/議事録.pdf".as_bytes(), f),
            Ok(EntryName::File("議事録.pdf".into()))
        );
        for bad in [
            &b"files/../etc/passwd"[..],
            b"files/..",
            b"files/",
            b"files/a/b",
            b"/files/a",
            b"./MANIFEST.json",
            b"files\\a",
            b"other.txt",
            b"files/a\nb",
            b"files/\xff",
            b"manifest.json",
        ] {
            assert!(
                accept_entry(bad, f).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn links_folders_and_devices_are_refused() {
        for kind in [
            EntryType::Symlink,
            EntryType::Link,
            EntryType::Directory,
            EntryType::Char,
            EntryType::Fifo,
            EntryType::XGlobalHeader,
        ] {
            assert!(accept_entry(b"files/a.txt", kind).is_err());
        }
    }

    #[test]
    fn checksums_parse_like_sha256sum() {
        let h = "a".repeat(64);
        let text = format!("{h}  files/a.txt\n{h} *files/b c.txt\n");
        assert_eq!(
            parse_checksums(&text),
            Ok(vec![
                (h.clone(), "a.txt".into()),
                (h.clone(), "b c.txt".into())
            ])
        );
        assert!(parse_checksums(&format!("{h} files/a.txt\n")).is_err());
        assert!(parse_checksums(&format!("{h}  a.txt\n")).is_err());
        assert!(parse_checksums("xyz  files/a.txt\n").is_err());
        assert!(parse_checksums(&format!("{}  files/a.txt\n", "A".repeat(64))).is_err());
    }
}
