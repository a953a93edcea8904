//! Zoomed-out timelines equal a full scan of the events, bucket by bucket,
//! whether the capture's groups are tracked from the start, tracked later
//! by `build_tracks`, left untracked by an aborted transaction, or never
//! tracked; over failed events, raw and backward timestamps, and windows
//! that cut blocks anywhere.

use proptest::prelude::*;
use tracemem::record::{Op, TraceEvent};
use tracemem::{CaptureSpec, Database, TimelineBucket};

/// Events per track group (the library's, sixteen event chunks).
const GROUP: usize = 65536;

/// A small LCG, so a case of 100,000 events is one seed, not a vector to
/// shrink.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 32
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` events at a few addresses: mostly µs steps, some raw times, some
/// steps back, some repeats; some failures; values small or wide.
fn events(seed: u64, n: usize) -> Vec<TraceEvent> {
    let mut r = Lcg(2 * seed + 1);
    let mut t = 1.0f64;
    (0..n)
        .map(|_| {
            t = match r.below(100) {
                0 => t + r.below(1000) as f64 * 1.37e-7,
                1 => t - r.below(50) as f64 * 1e-6,
                2..=9 => t,
                _ => t + r.below(40) as f64 * 1e-6,
            };
            let address = 0x4000_0000 + 4 * r.below(6);
            let value = match r.below(4) {
                0 => (r.next() << 32) | r.next(),
                1 => r.below(3),
                _ => r.next(),
            };
            TraceEvent {
                op: if r.below(3) == 0 { Op::Write } else { Op::Read },
                address,
                value,
                width: Some(8),
                timestamp: t,
                error: (r.below(50) == 0).then(|| "bus timeout".to_string()),
            }
        })
        .collect()
}

/// The timeline as a scan of every event computes it (the bucket of `t` is
/// `floor((t - from) / ((to - from) / n))`, the last taking `to`).
fn scanned(events: &[TraceEvent], address: u64, from: f64, to: f64, n: usize) -> Vec<(u64, Option<[u64; 4]>)> {
    let width = (to - from) / n as f64;
    let mut out: Vec<(u64, Option<[u64; 4]>)> = vec![(0, None); n];
    for e in events.iter().filter(|e| e.address == address) {
        if !(from..=to).contains(&e.timestamp) {
            continue;
        }
        let i = if width <= 0.0 {
            0
        } else {
            (((e.timestamp - from) / width).floor() as usize).min(n - 1)
        };
        out[i].0 += 1;
        if e.error.is_some() {
            continue;
        }
        let v = e.value;
        out[i].1 = Some(match out[i].1 {
            None => [v, v, v, v],
            Some([first, _, min, max]) => [first, v, min.min(v), max.max(v)],
        });
    }
    out
}

fn summarized(buckets: &[TimelineBucket]) -> Vec<(u64, Option<[u64; 4]>)> {
    buckets
        .iter()
        .map(|b| {
            let values = match (b.first, b.last, b.min, b.max) {
                (Some(f), Some(l), Some(lo), Some(hi)) => Some([f, l, lo, hi]),
                (None, None, None, None) => None,
                other => panic!("a bucket with some values only: {other:?}"),
            };
            (b.events, values)
        })
        .collect()
}

/// How a case's database comes to hold its tracks.
#[derive(Clone, Copy, Debug)]
enum Tracking {
    FromTheStart,
    BuiltAfter,
    AbortedTransaction,
    ReopenedBetweenBatches,
    Never,
}

fn write(path: &std::path::Path, events: &[TraceEvent], tracking: Tracking, batch: usize) {
    let db = Database::create(path).unwrap();
    let mut txn = db.begin_write().unwrap();
    if !matches!(tracking, Tracking::BuiltAfter | Tracking::Never) {
        txn.keep_tracks().unwrap();
    }
    txn.create_capture(&CaptureSpec::new("bus0")).unwrap();
    txn.commit().unwrap();
    let mut db = db;
    for (i, part) in events.chunks(batch).enumerate() {
        if matches!(tracking, Tracking::ReopenedBetweenBatches) {
            // A new handle goes on from the tail the last one stored.
            db.close().unwrap();
            db = Database::open(path).unwrap();
        }
        if matches!(tracking, Tracking::AbortedTransaction) && i == 3 {
            // Appended, then thrown away: the builder saw events that never
            // landed, so this group must stay untracked, then be appended again.
            let mut txn = db.begin_write().unwrap();
            txn.append_events("bus0", part).unwrap();
            txn.abort().unwrap();
        }
        let mut txn = db.begin_write().unwrap();
        txn.append_events("bus0", part).unwrap();
        txn.commit().unwrap();
    }
    match tracking {
        Tracking::BuiltAfter => {
            let report = db.build_tracks(&mut |_, _| {}).unwrap();
            assert_eq!(report.built, (events.len() / GROUP) as u64);
            assert_eq!(report.untracked_events, (events.len() % GROUP) as u64);
        }
        Tracking::Never => {}
        _ => {
            // Tracked as recorded: across aborts and new handles too.
            let report = db.build_tracks(&mut |_, _| {}).unwrap();
            assert_eq!((report.built, report.tracked), (0, (events.len() / GROUP) as u64));
        }
    }
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn timelines_equal_a_scan_of_the_events(
        seed in any::<u64>(),
        extra in 0usize..9000,
        batch in prop_oneof![Just(1000usize), Just(7919), Just(40_000)],
        many in prop_oneof![Just(1000usize), Just(25_000)],
        cut in 0.0f64..1.0,
    ) {
        let n = GROUP + GROUP / 2 + extra;
        let events = events(seed, n);
        for tracking in [
            Tracking::FromTheStart,
            Tracking::BuiltAfter,
            Tracking::AbortedTransaction,
            Tracking::ReopenedBetweenBatches,
            Tracking::Never,
        ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tmdb");
        write(&path, &events, tracking, batch);
        let db = Database::open(&path).unwrap();
        let read = db.begin_read().unwrap();
        let lo = events.iter().map(|e| e.timestamp).fold(f64::INFINITY, f64::min);
        let hi = events.iter().map(|e| e.timestamp).fold(f64::NEG_INFINITY, f64::max);
        let middle = lo + (hi - lo) * cut;
        for (from, to) in [(lo, hi), (middle, hi), (lo + (middle - lo) / 3.0, middle), (middle, middle), (hi + 1.0, hi + 2.0)] {
            for (address, buckets) in [(0x4000_0000u64, 1), (0x4000_0014, 7), (0x4000_0018, many)] {
                let timeline = read.timeline("bus0", address, from, to, buckets).unwrap();
                prop_assert_eq!(timeline.len(), buckets);
                prop_assert_eq!(timeline[0].from_time, from);
                prop_assert_eq!(timeline[buckets - 1].to_time, to);
                let zoomed_in: Vec<(f64, Option<u64>)> = read
                    .timeline_events("bus0", address, from, to)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.time, e.value))
                    .collect();
                let scanned_events: Vec<(f64, Option<u64>)> = events
                    .iter()
                    .filter(|e| e.address == address && (from..=to).contains(&e.timestamp))
                    .map(|e| (e.timestamp, e.error.is_none().then_some(e.value)))
                    .collect();
                prop_assert_eq!(zoomed_in, scanned_events);
                prop_assert_eq!(
                    summarized(&timeline),
                    scanned(&events, address, from, to, buckets),
                    "address {:#x}, window {}..{}, {:?}", address, from, to, tracking
                );
            }
        }
        }
    }
}

#[test]
fn a_timeline_refuses_a_bad_window_and_bucket_count_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    write(&path, &events(1, 100), Tracking::FromTheStart, 100);
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    for (from, to, n, words) in [
        (2.0, 1.0, 10, "2..1"),
        (0.0, f64::NAN, 10, "NaN"),
        (0.0, 1.0, 0, "0 buckets"),
        (0.0, 1.0, tracemem::MAX_TIMELINE_BUCKETS + 1, "buckets"),
    ] {
        let e = read.timeline("bus0", 0x4000_0000, from, to, n).unwrap_err();
        assert!(matches!(e, tracemem::Error::InvalidArgument { .. }), "{e:?}");
        assert!(e.to_string().contains(words), "{e}");
    }
    let e = read.timeline("nope", 0x4000_0000, 0.0, 1.0, 10).unwrap_err();
    assert!(matches!(e, tracemem::Error::UnknownCapture { .. }), "{e:?}");
}

#[test]
fn an_address_without_events_has_empty_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    write(&path, &events(2, GROUP + 10), Tracking::FromTheStart, 5000);
    let db = Database::open(&path).unwrap();
    let timeline = db
        .begin_read()
        .unwrap()
        .timeline("bus0", 0x5000, 0.0, 100.0, 4)
        .unwrap();
    assert!(
        timeline
            .iter()
            .all(|b| b.events == 0 && b.first.is_none() && b.max.is_none())
    );
}

fn tracemem(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tracemem binary runs")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn history_buckets_is_the_same_tracked_or_not_and_counts_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&tracemem(&["gen", "--events", "70000", "w.ndjson"], d));
    stdout(&tracemem(&["import", "plain.tmdb", "w.ndjson", "-q"], d));
    stdout(&tracemem(&["import", "tracked.tmdb", "w.ndjson", "-q", "--tracks"], d));
    let args = |db: &'static str| vec!["history", db, "0x40000000", "--buckets", "10"];
    let untracked = stdout(&tracemem(&args("plain.tmdb"), d));
    assert_eq!(untracked.lines().count(), 10);
    assert_eq!(stdout(&tracemem(&args("tracked.tmdb"), d)), untracked);
    let built = stdout(&tracemem(&["track", "plain.tmdb", "-q"], d));
    assert!(built.contains("1 groups of 65536 events tracked now"), "{built}");
    assert_eq!(stdout(&tracemem(&args("plain.tmdb"), d)), untracked);
    stdout(&tracemem(&["check", "plain.tmdb"], d));

    // Every event of the address falls in one bucket of the whole capture.
    let events = stdout(&tracemem(&["history", "plain.tmdb", "0x40000000"], d))
        .lines()
        .count();
    let json = stdout(&tracemem(
        &["history", "plain.tmdb", "0x40000000", "--buckets", "7", "--json"],
        d,
    ));
    let counted: u64 = json
        .lines()
        .map(|line| {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            doc["events"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(counted, events as u64);
}

#[test]
fn history_buckets_refuses_bad_arguments_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&tracemem(&["gen", "--events", "100", "w.ndjson"], d));
    stdout(&tracemem(&["import", "t.tmdb", "w.ndjson", "-q"], d));
    for (args, words) in [
        (vec!["--buckets", "0"], "0 buckets"),
        (vec!["--buckets", "5", "--from-time", "2", "--to-time", "1"], "2..1"),
        (vec!["--buckets", "5", "--op", "read"], "--op"),
    ] {
        let mut all = vec!["history", "t.tmdb", "0x40000000"];
        all.extend(args);
        let output = tracemem(&all, d);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(words), "{stderr}");
    }
}
