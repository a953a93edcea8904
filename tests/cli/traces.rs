//! Trace files in and out: `import`, `export` (never destroying data),
//! `replay-check`, `log`, `history` and `changes`, `load`, and waveforms.

use super::*;

#[test]
fn export_is_byte_identical_and_replay_check_reports_mismatches() {
    let dir = imported();
    let out = tracemem(&["export", "t.tmdb"], dir.path());
    assert_eq!(stdout(&out), EVENTS);
    let out = tracemem(
        &["export", "t.tmdb", "--capture", "run", "-o", "back.json", "--json"],
        dir.path(),
    );
    assert!(out.status.success());
    assert!(
        std::fs::read_to_string(dir.path().join("back.json"))
            .unwrap()
            .starts_with("[\n  {\n    \"op\": \"write\",")
    );
    let ok = tracemem(
        &["replay-check", "t.tmdb", "--capture", "run", "run.ndjson"],
        dir.path(),
    );
    assert!(ok.status.success(), "{}", stdout(&ok));
    std::fs::write(
        dir.path().join("new.ndjson"),
        EVENTS.replacen("1073745924", "1073745928", 1),
    )
    .unwrap();
    let bad = tracemem(
        &["replay-check", "t.tmdb", "--capture", "run", "new.ndjson"],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        stdout(&bad),
        "event 1: replay mismatch: expected read @ 0x40001004 width=4, got read @ 0x40001008 width=4\n"
    );
    let loose = tracemem(
        &["replay-check", "t.tmdb", "--capture", "run", "new.ndjson", "--loose"],
        dir.path(),
    );
    assert!(loose.status.success());
}

#[test]
fn log_history_changes_load_and_check() {
    let dir = imported();
    let log = stdout(&tracemem(&["log", "t.tmdb"], dir.path()));
    assert_eq!(
        log,
        concat!(
            "0\t0.000001\trun\twr @0x40001000 0x00000042\n",
            "1\t0.000003\trun\trd @0x40001004 0x00000000\n",
            "2\t0.000004\trun\twr @0x40001001 0x07\n"
        )
    );
    // Filters: snaps, times, addresses and the op, each inclusive.
    let filtered = |args: &[&str]| {
        let mut all = vec!["log", "t.tmdb"];
        all.extend_from_slice(args);
        stdout(&tracemem(&all, dir.path())).lines().count()
    };
    assert_eq!(filtered(&["--snap", "1:2"]), 2);
    assert_eq!(filtered(&["--snap", "2"]), 1);
    assert_eq!(filtered(&["--time", "0.000002:0.000003"]), 1);
    assert_eq!(filtered(&["--address", "0x40001000:0x40001001"]), 2);
    assert_eq!(filtered(&["--op", "read"]), 1);
    assert_eq!(filtered(&["--op", "write", "--address", "0x40001001"]), 1);
    let history = stdout(&tracemem(
        &["history", "t.tmdb", "0x40001000", "--before", "2", "--limit", "1"],
        dir.path(),
    ));
    assert!(history.starts_with("snap 0\trun\t"), "{history}");
    let none = tracemem(&["history", "t.tmdb", "0x40001000", "--op", "read"], dir.path());
    assert_eq!(none.status.code(), Some(1));
    let changes = stdout(&tracemem(&["changes", "t.tmdb", "bus", "0", "2"], dir.path()));
    assert_eq!(changes, "0x40001001:0x40001001\n0x40001004:0x40001007\n");
    std::fs::write(dir.path().join("image.bin"), b"firmware").unwrap();
    let load = tracemem(
        &["load", "mem.tmdb", "rom", "0x100", "image.bin", "--snap", "0"],
        dir.path(),
    );
    assert!(load.status.success(), "{}", stderr(&load));
    let read = stdout(&tracemem(&["read", "mem.tmdb", "rom", "0x100", "8"], dir.path()));
    assert!(read.ends_with("firmware\n"), "{read}");
    let check = tracemem(&["check", "t.tmdb"], dir.path());
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(stdout(&check).ends_with(": ok\n"));
}

#[test]
fn a_register_map_names_addresses_in_log_and_history() {
    let dir = imported();
    std::fs::write(
        dir.path().join("regs.json"),
        r#"{"uart.ctrl": {"address": 1073745920, "width": 4, "access": "rw"}, "uart.status": {"address": "0x40001004"}}"#,
    )
    .unwrap();
    let log = stdout(&tracemem(&["log", "t.tmdb", "--regmap", "regs.json"], dir.path()));
    assert_eq!(
        log,
        concat!(
            "0\t0.000001\trun\twr uart.ctrl @0x40001000 0x00000042\n",
            "1\t0.000003\trun\trd uart.status @0x40001004 0x00000000\n",
            "2\t0.000004\trun\twr @0x40001001 0x07\n"
        )
    );
    let history = tracemem(
        &["history", "t.tmdb", "uart.status", "--regmap", "regs.json"],
        dir.path(),
    );
    assert!(
        stdout(&history).contains("rd uart.status @0x40001004"),
        "{}",
        stdout(&history)
    );
    let unknown = tracemem(&["history", "t.tmdb", "uart.nope", "--regmap", "regs.json"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("nor a register of --regmap"),
        "{}",
        stderr(&unknown)
    );
    std::fs::write(dir.path().join("bad.json"), r#"{"x": {"width": 4}}"#).unwrap();
    let bad = tracemem(&["log", "t.tmdb", "--regmap", "bad.json"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("register 'x': no address"), "{}", stderr(&bad));
}

#[test]
fn log_follow_tails_a_capture_while_it_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut soak = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["soak", "f.tmdb", "--events", "300000", "--quiet"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Follow from the moment the recorder's journal exists.
    let journal = dir.path().join("f.tmdb.journal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !journal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let follow = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["log", "f.tmdb", "--follow", "--until-idle", "0.5"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(soak.wait().unwrap().success());
    assert!(follow.status.success(), "{}", stderr(&follow));
    let followed = stdout(&follow);
    assert_eq!(followed.lines().count(), 300_000);
    assert_eq!(followed, stdout(&tracemem(&["log", "f.tmdb"], dir.path())));
    // Nothing there and no recorder: --until-idle ends the wait, nothing found.
    let missing = tracemem(&["log", "nothing.tmdb", "--follow", "--until-idle", "0.3"], dir.path());
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
}

/// `export -o` can't destroy data: it refuses its own database (by path,
/// hard link or symlink) and an existing file without `--force`, leaves no
/// file behind when it fails, and `-o -` is standard output.
#[test]
fn export_output_never_destroys_data() {
    let dir = imported();
    let d = dir.path();
    let db_bytes = std::fs::read(d.join("t.tmdb")).unwrap();
    std::fs::hard_link(d.join("t.tmdb"), d.join("link.tmdb")).unwrap();
    std::os::unix::fs::symlink(d.join("t.tmdb"), d.join("sym.tmdb")).unwrap();
    for target in ["t.tmdb", "./t.tmdb", "link.tmdb", "sym.tmdb"] {
        for force in [false, true] {
            let mut args = vec!["export", "t.tmdb", "-o", target];
            if force {
                args.push("--force");
            }
            let out = tracemem(&args, d);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("refusing to write onto the input"),
                "{}",
                stderr(&out)
            );
            assert_eq!(
                std::fs::read(d.join("t.tmdb")).unwrap(),
                db_bytes,
                "{args:?} changed the database"
            );
        }
    }
    // The recorder's journal beside the database is an input too.
    std::fs::write(d.join("t.tmdb.journal"), "journal").unwrap();
    let out = tracemem(&["export", "t.tmdb", "-o", "t.tmdb.journal", "--force"], d);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(d.join("t.tmdb.journal")).unwrap(), b"journal");
    std::fs::remove_file(d.join("t.tmdb.journal")).unwrap();
    std::fs::write(d.join("old.ndjson"), "keep me\n").unwrap();
    let out = tracemem(&["export", "t.tmdb", "-o", "old.ndjson"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(d.join("old.ndjson")).unwrap(), "keep me\n");
    for flag in ["--force", "--overwrite"] {
        let out = tracemem(&["export", "t.tmdb", "-o", "old.ndjson", flag], d);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(d.join("old.ndjson")).unwrap(), EVENTS);
    }
    let out = tracemem(&["export", "t.tmdb", "-o", "-"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), EVENTS);
    assert!(!d.join("-").exists(), "-o - wrote a file named '-'");
    let out = tracemem(&["export", "t.tmdb", "--capture", "nope", "-o", "new.ndjson"], d);
    assert_eq!(out.status.code(), Some(2));
    let left: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("new.ndjson"))
        .collect();
    assert!(left.is_empty(), "a failed export left {left:?}");
}

/// A failed import leaves no new file, and the demo replaces only a
/// database it made itself.
#[test]
fn failed_imports_and_the_demo_destroy_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.ndjson"), "{\"op\": \"rd\"}\n").unwrap();
    let out = tracemem(&["import", "bad.ndjson", "new.tmdb"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(!d.join("new.tmdb").exists(), "a failed import left a new database");
    std::fs::write(d.join("tracemem-demo.tmdb"), "my notes").unwrap();
    let out = tracemem(&["demo", "--events", "100", "--quiet"], d);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the demo replaces only a database it made"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(d.join("tracemem-demo.tmdb")).unwrap(), b"my notes");
    std::fs::remove_file(d.join("tracemem-demo.tmdb")).unwrap();
    for _ in 0..2 {
        let out = tracemem(&["demo", "--events", "100", "--quiet"], d);
        assert!(
            out.status.success(),
            "the demo replaces its own database: {}",
            stderr(&out)
        );
    }
}

/// replay-check says when the run is shorter or longer than the capture,
/// `--exact` requires the whole capture, and a mismatch shows the values.
#[test]
fn replay_check_reports_the_runs_length_and_values() {
    let dir = imported();
    let d = dir.path();
    let lines: Vec<&str> = EVENTS.lines().collect();
    std::fs::write(d.join("short.ndjson"), format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let out = tracemem(&["replay-check", "t.tmdb", "--capture", "run", "short.ndjson"], d);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "replayed 2 of 3 events of \"run\"; 1 not requested\n");
    let out = tracemem(
        &["replay-check", "t.tmdb", "--capture", "run", "short.ndjson", "--exact"],
        d,
    );
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(d.join("long.ndjson"), format!("{EVENTS}{}\n", lines[0])).unwrap();
    let out = tracemem(&["replay-check", "t.tmdb", "--capture", "run", "long.ndjson"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("event 3: replay log exhausted"),
        "{}",
        stdout(&out)
    );
    let other = EVENTS.replacen(
        "\"address\": 1073745920, \"value\": 66",
        "\"address\": 1073745928, \"value\": 67",
        1,
    );
    std::fs::write(d.join("other.ndjson"), other).unwrap();
    let out = tracemem(&["replay-check", "t.tmdb", "--capture", "run", "other.ndjson"], d);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "event 0: replay mismatch: expected write @ 0x40001000 width=4, got write @ 0x40001008 width=4; \
         the recording's value is 0x42, the run's 0x43\n"
    );
}

/// `export` takes its format from the output's extension or --format:
/// waveforms for viewers beside the trace formats; an extension that names
/// no format is refused, naming it, and nothing is written.
#[test]
fn export_writes_waveforms_by_extension() {
    let dir = imported();
    let d = dir.path();
    for name in ["run.vcd", "run.fst"] {
        let out = tracemem(&["export", "t.tmdb", "-o", name, "--timescale", "1us"], d);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
    let vcd = std::fs::read_to_string(d.join("run.vcd")).unwrap();
    assert!(
        vcd.contains("$timescale 1 us $end") && vcd.contains("$var wire 64 ! addr $end"),
        "{vcd}"
    );
    assert!(std::fs::read(d.join("run.fst")).unwrap().len() > 100);
    let stdout_vcd = tracemem(&["export", "t.tmdb", "--format", "vcd", "--time", "seq"], d);
    assert!(stdout(&stdout_vcd).contains("#2\n"), "{}", stdout(&stdout_vcd));
    let log = tracemem(&["export", "t.tmdb", "-o", "run.log"], d);
    assert_eq!(log.status.code(), Some(2));
    assert!(
        stderr(&log).contains("the extension '.log' names no format"),
        "{}",
        stderr(&log)
    );
    assert!(!d.join("run.log").exists());
    let as_ndjson = tracemem(&["export", "t.tmdb", "-o", "run.log", "--format", "ndjson"], d);
    assert!(as_ndjson.status.success());
    assert_eq!(std::fs::read_to_string(d.join("run.log")).unwrap(), EVENTS);
    let fst_out = tracemem(&["export", "t.tmdb", "--format", "fst"], d);
    assert_eq!(fst_out.status.code(), Some(2));
    assert!(stderr(&fst_out).contains("give -o PATH.fst"), "{}", stderr(&fst_out));
    let bad_scale = tracemem(&["export", "t.tmdb", "-o", "x.vcd", "--timescale", "3ns"], d);
    assert_eq!(bad_scale.status.code(), Some(2));
    assert!(!d.join("x.vcd").exists(), "a refused export leaves no file");
}
