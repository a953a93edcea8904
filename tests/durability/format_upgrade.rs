//! Files of older formats: `tests/data/format1.tmdb` and `format2.tmdb`
//! (and their packed copies) were written by tracemem's formats 1 and 2
//! with `fixtures::write_fixture`. Every open refuses them, leaving them
//! byte for byte; `tracemem::upgrade` converts them, and then they answer
//! every query as the same content written by this build does. A kill -9
//! at any moment of an upgrade leaves the old file or the new one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tracemem::{Database, Error, Lifespan, MemoryRead, RegionRead};

use crate::child::{self, Xorshift};
use crate::fixtures::write_fixture;

const CHILD_ENV: &str = "TRACEMEM_UPGRADE_CHILD_DB";

/// A copy of the fixture `name` in `dir`.
fn fixture(dir: &Path, name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let to = dir.join(name);
    std::fs::copy(&from, &to).unwrap();
    to
}

/// Every answer of `db` this test compares: per-byte sources of ranges of
/// both spaces over their snaps, the most recent states, the events, their
/// snaps' marks, and (`extras`) the register map, regions and snap metadata.
fn answers(db: &Database, extras: bool) -> Vec<String> {
    let read = db.begin_read().unwrap();
    let mut out = Vec::new();
    let bus = read.space("bus").unwrap();
    for snap in (0..1500).step_by(37) {
        for (base, len) in [
            (0x4000_0000u64, 256usize),
            (0x4000_1000, 128),
            (0x4001_0000, 1024),
            (0x4002_0000, 64),
        ] {
            let mut buf = vec![0u8; len];
            let runs = bus.get_bytes_with_sources(snap, base, &mut buf).unwrap();
            out.push(format!("bus {snap} {base:#x}: {buf:?} {runs:?}"));
        }
    }
    let ram = read.space("ram").unwrap();
    for snap in (-101..301).step_by(7) {
        for base in (0..4200u64).step_by(96) {
            let mut buf = [0u8; 96];
            let runs = ram.get_bytes_with_sources(snap, base, &mut buf).unwrap();
            let state = ram.most_recent_state(snap, base + 5).unwrap();
            out.push(format!("ram {snap} {base:#x}: {buf:?} {runs:?} {state:?}"));
        }
    }
    out.push(format!("{:?}", read.events("w1", 0..1500).unwrap()));
    let capture = read.capture("w1").unwrap();
    // Everything but its start's wall time, which differs between writings.
    out.push(format!(
        "{} {} {} {:?} {} {} {}",
        capture.name,
        capture.space,
        capture.big_endian,
        capture.policy,
        capture.first_snap,
        capture.events,
        capture.last_snap
    ));
    out.push(format!("{:?}", read.marks(&capture).unwrap()));
    if extras {
        out.push(format!("{:?}", read.register_map().unwrap()));
        out.push(format!("{:?}", read.regions("ram").unwrap().all().unwrap()));
        let all = Lifespan::new(i64::MIN, i64::MAX).unwrap();
        out.push(format!("{:?}", read.snaps_with_meta(all).unwrap()));
    }
    out
}

/// The fixture `name` of format `format`, refused by every open.
fn refused_unchanged(name: &str, format: u32) {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture(dir.path(), name);
    let before = std::fs::read(&old).unwrap();
    for err in [
        Database::builder().open_read_only(&old).err(),
        Database::open(&old).err(),
    ] {
        let err = err.expect("no open converts an older file");
        assert!(
            matches!(err, Error::OlderFormat { found, current: 3, .. } if found == format),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains(name) && text.contains("tracemem upgrade"), "{text}");
    }
    assert_eq!(std::fs::read(&old).unwrap(), before, "the file is left byte for byte");
}

/// The fixture `name` of format `format`, upgraded, answers as this build
/// writes the same content, passes `check`, and takes appends.
fn upgraded_answers_as_this_build_writes(name: &str, format: u32) {
    let extras = format >= 2;
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.tmdb");
    write_fixture(&fresh, extras);
    let old = fixture(dir.path(), name);
    // A stale new file from an upgrade killed earlier is replaced.
    std::fs::write(tracemem::upgrade::upgrading_path(&old), b"stale").unwrap();
    let mut calls = 0;
    let report = tracemem::upgrade(&old, &mut |_| calls += 1).unwrap();
    assert_eq!(
        (report.from, report.to),
        (format, tracemem::FORMAT_VERSION),
        "{report:?}"
    );
    assert!(report.records > 0 && calls > 0, "{report:?}");
    assert!(!tracemem::upgrade::upgrading_path(&old).exists());
    let upgraded = Database::open(&old).unwrap();
    let check = upgraded.check().unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert!(check.chunks > 0);
    let (want, got) = (
        answers(&Database::open(&fresh).unwrap(), extras),
        answers(&upgraded, extras),
    );
    assert_eq!(want.len(), got.len());
    for (want, got) in want.iter().zip(&got) {
        assert_eq!(want, got);
    }
    // The new file reads read-only and takes appends, events included.
    drop(upgraded);
    answers(&Database::builder().open_read_only(&old).unwrap(), extras);
    let db = Database::open(&old).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.space("ram").unwrap().put_bytes(400, 0x10, &[1, 2, 3]).unwrap();
    let more: Vec<_> = tracemem::workloads::W1::new(1).take(1600).collect();
    txn.append_events("w1", &more[1500..]).unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    let mut buf = [0u8; 3];
    read.space("ram").unwrap().get_bytes(400, 0x10, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 3]);
    assert_eq!(read.events("w1", 0..2000).unwrap(), more);
    assert!(db.check().unwrap().problems.is_empty());
    drop(read);
    drop(db);
    // Upgrading a file of this format leaves it as it is.
    let again = tracemem::upgrade(&old, &mut |_| {}).unwrap();
    assert_eq!((again.from, again.records), (tracemem::FORMAT_VERSION, 0));
}

#[test]
fn a_format_1_file_is_refused_by_every_open() {
    refused_unchanged("format1.tmdb", 1);
}

#[test]
fn a_format_2_file_is_refused_by_every_open() {
    refused_unchanged("format2.tmdb", 2);
}

#[test]
fn a_format_1_file_upgrades() {
    upgraded_answers_as_this_build_writes("format1.tmdb", 1);
}

#[test]
fn a_packed_format_1_file_upgrades() {
    upgraded_answers_as_this_build_writes("format1.packed.tmdb", 1);
}

#[test]
fn a_format_2_file_upgrades() {
    upgraded_answers_as_this_build_writes("format2.tmdb", 2);
}

#[test]
fn a_packed_format_2_file_upgrades() {
    upgraded_answers_as_this_build_writes("format2.packed.tmdb", 2);
}

#[test]
fn an_upgrade_of_a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.tmdb");
    let err = tracemem::upgrade(&missing, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("missing.tmdb"), "{err}");
    assert!(!tracemem::upgrade::upgrading_path(&missing).exists());
}

/// The child of `an_upgrade_survives_kill_9`: upgrades the file it is given,
/// saying when it starts.
#[test]
fn crash_child_upgrader() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    println!("upgrading");
    tracemem::upgrade(&path, &mut |_| {}).unwrap();
    println!("upgraded");
}

#[test]
fn an_upgrade_survives_kill_9() {
    let kills: u64 = std::env::var("TRACEMEM_UPGRADE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.tmdb");
    write_fixture(&fresh, true);
    let want = answers(&Database::open(&fresh).unwrap(), true);
    let base = fixture(dir.path(), "format2.tmdb");
    let timed = dir.path().join("timed.tmdb");
    std::fs::copy(&base, &timed).unwrap();
    let started = Instant::now();
    tracemem::upgrade(&timed, &mut |_| {}).unwrap();
    let upgrade_time = started.elapsed();

    let mut random = Xorshift(0x2545_f491_4f6c_dd1d);
    let (mut old, mut new) = (0, 0);
    for round in 0..kills {
        let path = dir.path().join(format!("kill-{round}.tmdb"));
        std::fs::copy(&base, &path).unwrap();
        let (child, lines) = child::spawn("format_upgrade::crash_child_upgrader", CHILD_ENV, &path);
        let delay = random.delay_within(upgrade_time);
        child::kill_after(child, lines, "upgrading", delay);
        match Database::open(&path) {
            Ok(db) => {
                new += 1;
                assert_eq!(answers(&db, true), want, "round {round}, killed after {delay:?}");
                assert!(db.check().unwrap().problems.is_empty(), "round {round}");
            }
            Err(Error::OlderFormat { found: 2, .. }) => {
                old += 1;
                // The old file, whole: a second upgrade finishes the job.
                tracemem::upgrade(&path, &mut |_| {}).unwrap();
                assert_eq!(answers(&Database::open(&path).unwrap(), true), want, "round {round}");
            }
            Err(e) => panic!("round {round}, killed after {delay:?}: {e}"),
        }
        std::fs::remove_file(&path).unwrap();
    }
    eprintln!("{kills} kills during an upgrade: {old} left the old file, {new} the new one");
    assert_eq!(old + new, kills);
}
