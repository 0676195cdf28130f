//! The sanitiser on Office Open XML packages (`sekisho_sanitise::sanitise`
//! under a docx/docm/xlsx/xlsm/pptx/pptm name): see
//! `sekisho_fuzz::check_sanitise` for the properties (bounds kept, a
//! rebuilt package re-sanitises with nothing removed, unchanged means
//! nothing to remove).
//!
//! Input: one byte choosing the name, then the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_sanitise::Format;

const NAMES: &[&str] = &["a.docx", "a.docm", "a.xlsx", "a.xlsm", "a.pptx", "a.pptm"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    sekisho_fuzz::check_sanitise(file, name, &[Format::Ooxml]);
});
