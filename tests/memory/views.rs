//! Views over schedule forks (M10): the viewport cases of Ghidra's
//! `DBTraceTimeViewportTest` (on tracemem's two sides of the sign boundary),
//! cycles, and the emulator case on W2: a scratch snap forked from snap 100.

use tracemem::workloads::{W2_HEAP, W2_IMAGE, W2_UNMAPPED, W2Config, W2Write, w2};
use tracemem::{
    AddressRange, Database, FilledRange, Lifespan, MemState, MemoryRead, MemoryView, Snap, SnapMeta, WriteTransaction,
};

fn db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("views.tmdb")).unwrap();
    (dir, db)
}

fn span(min: Snap, max: Snap) -> Lifespan {
    Lifespan::new(min, max).unwrap()
}

fn fork(txn: &mut WriteTransaction, snap: Snap, parent: Snap) {
    txn.set_snap_meta(
        snap,
        &SnapMeta {
            description: format!("forked from {parent}"),
            fork_of: Some(parent),
            ..SnapMeta::default()
        },
    )
    .unwrap();
}

#[test]
fn viewports_follow_forks_and_stop_at_cycles() {
    let (_dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    // Without forks: the snap's own side, from its start.
    assert_eq!(txn.viewport(10).unwrap(), vec![span(0, 10)]);
    assert_eq!(txn.viewport(-4).unwrap(), vec![span(Snap::MIN, -4)]);
    // A scratch snap forked from the timeline (testForkFromScratch).
    fork(&mut txn, Snap::MIN, 10);
    assert_eq!(
        txn.viewport(Snap::MIN).unwrap(),
        vec![span(Snap::MIN, Snap::MIN), span(0, 10)]
    );
    // Later scratch snaps continue the branch they follow.
    assert_eq!(txn.viewport(-7).unwrap(), vec![span(Snap::MIN, -7), span(0, 10)]);
    // A self-fork cuts the history below it (testSelfScheduleSnapshot0RemovesScratch).
    fork(&mut txn, 3, 3);
    assert_eq!(txn.viewport(10).unwrap(), vec![span(3, 10)]);
    // A parent just before the snap forks nothing (testNotationalSchedulesDontFork).
    fork(&mut txn, 6, 5);
    assert_eq!(txn.viewport(10).unwrap(), vec![span(3, 10)]);
    // A timeline fork hides the snaps between its parent and itself.
    fork(&mut txn, 50, 20);
    assert_eq!(txn.viewport(60).unwrap(), vec![span(50, 60), span(3, 20)]);
    assert_eq!(txn.viewport(49).unwrap(), vec![span(3, 49)]);
    // Cycles are ignored where the chain closes (testCyclesIgnored).
    fork(&mut txn, -20, -30);
    fork(&mut txn, -30, -20);
    assert_eq!(txn.viewport(-20).unwrap(), vec![span(-20, -20), span(-30, -30)]);
    fork(&mut txn, 70, 80);
    assert_eq!(txn.viewport(75).unwrap(), vec![span(70, 75)]);
    assert_eq!(txn.viewport(90).unwrap(), vec![span(70, 90)]);
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.viewport(60).unwrap(), vec![span(50, 60), span(3, 20)]);
}

#[test]
fn view_reads_take_the_first_range_with_a_record() {
    let (_dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(5, 0x10, b"abcdefgh").unwrap();
    ram.put_bytes(8, 0x12, b"XY").unwrap();
    ram.set_state(9, AddressRange::new(0x16, 0x17).unwrap(), MemState::Error)
        .unwrap();
    ram.put_bytes(-3, 0x11, b"1").unwrap(); // another scratch branch
    ram.put_bytes(-2, 0x14, b"22").unwrap();
    ram.set_state(-2, AddressRange::new(0x13, 0x13).unwrap(), MemState::Error)
        .unwrap();
    drop(ram);
    fork(&mut txn, -2, 9);
    let ram = txn.space("ram").unwrap();
    let mut buf = [b'.'; 10];
    let sources = ram.view_bytes_with_sources(-2, 0x10, &mut buf).unwrap();
    assert_eq!(&buf, b"abXY22gh..");
    let run = |min, max, snap| FilledRange {
        range: AddressRange::new(min, max).unwrap(),
        snap,
    };
    assert_eq!(
        sources,
        vec![
            run(0x10, 0x11, 5),
            run(0x12, 0x13, 8),
            run(0x14, 0x15, -2),
            run(0x16, 0x17, 5)
        ]
    );
    // Plain reads at -2 see the other scratch branch and nothing of the timeline.
    let mut plain = [b'.'; 10];
    assert_eq!(ram.get_bytes(-2, 0x10, &mut plain).unwrap(), 3);
    assert_eq!(&plain, b".1..22....");
    // States: at exactly -2, else at the fork point 9.
    assert_eq!(ram.view_state(-2, 0x13).unwrap(), Some((-2, MemState::Error)));
    assert_eq!(ram.view_state(-2, 0x16).unwrap(), Some((9, MemState::Error)));
    assert_eq!(ram.view_state(-2, 0x10).unwrap(), None, "nothing at -2 nor at 9");
    assert_eq!(
        ram.view_most_recent_state(-2, 0x10).unwrap(),
        Some((5, MemState::Known))
    );
    assert_eq!(
        ram.view_most_recent_state(-2, 0x13).unwrap(),
        Some((-2, MemState::Error))
    );
    assert_eq!(
        ram.view_most_recent_state(-2, 0x11).unwrap(),
        Some((5, MemState::Known))
    );
    assert_eq!(ram.view_most_recent_state(-2, 0x18).unwrap(), None);
    let runs = ram
        .view_most_recent_states(-2, AddressRange::new(0x10, 0x19).unwrap())
        .unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| (r.range.min(), r.range.max(), r.snap, r.state))
            .collect::<Vec<_>>(),
        vec![
            (0x10, 0x11, 5, MemState::Known),
            (0x12, 0x12, 8, MemState::Known),
            (0x13, 0x13, -2, MemState::Error),
            (0x14, 0x15, -2, MemState::Known),
            (0x16, 0x17, 9, MemState::Error),
        ]
    );
    // Without a fork, a view read is a plain read.
    let mut at_9 = [b'.'; 10];
    let mut view_9 = [b'.'; 10];
    assert_eq!(
        ram.get_bytes_with_sources(9, 0x10, &mut at_9).unwrap(),
        ram.view_bytes_with_sources(9, 0x10, &mut view_9).unwrap()
    );
    assert_eq!(at_9, view_9);
    assert_eq!(ram.view_bytes(9, 0x10, &mut view_9).unwrap(), 8);
}

/// W2 (WORKLOADS.md) recorded into `db`; returns `pc` and `sp` as W2
/// generated them at snap 100.
fn record_w2(db: &Database) -> (u64, u64) {
    let mut txn = db.begin_write().unwrap();
    let mut regs_at_100 = (0, 0);
    w2(W2Config::SMALL, |write| match write {
        W2Write::Put {
            space,
            snap,
            address,
            data,
        } => {
            if space == "regs" && snap == 100 {
                let value = u64::from_le_bytes(data.as_slice().try_into().unwrap());
                if address == 0 {
                    regs_at_100.0 = value;
                } else {
                    regs_at_100.1 = value;
                }
            }
            txn.create_space(space)
                .unwrap()
                .put_bytes(snap, address, &data)
                .unwrap();
        }
        W2Write::Error { snap, address, len } => {
            let range = AddressRange::from_start_len(address, len).unwrap();
            txn.create_space("ram")
                .unwrap()
                .set_state(snap, range, MemState::Error)
                .unwrap();
        }
    });
    txn.commit().unwrap();
    regs_at_100
}

#[test]
fn emulator_scratch_snap_forked_from_snap_100_on_w2() {
    let (_dir, db) = db();
    let (pc, sp) = record_w2(&db);
    let scratch: Snap = -1;
    let patch = *b"EMULATED";
    let mut txn = db.begin_write().unwrap();
    fork(&mut txn, scratch, 100);
    // The emulator steps once: pc moves on, and it stores 8 bytes on the stack
    // and 4 in the heap.
    txn.space("regs")
        .unwrap()
        .put_bytes(scratch, 0, &(pc + 4).to_le_bytes())
        .unwrap();
    let mut ram = txn.space("ram").unwrap();
    ram.put_bytes(scratch, sp, &patch).unwrap();
    ram.put_bytes(scratch, W2_HEAP + 0x10, b"heap").unwrap();
    drop(ram);
    // Another what-if, from snap 1000 (which failed to read the unmapped page).
    fork(&mut txn, -5, 1000);
    txn.space("ram").unwrap().put_bytes(-5, W2_IMAGE, b"other").unwrap();
    txn.commit().unwrap();

    let read = db.begin_read().unwrap();
    assert_eq!(read.viewport(scratch).unwrap(), vec![span(-1, -1), span(0, 100)]);
    let ram = read.space("ram").unwrap();
    let regs = read.space("regs").unwrap();

    // Registers: the scratch pc over snap 100's sp.
    let mut view = [0u8; 16];
    assert_eq!(regs.view_bytes(scratch, 0, &mut view).unwrap(), 16);
    assert_eq!(view[..8], (pc + 4).to_le_bytes());
    assert_eq!(view[8..], sp.to_le_bytes());
    let mut plain = [0u8; 16];
    assert_eq!(
        regs.get_bytes(scratch, 0, &mut plain).unwrap(),
        8,
        "plain reads: scratch data only"
    );

    // The stack around sp: the scratch bytes over snap 100's.
    let start = sp - 24;
    let mut at_100 = vec![0u8; 64];
    ram.get_bytes(100, start, &mut at_100).unwrap();
    let mut viewed = vec![0u8; 64];
    let sources = ram.view_bytes_with_sources(scratch, start, &mut viewed).unwrap();
    let mut expected = at_100.clone();
    expected[24..32].copy_from_slice(&patch);
    assert_eq!(viewed, expected);
    let from_scratch: Vec<_> = sources.iter().filter(|r| r.snap == scratch).collect();
    assert_eq!(from_scratch.len(), 1);
    assert_eq!(from_scratch[0].range, AddressRange::new(sp, sp + 7).unwrap());
    assert!(sources.iter().all(|r| r.snap == scratch || (0..=100).contains(&r.snap)));
    // Snap 100 itself never sees the what-if.
    let mut again = vec![0u8; 64];
    ram.get_bytes(100, start, &mut again).unwrap();
    assert_eq!(again, at_100);
    assert_ne!(at_100[24..32], patch);

    // A 64 KiB stretch of the image and heap: snap 100's bytes, but the patch.
    for base in [W2_IMAGE, W2_HEAP] {
        let mut want = vec![0u8; 65536];
        let filled = ram.get_bytes(100, base, &mut want).unwrap();
        let mut got = vec![0u8; 65536];
        let viewed = ram.view_bytes(scratch, base, &mut got).unwrap();
        if base == W2_HEAP {
            want[0x10..0x14].copy_from_slice(b"heap");
            assert!(viewed >= filled);
        } else {
            assert_eq!(viewed, filled);
        }
        assert_eq!(got, want, "at {base:#x}");
        // Plain reads at the scratch snap see only scratch data: here the
        // other what-if's bytes (scratch snaps are not isolated, M2), never
        // the timeline's.
        let mut plain = vec![0u8; 65536];
        let filled = ram.get_bytes(scratch, base, &mut plain).unwrap();
        assert_eq!(filled, if base == W2_HEAP { 4 } else { 5 });
    }
    // The view of -1 is isolated from the other what-if.
    let mut image = [0u8; 5];
    ram.view_bytes(scratch, W2_IMAGE, &mut image).unwrap();
    assert_ne!(&image, b"other");
    ram.view_bytes(-5, W2_IMAGE, &mut image).unwrap();
    assert_eq!(&image, b"other");

    // The failed read of snap 1000 is the state of the what-if forked there.
    assert_eq!(ram.view_state(-5, W2_UNMAPPED).unwrap(), Some((1000, MemState::Error)));
    assert_eq!(
        ram.view_most_recent_state(-5, W2_UNMAPPED).unwrap(),
        Some((1000, MemState::Error))
    );
    assert_eq!(ram.view_state(scratch, W2_UNMAPPED).unwrap(), None);
    assert_eq!(ram.view_most_recent_state(scratch, W2_UNMAPPED).unwrap(), None);
    assert_eq!(ram.state(-5, W2_UNMAPPED).unwrap(), MemState::Unknown);
}

/// Viewports of a file written before the fork index equal those of the
/// index: read by scanning the snap metadata, and after the first write of
/// snap metadata (which builds the index) and after a pack, from it.
#[test]
fn a_file_without_the_fork_index_answers_alike_and_gains_it() {
    let (dir, db) = db();
    let path = dir.path().join("views.tmdb");
    let mut txn = db.begin_write().unwrap();
    for snap in 0..2000 {
        let meta = SnapMeta {
            description: format!("snap {snap}"),
            // Forks every 97 snaps; a notational one (from snap - 1) every 13.
            fork_of: match snap {
                s if s % 97 == 5 => Some(s / 3),
                s if s % 13 == 0 && s > 0 => Some(s - 1),
                _ => None,
            },
            ..SnapMeta::default()
        };
        txn.set_snap_meta(snap, &meta).unwrap();
    }
    fork(&mut txn, -7, 1500);
    txn.commit().unwrap();
    let probes = [0, 5, 102, 1000, 1499, 1999, 5000, -7, -8];
    let viewports = |db: &Database| -> Vec<Vec<Lifespan>> {
        let read = db.begin_read().unwrap();
        probes.iter().map(|&s| read.viewport(s).unwrap()).collect()
    };
    let indexed = viewports(&db);
    assert!(indexed[3].len() > 2, "a chain of forks: {:?}", indexed[3]);
    db.close().unwrap();

    // As a file written before the index has it: no snap_forks table.
    let drop_index = || {
        let raw = redb::Database::open(&path).unwrap();
        let txn = raw.begin_write().unwrap();
        assert!(
            txn.delete_table(redb::TableDefinition::<i64, i64>::new("snap_forks"))
                .unwrap()
        );
        txn.commit().unwrap();
    };
    drop_index();
    let db = Database::open(&path).unwrap();
    assert_eq!(viewports(&db), indexed, "scanned");
    assert!(db.check().unwrap().problems.is_empty());
    db.close().unwrap();
    tracemem::pack(&path, &mut |_| {}).unwrap();
    let db = Database::open(&path).unwrap();
    assert_eq!(viewports(&db), indexed, "from the index pack built");
    assert!(db.check().unwrap().problems.is_empty());
    db.close().unwrap();
    drop_index();
    let db = Database::open(&path).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.set_snap_meta(3000, &SnapMeta::default()).unwrap();
    txn.commit().unwrap();
    assert_eq!(viewports(&db), indexed, "from the index built on the first write");
    assert!(db.check().unwrap().problems.is_empty());
}
