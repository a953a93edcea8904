//! Random sequences of every memory operation, with commits, aborts and
//! reopens, checked answer by answer against the in-memory model.
//!
//! `PROPTEST_CASES` sets the number of sequences per test (default 128).

use std::collections::BTreeMap;

use proptest::prelude::*;
use tracemem::{AddressRange, Database, Direction, Lifespan, MemState, MemoryRead, Snap, StatePredicate};

use crate::model::ModelSpace;

const BLOCK: u64 = 256;
const SPACES: [&str; 2] = ["ram", "regs"];

#[derive(Clone, Debug)]
enum Op {
    Put {
        space: usize,
        snap: Snap,
        addr: u64,
        data: Vec<u8>,
    },
    Error {
        space: usize,
        snap: Snap,
        addr: u64,
        len: u64,
    },
    Remove {
        space: usize,
        snap: Snap,
        addr: u64,
        len: u64,
    },
    /// Remove (0), ERROR (1) or rewrite (2) the snap and range of an earlier
    /// `Put`, chosen by index: collisions the random ops rarely make.
    Revisit {
        index: usize,
        kind: u8,
        value: u8,
    },
    Commit,
    Abort,
    /// Close and open again, packing the file in between if `pack`.
    Reopen {
        pack: bool,
    },
    Query {
        space: usize,
        query: Query,
        committed: bool,
    },
}

#[derive(Clone, Debug)]
enum Query {
    GetBytes {
        snap: Snap,
        addr: u64,
        len: usize,
    },
    State {
        snap: Snap,
        addr: u64,
    },
    States {
        snap: Snap,
        addr: u64,
        len: u64,
    },
    IsKnown {
        snap: Snap,
        addr: u64,
        len: u64,
    },
    WithState {
        lo: Snap,
        hi: Snap,
        predicate: StatePredicate,
    },
    MostRecent {
        snap: Snap,
        addr: u64,
    },
    MostRecentStates {
        snap: Snap,
        addr: u64,
        len: u64,
    },
    LastChange {
        snap: Snap,
        addr: u64,
    },
    Changes {
        from: Snap,
        to: Snap,
    },
    Diff {
        a: Snap,
        b: Snap,
        addr: u64,
        len: Option<u64>,
    },
    /// `find_bytes` of a pattern read from memory at `source` (where known;
    /// `pattern`'s bytes elsewhere), under `mask`, within `[addr, addr + len
    /// - 1]` (or the whole space).
    Find {
        snap: Snap,
        addr: u64,
        len: Option<u64>,
        source: u64,
        pattern: Vec<u8>,
        mask: Option<Vec<u8>>,
        backward: bool,
    },
}

/// Snaps: mostly a small window of the timeline and of the scratch snaps,
/// so that histories overlap; sometimes the extremes.
fn snap() -> impl Strategy<Value = Snap> {
    prop_oneof![
        10 => 0i64..8,
        3 => 8i64..40,
        4 => -4i64..0,
        1 => Just(Snap::MIN),
        1 => Just(Snap::MAX),
    ]
}

/// Addresses near zero, across a block boundary, and at the top of the space.
fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..24,
        2 => (3 * BLOCK - 24)..(3 * BLOCK + 24),
        2 => (u64::MAX - 40)..=u64::MAX,
    ]
}

fn len() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 1u64..12, 1 => 12u64..40]
}

/// A range that starts at `addr` and is clipped at the end of the space.
fn clip(addr: u64, len: u64) -> AddressRange {
    AddressRange::new(addr, addr.saturating_add(len - 1)).unwrap()
}

fn predicate() -> impl Strategy<Value = StatePredicate> {
    prop_oneof![
        Just(StatePredicate::IsKnown),
        Just(StatePredicate::IsError),
        Just(StatePredicate::IsKnownOrError)
    ]
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        (snap(), addr(), 1usize..48).prop_map(|(snap, addr, len)| Query::GetBytes { snap, addr, len }),
        (snap(), addr()).prop_map(|(snap, addr)| Query::State { snap, addr }),
        (snap(), addr(), len()).prop_map(|(snap, addr, len)| Query::States { snap, addr, len }),
        (snap(), addr(), len()).prop_map(|(snap, addr, len)| Query::IsKnown { snap, addr, len }),
        (snap(), snap(), predicate()).prop_map(|(a, b, predicate)| Query::WithState {
            lo: a.min(b),
            hi: a.max(b),
            predicate
        }),
        (snap(), addr()).prop_map(|(snap, addr)| Query::MostRecent { snap, addr }),
        (snap(), addr(), len()).prop_map(|(snap, addr, len)| Query::MostRecentStates { snap, addr, len }),
        (snap(), addr()).prop_map(|(snap, addr)| Query::LastChange { snap, addr }),
        (snap(), snap()).prop_map(|(from, to)| Query::Changes { from, to }),
        find(),
        (
            snap(),
            snap(),
            addr(),
            prop_oneof![3 => (1u64..700).prop_map(Some), 1 => Just(None)]
        )
            .prop_map(|(a, b, addr, len)| Query::Diff { a, b, addr, len }),
    ]
}

/// Masks of every kind: none, exact, wildcards, partial bits, all zero.
fn mask(len: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    let byte = prop_oneof![4 => Just(0xffu8), 2 => Just(0u8), 1 => Just(0x0fu8), 1 => any::<u8>()];
    prop_oneof![
        2 => Just(None),
        3 => prop::collection::vec(byte, len).prop_map(Some),
        1 => Just(Some(vec![0; len])),
    ]
}

fn find() -> impl Strategy<Value = Query> {
    (1usize..7)
        .prop_flat_map(|n| (prop::collection::vec(any::<u8>(), n), mask(n)))
        .prop_flat_map(|(pattern, mask)| {
            (
                snap(),
                addr(),
                prop_oneof![4 => (1u64..700).prop_map(Some), 1 => Just(None)],
                addr(),
                Just(pattern),
                Just(mask),
                any::<bool>(),
            )
        })
        .prop_map(|(snap, addr, len, source, pattern, mask, backward)| Query::Find {
            snap,
            addr,
            len,
            source,
            pattern,
            mask,
            backward,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let space = 0usize..SPACES.len();
    prop_oneof![
        10 => (space.clone(), snap(), addr(), prop::collection::vec(any::<u8>(), 1..24))
            .prop_map(|(space, snap, addr, data)| Op::Put { space, snap, addr, data }),
        3 => (space.clone(), snap(), addr(), len()).prop_map(|(space, snap, addr, len)| Op::Error { space, snap, addr, len }),
        3 => (space.clone(), snap(), addr(), len()).prop_map(|(space, snap, addr, len)| Op::Remove { space, snap, addr, len }),
        4 => (any::<usize>(), 0u8..3, any::<u8>()).prop_map(|(index, kind, value)| Op::Revisit { index, kind, value }),
        1 => Just(Op::Commit),
        1 => Just(Op::Abort),
        1 => any::<bool>().prop_map(|pack| Op::Reopen { pack }),
        8 => (space, query(), any::<bool>()).prop_map(|(space, query, committed)| Op::Query { space, query, committed }),
    ]
}

type Model = BTreeMap<usize, ModelSpace>;

fn check(space: &dyn MemoryRead, model: &ModelSpace, query: &Query) -> Result<(), TestCaseError> {
    match *query {
        Query::GetBytes { snap, addr, len } => {
            let len = (len as u128).min(u128::from(u64::MAX - addr) + 1) as usize;
            let mut got = vec![0x5a; len];
            let mut want = vec![0x5a; len];
            prop_assert_eq!(
                space.get_bytes(snap, addr, &mut got).unwrap(),
                model.get_bytes(snap, addr, &mut want),
                "get_bytes at snap {} of {} bytes at {:#x}: {:?} want {:?}",
                snap,
                len,
                addr,
                got,
                want
            );
            prop_assert_eq!(&got, &want);
            let mut got = vec![0x5a; len];
            let mut want = vec![0x5a; len];
            prop_assert_eq!(
                space.get_bytes_with_sources(snap, addr, &mut got).unwrap(),
                model.get_bytes_with_sources(snap, addr, &mut want)
            );
            prop_assert_eq!(got, want);
        }
        Query::State { snap, addr } => {
            prop_assert_eq!(space.state(snap, addr).unwrap(), model.state(snap, addr));
        }
        Query::States { snap, addr, len } => {
            let range = clip(addr, len);
            prop_assert_eq!(space.states(snap, range).unwrap(), model.states(snap, range));
        }
        Query::IsKnown { snap, addr, len } => {
            let range = clip(addr, len);
            prop_assert_eq!(space.is_known(snap, range).unwrap(), model.is_known(snap, range));
        }
        Query::WithState { lo, hi, predicate } => {
            let lifespan = Lifespan::new(lo, hi).unwrap();
            prop_assert_eq!(
                space.addresses_with_state(lifespan, predicate).unwrap(),
                model.addresses_with_state(lifespan, predicate)
            );
        }
        Query::MostRecent { snap, addr } => {
            prop_assert_eq!(
                space.most_recent_state(snap, addr).unwrap(),
                model.most_recent_state(snap, addr)
            );
        }
        Query::MostRecentStates { snap, addr, len } => {
            let range = clip(addr, len);
            prop_assert_eq!(
                space.most_recent_states(snap, range).unwrap(),
                model.most_recent_states(snap, range)
            );
        }
        Query::LastChange { snap, addr } => {
            prop_assert_eq!(
                space.snap_of_most_recent_change_to_block(snap, addr).unwrap(),
                model.last_change_to_block(snap, addr, BLOCK)
            );
        }
        Query::Changes { from, to } => {
            prop_assert_eq!(space.changes(from, to).unwrap(), model.changes(from, to));
        }
        Query::Diff { a, b, addr, len } => {
            let range = match len {
                Some(len) => clip(addr, len),
                None => AddressRange::new(0, u64::MAX).unwrap(),
            };
            prop_assert_eq!(space.diff(a, b, range).unwrap(), model.diff(a, b, range));
        }
        Query::Find {
            snap,
            addr,
            len,
            source,
            ref pattern,
            ref mask,
            backward,
        } => {
            let range = match len {
                Some(len) => clip(addr, len),
                None => AddressRange::new(0, u64::MAX).unwrap(),
            };
            let mut pattern = pattern.clone();
            let n = (pattern.len() as u128).min(u128::from(u64::MAX - source) + 1) as usize;
            model.get_bytes(snap, source, &mut pattern[..n]);
            let direction = if backward {
                Direction::Backward
            } else {
                Direction::Forward
            };
            prop_assert_eq!(
                space
                    .find_bytes(snap, range, &pattern, mask.as_deref(), direction)
                    .unwrap(),
                model.find_bytes(snap, range, &pattern, mask.as_deref(), backward),
                "find {:x?} mask {:x?} in {} at snap {}",
                pattern,
                mask,
                range,
                snap
            );
        }
    }
    Ok(())
}

/// Compares bytes, sources and most recent states of every region at many
/// snaps: what random point queries may miss.
fn sweep(db: &Database, model: &Model) -> Result<(), TestCaseError> {
    let read = db.begin_read().unwrap();
    let empty = ModelSpace::default();
    let snaps = (-6..=13).chain([39, Snap::MIN, Snap::MAX]);
    for (index, name) in SPACES.iter().enumerate() {
        let space = match read.space(name) {
            Ok(space) => space,
            Err(_) => {
                prop_assert!(model.get(&index).is_none_or(|m| m.bytes.is_empty()));
                continue;
            }
        };
        let m = model.get(&index).unwrap_or(&empty);
        for snap in snaps.clone() {
            // Reads of many granules go through a cursor over the chunks
            // rather than a seek per granule.
            for (addr, len) in [
                (0u64, 4 * BLOCK as usize),
                (u64::MAX - 5 * BLOCK + 1, 5 * BLOCK as usize),
                (100, 5 * BLOCK as usize),
            ] {
                check(&space, m, &Query::GetBytes { snap, addr, len })?;
            }
            for (addr, len) in [(0u64, 48usize), (3 * BLOCK - 24, 48), (u64::MAX - 40, 41)] {
                check(&space, m, &Query::GetBytes { snap, addr, len })?;
                check(
                    &space,
                    m,
                    &Query::MostRecentStates {
                        snap,
                        addr,
                        len: len as u64,
                    },
                )?;
                check(
                    &space,
                    m,
                    &Query::States {
                        snap,
                        addr,
                        len: len as u64,
                    },
                )?;
            }
        }
    }
    // The same transaction again, snaps in the other order: large reads
    // and searches now also meet the granule images it kept, each valid
    // over some snaps only.
    for (index, name) in SPACES.iter().enumerate() {
        let Ok(space) = read.space(name) else { continue };
        let m = model.get(&index).unwrap_or(&empty);
        for snap in snaps.clone().rev() {
            check(
                &space,
                m,
                &Query::GetBytes {
                    snap,
                    addr: 0,
                    len: 6 * BLOCK as usize,
                },
            )?;
            check(
                &space,
                m,
                &Query::GetBytes {
                    snap,
                    addr: 20,
                    len: 5 * BLOCK as usize,
                },
            )?;
            for (source, backward) in [(3, false), (3 * BLOCK - 4, true), (u64::MAX - 6, false), (10, true)] {
                check(
                    &space,
                    m,
                    &Query::Find {
                        snap,
                        addr: 0,
                        len: None,
                        source,
                        pattern: vec![0xa5; 3],
                        mask: backward.then(|| vec![0xff, 0x0f, 0xff]),
                        backward,
                    },
                )?;
            }
        }
    }
    Ok(())
}

fn open(path: &std::path::Path, create: bool, chunk_deltas: usize) -> Database {
    let mut builder = Database::builder();
    builder.block_size(BLOCK).max_chunk_deltas(chunk_deltas);
    if create {
        builder.create(path)
    } else {
        builder.open(path)
    }
    .unwrap()
}

fn run(ops: Vec<Op>, chunk_deltas: usize) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prop.tmdb");
    let mut db = Some(open(&path, true, chunk_deltas));
    let mut committed: Model = BTreeMap::new();
    let mut current: Model = BTreeMap::new();
    let mut txn = None;
    let mut puts: Vec<(usize, Snap, u64, usize)> = Vec::new();
    for op in ops {
        let op = match op {
            Op::Revisit { index, kind, value } if !puts.is_empty() => {
                let (space, snap, addr, len) = puts[index % puts.len()];
                match kind {
                    0 => Op::Remove {
                        space,
                        snap,
                        addr,
                        len: len as u64,
                    },
                    1 => Op::Error {
                        space,
                        snap,
                        addr,
                        len: len as u64,
                    },
                    _ => Op::Put {
                        space,
                        snap,
                        addr,
                        data: vec![value; len],
                    },
                }
            }
            Op::Revisit { .. } => continue,
            op => op,
        };
        if txn.is_none() && !matches!(op, Op::Reopen { .. }) {
            txn = Some(db.as_ref().unwrap().begin_write().unwrap());
        }
        match op {
            Op::Put {
                space,
                snap,
                addr,
                data,
            } => {
                puts.push((space, snap, addr, data.len()));
                let t = txn.as_mut().unwrap();
                let written = t
                    .create_space(SPACES[space])
                    .unwrap()
                    .put_bytes(snap, addr, &data)
                    .unwrap();
                prop_assert_eq!(written, current.entry(space).or_default().put_bytes(snap, addr, &data));
            }
            Op::Error { space, snap, addr, len } => {
                let range = clip(addr, len);
                let t = txn.as_mut().unwrap();
                t.create_space(SPACES[space])
                    .unwrap()
                    .set_state(snap, range, MemState::Error)
                    .unwrap();
                current.entry(space).or_default().set_error(snap, range);
            }
            Op::Remove { space, snap, addr, len } => {
                let t = txn.as_mut().unwrap();
                t.create_space(SPACES[space])
                    .unwrap()
                    .remove_bytes(snap, addr, len)
                    .unwrap();
                current.entry(space).or_default().remove_bytes(snap, addr, len);
            }
            Op::Revisit { .. } => unreachable!("resolved above"),
            Op::Commit => {
                txn.take().unwrap().commit().unwrap();
                committed = current.clone();
            }
            Op::Abort => {
                txn.take().unwrap().abort().unwrap();
                current = committed.clone();
            }
            Op::Reopen { pack } => {
                // An uncommitted transaction dies with the process.
                drop(txn.take());
                current = committed.clone();
                drop(db.take());
                if pack {
                    // Pack changes no answer: the sweep and every later
                    // query run against the packed file.
                    tracemem::pack(&path, &mut |_| {}).unwrap();
                }
                db = Some(open(&path, false, chunk_deltas));
                sweep(db.as_ref().unwrap(), &committed)?;
            }
            Op::Query {
                space,
                query,
                committed: use_read,
            } => {
                let empty = ModelSpace::default();
                if use_read {
                    let read = db.as_ref().unwrap().begin_read().unwrap();
                    let model = committed.get(&space).unwrap_or(&empty);
                    match read.space(SPACES[space]) {
                        Ok(s) => check(&s, model, &query)?,
                        Err(tracemem::Error::UnknownSpace { .. }) => prop_assert!(model.bytes.is_empty()),
                        Err(e) => return Err(TestCaseError::fail(e.to_string())),
                    }
                } else {
                    let t = txn.as_mut().unwrap();
                    let s = t.create_space(SPACES[space]).unwrap();
                    check(&s, current.get(&space).unwrap_or(&empty), &query)?;
                }
            }
        }
    }
    if let Some(t) = txn.take() {
        t.commit().unwrap();
        committed = current;
    }
    sweep(db.as_ref().unwrap(), &committed)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Small chunks (3 deltas): histories span many chunks, so writes into the
    /// past patch checkpoints and removals empty chunks.
    #[test]
    fn memory_matches_model_with_small_chunks(ops in prop::collection::vec(op(), 1..200)) {
        run(ops, 3)?;
    }

    /// The default chunk bound.
    #[test]
    fn memory_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        run(ops, 256)?;
    }
}

/// Found by `memory_matches_model_with_small_chunks` in a CI run: after a
/// pack left a chunk of 7 deltas, removing the only KNOWN record of a byte
/// split that oversized chunk before patching later checkpoints; the split
/// half, already showing the removal, stopped the patching, and the last
/// chunk (an ERROR at the last snap) kept showing the removed byte. Fixed
/// by splitting after the patching (`WriteStore::apply_edit`).
#[test]
fn a_removal_that_splits_a_packed_chunk_patches_every_later_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.tmdb");
    let db = open(&path, true, 3);
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    ram.set_state(Snap::MAX, AddressRange::new(0, 0).unwrap(), MemState::Error)
        .unwrap();
    ram.put_bytes(0, 0, &[7, 7]).unwrap();
    for snap in [1, 2, 3, 4, 8, 11] {
        ram.put_bytes(snap, 1, &[snap as u8]).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    tracemem::pack(&path, &mut |_| {}).unwrap();
    let db = open(&path, false, 3);
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.space("ram").unwrap();
    ram.remove_bytes(0, 0, 1).unwrap();
    let mut buf = [0x5a; 2];
    assert_eq!(ram.get_bytes(Snap::MAX, 0, &mut buf).unwrap(), 1, "{buf:?}");
    assert_eq!(buf, [0x5a, 11]);
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    let mut buf = [0x5a; 2];
    assert_eq!(read.space("ram").unwrap().get_bytes(Snap::MAX, 0, &mut buf).unwrap(), 1);
    assert!(db.check().unwrap().problems.is_empty());
}
