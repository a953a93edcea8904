//! Bulk reads from a new read transaction against the same reads warmed
//! (read-performance issue, item 1). W2 standard is loaded (or, with
//! `--keep PATH`, loaded once into PATH and reused), the database closed and
//! opened again, then per round a new read transaction runs:
//!
//! - Q2: 64 KiB of the heap at random snaps, the first read of the
//!   transaction timed alone, then `--reads` more, the last half of them
//!   timed as the warmed figure;
//! - a full 16 MiB image read at a random snap, first and second in one
//!   transaction;
//! - Q3: a masked 8-byte search of the image that finds nothing, first and
//!   second in one transaction, beside `memchr::memmem` over the same bytes
//!   in a flat buffer.
//!
//! Every figure is the median over the rounds, as a rate (GB/s, 10^9 bytes).
//!
//! `cargo bench -p tracemem-bench --bench bulk [-- --rounds R --reads N --keep PATH]`
//! (`--index 0`: without the file's chunk index; `--image-cache 0`: without
//! the transactions' image cache)

use std::hint::black_box;
use std::time::{Duration, Instant};

use tracemem::workloads::{Lcg, W2_HEAP, W2_HEAP_SIZE, W2_IMAGE, W2Config};
use tracemem::{AddressRange, Database, Direction, MemoryRead, Snap};

const Q2_BYTES: usize = 64 << 10;

fn main() {
    let rounds = tracemem_bench::arg("--rounds", 15);
    let reads = tracemem_bench::arg("--reads", 4000);
    // `--images 0`: Q2 only; `--q2 0`: the images and searches only (for
    // profiling one of them).
    let images = tracemem_bench::arg("--images", 1) != 0;
    let q2 = tracemem_bench::arg("--q2", 1) != 0;
    // `--image-cache BYTES`: the read transactions' image cache (0: none);
    // `--index 0`: not through the file's chunk index (`tracemem index`).
    let image_cache = tracemem_bench::arg("--image-cache", usize::MAX);
    let index = tracemem_bench::arg("--index", 1) != 0;
    let config = W2Config::STANDARD;
    let (_dir, path) = tracemem_bench::w2_database(config);
    // Queried as a finished capture is: opened anew, the OS page cache warm.
    let mut builder = Database::builder();
    builder.chunk_index(index);
    if image_cache != usize::MAX {
        builder.image_cache_size(image_cache);
    }
    let db = builder.open(&path).unwrap();
    let image_len = config.image_size as usize;
    let mut rng = Lcg::new(17);
    let mut random_snap = move || rng.below(config.snaps as u64 + 1) as Snap;
    let mut rng = Lcg::new(19);
    let mut heap_address = move || W2_HEAP + rng.below(W2_HEAP_SIZE - Q2_BYTES as u64 + 1);
    let mut buf = vec![0u8; Q2_BYTES];
    let mut image = vec![0u8; image_len];
    let image_range = AddressRange::from_start_len(W2_IMAGE, config.image_size).unwrap();
    let mask = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff];
    let nowhere = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";

    let mut figures: Vec<(&str, Vec<f64>)> = [
        "Q2 64 KiB, first read",
        "Q2 64 KiB, reads 2-100",
        "Q2 64 KiB, warmed (last half of the reads)",
        "16 MiB image, first read",
        "16 MiB image, second read",
        "Q3 search, first",
        "Q3 search, second",
        "memmem over a flat buffer",
    ]
    .into_iter()
    .map(|name| (name, Vec::new()))
    .collect();
    let gbps = |bytes: usize, d: Duration| bytes as f64 / d.as_secs_f64() / 1e9;
    eprintln!("{rounds} rounds...");
    for _ in 0..rounds {
        if q2 {
            let read = db.begin_read().unwrap();
            let ram = read.space("ram").unwrap();
            let mut timed = |n: usize| {
                let started = Instant::now();
                for _ in 0..n {
                    black_box(ram.get_bytes(random_snap(), heap_address(), &mut buf).unwrap());
                }
                gbps(n * Q2_BYTES, started.elapsed())
            };
            figures[0].1.push(timed(1));
            figures[1].1.push(timed(99));
            timed(reads / 2);
            figures[2].1.push(timed(reads / 2));
        }
        if !images {
            continue;
        }
        for (first, second) in [(3, 4), (5, 6)] {
            let read = db.begin_read().unwrap();
            let ram = read.space("ram").unwrap();
            for figure in [first, second] {
                let snap = random_snap();
                let started = Instant::now();
                if first == 3 {
                    black_box(ram.get_bytes(snap, W2_IMAGE, &mut image).unwrap());
                } else {
                    let hit = ram.find_bytes(snap, image_range, &nowhere, Some(&mask), Direction::Forward);
                    assert!(black_box(hit.unwrap()).is_none());
                }
                figures[figure].1.push(gbps(image_len, started.elapsed()));
            }
        }
        let started = Instant::now();
        assert!(black_box(memchr::memmem::find(&image, &nowhere)).is_none());
        figures[7].1.push(gbps(image_len, started.elapsed()));
    }
    println!(
        "W2 standard, {rounds} rounds, {reads} Q2 reads a round, chunk index {}, {}",
        if db.begin_read().unwrap().uses_chunk_index() {
            "used"
        } else {
            "not used"
        },
        tracemem_bench::machine()
    );
    println!("| figure | GB/s (median) | min | max |");
    println!("|---|---:|---:|---:|");
    let mut medians = Vec::new();
    for (name, mut values) in figures {
        if values.is_empty() {
            medians.push(f64::NAN);
            continue;
        }
        values.sort_by(f64::total_cmp);
        let median = values[values.len() / 2];
        medians.push(median);
        println!(
            "| {name} | {median:.2} | {:.2} | {:.2} |",
            values[0],
            values[values.len() - 1]
        );
    }
    println!(
        "first search / first image read: {:.2}x; second search / memmem: {:.2}x",
        medians[5] / medians[3],
        medians[6] / medians[7]
    );
}
