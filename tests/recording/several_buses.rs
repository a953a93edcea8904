//! Several recorders, one database (issue: several buses at once): threads
//! of one process each record their own capture and space into one
//! database at once; a second recorder shares the first one's handle, and
//! each has a journal of its own. The events of each capture come back as
//! recorded, with snaps from one counter (increasing per capture, never
//! shared between captures), memory answers as of every event's snap, and
//! a kill -9 with several recorders loses no acknowledged event of any.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use tracemem::record::{FlushPolicy, Master, MockMaster, RecorderOptions, RecordingMaster, journal_slot_path};
use tracemem::{CaptureSpec, Database, MemoryRead, Op, TraceEvent};

/// The events bus `bus` is driven with: writes and reads of a few registers
/// whose values name the bus and the event.
fn drive(bus: u64, n: u64, master: &mut impl Master) {
    drive_from(bus, 0, n, master);
}

fn spec(bus: u64) -> CaptureSpec {
    let mut spec = CaptureSpec::new(format!("bus{bus}"));
    spec.space = format!("bus{bus}");
    spec
}

/// Checks what `path` holds after `buses` recorders recorded `n` events
/// each (at least `held[b]` of bus `b`): each capture's events as recorded,
/// snaps increasing and never shared, and memory as of every event's snap
/// equal to a model that applies the events in snap order.
fn check_database(path: &std::path::Path, buses: u64, n: u64, at_least: &[u64]) {
    let db = Database::open(path).unwrap();
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let read = db.begin_read().unwrap();
    let mut all_snaps = HashSet::new();
    for bus in 0..buses {
        let capture = read.capture(&format!("bus{bus}")).unwrap();
        assert!(capture.events >= at_least[bus as usize], "bus{bus}: {}", capture.events);
        assert!(capture.events <= n);
        // What the bus was driven with, through a mock of its own.
        let mut mock = MockRecorder::default();
        drive(bus, capture.events, &mut mock);
        let events = read.events_with_snaps(&capture.name, 0..u64::MAX).unwrap();
        assert_eq!(events.len() as u64, capture.events);
        let mut previous = None;
        // The model: each register's value as of each event's snap.
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let space = read.space(&capture.space).unwrap();
        for (seq, ((snap, got), want)) in events.iter().zip(&mock.events).enumerate() {
            assert_eq!(
                (got.op, got.address, got.value, got.width),
                (want.op, want.address, want.value, want.width),
                "bus{bus}: event {seq}"
            );
            assert!(
                previous.is_none_or(|p| *snap > p),
                "bus{bus}: event {seq} at snap {snap}"
            );
            assert!(
                all_snaps.insert(*snap),
                "snap {snap} taken twice (bus{bus}, event {seq})"
            );
            assert_eq!(read.event_snap(&capture, seq as u64).unwrap(), Some(*snap));
            assert_eq!(read.seq_from_snap(&capture, *snap).unwrap(), seq as u64);
            previous = Some(*snap);
            model.insert(got.address, got.value);
            // Every register of the bus as of this snap, every few events.
            if seq % 7 == 0 || seq + 1 == events.len() {
                for (&address, &value) in &model {
                    let mut buf = [0u8; 4];
                    assert_eq!(space.get_bytes(*snap, address, &mut buf).unwrap(), 4);
                    assert_eq!(u64::from(u32::from_le_bytes(buf)), value, "bus{bus} at snap {snap}");
                }
            }
        }
        assert_eq!(previous.unwrap_or(capture.first_snap - 1), capture.last_snap);
        if let Some((first, _)) = events.first() {
            assert_eq!(*first, capture.first_snap);
        }
    }
}

/// A master that keeps what it was asked, answering reads as a mock does.
#[derive(Default)]
struct MockRecorder {
    mock: MockMaster,
    events: Vec<TraceEvent>,
}

impl Master for MockRecorder {
    fn read(&mut self, address: u64, width: u8) -> Result<u64, tracemem::record::BusError> {
        let value = self.mock.read(address, width)?;
        self.events.push(event(Op::Read, address, value));
        Ok(value)
    }

    fn write(&mut self, address: u64, value: u64, width: u8) -> Result<(), tracemem::record::BusError> {
        self.mock.write(address, value, width)?;
        self.events.push(event(Op::Write, address, value));
        Ok(())
    }
}

fn event(op: Op, address: u64, value: u64) -> TraceEvent {
    TraceEvent {
        op,
        address,
        value,
        width: Some(4),
        timestamp: 0.0,
        error: None,
    }
}

#[test]
fn recorders_on_threads_share_one_database_and_take_snaps_from_one_counter() {
    const BUSES: u64 = 4;
    const N: u64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buses.tmdb");
    let start = Arc::new(Barrier::new(BUSES as usize));
    let threads: Vec<_> = (0..BUSES)
        .map(|bus| {
            let path = path.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let options = RecorderOptions {
                    policy: FlushPolicy::Event,
                    // Small batches: the captures interleave on the timeline.
                    max_pending: 64,
                    ..RecorderOptions::default()
                };
                let mut recorder = RecordingMaster::create(MockMaster::new(), &path, &spec(bus), options).unwrap();
                start.wait();
                drive(bus, N / 2, &mut recorder);
                // Every first half is committed before any second half
                // starts: the captures' snaps interleave.
                recorder.flush().unwrap();
                start.wait();
                recorder.mark(&format!("bus{bus} half way")).unwrap();
                drive_from(bus, N / 2, N, &mut recorder);
                // Reads while the others record.
                let read = recorder.begin_read().unwrap();
                assert!(read.capture(&format!("bus{bus}")).unwrap().events <= N);
                drop(read);
                // Every recorder holds a journal of its own meanwhile.
                assert!((0..BUSES as u32).any(|slot| journal_slot_path(&path, slot).exists()));
                start.wait();
                recorder.close().unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    for slot in 0..BUSES as u32 {
        assert!(!journal_slot_path(&path, slot).exists(), "journal {slot} left behind");
    }
    check_database(&path, BUSES, N, &[N; BUSES as usize]);
    // The captures interleave: each one's snaps span the others'.
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    let captures = read.captures().unwrap();
    assert!(
        captures.iter().any(|c| !c.snaps_are_consecutive()),
        "no capture was interleaved with another"
    );
    for capture in &captures {
        // The mark labels the snap of the event after it, and only its
        // capture lists it.
        let marks = read.marks(capture).unwrap();
        let half = read.event_snap(capture, N / 2).unwrap().unwrap();
        assert_eq!(marks, vec![(half, format!("{} half way", capture.name))]);
    }
}

/// Drives bus `bus` with its events `from..to` (as `drive` numbers them).
fn drive_from(bus: u64, from: u64, to: u64, master: &mut impl Master) {
    for i in from..to {
        let address = 0x1000 * bus + 8 * (i % 5);
        if i % 3 == 2 {
            master.read(address, 4).unwrap();
        } else {
            master.write(address, (bus << 24) | i, 4).unwrap();
        }
    }
}

#[test]
fn a_second_recorder_in_the_process_shares_the_handle_and_the_last_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.tmdb");
    let mut first = RecordingMaster::create(MockMaster::new(), &path, &spec(0), RecorderOptions::default()).unwrap();
    drive(0, 10, &mut first);
    // Through another spelling of the same path.
    let other = dir.path().join(".").join("two.tmdb");
    let mut second = RecordingMaster::create(MockMaster::new(), &other, &spec(1), RecorderOptions::default()).unwrap();
    assert!(journal_slot_path(&path, 1).exists());
    drive(1, 10, &mut second);
    // Another open of the file, outside the recorders, is refused meanwhile.
    assert!(matches!(Database::open(&path), Err(tracemem::Error::Busy { .. })));
    first.close().unwrap();
    // Still recording into the shared handle.
    drive_from(1, 10, 20, &mut second);
    assert!(matches!(Database::open(&path), Err(tracemem::Error::Busy { .. })));
    // A recorder that comes after the first closed takes its slot again.
    let mut third = RecordingMaster::create(MockMaster::new(), &path, &spec(2), RecorderOptions::default()).unwrap();
    assert!(journal_slot_path(&path, 0).exists());
    drive(2, 5, &mut third);
    second.close().unwrap();
    third.close().unwrap();
    assert!(tracemem::record::journal_files(&path).is_empty());
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    let counts: Vec<u64> = read.captures().unwrap().iter().map(|c| c.events).collect();
    assert_eq!(counts, vec![10, 20, 5]);
    drop(read);
    drop(db);
    check_database(&path, 3, 20, &[10, 20, 5]);
}

const CHILD_ENV: &str = "TRACEMEM_SEVERAL_BUSES_CHILD";

/// The child of the kill test: two recorders on threads, each printing how
/// many of its events are durable.
#[test]
fn crash_child_several_recorders() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let threads: Vec<_> = (0..2u64)
        .map(|bus| {
            let path = std::path::PathBuf::from(&path);
            std::thread::spawn(move || {
                let options = RecorderOptions {
                    max_pending: 256,
                    ..RecorderOptions::default()
                };
                let mut recorder = RecordingMaster::create(MockMaster::new(), &path, &spec(bus), options).unwrap();
                for i in 0..1_000_000u64 {
                    let address = 0x1000 * bus + 8 * (i % 5);
                    if i % 3 == 2 {
                        recorder.read(address, 4).unwrap();
                    } else {
                        recorder.write(address, (bus << 24) | i, 4).unwrap();
                    }
                    if i % 50 == 49 {
                        // Under `Event`, every event whose call returned.
                        println!("acked {bus} {}", recorder.durable());
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn kill_9_with_several_recorders_loses_no_acknowledged_event() {
    let kills: u64 = std::env::var("TRACEMEM_RECORD_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    for round in 0..kills {
        let path = dir.path().join(format!("kill-{round}.tmdb"));
        let kill_after = 200 + 397 * round % 3000;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "several_buses::crash_child_several_recorders",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acked = [0u64; 2];
        let mut killed = false;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let Ok(line) = line else { break };
            let Some(rest) = line.strip_prefix("acked ") else {
                continue;
            };
            let (bus, n) = rest.split_once(' ').unwrap();
            let bus: usize = bus.parse().unwrap();
            acked[bus] = acked[bus].max(n.parse().unwrap());
            if !killed && acked.iter().all(|&a| a >= kill_after) {
                child.kill().unwrap();
                killed = true;
            }
        }
        child.wait().unwrap();
        assert!(killed, "round {round}: the child ended before the kill");
        // Opening replays both journals.
        check_database(&path, 2, 1_000_000, &acked);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Captures appended in turns, in batches of any size (what folding
    /// recorders do): every event's snap, and the first event at or after
    /// every snap, against a model of the timeline.
    #[test]
    fn interleaved_captures_find_their_events_by_snap(
        batches in proptest::collection::vec((0usize..3, 1usize..3000), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.tmdb")).unwrap();
        let mut txn = db.begin_write().unwrap();
        for bus in 0..3u64 {
            txn.create_capture(&spec(bus)).unwrap();
        }
        // The model: each capture's snaps, in order.
        let mut model: Vec<Vec<i64>> = vec![Vec::new(); 3];
        let mut next = 0i64;
        for (bus, n) in batches {
            let events: Vec<TraceEvent> = (0..n as u64).map(|i| event(Op::Write, 8 * (i % 9), i)).collect();
            txn.append_events(&format!("bus{bus}"), &events).unwrap();
            model[bus].extend(next..next + n as i64);
            next += n as i64;
        }
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        for (bus, snaps) in model.iter().enumerate() {
            let capture = read.capture(&format!("bus{bus}")).unwrap();
            proptest::prop_assert_eq!(capture.events, snaps.len() as u64);
            let got: Vec<i64> = read
                .events_with_snaps(&capture.name, 0..u64::MAX)
                .unwrap()
                .into_iter()
                .map(|(snap, _)| snap)
                .collect();
            proptest::prop_assert_eq!(&got, snaps);
            for (seq, snap) in snaps.iter().enumerate().step_by(97) {
                proptest::prop_assert_eq!(read.event_snap(&capture, seq as u64).unwrap(), Some(*snap));
            }
            for snap in (-1..next + 1).step_by(13) {
                let want = snaps.partition_point(|&s| s < snap) as u64;
                proptest::prop_assert_eq!(read.seq_from_snap(&capture, snap).unwrap(), want, "snap {}", snap);
            }
        }
        let report = db.check().unwrap();
        proptest::prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}
