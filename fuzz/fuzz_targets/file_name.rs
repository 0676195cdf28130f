//! Upload and package file names: whatever `check_file_name` accepts is one
//! plain path component (no separator, no `..`, no control character, not
//! too long), and the check never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_proto::names::check_file_name;

fuzz_target!(|data: &[u8]| {
    // Names reach the gateway as text (a multipart header, a manifest
    // field); invalid UTF-8 never gets as far as the check.
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    if check_file_name(name).is_ok() {
        sekisho_fuzz::assert_one_component(name);
    }
});
