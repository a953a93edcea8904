//! Random sequences of memory writes, forks (M10) and register writes (M11),
//! with commits, aborts and reopens, checked against a small model: view
//! reads through fork chains (cycles included), and register values and
//! states computed bit by bit from the model's bytes.
//!
//! `PROPTEST_CASES` sets the number of sequences per test (default 128).

use std::collections::BTreeMap;

use proptest::prelude::*;
use tracemem::{
    AddressRange, Database, FilledRange, Lifespan, MemState, MemoryView, RegisterDef, RegisterMap, RegisterRead,
    RegisterState, Snap, SnapMeta, SourcedStateRun,
};

use crate::model::{ModelSpace, Rec};

const RAM: &str = "ram";
const THREAD: &str = "1";
const REGS: &str = "regs/1";

/// The register map of the test: halves of a little-endian register, a
/// big-endian register, bit fields crossing bytes in both byte orders.
fn defs() -> Vec<RegisterDef> {
    vec![
        RegisterDef::new("r0", 0, 8),
        RegisterDef::new("r0l", 0, 4).parent("r0"),
        RegisterDef::new("r0h", 4, 4).parent("r0"),
        RegisterDef::new("pc", 8, 8).big_endian(),
        RegisterDef::new("ctx", 16, 4).big_endian(),
        RegisterDef::new("f1", 16, 4).big_endian().parent("ctx").bits(28, 31),
        RegisterDef::new("f2", 16, 4).big_endian().parent("ctx").bits(3, 9),
        RegisterDef::new("flags", 20, 2),
        RegisterDef::new("zf", 20, 2).parent("flags").bits(6, 6),
        RegisterDef::new("mode", 20, 2).parent("flags").bits(7, 11),
        RegisterDef::new("wide", 24, 16),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Put { snap: Snap, addr: u64, data: Vec<u8> },
    Error { snap: Snap, addr: u64, len: u64 },
    Remove { snap: Snap, addr: u64, len: u64 },
    Fork { snap: Snap, parent: Option<Snap> },
    SetReg { snap: Snap, reg: usize, value: u128 },
    RegError { snap: Snap, reg: usize },
    RemoveReg { snap: Snap, reg: usize },
    Commit,
    Abort,
    Reopen,
    Query { query: Query, committed: bool },
}

#[derive(Clone, Debug)]
enum Query {
    Viewport {
        snap: Snap,
    },
    ViewBytes {
        regs: bool,
        snap: Snap,
        addr: u64,
        len: u64,
    },
    ViewStates {
        regs: bool,
        snap: Snap,
        addr: u64,
        len: u64,
    },
    Register {
        snap: Snap,
        reg: usize,
    },
}

fn snap() -> impl Strategy<Value = Snap> {
    prop_oneof![6 => 0i64..12, 4 => -6i64..0, 1 => Just(Snap::MIN)]
}

fn addr() -> impl Strategy<Value = u64> {
    0u64..40
}

fn value() -> impl Strategy<Value = u128> {
    prop_oneof![
        3 => any::<u128>(),
        3 => any::<u8>().prop_map(u128::from),
        2 => any::<u32>().prop_map(u128::from),
        1 => (0u32..128).prop_map(|bit| 1u128 << bit),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    let reg = 0..defs().len();
    prop_oneof![
        snap().prop_map(|snap| Query::Viewport { snap }),
        (any::<bool>(), snap(), addr(), 1u64..24).prop_map(|(regs, snap, addr, len)| Query::ViewBytes {
            regs,
            snap,
            addr,
            len
        }),
        (any::<bool>(), snap(), addr(), 1u64..24).prop_map(|(regs, snap, addr, len)| Query::ViewStates {
            regs,
            snap,
            addr,
            len
        }),
        (snap(), reg).prop_map(|(snap, reg)| Query::Register { snap, reg }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let reg = 0..defs().len();
    prop_oneof![
        8 => (snap(), addr(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(snap, addr, data)| Op::Put { snap, addr, data }),
        2 => (snap(), addr(), 1u64..8).prop_map(|(snap, addr, len)| Op::Error { snap, addr, len }),
        2 => (snap(), addr(), 1u64..8).prop_map(|(snap, addr, len)| Op::Remove { snap, addr, len }),
        5 => (snap(), prop::option::weighted(0.85, snap())).prop_map(|(snap, parent)| Op::Fork { snap, parent }),
        8 => (snap(), reg.clone(), value()).prop_map(|(snap, reg, value)| Op::SetReg { snap, reg, value }),
        2 => (snap(), reg.clone()).prop_map(|(snap, reg)| Op::RegError { snap, reg }),
        2 => (snap(), reg).prop_map(|(snap, reg)| Op::RemoveReg { snap, reg }),
        1 => Just(Op::Commit),
        1 => Just(Op::Abort),
        1 => Just(Op::Reopen),
        10 => (query(), any::<bool>()).prop_map(|(query, committed)| Op::Query { query, committed }),
    ]
}

/// The model: memory of both spaces and the forks.
#[derive(Clone, Debug, Default)]
struct Model {
    ram: ModelSpace,
    regs: ModelSpace,
    forks: BTreeMap<Snap, Snap>,
}

fn side_start(snap: Snap) -> Snap {
    if snap < 0 { Snap::MIN } else { 0 }
}

impl Model {
    /// Ghidra's viewport, on tracemem's sides.
    fn viewport(&self, snap: Snap) -> Vec<(Snap, Snap)> {
        let mut spans: Vec<(Snap, Snap)> = Vec::new();
        let mut cur = snap;
        loop {
            let start = side_start(cur);
            let fork = self
                .forks
                .range(start..=cur)
                .rev()
                .find(|&(&k, &p)| !(k > start && p == k - 1))
                .map(|(&k, &p)| (k, p));
            let lower = fork.map_or(start, |f| f.0);
            if spans.iter().any(|&(lo, hi)| lo <= lower && lower <= hi) {
                return spans;
            }
            spans.push((lower, cur));
            match fork {
                Some((_, parent)) => cur = parent,
                None => return spans,
            }
        }
    }

    /// Per byte: the view's byte and its source, if any.
    fn view_byte(&self, space: &ModelSpace, snap: Snap, addr: u64) -> Option<(u8, Snap)> {
        let history = space.bytes.get(&addr)?;
        self.viewport(snap).into_iter().find_map(|(lo, hi)| {
            history.range(lo..=hi).rev().find_map(|(&s, r)| match r {
                Rec::Known(v) => Some((*v, s)),
                Rec::Error => None,
            })
        })
    }

    fn view_state(&self, space: &ModelSpace, snap: Snap, addr: u64) -> Option<(Snap, MemState)> {
        let history = space.bytes.get(&addr)?;
        self.viewport(snap)
            .into_iter()
            .find_map(|(_, hi)| history.get(&hi).map(|r| (hi, r.state())))
    }

    fn view_most_recent_state(&self, space: &ModelSpace, snap: Snap, addr: u64) -> Option<(Snap, MemState)> {
        let history = space.bytes.get(&addr)?;
        self.viewport(snap)
            .into_iter()
            .find_map(|(lo, hi)| history.range(lo..=hi).next_back().map(|(&s, r)| (s, r.state())))
    }
}

/// Maximal runs of equal `key` over consecutive addresses.
fn runs<K: PartialEq + Copy>(items: impl Iterator<Item = (u64, Option<K>)>) -> Vec<(AddressRange, K)> {
    let mut out: Vec<(AddressRange, K)> = Vec::new();
    for (addr, key) in items {
        let Some(key) = key else { continue };
        match out.last_mut() {
            Some((range, k)) if *k == key && range.max() + 1 == addr => {
                *range = AddressRange::new(range.min(), addr).unwrap();
            }
            _ => out.push((AddressRange::new(addr, addr).unwrap(), key)),
        }
    }
    out
}

/// A register of the test map, bit by bit: the memory position (byte
/// offset, bit in byte) of bit `i` of its value.
fn bit_position(def: &RegisterDef, i: u32) -> (u64, u32) {
    let bit = def.bits.map_or(0, |(lo, _)| u32::from(lo)) + i;
    let byte = u64::from(bit / 8);
    let byte = if def.big_endian {
        u64::from(def.size) - 1 - byte
    } else {
        byte
    };
    (def.offset + byte, bit % 8)
}

fn width(def: &RegisterDef) -> u32 {
    def.bits
        .map_or(def.size * 8, |(lo, hi)| u32::from(hi) - u32::from(lo) + 1)
}

/// The bytes holding the register's bits.
fn footprint(def: &RegisterDef) -> (u64, u64) {
    let positions: Vec<u64> = (0..width(def)).map(|i| bit_position(def, i).0).collect();
    (*positions.iter().min().unwrap(), *positions.iter().max().unwrap())
}

fn model_get_value(regs: &ModelSpace, def: &RegisterDef, snap: Snap) -> Option<u128> {
    let (lo, hi) = footprint(def);
    let mut bytes = BTreeMap::new();
    for a in lo..=hi {
        let mut b = [0u8];
        if regs.get_bytes(snap, a, &mut b) == 0 {
            return None;
        }
        bytes.insert(a, b[0]);
    }
    let mut value = 0u128;
    for i in 0..width(def) {
        let (a, bit) = bit_position(def, i);
        if bytes[&a] >> bit & 1 == 1 {
            value |= 1 << i;
        }
    }
    Some(value)
}

fn model_set_value(regs: &mut ModelSpace, def: &RegisterDef, snap: Snap, value: u128) {
    let (lo, hi) = footprint(def);
    let mut bytes: BTreeMap<u64, u8> = BTreeMap::new();
    for a in lo..=hi {
        let mut b = [0u8];
        regs.get_bytes(snap, a, &mut b);
        bytes.insert(a, b[0]);
    }
    for i in 0..width(def) {
        let (a, bit) = bit_position(def, i);
        let byte = bytes.get_mut(&a).unwrap();
        *byte = (*byte & !(1 << bit)) | (((value >> i) & 1) as u8) << bit;
    }
    for (a, b) in bytes {
        regs.put_bytes(snap, a, &[b]);
    }
}

fn model_register_state(regs: &ModelSpace, def: &RegisterDef, snap: Snap) -> RegisterState {
    let (lo, hi) = footprint(def);
    let records: Vec<Option<(Snap, MemState)>> = (lo..=hi).map(|a| regs.most_recent_state(snap, a)).collect();
    if let Some(error) = records
        .iter()
        .flatten()
        .filter(|(_, s)| *s == MemState::Error)
        .map(|(s, _)| *s)
        .max()
    {
        return RegisterState::Error { snap: error };
    }
    if records.iter().any(Option::is_none) {
        return RegisterState::Unknown;
    }
    let oldest = records.iter().flatten().map(|(s, _)| *s).min().unwrap();
    if oldest < snap {
        RegisterState::Stale { snap: oldest }
    } else {
        RegisterState::Known
    }
}

fn check(
    mem: &dyn tracemem::MemoryRead,
    regs_mem: Option<&dyn tracemem::MemoryRead>,
    registers: Option<&dyn RegisterRead>,
    model: &Model,
    query: &Query,
) -> Result<(), TestCaseError> {
    match *query {
        Query::Viewport { snap } => {
            let want: Vec<Lifespan> = model
                .viewport(snap)
                .into_iter()
                .map(|(lo, hi)| Lifespan::new(lo, hi).unwrap())
                .collect();
            prop_assert_eq!(mem.viewport(snap).unwrap(), want);
        }
        Query::ViewBytes { regs, snap, addr, len } => {
            let (space, model_space) = if regs {
                (regs_mem, &model.regs)
            } else {
                (Some(mem), &model.ram)
            };
            let Some(space) = space else {
                prop_assert!(model_space.bytes.is_empty());
                return Ok(());
            };
            let mut got = vec![0x5a; len as usize];
            let sources = space.view_bytes_with_sources(snap, addr, &mut got).unwrap();
            let per_byte: Vec<(u64, Option<(u8, Snap)>)> = (addr..addr + len)
                .map(|a| (a, model.view_byte(model_space, snap, a)))
                .collect();
            let want: Vec<u8> = per_byte.iter().map(|(_, b)| b.map_or(0x5a, |b| b.0)).collect();
            prop_assert_eq!(got, want);
            let want_sources: Vec<FilledRange> = runs(per_byte.iter().map(|&(a, b)| (a, b.map(|b| b.1))))
                .into_iter()
                .map(|(range, snap)| FilledRange { range, snap })
                .collect();
            prop_assert_eq!(sources, want_sources);
        }
        Query::ViewStates { regs, snap, addr, len } => {
            let (space, model_space) = if regs {
                (regs_mem, &model.regs)
            } else {
                (Some(mem), &model.ram)
            };
            let Some(space) = space else {
                prop_assert!(model_space.bytes.is_empty());
                return Ok(());
            };
            let range = AddressRange::from_start_len(addr, len).unwrap();
            let to_runs = |f: &dyn Fn(u64) -> Option<(Snap, MemState)>| -> Vec<SourcedStateRun> {
                runs((addr..addr + len).map(|a| (a, f(a))))
                    .into_iter()
                    .map(|(range, (snap, state))| SourcedStateRun { range, snap, state })
                    .collect()
            };
            prop_assert_eq!(
                space.view_states(snap, range).unwrap(),
                to_runs(&|a| model.view_state(model_space, snap, a))
            );
            prop_assert_eq!(
                space.view_most_recent_states(snap, range).unwrap(),
                to_runs(&|a| model.view_most_recent_state(model_space, snap, a))
            );
            prop_assert_eq!(
                space.view_state(snap, addr).unwrap(),
                model.view_state(model_space, snap, addr)
            );
        }
        Query::Register { snap, reg } => {
            let def = &defs()[reg];
            let Some(registers) = registers else {
                prop_assert!(model.regs.bytes.is_empty());
                return Ok(());
            };
            prop_assert_eq!(
                registers.get_value(snap, &def.name).unwrap(),
                model_get_value(&model.regs, def, snap)
            );
            prop_assert_eq!(
                registers.register_state(snap, &def.name).unwrap(),
                model_register_state(&model.regs, def, snap)
            );
            // The view of a register is its bytes' view.
            let (lo, hi) = footprint(def);
            let mut bytes = ModelSpace::default();
            for a in lo..=hi {
                if let Some((v, _)) = model.view_byte(&model.regs, snap, a) {
                    bytes.put_bytes(0, a, &[v]);
                }
            }
            prop_assert_eq!(
                registers.view_value(snap, &def.name).unwrap(),
                model_get_value(&bytes, def, 0)
            );
        }
    }
    Ok(())
}

fn open(path: &std::path::Path) -> Database {
    let mut builder = Database::builder();
    builder.max_chunk_deltas(3);
    builder.open(path).unwrap()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prop.tmdb");
    let mut db = Some({
        let db = Database::create(&path).unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.set_register_map(&RegisterMap::new(defs()).unwrap()).unwrap();
        txn.create_space(RAM).unwrap();
        txn.commit().unwrap();
        drop(db);
        open(&path)
    });
    let defs = defs();
    let mut committed = Model::default();
    let mut current = Model::default();
    let mut txn = None;
    for op in ops {
        if txn.is_none() && !matches!(op, Op::Reopen) {
            txn = Some(db.as_ref().unwrap().begin_write().unwrap());
        }
        match op {
            Op::Put { snap, addr, data } => {
                txn.as_mut()
                    .unwrap()
                    .space(RAM)
                    .unwrap()
                    .put_bytes(snap, addr, &data)
                    .unwrap();
                current.ram.put_bytes(snap, addr, &data);
            }
            Op::Error { snap, addr, len } => {
                let range = AddressRange::from_start_len(addr, len).unwrap();
                let t = txn.as_mut().unwrap();
                t.space(RAM).unwrap().set_state(snap, range, MemState::Error).unwrap();
                current.ram.set_error(snap, range);
            }
            Op::Remove { snap, addr, len } => {
                txn.as_mut()
                    .unwrap()
                    .space(RAM)
                    .unwrap()
                    .remove_bytes(snap, addr, len)
                    .unwrap();
                current.ram.remove_bytes(snap, addr, len);
            }
            Op::Fork { snap, parent } => {
                let meta = SnapMeta {
                    fork_of: parent,
                    ..SnapMeta::default()
                };
                txn.as_mut().unwrap().set_snap_meta(snap, &meta).unwrap();
                match parent {
                    Some(p) => current.forks.insert(snap, p),
                    None => current.forks.remove(&snap),
                };
            }
            Op::SetReg { snap, reg, value } => {
                let def = &defs[reg];
                let fits = width(def) >= 128 || value >> width(def) == 0;
                let t = txn.as_mut().unwrap();
                let result = t.registers(THREAD).unwrap().set_value(snap, &def.name, value);
                if fits {
                    result.unwrap();
                    model_set_value(&mut current.regs, def, snap, value);
                } else {
                    let too_wide = matches!(result, Err(tracemem::Error::ValueTooWide { .. }));
                    prop_assert!(too_wide, "{result:?}");
                }
            }
            Op::RegError { snap, reg } => {
                let def = &defs[reg];
                txn.as_mut()
                    .unwrap()
                    .registers(THREAD)
                    .unwrap()
                    .set_error(snap, &def.name)
                    .unwrap();
                let (lo, hi) = footprint(def);
                current.regs.set_error(snap, AddressRange::new(lo, hi).unwrap());
            }
            Op::RemoveReg { snap, reg } => {
                let def = &defs[reg];
                let t = txn.as_mut().unwrap();
                t.registers(THREAD).unwrap().remove_value(snap, &def.name).unwrap();
                let (lo, hi) = footprint(def);
                current.regs.remove_bytes(snap, lo, hi - lo + 1);
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
                db = Some(open(&path));
            }
            Op::Query {
                query,
                committed: use_read,
            } => {
                if use_read {
                    let read = db.as_ref().unwrap().begin_read().unwrap();
                    let ram = read.space(RAM).unwrap();
                    let regs_space = read.space(REGS).ok();
                    let registers = read.registers(THREAD).ok();
                    check(
                        &ram,
                        regs_space.as_ref().map(|s| s as &dyn tracemem::MemoryRead),
                        registers.as_ref().map(|r| r as &dyn RegisterRead),
                        &committed,
                        &query,
                    )?;
                } else {
                    // A write transaction lends one space at a time.
                    let t = txn.as_mut().unwrap();
                    let uses_regs = matches!(
                        query,
                        Query::Register { .. }
                            | Query::ViewBytes { regs: true, .. }
                            | Query::ViewStates { regs: true, .. }
                    );
                    if !uses_regs {
                        let ram = t.space(RAM).unwrap();
                        check(&ram, None, None, &current, &query)?;
                    } else if t.spaces().unwrap().iter().any(|s| s == REGS) {
                        let registers = t.registers(THREAD).unwrap();
                        check(
                            registers.memory(),
                            Some(registers.memory()),
                            Some(&registers),
                            &current,
                            &query,
                        )?;
                    } else {
                        prop_assert!(current.regs.bytes.is_empty());
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Views, forks and registers against the model.
    #[test]
    fn views_and_registers_match_model(ops in prop::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}
