//! The memory verbs: `read`, `states`, `regs`, `regions`, forks through
//! views, `find`, `diff` and `pack`.

use super::*;

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
