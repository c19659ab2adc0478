//! Fuzz target: see `rload::fuzzing::rdb_file` for the properties checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rload::fuzzing::rdb_file(data));
