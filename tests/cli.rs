//! The `tracemem` executable, verb by verb, against temporary databases,
//! including the error paths and exit statuses (0 done, 1 nothing found or a
//! replay mismatch, 2 an error).

use std::path::Path;
use std::process::{Command, Output};

fn tracemem(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tracemem binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const EVENTS: &str = concat!(
    "{\"op\": \"write\", \"address\": 1073745920, \"value\": 66, \"width\": 4, \"timestamp\": 1e-06}\n",
    "{\"op\": \"read\", \"address\": 1073745924, \"value\": 0, \"width\": 4, \"timestamp\": 3e-06}\n",
    "{\"op\": \"write\", \"address\": 1073745921, \"value\": 7, \"width\": 1, \"timestamp\": 4e-06}\n",
);

fn imported() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run.ndjson"), EVENTS).unwrap();
    let out = tracemem(&["import", "t.tmdb", "run.ndjson"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "imported 3 events into run\n");
    assert_eq!(stderr(&out), "", "the database-first order needs no warning");
    dir
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = tracemem(&["--version"], dir.path());
    assert!(stdout(&out).starts_with("tracemem "));
    for verb in [
        "info",
        "read",
        "states",
        "import",
        "export",
        "replay-check",
        "spaces",
        "captures",
        "snaps",
        "regs",
        "regions",
    ] {
        let out = tracemem(&[verb, "--help"], dir.path());
        assert!(out.status.success() && stdout(&out).contains("Usage"), "{verb}");
    }
}

#[test]
fn import_info_and_listings() {
    let dir = imported();
    let info = stdout(&tracemem(&["info", "t.tmdb"], dir.path()));
    assert!(
        info.contains("events        3") && info.contains("block size    4096"),
        "{info}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&tracemem(&["info", "t.tmdb", "--json"], dir.path()))).unwrap();
    assert_eq!(json["events"], 3);
    assert_eq!(stdout(&tracemem(&["spaces", "t.tmdb"], dir.path())), "bus\n");
    assert!(
        stdout(&tracemem(&["captures", "t.tmdb"], dir.path())).starts_with("run\tfamily run\tspace bus\tsnaps 0..=2")
    );
    let snaps = tracemem(&["snaps", "t.tmdb"], dir.path());
    assert_eq!(snaps.status.code(), Some(1), "no snap carries metadata: nothing found");
}

#[test]
fn read_shows_xxd_with_unknown_bytes_and_sources() {
    let dir = imported();
    let out = tracemem(
        &["read", "t.tmdb", "bus", "0x40001000", "8", "--snap", "2", "--sources"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "40001000: 4207 0000 0000 0000                      B.......");
    assert_eq!(lines[1], "0x40001000:0x40001000 from snap 0");
    assert_eq!(lines[2], "0x40001001:0x40001001 from snap 2");
    // Before the reads, the second register was never observed.
    let early = stdout(&tracemem(
        &["read", "t.tmdb", "bus", "0x40001000", "8", "--snap", "0"],
        dir.path(),
    ));
    assert!(early.starts_with("40001000: 4200 0000 .... ...."), "{early}");
    // --time maps seconds to the last event at or before them.
    let timed = stdout(&tracemem(
        &["read", "t.tmdb", "bus", "0x40001000", "2", "--time", "0.0000035"],
        dir.path(),
    ));
    assert!(timed.starts_with("40001000: 4200"), "{timed}");
}

#[test]
fn states_and_nothing_found() {
    let dir = imported();
    let out = tracemem(
        &["states", "t.tmdb", "bus", "0x40001000", "8", "--snap", "1"],
        dir.path(),
    );
    assert_eq!(stdout(&out), "0x40001004:0x40001007 KNOWN\n");
    let none = tracemem(
        &["states", "t.tmdb", "bus", "0x40001000", "8", "--snap", "-1"],
        dir.path(),
    );
    assert_eq!(none.status.code(), Some(1));
}

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
fn errors_name_what_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = tracemem(&["info", "missing.tmdb"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).starts_with("tracemem: info: opening the database: missing.tmdb:"),
        "{}",
        stderr(&missing)
    );
    std::fs::write(dir.path().join("notes.txt"), "not a database").unwrap();
    let not_db = tracemem(&["info", "notes.txt"], dir.path());
    assert_eq!(not_db.status.code(), Some(3), "a file that is not a database exits 3");
    assert!(
        stderr(&not_db).contains("not a tracemem database"),
        "{}",
        stderr(&not_db)
    );
    let bad_hex = tracemem(&["read", "notes.txt", "bus", "0xzz", "4"], dir.path());
    assert_eq!(bad_hex.status.code(), Some(2));
    assert!(stderr(&bad_hex).contains("'0xzz' is not a number"));
    let dir = imported();
    let unknown = tracemem(&["read", "t.tmdb", "rom", "0", "4"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unknown space 'rom'"), "{}", stderr(&unknown));
    std::fs::write(dir.path().join("bad.ndjson"), "{\"op\": \"rd\"}\n").unwrap();
    let bad_trace = tracemem(&["import", "t.tmdb", "bad.ndjson"], dir.path());
    assert_eq!(bad_trace.status.code(), Some(2));
    assert!(stderr(&bad_trace).contains("bad.ndjson:1"), "{}", stderr(&bad_trace));
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

/// A database made through the library: a register map and thread 1's
/// registers, regions in two spaces, and a scratch snap forked from snap 100.
fn registers_regions_and_a_fork() -> tempfile::TempDir {
    use tracemem::{Lifespan, RegionFlags, RegisterDef, RegisterMap, SnapMeta};
    let dir = tempfile::tempdir().unwrap();
    let db = tracemem::Database::create(dir.path().join("e.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    let map = RegisterMap::new([
        RegisterDef::new("r0", 0, 8),
        RegisterDef::new("r0l", 0, 4).parent("r0"),
        RegisterDef::new("r0h", 4, 4).parent("r0"),
        RegisterDef::new("pc", 8, 8),
        RegisterDef::new("flags", 16, 4),
        RegisterDef::new("zf", 16, 4).parent("flags").bits(6, 6),
    ])
    .unwrap();
    txn.set_register_map(&map).unwrap();
    let mut regs = txn.registers("1").unwrap();
    regs.set_value(100, "r0", 0x0123_4567_89ab_cdef).unwrap();
    regs.set_value(120, "r0h", 0x7654_3210).unwrap();
    regs.set_value(120, "pc", 0x1000).unwrap();
    regs.set_error(120, "flags").unwrap();
    let mut regions = txn.regions("ram").unwrap();
    let rx = RegionFlags::READ | RegionFlags::EXECUTE;
    regions
        .add(".text", Lifespan::new(0, i64::MAX).unwrap(), 0x1000, 0x1fff, rx)
        .unwrap();
    let rw = RegionFlags::READ | RegionFlags::WRITE;
    regions
        .add("heap", Lifespan::new(5, 9).unwrap(), 0x2000, 0x2fff, rw)
        .unwrap();
    let rv = RegionFlags::READ | RegionFlags::VOLATILE;
    txn.regions("bus")
        .unwrap()
        .add("uart", Lifespan::new(0, 0).unwrap(), 0x4000_0000, 0x4000_00ff, rv)
        .unwrap();
    let mut ram = txn.space("ram").unwrap();
    ram.put_bytes(100, 0x2000, b"snap-100").unwrap();
    ram.put_bytes(-1, 0x2002, b"SCR").unwrap();
    txn.set_snap_meta(
        -1,
        &SnapMeta {
            description: "what if".into(),
            fork_of: Some(100),
            ..SnapMeta::default()
        },
    )
    .unwrap();
    txn.commit().unwrap();
    dir
}

#[test]
fn regs_shows_values_and_states_by_the_stored_map() {
    let dir = registers_regions_and_a_fork();
    let out = tracemem(&["regs", "e.tmdb", "1", "--snap", "120"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        concat!(
            "regs/1 at snap 120\n",
            "r0     0x7654321089abcdef  stale (snap 100)\n",
            "  r0l  0x89abcdef          stale (snap 100)\n",
            "  r0h  0x76543210          KNOWN\n",
            "pc     0x0000000000001000  KNOWN\n",
            "flags  ..                  ERROR (snap 120)\n",
            "  zf   ..                  ERROR (snap 120)\n",
        )
    );
    let early = stdout(&tracemem(
        &["regs", "e.tmdb", "1", "--snap", "100", "--json"],
        dir.path(),
    ));
    let lines: Vec<serde_json::Value> = serde_json::from_str::<Vec<serde_json::Value>>(&early).expect("one JSON array");
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["name"], "r0");
    assert_eq!(lines[0]["value"], "0x123456789abcdef");
    assert_eq!(lines[0]["state"], "known");
    assert_eq!(lines[3]["state"], "unknown");
    assert_eq!(lines[3]["value"], serde_json::Value::Null);
    // Frames share the thread's space unless the database keeps registers per frame.
    let frame = stdout(&tracemem(
        &["regs", "e.tmdb", "1", "--frame", "2", "--snap", "120"],
        dir.path(),
    ));
    assert!(frame.starts_with("regs/1 at snap 120\n"), "{frame}");
    let unknown = tracemem(&["regs", "e.tmdb", "9"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("unknown space 'regs/9'"),
        "{}",
        stderr(&unknown)
    );
    let imported = imported();
    let no_map = tracemem(&["regs", "t.tmdb", "1"], imported.path());
    assert_eq!(no_map.status.code(), Some(2), "no register space at all");
}

#[test]
fn regions_lists_by_snap_and_space() {
    let dir = registers_regions_and_a_fork();
    let all = stdout(&tracemem(&["regions", "e.tmdb"], dir.path()));
    assert_eq!(
        all,
        concat!(
            "ram\t.text\t0x1000:0x1fff\tsnaps 0..\tr-x-\n",
            "ram\theap\t0x2000:0x2fff\tsnaps 5..=9\trw--\n",
            "bus\tuart\t0x40000000:0x400000ff\tsnaps 0..=0\tr--v\n",
        )
    );
    let at_10 = stdout(&tracemem(
        &["regions", "e.tmdb", "--snap", "10", "--space", "ram"],
        dir.path(),
    ));
    assert_eq!(at_10, "ram\t.text\t0x1000:0x1fff\tsnaps 0..\tr-x-\n");
    let json = stdout(&tracemem(&["regions", "e.tmdb", "--snap", "0", "--json"], dir.path()));
    let names: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&json)
        .expect("one JSON array")
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec![".text", "uart"]);
    let before = tracemem(&["regions", "e.tmdb", "--snap", "-1"], dir.path());
    assert_eq!(before.status.code(), Some(1), "nothing is alive before snap 0");
    let unknown = tracemem(&["regions", "e.tmdb", "--space", "rom"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn read_and_states_follow_forks_with_view() {
    let dir = registers_regions_and_a_fork();
    let view = tracemem(
        &[
            "read",
            "e.tmdb",
            "ram",
            "0x2000",
            "8",
            "--snap",
            "-1",
            "--view",
            "--sources",
        ],
        dir.path(),
    );
    assert!(view.status.success(), "{}", stderr(&view));
    let text = stdout(&view);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("00002000: 736e 5343 5231 3030 "), "{text}");
    assert!(lines[0].ends_with("  snSCR100"), "{text}");
    assert_eq!(
        lines[1..],
        [
            "0x2000:0x2001 from snap 100",
            "0x2002:0x2004 from snap -1",
            "0x2005:0x2007 from snap 100"
        ]
    );
    // Without --view, the scratch snap shows only its own bytes.
    let plain = stdout(&tracemem(
        &["read", "e.tmdb", "ram", "0x2000", "8", "--snap", "-1"],
        dir.path(),
    ));
    assert!(plain.starts_with("00002000: .... 5343 52.. .... "), "{plain}");
    let states = stdout(&tracemem(
        &["states", "e.tmdb", "ram", "0x2000", "8", "--snap", "-1", "--view"],
        dir.path(),
    ));
    assert_eq!(
        states,
        "0x2000:0x2001 KNOWN (snap 100)\n0x2002:0x2004 KNOWN (snap -1)\n0x2005:0x2007 KNOWN (snap 100)\n"
    );
    let recent = stdout(&tracemem(
        &[
            "states",
            "e.tmdb",
            "ram",
            "0x2000",
            "8",
            "--snap",
            "-1",
            "--view",
            "--most-recent",
        ],
        dir.path(),
    ));
    assert_eq!(recent, states);
    let snaps = stdout(&tracemem(&["snaps", "e.tmdb"], dir.path()));
    assert_eq!(snaps, "-1\twhat if\t(fork of 100)\n");
}

#[test]
fn find_diff_and_pack() {
    let dir = imported();
    // The imported events: 0x42 written at 0x40001000 (snap 0), 0 read at
    // 0x40001004 (snap 1), 7 written at 0x40001001 (snap 2).
    let found = tracemem(&["find", "t.tmdb", "bus", "42 ?? 00 00", "--limit", "5"], dir.path());
    assert_eq!(stdout(&found), "0x40001000\n", "{}", stderr(&found));
    let early = tracemem(&["find", "t.tmdb", "bus", "42 00", "--snap", "0"], dir.path());
    assert_eq!(stdout(&early), "0x40001000\n");
    // At snap 2 the byte after 0x42 is 7.
    let late = tracemem(&["find", "t.tmdb", "bus", "42 07", "--snap", "2", "--json"], dir.path());
    assert_eq!(stdout(&late), "[{\"address\":1073745920,\"snap\":2}]\n");
    // --json is one document: `[]` when nothing matches, exit status 1 all the same.
    let none_json = tracemem(&["find", "t.tmdb", "bus", "ab cd", "--json"], dir.path());
    assert_eq!(
        (stdout(&none_json).as_str(), none_json.status.code()),
        ("[]\n", Some(1))
    );
    let all = tracemem(&["find", "t.tmdb", "bus", "00", "--all", "--json"], dir.path());
    let all: serde_json::Value = serde_json::from_str(&stdout(&all)).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 6, "every zero byte at the newest snap");
    assert!(all[0]["snap"].is_null(), "the newest snap is no placeholder number");
    let zeros = tracemem(
        &["find", "t.tmdb", "bus", "00", "--backward", "--limit", "2"],
        dir.path(),
    );
    assert_eq!(stdout(&zeros), "0x40001007\n0x40001006\n");
    let nowhere = tracemem(&["find", "t.tmdb", "bus", "ab cd"], dir.path());
    assert_eq!(nowhere.status.code(), Some(1));
    let bad = tracemem(&["find", "t.tmdb", "bus", "4 2"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).starts_with("tracemem: find: '4 2' is not a hex byte pattern"));
    let short_mask = tracemem(&["find", "t.tmdb", "bus", "42 00", "--mask", "ff"], dir.path());
    assert_eq!(short_mask.status.code(), Some(2));
    assert!(stderr(&short_mask).contains("the mask has 1 bytes but the pattern has 2"));

    let ranged = tracemem(
        &["find", "t.tmdb", "bus", "00 00", "--range", "0x40001004:0x40001006"],
        dir.path(),
    );
    assert_eq!(stdout(&ranged), "0x40001004\n", "{}", stderr(&ranged));
    let reversed = tracemem(&["find", "t.tmdb", "bus", "00", "--range", "5:1"], dir.path());
    assert_eq!(reversed.status.code(), Some(2));
    assert!(
        stderr(&reversed).contains("'5:1': the range is reversed"),
        "{}",
        stderr(&reversed)
    );
    let narrow = stdout(&tracemem(
        &["diff", "t.tmdb", "bus", "0", "2", "--range", "0x40001004:0x40001005"],
        dir.path(),
    ));
    assert_eq!(narrow, "0x40001004:0x40001005  0: .. ..  2: 00 00\n");
    let diff = stdout(&tracemem(&["diff", "t.tmdb", "bus", "0", "2"], dir.path()));
    assert_eq!(
        diff,
        "0x40001001:0x40001001  0: 00  2: 07\n0x40001004:0x40001007  0: .. .. .. ..  2: 00 00 00 00\n"
    );
    let same = tracemem(&["diff", "t.tmdb", "bus", "1", "1"], dir.path());
    assert_eq!(same.status.code(), Some(1));

    let packed = tracemem(&["pack", "t.tmdb", "--json"], dir.path());
    assert!(packed.status.success(), "{}", stderr(&packed));
    assert!(stdout(&packed).starts_with("{\"bytes_after\":"), "{}", stdout(&packed));
    assert_eq!(
        stdout(&tracemem(&["diff", "t.tmdb", "bus", "0", "2"], dir.path())),
        diff
    );
    let missing = tracemem(&["pack", "nothing.tmdb"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).starts_with("tracemem: pack: packing nothing.tmdb:"),
        "{}",
        stderr(&missing)
    );
}

/// `gen` writes the soak workload byte for byte as the reference generator
/// does, in both layouts and for another seed.
#[test]
fn gen_writes_the_reference_generators_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gen_soak.py");
    for (args, extra) in [
        (vec!["gen", "ours.ndjson", "--events", "5000"], vec!["5000"]),
        (
            vec!["gen", "ours.ndjson", "--events", "3000", "--seed", "7", "--force"],
            vec!["3000", "--seed", "7"],
        ),
        (
            vec!["gen", "ours.ndjson", "--events", "700", "--json", "--force"],
            vec!["700", "--json"],
        ),
    ] {
        let out = tracemem(&args, dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let reference = Command::new("python3")
            .arg(script)
            .args(&extra)
            .args(["--out", "theirs.ndjson"])
            .current_dir(dir.path())
            .output()
            .expect("python3 runs (the reference generator needs it)");
        assert!(reference.status.success(), "{}", stderr(&reference));
        let ours = std::fs::read(dir.path().join("ours.ndjson")).unwrap();
        let theirs = std::fs::read(dir.path().join("theirs.ndjson")).unwrap();
        assert!(!ours.is_empty());
        assert!(ours == theirs, "{args:?}: gen differs from the reference");
    }
    let out = tracemem(&["gen", "-", "--events", "2"], dir.path());
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stderr(&out));
    // An existing file is kept unless --force.
    std::fs::write(dir.path().join("t.tmdb"), "a database").unwrap();
    let out = tracemem(&["gen", "t.tmdb", "--events", "2"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).lines().next().unwrap_or(""),
        "tracemem: gen: t.tmdb: the file exists; pass --force to replace it"
    );
    assert_eq!(std::fs::read(dir.path().join("t.tmdb")).unwrap(), b"a database");
}

/// Writing the output to a full device is an error (exit 5, no space), and
/// a closed pipe ends quietly with exit 0.
#[test]
fn output_errors_exit_non_zero_and_a_closed_pipe_is_quiet() {
    let dir = imported();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["log", "t.tmdb"])
        .current_dir(dir.path())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("tracemem: log: writing the output: "),
        "{}",
        stderr(&out)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["gen", "-", "--events", "2000000"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
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

/// The demo's register values are what `read` shows at those snaps.
#[test]
fn the_demos_values_are_what_read_shows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tracemem(&["demo", "d.tmdb", "--events", "20000", "--quiet"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("(tracemem read ")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in lines {
        let value = line.split(": ").nth(1).unwrap().split_whitespace().next().unwrap();
        let value = u32::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
        let command = line.split("(tracemem ").nth(1).unwrap().trim_end_matches(')');
        let args: Vec<&str> = command.split_whitespace().collect();
        let read = tracemem(&args, d);
        assert!(read.status.success(), "{}", stderr(&read));
        let hex: String = stdout(&read)
            .split(':')
            .nth(1)
            .unwrap()
            .split("  ")
            .next()
            .unwrap()
            .replace(' ', "");
        let bytes: Vec<u8> = (0..4)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(u32::from_le_bytes(bytes.try_into().unwrap()), value, "{line}");
    }
}

/// README's shell walk-through runs as written on a fresh directory: the
/// blocks of "From the shell" up to the one that needs a library-written
/// database (a query that finds nothing may exit 1, as documented).
#[test]
fn the_readme_walk_through_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## From the shell").nth(1).expect("the section");
    let section = section.split("With registers, regions and forks").next().unwrap();
    let lines: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .flat_map(|block| block.split("```").next().unwrap().lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() >= 12, "{lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_tracemem")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    for line in lines {
        let out = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {line}")])
            .env("PATH", &path)
            .current_dir(dir.path())
            .output()
            .expect("bash runs");
        let finds_nothing = line.starts_with("tracemem find") && out.status.code() == Some(1);
        assert!(out.status.success() || finds_nothing, "{line}: {}", stderr(&out));
    }
}

/// One grammar (issue 18, items 3 and 5): the database first (the older
/// import order warns), `-` for standard input, one JSON document per
/// listing, words in a byte order, runs never observed collapsed; separate
/// recordings never form a family, and `--time` reads one capture's clock,
/// never guessing between several.
#[test]
fn one_grammar_and_captures_that_mean_what_they_say() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("run.ndjson"), EVENTS).unwrap();
    let old_order = tracemem(&["import", "run.ndjson", "old.tmdb"], d);
    assert!(old_order.status.success(), "{}", stderr(&old_order));
    assert!(
        stderr(&old_order)
            .contains("warning: the order FILE DB is deprecated; write `tracemem import old.tmdb run.ndjson`"),
        "{}",
        stderr(&old_order)
    );
    // Standard input, twice: two separate recordings of the same trace.
    for _ in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
            .args(["import", "t.tmdb", "-", "--capture", "piped"])
            .current_dir(d)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(EVENTS.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            assert!(stderr(&out).contains("exists already"), "{}", stderr(&out));
        }
    }
    for _ in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
            .args(["record", "t.tmdb"])
            .current_dir(d)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(EVENTS.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let captures: serde_json::Value =
        serde_json::from_str(&stdout(&tracemem(&["captures", "t.tmdb", "--json"], d))).unwrap();
    let names: Vec<(&str, &str)> = captures
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["family"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("piped", "piped"), ("stdin", "stdin"), ("stdin-2", "stdin-2")]);
    let stdin_export = stdout(&tracemem(&["export", "t.tmdb", "--capture", "stdin"], d));
    assert_eq!(stdin_export, EVENTS, "a separate recording is not part of the family");

    // --time: several captures record space 'bus'; --capture picks one.
    let guess = tracemem(&["read", "t.tmdb", "bus", "0x40001000", "2", "--time", "0.000002"], d);
    assert_eq!(guess.status.code(), Some(2));
    assert!(
        stderr(&guess).contains("several captures record space 'bus'; name one with --capture"),
        "{}",
        stderr(&guess)
    );
    let timed = tracemem(
        &[
            "read",
            "t.tmdb",
            "bus",
            "0x40001000",
            "2",
            "--time",
            "0.000002",
            "--capture",
            "stdin-2",
            "--json",
        ],
        d,
    );
    let timed: serde_json::Value = serde_json::from_str(&stdout(&timed)).unwrap();
    let stdin2_first = captures[2]["first_snap"].as_i64().unwrap();
    assert_eq!(
        timed["snap"], stdin2_first,
        "the first event of stdin-2 is the last at or before 2 us on its clock"
    );
    let diff = tracemem(&["diff", "t.tmdb", "bus", "0.000001", "0.000004", "--seconds"], d);
    assert!(
        stderr(&diff).contains("several captures record space 'bus'"),
        "{}",
        stderr(&diff)
    );
    let diff = tracemem(
        &[
            "diff",
            "t.tmdb",
            "bus",
            "0.000001",
            "0.000004",
            "--seconds",
            "--capture",
            "stdin",
            "--json",
        ],
        d,
    );
    let diff: serde_json::Value = serde_json::from_str(&stdout(&diff)).unwrap();
    assert_eq!(diff[0]["first"], 0x40001001, "{diff}");
    let history = tracemem(&["history", "t.tmdb", "0x40001000"], d);
    assert_eq!(history.status.code(), Some(2));
    assert!(
        stderr(&history).contains("name one with --capture"),
        "{}",
        stderr(&history)
    );
    let history = tracemem(
        &["history", "t.tmdb", "0x40001000", "--capture", "stdin-2", "--ndjson"],
        d,
    );
    assert_eq!(stdout(&history).lines().count(), 1, "{}", stderr(&history));

    // Words in a byte order, and runs never observed collapsed as xxd -a does.
    let words = stdout(&tracemem(
        &["read", "t.tmdb", "bus", "0x40001000", "8", "--word", "4"],
        d,
    ));
    assert_eq!(words, "40001000: 00000742 00000000\n");
    let big = stdout(&tracemem(
        &[
            "read",
            "t.tmdb",
            "bus",
            "0x40001000",
            "4",
            "--word",
            "4",
            "--endian",
            "big",
        ],
        d,
    ));
    assert_eq!(big, "40001000: 42070000\n");
    let wide = stdout(&tracemem(&["read", "t.tmdb", "bus", "0x40000fe0", "0x60"], d));
    let lines: Vec<&str> = wide.lines().collect();
    assert_eq!(lines.len(), 5, "{wide}");
    assert!(lines[0].starts_with("40000fe0: ...."), "{wide}");
    assert_eq!(lines[1], "*");
    assert!(lines[2].starts_with("40001000: 4207 0000 0000 0000"), "{wide}");
    assert_eq!(lines[3], "*", "one star for a run of lines");
    assert!(
        lines[4].starts_with("40001030: ...."),
        "the last line always shows: {wide}"
    );
    let no_snaps = tracemem(&["snaps", "t.tmdb", "--json"], d);
    assert_eq!((stdout(&no_snaps).as_str(), no_snaps.status.code()), ("[]\n", Some(1)));
    for verb in ["read", "find", "log", "import", "export", "captures"] {
        let help = stdout(&tracemem(&[verb, "--help"], d));
        for jargon in ["W1", "R5", "M10", "seed-format", "seed's"] {
            assert!(!help.contains(jargon), "`{verb} --help` says {jargon}");
        }
    }
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
