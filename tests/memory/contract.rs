//! The exact cases of the memory contract (DESIGN.md M1-M7, M9, M13), one
//! named test each, plus the bad inputs of the core engine.

use tracemem::{
    AddressRange, Database, Direction, Error, FilledRange, Lifespan, MemState, MemoryRead, SnapMeta, SourcedStateRun,
    StatePredicate, StateRun,
};

fn new_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    (dir, db)
}

fn r(min: u64, max: u64) -> AddressRange {
    AddressRange::new(min, max).unwrap()
}

#[test]
fn writes_past_the_end_of_the_address_space_are_truncated() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    assert_eq!(ram.put_bytes(1, 0xffff_ffff_ffff_fffe, &[1, 2, 3, 4]).unwrap(), 2);
    let mut buf = [0u8; 2];
    assert_eq!(ram.get_bytes(1, 0xffff_ffff_ffff_fffe, &mut buf).unwrap(), 2);
    assert_eq!(buf, [1, 2]);
    assert_eq!(ram.put_bytes(1, u64::MAX, &[9; 100]).unwrap(), 1);
    // A query that would run past the end is refused, naming the range.
    let mut long = [0u8; 4];
    assert!(matches!(
        ram.get_bytes(1, u64::MAX - 1, &mut long),
        Err(Error::RangePastEnd { start, len: 4 }) if start == u64::MAX - 1
    ));
}

#[test]
fn zero_length_writes_store_nothing() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    assert_eq!(ram.put_bytes(3, 0x100, &[]).unwrap(), 0);
    assert_eq!(ram.snap_of_most_recent_change_to_block(3, 0x100).unwrap(), None);
    assert!(ram.changes(-1, 10).unwrap().is_empty());
    ram.remove_bytes(3, 0x100, 0).unwrap();
    let mut empty: [u8; 0] = [];
    assert_eq!(ram.get_bytes(3, 0x100, &mut empty).unwrap(), 0);
}

#[test]
fn unknown_bytes_are_left_untouched() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(1, 0x1002, &[7, 8]).unwrap();
    let mut buf = [0xee; 6];
    assert_eq!(ram.get_bytes(1, 0x1000, &mut buf).unwrap(), 2);
    assert_eq!(buf, [0xee, 0xee, 7, 8, 0xee, 0xee]);
}

#[test]
fn each_byte_gets_its_latest_snap_at_or_before_the_query() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    // Written out of order: snap 4, then 3, then 2, over shrinking ranges.
    ram.put_bytes(4, 0x10, &[4, 4]).unwrap();
    ram.put_bytes(3, 0x10, &[3, 3, 3, 3]).unwrap();
    ram.put_bytes(2, 0x10, &[2, 2, 2, 2, 2, 2]).unwrap();
    ram.put_bytes(5, 0x10, &[5; 6]).unwrap();
    let mut buf = [0u8; 6];
    let sources = ram.get_bytes_with_sources(4, 0x10, &mut buf).unwrap();
    assert_eq!(buf, [4, 4, 3, 3, 2, 2]);
    assert_eq!(
        sources,
        vec![
            FilledRange {
                range: r(0x10, 0x11),
                snap: 4
            },
            FilledRange {
                range: r(0x12, 0x13),
                snap: 3
            },
            FilledRange {
                range: r(0x14, 0x15),
                snap: 2
            },
        ]
    );
    txn.commit().unwrap();
    // The same after commit, through a read transaction.
    let read = db.begin_read().unwrap();
    let mut buf = [0u8; 6];
    read.space("ram").unwrap().get_bytes(3, 0x10, &mut buf).unwrap();
    assert_eq!(buf, [3, 3, 3, 3, 2, 2]);
}

#[test]
fn removal_at_a_snap_exposes_the_earlier_snap() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(1, 0x20, &[1, 1, 1]).unwrap();
    ram.put_bytes(2, 0x20, &[2, 2, 2]).unwrap();
    ram.remove_bytes(2, 0x21, 1).unwrap();
    let mut buf = [0u8; 3];
    assert_eq!(ram.get_bytes_with_sources(2, 0x20, &mut buf).unwrap().len(), 3);
    assert_eq!(buf, [2, 1, 2]);
    assert_eq!(ram.state(2, 0x21).unwrap(), MemState::Unknown);
    assert_eq!(ram.most_recent_state(2, 0x21).unwrap(), Some((1, MemState::Known)));
    // set_state(Unknown) is the same removal.
    ram.set_state(2, r(0x20, 0x22), MemState::Unknown).unwrap();
    ram.get_bytes(2, 0x20, &mut buf).unwrap();
    assert_eq!(buf, [1, 1, 1]);
    assert_eq!(ram.snap_of_most_recent_change_to_block(2, 0x20).unwrap(), Some(1));
}

#[test]
fn scratch_snaps_and_the_timeline_never_see_each_other() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(-6, 0x30, &[0xa6]).unwrap();
    ram.put_bytes(0, 0x31, &[0x00]).unwrap();
    let mut buf = [0u8; 2];
    // -5 sees -6 (scratch snaps are ordered among themselves)...
    assert_eq!(ram.get_bytes(-5, 0x30, &mut buf).unwrap(), 1);
    assert_eq!(buf[0], 0xa6);
    // ...but not snap 0, and the timeline never sees scratch snaps.
    let mut buf = [0u8; 2];
    assert_eq!(ram.get_bytes(-1, 0x31, &mut buf[..1]).unwrap(), 0);
    assert_eq!(ram.get_bytes(i64::MAX, 0x30, &mut buf[..1]).unwrap(), 0);
    assert_eq!(ram.most_recent_state(100, 0x30).unwrap(), None);
    assert_eq!(ram.most_recent_state(-1, 0x31).unwrap(), None);
    assert_eq!(ram.snap_of_most_recent_change_to_block(-1, 0x31).unwrap(), Some(-6));
    assert_eq!(ram.snap_of_most_recent_change_to_block(5, 0x31).unwrap(), Some(0));
}

#[test]
fn most_recent_runs_split_around_an_error_inside_a_known_range() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(7, 0x100, &[0x11; 16]).unwrap();
    ram.set_state(7, r(0x104, 0x107), MemState::Error).unwrap();
    let runs = ram.most_recent_states(9, r(0x100, 0x10f)).unwrap();
    assert_eq!(
        runs,
        vec![
            SourcedStateRun {
                range: r(0x100, 0x103),
                snap: 7,
                state: MemState::Known
            },
            SourcedStateRun {
                range: r(0x104, 0x107),
                snap: 7,
                state: MemState::Error
            },
            SourcedStateRun {
                range: r(0x108, 0x10f),
                snap: 7,
                state: MemState::Known
            },
        ]
    );
    assert_eq!(
        ram.states(7, r(0x100, 0x10f)).unwrap(),
        vec![
            StateRun {
                range: r(0x100, 0x103),
                state: MemState::Known
            },
            StateRun {
                range: r(0x104, 0x107),
                state: MemState::Error
            },
            StateRun {
                range: r(0x108, 0x10f),
                state: MemState::Known
            },
        ]
    );
    // ERROR replaced the bytes at snap 7: get_bytes finds nothing known there.
    let mut buf = [0u8; 16];
    assert_eq!(ram.get_bytes(7, 0x100, &mut buf).unwrap(), 12);
}

#[test]
fn state_at_a_later_snap_than_the_write_is_unknown() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(3, 0x40, &[1, 2]).unwrap();
    assert_eq!(ram.state(3, 0x40).unwrap(), MemState::Known);
    assert_eq!(ram.state(4, 0x40).unwrap(), MemState::Unknown);
    assert!(ram.is_known(3, r(0x40, 0x41)).unwrap());
    assert!(!ram.is_known(4, r(0x40, 0x41)).unwrap());
    assert!(!ram.is_known(3, r(0x40, 0x42)).unwrap());
    assert_eq!(ram.most_recent_state(4, 0x40).unwrap(), Some((3, MemState::Known)));
}

#[test]
fn error_over_known_keeps_old_bytes_and_known_over_error_restores() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(1, 0x50, &[0xab]).unwrap();
    ram.put_bytes(2, 0x50, &[0xcd]).unwrap();
    ram.set_state(2, r(0x50, 0x50), MemState::Error).unwrap();
    let mut buf = [0u8];
    ram.get_bytes(2, 0x50, &mut buf).unwrap();
    assert_eq!(buf, [0xab], "ERROR at 2 replaced 2's bytes; the last KNOWN is snap 1's");
    assert_eq!(ram.state(2, 0x50).unwrap(), MemState::Error);
    assert_eq!(ram.most_recent_state(5, 0x50).unwrap(), Some((2, MemState::Error)));
    ram.put_bytes(2, 0x50, &[0xef]).unwrap();
    assert_eq!(ram.state(2, 0x50).unwrap(), MemState::Known);
    ram.get_bytes(5, 0x50, &mut buf).unwrap();
    assert_eq!(buf, [0xef]);
}

#[test]
fn set_state_known_is_refused_and_points_to_put_bytes() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    let err = ram.set_state(1, r(0, 3), MemState::Known).unwrap_err();
    assert!(matches!(err, Error::KnownNeedsBytes { snap: 1, .. }));
    assert!(err.to_string().contains("put_bytes"), "{err}");
}

#[test]
fn addresses_with_state_and_changes_cover_a_lifespan() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(1, 0x0, &[1; 8]).unwrap();
    ram.put_bytes(2, 0x1000, &[1; 8]).unwrap();
    ram.set_state(3, r(0x2000, 0x2003), MemState::Error).unwrap();
    let known = ram
        .addresses_with_state(Lifespan::new(0, 2).unwrap(), StatePredicate::IsKnown)
        .unwrap();
    assert_eq!(known.iter().collect::<Vec<_>>(), vec![r(0, 7), r(0x1000, 0x1007)]);
    let errors = ram
        .addresses_with_state(Lifespan::new(0, 10).unwrap(), StatePredicate::IsError)
        .unwrap();
    assert_eq!(errors.iter().collect::<Vec<_>>(), vec![r(0x2000, 0x2003)]);
    let either = ram
        .addresses_with_state(Lifespan::at(3), StatePredicate::IsKnownOrError)
        .unwrap();
    assert_eq!(either.iter().collect::<Vec<_>>(), vec![r(0x2000, 0x2003)]);
    assert_eq!(
        ram.changes(1, 3).unwrap().iter().collect::<Vec<_>>(),
        vec![r(0x1000, 0x1007), r(0x2000, 0x2003)]
    );
    assert!(ram.changes(3, 3).unwrap().is_empty());
    assert_eq!(ram.block_size(), 4096);
}

#[test]
fn spaces_are_isolated_and_listed() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    txn.create_space("ram").unwrap().put_bytes(1, 0, &[1]).unwrap();
    txn.create_space("regs/thread-1")
        .unwrap()
        .put_bytes(1, 0, &[2])
        .unwrap();
    assert!(matches!(txn.create_space(""), Err(Error::InvalidSpaceName { .. })));
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(
        read.spaces().unwrap(),
        vec!["ram".to_string(), "regs/thread-1".to_string()]
    );
    let mut buf = [0u8];
    read.space("ram").unwrap().get_bytes(1, 0, &mut buf).unwrap();
    assert_eq!(buf, [1]);
    read.space("regs/thread-1").unwrap().get_bytes(1, 0, &mut buf).unwrap();
    assert_eq!(buf, [2]);
    assert!(matches!(read.space("rom"), Err(Error::UnknownSpace { name }) if name == "rom"));
}

#[test]
fn aborted_transactions_leave_nothing_and_commits_are_atomic() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    txn.create_space("ram").unwrap().put_bytes(1, 0, &[1]).unwrap();
    txn.commit().unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.space("ram").unwrap().put_bytes(2, 0, &[2]).unwrap();
    txn.create_space("rom").unwrap();
    txn.abort().unwrap();
    let read = db.begin_read().unwrap();
    let mut buf = [0u8];
    read.space("ram").unwrap().get_bytes(9, 0, &mut buf).unwrap();
    assert_eq!(buf, [1]);
    assert_eq!(read.spaces().unwrap(), vec!["ram".to_string()]);
}

#[test]
fn a_reader_keeps_its_view_across_a_commit_and_never_blocks_the_writer() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    txn.create_space("ram").unwrap().put_bytes(1, 0, &[1]).unwrap();
    txn.commit().unwrap();
    let old = db.begin_read().unwrap();
    let also_old = db.begin_read().unwrap();
    // The writer proceeds while both readers are open.
    let mut txn = db.begin_write().unwrap();
    txn.space("ram").unwrap().put_bytes(1, 0, &[2]).unwrap();
    txn.commit().unwrap();
    let mut buf = [0u8];
    old.space("ram").unwrap().get_bytes(1, 0, &mut buf).unwrap();
    assert_eq!(buf, [1]);
    also_old.space("ram").unwrap().get_bytes(1, 0, &mut buf).unwrap();
    assert_eq!(buf, [1]);
    db.begin_read()
        .unwrap()
        .space("ram")
        .unwrap()
        .get_bytes(1, 0, &mut buf)
        .unwrap();
    assert_eq!(buf, [2]);
}

#[test]
fn snap_metadata_round_trips() {
    let (_dir, db) = new_db();
    let meta = SnapMeta {
        description: "after reset".into(),
        timestamp_ns: Some(1_700_000_000_000_000_000),
        fork_of: None,
    };
    let mut txn = db.begin_write().unwrap();
    txn.set_snap_meta(5, &meta).unwrap();
    assert_eq!(txn.snap_meta(5).unwrap().as_ref(), Some(&meta));
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.snap_meta(5).unwrap(), Some(meta.clone()));
    assert_eq!(read.snap_meta(6).unwrap(), None);
    assert_eq!(
        read.snaps_with_meta(Lifespan::new(0, 10).unwrap()).unwrap(),
        vec![(5, meta)]
    );
}

#[test]
fn a_long_history_reads_correctly_at_every_era() {
    let (dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut regs = txn.create_space("regs").unwrap();
    regs.put_bytes(0, 0x8, &[0xee; 8]).unwrap();
    for snap in 0..20_000i64 {
        regs.put_bytes(snap, 0, &snap.to_le_bytes()).unwrap();
    }
    // A write into the past, far behind the open chunk.
    regs.put_bytes(10, 0x8, &[0x10; 8]).unwrap();
    txn.commit().unwrap();
    drop(db);
    let db = Database::open(dir.path().join("t.tmdb")).unwrap();
    let read = db.begin_read().unwrap();
    let regs = read.space("regs").unwrap();
    for snap in [0i64, 1, 9, 10, 255, 256, 257, 9_999, 19_999, 1_000_000] {
        let mut buf = [0u8; 16];
        regs.get_bytes(snap, 0, &mut buf).unwrap();
        assert_eq!(i64::from_le_bytes(buf[..8].try_into().unwrap()), snap.min(19_999));
        let expected = if snap >= 10 { 0x10 } else { 0xee };
        assert_eq!(buf[8..], [expected; 8], "at snap {snap}");
    }
    assert_eq!(
        regs.snap_of_most_recent_change_to_block(12_345, 0).unwrap(),
        Some(12_345)
    );
}

#[test]
fn bad_arguments_are_typed_errors_carrying_the_value() {
    assert!(matches!(
        AddressRange::new(9, 1),
        Err(Error::ReversedRange { min: 9, max: 1 })
    ));
    assert!(matches!(
        Lifespan::new(2, 1),
        Err(Error::ReversedLifespan { min: 2, max: 1 })
    ));
    let dir = tempfile::tempdir().unwrap();
    for bad in [0u64, 100, 128, 3000, 131_072] {
        let err = Database::builder()
            .block_size(bad)
            .create(dir.path().join(format!("b{bad}")))
            .err();
        assert!(matches!(err, Some(Error::InvalidBlockSize { value }) if value == bad));
    }
    let db = Database::builder()
        .block_size(256)
        .create(dir.path().join("ok"))
        .unwrap();
    assert_eq!(db.block_size(), 256);
    drop(db);
    assert!(matches!(
        Database::create(dir.path().join("ok")),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists
    ));
    assert!(matches!(
        Database::open(dir.path().join("missing")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn find_bytes_matches_only_bytes_known_now_in_either_direction() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    // The same pattern at three places; the middle one later fails a read.
    for at in [0x100u64, 0x2ff, 0x5000] {
        ram.put_bytes(1, at, b"\xde\xad\xbe\xef").unwrap();
    }
    ram.set_state(2, r(0x300, 0x300), MemState::Error).unwrap();
    ram.put_bytes(1, u64::MAX - 3, b"\xde\xad\xbe\xef").unwrap();
    let all = r(0, u64::MAX);
    let find = |snap, range, mask: Option<&[u8]>, dir| ram.find_bytes(snap, range, b"\xde\xad\xbe\xef", mask, dir);
    assert_eq!(find(1, all, None, Direction::Forward).unwrap(), Some(0x100));
    assert_eq!(find(1, all, None, Direction::Backward).unwrap(), Some(u64::MAX - 3));
    // At snap 2 the window across the granule boundary holds an ERROR byte.
    assert_eq!(find(2, r(0x200, 0x4fff), None, Direction::Forward).unwrap(), None);
    assert_eq!(
        find(1, r(0x200, 0x4fff), None, Direction::Forward).unwrap(),
        Some(0x2ff)
    );
    // A window must lie wholly in the range.
    assert_eq!(find(1, r(0x100, 0x102), None, Direction::Forward).unwrap(), None);
    // Wildcards: a zero mask byte matches anything known.
    let masked = ram
        .find_bytes(
            1,
            all,
            b"\xde\x00\xbe\xef",
            Some(&[0xff, 0, 0xff, 0xff]),
            Direction::Forward,
        )
        .unwrap();
    assert_eq!(masked, Some(0x100));
    assert_eq!(ram.find_bytes(1, all, b"", None, Direction::Forward).unwrap(), None);
    assert!(matches!(
        ram.find_bytes(1, all, b"\xde\xad", Some(&[0xff]), Direction::Forward),
        Err(Error::MaskLength { pattern: 2, mask: 1 })
    ));
}

#[test]
fn a_long_find_reports_progress_and_can_be_cancelled() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(0, 0x1000_0000, &vec![7u8; 4 << 20]).unwrap();
    let range = r(0x1000_0000, 0x1000_0000 + (4 << 20) - 1);
    let mut reports = Vec::new();
    let found = ram
        .find_bytes_with_progress(0, range, b"\x01", None, Direction::Forward, &mut |p| {
            reports.push(p.searched);
            true
        })
        .unwrap();
    assert_eq!(found, None);
    assert!(
        reports.len() >= 3 && reports.windows(2).all(|w| w[0] < w[1]),
        "{reports:?}"
    );
    let cancelled = ram.find_bytes_with_progress(0, range, b"\x01", None, Direction::Backward, &mut |_| false);
    assert!(matches!(
        cancelled,
        Err(Error::Cancelled {
            operation: "find_bytes",
            ..
        })
    ));
}

#[test]
fn diff_reports_changed_bytes_and_states_not_rewrites_of_the_same_value() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(1, 0x100, &[1, 2, 3, 4]).unwrap();
    ram.put_bytes(5, 0x100, &[1, 9, 3, 4]).unwrap();
    ram.set_state(6, r(0x103, 0x103), MemState::Error).unwrap();
    ram.put_bytes(7, 0x9000, &[5]).unwrap();
    let mut want = tracemem::RangeSet::new();
    want.insert(r(0x101, 0x101));
    want.insert(r(0x103, 0x103));
    want.insert(r(0x9000, 0x9000));
    assert_eq!(ram.diff(1, 7, r(0, u64::MAX)).unwrap(), want);
    assert_eq!(ram.diff(7, 1, r(0, u64::MAX)).unwrap(), want);
    assert!(ram.diff(5, 5, r(0, u64::MAX)).unwrap().is_empty());
    // The same bytes again at snap 5 is no difference from snap 1 there.
    assert!(ram.diff(1, 5, r(0x100, 0x100)).unwrap().is_empty());
}

#[test]
fn a_write_into_the_past_that_splits_its_chunk_still_patches_later_checkpoints() {
    // Found by the property test after a pack: a packed chunk is larger than
    // a writer with small chunks keeps, so an edit into its past splits it;
    // the split's new checkpoint already showed the edit, and patching the
    // later checkpoints stopped there, leaving a stale byte at snap MAX.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    let db = Database::builder().max_chunk_deltas(3).create(&path).unwrap();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    for snap in [0, 2, 5, 8, 9, 12] {
        ram.put_bytes(snap, 0, &[snap as u8]).unwrap();
    }
    ram.put_bytes(1, 7, &[1, 1, 1, 1, 1]).unwrap();
    ram.set_state(i64::MAX, r(0, 0), MemState::Error).unwrap();
    txn.commit().unwrap();
    db.close().unwrap();
    tracemem::pack(&path, &mut |_| {}).unwrap();
    let db = Database::builder().max_chunk_deltas(3).open(&path).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.space("ram")
        .unwrap()
        .set_state(1, r(7, 11), MemState::Error)
        .unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();
    let mut buf = [0u8; 12];
    // Only byte 0 was ever KNOWN outside snap 1, whose bytes are now ERROR.
    assert_eq!(ram.get_bytes(i64::MAX, 0, &mut buf).unwrap(), 1);
    assert_eq!(ram.most_recent_state(i64::MAX, 9).unwrap(), Some((1, MemState::Error)));
}

/// Found by the `ops` fuzz target (built with overflow checks): a
/// difference running to the last byte of the address space overflowed
/// the end of its range (`tests/fuzz_cases/ops/diff-to-the-last-address`).
/// Fails in a build with overflow checks (`cargo test` without `--release`,
/// and the fuzz build that `.ci/run` replays the cases with).
#[test]
fn diff_reaches_the_last_address() {
    let (_dir, db) = new_db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(1, u64::MAX - 3, &[1, 2, 3, 4]).unwrap();
    let mut want = tracemem::RangeSet::new();
    want.insert(r(u64::MAX - 3, u64::MAX));
    assert_eq!(ram.diff(0, 1, r(0, u64::MAX)).unwrap(), want);
    assert_eq!(ram.diff(1, 0, r(u64::MAX - 300, u64::MAX)).unwrap(), want);
}
