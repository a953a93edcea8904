//! Replays the fuzz targets' seed corpora (`fuzz/seeds/<target>/`) and every
//! input that once made a target fail (`tests/fuzz_cases/<target>/`, one
//! file each, named after the bug) through the targets' own bodies, which
//! `fuzz/src/lib.rs` holds: a fixed bug stays fixed without cargo-fuzz.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz;

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
    assert!(replay("records", fuzz::records::run) > 0);
}

#[test]
fn import_cases_import_or_err() {
    assert!(replay("import", fuzz::import::run) > 0);
}

#[test]
fn ops_cases_match_the_model() {
    assert!(replay("ops", fuzz::ops::run) > 0);
}

#[test]
fn open_damaged_cases_err_or_answer_as_committed() {
    assert!(replay("open_damaged", fuzz::damaged::run) > 0);
}
