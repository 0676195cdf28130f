//! Sanitisation throughput: a ~50 MB docx (a long document.xml and an
//! incompressible picture) and a ~50 MB PDF (many pages with text and an
//! incompressible image stream), each built in memory, written to a
//! temporary file and sanitised from it into a sink. Prints the throughput
//! and the peak resident memory of the sanitising alone (the high-water
//! mark is reset after the input is built, through /proc/self/clear_refs):
//! `cargo run --release -p sekisho-sanitise --example throughput -- docx|pdf`.

use std::io::{Cursor, Seek, Write};
use std::time::Instant;

fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn docx() -> Vec<u8> {
    let mut body = String::from(
        r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#,
    );
    while body.len() < 30 << 20 {
        body.push_str("<w:p><w:r><w:t>申請書の記載内容を確認しました。The quick brown fox jumps.</w:t></w:r></w:p>");
    }
    body.push_str("</w:body></w:document>");
    let types = r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="png" ContentType="image/png"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("[Content_Types].xml", types.as_bytes().to_vec()),
        ("word/document.xml", body.into_bytes()),
        ("word/media/image1.png", noise(45 << 20)),
    ] {
        w.start_file(name, opts).expect("zip");
        w.write_all(&bytes).expect("zip");
    }
    w.finish().expect("zip").into_inner()
}

fn pdf() -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(
        dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" },
    );
    let image = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 4096, "Height" => 4096,
        "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8 },
        noise(40 << 20),
    ));
    let mut kids = Vec::new();
    for i in 0..2000 {
        let text = format!("BT /F1 12 Tf 72 720 Td (Page {i} of the survey) Tj ET ").repeat(200);
        let content = doc.add_object(Stream::new(lopdf::Dictionary::new(), text.into_bytes()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font }, "XObject" => dictionary! { "Im1" => image } },
        });
        kids.push(Object::Reference(page));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("pdf");
    out
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "docx".into());
    let (bytes, name) = match which.as_str() {
        "pdf" => (pdf(), "bench.pdf"),
        _ => (docx(), "bench.docx"),
    };
    let mut file = tempfile_in_tmp();
    file.write_all(&bytes).expect("write");
    file.rewind().expect("rewind");
    let size = bytes.len();
    drop(bytes);
    let resident_before = status_kib("VmRSS");
    // "5" resets VmHWM to the current resident size (Linux 4.0 and later).
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = Instant::now();
    let mut sink = std::io::sink();
    let outcome = sekisho_sanitise::sanitise(
        std::io::BufReader::new(file),
        name,
        &mut sink,
        &sekisho_sanitise::Limits::default(),
    );
    let secs = started.elapsed().as_secs_f64();
    let mb = size as f64 / (1 << 20) as f64;
    println!(
        "{name}: {mb:.1} MiB in {secs:.2} s = {:.1} MiB/s ({})",
        mb / secs,
        match outcome {
            Ok(o) => format!("{} removals", o.report().removals.len()),
            Err(h) => h.to_string(),
        }
    );
    if peak_reset {
        println!(
            "resident before {} MiB, peak while sanitising {} MiB",
            resident_before / 1024,
            status_kib("VmHWM") / 1024
        );
    }
}

/// A `kB` line of /proc/self/status (0 when absent).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn tempfile_in_tmp() -> std::fs::File {
    let path = std::env::temp_dir().join(format!("sanitise-bench-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("temp file");
    let _ = std::fs::remove_file(&path);
    file
}
