//! A damaged copy of a small valid database, opened (see
//! `tracemem_fuzz::damaged`). Panics that tracemem catches (redb asserts on
//! some damaged files) are errors; one that escapes aborts.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    contain_panics();
    if std::panic::catch_unwind(|| tracemem_fuzz::damaged::run(data)).is_err() {
        eprintln!("a panic escaped: {}", last_panic());
        std::process::abort();
    }
});

thread_local! {
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Replaces libFuzzer's panic hook (which aborts at once, even on a panic
/// that tracemem catches and turns into an error) by one that only keeps
/// the message, for [`last_panic`]. A target then runs its input under
/// `catch_unwind` and aborts on a panic that escapes.
fn contain_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let text = format!("{info}");
            LAST_PANIC.with(|p| *p.borrow_mut() = text);
        }));
    });
}

/// The message and place of the last panic on this thread.
fn last_panic() -> String {
    LAST_PANIC.with(|p| p.borrow().clone())
}
