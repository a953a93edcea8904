//! Writes the seed corpora of the fuzz targets into `DIR/<target>/`
//! (default `fuzz/seeds`): real records of a small database that recorded
//! W1 and some memory history, and a few random inputs for the structured
//! targets. The import seeds come from `gen_soak.py` (see `seeds.sh`).
//!
//! `cargo run --release --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/seeds`

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tracemem::record::{FlushPolicy, Master, MockMaster, Op, RecorderOptions, RecordingMaster};
use tracemem::workloads::W1;
use tracemem::{AddressRange, CaptureSpec, Database, Lifespan, MemState, RegionFlags, RegisterDef, RegisterMap};
use tracemem::{BusField, BusMap, BusRegister, SnapMeta, workloads::Lcg};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A database that recorded 600 W1 events through the recorder, then got
/// a memory history with ERROR, removals, scratch snaps and writes into
/// the past, snap metadata, a register map, a region and a bus register
/// map.
fn build(path: &Path) {
    let options = RecorderOptions {
        policy: FlushPolicy::Event,
        journal_capacity: 1 << 20,
        tracks: true,
        ..RecorderOptions::default()
    };
    let mut bus = RecordingMaster::create(MockMaster::new(), path, &CaptureSpec::new("soak"), options).unwrap();
    for event in W1::new(1).take(600) {
        match event.op {
            Op::Read => drop(bus.read(event.address, event.width.unwrap())),
            Op::Write => drop(bus.write(event.address, event.value, event.width.unwrap())),
        }
    }
    bus.mark("phase two").unwrap();
    bus.close().unwrap();
    let mut builder = Database::builder();
    builder.max_chunk_deltas(8);
    let db = builder.open(path).unwrap();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    for snap in 0..40i64 {
        let data: Vec<u8> = (0..(8 + snap % 30)).map(|i| (snap * 13 + i) as u8).collect();
        ram.put_bytes(snap, (snap as u64 * 37) % 600, &data).unwrap();
    }
    ram.set_state(12, AddressRange::new(0x20, 0x60).unwrap(), MemState::Error)
        .unwrap();
    ram.remove_bytes(20, 0x100, 40).unwrap();
    ram.put_bytes(3, 0x40, &[0xcc; 200]).unwrap();
    ram.put_bytes(-2, 0x10, b"what if").unwrap();
    txn.set_snap_meta(
        -2,
        &SnapMeta {
            description: "scratch".into(),
            fork_of: Some(7),
            ..SnapMeta::default()
        },
    )
    .unwrap();
    txn.set_register_map(
        &RegisterMap::new([RegisterDef::new("pc", 0, 8), RegisterDef::new("pcl", 0, 4).parent("pc")]).unwrap(),
    )
    .unwrap();
    txn.registers("1").unwrap().set_value(5, "pc", 0x40_1000).unwrap();
    txn.regions("ram")
        .unwrap()
        .add(
            ".data",
            Lifespan::new(0, 99).unwrap(),
            0x8000,
            0x8fff,
            RegionFlags::READ,
        )
        .unwrap();
    let mut ctrl = BusRegister::new("uart.ctrl", 0x4000_0000, 4);
    ctrl.fields = vec![BusField {
        name: "en".into(),
        lsb: 0,
        msb: 0,
    }];
    let mut status = BusRegister::new("uart.status", 0x4000_0004, 2);
    status.big_endian = true;
    txn.set_bus_map("bus", &BusMap::new([ctrl, status]).unwrap()).unwrap();
    txn.commit().unwrap();
}

/// Up to `n` values of `table`, the smallest first (seeds are kept small),
/// with their keys.
fn values<K: redb::Key + 'static>(
    db: &redb::Database,
    table: TableDefinition<K, &[u8]>,
    n: usize,
) -> Vec<(Vec<u8>, Vec<u8>)>
where
    for<'a> K::SelfType<'a>: std::fmt::Debug,
{
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(table).unwrap();
    let mut all: Vec<(Vec<u8>, Vec<u8>)> = table
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (format!("{:?}", k.value()).into_bytes(), v.value().to_vec())
        })
        .collect();
    all.sort_by_key(|(_, v)| v.len());
    // A spread of sizes: smallest, largest and between.
    let step = (all.len() / n.max(1)).max(1);
    all.into_iter().step_by(step).take(n).collect()
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/seeds".into()));
    let dir = std::env::temp_dir().join(format!("tracemem-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seeds.tmdb");
    build(&path);
    let db = redb::Database::open(&path).unwrap();
    // records: the kind byte of tracemem::fuzzing::decode_record, then the value.
    let record = |kind: u8, key: &[u8], value: &[u8]| [&[kind][..], key, value].concat();
    let chunks: TableDefinition<tracemem::fuzzing::ChunkKey, &[u8]> =
        TableDefinition::new(tracemem::fuzzing::CHUNKS_TABLE);
    for (i, (_, v)) in values(&db, chunks, 6).iter().enumerate() {
        write(&out, "records", &format!("chunk-{i}"), &record(0, &[], v));
    }
    // The same database packed: compressed chunks, and their payloads.
    let packed_path = dir.join("packed.tmdb");
    std::fs::copy(&path, &packed_path).unwrap();
    tracemem::pack(&packed_path, &mut |_| {}).unwrap();
    let packed_db = redb::Database::open(&packed_path).unwrap();
    for (i, (_, v)) in values(&packed_db, chunks, 3).iter().enumerate() {
        write(&out, "records", &format!("packed-chunk-{i}"), &record(0, &[], v));
        if let Ok(payload) = tracemem::fuzzing::packed_chunk_payload(v) {
            write(
                &out,
                "records",
                &format!("packed-payload-{i}"),
                &record(8, &[], &payload),
            );
        }
    }
    drop(packed_db);
    // The packed database's chunk index, whole (small enough for a record).
    let indexed = tracemem::Database::open(&packed_path).unwrap();
    indexed.write_chunk_index().unwrap();
    indexed.close().unwrap();
    let index_bytes = std::fs::read(tracemem::chunk_index_path(&packed_path)).unwrap();
    write(&out, "records", "chunk-index", &record(12, &[], &index_bytes));
    // An index with a stretch image: 64 KiB loaded once.
    let stretch_path = dir.join("stretch.tmdb");
    let stretch_db = tracemem::Database::create(&stretch_path).unwrap();
    let mut txn = stretch_db.begin_write().unwrap();
    let image: Vec<u8> = (0..64u32 << 10).map(|i| (i % 251) as u8).collect();
    txn.create_space("ram").unwrap().put_bytes(0, 0x10000, &image).unwrap();
    txn.commit().unwrap();
    assert_eq!(stretch_db.write_chunk_index().unwrap().stretch_images, 1);
    stretch_db.close().unwrap();
    let index_bytes = std::fs::read(tracemem::chunk_index_path(&stretch_path)).unwrap();
    write(&out, "records", "chunk-index-stretch", &record(12, &[], &index_bytes));
    let events: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("events");
    for (i, (_, v)) in values(&db, events, 1).iter().enumerate() {
        write(&out, "records", &format!("events-{i}"), &record(1, &[], v));
    }
    let changes: TableDefinition<(u32, i64), &[u8]> = TableDefinition::new("changes");
    {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(changes).unwrap();
        for (i, e) in table.iter().unwrap().take(3).enumerate() {
            let (k, v) = e.unwrap();
            write(
                &out,
                "records",
                &format!("changes-{i}"),
                &record(2, &k.value().1.to_le_bytes(), v.value()),
            );
        }
    }
    let snaps: TableDefinition<i64, &[u8]> = TableDefinition::new("snaps");
    for (i, (_, v)) in values(&db, snaps, 2).iter().enumerate() {
        write(&out, "records", &format!("snap-{i}"), &record(3, &[], v));
    }
    let captures: TableDefinition<u32, &[u8]> = TableDefinition::new("captures");
    for (i, (_, v)) in values(&db, captures, 1).iter().enumerate() {
        write(&out, "records", &format!("capture-{i}"), &record(4, &[], v));
    }
    // Journal payloads (FORMAT.md): an event, a failed event, a mark.
    let mut event = vec![1u8];
    event.extend_from_slice(&1u32.to_le_bytes());
    event.extend_from_slice(&7u64.to_le_bytes());
    event.extend_from_slice(&[1, 4]);
    event.extend_from_slice(&0x4000_0010u64.to_le_bytes());
    event.extend_from_slice(&0x94u64.to_le_bytes());
    event.extend_from_slice(&1.5e-5f64.to_bits().to_le_bytes());
    let mut failed = event.clone();
    event.push(0);
    failed.extend_from_slice(&[1, 11]);
    failed.extend_from_slice(b"bus timeout");
    let mut mark = vec![2u8];
    mark.extend_from_slice(&600i64.to_le_bytes());
    mark.extend_from_slice(&[9]);
    mark.extend_from_slice(b"phase two");
    for (name, payload) in [
        ("journal-event", event),
        ("journal-failed", failed),
        ("journal-mark", mark),
    ] {
        write(&out, "records", name, &record(5, &[], &payload));
    }
    let regions: TableDefinition<(u32, &str, i64), &[u8]> = TableDefinition::new("regions");
    for (i, (_, v)) in values(&db, regions, 1).iter().enumerate() {
        write(
            &out,
            "records",
            &format!("region-{i}"),
            &record(6, &0i64.to_le_bytes(), v),
        );
    }
    let registers: TableDefinition<&str, &[u8]> = TableDefinition::new("register_map");
    for (i, (_, v)) in values(&db, registers, 2).iter().enumerate() {
        write(&out, "records", &format!("register-{i}"), &record(7, &[], v));
    }
    let bus_registers: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("bus_registers");
    for (i, (_, v)) in values(&db, bus_registers, 2).iter().enumerate() {
        write(&out, "records", &format!("bus-register-{i}"), &record(9, &[], v));
    }
    // The tail of the capture's register tracks, and one of its tracks by
    // itself (600 events complete no group).
    let tails: TableDefinition<u32, &[u8]> = TableDefinition::new("track_tails");
    for (i, (_, v)) in values(&db, tails, 1).iter().enumerate() {
        write(&out, "records", &format!("track-tail-{i}"), &record(11, &[], v));
        for (j, track) in tracemem::fuzzing::tracks_of_tail(v).unwrap().iter().take(2).enumerate() {
            write(&out, "records", &format!("track-{j}"), &record(10, &[], track));
        }
    }
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
    // The structured targets read their inputs through `arbitrary`: any
    // bytes are an input; a few random ones of different lengths start them.
    let mut lcg = Lcg::new(6);
    for (target, lens) in [("ops", [64usize, 400, 2000]), ("open_damaged", [16, 64, 256])] {
        for len in lens {
            let bytes: Vec<u8> = (0..len).map(|_| lcg.next_u32() as u8).collect();
            write(&out, target, &format!("random-{len}"), &bytes);
        }
    }
    eprintln!("seeds written under {}", out.display());
}
