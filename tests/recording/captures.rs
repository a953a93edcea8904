//! Captures in the database (R2, R3, R7, R8): seed-written traces imported
//! and exported byte for byte, appended sessions, the timeline, memory that
//! agrees with the events, and the write protection of capture spaces.

use std::path::{Path, PathBuf};
use std::process::Command;

use tracemem::record::{ExportFormat, Op, TraceEvent, export_trace, import_trace};
use tracemem::workloads::W1;
use tracemem::{CaptureSpec, Database, Error, MemState, MemoryRead};

const GEN_SOAK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gen_soak.py");

/// Writes `gen_soak.py N --seed S [--json]` into `dir`; fails the test
/// without python3 (the reference generator needs it).
fn generate(dir: &Path, events: u64, seed: u64, json: bool) -> PathBuf {
    let path = dir.join(format!("soak-{events}-{seed}.{}", if json { "json" } else { "ndjson" }));
    let mut cmd = Command::new("python3");
    cmd.args([GEN_SOAK, &events.to_string(), "--seed", &seed.to_string(), "--out"])
        .arg(&path);
    if json {
        cmd.arg("--json");
    }
    let status = cmd.status().expect("python3 runs (the reference generator needs it)");
    assert!(status.success(), "{GEN_SOAK} failed: {status}");
    path
}

fn export(db: &Database, name: &str, format: ExportFormat) -> Vec<u8> {
    let read = db.begin_read().unwrap();
    let mut out = Vec::new();
    export_trace(&read, name, format, &mut out).unwrap();
    out
}

#[test]
fn seed_traces_import_and_export_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    for (json, format) in [(false, ExportFormat::Ndjson), (true, ExportFormat::JsonArray)] {
        let file = generate(dir.path(), 10_000, 1, json);
        let name = if json { "soak-json" } else { "soak" };
        let report = import_trace(&db, &file, name, "bus").unwrap();
        assert_eq!((report.captures.len(), report.events), (1, 10_000));
        assert!(
            export(&db, name, format) == std::fs::read(&file).unwrap(),
            "{name} differs"
        );
    }
    // The second capture continues the timeline after the first (R3).
    let read = db.begin_read().unwrap();
    let (first, second) = (read.capture("soak").unwrap(), read.capture("soak-json").unwrap());
    assert_eq!(second.first_snap, first.first_snap + first.events as i64);
}

#[test]
fn appended_sessions_import_as_consecutive_captures_and_export_together() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        generate(dir.path(), 3_000, 1, false),
        generate(dir.path(), 2_000, 2, false),
    );
    let joined = dir.path().join("run.log");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(std::fs::read(&b).unwrap());
    std::fs::write(&joined, &bytes).unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    let report = import_trace(&db, &joined, "run", "bus").unwrap();
    assert_eq!(report.captures, vec!["run".to_string(), "run#2".to_string()]);
    assert!(export(&db, "run", ExportFormat::Ndjson) == bytes);
    let read = db.begin_read().unwrap();
    assert_eq!(read.capture("run#2").unwrap().events, 2_000);
}

#[test]
fn memory_agrees_with_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    let events: Vec<TraceEvent> = W1::new(5).take(5_000).collect();
    let mut txn = db.begin_write().unwrap();
    let capture = txn.create_capture(&CaptureSpec::new("w1")).unwrap();
    txn.append_events("w1", &events[..1234]).unwrap();
    txn.append_events("w1", &events[1234..]).unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.events("w1", 0..u64::MAX).unwrap(), events);
    assert_eq!(read.events("w1", 4_990..4_995).unwrap(), events[4_990..4_995].to_vec());
    let bus = read.space("bus").unwrap();
    for (seq, event) in events.iter().enumerate().step_by(97) {
        let snap = capture.first_snap + seq as i64;
        let width = usize::from(event.width.unwrap());
        let mut buf = [0u8; 8];
        assert_eq!(bus.get_bytes(snap, event.address, &mut buf[..width]).unwrap(), width);
        assert_eq!(u64::from_le_bytes(buf), event.value, "event {seq}");
        assert_eq!(bus.state(snap, event.address).unwrap(), MemState::Known);
    }
}

#[test]
fn failures_wide_values_missing_widths_and_big_endian_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    let event = |op, address, value, width, timestamp: f64, error: Option<&str>| TraceEvent {
        op,
        address,
        value,
        width,
        timestamp,
        error: error.map(str::to_string),
    };
    let events = vec![
        event(Op::Write, 0x100, 0x1_0000_0042, Some(4), 1e-6, None),
        event(Op::Read, 0x104, 0, Some(4), 2e-6, Some("bus timeout")),
        event(Op::Write, 0x108, 7, Some(2), 3e-6, Some("slave error")),
        event(Op::Read, 0x110, 0x1122_3344, None, 4e-6, None),
        event(Op::Write, 0x118, 0x1_1122_3344, None, 0.1234567, None),
    ];
    let mut txn = db.begin_write().unwrap();
    let mut spec = CaptureSpec::new("be");
    spec.big_endian = true;
    spec.space = "mmio".into();
    let capture = txn.create_capture(&spec).unwrap();
    txn.append_events("be", &events).unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.events("be", 0..10).unwrap(), events);
    let mmio = read.space("mmio").unwrap();
    let mut buf = [0u8; 4];
    mmio.get_bytes(capture.first_snap, 0x100, &mut buf).unwrap();
    assert_eq!(buf, [0, 0, 0, 0x42], "the low 4 bytes, big-endian");
    assert_eq!(mmio.state(capture.first_snap + 1, 0x104).unwrap(), MemState::Error);
    assert_eq!(
        mmio.state(capture.first_snap + 2, 0x108).unwrap(),
        MemState::Unknown,
        "a failed write records no memory"
    );
    let mut eight = [0u8; 8];
    assert_eq!(
        mmio.get_bytes(capture.first_snap + 4, 0x118, &mut eight).unwrap(),
        8,
        "no width, value past 4 bytes: 8"
    );
}

#[test]
fn capture_spaces_are_written_by_their_recorder_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_capture(&CaptureSpec::new("c")).unwrap();
    let err = txn.space("bus").unwrap().put_bytes(5, 0, &[1]).unwrap_err();
    assert!(
        matches!(err, Error::CaptureSpace { ref space } if space == "bus"),
        "{err}"
    );
    assert!(matches!(
        txn.create_capture(&CaptureSpec::new("c")),
        Err(Error::CaptureExists { .. })
    ));
    assert!(matches!(
        txn.append_events("nope", &[]),
        Err(Error::UnknownCapture { ref name }) if name == "nope"
    ));
    let bad = TraceEvent {
        op: Op::Read,
        address: u64::MAX - 2,
        value: 0,
        width: Some(8),
        timestamp: 0.0,
        error: None,
    };
    assert!(matches!(
        txn.append_events("c", &[bad]),
        Err(Error::BadEvent { seq: 0, .. })
    ));
}

#[test]
fn a_malformed_trace_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    let file = dir.path().join("bad.ndjson");
    std::fs::write(
        &file,
        "{\"op\": \"read\", \"address\": 16, \"value\": 0, \"width\": 4, \"timestamp\": 1e-06}\n{\"op\": \"rd\"}\n",
    )
    .unwrap();
    let err = import_trace(&db, &file, "bad", "bus").unwrap_err();
    assert!(err.to_string().contains("bad.ndjson:2"), "{err}");
    assert!(db.begin_read().unwrap().captures().unwrap().is_empty());
}

#[test]
fn a_capture_replays_strictly_from_the_database_and_from_its_file() {
    use tracemem::record::{Master, ReplayMaster, ReplayMode};
    let dir = tempfile::tempdir().unwrap();
    let file = generate(dir.path(), 5_000, 4, false);
    let db = Database::create(dir.path().join("t.tmdb")).unwrap();
    import_trace(&db, &file, "soak", "bus").unwrap();
    let read = db.begin_read().unwrap();
    let events = read.events("soak", 0..u64::MAX).unwrap();
    for mut replay in [
        ReplayMaster::from_capture(&read, "soak", ReplayMode::Strict).unwrap(),
        ReplayMaster::from_file(&file, ReplayMode::Strict).unwrap(),
    ] {
        for event in &events {
            let width = event.width.unwrap();
            match event.op {
                Op::Read => assert_eq!(replay.read(event.address, width).unwrap(), event.value),
                Op::Write => replay.write(event.address, event.value, width).unwrap(),
            }
        }
        assert!(
            replay
                .read(0, 4)
                .unwrap_err()
                .message
                .starts_with("replay log exhausted")
        );
    }
}

/// `log --capture A --capture B` merges the two captures' events by
/// timestamp (buses recorded side by side), with each one's marks.
#[test]
fn log_merges_named_captures_by_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    let db = Database::create(&path).unwrap();
    let mut txn = db.begin_write().unwrap();
    for (name, offset) in [("bus0", 0.0), ("bus1", 0.5e-6)] {
        let mut spec = CaptureSpec::new(name);
        spec.space = name.to_string();
        let capture = txn.create_capture(&spec).unwrap();
        let events: Vec<TraceEvent> = (0..5000u64)
            .map(|i| TraceEvent {
                op: Op::Write,
                address: 0x1000 + 4 * (i % 8),
                value: i,
                width: Some(4),
                // bus1's clock runs between bus0's events, and slower.
                timestamp: i as f64 * 1e-6 * if name == "bus1" { 1.5 } else { 1.0 } + offset,
                error: None,
            })
            .collect();
        txn.append_events(name, &events).unwrap();
        txn.mark(name, capture.first_snap + 10, &format!("{name} warm"))
            .unwrap();
    }
    txn.commit().unwrap();
    db.close().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["log", "t.tmdb", "--capture", "bus0", "--capture", "bus1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 10_000);
    let times: Vec<f64> = lines
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in timestamp order");
    let from = |name: &str| lines.iter().filter(|l| l.split('\t').nth(2) == Some(name)).count();
    assert_eq!((from("bus0"), from("bus1")), (5000, 5000));
    assert!(
        lines[..20].iter().any(|l| l.contains("bus1")),
        "interleaved, not one after the other"
    );
    assert!(text.contains("# bus0 warm") && text.contains("# bus1 warm"));
}
