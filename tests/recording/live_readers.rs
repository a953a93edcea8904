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
                bus.get_bytes(
                    read.event_snap(&capture, capture.events - 1).unwrap().unwrap(),
                    last.address,
                    &mut buf[..width]
                )
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

/// Spawns `tracemem ARGS` in `dir`, its standard output read line by line
/// on a thread of its own into a channel, each line with when it arrived.
fn spawn_lines(args: &[&str], dir: &Path) -> (std::process::Child, std::sync::mpsc::Receiver<(Instant, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if send.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    (child, receive)
}

/// R5 across processes with the command line: `record` fed one event at a
/// time, `log --follow` and `history ADDR --follow` beside it. Each event's
/// line appears within about the commit interval of the event, also the
/// last before the bus goes quiet (the recorder commits what waits once the
/// interval passes, with no next event to trigger it) and after 5 s of
/// quiet. A `#mark` line labels the next event's snap.
#[test]
fn followers_see_each_event_within_the_commit_interval() {
    const INTERVAL_MS: u64 = 250;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["record", "live.tmdb", "--capture", "bus", "--commit-interval"])
        .arg(INTERVAL_MS.to_string())
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = recorder.stdin.take().unwrap();
    let (mut log, log_lines) = spawn_lines(&["log", "live.tmdb", "--follow", "--ndjson"], d);
    let (mut history, history_lines) = spawn_lines(&["history", "live.tmdb", "16", "--follow", "--ndjson"], d);
    // Pairs of events, at 16 then at 32 a moment later: the first finds the
    // last commit long past and has itself committed at once; the second
    // comes within the interval, and only the recorder's own ticker commits
    // it, since the bus then goes quiet. The fifth pair after 5 s of quiet.
    let pauses = [600u64, 600, 600, 600, 5000, 600];
    let mut lags = Vec::new();
    let send = |input: &mut std::process::ChildStdin, address: u64, value: usize| {
        use std::io::Write;
        let line = format!(
            "{{\"op\": \"write\", \"address\": {address}, \"value\": {value}, \"width\": 4, \"timestamp\": {}}}\n",
            value as f64 * 0.5
        );
        input.write_all(line.as_bytes()).unwrap();
        input.flush().unwrap();
        Instant::now()
    };
    let next_line = |lines: &std::sync::mpsc::Receiver<(Instant, String)>, value: usize, who: &str| {
        let (seen, text) = lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("event {value}: no line from {who}: {e}"));
        assert!(text.contains(&format!("\"value\":{value}")), "event {value}: {text}");
        seen
    };
    for (i, pause) in pauses.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(*pause));
        if i == 3 {
            use std::io::Write;
            writeln!(input, "#mark phase two").unwrap();
        }
        send(&mut input, 16, 2 * i);
        std::thread::sleep(Duration::from_millis(20));
        let sent = send(&mut input, 32, 2 * i + 1);
        next_line(&log_lines, 2 * i, "log --follow");
        lags.push(next_line(&log_lines, 2 * i + 1, "log --follow").duration_since(sent));
        next_line(&history_lines, 2 * i, "history --follow");
    }
    drop(input);
    let status = recorder.wait().unwrap();
    assert!(status.success(), "the recorder failed");
    for child in [&mut log, &mut history] {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        history_lines.try_recv().is_err(),
        "history --follow printed an event at another address"
    );
    let mut sorted = lags.clone();
    sorted.sort();
    eprintln!(
        "lags from the second event of a pair to its line in log --follow (commit interval {INTERVAL_MS} ms): {lags:?}"
    );
    // The median against the bound; a noisy machine may delay one.
    assert!(
        sorted[sorted.len() / 2] <= Duration::from_millis(2 * INTERVAL_MS),
        "lags {lags:?}"
    );
    assert!(
        lags[4] <= Duration::from_millis(4 * INTERVAL_MS),
        "after 5 s of quiet: {lags:?}"
    );
    // The mark went through the recorder onto the next event's snap.
    let db = Database::builder().open_read_only(d.join("live.tmdb")).unwrap();
    let read = db.begin_read().unwrap();
    let capture = read.capture("bus").unwrap();
    assert_eq!(capture.events, 12);
    assert_eq!(
        read.marks(&capture).unwrap(),
        vec![(read.event_snap(&capture, 6).unwrap().unwrap(), "phase two".to_string())]
    );
}
