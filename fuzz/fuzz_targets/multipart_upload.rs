//! Inbound uploads: a `multipart/form-data` body, parsed by the same parser
//! (multer) the gateway's axum `Multipart` extractor uses, and each file
//! part's name taken and checked exactly as `service/inbound/upload.rs`
//! does (`file_name().unwrap_or("")`, then `check_file_name`). Properties:
//! parsing ends (no hang) without a panic, every name the gateway would
//! accept is one plain path component, and the parts never hold more bytes
//! than the body had.
//!
//! Input: the first byte picks the size of the pieces the body arrives in
//! (so part boundaries fall across reads, as on the network); the rest is
//! the body, with the boundary below.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sekisho_proto::names::check_file_name;

const BOUNDARY: &str = "sekisho-fuzz";

async fn walk(body: &[u8], piece: usize) {
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut multipart = multer::Multipart::new(futures_util::stream::iter(pieces), BOUNDARY);
    let mut part_bytes = 0usize;
    // A parse error ends the upload, as it does in the gateway.
    while let Ok(Some(mut field)) = multipart.next_field().await {
        let name = field.file_name().unwrap_or("").to_string();
        if check_file_name(&name).is_ok() {
            sekisho_fuzz::assert_one_component(&name);
        }
        // A read error ends the part, as it ends the upload in the gateway.
        while let Ok(Some(chunk)) = field.chunk().await {
            part_bytes += chunk.len();
        }
        assert!(
            part_bytes <= body.len(),
            "the parts hold {part_bytes} bytes from a body of {}",
            body.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first) + 1;
    futures_executor::block_on(walk(body, piece));
});
