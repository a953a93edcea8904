//! Operation sequences against the in-memory model (see
//! `tracemem_fuzz::ops`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tracemem_fuzz::ops::run(data));
