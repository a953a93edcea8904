//! Shared by the benchmarks: loading W2 into tracemem, and query streams.

use tracemem::workloads::{Lcg, W2_HEAP, W2_HEAP_SIZE, W2_STACK_HIGH, W2_STACK_LOW, W2Config, W2Write, w2};
use tracemem::{AddressRange, Database, MemState, Snap};

/// Every W2 write, generated up front so that loaders time only loading.
pub fn w2_writes(config: W2Config) -> Vec<W2Write> {
    let mut out = Vec::new();
    w2(config, |w| out.push(w));
    out
}

pub fn snap_of(w: &W2Write) -> Snap {
    match w {
        W2Write::Put { snap, .. } | W2Write::Error { snap, .. } => *snap,
    }
}

/// Loads `writes` into `db`, one write transaction per `snaps_per_txn` snaps.
pub fn load_tracemem(db: &Database, writes: &[W2Write], snaps_per_txn: Snap) {
    let mut txn = db.begin_write().unwrap();
    let mut batch = 0;
    for w in writes {
        if snap_of(w) / snaps_per_txn != batch {
            txn.commit().unwrap();
            txn = db.begin_write().unwrap();
            batch = snap_of(w) / snaps_per_txn;
        }
        match w {
            W2Write::Put {
                space,
                snap,
                address,
                data,
            } => {
                txn.create_space(space)
                    .unwrap()
                    .put_bytes(*snap, *address, data)
                    .unwrap();
            }
            W2Write::Error { snap, address, len } => {
                let range = AddressRange::from_start_len(*address, *len).unwrap();
                txn.create_space("ram")
                    .unwrap()
                    .set_state(*snap, range, MemState::Error)
                    .unwrap();
            }
        }
    }
    txn.commit().unwrap();
}

/// Q1's stream: (snap, address) of 8-byte reads, half on the stack, half in the heap.
pub fn q1_points(config: W2Config, count: usize, seed: u64) -> Vec<(Snap, u64)> {
    let mut rng = Lcg::new(seed);
    (0..count)
        .map(|i| {
            let snap = rng.below(config.snaps as u64 + 1) as Snap;
            let addr = if i % 2 == 0 {
                W2_STACK_LOW + 8 * rng.below((W2_STACK_HIGH - W2_STACK_LOW) / 8 + 1)
            } else {
                W2_HEAP + rng.below(W2_HEAP_SIZE - 8 + 1)
            };
            (snap, addr)
        })
        .collect()
}

/// The machine, for the figures' headers.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cpu}, {cores} cores")
}

/// W1 as the mock bus sees it: the workload's events with each read's value
/// the mock's register (what a RecordingMaster over MockMaster records).
pub fn w1_as_mocked(n: usize) -> Vec<tracemem::record::TraceEvent> {
    use tracemem::record::{Master, MockMaster, Op};
    let mut mock = MockMaster::new();
    tracemem::workloads::W1::new(1)
        .take(n)
        .map(|mut e| {
            let width = e.width.unwrap_or(4);
            match e.op {
                Op::Read => e.value = mock.read(e.address, width).unwrap_or(0),
                Op::Write => mock.write(e.address, e.value, width).unwrap_or(()),
            }
            e
        })
        .collect()
}

/// Records `events` through a RecordingMaster over MockMaster into `path`
/// with `options`; returns the time from creation until `close()` returns,
/// and the file's size.
pub fn record_through_recorder(
    path: &std::path::Path,
    events: &[tracemem::record::TraceEvent],
    options: tracemem::record::RecorderOptions,
) -> (std::time::Duration, u64) {
    use tracemem::record::{Master, MockMaster, Op, RecordingMaster};
    let started = std::time::Instant::now();
    let spec = tracemem::CaptureSpec::new("w1");
    let mut bus = RecordingMaster::create(MockMaster::new(), path, &spec, options).unwrap();
    for e in events {
        let width = e.width.unwrap_or(4);
        match e.op {
            Op::Read => drop(bus.read(e.address, width).unwrap()),
            Op::Write => bus.write(e.address, e.value, width).unwrap(),
        }
    }
    bus.close().unwrap();
    (started.elapsed(), std::fs::metadata(path).unwrap().len())
}

/// The number after command-line argument `name` (`--events 5000000`), or
/// `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The path after command-line argument `name` (`--keep w2.tmdb`), if given.
pub fn path_arg(name: &str) -> Option<std::path::PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from)
}

/// A new SQLite database at `path` with the record harness's schema: WAL,
/// synchronous=NORMAL, one row per event, an index on (address, seq).
pub fn sqlite_events(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE events (seq INTEGER PRIMARY KEY, op INTEGER NOT NULL, address INTEGER NOT NULL,
                              value INTEGER NOT NULL, width INTEGER, timestamp REAL NOT NULL);
         CREATE INDEX events_address ON events (address, seq);",
    )
    .unwrap();
    conn
}

/// Inserts event `e` as row `seq` of [`sqlite_events`]'s table.
pub fn insert_event(conn: &rusqlite::Connection, seq: usize, e: &tracemem::record::TraceEvent) {
    conn.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .unwrap()
        .execute(rusqlite::params![
            seq as i64,
            i64::from(e.op == tracemem::record::Op::Write),
            e.address as i64,
            e.value as i64,
            e.width.map(i64::from),
            e.timestamp
        ])
        .unwrap();
}

/// The path of a W2 database of `config`, loaded 1,000 snaps a transaction
/// and closed: `--keep PATH` if given (loaded there only if missing, so that
/// later runs reuse it), else a file in a new temporary directory, returned
/// with it so that it lives as long.
pub fn w2_database(config: W2Config) -> (Option<tempfile::TempDir>, std::path::PathBuf) {
    let (dir, path) = match path_arg("--keep") {
        Some(path) => (None, path),
        None => {
            let dir = tempfile::tempdir_in(".").unwrap();
            let path = dir.path().join("w2.tmdb");
            (Some(dir), path)
        }
    };
    if !path.exists() {
        eprintln!("loading W2 into {}...", path.display());
        let db = Database::create(&path).unwrap();
        load_tracemem(&db, &w2_writes(config), 1000);
        db.close().unwrap();
    }
    (dir, path)
}
