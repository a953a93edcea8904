//! R5: while a capture records in one process, another opens the database
//! read-only and queries it, seeing a growing, consistent prefix of events,
//! with memory that agrees.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracemem::record::{FlushPolicy, Master, MockMaster, Op, RecorderOptions, RecordingMaster};
use tracemem::workloads::W1;
use tracemem::{CaptureSpec, Database, MemoryRead};

const CHILD_ENV: &str = "TRACEMEM_LIVE_CHILD";
const EVENTS: usize = 30_000;

/// The child: records W1 for about two seconds, committing every 20 ms.
#[test]
fn live_child_recorder() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let options = RecorderOptions {
        policy: FlushPolicy::Event,
        commit_interval: Duration::from_millis(20),
        journal_capacity: 1 << 20,
        ..RecorderOptions::default()
    };
    let mut bus =
        RecordingMaster::create(MockMaster::new(), Path::new(&path), &CaptureSpec::new("live"), options).unwrap();
    println!("started");
    for (i, event) in W1::new(2).take(EVENTS).enumerate() {
        match event.op {
            Op::Read => drop(bus.read(event.address, event.width.unwrap())),
            Op::Write => drop(bus.write(event.address, event.value, event.width.unwrap())),
        }
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    bus.close().unwrap();
    println!("done");
}

#[test]
fn a_reader_process_follows_a_running_capture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.tmdb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "live_readers::live_child_recorder",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if line.ends_with("started") {
            break;
        }
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.last().is_none_or(|&n| n < EVENTS as u64) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let db = Database::builder().open_read_only(&path).unwrap();
        let read = db.begin_read().unwrap();
        let capture = read.capture("live").unwrap();
        let events = read.events("live", 0..u64::MAX).unwrap();
        assert_eq!(events.len() as u64, capture.events);
        if let Some(last) = events.last() {
            let width = usize::from(last.width.unwrap());
            let mut buf = [0u8; 8];
            let bus = read.space("bus").unwrap();
            assert_eq!(
                bus.get_bytes(capture.snap_of(capture.events - 1), last.address, &mut buf[..width])
                    .unwrap(),
                width
            );
            assert_eq!(u64::from_le_bytes(buf), last.value);
        }
        assert!(
            seen.last().is_none_or(|&n| n <= capture.events),
            "the prefix never shrinks"
        );
        seen.push(capture.events);
        // A read-only database refuses writes.
        assert!(matches!(db.begin_write(), Err(tracemem::Error::ReadOnly { .. })));
    }
    assert_eq!(lines.next().and_then(|l| l.ok()).as_deref(), Some("done"));
    child.wait().unwrap();
    let growing = seen.iter().filter(|&&n| n > 0 && n < EVENTS as u64).count();
    assert!(growing >= 3, "the reader saw the capture grow: {seen:?}");
    assert_eq!(seen.last().copied(), Some(EVENTS as u64));
}
