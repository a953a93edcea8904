//! The decoders of on-disk records fed arbitrary bytes (see
//! `tracemem_fuzz::records`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tracemem_fuzz::records::run(data));
