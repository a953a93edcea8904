//! Arbitrary bytes as a trace file through the importer (see
//! `tracemem_fuzz::import`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tracemem_fuzz::import::run(data));
