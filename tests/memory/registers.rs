//! Register spaces (M11), after Ghidra's register tests
//! (`AbstractDBTraceMemoryManagerRegistersTest`): sub-registers merged into
//! a 64-bit register, per-thread and per-frame spaces, bit fields in both
//! byte orders, 2,000 successive snaps of a program counter, and the typed
//! errors of bad maps and values.

use tracemem::{
    Database, Error, MemState, RegisterDef, RegisterMap, RegisterRead, RegisterScope, RegisterState, SnapMeta,
};

fn db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("regs.tmdb")).unwrap();
    (dir, db)
}

fn toy_map() -> RegisterMap {
    RegisterMap::new([
        RegisterDef::new("r0", 0, 8),
        RegisterDef::new("r0l", 0, 4).parent("r0"),
        RegisterDef::new("r0h", 4, 4).parent("r0"),
        RegisterDef::new("pc", 8, 8),
        RegisterDef::new("flags", 16, 4),
        RegisterDef::new("zf", 16, 4).parent("flags").bits(6, 6),
        RegisterDef::new("mode", 16, 4).parent("flags").bits(12, 15),
    ])
    .unwrap()
}

#[test]
fn sub_registers_merge_into_their_64_bit_register() {
    let (_dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    txn.set_register_map(&toy_map()).unwrap();
    let mut regs = txn.registers("Threads[1]").unwrap();
    assert_eq!(regs.space_name(), "regs/Threads[1]");
    regs.set_value(0, "r0", 0x0123_4567_89ab_cdef).unwrap();
    assert_eq!(regs.get_value(0, "r0").unwrap(), Some(0x0123_4567_89ab_cdef));
    regs.set_value(0, "r0h", 0x7654_3210).unwrap();
    assert_eq!(regs.get_value(0, "r0").unwrap(), Some(0x7654_3210_89ab_cdef));
    assert_eq!(regs.get_value(0, "r0h").unwrap(), Some(0x7654_3210));
    assert_eq!(regs.get_value(0, "r0l").unwrap(), Some(0x89ab_cdef));
    regs.set_value(0, "r0l", 0xfedc_ba98).unwrap();
    assert_eq!(regs.get_value(0, "r0").unwrap(), Some(0x7654_3210_fedc_ba98));
    assert_eq!(regs.get_value(0, "r0h").unwrap(), Some(0x7654_3210));
    assert_eq!(regs.get_value(0, "r0l").unwrap(), Some(0xfedc_ba98));
    // The registers are little-endian bytes of their space.
    let mut bytes = [0u8; 8];
    regs.memory().get_bytes(0, 0, &mut bytes).unwrap();
    assert_eq!(bytes, 0x7654_3210_fedc_ba98u64.to_le_bytes());
    txn.commit().unwrap();

    // A later write of one half leaves the other half stale.
    let mut txn = db.begin_write().unwrap();
    txn.registers("Threads[1]").unwrap().set_value(5, "r0h", 1).unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    let regs = read.registers("Threads[1]").unwrap();
    assert_eq!(regs.get_value(5, "r0").unwrap(), Some(0x0000_0001_fedc_ba98));
    assert_eq!(regs.get_value(4, "r0").unwrap(), Some(0x7654_3210_fedc_ba98));
    assert_eq!(regs.register_state(5, "r0h").unwrap(), RegisterState::Known);
    assert_eq!(regs.register_state(5, "r0").unwrap(), RegisterState::Stale { snap: 0 });
    assert_eq!(regs.register_state(5, "pc").unwrap(), RegisterState::Unknown);
    assert_eq!(regs.get_value(5, "pc").unwrap(), None);
}

#[test]
fn frames_share_the_thread_space_per_thread_and_get_their_own_per_frame() {
    for scope in [RegisterScope::PerThread, RegisterScope::PerFrame] {
        let (_dir, db) = db();
        let mut txn = db.begin_write().unwrap();
        txn.set_register_map(&toy_map()).unwrap();
        txn.set_register_scope(scope).unwrap();
        txn.registers("1").unwrap().set_value(0, "r0", 0x1111).unwrap();
        let frame0 = txn.registers_in_frame("1", 0).unwrap().space_name().to_string();
        assert_eq!(frame0, "regs/1", "frame 0 is always the thread's space");
        let mut frame1 = txn.registers_in_frame("1", 1).unwrap();
        let expected = match scope {
            RegisterScope::PerThread => "regs/1",
            RegisterScope::PerFrame => "regs/1/1",
        };
        assert_eq!(frame1.space_name(), expected);
        frame1.set_value(0, "r0", 0x1032_5476_98ba_dcfe).unwrap();
        assert_eq!(frame1.get_value(0, "r0").unwrap(), Some(0x1032_5476_98ba_dcfe));
        txn.commit().unwrap();

        let read = db.begin_read().unwrap();
        assert_eq!(read.register_scope().unwrap(), scope);
        let thread = read.registers("1").unwrap().get_value(0, "r0").unwrap();
        match scope {
            // One space: the frame's write is the thread's.
            RegisterScope::PerThread => assert_eq!(thread, Some(0x1032_5476_98ba_dcfe)),
            RegisterScope::PerFrame => {
                assert_eq!(thread, Some(0x1111));
                assert_eq!(read.spaces().unwrap(), vec!["regs/1", "regs/1/1"]);
            }
        }
        // Another thread has its own space, which reads refuse until written.
        assert!(matches!(read.registers("2"), Err(Error::UnknownSpace { .. })));
    }
}

#[test]
fn program_counter_over_2000_successive_snaps() {
    let (dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    txn.set_register_map(&toy_map()).unwrap();
    let mut regs = txn.registers("1").unwrap();
    for snap in 1..=2000i64 {
        regs.set_value(snap, "pc", 0x40_0000 + 4 * snap as u128).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    let db = Database::open(dir.path().join("regs.tmdb")).unwrap();
    let read = db.begin_read().unwrap();
    let regs = read.registers("1").unwrap();
    assert_eq!(regs.get_value(0, "pc").unwrap(), None);
    assert_eq!(regs.register_state(0, "pc").unwrap(), RegisterState::Unknown);
    for snap in 1..=2000i64 {
        assert_eq!(
            regs.get_value(snap, "pc").unwrap(),
            Some(0x40_0000 + 4 * snap as u128),
            "snap {snap}"
        );
        assert_eq!(
            regs.register_state(snap, "pc").unwrap(),
            RegisterState::Known,
            "snap {snap}"
        );
    }
    assert_eq!(
        regs.register_state(5000, "pc").unwrap(),
        RegisterState::Stale { snap: 2000 }
    );
    assert_eq!(
        regs.memory().most_recent_state(5000, 8).unwrap(),
        Some((2000, MemState::Known))
    );
}

/// Ghidra's `runTestRegisterBits`: four fields of a 64-bit context register.
fn context_map(big_endian: bool) -> RegisterMap {
    let def = |name: &str, lo, hi| {
        let d = RegisterDef::new(name, 0x20, 8).parent("contextreg").bits(lo, hi);
        if big_endian { d.big_endian() } else { d }
    };
    let ctx = RegisterDef::new("contextreg", 0x20, 8);
    RegisterMap::new([
        if big_endian { ctx.big_endian() } else { ctx },
        def("fctx", 60, 63),
        def("nfctx", 56, 59),
        def("phase", 54, 55),
        def("counter", 50, 53),
    ])
    .unwrap()
}

#[test]
fn bit_fields_read_modify_write_their_bytes_in_both_byte_orders() {
    for big_endian in [false, true] {
        let (_dir, db) = db();
        let mut txn = db.begin_write().unwrap();
        txn.set_register_map(&context_map(big_endian)).unwrap();
        let mut regs = txn.registers("1").unwrap();
        regs.set_value(0, "fctx", 0xa).unwrap();
        // A 4-bit write makes its whole byte KNOWN, and nothing else.
        let top = if big_endian { 0x20 } else { 0x27 };
        let states = regs
            .memory()
            .states(0, tracemem::AddressRange::new(0x20, 0x27).unwrap())
            .unwrap();
        assert_eq!(states.len(), 1);
        assert_eq!((states[0].range.min(), states[0].range.max()), (top, top));
        assert_eq!(regs.register_state(0, "fctx").unwrap(), RegisterState::Known);
        assert_eq!(regs.register_state(0, "contextreg").unwrap(), RegisterState::Unknown);
        assert_eq!(regs.get_value(0, "contextreg").unwrap(), None);

        regs.set_value(0, "contextreg", 0).unwrap();
        regs.set_value(0, "fctx", 0xa).unwrap();
        assert_eq!(regs.get_value(0, "fctx").unwrap(), Some(0xa));
        regs.set_value(0, "nfctx", 0xb).unwrap();
        assert_eq!(regs.get_value(0, "nfctx").unwrap(), Some(0xb));
        assert_eq!(regs.get_value(0, "fctx").unwrap(), Some(0xa));
        regs.set_value(0, "phase", 0x3).unwrap();
        assert_eq!(regs.get_value(0, "phase").unwrap(), Some(0x3));
        assert_eq!(regs.get_value(0, "counter").unwrap(), Some(0));
        regs.set_value(0, "counter", 0xf).unwrap();
        assert_eq!(regs.get_value(0, "counter").unwrap(), Some(0xf));
        assert_eq!(regs.get_value(0, "contextreg").unwrap(), Some(0xabfc_0000_0000_0000));
        regs.set_value(0, "fctx", 0x5).unwrap();
        assert_eq!(regs.get_value(0, "contextreg").unwrap(), Some(0x5bfc_0000_0000_0000));
        // A field written at a later snap keeps the other bits of its byte as
        // of that snap.
        regs.set_value(3, "nfctx", 0x1).unwrap();
        assert_eq!(regs.get_value(3, "fctx").unwrap(), Some(0x5));
        assert_eq!(regs.get_value(3, "contextreg").unwrap(), Some(0x51fc_0000_0000_0000));
        assert_eq!(regs.register_state(3, "fctx").unwrap(), RegisterState::Known);
        assert_eq!(
            regs.register_state(3, "contextreg").unwrap(),
            RegisterState::Stale { snap: 0 }
        );
        assert!(matches!(
            regs.set_value(3, "phase", 4),
            Err(Error::ValueTooWide { ref register, value: 4, bits: 2 }) if register == "phase"
        ));
    }
}

#[test]
fn errors_removals_and_views_of_registers() {
    let (_dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    txn.set_register_map(&toy_map()).unwrap();
    let mut regs = txn.registers("1").unwrap();
    regs.set_value(10, "pc", 0x1000).unwrap();
    regs.set_value(20, "pc", 0x2000).unwrap();
    regs.set_error(30, "pc").unwrap();
    // A failed read: the state says ERROR, the last known value survives (M5).
    assert_eq!(
        regs.register_state(35, "pc").unwrap(),
        RegisterState::Error { snap: 30 }
    );
    assert_eq!(regs.get_value(35, "pc").unwrap(), Some(0x2000));
    regs.remove_value(20, "pc").unwrap();
    assert_eq!(regs.get_value(25, "pc").unwrap(), Some(0x1000));
    assert_eq!(
        regs.register_state(25, "pc").unwrap(),
        RegisterState::Stale { snap: 10 }
    );
    // A bit field's removal takes its whole byte.
    regs.set_value(40, "zf", 1).unwrap();
    regs.remove_value(40, "zf").unwrap();
    assert_eq!(regs.register_state(40, "zf").unwrap(), RegisterState::Unknown);
    // A scratch snap forked from 10 sees pc through its view only.
    regs.set_value(-1, "r0", 7).unwrap();
    drop(regs);
    txn.set_snap_meta(
        -1,
        &SnapMeta {
            fork_of: Some(10),
            ..SnapMeta::default()
        },
    )
    .unwrap();
    let regs = txn.registers("1").unwrap();
    assert_eq!(regs.get_value(-1, "pc").unwrap(), None);
    assert_eq!(regs.view_value(-1, "pc").unwrap(), Some(0x1000));
    assert_eq!(regs.view_value(-1, "r0").unwrap(), Some(7));
    txn.commit().unwrap();
}

#[test]
fn bad_maps_and_names_are_typed_errors_naming_the_register() {
    let invalid = |defs: Vec<RegisterDef>| RegisterMap::new(defs).unwrap_err();
    match invalid(vec![
        RegisterDef::new("r0", 0, 8),
        RegisterDef::new("r0x", 6, 4).parent("r0"),
    ]) {
        Error::RegisterOutsideParent { register, parent } => {
            assert_eq!((register.as_str(), parent.as_str()), ("r0x", "r0"))
        }
        other => panic!("{other}"),
    }
    match invalid(vec![
        RegisterDef::new("a", 0, 8),
        RegisterDef::new("b", 12, 4),
        RegisterDef::new("c", 7, 2),
    ]) {
        Error::RegisterOverlap { register, other } => assert_eq!((register.as_str(), other.as_str()), ("c", "a")),
        other => panic!("{other}"),
    }
    // A long register overlapping one two places later in address order.
    match invalid(vec![
        RegisterDef::new("wide", 0, 16),
        RegisterDef::new("x", 2, 1),
        RegisterDef::new("y", 9, 1),
    ]) {
        Error::RegisterOverlap { register, .. } => assert_eq!(register, "x"),
        other => panic!("{other}"),
    }
    for (defs, name) in [
        (vec![RegisterDef::new("big", 0, 17)], "big"),
        (vec![RegisterDef::new("none", 0, 0)], "none"),
        (vec![RegisterDef::new("end", u64::MAX - 2, 4)], "end"),
        (vec![RegisterDef::new("f", 0, 2).bits(3, 16)], "f"),
        (vec![RegisterDef::new("g", 0, 2).bits(5, 4)], "g"),
        (vec![RegisterDef::new("orphan", 0, 2).parent("nobody")], "orphan"),
        (vec![RegisterDef::new("d", 0, 2), RegisterDef::new("d", 4, 2)], "d"),
        (vec![RegisterDef::new("", 0, 2)], ""),
        (
            vec![
                RegisterDef::new("p", 0, 4).parent("q"),
                RegisterDef::new("q", 0, 4).parent("p"),
            ],
            "p",
        ),
    ] {
        match invalid(defs) {
            Error::InvalidRegister { register, .. } => assert_eq!(register, name),
            other => panic!("{name}: {other}"),
        }
    }
    // Siblings may share bytes (eax and ax inside rax); so may nested parts.
    RegisterMap::new([
        RegisterDef::new("rax", 0, 8),
        RegisterDef::new("eax", 0, 4).parent("rax"),
        RegisterDef::new("ax", 0, 2).parent("eax"),
        RegisterDef::new("lo16", 0, 2).parent("rax"),
    ])
    .unwrap();

    let (_dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    txn.set_register_map(&toy_map()).unwrap();
    let mut regs = txn.registers("1").unwrap();
    assert!(matches!(regs.set_value(0, "r9", 1), Err(Error::UnknownRegister { ref register }) if register == "r9"));
    assert!(matches!(regs.get_value(0, "r9"), Err(Error::UnknownRegister { .. })));
    assert!(matches!(
        regs.set_value(0, "r0l", 1 << 32),
        Err(Error::ValueTooWide { ref register, bits: 32, .. }) if register == "r0l"
    ));
    assert!(matches!(
        regs.set_value(0, "zf", 2),
        Err(Error::ValueTooWide { bits: 1, .. })
    ));
    drop(regs);
    assert!(matches!(txn.registers("a/b"), Err(Error::InvalidSpaceName { .. })));
}

#[test]
fn the_map_and_the_scope_persist() {
    let (dir, db) = db();
    let read = db.begin_read().unwrap();
    assert!(read.register_map().unwrap().is_empty());
    assert_eq!(read.register_scope().unwrap(), RegisterScope::PerThread);
    drop(read);
    let mut txn = db.begin_write().unwrap();
    txn.set_register_map(&context_map(true)).unwrap();
    txn.set_register_map(&toy_map()).unwrap();
    txn.set_register_scope(RegisterScope::PerFrame).unwrap();
    txn.commit().unwrap();
    drop(db);
    let db = Database::open(dir.path().join("regs.tmdb")).unwrap();
    let read = db.begin_read().unwrap();
    // The second map replaced the first whole.
    assert_eq!(read.register_map().unwrap(), toy_map());
    assert_eq!(read.register_scope().unwrap(), RegisterScope::PerFrame);
    let pc = toy_map().get("pc").unwrap().clone();
    assert_eq!((pc.offset, pc.size, pc.big_endian), (8, 8, false));
    assert!(db.check().unwrap().problems.is_empty());
}
