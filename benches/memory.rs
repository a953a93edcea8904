//! Criterion micro-benchmarks of the core engine on W2 (WORKLOADS.md):
//! ingest of W2-small, Q1 point reads, Q2 64 KiB region reads and Q6 block
//! change queries on W2 standard, and point reads of a block written 10
//! times beside one written 1,000,000 and 10,000,000 times (the
//! history-length check).
//!
//! `cargo bench --bench memory` (set `TRACEMEM_HISTORY_WRITES` to change the
//! long history's length).

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tracemem::workloads::{Lcg, W2_HEAP, W2_HEAP_SIZE, W2_IMAGE, W2Config};
use tracemem::{Database, MemoryRead, Snap};

fn ingest(c: &mut Criterion) {
    let writes = common::w2_writes(W2Config::SMALL);
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("w2_small", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir_in(".").unwrap();
            let db = Database::create(dir.path().join("w2.tmdb")).unwrap();
            common::load_tracemem(&db, &writes, 1000);
            (db, dir)
        })
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let config = W2Config::STANDARD;
    let dir = tempfile::tempdir_in(".").unwrap();
    let db = Database::create(dir.path().join("w2.tmdb")).unwrap();
    common::load_tracemem(&db, &common::w2_writes(config), 1000);
    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();

    let points = common::q1_points(config, 100_000, 11);
    let mut group = c.benchmark_group("w2");
    let mut i = 0;
    group.bench_function("q1_point_8_bytes", |b| {
        b.iter(|| {
            let (snap, addr) = points[i % points.len()];
            i += 1;
            let mut buf = [0u8; 8];
            black_box(ram.get_bytes(snap, addr, &mut buf).unwrap());
        })
    });
    let mut rng = Lcg::new(13);
    let mut buf = vec![0u8; 64 << 10];
    group.throughput(criterion::Throughput::Bytes(buf.len() as u64));
    group.bench_function("q2_region_64k", |b| {
        b.iter(|| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            let addr = W2_HEAP + rng.below(W2_HEAP_SIZE - (64 << 10) + 1);
            black_box(ram.get_bytes(snap, addr, &mut buf).unwrap());
        })
    });
    let mut image = vec![0u8; config.image_size as usize];
    group.throughput(criterion::Throughput::Bytes(image.len() as u64));
    group.bench_function("q2_image_16m", |b| {
        b.iter(|| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            black_box(ram.get_bytes(snap, W2_IMAGE, &mut image).unwrap());
        })
    });
    // The machine's limit for the same bytes: one copy of a flat buffer.
    let flat = image.clone();
    group.bench_function("q2_image_16m_memcpy_peer", |b| {
        b.iter(|| image.copy_from_slice(black_box(&flat)))
    });
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function("q6_last_change_to_block", |b| {
        b.iter(|| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            let addr = W2_HEAP + rng.below(W2_HEAP_SIZE);
            black_box(ram.snap_of_most_recent_change_to_block(snap, addr).unwrap());
        })
    });
    group.finish();
}

const HOT: u64 = 0;
const COLD: u64 = 0x100_0000;

/// One database holding two blocks of `regs`: `HOT` written `writes` times
/// and `COLD` written 10 times, 8 bytes at a time over all their offsets,
/// one snap per write.
fn history(writes: i64) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let db = Database::create(dir.path().join("history.tmdb")).unwrap();
    let mut snap = 0;
    while snap < writes {
        let mut txn = db.begin_write().unwrap();
        let mut regs = txn.create_space("regs").unwrap();
        for s in snap..(snap + 100_000).min(writes) {
            regs.put_bytes(s, HOT + (s as u64 % 512) * 8, &s.to_le_bytes()).unwrap();
            if s < 10 {
                regs.put_bytes(s, COLD + (s as u64 % 512) * 8, &s.to_le_bytes())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
        snap += 100_000;
    }
    (dir, db)
}

/// Point reads of a block written 10 times and of one written 1,000,000 and
/// 10,000,000 times (in the same database as the 10-write block), at random
/// snaps of each block's history and at its newest snap.
fn history_length(c: &mut Criterion) {
    let long: i64 = std::env::var("TRACEMEM_HISTORY_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let mut group = c.benchmark_group("history_length");
    for writes in [1_000_000i64, long] {
        let (_dir, db) = history(writes);
        let read = db.begin_read().unwrap();
        let regs = read.space("regs").unwrap();
        for (name, base, span) in [("10", COLD, 10i64), ("hot", HOT, writes)] {
            let label = if name == "hot" {
                writes.to_string()
            } else {
                format!("10_beside_{writes}")
            };
            let mut rng = Lcg::new(17);
            group.bench_function(format!("random_snap_after_{label}_writes"), |b| {
                b.iter(|| {
                    let snap = rng.below(span as u64) as Snap;
                    let offset = rng.below(span.min(512) as u64) * 8;
                    let mut buf = [0u8; 8];
                    black_box(regs.get_bytes(snap, base + offset, &mut buf).unwrap());
                })
            });
            group.bench_function(format!("newest_snap_after_{label}_writes"), |b| {
                b.iter(|| {
                    let offset = rng.below(span.min(512) as u64) * 8;
                    let mut buf = [0u8; 8];
                    black_box(regs.get_bytes(span - 1, base + offset, &mut buf).unwrap());
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, ingest, queries, history_length);
criterion_main!(benches);
