//! The comparison harness: tracemem against the store a user would otherwise
//! write — SQLite (bundled, WAL, synchronous=NORMAL, batched transactions,
//! one row per written byte keyed by (space, address, snap)) — on W2-small,
//! in one run, with both answering the same Q1 queries and the answers
//! checked equal. Each engine answers the query stream twice after opening:
//! a cold pass (its caches empty) and a warm one. Prints one table.
//!
//! `cargo bench -p tracemem-bench --bench compare [-- --queries N]`

use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tracemem::workloads::{W2Config, W2Write};
use tracemem::{Database, MemoryRead, Snap};

const SNAPS_PER_TXN: Snap = 1000;

struct Figures {
    ingest: Duration,
    size: u64,
    q1_total: Duration,
    q1_latencies: Vec<Duration>,
}

impl Figures {
    fn q1_rate(&self) -> f64 {
        self.q1_latencies.len() as f64 / self.q1_total.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> f64 {
        let mut l = self.q1_latencies.clone();
        l.sort();
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[i].as_secs_f64() * 1e6
    }
}

fn space_id(space: &str) -> i64 {
    if space == "ram" { 0 } else { 1 }
}

fn load_sqlite(conn: &mut Connection, writes: &[W2Write]) {
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE bytes (
             space INTEGER NOT NULL, address INTEGER NOT NULL, snap INTEGER NOT NULL,
             state INTEGER NOT NULL, value INTEGER,
             PRIMARY KEY (space, address, snap));",
    )
    .unwrap();
    let mut i = 0;
    while i < writes.len() {
        let batch = tracemem_bench::snap_of(&writes[i]) / SNAPS_PER_TXN;
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached("INSERT OR REPLACE INTO bytes VALUES (?1, ?2, ?3, ?4, ?5)")
                .unwrap();
            while i < writes.len() && tracemem_bench::snap_of(&writes[i]) / SNAPS_PER_TXN == batch {
                match &writes[i] {
                    W2Write::Put {
                        space,
                        snap,
                        address,
                        data,
                    } => {
                        for (k, b) in data.iter().enumerate() {
                            insert
                                .execute(params![space_id(space), (*address + k as u64) as i64, snap, 1, b])
                                .unwrap();
                        }
                    }
                    W2Write::Error { snap, address, len } => {
                        for k in 0..*len {
                            insert
                                .execute(params![0, (*address + k) as i64, snap, 2, None::<i64>])
                                .unwrap();
                        }
                    }
                }
                i += 1;
            }
        }
        tx.commit().unwrap();
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
}

/// Q1 in SQLite: one probe per byte for its latest KNOWN row at or before the snap.
fn sqlite_q1(conn: &Connection, snap: Snap, addr: u64, buf: &mut [u8; 8]) -> usize {
    let mut stmt = conn
        .prepare_cached(
            "SELECT value FROM bytes WHERE space = 0 AND address = ?1 AND snap BETWEEN 0 AND ?2 AND state = 1
             ORDER BY snap DESC LIMIT 1",
        )
        .unwrap();
    let mut filled = 0;
    for (k, slot) in buf.iter_mut().enumerate() {
        let mut rows = stmt.query(params![(addr + k as u64) as i64, snap]).unwrap();
        if let Some(row) = rows.next().unwrap() {
            *slot = row.get::<_, i64>(0).unwrap() as u8;
            filled += 1;
        }
    }
    filled
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let queries = args
        .iter()
        .position(|a| a == "--queries")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000usize);
    let config = W2Config::SMALL;
    let dir = tempfile::tempdir_in(".").unwrap();
    eprintln!("generating W2-small...");
    let writes = tracemem_bench::w2_writes(config);
    let points = tracemem_bench::q1_points(config, queries, 7);

    eprintln!("loading tracemem...");
    let tm_path = dir.path().join("w2.tmdb");
    let started = Instant::now();
    let db = Database::create(&tm_path).unwrap();
    tracemem_bench::load_tracemem(&db, &writes, SNAPS_PER_TXN);
    let tm_ingest = started.elapsed();
    drop(db);
    let tm_size = file_size(&tm_path);

    eprintln!("loading SQLite...");
    let sq_path = dir.path().join("w2.sqlite");
    let started = Instant::now();
    let mut conn = Connection::open(&sq_path).unwrap();
    load_sqlite(&mut conn, &writes);
    let sq_ingest = started.elapsed();
    let sq_size = file_size(&sq_path) + file_size(&sq_path.with_extension("sqlite-wal"));

    eprintln!("querying ({queries} Q1 reads each)...");
    let db = Database::open(&tm_path).unwrap();
    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();
    // Each engine answers the stream twice: the first pass after opening
    // (cold caches) and a second, warm pass, reported separately.
    let mut tm_answers = Vec::with_capacity(queries);
    let mut tm_passes = Vec::new();
    for _ in 0..2 {
        tm_answers.clear();
        let mut lat = Vec::with_capacity(queries);
        let started = Instant::now();
        for &(snap, addr) in &points {
            let t = Instant::now();
            let mut buf = [0u8; 8];
            let n = ram.get_bytes(snap, addr, &mut buf).unwrap();
            lat.push(t.elapsed());
            tm_answers.push((n, buf));
        }
        tm_passes.push((started.elapsed(), lat));
    }

    let mut sq_passes = Vec::new();
    let mut mismatches = 0;
    for _ in 0..2 {
        let mut lat = Vec::with_capacity(queries);
        let started = Instant::now();
        for (i, &(snap, addr)) in points.iter().enumerate() {
            let t = Instant::now();
            let mut buf = [0u8; 8];
            let n = sqlite_q1(&conn, snap, addr, &mut buf);
            lat.push(t.elapsed());
            if (n, buf) != tm_answers[i] {
                mismatches += 1;
                if mismatches <= 5 {
                    eprintln!(
                        "MISMATCH at snap {snap} addr {addr:#x}: tracemem {:?}, SQLite {:?}",
                        tm_answers[i],
                        (n, buf)
                    );
                }
            }
        }
        sq_passes.push((started.elapsed(), lat));
    }
    assert_eq!(mismatches, 0, "tracemem and SQLite disagree on {mismatches} Q1 answers");
    drop(read);
    drop(db);

    eprintln!("packing a copy of the tracemem file...");
    let packed_path = dir.path().join("w2-packed.tmdb");
    std::fs::copy(&tm_path, &packed_path).unwrap();
    let started = Instant::now();
    tracemem::pack(&packed_path, &mut |_| {}).unwrap();
    let pack_time = started.elapsed();
    let packed_size = file_size(&packed_path);
    // And a copy with its chunk index written.
    let indexed_path = dir.path().join("w2-indexed.tmdb");
    std::fs::copy(&tm_path, &indexed_path).unwrap();
    let indexed_db = Database::open(&indexed_path).unwrap();
    let index_report = indexed_db.write_chunk_index().unwrap();
    // Warm Q1 on the packed, the unpacked and the indexed file, alternating passes.
    let (mut on_packed, mut on_unpacked, mut on_indexed) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let packed_db = Database::open(&packed_path).unwrap();
    let unpacked_db = Database::open(&tm_path).unwrap();
    for _ in 0..3 {
        for (db, best) in [
            (&packed_db, &mut on_packed),
            (&unpacked_db, &mut on_unpacked),
            (&indexed_db, &mut on_indexed),
        ] {
            let read = db.begin_read().unwrap();
            let ram = read.space("ram").unwrap();
            let started = Instant::now();
            for (i, &(snap, addr)) in points.iter().enumerate() {
                let mut buf = [0u8; 8];
                let n = ram.get_bytes(snap, addr, &mut buf).unwrap();
                assert_eq!(
                    (n, buf),
                    tm_answers[i],
                    "packed answers differ at snap {snap} addr {addr:#x}"
                );
            }
            *best = (*best).min(started.elapsed());
        }
    }

    let (tm_cold, tm_warm) = (tm_passes.remove(0), tm_passes.remove(0));
    let (sq_cold, sq_warm) = (sq_passes.remove(0), sq_passes.remove(0));

    let figures = |ingest, size, (q1_total, q1_latencies): (Duration, Vec<Duration>)| Figures {
        ingest,
        size,
        q1_total,
        q1_latencies,
    };
    let tm = figures(tm_ingest, tm_size, tm_warm);
    let sq = figures(sq_ingest, sq_size, sq_warm);
    let tm_c = figures(tm_ingest, tm_size, tm_cold);
    let sq_c = figures(sq_ingest, sq_size, sq_cold);
    let bytes_written: usize = writes
        .iter()
        .map(|w| match w {
            W2Write::Put { data, .. } => data.len(),
            W2Write::Error { len, .. } => *len as usize,
        })
        .sum();
    println!(
        "W2-small ({} writes, {bytes_written} bytes, snaps 0..={}), {queries} Q1 queries, all answers equal",
        writes.len(),
        config.snaps
    );
    println!("machine: {}", tracemem_bench::machine());
    println!("| figure | tracemem | SQLite | tracemem / SQLite |");
    println!("|---|---:|---:|---:|");
    println!(
        "| ingest (s) | {:.2} | {:.2} | {:.1}x faster |",
        tm.ingest.as_secs_f64(),
        sq.ingest.as_secs_f64(),
        sq.ingest.as_secs_f64() / tm.ingest.as_secs_f64()
    );
    println!(
        "| database size (MiB) | {:.1} | {:.1} | {:.3}x the size |",
        tm.size as f64 / 1048576.0,
        sq.size as f64 / 1048576.0,
        tm.size as f64 / sq.size as f64
    );
    println!(
        "| database size after pack (MiB) | {:.1} | {:.1} | {:.3}x the size (pack took {:.2} s) |",
        packed_size as f64 / 1048576.0,
        sq.size as f64 / 1048576.0,
        packed_size as f64 / sq.size as f64,
        pack_time.as_secs_f64()
    );
    println!(
        "| Q1 warm, packed vs unpacked tracemem (queries/s, best of 3) | {:.0} | {:.0} (unpacked) | {:.2}x the unpacked time |",
        queries as f64 / on_packed.as_secs_f64(),
        queries as f64 / on_unpacked.as_secs_f64(),
        on_packed.as_secs_f64() / on_unpacked.as_secs_f64()
    );
    println!(
        "| Q1 warm, chunk index vs SQLite warm (queries/s, best of 3; index {:.1} MiB, written in {:.2} s) | {:.0} | {:.0} | {:.1}x ({:.2}x the unindexed time) |",
        index_report.bytes as f64 / 1048576.0,
        index_report.seconds,
        queries as f64 / on_indexed.as_secs_f64(),
        sq.q1_rate(),
        queries as f64 / on_indexed.as_secs_f64() / sq.q1_rate(),
        on_indexed.as_secs_f64() / on_unpacked.as_secs_f64()
    );
    for (pass, tm, sq) in [("warm", &tm, &sq), ("cold", &tm_c, &sq_c)] {
        println!(
            "| Q1 rate, {pass} (queries/s) | {:.0} | {:.0} | {:.1}x |",
            tm.q1_rate(),
            sq.q1_rate(),
            tm.q1_rate() / sq.q1_rate()
        );
        for (name, p) in [("median", 0.5), ("p99", 0.99)] {
            println!(
                "| Q1 {name}, {pass} (us) | {:.2} | {:.2} | {:.1}x lower |",
                tm.percentile(p),
                sq.percentile(p),
                sq.percentile(p) / tm.percentile(p)
            );
        }
    }
}
