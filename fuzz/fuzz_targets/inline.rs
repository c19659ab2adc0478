//! Fuzz target: see `rload::fuzzing::inline_line` for the properties checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rload::fuzzing::inline_line(data));
