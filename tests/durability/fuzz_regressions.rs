//! Replays the fuzz targets' seed corpora (`fuzz/seeds/<target>/`) and every
//! input that once made a target fail (`tests/fuzz_cases/<target>/`, one
//! file each, named after the bug) through the targets' own bodies, which
//! `fuzz/src/lib.rs` holds: a fixed bug stays fixed without cargo-fuzz.

use std::path::Path;

/// Runs `run` on every file of `fuzz/seeds/<target>` and
/// `tests/fuzz_cases/<target>`; returns how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in [
        root.join("fuzz/seeds").join(target),
        root.join("tests/fuzz_cases").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            eprintln!("{target}: {}", file.display());
            run(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn records_cases_decode_or_err() {
    assert!(replay("records", crate::fuzz::records::run) > 0);
}

#[test]
fn import_cases_import_or_err() {
    assert!(replay("import", crate::fuzz::import::run) > 0);
}

#[test]
fn ops_cases_match_the_model() {
    assert!(replay("ops", crate::fuzz::ops::run) > 0);
}

#[test]
fn open_damaged_cases_err_or_answer_as_committed() {
    assert!(replay("open_damaged", crate::fuzz::damaged::run) > 0);
}

const ABORT_CHILD: &str = "TRACEMEM_REDB_ABORT_CASE";

/// A known limitation of redb 4.6, kept here so that it is noticed when it
/// goes away: a file damaged at rest (the inputs of
/// `tests/fuzz_cases/redb_aborts/`, found by the `open_damaged` target)
/// and opened *without* verification makes redb assert in the commit it
/// makes while closing (or in a later write), and panic again while
/// unwinding (a `PoisonError` unwrapped in a drop), which aborts the
/// process: no `catch_unwind` of tracemem's can turn that into an error.
/// Opened with `verify_on_open` (as `tracemem check` does), the same files
/// give an error or a committed state. Each case runs in a child process,
/// which must die of SIGABRT; when one no longer does, redb has fixed it:
/// drop the limitation from FORMAT.md and RELIABILITY.md, move the cases
/// to `open_damaged` and let the fuzz target damage unverified files
/// anywhere again.
#[test]
fn redb_aborts_on_some_unverified_damage() {
    if let Ok(case) = std::env::var(ABORT_CHILD) {
        crate::fuzz::damaged::open_unverified_anywhere(&std::fs::read(case).unwrap());
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_cases/redb_aborts");
    let mut cases = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let case = entry.unwrap().path();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "fuzz_regressions::redb_aborts_on_some_unverified_damage",
                "--test-threads=1",
            ])
            .env(ABORT_CHILD, &case)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGABRT),
            "{}: redb no longer aborts ({status}): lift the limitation",
            case.display()
        );
        // Verified, the same damage is an error or a committed state.
        crate::fuzz::damaged::run(&[&[1u8][..], &std::fs::read(&case).unwrap()[1..]].concat());
        cases += 1;
    }
    assert!(cases > 0);
}
