//! Fuzz target: see `rload::fuzzing::records` for the properties checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rload::fuzzing::records(data));
