//! The seed corpora of the archive walker and sanitiser targets, built in
//! code: archives with the tar, zip and gzip writers, documents with the
//! sanitiser's own attack documents (`sekisho_sanitise::testdocs`).
//!
//! `SEKISHO_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml --test seeds`
//! writes them to `fuzz/corpus/<target>/`; without the variable the test
//! checks that every seed is there and that the corpora stay small.
#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Write};
use std::path::Path;

use sekisho_sanitise::testdocs;

/// The bounds byte layout of `archive_walk`: depth 3, 64 entries, 4 MiB
/// expanded, ratio 8 with unsupported formats unscanned, 245-byte reads.
const WALK_HEADER: [u8; 5] = [3, 63, 255, 0x87, 4];

fn walk_seed(file: &[u8]) -> Vec<u8> {
    [&WALK_HEADER[..], file].concat()
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..` and control characters: names are written
        // raw, as an attacker's tool would.
        let bytes = name.as_bytes();
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn gzip_of(data: &[u8], name: &str) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .filename(name)
        .write(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let deflated = zip::CompressionMethod::Deflated;
    let stored = zip::CompressionMethod::Stored;
    let tar = tar_of(&[
        ("readme.txt", b"hello from the tar"),
        ("../evil\x1b[31m\u{202e}txt.exe", b"MZ"),
    ]);
    let inner = zip_of(&[("b.txt", b"inner member")], deflated);
    let zip = zip_of(
        &[
            ("a.txt", b"first member".as_slice()),
            ("docs/", b""),
            ("docs/inner.zip", &inner),
        ],
        deflated,
    );
    let zip_in_tar = tar_of(&[("bundle.zip", &zip_of(&[("x.bin", &[0u8; 4096])], stored))]);
    let mut after_end = zip_of(&[("a.txt", b"a")], stored);
    after_end.extend_from_slice(b"bytes after the central directory");
    let mut seven_z = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    seven_z.resize(64, 0);

    let docm = testdocs::docm_with_vba();
    let mut clean_docx = Vec::new();
    sekisho_sanitise::sanitise(
        Cursor::new(&docm),
        "a.docm",
        &mut clean_docx,
        &sekisho_fuzz::sanitise_limits(),
    )
    .unwrap();
    let with_pick = |pick: u8, file: Vec<u8>| [vec![pick], file].concat();
    vec![
        ("archive_walk", "plain", walk_seed(b"just some bytes\n")),
        ("archive_walk", "tar", walk_seed(&tar)),
        (
            "archive_walk",
            "tar-gz",
            walk_seed(&gzip_of(&tar, "bundle.tar")),
        ),
        ("archive_walk", "zip-in-zip", walk_seed(&zip)),
        (
            "archive_walk",
            "zip-in-tar",
            walk_seed(&gzip_of(&zip_in_tar, "z.tar")),
        ),
        ("archive_walk", "zip-trailer", walk_seed(&after_end)),
        ("archive_walk", "7z", walk_seed(&seven_z)),
        ("sanitise_ooxml", "docm-vba", with_pick(1, docm)),
        ("sanitise_ooxml", "docx-clean", with_pick(0, clean_docx)),
        (
            "sanitise_ooxml",
            "docx-links-dde-ole",
            with_pick(0, testdocs::docx_with_links_dde_and_ole()),
        ),
        (
            "sanitise_ooxml",
            "xlsx-link-dde",
            with_pick(2, testdocs::xlsx_with_link_and_dde()),
        ),
        (
            "sanitise_ole2",
            "doc-plain",
            with_pick(0, testdocs::ole2(&[("WordDocument", &[0u8; 32][..])])),
        ),
        (
            "sanitise_ole2",
            "doc-macros",
            with_pick(
                0,
                testdocs::ole2(&[("WordDocument", &[0u8; 32][..]), ("Macros/VBA/dir", b"x")]),
            ),
        ),
        (
            "sanitise_pdf",
            "active-parts",
            with_pick(0, testdocs::pdf_with_active_parts()),
        ),
        (
            "sanitise_image",
            "png-text-zip",
            with_pick(0, testdocs::png_with_metadata_and_zip()),
        ),
        (
            "sanitise_image",
            "jpeg-xmp-trailer",
            with_pick(1, testdocs::jpeg_with_metadata_and_trailer()),
        ),
        (
            "sanitise_image",
            "gif-comment",
            with_pick(3, testdocs::gif_with_comment()),
        ),
    ]
}

#[test]
fn seed_corpora() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = std::env::var_os("SEKISHO_WRITE_SEEDS").is_some();
    let mut total = 0;
    for (target, name, bytes) in seeds() {
        let path = corpus.join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else {
            assert!(
                path.exists(),
                "{} is missing: run with SEKISHO_WRITE_SEEDS=1",
                path.display()
            );
        }
        total += bytes.len();
    }
    // Seeds are committed: keep them few and small.
    assert!(total < 100_000, "the generated seeds take {total} bytes");
}
