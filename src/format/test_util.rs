//! Helpers of the format tests: running Python, the reference the formats
//! are checked against.

use std::process::Command;

/// Runs `python3 ARGS…` and returns its standard output. A missing `python3`
/// fails the test: the byte-for-byte checks need the reference.
pub(crate) fn python3(args: &[&str]) -> String {
    let output = Command::new("python3")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 (the format tests compare against it): {e}"));
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("python3 printed UTF-8")
}
