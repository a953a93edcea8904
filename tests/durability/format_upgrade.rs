//! Files of an older format: `tests/data/format1.tmdb` (and its packed copy)
//! were written by tracemem's format 1 with `write_fixture` below. Opened for
//! writing they are upgraded and answer every query as the same content
//! written by this build does; opened read-only they are refused.

use std::path::{Path, PathBuf};

use tracemem::record::{MockMaster, RecorderOptions, RecordingMaster};
use tracemem::workloads::{Lcg, W1};
use tracemem::{AddressRange, CaptureSpec, Database, Error, MemState, MemoryRead};

/// What the fixtures hold: W1's first 1,500 events recorded as capture
/// `w1`, then 1,000 writes and failed reads of a space `ram` at snaps from
/// -100 (scratch) to 299, in one transaction.
fn write_fixture(path: &Path) {
    let mut bus = RecordingMaster::create(
        MockMaster::new(),
        path,
        &CaptureSpec::new("w1"),
        RecorderOptions::default(),
    )
    .unwrap();
    for event in W1::new(1).take(1500) {
        bus.record_event(event).unwrap();
    }
    bus.close().unwrap();
    let db = Database::open(path).unwrap();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    let mut rng = Lcg::new(7);
    for i in 0..1000u64 {
        let snap = rng.below(400) as i64 - 100;
        let addr = rng.below(4096);
        let len = 1 + rng.below(40);
        if i % 13 == 0 {
            ram.set_state(snap, AddressRange::new(addr, addr + len - 1).unwrap(), MemState::Error)
                .unwrap();
        } else {
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            ram.put_bytes(snap, addr, &bytes).unwrap();
        }
    }
    txn.commit().unwrap();
}

/// A copy of the fixture `name` in `dir`.
fn fixture(dir: &Path, name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let to = dir.join(name);
    std::fs::copy(&from, &to).unwrap();
    to
}

/// Every answer of `db` this test compares: per-byte sources of ranges of
/// both spaces over their snaps, the most recent states, the events.
fn answers(db: &Database) -> Vec<String> {
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
    out
}

fn upgraded_file_answers_as_this_build_writes(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.tmdb");
    write_fixture(&fresh);
    let old = fixture(dir.path(), name);
    let upgraded = Database::open(&old).unwrap();
    let report = upgraded.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.chunks > 0);
    let (want, got) = (answers(&Database::open(&fresh).unwrap()), answers(&upgraded));
    assert_eq!(want.len(), got.len());
    for (want, got) in want.iter().zip(&got) {
        assert_eq!(want, got);
    }
    // The upgrade is kept: a read-only open now reads it, and it takes appends.
    drop(upgraded);
    answers(&Database::builder().open_read_only(&old).unwrap());
    let db = Database::open(&old).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.space("ram").unwrap().put_bytes(400, 0x10, &[1, 2, 3]).unwrap();
    txn.commit().unwrap();
    let mut buf = [0u8; 3];
    db.begin_read()
        .unwrap()
        .space("ram")
        .unwrap()
        .get_bytes(400, 0x10, &mut buf)
        .unwrap();
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
fn a_format_1_file_opened_for_writing_is_upgraded() {
    upgraded_file_answers_as_this_build_writes("format1.tmdb");
}

#[test]
fn a_packed_format_1_file_opened_for_writing_is_upgraded() {
    upgraded_file_answers_as_this_build_writes("format1.packed.tmdb");
}

#[test]
fn a_format_1_file_opened_read_only_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture(dir.path(), "format1.tmdb");
    let before = std::fs::read(&old).unwrap();
    let err = Database::builder()
        .open_read_only(&old)
        .err()
        .expect("a read-only open cannot upgrade");
    assert!(
        matches!(
            err,
            Error::OlderFormat {
                found: 1,
                current: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("format1.tmdb"), "{err}");
    assert_eq!(std::fs::read(&old).unwrap(), before);
}
