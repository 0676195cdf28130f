//! The sanitiser on PDFs (`sekisho_sanitise::sanitise`, lopdf underneath):
//! see `sekisho_fuzz::check_sanitise` for the properties (bounds kept, a
//! rebuilt PDF loads again and re-sanitises with nothing removed).
//!
//! Input: one byte (ignored, so that the seeds of every sanitiser target
//! have the same shape), then the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_sanitise::Format;

const NAMES: &[&str] = &["a.pdf"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    sekisho_fuzz::check_sanitise(file, name, &[Format::Pdf]);
});
