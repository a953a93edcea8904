//! The as-of point query as a capture grows (read-performance issue, item
//! 2): W1 of N events recorded into tracemem (a RecordingMaster over
//! MockMaster, `Every(10000)`, as `soak` does) and into SQLite (the record
//! harness's schema: one row per event, index on (address, seq), 10,000-row
//! transactions), streamed, never held in memory. Then Q queries (the
//! address of a random event, as of a random event's snap) from one read
//! transaction and one prepared statement: one untimed pass each, then
//! three timed passes alternating between the engines, then three more
//! with each query timed; each engine's rate (the median pass of each
//! kind: the clock read twice a query adds the same ~40 ns to both
//! engines' queries) and latency percentiles over the passes with each
//! query timed, with the answers compared. Run it at 5,000,000 and
//! 50,000,000 events to see how each engine's query time grows with the
//! capture.
//!
//! With `--index 1`, the chunk index is written after recording (and its
//! time printed), and tracemem's queries go through it.
//!
//! With `--keep DIR --reuse 1`, the files a run with the same `--events`
//! kept in DIR are queried again without recording them (the events are
//! generated again for the queries' addresses only).
//!
//! `cargo bench -p tracemem-bench --bench asof [-- --events N --queries Q --cache-mb M --index 1 --keep DIR --reuse 1]`

use std::time::{Duration, Instant};

use rusqlite::params;
use tracemem::record::{FlushPolicy, Master, MockMaster, Op, RecorderOptions, RecordingMaster};
use tracemem::workloads::{Lcg, W1};
use tracemem::{CaptureSpec, Database, MemoryRead};

fn main() {
    let n = tracemem_bench::arg("--events", 5_000_000);
    let q = tracemem_bench::arg("--queries", 200_000);
    // `--cache-mb M`: redb's page cache for the queries (default redb's own).
    let cache_mb = Some(tracemem_bench::arg("--cache-mb", 0)).filter(|&mb| mb > 0);
    let indexed = tracemem_bench::arg("--index", 0) != 0;
    // `--keep DIR`: the two files are written into DIR and kept (for
    // timing whole processes on them afterwards).
    let dir = tempfile::tempdir_in(".").unwrap();
    let files = tracemem_bench::path_arg("--keep").unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&files).unwrap();
    let tm_path = files.join("w1.tmdb");
    let sq_path = files.join("w1.sqlite");
    let reuse = tracemem_bench::arg("--reuse", 0) != 0 && tm_path.exists() && sq_path.exists();
    for stale in [
        "w1.tmdb",
        "w1.tmdb.chunk-index",
        "w1.sqlite",
        "w1.sqlite-wal",
        "w1.sqlite-shm",
    ] {
        if !reuse {
            let _ = std::fs::remove_file(files.join(stale));
        }
    }

    // The queries first: a random event's address, as of a random event.
    let mut rng = Lcg::new(11);
    let mut queries: Vec<(u64, u64, u64)> = (0..q).map(|_| (rng.below(n as u64), 0, rng.below(n as u64))).collect();
    let mut by_address_seq: Vec<usize> = (0..q).collect();
    by_address_seq.sort_by_key(|&i| queries[i].0);

    let conn = match reuse {
        false => record(n, &tm_path, &sq_path, &mut queries, &by_address_seq),
        true => {
            eprintln!("querying the {n} W1 events kept in {}...", files.display());
            let mut next_query = 0;
            for (seq, e) in W1::new(1).take(n).enumerate() {
                while next_query < q && queries[by_address_seq[next_query]].0 == seq as u64 {
                    queries[by_address_seq[next_query]].1 = e.address;
                    next_query += 1;
                }
            }
            if !indexed {
                let _ = std::fs::remove_file(files.join("w1.tmdb.chunk-index"));
            }
            rusqlite::Connection::open(&sq_path).unwrap()
        }
    };
    let tm_size = std::fs::metadata(&tm_path).unwrap().len();
    let sq_size = std::fs::metadata(&sq_path).unwrap().len();

    if indexed {
        let report = Database::open(&tm_path).unwrap().write_chunk_index().unwrap();
        eprintln!(
            "chunk index: {} chunks of {} granules, {} bytes, written in {:.2} s",
            report.chunks, report.granules, report.bytes, report.seconds
        );
    }
    let mut builder = Database::builder();
    if let Some(mb) = cache_mb {
        builder.cache_size(mb << 20);
    }
    let db = builder.open(&tm_path).unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.uses_chunk_index(), indexed);
    let capture = read.capture("w1").unwrap();
    let space = read.space("bus").unwrap();
    let snaps: Vec<i64> = queries
        .iter()
        .map(|&(_, _, seq)| read.event_snap(&capture, seq).unwrap().unwrap())
        .collect();
    let mut stmt = conn
        .prepare("SELECT value FROM events WHERE address = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT 1")
        .unwrap();

    // One pass of each engine: the answers, and with `latencies` each
    // query's (the clock read twice a query, about 40 ns on these
    // machines: the passes that give the rates read it once a pass).
    let tm_pass = |latencies: Option<&mut Vec<Duration>>| -> Vec<Option<u64>> {
        let mut latencies = latencies;
        queries
            .iter()
            .zip(&snaps)
            .map(|(&(_, address, _), &snap)| {
                let started = latencies.is_some().then(Instant::now);
                let mut buf = [0u8; 4];
                let filled = space.get_bytes(snap, address, &mut buf).unwrap();
                if let (Some(latencies), Some(started)) = (latencies.as_deref_mut(), started) {
                    latencies.push(started.elapsed());
                }
                (filled == 4).then(|| u64::from(u32::from_le_bytes(buf)))
            })
            .collect()
    };
    let mut sq_pass = |latencies: Option<&mut Vec<Duration>>| -> Vec<Option<u64>> {
        let mut latencies = latencies;
        queries
            .iter()
            .map(|&(_, address, seq)| {
                let started = latencies.is_some().then(Instant::now);
                let value = stmt
                    .query_row(params![address as i64, seq as i64], |row| row.get::<_, i64>(0))
                    .ok()
                    .map(|v| v as u64);
                if let (Some(latencies), Some(started)) = (latencies.as_deref_mut(), started) {
                    latencies.push(started.elapsed());
                }
                value
            })
            .collect()
    };
    // `--tracemem-passes P`: only P passes of tracemem's queries, for a
    // profiler; nothing is printed.
    let tracemem_passes = tracemem_bench::arg("--tracemem-passes", 0);
    if tracemem_passes > 0 {
        for _ in 0..tracemem_passes {
            std::hint::black_box(tm_pass(None));
        }
        return;
    }
    eprintln!("{q} as-of queries, an untimed pass, three timed ones and three with each query timed, alternating...");
    let tm_answers = tm_pass(None);
    let sq_answers = sq_pass(None);
    let (mut tm_lat, mut sq_lat) = (Vec::new(), Vec::new());
    let (mut tm_times, mut sq_times) = (Vec::new(), Vec::new());
    let (mut tm_clocked, mut sq_clocked) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(tm_pass(None), tm_answers);
        tm_times.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(sq_pass(None), sq_answers);
        sq_times.push(started.elapsed());
    }
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(tm_pass(Some(&mut tm_lat)), tm_answers);
        tm_clocked.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(sq_pass(Some(&mut sq_lat)), sq_answers);
        sq_clocked.push(started.elapsed());
    }
    let mismatches = tm_answers.iter().zip(&sq_answers).filter(|(a, b)| a != b).count();
    for times in [&mut tm_times, &mut sq_times, &mut tm_clocked, &mut sq_clocked] {
        times.sort();
    }
    tm_lat.sort();
    sq_lat.sort();
    let rate = |d: Duration| q as f64 / d.as_secs_f64();
    let permille = |lat: &[Duration], p: usize| lat[(lat.len() * p / 1000).min(lat.len() - 1)].as_nanos();
    println!(
        "{n} W1 events, {q} queries, {}; tracemem {tm_size} bytes{}, SQLite {sq_size} bytes",
        tracemem_bench::machine(),
        if indexed { " (through its chunk index)" } else { "" }
    );
    println!("| engine | queries/s (median of 3 passes) | the same, each query timed | p50 ns | p99 ns | p99.9 ns |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, times, clocked, lat) in [
        ("tracemem", &tm_times, &tm_clocked, &tm_lat),
        ("SQLite", &sq_times, &sq_clocked, &sq_lat),
    ] {
        println!(
            "| {name} | {:.0} | {:.0} | {} | {} | {} |",
            rate(times[1]),
            rate(clocked[1]),
            permille(lat, 500),
            permille(lat, 990),
            permille(lat, 999)
        );
    }
    println!(
        "tracemem / SQLite: {:.2}x ({:.2}x with each query timed)",
        rate(tm_times[1]) / rate(sq_times[1]),
        rate(tm_clocked[1]) / rate(sq_clocked[1])
    );
    println!("answers differing from SQLite's: {mismatches} of {q} (where an address's widths differ)");
}

/// Records `n` W1 events into tracemem at `tm_path` and SQLite at
/// `sq_path`, filling each query's address (`queries[i].1`) from the event
/// it names (`queries[i].0`, visited in `by_address_seq` order); the SQLite
/// connection, checkpointed.
fn record(
    n: usize,
    tm_path: &std::path::Path,
    sq_path: &std::path::Path,
    queries: &mut [(u64, u64, u64)],
    by_address_seq: &[usize],
) -> rusqlite::Connection {
    let q = queries.len();
    eprintln!("recording {n} W1 events into tracemem and SQLite...");
    let options = RecorderOptions {
        policy: FlushPolicy::every(10_000).unwrap(),
        ..RecorderOptions::default()
    };
    let mut bus = RecordingMaster::create(MockMaster::new(), tm_path, &CaptureSpec::new("w1"), options).unwrap();
    let mut mock = MockMaster::new();
    let mut conn = tracemem_bench::sqlite_events(sq_path);
    let mut next_query = 0;
    let mut tx = conn.transaction().unwrap();
    for (seq, mut e) in W1::new(1).take(n).enumerate() {
        let width = e.width.unwrap_or(4);
        match e.op {
            Op::Read => {
                e.value = mock.read(e.address, width).unwrap_or(0);
                let _ = bus.read(e.address, width).unwrap();
            }
            Op::Write => {
                mock.write(e.address, e.value, width).unwrap();
                bus.write(e.address, e.value, width).unwrap();
            }
        }
        tracemem_bench::insert_event(&tx, seq, &e);
        if seq % 10_000 == 9_999 {
            tx.commit().unwrap();
            tx = conn.transaction().unwrap();
        }
        while next_query < q && queries[by_address_seq[next_query]].0 == seq as u64 {
            queries[by_address_seq[next_query]].1 = e.address;
            next_query += 1;
        }
    }
    tx.commit().unwrap();
    bus.close().unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    conn
}
