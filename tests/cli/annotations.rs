//! What annotates a database after its recording. A bus's register map:
//! set through the library and `tracemem regmap set`, kept by `pack` and
//! `check`, the names `log`, `history` and the waveform exports give
//! addresses without `--regmap`; bad maps refused naming the register.
//! Marks on a finished capture (`tracemem mark`), snap metadata
//! (`tracemem snaps set`, a fork cycle refused) and regions (`tracemem
//! regions add` and `remove`). Every write verb refuses
//! while a recorder records, and nothing stored is lost.

use tracemem::{BusField, BusMap, BusRegister, CaptureSpec, Database};

use super::*;

/// A database with a capture `bus` of four events at 0x40000000 and 0x40000004.
fn recorded(dir: &Path) {
    let db = Database::create(dir.join("t.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_capture(&CaptureSpec::new("bus")).unwrap();
    let events: Vec<_> = (0..4u64)
        .map(|i| tracemem::TraceEvent {
            op: if i % 2 == 0 {
                tracemem::Op::Write
            } else {
                tracemem::Op::Read
            },
            address: 0x4000_0000 + 4 * (i % 2),
            value: i,
            width: Some(4),
            timestamp: i as f64 * 1e-6,
            error: None,
        })
        .collect();
    txn.append_events("bus", &events).unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_stored_map_round_trips_and_survives_pack() {
    let dir = tempfile::tempdir().unwrap();
    recorded(dir.path());
    let path = dir.path().join("t.tmdb");
    let mut ctrl = BusRegister::new("uart.ctrl", 0x4000_0000, 4);
    ctrl.fields = vec![
        BusField {
            name: "baud".into(),
            lsb: 4,
            msb: 7,
        },
        BusField {
            name: "en".into(),
            lsb: 0,
            msb: 0,
        },
    ];
    let mut status = BusRegister::new("uart.status", 0x4000_0004, 2);
    status.big_endian = true;
    let map = BusMap::new([ctrl, status]).unwrap();
    {
        let db = Database::open(&path).unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.set_bus_map("bus", &map).unwrap();
        assert_eq!(txn.bus_map("bus").unwrap(), map, "seen within its transaction");
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        assert_eq!(read.bus_map("bus").unwrap(), map);
        assert_eq!(
            read.bus_map("bus").unwrap().named("uart.ctrl").unwrap().fields[0].name,
            "en",
            "fields lowest first"
        );
        assert!(read.bus_map("other").unwrap().is_empty());
        assert!(db.check().unwrap().problems.is_empty());
    }
    tracemem::pack(&path, &mut |_| {}).unwrap();
    let db = Database::open(&path).unwrap();
    assert_eq!(db.begin_read().unwrap().bus_map("bus").unwrap(), map, "pack keeps it");
    // Setting again replaces it whole.
    let mut txn = db.begin_write().unwrap();
    let smaller = BusMap::new([BusRegister::new("gpio.out", 0x10, 1)]).unwrap();
    txn.set_bus_map("bus", &smaller).unwrap();
    txn.commit().unwrap();
    assert_eq!(db.begin_read().unwrap().bus_map("bus").unwrap(), smaller);
}

#[test]
fn queries_and_waveforms_name_registers_from_the_stored_map() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recorded(d);
    std::fs::write(
        d.join("map.json"),
        r#"{"uart.ctrl": {"address": "0x40000000", "width": 4, "fields": {"en": {"lsb": 0, "msb": 0}}},
            "uart.status": {"address": 1073741828, "byte_order": "big"}}"#,
    )
    .unwrap();
    let out = tracemem(&["log", "t.tmdb"], d);
    assert!(!text(&out.stdout).contains("uart.ctrl"), "no map yet");
    let out = tracemem(&["regmap", "set", "t.tmdb", "map.json"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "t.tmdb: 2 registers stored for space 'bus'\n");
    let out = tracemem(&["regmap", "show", "t.tmdb"], d);
    assert!(
        text(&out.stdout).contains("0x40000000\tuart.ctrl\t4 bytes little-endian\ten[0]"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("uart.status\t4 bytes big-endian"));
    let log = text(&tracemem(&["log", "t.tmdb"], d).stdout);
    assert!(
        log.contains("wr uart.ctrl @0x40000000") && log.contains("rd uart.status @0x40000004"),
        "{log}"
    );
    // history takes a stored register's name for its address.
    let out = tracemem(&["history", "t.tmdb", "uart.status"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2, "{}", text(&out.stdout));
    let out = tracemem(&["export", "t.tmdb", "-o", "t.vcd", "-q"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let vcd = std::fs::read_to_string(d.join("t.vcd")).unwrap();
    assert!(vcd.contains("uart.ctrl") || vcd.contains("uart_ctrl"), "{vcd}");
    // --regmap still wins over the stored map.
    std::fs::write(d.join("other.json"), r#"{"ctl": {"address": "0x40000000"}}"#).unwrap();
    let log = text(&tracemem(&["log", "t.tmdb", "--regmap", "other.json"], d).stdout);
    assert!(log.contains("wr ctl @0x40000000") && !log.contains("uart"), "{log}");
}

#[test]
fn bad_maps_are_refused_naming_the_register_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recorded(d);
    std::fs::write(d.join("good.json"), r#"{"uart.ctrl": {"address": "0x40000000"}}"#).unwrap();
    assert!(tracemem(&["regmap", "set", "t.tmdb", "good.json"], d).status.success());
    let cases = [
        (
            r#"{"a": {"address": 0, "fields": {"x": {"lsb": 3, "msb": 9}, "y": {"lsb": 8, "msb": 12}}}}"#,
            "register 'a': field 'y' overlaps field 'x'",
        ),
        (
            r#"{"a": {"address": 0, "width": 1, "fields": {"x": {"lsb": 3, "msb": 9}}}}"#,
            "register 'a': field 'x' (bits 9:3) is not inside its 8 bits",
        ),
        (
            r#"{"a": {"address": 0}, "b": {"address": 2}}"#,
            "register 'b' overlaps register 'a'",
        ),
        (
            r#"{"a": {"address": 0, "width": 9}}"#,
            "register 'a': width 9 is not 1 to 8 bytes",
        ),
        (r#"{"a": {"width": 4}}"#, "register 'a': no address"),
        (
            r#"{"a": {"address": 0, "byte_order": "middle"}}"#,
            "register 'a': byte_order 'middle'",
        ),
        (r#"[1, 2]"#, "not a JSON object"),
    ];
    for (json, message) in cases {
        std::fs::write(d.join("bad.json"), json).unwrap();
        let out = tracemem(&["regmap", "set", "t.tmdb", "bad.json"], d);
        assert_eq!(out.status.code(), Some(2), "{json}");
        let err = text(&out.stderr);
        assert!(err.contains("bad.json") && err.contains(message), "{json}: {err}");
    }
    let out = tracemem(&["regmap", "show", "t.tmdb"], d);
    assert!(text(&out.stdout).contains("uart.ctrl"), "the stored map is kept");
    assert_eq!(
        tracemem(&["regmap", "show", "t.tmdb", "--space", "ram"], d)
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn nothing_is_written_while_a_recorder_records() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("good.json"), r#"{"uart.ctrl": {"address": "0x40000000"}}"#).unwrap();
    std::fs::write(d.join("w.ndjson"), "").unwrap();
    std::fs::write(d.join("image.bin"), [1u8, 2, 3, 4]).unwrap();
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["record", "live.tmdb", "--capture", "bus"])
        .current_dir(d)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !tracemem::record::recorder_running(&d.join("live.tmdb")).unwrap() {
        assert!(started.elapsed().as_secs() < 10, "the recorder did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let writes: [&[&str]; 8] = [
        &["regmap", "set", "live.tmdb", "good.json"],
        &["import", "live.tmdb", "w.ndjson", "--capture", "other"],
        &["load", "live.tmdb", "ram", "0x1000", "image.bin", "--snap", "0"],
        &["track", "live.tmdb"],
        &["mark", "live.tmdb", "--snap", "0", "x"],
        &["snaps", "set", "live.tmdb", "0", "--description", "x"],
        &["regions", "add", "live.tmdb", "ram", "r", "0:1"],
        &["regions", "remove", "live.tmdb", "ram", "r", "--snap", "0"],
    ];
    for args in writes {
        let out = tracemem(args, d);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("live.tmdb: a recorder is recording into it"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    drop(recorder.stdin.take());
    assert!(recorder.wait().unwrap().success());
    let out = tracemem(&["regmap", "set", "live.tmdb", "good.json"], d);
    assert!(out.status.success(), "once it has closed: {}", text(&out.stderr));
}

#[test]
fn marks_and_snap_metadata_are_set_after_recording() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recorded(d);
    let out = tracemem(&["mark", "t.tmdb", "--snap", "2", "reset asserted"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "snap 2 of capture 'bus' marked\n");
    let out = tracemem(&["mark", "t.tmdb", "--snap", "2", "again"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tracemem(&["mark", "t.tmdb", "--snap", "9", "late"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("9 is outside capture 'bus', whose marks go at snaps 0:4"),
        "{}",
        text(&out.stderr)
    );
    let out = tracemem(&["mark", "t.tmdb", "--snap", "1", "x", "--capture", "nope"], d);
    assert_eq!(out.status.code(), Some(2));
    let db = Database::builder().open_read_only(d.join("t.tmdb")).unwrap();
    let read = db.begin_read().unwrap();
    let capture = read.capture("bus").unwrap();
    assert_eq!(
        read.marks(&capture).unwrap(),
        vec![(2, "reset asserted; again".to_string())]
    );
    drop(read);
    drop(db);

    let out = tracemem(
        &[
            "snaps",
            "set",
            "t.tmdb",
            "10",
            "--description",
            "what if",
            "--fork-of",
            "3",
        ],
        d,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tracemem(&["snaps", "set", "t.tmdb", "3", "--fork-of", "10"], d);
    assert_eq!(out.status.code(), Some(2), "a fork cycle");
    assert!(
        text(&out.stderr).contains("would fork from itself"),
        "{}",
        text(&out.stderr)
    );
    let out = tracemem(&["snaps", "set", "t.tmdb", "10", "--fork-of", "10"], d);
    assert_eq!(out.status.code(), Some(2), "a snap forking from itself");
    let out = tracemem(&["snaps", "set", "t.tmdb", "10"], d);
    assert_eq!(out.status.code(), Some(2), "nothing to set");
    // The description is kept when only the fork changes.
    let out = tracemem(&["snaps", "set", "t.tmdb", "10", "--fork-of", "1"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&tracemem(&["snaps", "t.tmdb"], d).stdout);
    assert!(listing.contains("10\twhat if\t(fork of 1)"), "{listing}");
    assert!(listing.contains("2\treset asserted; again"), "{listing}");
}

#[test]
fn regions_are_added_and_removed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    recorded(d);
    let out = tracemem(
        &[
            "regions",
            "add",
            "t.tmdb",
            "ram",
            ".heap",
            "0x8000:0xffff",
            "--snaps",
            "0:999",
            "--flags",
            "rw",
        ],
        d,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "region '.heap' of space 'ram' added: 0x8000:0xffff, snaps 0:999, rw--\n"
    );
    let listing = text(&tracemem(&["regions", "t.tmdb", "--space", "ram"], d).stdout);
    assert!(listing.contains(".heap"), "{listing}");
    let refusals: [(&[&str], &str); 4] = [
        (
            &[
                "regions",
                "add",
                "t.tmdb",
                "ram",
                ".other",
                "0x9000:0x9fff",
                "--snaps",
                "500:600",
            ],
            "overlap",
        ),
        (&["regions", "add", "t.tmdb", "ram", ".bad", "0x20:0x10"], "0x20:0x10"),
        (
            &["regions", "add", "t.tmdb", "ram", ".flags", "0:1", "--flags", "rz"],
            "'z'",
        ),
        (&["regions", "remove", "t.tmdb", "ram", ".nope", "--snap", "5"], ".nope"),
    ];
    for (args, message) in refusals {
        let out = tracemem(args, d);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(message), "{args:?}: {}", text(&out.stderr));
    }
    // Ended before snap 500, then removed whole.
    let out = tracemem(
        &["regions", "remove", "t.tmdb", "ram", ".heap", "--snap", "500", "--from"],
        d,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = Database::builder().open_read_only(d.join("t.tmdb")).unwrap();
    {
        use tracemem::RegionRead;
        let read = db.begin_read().unwrap();
        let regions = read.regions("ram").unwrap();
        assert_eq!(regions.get(".heap", 499).unwrap().unwrap().lifespan.max(), 499);
        assert!(regions.get(".heap", 500).unwrap().is_none());
    }
    drop(db);
    let out = tracemem(&["regions", "remove", "t.tmdb", "ram", ".heap", "--snap", "10"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        tracemem(&["regions", "t.tmdb", "--space", "ram"], d).status.code(),
        Some(1)
    );
}
