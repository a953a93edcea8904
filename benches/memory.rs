//! Criterion micro-benchmarks of the core engine on W2 (WORKLOADS.md):
//! ingest of W2-small; on W2 standard Q1 point reads, Q2 reads of 64 KiB of
//! heap and of the 16 MiB image (beside a memcpy of the same bytes), Q3
//! masked searches of the image (beside memchr::memmem over the same bytes
//! flat), Q5 heap diffs and Q6 block change queries; and point reads of a
//! block written 10 times beside one written 1,000,000 and 10,000,000 times
//! (the history-length check); view reads through fork chains among
//! 100 and 100,000 snaps with metadata.
//!
//! `cargo bench -p tracemem-bench --bench memory` (set `TRACEMEM_HISTORY_WRITES` to change the
//! long history's length).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tracemem::workloads::{Lcg, W2_HEAP, W2_HEAP_SIZE, W2_IMAGE, W2Config};
use tracemem::{AddressRange, Database, Direction, MemoryRead, MemoryView, Snap};

fn ingest(c: &mut Criterion) {
    let writes = tracemem_bench::w2_writes(W2Config::SMALL);
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("w2_small", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir_in(".").unwrap();
            let db = Database::create(dir.path().join("w2.tmdb")).unwrap();
            tracemem_bench::load_tracemem(&db, &writes, 1000);
            (db, dir)
        })
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let config = W2Config::STANDARD;
    let dir = tempfile::tempdir_in(".").unwrap();
    let path = dir.path().join("w2.tmdb");
    let db = Database::create(&path).unwrap();
    tracemem_bench::load_tracemem(&db, &tracemem_bench::w2_writes(config), 1000);
    // Queried as an analysis tool queries a finished capture: opened anew,
    // not in the process that wrote it (whose page cache still holds the
    // writes).
    db.close().unwrap();
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();

    let points = tracemem_bench::q1_points(config, 100_000, 11);
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
    // The machine's limit for the same bytes: one copy of a flat buffer
    // (read here: a filter may have skipped the benchmark above).
    ram.get_bytes(0, W2_IMAGE, &mut image).unwrap();
    let flat = image.clone();
    group.bench_function("q2_image_16m_memcpy_peer", |b| {
        b.iter(|| image.copy_from_slice(black_box(&flat)))
    });
    // Q3: masked search of the whole image, against memmem over the same
    // bytes in one flat buffer (exact pattern: memmem has no masks).
    let image_range = AddressRange::from_start_len(W2_IMAGE, config.image_size).unwrap();
    let mask = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff];
    let nowhere = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";
    assert!(memchr::memmem::find(&flat, &nowhere).is_none());
    let somewhere: Vec<[u8; 8]> = (0..64)
        .map(|_| {
            loop {
                let at = rng.below(config.image_size - 8) as usize;
                if flat[at..at + 8].iter().all(|&b| b != 0) {
                    break flat[at..at + 8].try_into().unwrap();
                }
            }
        })
        .collect();
    let mut k = 0;
    group.bench_function("q3_find_somewhere", |b| {
        b.iter(|| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            k += 1;
            let pattern = &somewhere[k % somewhere.len()];
            let hit = ram.find_bytes(snap, image_range, pattern, Some(&mask), Direction::Forward);
            assert!(black_box(hit.unwrap()).is_some());
        })
    });
    group.bench_function("q3_find_somewhere_memmem_peer", |b| {
        b.iter(|| {
            k += 1;
            assert!(black_box(memchr::memmem::find(&flat, &somewhere[k % somewhere.len()])).is_some());
        })
    });
    group.bench_function("q3_find_nowhere", |b| {
        b.iter(|| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            let hit = ram.find_bytes(snap, image_range, &nowhere, Some(&mask), Direction::Forward);
            assert!(black_box(hit.unwrap()).is_none());
        })
    });
    group.bench_function("q3_find_nowhere_memmem_peer", |b| {
        b.iter(|| assert!(black_box(memchr::memmem::find(&flat, &nowhere)).is_none()))
    });
    // The same two, each the first bulk read of a new read transaction: no
    // granule images kept from the reads before.
    group.bench_function("q2_image_16m_new_transaction", |b| {
        b.iter(|| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            let read = db.begin_read().unwrap();
            black_box(
                read.space("ram")
                    .unwrap()
                    .get_bytes(snap, W2_IMAGE, &mut image)
                    .unwrap(),
            );
        })
    });
    group.bench_function("q3_find_nowhere_new_transaction", |b| {
        b.iter(|| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            let read = db.begin_read().unwrap();
            let hit =
                read.space("ram")
                    .unwrap()
                    .find_bytes(snap, image_range, &nowhere, Some(&mask), Direction::Forward);
            assert!(black_box(hit.unwrap()).is_none());
        })
    });
    group.throughput(criterion::Throughput::Elements(1));
    let heap = AddressRange::from_start_len(W2_HEAP, W2_HEAP_SIZE).unwrap();
    group.bench_function("q5_diff_heap", |b| {
        b.iter(|| {
            let x = rng.below(config.snaps as u64 + 1) as Snap;
            let y = rng.below(config.snaps as u64 + 1) as Snap;
            black_box(ram.diff(x, y, heap).unwrap());
        })
    });
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
    // `TRACEMEM_HISTORY_INDEX=1`: the reads go through the chunk index.
    let indexed = std::env::var("TRACEMEM_HISTORY_INDEX").is_ok_and(|v| v == "1");
    for writes in [1_000_000i64, long] {
        let (_dir, db) = history(writes);
        if indexed {
            db.write_chunk_index().unwrap();
        }
        let read = db.begin_read().unwrap();
        assert_eq!(read.uses_chunk_index(), indexed);
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

/// A database whose timeline snaps 0..n each carry metadata (a
/// description), and whose scratch snaps -1..=-100 are forked from timeline
/// snaps spread over them, with 8 bytes written at every 100th timeline
/// snap and at each scratch snap; `indexed` false drops the fork index, as
/// a file written before it has none.
fn forked(n: i64, indexed: bool) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forks.tmdb");
    let db = Database::create(&path).unwrap();
    let mut txn = db.begin_write().unwrap();
    for snap in 0..n {
        let meta = tracemem::SnapMeta {
            description: format!("step {snap}"),
            ..tracemem::SnapMeta::default()
        };
        txn.set_snap_meta(snap, &meta).unwrap();
    }
    for k in 1..=100i64 {
        let meta = tracemem::SnapMeta {
            description: format!("what if {k}"),
            fork_of: Some((k - 1) * n / 100),
            ..tracemem::SnapMeta::default()
        };
        txn.set_snap_meta(-k, &meta).unwrap();
    }
    let mut ram = txn.create_space("ram").unwrap();
    for snap in (0..n).step_by(100).chain((1..=100).map(|k| -k)) {
        ram.put_bytes(snap, 0x1000 + 8 * (snap.unsigned_abs() % 4), &snap.to_le_bytes())
            .unwrap();
    }
    txn.commit().unwrap();
    if !indexed {
        db.close().unwrap();
        let raw = redb::Database::open(&path).unwrap();
        let txn = raw.begin_write().unwrap();
        txn.delete_table(redb::TableDefinition::<i64, i64>::new("snap_forks"))
            .unwrap();
        txn.commit().unwrap();
        drop(raw);
        return (dir, Database::open(&path).unwrap());
    }
    (dir, db)
}

/// View reads (M10) at random snaps of a database with 100 and with
/// 100,000 snaps of metadata: the fork chain comes from the fork index, so
/// the two cost about the same; beside them the same reads scanning the
/// metadata, as a file without the index is read.
fn views(c: &mut Criterion) {
    let mut group = c.benchmark_group("views");
    for (n, indexed) in [(100i64, true), (100_000, true), (100_000, false)] {
        let (_dir, db) = forked(n, indexed);
        let read = db.begin_read().unwrap();
        let ram = read.space("ram").unwrap();
        let mut rng = Lcg::new(23);
        let label = if indexed { "indexed" } else { "scanned" };
        group.bench_function(format!("view_read_{n}_snaps_with_metadata_{label}"), |b| {
            b.iter(|| {
                // A timeline snap, or a scratch snap and its fork.
                let snap = match rng.below(2) {
                    0 => rng.below(n as u64) as Snap,
                    _ => -1 - rng.below(100) as Snap,
                };
                let mut buf = [0u8; 32];
                black_box(ram.view_bytes(snap, 0x1000, &mut buf).unwrap());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest, queries, history_length, views);
criterion_main!(benches);
