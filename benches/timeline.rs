//! Zoomed-out timelines (issue 22): W1 recorded through the RecordingMaster
//! (`Every(10_000)`) twice, with register tracks and without, alternating
//! three times (ingest and size compared, medians); then the timeline of
//! the busiest register over the whole capture in 1,000 buckets, against
//! what `history --from-time --to-time` does today (every event of the
//! window read back with its value, the address's kept) and against
//! decoding only that address's events (its tracks' streams, bucketed
//! here), all on the database with tracks, and the timeline of the one
//! without. Each query runs in a read transaction of its own, once untimed,
//! then `--runs` times timed, alternating; medians compared. Every answer is
//! checked equal to the scan's.
//!
//! `cargo bench -p tracemem-bench --bench timeline [-- --events N --buckets B --runs R]`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracemem::record::{FlushPolicy, RecorderOptions, TraceEvent};
use tracemem::{Database, ReadTransaction, TimelineBucket};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Records `events` into `path`; returns the time to close and the size.
fn record(path: &std::path::Path, events: &[TraceEvent], tracks: bool) -> (Duration, u64) {
    let _ = std::fs::remove_file(path);
    let options = RecorderOptions {
        policy: FlushPolicy::Every(std::num::NonZeroU64::new(10_000).unwrap()),
        tracks,
        ..RecorderOptions::default()
    };
    tracemem_bench::record_through_recorder(path, events, options)
}

/// Per bucket: (count, first, last, min, max), as the library's docs define
/// the buckets.
type Scan = Vec<(u64, Option<[u64; 4]>)>;

fn bucket_all(events: impl Iterator<Item = (f64, Option<u64>)>, from: f64, to: f64, n: usize) -> Scan {
    let width = (to - from) / n as f64;
    let mut out: Scan = vec![(0, None); n];
    for (t, value) in events {
        if !(from..=to).contains(&t) {
            continue;
        }
        let i = if width <= 0.0 {
            0
        } else {
            (((t - from) / width).floor() as usize).min(n - 1)
        };
        out[i].0 += 1;
        if let Some(v) = value {
            out[i].1 = Some(match out[i].1 {
                None => [v, v, v, v],
                Some([first, _, lo, hi]) => [first, v, lo.min(v), hi.max(v)],
            });
        }
    }
    out
}

fn as_scan(buckets: &[TimelineBucket]) -> Scan {
    buckets
        .iter()
        .map(|b| {
            let values = b.first.map(|f| [f, b.last.unwrap(), b.min.unwrap(), b.max.unwrap()]);
            (b.events, values)
        })
        .collect()
}

/// Today's `history --from-time --to-time`: every event read back with its
/// value, the address's in the window kept.
fn history_today(read: &ReadTransaction, address: u64, from: f64, to: f64, events: u64) -> Vec<(f64, Option<u64>)> {
    let mut out = Vec::new();
    let mut seq = 0;
    while seq < events {
        for e in read.events("w1", seq..seq + 65_536).unwrap() {
            if e.address == address && (from..=to).contains(&e.timestamp) {
                out.push((e.timestamp, e.error.is_none().then_some(e.value)));
            }
        }
        seq += 65_536;
    }
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = tracemem_bench::arg("--events", 5_000_000);
    let buckets = tracemem_bench::arg("--buckets", 1000);
    let runs = tracemem_bench::arg("--runs", 5);
    let dir = tempfile::tempdir().unwrap();
    let tracked_path = dir.path().join("tracked.tmdb");
    let plain_path = dir.path().join("plain.tmdb");
    let events = tracemem_bench::w1_as_mocked(n);
    let mut counts: HashMap<u64, u64> = HashMap::new();
    for e in &events {
        *counts.entry(e.address).or_default() += 1;
    }
    let (&address, &count) = counts.iter().max_by_key(|(a, c)| (**c, **a)).unwrap();

    let (mut with, mut without) = (Vec::new(), Vec::new());
    let (mut with_size, mut without_size) = (0, 0);
    for _ in 0..3 {
        let (t, size) = record(&plain_path, &events, false);
        without.push(t);
        without_size = size;
        let (t, size) = record(&tracked_path, &events, true);
        with.push(t);
        with_size = size;
    }
    let tracked = Database::open(&tracked_path).unwrap();
    let plain = Database::open(&plain_path).unwrap();
    let tracks_bytes: u64 = tracked
        .table_usage()
        .unwrap()
        .iter()
        .filter(|t| t.name == "event_tracks" || t.name == "track_groups")
        .map(|t| t.stored_bytes + t.overhead_bytes)
        .sum();

    // The recorder stamps events with its own clock: each database has its
    // own window, the first event's time to the last's, and its own
    // reference answer, which each way's is checked equal to.
    let window = |db: &Database| {
        let read = db.begin_read().unwrap();
        let time = |seq: u64| read.events("w1", seq..seq + 1).unwrap()[0].timestamp;
        (time(0), time(n as u64 - 1))
    };
    let (from, to) = window(&tracked);
    let (plain_from, plain_to) = window(&plain);
    let reference = bucket_all(
        history_today(&tracked.begin_read().unwrap(), address, from, to, n as u64).into_iter(),
        from,
        to,
        buckets,
    );
    let plain_reference = bucket_all(
        history_today(&plain.begin_read().unwrap(), address, plain_from, plain_to, n as u64).into_iter(),
        plain_from,
        plain_to,
        buckets,
    );
    let (mut summaries, mut decoded, mut today, mut untracked) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..=runs {
        let started = Instant::now();
        let read = tracked.begin_read().unwrap();
        let answer = as_scan(&read.timeline("w1", address, from, to, buckets).unwrap());
        let t_summaries = started.elapsed();
        assert_eq!(answer, reference, "the timeline from summaries");

        let started = Instant::now();
        let read = tracked.begin_read().unwrap();
        let answer = bucket_all(
            read.timeline_events("w1", address, from, to)
                .unwrap()
                .into_iter()
                .map(|e| (e.time, e.value)),
            from,
            to,
            buckets,
        );
        let t_decoded = started.elapsed();
        assert_eq!(answer, reference, "the address's events decoded");

        let started = Instant::now();
        let read = tracked.begin_read().unwrap();
        let answer = bucket_all(
            history_today(&read, address, from, to, n as u64).into_iter(),
            from,
            to,
            buckets,
        );
        let t_today = started.elapsed();
        assert_eq!(answer, reference, "today's history");

        let started = Instant::now();
        let read = plain.begin_read().unwrap();
        let answer = as_scan(&read.timeline("w1", address, plain_from, plain_to, buckets).unwrap());
        let t_untracked = started.elapsed();
        assert_eq!(answer, plain_reference, "the timeline without tracks");
        if run > 0 {
            summaries.push(t_summaries);
            decoded.push(t_decoded);
            today.push(t_today);
            untracked.push(t_untracked);
        }
    }
    let (s, d, h, u) = (median(summaries), median(decoded), median(today), median(untracked));
    let (w, wo) = (median(with), median(without));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "W1, {n} events; register {address:#x} ({count} events); window {from:.6}..{to:.6} s (the recorder's clock); {buckets} buckets; medians of {runs} runs"
    );
    println!();
    println!("| figure | tracemem | peer | ratio | target |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| timeline from summaries vs today's history over the window (ms) | {:.2} | {:.1} | {:.0}x faster | ≥ 100x |",
        ms(s),
        ms(h),
        h.as_secs_f64() / s.as_secs_f64()
    );
    println!(
        "| timeline from summaries vs decoding only that address's events (ms) | {:.2} | {:.2} | {:.1}x faster | ≥ 3x |",
        ms(s),
        ms(d),
        d.as_secs_f64() / s.as_secs_f64()
    );
    println!(
        "| timeline of a database without tracks vs today's history (ms) | {:.1} | {:.1} | {:.2}x the time | |",
        ms(u),
        ms(h),
        u.as_secs_f64() / h.as_secs_f64()
    );
    println!(
        "| ingest, Every(10000), with tracks vs without (events/s) | {:.0} | {:.0} | {:.2}x | |",
        n as f64 / w.as_secs_f64(),
        n as f64 / wo.as_secs_f64(),
        wo.as_secs_f64() / w.as_secs_f64()
    );
    println!(
        "| bytes per event on disk, with tracks vs without | {:.1} | {:.1} | {:.2}x | |",
        with_size as f64 / n as f64,
        without_size as f64 / n as f64,
        with_size as f64 / without_size as f64
    );
    println!(
        "| of which the tracks' tables (stored + overhead, bytes per event) | {:.2} | | | |",
        tracks_bytes as f64 / n as f64
    );
}
