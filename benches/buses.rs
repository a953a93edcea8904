//! Several buses into one database (issue 22): W1 recorded through 1, 2 and
//! 4 RecordingMasters at once, each on a thread of its own with its own
//! capture and space (`bus0`, `bus1`, …), sharing one database handle, with
//! the same durability as one (`Every(10000)` by default, or `--event` for
//! a journal append per event). Every recorder records the same number of
//! events (`--events` in all, split between them), so each configuration
//! stores the same total. Reported: the aggregate events per second from
//! the first event until every recorder's `close()` returned, medians of
//! `--runs` alternating runs, and the ratio to one recorder. Each run's
//! database is then checked (`check`) and its event counts compared.
//!
//! Each recorder's creation (its journal preallocated, its capture
//! committed) and close are inside the clock, so short runs favour one
//! recorder; `--events 8000000` shows the rate while recording.
//!
//! `cargo bench -p tracemem-bench --bench buses [-- --events N --runs R --event --only K]`

use std::num::NonZeroU64;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tracemem::Database;
use tracemem::record::{FlushPolicy, Master, MockMaster, Op, RecorderOptions, RecordingMaster, TraceEvent};

/// Records `events` through `recorders` recorders at once into `path`, each
/// its own share; returns the time from the start until all have closed.
fn record(path: &std::path::Path, events: &Arc<Vec<TraceEvent>>, recorders: usize, policy: FlushPolicy) -> Duration {
    let _ = std::fs::remove_file(path);
    let share = events.len() / recorders;
    let start = Arc::new(Barrier::new(recorders + 1));
    let threads: Vec<_> = (0..recorders)
        .map(|bus| {
            let (path, events, start) = (path.to_path_buf(), events.clone(), start.clone());
            std::thread::spawn(move || {
                let mut spec = tracemem::CaptureSpec::new(format!("bus{bus}"));
                spec.space = format!("bus{bus}");
                let options = RecorderOptions {
                    policy,
                    ..RecorderOptions::default()
                };
                start.wait();
                let created = Instant::now();
                let mut recorder = RecordingMaster::create(MockMaster::new(), &path, &spec, options).unwrap();
                let create = created.elapsed();
                for e in &events[bus * share..(bus + 1) * share] {
                    let width = e.width.unwrap_or(4);
                    match e.op {
                        Op::Read => drop(recorder.read(e.address, width).unwrap()),
                        Op::Write => recorder.write(e.address, e.value, width).unwrap(),
                    }
                }
                let closing = Instant::now();
                recorder.close().unwrap();
                (create, closing.elapsed())
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    let ends: Vec<(Duration, Duration)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = started.elapsed();
    let longest = |f: fn(&(Duration, Duration)) -> Duration| ends.iter().map(f).max().unwrap_or_default();
    eprintln!(
        "  {recorders} recorders: longest create {:.1} ms, longest close {:.1} ms",
        longest(|e| e.0).as_secs_f64() * 1e3,
        longest(|e| e.1).as_secs_f64() * 1e3
    );
    // Checked after the clock stopped: every event of every bus is in.
    let db = Database::open(path).unwrap();
    let read = db.begin_read().unwrap();
    let captures = read.captures().unwrap();
    assert_eq!(captures.len(), recorders);
    assert!(captures.iter().all(|c| c.events == share as u64));
    assert!(db.check().unwrap().problems.is_empty());
    elapsed
}

fn main() {
    let n = tracemem_bench::arg("--events", 2_000_000);
    let runs = tracemem_bench::arg("--runs", 3);
    let policy = if std::env::args().any(|a| a == "--event") {
        FlushPolicy::Event
    } else {
        FlushPolicy::Every(NonZeroU64::new(10_000).unwrap())
    };
    let events = Arc::new(tracemem_bench::w1_as_mocked(n));
    let dir = tempfile::tempdir().unwrap();
    // `--only K`: K recorders alone (for a profiler).
    let only = tracemem_bench::arg("--only", 0);
    let configs: Vec<usize> = if only > 0 { vec![only] } else { vec![1, 2, 4] };
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); configs.len()];
    eprintln!(
        "{n} W1 events, policy {policy}, {runs} alternating runs, {}",
        tracemem_bench::machine()
    );
    for run in 0..runs {
        for (i, &recorders) in configs.iter().enumerate() {
            let path = dir.path().join(format!("buses-{recorders}.tmdb"));
            let took = record(&path, &events, recorders, policy);
            eprintln!("run {run}: {recorders} recorders: {:.3} s", took.as_secs_f64());
            times[i].push(took);
        }
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let medians: Vec<Duration> = times
        .into_iter()
        .map(|mut v| {
            v.sort();
            v[v.len() / 2]
        })
        .collect();
    println!("recorders\taggregate events/s\tvs one recorder");
    for (&recorders, &median) in configs.iter().zip(&medians) {
        println!(
            "{recorders}\t{:.0}\t{:.2}x",
            rate(median),
            medians[0].as_secs_f64() / median.as_secs_f64()
        );
    }
}
