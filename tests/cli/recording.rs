//! Recording from the command line (`demo`, `soak`, `record`), queries
//! beside a recorder, recovery after a kill, upgrades, `check` on damage,
//! and retention bounds.

use super::*;

#[test]
fn check_reports_damaged_records() {
    let dir = imported();
    {
        let db = redb::Database::open(dir.path().join("t.tmdb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<(u32, u64), &[u8]> = redb::TableDefinition::new("events");
            txn.open_table(table)
                .unwrap()
                .insert((0u32, 0u64), [1u8, 2, 3].as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let check = tracemem(&["check", "t.tmdb"], dir.path());
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("problem: events table, capture 0"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn demo_soak_and_record_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let demo = tracemem(&["demo", "--events", "5000", "--quiet"], dir.path());
    assert!(demo.status.success(), "{}", stderr(&demo));
    let text = stdout(&demo);
    assert!(
        text.contains("bytes/event") && text.contains("at three times"),
        "{text}"
    );
    assert!(dir.path().join("tracemem-demo.tmdb").exists());
    let soak = tracemem(
        &[
            "soak", "s.tmdb", "--events", "300", "--flush", "100", "--ack", "--quiet",
        ],
        dir.path(),
    );
    assert!(soak.status.success(), "{}", stderr(&soak));
    assert!(stdout(&soak).lines().all(|l| l.starts_with("acked ")));
    assert_eq!(stdout(&soak).lines().last(), Some("acked 300"));
    for (flush, shown) in [("evnt", "'evnt'"), ("0", "0"), ("-5", "-5"), ("true", "'true'")] {
        let bad = tracemem(&["soak", "s.tmdb", "--events", "1", "--flush", flush], dir.path());
        assert_eq!(bad.status.code(), Some(2));
        assert_eq!(
            stderr(&bad),
            format!("tracemem: soak: --flush: flush must be 'event', 'never', or a positive int; got {shown}\n")
        );
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["record", "r.tmdb", "--ack", "--capture", "piped"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(EVENTS.as_bytes()).unwrap();
        stdin.write_all(b"#flush\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().last(), Some("acked 3"));
    // Recorded as given: the export is the input again.
    assert_eq!(
        stdout(&tracemem(&["export", "r.tmdb", "--capture", "piped"], dir.path())),
        EVENTS
    );
}

/// Every query opens the database read-only: it changes no byte and not the
/// modification time of the file, and several run at once.
#[test]
fn queries_are_readers_that_change_nothing_and_run_at_once() {
    use std::os::unix::fs::MetadataExt;
    let dir = imported();
    let d = dir.path();
    let db = d.join("t.tmdb");
    let before = (
        std::fs::read(&db).unwrap(),
        std::fs::metadata(&db).unwrap().mtime_nsec(),
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let queries: [&[&str]; 13] = [
        &["info", "t.tmdb"],
        &["spaces", "t.tmdb"],
        &["captures", "t.tmdb"],
        &["snaps", "t.tmdb"],
        &["read", "t.tmdb", "bus", "0x40001000", "8", "--snap", "2"],
        &["states", "t.tmdb", "bus", "0x40001000", "8", "--snap", "0"],
        &["log", "t.tmdb"],
        &["history", "t.tmdb", "0x40001000"],
        &["changes", "t.tmdb", "bus", "0", "2"],
        &["diff", "t.tmdb", "bus", "0", "2", "--range", "0x40001000:0x40001010"],
        &["find", "t.tmdb", "bus", "42", "--snap", "2"],
        &["export", "t.tmdb"],
        &["check", "t.tmdb"],
    ];
    for args in queries {
        let out = tracemem(args, d);
        assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?}: {}", stderr(&out));
    }
    let replay = tracemem(&["replay-check", "t.tmdb", "--capture", "run", "run.ndjson"], d);
    assert!(replay.status.success(), "{}", stderr(&replay));
    let after = (
        std::fs::read(&db).unwrap(),
        std::fs::metadata(&db).unwrap().mtime_nsec(),
    );
    assert!(before.0 == after.0, "a query changed the file's bytes");
    assert_eq!(before.1, after.1, "a query changed the file's modification time");
    // Four at once: none is locked out.
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_tracemem"))
                .args(["history", "t.tmdb", "0x40001000"])
                .current_dir(d)
                .output()
        })
        .collect();
    for out in children {
        let out = out.unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

/// Queries work beside a running recorder; once it is killed, every query
/// says to recover, `recover` folds the journal in, and then nothing
/// acknowledged is missing.
#[test]
fn a_killed_recorder_is_recovered_before_queries_read() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["record", "r.tmdb", "--ack", "--capture", "live"])
        .current_dir(d)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut acks = BufReader::new(child.stdout.take().unwrap()).lines();
    let stdin = child.stdin.as_mut().unwrap();
    let line = |i: u64| {
        format!(
            "{{\"op\": \"write\", \"address\": {}, \"value\": {i}, \"width\": 4, \"timestamp\": {}.0}}\n",
            0x4000_0000 + 4 * (i % 64),
            i
        )
    };
    for i in 0..200 {
        stdin.write_all(line(i).as_bytes()).unwrap();
    }
    stdin.write_all(b"#flush\n").unwrap();
    stdin.flush().unwrap();
    let mut acked = 0;
    while acked < 200 {
        let text = acks.next().expect("the recorder acknowledges").unwrap();
        acked = text.trim_start_matches("acked ").parse().unwrap();
    }
    // Beside the running recorder, a query reads what it has committed.
    let info = tracemem(&["captures", "r.tmdb"], d);
    assert!(info.status.success(), "{}", stderr(&info));
    assert!(stdout(&info).contains("live"), "{}", stdout(&info));
    for i in 200..300 {
        stdin.write_all(line(i).as_bytes()).unwrap();
    }
    stdin.flush().unwrap();
    while acked < 300 {
        let text = acks.next().expect("the recorder acknowledges").unwrap();
        acked = text.trim_start_matches("acked ").parse().unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for args in [
        &["log", "r.tmdb"][..],
        &["info", "r.tmdb"],
        &["export", "r.tmdb"],
        &["check", "r.tmdb"],
    ] {
        let out = tracemem(args, d);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr(&out),
            format!(
                "tracemem: {}: r.tmdb: a recorder stopped without closing it; run tracemem recover r.tmdb\n",
                args[0]
            )
        );
    }
    // check --repair is check's writing form: it recovers, then checks.
    std::fs::copy(d.join("r.tmdb"), d.join("copy.tmdb")).unwrap();
    std::fs::copy(d.join("r.tmdb.journal"), d.join("copy.tmdb.journal")).unwrap();
    let repaired = tracemem(&["check", "copy.tmdb", "--repair"], d);
    assert!(repaired.status.success(), "{}", stderr(&repaired));
    assert!(stdout(&repaired).ends_with(": ok\n"), "{}", stdout(&repaired));
    assert!(tracemem(&["check", "copy.tmdb"], d).status.success());
    let out = tracemem(&["recover", "r.tmdb"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let exported = stdout(&tracemem(&["export", "r.tmdb", "--capture", "live"], d));
    let expected: String = (0..300).map(line).collect();
    assert!(
        exported.starts_with(&expected),
        "an acknowledged event is missing after recover"
    );
}

/// A database of an older format is never upgraded behind the user's back:
/// queries refuse it naming `tracemem upgrade`, which converts it.
#[test]
fn an_older_format_is_upgraded_only_by_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/format2.tmdb");
    std::fs::copy(fixture, d.join("old.tmdb")).unwrap();
    let bytes = std::fs::read(d.join("old.tmdb")).unwrap();
    let out = tracemem(&["info", "old.tmdb"], d);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run tracemem upgrade old.tmdb"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read(d.join("old.tmdb")).unwrap() == bytes,
        "a query upgraded the file"
    );
    // Writers refuse it too, naming the command, and change nothing.
    std::fs::write(d.join("run.ndjson"), EVENTS).unwrap();
    let writers: [&[&str]; 5] = [
        &["import", "old.tmdb", "run.ndjson"],
        &["load", "old.tmdb", "rom", "0", "run.ndjson", "--snap", "0"],
        &["record", "old.tmdb"],
        &["recover", "old.tmdb"],
        &["check", "old.tmdb", "--repair"],
    ];
    for args in writers {
        let out = tracemem(args, d);
        assert_eq!(out.status.code(), Some(6), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("run tracemem upgrade old.tmdb"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(
            std::fs::read(d.join("old.tmdb")).unwrap() == bytes,
            "{args:?} upgraded the file"
        );
    }
    let out = tracemem(&["upgrade", "old.tmdb", "-q"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("upgraded from format 2 to 3"), "{}", stdout(&out));
    let out = tracemem(&["info", "old.tmdb"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tracemem(&["upgrade", "old.tmdb", "-q"], d);
    assert!(stdout(&out).contains("already format 3"), "{}", stdout(&out));
}

#[test]
fn bounds_are_parsed_with_units_and_too_small_ones_are_refused_before_recording() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tracemem(
        &[
            "soak",
            "b.tmdb",
            "--events",
            "300000",
            "--keep",
            "1h",
            "--max-size",
            "64MiB",
            "-q",
        ],
        d,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tracemem(&["soak", "small.tmdb", "--events", "10", "--max-size", "4MiB"], d);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max-size") && err.contains("8388608"), "{err}");
    assert!(!d.join("small.tmdb").exists(), "nothing created");
    let out = tracemem(&["soak", "small.tmdb", "--events", "10", "--keep", "7 weeks"], d);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
    let out = tracemem(
        &["soak", "k.tmdb", "--events", "300000", "--keep-events", "50000", "-q"],
        d,
    );
    assert!(out.status.success());
    let info = tracemem(&["info", "k.tmdb"], d);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("horizon       snap "), "{text}");
    let log = tracemem(&["log", "k.tmdb"], d);
    let note = String::from_utf8_lossy(&log.stderr);
    assert!(note.contains("dropped by retention; starting at event"), "{note}");
    let first_seq: u64 = String::from_utf8_lossy(&log.stdout)
        .lines()
        .next()
        .and_then(|l| l.split('\t').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(
        (250_000 - 50_000 / 8 - 4096..=250_000).contains(&first_seq),
        "{first_seq}"
    );
}
