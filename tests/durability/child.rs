//! The children of the kill -9 tests: this test binary run again for one
//! test, told the file to work on through an environment variable, its
//! standard output read line by line; and the random delays that say when
//! to kill it.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Runs test `test` of this binary alone as a child, with `env` set to
/// `path`; returns it and the lines of its standard output.
pub fn spawn(test: &str, env: &str, path: &Path) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Kills `child` `delay` after it prints a line ending with `marker`, and
/// reaps it.
pub fn kill_after(mut child: Child, lines: Lines<BufReader<ChildStdout>>, marker: &str, delay: Duration) {
    for line in lines.map_while(Result::ok) {
        if line.ends_with(marker) {
            std::thread::sleep(delay);
            let _ = child.kill();
            break;
        }
    }
    child.wait().unwrap();
}

/// A xorshift generator: the same kills every run.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A delay from 0 to 1.3 times `typical`: from the start of the work to
    /// a little past its usual end.
    pub fn delay_within(&mut self, typical: Duration) -> Duration {
        Duration::from_micros(self.next() % (typical.as_micros() as u64 * 13 / 10 + 1))
    }
}
