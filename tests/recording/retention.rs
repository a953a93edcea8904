//! Retention (issue: bounded captures): dropping the history before a
//! horizon keeps every answer at or after it, against the same database
//! never bounded; reads before it fail naming the horizon; sequence numbers
//! and snaps never renumber.

use proptest::prelude::*;

use tracemem::{AddressRange, CaptureSpec, Database, Error, MemoryRead, Op, TraceEvent};

fn event(i: u64, address: u64, write: bool) -> TraceEvent {
    TraceEvent {
        op: if write { Op::Write } else { Op::Read },
        address,
        value: i.wrapping_mul(0x9e37_79b9) & 0xffff_ffff,
        width: Some(4),
        timestamp: i as f64 * 1e-6,
        error: None,
    }
}

/// What one step does to both databases.
#[derive(Clone, Debug)]
enum Step {
    /// Events appended to capture `bus`.
    Events { n: u64, seed: u64 },
    /// Bytes put into space `ram` at a snap up to the timeline's end.
    Put { at: u64, address: u64, len: u8 },
    /// Bytes of space `ram` removed at a snap that has puts (M7).
    Remove { put: usize, address: u64, len: u8 },
    /// The bounded database's history before a snap dropped (a fraction of
    /// the way from its horizon to the timeline's end).
    Retain { permille: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..3000, any::<u64>()).prop_map(|(n, seed)| Step::Events { n, seed }),
        2 => (any::<u64>(), 0u64..2048, 1u8..40).prop_map(|(at, address, len)| Step::Put { at, address, len }),
        1 => (any::<usize>(), 0u64..2048, 1u8..80).prop_map(|(put, address, len)| Step::Remove { put, address, len }),
        1 => (0u64..=1000).prop_map(|permille| Step::Retain { permille }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn reads_after_the_horizon_equal_the_unbounded_databases(steps in proptest::collection::vec(step(), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let bounded = Database::create(dir.path().join("bounded.tmdb")).unwrap();
        let full = Database::create(dir.path().join("full.tmdb")).unwrap();
        for db in [&bounded, &full] {
            let mut txn = db.begin_write().unwrap();
            txn.create_capture(&CaptureSpec::new("bus")).unwrap();
            txn.create_space("ram").unwrap();
            txn.commit().unwrap();
        }
        let mut horizon = 0i64;
        let mut count = 0u64;
        let mut end = 0i64;
        let mut put_snaps: Vec<i64> = Vec::new();
        for step in &steps {
            match step {
                Step::Events { n, seed } => {
                    let events: Vec<TraceEvent> = (0..*n)
                        .map(|i| event(count + i, 8 * ((seed ^ i) % 37), (seed >> (i % 60)) & 1 == 1))
                        .collect();
                    count += n;
                    for db in [&bounded, &full] {
                        let mut txn = db.begin_write().unwrap();
                        txn.append_events("bus", &events).unwrap();
                        txn.commit().unwrap();
                    }
                    end += *n as i64;
                }
                Step::Put { at, address, len } => {
                    // Not before the horizon: the bounded database refuses that.
                    let span = (end - horizon).max(1) as u64;
                    let snap = horizon + (at % span) as i64;
                    let bytes: Vec<u8> = (0..*len).map(|i| (at >> (i % 8)) as u8 ^ i).collect();
                    for db in [&bounded, &full] {
                        let mut txn = db.begin_write().unwrap();
                        txn.space("ram").unwrap().put_bytes(snap, *address, &bytes).unwrap();
                        txn.commit().unwrap();
                    }
                    end = end.max(snap + 1);
                    put_snaps.push(snap);
                }
                Step::Remove { put, address, len } => {
                    let kept: Vec<i64> = put_snaps.iter().copied().filter(|&s| s >= horizon).collect();
                    if let Some(&snap) = kept.get(put % kept.len().max(1)) {
                        for db in [&bounded, &full] {
                            let mut txn = db.begin_write().unwrap();
                            txn.space("ram").unwrap().remove_bytes(snap, *address, u64::from(*len)).unwrap();
                            txn.commit().unwrap();
                        }
                    }
                }
                Step::Retain { permille } => {
                    let to = horizon + (end - horizon) * *permille as i64 / 1000;
                    let mut txn = bounded.begin_write().unwrap();
                    txn.drop_history_before(to).unwrap();
                    txn.commit().unwrap();
                    horizon = to;
                }
            }
        }
        let (b, f) = (bounded.begin_read().unwrap(), full.begin_read().unwrap());
        prop_assert_eq!(b.horizon().unwrap().unwrap_or(0), horizon);
        let report = bounded.check().unwrap();
        prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
        // Memory at and after the horizon, every snap near it and a sample after.
        for space in ["bus", "ram"] {
            let (bs, fs) = (b.space(space).unwrap(), f.space(space).unwrap());
            let range = AddressRange::new(0, 2100).unwrap();
            let snaps: Vec<i64> = (horizon..=end).filter(|s| s - horizon < 5 || s % 97 == 0 || *s == end).collect();
            for &snap in &snaps {
                let (mut x, mut y) = (vec![0u8; 2100], vec![0u8; 2100]);
                prop_assert_eq!(
                    bs.get_bytes_with_sources(snap, 0, &mut x).unwrap(),
                    fs.get_bytes_with_sources(snap, 0, &mut y).unwrap(),
                    "{} at snap {}", space, snap
                );
                prop_assert_eq!(&x, &y);
                prop_assert_eq!(bs.most_recent_states(snap, range).unwrap(), fs.most_recent_states(snap, range).unwrap());
                prop_assert_eq!(bs.states(snap, range).unwrap(), fs.states(snap, range).unwrap());
                for address in [0u64, 8, 256, 1024, 2047] {
                    prop_assert_eq!(
                        bs.snap_of_most_recent_change_to_block(snap, address).unwrap(),
                        fs.snap_of_most_recent_change_to_block(snap, address).unwrap()
                    );
                }
                prop_assert_eq!(bs.diff(horizon, snap, range).unwrap(), fs.diff(horizon, snap, range).unwrap());
                prop_assert_eq!(
                    bs.changes(horizon - 1, snap).unwrap(),
                    fs.changes(horizon - 1, snap).unwrap()
                );
            }
            if horizon > 0 {
                let mut buf = [0u8; 4];
                let refused = bs.get_bytes(horizon - 1, 0, &mut buf);
                prop_assert!(
                    matches!(refused, Err(Error::BeforeHorizon { snap, horizon: h, .. }) if snap == horizon - 1 && h == horizon),
                    "{:?}", refused
                );
            }
        }
        // Events: the kept ones equal, at the same sequence numbers and snaps.
        let (bc, fc) = (b.capture("bus").unwrap(), f.capture("bus").unwrap());
        prop_assert_eq!(bc.events, fc.events);
        prop_assert_eq!(bc.horizon, f.seq_from_snap(&fc, horizon).unwrap());
        prop_assert_eq!(
            b.events_with_snaps("bus", bc.kept()).unwrap(),
            f.events_with_snaps("bus", bc.kept()).unwrap()
        );
        if bc.horizon > 0 {
            let refused = b.events("bus", bc.horizon - 1..bc.horizon);
            prop_assert!(
                matches!(refused, Err(Error::EventBeforeHorizon { seq, first_kept, .. }) if seq == bc.horizon - 1 && first_kept == bc.horizon),
                "{:?}", refused
            );
        }
    }
}

#[test]
fn a_horizon_past_the_timeline_or_backwards_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_capture(&CaptureSpec::new("bus")).unwrap();
    let events: Vec<TraceEvent> = (0..10).map(|i| event(i, 8 * i, true)).collect();
    txn.append_events("bus", &events).unwrap();
    txn.drop_history_before(5).unwrap();
    let beyond = txn.drop_history_before(11).unwrap_err();
    assert!(beyond.to_string().contains("snap 11 is not in 5..=10"), "{beyond}");
    let back = txn.drop_history_before(4).unwrap_err();
    assert!(back.to_string().contains("snap 4"), "{back}");
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.horizon().unwrap(), Some(5));
    let bus = read.capture("bus").unwrap();
    assert_eq!((bus.horizon, bus.events), (5, 10));
    let message = read
        .space("bus")
        .unwrap()
        .get_bytes(4, 0, &mut [0u8; 4])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("snap 4") && message.contains("before snap 5"),
        "{message}"
    );
}

/// Records 1,500,000 W1 events into capture `w1` under a size bound of
/// `bound` bytes, holding a read transaction open from event `pin_from` on
/// when given; returns the largest size of file and journal, sampled every
/// 50,000 events, and what the recorder reported past the bound.
fn record_bounded(path: &std::path::Path, bound: u64, pin_from: Option<usize>) -> (u64, Option<u64>) {
    use tracemem::Retention;
    use tracemem::record::{Master, MockMaster, RecorderOptions, RecordingMaster, journal_path};
    let options = RecorderOptions {
        policy: tracemem::record::FlushPolicy::Every(std::num::NonZeroU64::new(1000).unwrap()),
        retention: Retention {
            max_size: Some(bound),
            ..Retention::default()
        },
        ..RecorderOptions::default()
    };
    let mut bus = RecordingMaster::create(MockMaster::new(), path, &CaptureSpec::new("w1"), options).unwrap();
    let mut largest = 0u64;
    let mut pinned = None;
    for (i, e) in tracemem::workloads::W1::new(3).take(1_500_000).enumerate() {
        let width = e.width.unwrap();
        match e.op {
            Op::Read => drop(bus.read(e.address, width).unwrap()),
            Op::Write => bus.write(e.address, e.value, width).unwrap(),
        }
        if Some(i) == pin_from {
            pinned = Some(bus.begin_read().unwrap());
        }
        if i % 50_000 == 49_999 {
            bus.flush().unwrap();
            let size =
                std::fs::metadata(path).unwrap().len() + std::fs::metadata(journal_path(path)).map_or(0, |m| m.len());
            largest = largest.max(size);
        }
    }
    bus.flush().unwrap();
    let reported = bus.past_bound();
    drop(pinned);
    bus.close().unwrap();
    (largest, reported)
}

/// A W1 recording bounded to 8 MiB stays within 1.1x of the bound, file and
/// journal together, sampled as it runs; nothing is reported past the bound;
/// the horizon starts an event chunk; the history kept answers as the
/// events say.
#[test]
fn a_size_bounded_recording_stays_under_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bounded.tmdb");
    let bound = 8u64 << 20;
    let (largest, reported) = record_bounded(&path, bound, None);
    assert_eq!(reported, None, "past the bound with no reader held open");
    eprintln!("largest file and journal: {largest} bytes, bound {bound}");
    assert!(
        largest as f64 <= 1.1 * bound as f64,
        "file and journal reached {largest} bytes, bound {bound}"
    );
    let db = Database::open(&path).unwrap();
    assert!(db.check().unwrap().problems.is_empty());
    let read = db.begin_read().unwrap();
    let capture = read.capture("w1").unwrap();
    assert!(capture.horizon > 0, "1,500,000 W1 events outgrow 8 MiB");
    assert_eq!(capture.horizon % 4096, 0, "the horizon starts an event chunk");
    assert_eq!(
        read.horizon().unwrap(),
        read.event_snap(&capture, capture.horizon).unwrap()
    );
    // The kept events agree with memory at their snaps.
    let bus = read.space("bus").unwrap();
    for (snap, event) in read
        .events_with_snaps("w1", capture.kept())
        .unwrap()
        .iter()
        .step_by(997)
    {
        let width = usize::from(event.width.unwrap());
        let mut buf = [0u8; 8];
        assert_eq!(bus.get_bytes(*snap, event.address, &mut buf[..width]).unwrap(), width);
        assert_eq!(u64::from_le_bytes(buf), event.value & (u64::MAX >> (64 - 8 * width)));
    }
}

/// A read transaction held open keeps redb from reusing the pages retention
/// frees, so the file grows past its bound: the one way past it, and the
/// recorder reports it (the CLI says so on standard error).
#[test]
fn a_reader_held_open_takes_the_file_past_its_bound_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinned.tmdb");
    let bound = 8u64 << 20;
    let (largest, reported) = record_bounded(&path, bound, Some(100_000));
    eprintln!(
        "with a reader held open from event 100,000: largest {largest} bytes, reported {reported:?}, bound {bound}"
    );
    assert!(
        largest > bound,
        "the file stayed at {largest} bytes under a pinned reader"
    );
    let reported = reported.expect("the recorder reported nothing past the bound");
    assert!(
        reported > bound && reported <= largest + (1 << 20),
        "reported {reported}"
    );
    let db = Database::open(&path).unwrap();
    assert!(db.check().unwrap().problems.is_empty());
}

/// Retention drops the marks of the snaps before the horizon and keeps the
/// later ones; the horizon falls on the first event of an event chunk.
#[test]
fn retention_drops_the_marks_before_the_horizon() {
    use tracemem::Retention;
    use tracemem::record::{MockMaster, RecorderOptions, RecordingMaster};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("marked.tmdb");
    let options = RecorderOptions {
        retention: Retention {
            keep_events: Some(4096),
            ..Retention::default()
        },
        ..RecorderOptions::default()
    };
    let mut bus = RecordingMaster::create(MockMaster::new(), &path, &CaptureSpec::new("m"), options).unwrap();
    for i in 0..30_000u64 {
        bus.record_event(event(i, 8 * (i % 16), true)).unwrap();
        if i == 10 {
            bus.mark("early").unwrap();
        }
        if i == 29_000 {
            bus.mark("late").unwrap();
        }
    }
    bus.close().unwrap();
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    let capture = read.capture("m").unwrap();
    assert!(capture.horizon > 10, "the early mark's event was kept");
    assert_eq!(capture.horizon % 4096, 0, "horizon at event {}", capture.horizon);
    assert!(capture.kept().end - capture.kept().start >= 4096);
    let texts: Vec<String> = read.marks(&capture).unwrap().into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["late"]);
    let all = read
        .snaps_with_meta(tracemem::Lifespan::new(0, capture.end_snap()).unwrap())
        .unwrap();
    assert!(all.iter().all(|(_, meta)| meta.description != "early"), "{all:?}");
    assert!(db.check().unwrap().problems.is_empty());
}

/// kill -9 of a recorder bounded to few events, so that kills land in and
/// around retention steps: every reopened file is whole (`check`), holds
/// every acknowledged event, and reads from its horizon on.
#[test]
fn kill_9_during_retention_leaves_the_old_or_the_new_horizon() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let kills: u64 = std::env::var("TRACEMEM_RECORD_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    for round in 0..kills {
        let path = dir.path().join(format!("kill-{round}.tmdb"));
        // Past a few commits (every 100 ms), each one a retention step.
        let kill_after = 150_000 + 37_019 * round % 200_000;
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
            .args([
                "soak",
                path.to_str().unwrap(),
                "--events",
                "10000000",
                "--flush",
                "event",
            ])
            .args(["--keep-events", "4096", "--ack", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acked = 0u64;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("acked ") {
                acked = n.parse().unwrap();
                if acked >= kill_after {
                    child.kill().unwrap();
                    break;
                }
            }
        }
        child.wait().unwrap();
        let ctx = format!("round {round}, acked {acked}");
        let db = Database::open(&path).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let report = db.check().unwrap();
        assert!(report.problems.is_empty(), "{ctx}: {:?}", report.problems);
        let read = db.begin_read().unwrap();
        let capture = read.capture("soak").unwrap();
        assert!(capture.events >= acked, "{ctx}: {} events survived", capture.events);
        assert!(capture.horizon > 0, "{ctx}: no retention step happened");
        // The replayed journal's events are bounded too: at most the bound
        // and a step's slack (an event chunk) are kept.
        assert!(
            capture.events - capture.horizon <= 2 * 4096,
            "{ctx}: {} events kept after the replay",
            capture.events - capture.horizon
        );
        let horizon = read.horizon().unwrap().unwrap();
        assert_eq!(
            read.event_snap(&capture, capture.horizon).unwrap(),
            Some(horizon),
            "{ctx}"
        );
        let kept = read.events_with_snaps("soak", capture.kept()).unwrap();
        assert_eq!(kept.len() as u64, capture.events - capture.horizon, "{ctx}");
        let mut buf = [0u8; 4];
        assert!(matches!(
            read.space("bus").unwrap().get_bytes(horizon - 1, 0x4000_0000, &mut buf),
            Err(Error::BeforeHorizon { .. })
        ));
    }
}

/// The timeline's end (where a new capture starts, and the farthest a
/// horizon may go) sees the last change of every space, in the transaction
/// and in the file, also when the transaction removed the last one.
#[test]
fn a_new_capture_starts_after_the_last_change_of_every_space() {
    use tracemem::{MemState, MemoryRead};
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    for snap in [5, 700, 300] {
        ram.put_bytes(snap, 0x10, b"ab").unwrap();
    }
    assert_eq!(txn.create_capture(&CaptureSpec::new("a")).unwrap().first_snap, 701);
    txn.commit().unwrap();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.space("ram").unwrap();
    ram.put_bytes(1000, 0x10, b"cd").unwrap();
    assert_eq!(ram.snap_of_most_recent_change_to_block(2000, 0x10).unwrap(), Some(1000));
    // Removed again in the same transaction: the stored bucket of 700 is the end.
    ram.set_state(1000, AddressRange::new(0x10, 0x11).unwrap(), MemState::Unknown)
        .unwrap();
    assert_eq!(txn.create_capture(&CaptureSpec::new("b")).unwrap().first_snap, 701);
    let mut ram = txn.space("ram").unwrap();
    ram.put_bytes(4000, 0x10, b"ef").unwrap();
    assert_eq!(txn.create_capture(&CaptureSpec::new("c")).unwrap().first_snap, 4001);
    txn.commit().unwrap();
}

/// `keep_time`: a recorder keeps the events within the duration of its
/// newest (on the capture's own clock), dropping in whole steps.
#[test]
fn a_recorder_bounded_by_time_keeps_the_newest_seconds() {
    use std::time::Duration;
    use tracemem::Retention;
    use tracemem::record::{MockMaster, RecorderOptions, RecordingMaster};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timed.tmdb");
    let options = RecorderOptions {
        retention: Retention {
            keep_time: Some(Duration::from_secs(2)),
            ..Retention::default()
        },
        ..RecorderOptions::default()
    };
    let mut bus = RecordingMaster::create(MockMaster::new(), &path, &CaptureSpec::new("t"), options).unwrap();
    // Ten seconds of events, 0.1 ms apart, committed a second at a time.
    for i in 0..100_000u64 {
        let mut e = event(i, 8 * (i % 16), true);
        e.timestamp = i as f64 * 1e-4;
        bus.record_event(e).unwrap();
        if i % 10_000 == 9_999 {
            bus.flush().unwrap();
        }
    }
    bus.close().unwrap();
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    let capture = read.capture("t").unwrap();
    let first = read.events("t", capture.horizon..capture.horizon + 1).unwrap()[0].timestamp;
    let last = 9.9999;
    assert!(capture.horizon > 0, "nothing dropped");
    assert!(last - first >= 2.0, "kept only {:.3} s", last - first);
    assert!(last - first <= 2.0 * 1.125 + 1.0, "kept {:.3} s", last - first);
    assert!(db.check().unwrap().problems.is_empty());
}

/// `record --max-size` warns on standard error once the file and journal
/// pass the bound, which only a reader holding old pages makes them do:
/// here a read transaction held open in this process while `record` runs
/// in another. The same input without the reader stays under the bound and
/// `record` says nothing. Writes spread over 4,096 registers, which churn
/// the most pages per commit.
#[test]
fn record_warns_when_a_reader_in_another_process_takes_the_file_past_max_size() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let line = |i: u64| {
        format!(
            "{{\"op\": \"write\", \"address\": {}, \"value\": {}, \"width\": 4, \"timestamp\": {}}}\n",
            0x1000 + 4 * (i * 7919 % 4096),
            i * 2_654_435_761 % (1 << 32),
            i as f64 * 1e-6
        )
    };
    for pinned in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cli-bounded.tmdb");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
            .arg("record")
            .arg(&path)
            .args(["--max-size", "8MiB", "--flush", "10000", "--commit-interval", "20"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        for i in 0..20_000 {
            stdin.write_all(line(i).as_bytes()).unwrap();
        }
        stdin.flush().unwrap();
        // Once the first events are committed, a reader in this process
        // opens the file and, when pinned, holds a read transaction.
        let started = std::time::Instant::now();
        let reader = loop {
            let opened = Database::builder().open_read_only(&path);
            if let Ok(db) = opened
                && db.begin_read().unwrap().capture("stdin").is_ok_and(|c| c.events > 0)
            {
                break db;
            }
            assert!(started.elapsed().as_secs() < 20, "the recorder committed nothing");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let held = pinned.then(|| reader.begin_read().unwrap());
        for i in 20_000..420_000 {
            stdin.write_all(line(i).as_bytes()).unwrap();
        }
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        drop(held);
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprintln!("reader held: {pinned}; stderr: {stderr}");
        assert!(output.status.success(), "{stderr}");
        assert_eq!(stderr.contains("past --max-size 8388608"), pinned, "{stderr}");
    }
}
