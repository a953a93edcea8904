//! Operation sequences against the in-memory model: every memory operation,
//! commits, aborts and reopens, on a database in memory; every answer is
//! compared with the model's, and every reopen sweeps and checks the file.

use std::collections::BTreeMap;

use super::backend::MemStorage;
use super::model::ModelSpace;
use arbitrary::{Arbitrary, Unstructured};
use tracemem::{
    AddressRange, Database, DatabaseBuilder, Direction, Lifespan, MemState, MemoryRead, Snap, StatePredicate,
};

const BLOCK: u64 = 256;
const SPACES: [&str; 2] = ["ram", "regs"];
/// Operations per input, so that each input runs in milliseconds.
const MAX_OPS: usize = 96;

/// A snap: mostly a small window of the timeline and of the scratch snaps,
/// so that histories collide; sometimes the extremes.
#[derive(Clone, Copy, Debug)]
struct S(Snap);

impl<'a> Arbitrary<'a> for S {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let b = u8::arbitrary(u)?;
        let v = i64::from(b >> 4);
        Ok(S(match b & 15 {
            0..=8 => v % 8,
            9..=11 => 8 + v * 2,
            12 | 13 => -1 - v % 4,
            14 => Snap::MIN + v % 2,
            _ => Snap::MAX - v % 2,
        }))
    }
}

/// An address near zero, across a block boundary, or at the top of the space.
#[derive(Clone, Copy, Debug)]
struct A(u64);

impl<'a> Arbitrary<'a> for A {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let v = u64::from(u16::arbitrary(u)?);
        Ok(A(match v % 10 {
            0..=5 => (v / 10) % 24,
            6 | 7 => 3 * BLOCK - 24 + (v / 10) % 48,
            _ => u64::MAX - (v / 10) % 41,
        }))
    }
}

/// A length of 1 to 40 bytes.
#[derive(Clone, Copy, Debug)]
struct L(u64);

impl<'a> Arbitrary<'a> for L {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(L(1 + u64::from(u8::arbitrary(u)?) % 40))
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Put {
        space: bool,
        snap: S,
        addr: A,
        data: Vec<u8>,
    },
    /// ERROR (0), UNKNOWN (1, a removal) or KNOWN (2, refused).
    SetState {
        space: bool,
        snap: S,
        addr: A,
        len: L,
        kind: u8,
    },
    Remove {
        space: bool,
        snap: S,
        addr: A,
        len: L,
    },
    Commit,
    Abort,
    Reopen,
    Query {
        space: bool,
        committed: bool,
        query: Query,
    },
}

#[derive(Arbitrary, Debug)]
enum Query {
    GetBytes {
        snap: S,
        addr: A,
        len: u16,
    },
    State {
        snap: S,
        addr: A,
    },
    States {
        snap: S,
        addr: A,
        len: L,
    },
    IsKnown {
        snap: S,
        addr: A,
        len: L,
    },
    WithState {
        a: S,
        b: S,
        predicate: u8,
    },
    MostRecent {
        snap: S,
        addr: A,
    },
    MostRecentStates {
        snap: S,
        addr: A,
        len: L,
    },
    LastChange {
        snap: S,
        addr: A,
    },
    Changes {
        from: S,
        to: S,
    },
    Diff {
        a: S,
        b: S,
        addr: A,
        len: Option<u16>,
    },
    Find {
        snap: S,
        addr: A,
        len: Option<u16>,
        source: A,
        pattern: Vec<u8>,
        mask: Option<Vec<u8>>,
        backward: bool,
    },
}

/// A fuzz input: the chunk bound and the operations.
#[derive(Arbitrary, Debug)]
pub struct Input {
    chunk_deltas: u8,
    ops: Vec<Op>,
}

/// A range from `addr`, clipped at the end of the address space.
fn clip(addr: u64, len: u64) -> AddressRange {
    AddressRange::new(addr, addr.saturating_add(len - 1)).unwrap()
}

fn check(space: &dyn MemoryRead, model: &ModelSpace, query: &Query) {
    match *query {
        Query::GetBytes {
            snap: S(snap),
            addr: A(addr),
            len,
        } => {
            let len = usize::from(len % 600) + 1;
            let len = (len as u128).min(u128::from(u64::MAX - addr) + 1) as usize;
            let (mut got, mut want) = (vec![0x5a; len], vec![0x5a; len]);
            assert_eq!(
                space.get_bytes(snap, addr, &mut got).unwrap(),
                model.get_bytes(snap, addr, &mut want)
            );
            assert_eq!(got, want);
            let (mut got, mut want) = (vec![0xa5; len], vec![0xa5; len]);
            assert_eq!(
                space.get_bytes_with_sources(snap, addr, &mut got).unwrap(),
                model.get_bytes_with_sources(snap, addr, &mut want)
            );
            assert_eq!(got, want);
        }
        Query::State {
            snap: S(snap),
            addr: A(addr),
        } => {
            assert_eq!(space.state(snap, addr).unwrap(), model.state(snap, addr));
        }
        Query::States {
            snap: S(snap),
            addr: A(addr),
            len: L(len),
        } => {
            let range = clip(addr, len);
            assert_eq!(space.states(snap, range).unwrap(), model.states(snap, range));
        }
        Query::IsKnown {
            snap: S(snap),
            addr: A(addr),
            len: L(len),
        } => {
            let range = clip(addr, len);
            assert_eq!(space.is_known(snap, range).unwrap(), model.is_known(snap, range));
        }
        Query::WithState {
            a: S(a),
            b: S(b),
            predicate,
        } => {
            let lifespan = Lifespan::new(a.min(b), a.max(b)).unwrap();
            let predicate = match predicate % 3 {
                0 => StatePredicate::IsKnown,
                1 => StatePredicate::IsError,
                _ => StatePredicate::IsKnownOrError,
            };
            assert_eq!(
                space.addresses_with_state(lifespan, predicate).unwrap(),
                model.addresses_with_state(lifespan, predicate)
            );
        }
        Query::MostRecent {
            snap: S(snap),
            addr: A(addr),
        } => {
            assert_eq!(
                space.most_recent_state(snap, addr).unwrap(),
                model.most_recent_state(snap, addr)
            );
        }
        Query::MostRecentStates {
            snap: S(snap),
            addr: A(addr),
            len: L(len),
        } => {
            let range = clip(addr, len);
            assert_eq!(
                space.most_recent_states(snap, range).unwrap(),
                model.most_recent_states(snap, range)
            );
        }
        Query::LastChange {
            snap: S(snap),
            addr: A(addr),
        } => {
            assert_eq!(
                space.snap_of_most_recent_change_to_block(snap, addr).unwrap(),
                model.last_change_to_block(snap, addr, BLOCK)
            );
        }
        Query::Changes {
            from: S(from),
            to: S(to),
        } => {
            assert_eq!(space.changes(from, to).unwrap(), model.changes(from, to));
        }
        Query::Diff {
            a: S(a),
            b: S(b),
            addr: A(addr),
            len,
        } => {
            let range = match len {
                Some(len) => clip(addr, u64::from(len % 700) + 1),
                None => AddressRange::new(0, u64::MAX).unwrap(),
            };
            assert_eq!(space.diff(a, b, range).unwrap(), model.diff(a, b, range));
        }
        Query::Find {
            snap: S(snap),
            addr: A(addr),
            len,
            source: A(source),
            ref pattern,
            ref mask,
            backward,
        } => {
            let range = match len {
                Some(len) => clip(addr, u64::from(len % 700) + 1),
                None => AddressRange::new(0, u64::MAX).unwrap(),
            };
            // A pattern of 1 to 6 bytes, mostly read from memory so that
            // it matches somewhere.
            let mut pattern = pattern.clone();
            pattern.resize(pattern.len().clamp(1, 6), 0);
            let n = (pattern.len() as u128).min(u128::from(u64::MAX - source) + 1) as usize;
            model.get_bytes(snap, source, &mut pattern[..n]);
            let direction = if backward {
                Direction::Backward
            } else {
                Direction::Forward
            };
            let got = space.find_bytes(snap, range, &pattern, mask.as_deref(), direction);
            match mask {
                Some(m) if m.len() != pattern.len() => {
                    assert!(matches!(got, Err(tracemem::Error::MaskLength { .. })), "{got:?}");
                }
                _ => assert_eq!(
                    got.unwrap(),
                    model.find_bytes(snap, range, &pattern, mask.as_deref(), backward),
                    "find {pattern:x?} mask {mask:x?} in {range} at snap {snap}"
                ),
            }
        }
    }
}

type Model = BTreeMap<usize, ModelSpace>;

fn builder(chunk_deltas: usize) -> DatabaseBuilder {
    let mut builder = Database::builder();
    builder.block_size(BLOCK).max_chunk_deltas(chunk_deltas);
    builder
}

/// Bytes and most recent states of every written region at many snaps.
fn sweep(db: &Database, model: &Model) {
    let read = db.begin_read().unwrap();
    let empty = ModelSpace::default();
    for (index, name) in SPACES.iter().enumerate() {
        let m = model.get(&index).unwrap_or(&empty);
        let space = match read.space(name) {
            Ok(space) => space,
            Err(tracemem::Error::UnknownSpace { .. }) => {
                assert!(m.bytes.is_empty());
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        for snap in (-5..=12).chain([24, Snap::MIN, Snap::MAX]) {
            for (addr, len) in [(0u64, 48u16), (3 * BLOCK - 24, 48), (u64::MAX - 40, 41)] {
                check(
                    &space,
                    m,
                    &Query::GetBytes {
                        snap: S(snap),
                        addr: A(addr),
                        len: len - 1,
                    },
                );
                check(
                    &space,
                    m,
                    &Query::MostRecentStates {
                        snap: S(snap),
                        addr: A(addr),
                        len: L(u64::from(len)),
                    },
                );
            }
        }
    }
    // The same transaction again, snaps in the other order: large reads and
    // searches now also meet the granule images it kept.
    for (index, name) in SPACES.iter().enumerate() {
        let Ok(space) = read.space(name) else { continue };
        let m = model.get(&index).unwrap_or(&empty);
        for snap in (-5..=12).chain([24, Snap::MIN, Snap::MAX]).rev() {
            for (addr, len) in [(0u64, 6 * BLOCK as usize), (20, 5 * BLOCK as usize)] {
                let (mut got, mut want) = (vec![0x5a; len], vec![0x5a; len]);
                assert_eq!(
                    space.get_bytes(snap, addr, &mut got).unwrap(),
                    m.get_bytes(snap, addr, &mut want)
                );
                assert_eq!(got, want, "get_bytes of {len} at {addr:#x}, snap {snap}");
            }
            for (source, backward) in [(3, false), (3 * BLOCK - 4, true), (u64::MAX - 6, false)] {
                check(
                    &space,
                    m,
                    &Query::Find {
                        snap: S(snap),
                        addr: A(0),
                        len: None,
                        source: A(source),
                        pattern: vec![0xa5; 3],
                        mask: backward.then(|| vec![0xff, 0x0f, 0xff]),
                        backward,
                    },
                );
            }
        }
    }
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Runs the operations `data` encodes (see [`Input`]).
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let chunk_deltas = usize::from(input.chunk_deltas % 8) + 1;
    let storage = MemStorage::new();
    let mut db = Some(
        builder(chunk_deltas)
            .create_with_backend(storage.clone(), "fuzz.tmdb")
            .unwrap(),
    );
    let (mut committed, mut current): (Model, Model) = (BTreeMap::new(), BTreeMap::new());
    let mut txn = None;
    for op in input.ops.into_iter().take(MAX_OPS) {
        if txn.is_none() && !matches!(op, Op::Reopen) {
            txn = Some(db.as_ref().unwrap().begin_write().unwrap());
        }
        match op {
            Op::Put {
                space,
                snap: S(snap),
                addr: A(addr),
                mut data,
            } => {
                data.truncate(24);
                let s = usize::from(space);
                let t = txn.as_mut().unwrap();
                let written = t.create_space(SPACES[s]).unwrap().put_bytes(snap, addr, &data).unwrap();
                assert_eq!(written, current.entry(s).or_default().put_bytes(snap, addr, &data));
            }
            Op::SetState {
                space,
                snap: S(snap),
                addr: A(addr),
                len: L(len),
                kind,
            } => {
                let s = usize::from(space);
                let range = clip(addr, len);
                let t = txn.as_mut().unwrap();
                let mut m = t.create_space(SPACES[s]).unwrap();
                match kind % 3 {
                    0 => {
                        m.set_state(snap, range, MemState::Error).unwrap();
                        current.entry(s).or_default().set_error(snap, range);
                    }
                    1 => {
                        m.set_state(snap, range, MemState::Unknown).unwrap();
                        current.entry(s).or_default().remove_bytes(snap, addr, len);
                    }
                    _ => {
                        let e = m.set_state(snap, range, MemState::Known).unwrap_err();
                        assert!(matches!(e, tracemem::Error::KnownNeedsBytes { .. }), "{e}");
                    }
                }
            }
            Op::Remove {
                space,
                snap: S(snap),
                addr: A(addr),
                len: L(len),
            } => {
                let s = usize::from(space);
                let t = txn.as_mut().unwrap();
                t.create_space(SPACES[s])
                    .unwrap()
                    .remove_bytes(snap, addr, len)
                    .unwrap();
                current.entry(s).or_default().remove_bytes(snap, addr, len);
            }
            Op::Commit => {
                txn.take().unwrap().commit().unwrap();
                committed = current.clone();
            }
            Op::Abort => {
                txn.take().unwrap().abort().unwrap();
                current = committed.clone();
            }
            Op::Reopen => {
                drop(txn.take());
                current = committed.clone();
                drop(db.take());
                db = Some(
                    builder(chunk_deltas)
                        .open_with_backend(storage.clone(), "fuzz.tmdb")
                        .unwrap(),
                );
                sweep(db.as_ref().unwrap(), &committed);
            }
            Op::Query {
                space,
                committed: use_read,
                query,
            } => {
                let s = usize::from(space);
                let empty = ModelSpace::default();
                if use_read {
                    let read = db.as_ref().unwrap().begin_read().unwrap();
                    let model = committed.get(&s).unwrap_or(&empty);
                    match read.space(SPACES[s]) {
                        Ok(space) => check(&space, model, &query),
                        Err(tracemem::Error::UnknownSpace { .. }) => assert!(model.bytes.is_empty()),
                        Err(e) => panic!("{e}"),
                    }
                } else {
                    let t = txn.as_mut().unwrap();
                    let space = t.create_space(SPACES[s]).unwrap();
                    check(&space, current.get(&s).unwrap_or(&empty), &query);
                }
            }
        }
    }
    if let Some(t) = txn.take() {
        t.commit().unwrap();
        committed = current;
    }
    sweep(db.as_ref().unwrap(), &committed);
}
