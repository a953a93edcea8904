//! A damaged copy of a small valid database, opened (see
//! `tracemem_fuzz::damaged`). Panics that tracemem catches (redb asserts on
//! some damaged files) are errors; one that escapes aborts.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tracemem_fuzz::contain_panics();
    if std::panic::catch_unwind(|| tracemem_fuzz::damaged::run(data)).is_err() {
        eprintln!("a panic escaped: {}", tracemem_fuzz::last_panic());
        std::process::abort();
    }
});
