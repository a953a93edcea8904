//! What finding a history chunk costs, and what it would cost in a layout
//! of our own (the read-performance issue's storage question). On W2
//! standard, the Q1 stream's 200,000 point reads (8 bytes at a random snap,
//! half stack, half heap) are timed four ways over the same chunks:
//!
//! 1. `get_bytes`, the whole point read;
//! 2. redb's seek alone: the reverse range seek of the chunk at or before
//!    the snap, then a touch of the chunk's bytes (every 64th byte);
//! 3. every key in one sorted in-memory array beside the values in one
//!    buffer (the stand-in for a mapped file): a binary search, the touch;
//! 4. the same buffer under a per-granule directory (a hash map from the
//!    granule to its chunks' run of first snaps): a lookup, a search among
//!    the granule's few snaps, the touch.
//!
//! The gap between 1 and 2 is decoding; the gap between 2 and 4 is what a
//! layout with a per-granule directory over mapped chunk bytes would save.
//! It reads the tables with redb directly, so it knows two facts of
//! FORMAT.md: the table names and the 20-byte big-endian chunk key.
//!
//! `cargo bench -p tracemem-bench --bench layout [-- --keep PATH]`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TypeName};
use tracemem::workloads::W2Config;
use tracemem::{Database, MemoryRead, Snap};

/// The chunks table's key as its stored bytes (FORMAT.md, "History chunks").
#[derive(Debug)]
struct RawChunkKey;

impl redb::Value for RawChunkKey {
    type SelfType<'a> = [u8; 20];
    type AsBytes<'a> = [u8; 20];
    fn fixed_width() -> Option<usize> {
        Some(20)
    }
    fn from_bytes<'a>(data: &'a [u8]) -> [u8; 20]
    where
        Self: 'a,
    {
        data.try_into().expect("a chunk key of 20 bytes")
    }
    fn as_bytes<'a, 'b: 'a>(value: &'a [u8; 20]) -> [u8; 20]
    where
        Self: 'b,
    {
        *value
    }
    fn type_name() -> TypeName {
        TypeName::new("tracemem::ChunkKey")
    }
}

impl redb::Key for RawChunkKey {
    fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        a.cmp(b)
    }
}

/// A snap as the key stores it: its bits with the sign bit flipped.
fn stored_snap(snap: Snap) -> u64 {
    (snap as u64) ^ (1 << 63)
}

fn chunk_key(space: u32, granule: u64, snap: Snap) -> [u8; 20] {
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&space.to_be_bytes());
    bytes[4..12].copy_from_slice(&granule.to_be_bytes());
    bytes[12..].copy_from_slice(&stored_snap(snap).to_be_bytes());
    bytes
}

/// Reads a chunk's bytes as a decode would reach them: a byte a cache line.
fn touch(value: &[u8]) -> u64 {
    value.iter().step_by(64).map(|&b| u64::from(b)).sum::<u64>() + value.len() as u64
}

/// Times `passes` passes of `query` over `points` after an untimed one; the
/// median pass in nanoseconds a query.
fn time_passes(points: &[(Snap, u64)], mut query: impl FnMut(Snap, u64) -> u64) -> f64 {
    let mut passes: Vec<f64> = (0..4)
        .map(|_| {
            let started = Instant::now();
            let sum: u64 = points.iter().map(|&(snap, address)| query(snap, address)).sum();
            black_box(sum);
            started.elapsed().as_nanos() as f64 / points.len() as f64
        })
        .skip(1)
        .collect();
    passes.sort_by(f64::total_cmp);
    passes[1]
}

fn main() {
    let config = W2Config::STANDARD;
    let (_dir, path) = tracemem_bench::w2_database(config);
    let points = tracemem_bench::q1_points(config, 200_000, 11);

    let whole = {
        let db = Database::open(&path).unwrap();
        let read = db.begin_read().unwrap();
        let ram = read.space("ram").unwrap();
        time_passes(&points, |snap, address| {
            let mut buf = [0u8; 8];
            ram.get_bytes(snap, address, &mut buf).unwrap() as u64 + u64::from(buf[0])
        })
    };

    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let space_ids: TableDefinition<&str, u32> = TableDefinition::new("space_ids");
    let space = txn.open_table(space_ids).unwrap().get("ram").unwrap().unwrap().value();
    let chunks: TableDefinition<RawChunkKey, &[u8]> = TableDefinition::new("history_chunks");
    let table = txn.open_table(chunks).unwrap();
    let seek = time_passes(&points, |snap, address| {
        let granule = address / 256;
        let range = chunk_key(space, granule, 0)..=chunk_key(space, granule, snap);
        match table.range(range).unwrap().next_back() {
            Some(entry) => touch(entry.unwrap().1.value()),
            None => 0,
        }
    });

    // Every chunk of the table in memory: keys sorted, values in one buffer.
    let (mut keys, mut places, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    for entry in table.iter().unwrap() {
        let (key, value) = entry.unwrap();
        keys.push(key.value());
        places.push(bytes.len()..bytes.len() + value.value().len());
        bytes.extend_from_slice(value.value());
    }
    let sorted = time_passes(&points, |snap, address| {
        let granule = address / 256;
        let at = keys.partition_point(|k| *k <= chunk_key(space, granule, snap));
        match at > 0 && keys[at - 1][..12] == chunk_key(space, granule, 0)[..12] {
            true => touch(&bytes[places[at - 1].clone()]),
            false => 0,
        }
    });

    // A directory: granule -> its run in `keys`, and each key's first snap.
    let mut directory: HashMap<(u32, u64), (usize, usize)> = HashMap::new();
    let mut first_snaps = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let space = u32::from_be_bytes(key[..4].try_into().unwrap());
        let granule = u64::from_be_bytes(key[4..12].try_into().unwrap());
        directory.entry((space, granule)).or_insert((i, i)).1 = i + 1;
        first_snaps.push(u64::from_be_bytes(key[12..].try_into().unwrap()));
    }
    let directed = time_passes(&points, |snap, address| {
        let Some(&(a, b)) = directory.get(&(space, address / 256)) else {
            return 0;
        };
        let at = a + first_snaps[a..b].partition_point(|&s| s <= stored_snap(snap));
        match at > a {
            true => touch(&bytes[places[at - 1].clone()]),
            false => 0,
        }
    });

    println!(
        "W2 standard, {} chunks ({} MB of chunk bytes), {} Q1 point reads, {}",
        keys.len(),
        bytes.len() >> 20,
        points.len(),
        tracemem_bench::machine()
    );
    println!("| way | ns a query (median of 3 passes) |");
    println!("|---|---:|");
    println!("| `get_bytes`, the whole point read | {whole:.0} |");
    println!("| redb's seek of the chunk, and a touch of it | {seek:.0} |");
    println!("| a sorted array of keys over one buffer of chunks | {sorted:.0} |");
    println!("| a per-granule directory over the same buffer | {directed:.0} |");
    println!(
        "decoding {:.0} ns; the point read with the directory's lookup instead of redb's: about {:.0} ns ({:.2}x faster)",
        whole - seek,
        whole - seek + directed,
        whole / (whole - seek + directed)
    );
}
