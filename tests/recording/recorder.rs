//! The recorder (R2-R4) and the seed recorder's own behaviours, plus kill -9
//! crash tests: a child process (this test binary, re-run) records W1 under a
//! flush policy and prints `acked <n>` whenever the first n events are durable
//! under it; the parent kills it at a random moment, reopens the database and
//! checks what survived. `TRACEMEM_RECORD_KILLS` sets the kills per policy
//! (default 30).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tracemem::record::{
    BusOp, ExportFormat, FlushPolicy, Master, MockMaster, Op, RecorderOptions, RecordingMaster, SyncPolicy,
    export_trace, journal_path,
};
use tracemem::workloads::W1;
use tracemem::{CaptureSpec, Database, MemState, MemoryRead};

fn options(policy: FlushPolicy) -> RecorderOptions {
    RecorderOptions {
        policy,
        journal_capacity: 4 << 20,
        ..RecorderOptions::default()
    }
}

#[test]
fn reads_and_writes_are_recorded_with_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    let mut bus = RecordingMaster::create(
        MockMaster::new(),
        &path,
        &CaptureSpec::new("seed"),
        options(FlushPolicy::Event),
    )
    .unwrap();
    assert_eq!(bus.read(0x4000_0000, 4).unwrap(), 0, "an unwritten address reads 0");
    bus.write(0x4000_0000, 0x42, 4).unwrap();
    assert_eq!(bus.read(0x4000_0000, 4).unwrap(), 0x42);
    bus.mark("phase two").unwrap();
    let ops = [
        BusOp {
            address: 0x10,
            value: 1,
            width: 1,
        },
        BusOp {
            address: 0x11,
            value: 2,
            width: 1,
        },
    ];
    bus.write_many(&ops).unwrap();
    assert_eq!(bus.read_many(&ops).unwrap(), vec![1, 2]);
    // Listed at once, before any commit.
    let events = bus.events().unwrap();
    assert_eq!(events.len(), 7);
    assert_eq!((events[2].op, events[2].value), (Op::Read, 0x42));
    assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    bus.close().unwrap();
    assert!(
        !journal_path(&path).exists(),
        "close leaves the database file complete on its own"
    );
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.events("seed", 0..100).unwrap(), events);
    assert_eq!(read.snap_meta(3).unwrap().unwrap().description, "phase two");
    let mut out = Vec::new();
    export_trace(&read, "seed", ExportFormat::Ndjson, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 7);
}

#[test]
fn a_failing_transaction_is_recorded_then_returned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    let mut inner = MockMaster::new();
    inner.fail_at(0x20);
    let mut bus = RecordingMaster::create(inner, &path, &CaptureSpec::new("f"), options(FlushPolicy::Event)).unwrap();
    assert_eq!(bus.read(0x20, 4).unwrap_err().message, "bus error at 0x20");
    assert!(bus.write(0x20, 5, 4).is_err());
    assert!(
        bus.read(0x10, 9).is_err(),
        "a width outside 1..=8 never reaches the bus"
    );
    let events = bus.events().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].error.as_deref(), Some("bus error at 0x20"));
    drop(bus);
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    let capture = read.capture("f").unwrap();
    let bus_space = read.space("bus").unwrap();
    assert_eq!(bus_space.state(capture.first_snap, 0x20).unwrap(), MemState::Error);
    assert_eq!(read.events("f", 0..2).unwrap(), events);
}

#[test]
fn a_new_capture_continues_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    for name in ["one", "two"] {
        let mut bus = RecordingMaster::create(
            MockMaster::new(),
            &path,
            &CaptureSpec::new(name),
            options(FlushPolicy::Never),
        )
        .unwrap();
        for event in W1::new(1).take(1000) {
            match event.op {
                Op::Read => drop(bus.read(event.address, event.width.unwrap())),
                Op::Write => drop(bus.write(event.address, event.value, event.width.unwrap())),
            }
        }
        bus.close().unwrap();
    }
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.capture("two").unwrap().first_snap, 1000);
    assert_eq!(read.events("two", 0..2000).unwrap().len(), 1000);
}

/// Records the first `n` events of W1 (seed `seed`) through `bus`.
fn record_w1(bus: &mut RecordingMaster<MockMaster>, seed: u64, n: usize) {
    for event in W1::new(seed).take(n) {
        match event.op {
            Op::Read => drop(bus.read(event.address, event.width.unwrap()).unwrap()),
            Op::Write => bus.write(event.address, event.value, event.width.unwrap()).unwrap(),
        }
    }
}

#[test]
fn dropping_the_recorder_flushes() {
    // Under `Never` nothing reaches the journal before a flush: only the
    // drop's flush can put these events in the database.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    let mut bus = RecordingMaster::create(
        MockMaster::new(),
        &path,
        &CaptureSpec::new("dropped"),
        options(FlushPolicy::Never),
    )
    .unwrap();
    record_w1(&mut bus, 3, 500);
    let events = bus.events().unwrap();
    drop(bus);
    assert!(
        !journal_path(&path).exists(),
        "a dropped recorder leaves the database complete on its own"
    );
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.events("dropped", 0..1000).unwrap(), events);
}

#[test]
fn the_sync_option_bounds_unsynced_events_by_count_and_by_time_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    // No commit comes to the rescue: only the sync option syncs.
    let quiet = RecorderOptions {
        commit_interval: Duration::from_secs(3600),
        ..options(FlushPolicy::Event)
    };
    // By count: every 100 events, however fast they come.
    let mut bus = RecordingMaster::create(
        MockMaster::new(),
        &dir.path().join("count.tmdb"),
        &CaptureSpec::new("count"),
        RecorderOptions {
            sync: Some(SyncPolicy {
                interval: Duration::from_secs(3600),
                events: 100,
            }),
            ..quiet.clone()
        },
    )
    .unwrap();
    record_w1(&mut bus, 5, 250);
    assert_eq!(bus.synced(), 200);
    bus.close().unwrap();
    // By time, while the recorder sits idle after its last event.
    let mut bus = RecordingMaster::create(
        MockMaster::new(),
        &dir.path().join("idle.tmdb"),
        &CaptureSpec::new("idle"),
        RecorderOptions {
            sync: Some(SyncPolicy {
                interval: Duration::from_millis(20),
                events: u64::MAX,
            }),
            ..quiet.clone()
        },
    )
    .unwrap();
    record_w1(&mut bus, 5, 10);
    let started = std::time::Instant::now();
    while bus.synced() < 10 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(bus.synced(), 10, "an idle journal is synced within its interval");
    bus.close().unwrap();
    // Without the option, journaled events are durable against a crash of
    // the process, not known to be on the disk, until they are committed.
    let mut bus = RecordingMaster::create(
        MockMaster::new(),
        &dir.path().join("none.tmdb"),
        &CaptureSpec::new("none"),
        quiet,
    )
    .unwrap();
    record_w1(&mut bus, 5, 10);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!((bus.durable(), bus.synced()), (10, 0));
    bus.flush().unwrap();
    assert_eq!(bus.synced(), 10, "a commit puts them on the disk");
    bus.close().unwrap();
}

/// A master that counts which of its calls were used.
#[derive(Default)]
struct CountingMaster {
    inner: MockMaster,
    single: usize,
    batched: usize,
}

impl Master for CountingMaster {
    fn read(&mut self, address: u64, width: u8) -> Result<u64, tracemem::record::BusError> {
        self.single += 1;
        self.inner.read(address, width)
    }
    fn write(&mut self, address: u64, value: u64, width: u8) -> Result<(), tracemem::record::BusError> {
        self.single += 1;
        self.inner.write(address, value, width)
    }
    fn read_many(&mut self, ops: &[BusOp]) -> Result<Vec<u64>, tracemem::record::BusError> {
        self.batched += 1;
        ops.iter().map(|op| self.inner.read(op.address, op.width)).collect()
    }
    fn write_many(&mut self, ops: &[BusOp]) -> Result<(), tracemem::record::BusError> {
        self.batched += 1;
        ops.iter()
            .try_for_each(|op| self.inner.write(op.address, op.value, op.width))
    }
}

#[test]
fn batched_calls_use_the_inner_masters_batched_path_and_record_each_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    let mut bus = RecordingMaster::create(
        CountingMaster::default(),
        &path,
        &CaptureSpec::new("batched"),
        options(FlushPolicy::Event),
    )
    .unwrap();
    let ops: Vec<BusOp> = (0..5u64)
        .map(|i| BusOp {
            address: 0x100 + 4 * i,
            value: 0x10 + i,
            width: 4,
        })
        .collect();
    bus.write_many(&ops).unwrap();
    assert_eq!(bus.read_many(&ops).unwrap(), vec![0x10, 0x11, 0x12, 0x13, 0x14]);
    let events = bus.events().unwrap();
    assert_eq!(events.len(), 10, "each op of a batched call is an event");
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(
            (events[i].op, events[i].address, events[i].value),
            (Op::Write, op.address, op.value)
        );
        assert_eq!(
            (events[5 + i].op, events[5 + i].address, events[5 + i].value),
            (Op::Read, op.address, op.value)
        );
    }
    let inner = bus.inner();
    assert_eq!(
        (inner.batched, inner.single),
        (2, 0),
        "one batched call each, no single ones"
    );
    bus.close().unwrap();
}

/// Folding on a thread of its own or within the recording calls commits the
/// same events, marks and memory, with a small journal and few pending
/// events so that batches wait for each other and the journal fills.
#[test]
fn folding_in_the_background_or_inline_records_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorded = Vec::new();
    for background in [true, false] {
        let path = dir.path().join(format!("fold-{background}.tmdb"));
        let options = RecorderOptions {
            commit_interval: Duration::from_millis(1),
            max_pending: 300,
            journal_capacity: 16 << 10,
            background_fold: background,
            ..options(FlushPolicy::Every(std::num::NonZeroU64::new(7).unwrap()))
        };
        let mut bus = RecordingMaster::create(MockMaster::new(), &path, &CaptureSpec::new("w1"), options).unwrap();
        for (i, event) in W1::new(3).take(20_000).enumerate() {
            match event.op {
                Op::Read => drop(bus.read(event.address, event.width.unwrap()).unwrap()),
                Op::Write => bus.write(event.address, event.value, event.width.unwrap()).unwrap(),
            }
            if i % 2_500 == 0 {
                bus.mark(&format!("at {i}")).unwrap();
            }
            if i % 6_000 == 0 {
                assert_eq!(bus.events().unwrap().len(), i + 1, "every event listed at once");
            }
        }
        bus.close().unwrap();
        let db = Database::open(&path).unwrap();
        let read = db.begin_read().unwrap();
        let events: Vec<_> = read
            .events("w1", 0..u64::MAX)
            .unwrap()
            .into_iter()
            .map(|e| (e.op, e.address, e.value, e.width))
            .collect();
        assert_eq!(events.len(), 20_000);
        let space = read.space("bus").unwrap();
        let mut memory = Vec::new();
        for snap in (0..20_000).step_by(997) {
            let mut buf = vec![0; 0x400];
            space.get_bytes(snap, 0x4001_0000, &mut buf).unwrap();
            memory.push(buf);
        }
        // A mark labels the snap of the next event.
        let marks: Vec<_> = (1..20_000)
            .step_by(2_500)
            .map(|s| read.snap_meta(s).unwrap().map(|m| m.description))
            .collect();
        recorded.push((events, memory, marks));
    }
    assert!(recorded[0] == recorded[1], "the two ways of folding disagree");
    assert_eq!(recorded[0].2[1].as_deref(), Some("at 2500"));
}

const CHILD_ENV: &str = "TRACEMEM_RECORD_CHILD";

/// The child: records W1 until killed, printing `acked <n>` when the first n
/// events are durable under its policy.
#[test]
fn crash_child_recorder() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (path, policy) = spec.split_once('|').unwrap();
    let policy = FlushPolicy::parse(policy).unwrap();
    // Frequent commits, few pending events and a small journal: kills land
    // in folds, after journal wraps, and when the journal is full.
    let options = RecorderOptions {
        commit_interval: Duration::from_millis(2),
        max_pending: 700,
        journal_capacity: 64 << 10,
        ..options(policy)
    };
    let mut bus =
        RecordingMaster::create(MockMaster::new(), Path::new(path), &CaptureSpec::new("soak"), options).unwrap();
    let mut acked = 0;
    for (i, event) in W1::new(1).enumerate() {
        let n = i as u64 + 1;
        match event.op {
            Op::Read => drop(bus.read(event.address, event.width.unwrap())),
            Op::Write => drop(bus.write(event.address, event.value, event.width.unwrap())),
        }
        if policy == FlushPolicy::Never && n.is_multiple_of(500) {
            bus.flush().unwrap();
        }
        // The recorder's durability claim must honour the policy...
        let durable = bus.durable();
        match policy {
            FlushPolicy::Event => assert_eq!(durable, n),
            FlushPolicy::Every(k) => assert!(n - durable < k.get(), "{n} recorded, {durable} durable"),
            FlushPolicy::Never => assert!(durable >= n / 500 * 500),
        }
        // ...and the parent checks that the claim survives the kill.
        if durable > acked {
            acked = durable;
            println!("acked {acked}");
        }
    }
}

fn kill_rounds(policy: &str) {
    let kills: u64 = std::env::var("TRACEMEM_RECORD_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ policy.len() as u64;
    // What W1 driven through a plain MockMaster gives: its reads see the
    // mock's registers, not W1's simulated hardware changes.
    let mut mock = MockMaster::new();
    let expected: Vec<_> = W1::new(1)
        .take(20_000)
        .map(|mut e| {
            let width = e.width.unwrap();
            match e.op {
                Op::Read => e.value = mock.read(e.address, width).unwrap(),
                Op::Write => mock.write(e.address, e.value, width).unwrap(),
            }
            e
        })
        .collect();
    let (mut total_acked, mut total_held) = (0u64, 0u64);
    for round in 0..kills {
        let path = dir.path().join(format!("{policy}-{round}.tmdb"));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = 1 + seed % 4000;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "recorder::crash_child_recorder",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{}|{policy}", path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acked = 0u64;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut killed = false;
        while let Some(Ok(line)) = lines.next() {
            if let Some(n) = line.strip_prefix("acked ") {
                acked = n.parse().unwrap();
                if !killed && acked >= kill_after {
                    child.kill().unwrap();
                    killed = true;
                }
            }
        }
        child.wait().unwrap();
        let ctx = format!("policy {policy}, round {round}, acked {acked}");
        if !path.exists() {
            assert_eq!(acked, 0, "{ctx}");
            continue;
        }
        // Opening replays the journal.
        let db = Database::open(&path).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let read = db.begin_read().unwrap();
        let Ok(capture) = read.capture("soak") else {
            assert_eq!(acked, 0, "{ctx}");
            continue;
        };
        let events = read
            .events("soak", 0..u64::MAX)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let held = events.len() as u64;
        assert!(held >= acked, "{ctx}: only {held} events survived");
        total_acked += acked;
        total_held += held;
        // In order, no gaps, no torn values: the W1 prefix as the mock saw it
        // (timestamps are the recorder's own clock).
        for (i, (got, want)) in events.iter().zip(&expected).enumerate() {
            assert_eq!(
                (got.op, got.address, got.value, got.width),
                (want.op, want.address, want.value, want.width),
                "{ctx}: event {i}"
            );
        }
        // Memory agrees with the events.
        let bus = read.space("bus").unwrap();
        if let Some(last) = events.last() {
            let mut buf = [0u8; 8];
            let width = usize::from(last.width.unwrap());
            let snap = read.event_snap(&capture, held - 1).unwrap().unwrap();
            assert_eq!(
                bus.get_bytes(snap, last.address, &mut buf[..width]).unwrap(),
                width,
                "{ctx}"
            );
            assert_eq!(u64::from_le_bytes(buf), last.value, "{ctx}");
        }
        assert!(db.check().unwrap().problems.is_empty(), "{ctx}");
        drop(read);
        drop(db);
        // A new capture can be appended afterwards.
        let mut bus = RecordingMaster::create(
            MockMaster::new(),
            &path,
            &CaptureSpec::new("after"),
            options(FlushPolicy::Event),
        )
        .unwrap();
        bus.write(0x10, 1, 4).unwrap();
        bus.close().unwrap();
        let db = Database::open(&path).unwrap();
        assert_eq!(
            db.begin_read().unwrap().capture("after").unwrap().first_snap,
            capture.first_snap + held as i64,
            "{ctx}"
        );
    }
    eprintln!(
        "flush {policy}: {kills} kills, {total_acked} events acknowledged, {total_held} recovered, none lost, no gaps, no torn values"
    );
}

#[test]
fn kill_9_with_flush_event_loses_no_acknowledged_event() {
    kill_rounds("event");
}

#[test]
fn kill_9_with_flush_every_n_loses_at_most_n_minus_1() {
    kill_rounds("100");
}

#[test]
fn kill_9_with_flush_never_keeps_everything_up_to_the_last_flush() {
    kill_rounds("never");
}
