//! The `tracemem` executable, verb by verb, against temporary databases,
//! including the error paths and exit statuses (0 done, 1 nothing found or a
//! replay mismatch, 2 an error). A module per family of verbs; what they
//! share is here.

mod annotations;
mod basics;
mod memory;
mod recording;
mod traces;

use std::path::Path;
use std::process::{Command, Output};

fn tracemem(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tracemem binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn stdout(output: &Output) -> String {
    text(&output.stdout)
}

fn stderr(output: &Output) -> String {
    text(&output.stderr)
}

const EVENTS: &str = concat!(
    "{\"op\": \"write\", \"address\": 1073745920, \"value\": 66, \"width\": 4, \"timestamp\": 1e-06}\n",
    "{\"op\": \"read\", \"address\": 1073745924, \"value\": 0, \"width\": 4, \"timestamp\": 3e-06}\n",
    "{\"op\": \"write\", \"address\": 1073745921, \"value\": 7, \"width\": 1, \"timestamp\": 4e-06}\n",
);

fn imported() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run.ndjson"), EVENTS).unwrap();
    let out = tracemem(&["import", "t.tmdb", "run.ndjson"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "imported 3 events into run\n");
    assert_eq!(stderr(&out), "", "the database-first order needs no warning");
    dir
}
