//! A small valid database (built once, in memory) damaged and opened from
//! memory: a typed error, or a database whose answers come back without a
//! panic. Two kinds of damage:
//!
//! - **verified**: bit flips, zeroed runs and a truncation anywhere in the
//!   file, opened with `verify_on_open`: an error, or answers equal to those
//!   of one committed state; `check` and a write must not panic.
//! - **unverified**: bit flips inside the stored records only (the file
//!   stays a valid redb file whose page checksums nobody checks), opened
//!   plainly: tracemem's own decoders meet the damage; every answer is a
//!   value or a typed error, `check` reports or passes, a write commits or
//!   errs.
//!
//! Damage anywhere without verification is not tried: redb 4.6 trusts a
//! damaged allocator state, asserts in the commit that closing the
//! database makes, and panics again while unwinding, which aborts the
//! process (see [`open_unverified_anywhere`] and RELIABILITY.md).
//!
//! redb asserts on some damaged files instead of returning an error;
//! tracemem catches those panics and returns `Error::Corrupt`. So the
//! fuzz target lets panics unwind (instead of libFuzzer's abort at the
//! first panic) and crashes only on one that escapes tracemem's API.

use std::sync::OnceLock;

use super::backend::MemStorage;
use super::fingerprint;
use arbitrary::{Arbitrary, Unstructured};
use tracemem::record::{Op, TraceEvent};
use tracemem::{AddressRange, CaptureSpec, Database, DatabaseBuilder, Lifespan, MemState, RegionFlags, SnapMeta};
use tracemem::{RegisterDef, RegisterMap};

const RANGES: [(u64, usize); 3] = [(0, 300), (0x1f0, 64), (0x4000_0000, 16)];
const SNAPS: [i64; 6] = [-1, 0, 3, 7, 12, 40];

struct Pristine {
    image: Vec<u8>,
    /// Where the stored records' bytes lie in `image`: (offset, length).
    records: Vec<(usize, usize)>,
    /// The fingerprint of every committed state, the empty database first.
    states: Vec<String>,
}

fn answers(db: &Database) -> tracemem::Result<String> {
    fingerprint(db, "ram", &RANGES, &SNAPS)
}

fn builder() -> DatabaseBuilder {
    let mut builder = Database::builder();
    builder.block_size(256).max_chunk_deltas(4);
    builder
}

/// The database every input damages: histories over several chunks, ERROR
/// and removals, a capture with events, snap metadata, a register map and
/// a region, in five commits.
fn pristine() -> &'static Pristine {
    static PRISTINE: OnceLock<Pristine> = OnceLock::new();
    PRISTINE.get_or_init(|| {
        let storage = MemStorage::new();
        let db = builder().create_with_backend(storage.clone(), "pristine.tmdb").unwrap();
        let mut states = vec![answers(&db).unwrap()];
        let commit = |f: &dyn Fn(&mut tracemem::WriteTransaction), states: &mut Vec<String>| {
            let mut txn = db.begin_write().unwrap();
            f(&mut txn);
            txn.commit().unwrap();
            states.push(answers(&db).unwrap());
        };
        commit(
            &|txn| {
                let mut ram = txn.create_space("ram").unwrap();
                for snap in 0..12i64 {
                    let data: Vec<u8> = (0..40).map(|i| (snap * 7 + i) as u8).collect();
                    ram.put_bytes(snap, (snap as u64 * 23) % 280, &data).unwrap();
                }
            },
            &mut states,
        );
        commit(
            &|txn| {
                let mut ram = txn.space("ram").unwrap();
                ram.set_state(7, AddressRange::new(0x10, 0x30).unwrap(), MemState::Error)
                    .unwrap();
                ram.remove_bytes(3, 0x40, 16).unwrap();
                ram.put_bytes(-1, 0x1f8, b"scratch!").unwrap();
                ram.put_bytes(2, 0x100, &[0xee; 64]).unwrap();
            },
            &mut states,
        );
        commit(
            &|txn| {
                txn.create_capture(&CaptureSpec::new("bus")).unwrap();
                let events: Vec<TraceEvent> = (0..40u64)
                    .map(|i| TraceEvent {
                        op: if i % 3 == 0 { Op::Write } else { Op::Read },
                        address: 0x4000_0000 + 4 * (i % 4),
                        value: i * 0x1111,
                        width: Some(4),
                        timestamp: i as f64 * 1e-6,
                        error: (i == 17).then(|| "bus timeout".to_string()),
                    })
                    .collect();
                txn.append_events("bus", &events).unwrap();
            },
            &mut states,
        );
        commit(
            &|txn| {
                let meta = SnapMeta {
                    description: "what if".into(),
                    fork_of: Some(3),
                    ..SnapMeta::default()
                };
                txn.set_snap_meta(-1, &meta).unwrap();
                txn.set_register_map(&RegisterMap::new([RegisterDef::new("pc", 0, 8)]).unwrap())
                    .unwrap();
                txn.registers("1").unwrap().set_value(5, "pc", 0x1234).unwrap();
                txn.regions("ram")
                    .unwrap()
                    .add(".data", Lifespan::new(0, 100).unwrap(), 0, 0xff, RegionFlags::READ)
                    .unwrap();
            },
            &mut states,
        );
        commit(
            &|txn| {
                // Writes into the past patch later checkpoints.
                txn.space("ram").unwrap().put_bytes(1, 0x20, &[0x55; 100]).unwrap();
            },
            &mut states,
        );
        drop(db);
        let image = storage.live_image();
        let records = record_spans(&image);
        Pristine { image, records, states }
    })
}

/// Where the values of tracemem's tables lie in `image` (every copy, old
/// ones in freed pages included), found by reading them through redb and
/// searching the image for their bytes.
fn record_spans(image: &[u8]) -> Vec<(usize, usize)> {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
    let db = redb::Database::builder()
        .create_with_backend(MemStorage::with_image(image.to_vec()))
        .unwrap();
    let txn = db.begin_read().unwrap();
    let mut values: Vec<Vec<u8>> = Vec::new();
    macro_rules! table {
        ($name:literal, $key:ty) => {{
            let def: TableDefinition<$key, &[u8]> = TableDefinition::new($name);
            let table = txn.open_table(def).unwrap();
            assert_eq!(def.name(), $name);
            for entry in table.iter().unwrap() {
                values.push(entry.unwrap().1.value().to_vec());
            }
        }};
    }
    table!("history_chunks", tracemem::fuzzing::ChunkKey);
    table!("changes", (u32, i64));
    table!("snaps", i64);
    table!("captures", u32);
    table!("events", (u32, u64));
    table!("register_map", &str);
    table!("regions", (u32, &str, i64));
    let mut spans = Vec::new();
    for value in values.iter().filter(|v| v.len() >= 8) {
        let mut from = 0;
        while let Some(at) = image[from..].windows(value.len()).position(|w| w == &value[..]) {
            spans.push((from + at, value.len()));
            from += at + 1;
        }
    }
    assert!(!spans.is_empty());
    spans
}

/// What an input does to the pristine file.
#[derive(Arbitrary, Debug)]
pub struct Damage {
    verify: bool,
    /// (offset, xor) pairs; offsets wrap around the file.
    flips: Vec<(u32, u8)>,
    /// A run of zeros: (offset, length).
    zeros: Option<(u32, u16)>,
    /// Keep only this many bytes (modulo the length).
    truncate: Option<u32>,
}

/// Flips, zeroes and truncates anywhere in the file.
fn damage_anywhere(image: &mut Vec<u8>, damage: &Damage) {
    let len = image.len();
    for &(at, xor) in damage.flips.iter().take(64) {
        image[at as usize % len] ^= xor.max(1);
    }
    if let Some((at, n)) = damage.zeros {
        let at = at as usize % len;
        let end = (at + usize::from(n)).min(len);
        image[at..end].fill(0);
    }
    if let Some(keep) = damage.truncate {
        image.truncate(keep as usize % (len + 1));
    }
}

/// Damages the file anywhere as `data` says and opens it without
/// verification, reads, checks and closes it: what redb 4.6 may abort on
/// (tests/durability/fuzz_regressions.rs keeps the inputs that show it).
pub fn open_unverified_anywhere(data: &[u8]) {
    let Ok(damage) = Damage::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut image = pristine().image.clone();
    damage_anywhere(&mut image, &damage);
    if let Ok(db) = builder().open_with_backend(MemStorage::with_image(image), "damaged.tmdb") {
        let _ = answers(&db);
        let _ = db.check();
    }
}

/// Opens the pristine database damaged as `data` says (see [`Damage`]).
pub fn run(data: &[u8]) {
    let Ok(damage) = Damage::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let pristine = pristine();
    let mut image = pristine.image.clone();
    if damage.verify {
        damage_anywhere(&mut image, &damage);
    } else {
        // Offsets count through the records' bytes.
        let total: usize = pristine.records.iter().map(|&(_, n)| n).sum();
        for &(at, xor) in damage.flips.iter().take(64) {
            let mut at = at as usize % total;
            for &(offset, n) in &pristine.records {
                if at < n {
                    image[offset + at] ^= xor.max(1);
                    break;
                }
                at -= n;
            }
        }
    }
    let mut builder = builder();
    builder.verify_on_open(damage.verify);
    let db = match builder.open_with_backend(MemStorage::with_image(image), "damaged.tmdb") {
        Ok(db) => db,
        Err(e) => {
            // A typed error that says where and what.
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    if let Ok(answers) = answers(&db)
        && damage.verify
    {
        assert!(
            pristine.states.contains(&answers),
            "a verified damaged database answers as no committed state did:\n{answers}"
        );
    }
    let _ = db.check();
    // A write to what opened: an error or a commit, never a panic.
    if let Ok(mut txn) = db.begin_write() {
        if let Ok(mut ram) = txn.create_space("ram") {
            let _ = ram.put_bytes(9, 0x30, b"after damage");
        }
        let _ = txn.commit();
    }
    let _ = db.check();
}
