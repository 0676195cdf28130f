//! The sanitiser on legacy Office compound files (`sekisho_sanitise::sanitise`
//! under a doc/xls/ppt name): only inspected, so the property that counts is
//! that an `Unchanged` file (handed on as it is) had nothing to remove and
//! that nothing was written; see `sekisho_fuzz::check_sanitise`.
//!
//! Input: one byte choosing the name, then the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_sanitise::Format;

const NAMES: &[&str] = &["a.doc", "a.xls", "a.ppt"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    sekisho_fuzz::check_sanitise(file, name, &[Format::Ole2]);
});
