//! The sanitiser on images (`sekisho_sanitise::sanitise`: PNG, JPEG and GIF
//! decoded to pixels and encoded again): see `sekisho_fuzz::check_sanitise`
//! for the properties (bounds, including `max_pixels`, kept; a re-encoded
//! image re-sanitises with nothing removed).
//!
//! Input: one byte choosing the name when the bytes are none of the three
//! (so that a mismatch is tried too), then the file. The name otherwise
//! follows the magic bytes, as a sender's would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_sanitise::Format;

const NAMES: &[&str] = &["a.png", "a.jpg", "a.jpeg", "a.gif"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name = if file.starts_with(b"\x89PNG") {
        "a.png"
    } else if file.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "a.jpg"
    } else if file.starts_with(b"GIF8") {
        "a.gif"
    } else {
        NAMES[usize::from(pick) % NAMES.len()]
    };
    sekisho_fuzz::check_sanitise(file, name, &[Format::Png, Format::Jpeg, Format::Gif]);
});
