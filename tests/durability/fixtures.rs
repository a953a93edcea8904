//! The content of the checked-in files of older formats (`tests/data/`),
//! written through the library's API alone, so that the build of each
//! format writes them and this one compares against the same content
//! written by itself. `write_format_fixtures` (ignored) writes them into
//! `$TRACEMEM_FIXTURE_DIR` with whichever build runs it.

use std::path::Path;

use tracemem::record::{MockMaster, RecorderOptions, RecordingMaster};
use tracemem::workloads::{Lcg, W1};
use tracemem::{
    AddressRange, CaptureSpec, Database, Lifespan, MemState, RegionFlags, RegisterDef, RegisterMap, SnapMeta,
};

/// What the fixtures hold: W1's first 1,500 events recorded as capture
/// `w1`, then 1,000 writes and failed reads of a space `ram` at snaps from
/// -100 (scratch) to 299, in one transaction. With `extras` (format 2 on):
/// a mark at event 700, a register map, regions of `ram` and snap metadata
/// with a fork.
pub fn write_fixture(path: &Path, extras: bool) {
    let mut bus = RecordingMaster::create(
        MockMaster::new(),
        path,
        &CaptureSpec::new("w1"),
        RecorderOptions::default(),
    )
    .unwrap();
    for (i, event) in W1::new(1).take(1500).enumerate() {
        if extras && i == 700 {
            bus.mark("half way").unwrap();
        }
        bus.record_event(event).unwrap();
    }
    bus.close().unwrap();
    let db = Database::open(path).unwrap();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    let mut rng = Lcg::new(7);
    for i in 0..1000u64 {
        let snap = rng.below(400) as i64 - 100;
        let addr = rng.below(4096);
        let len = 1 + rng.below(40);
        if i % 13 == 0 {
            ram.set_state(snap, AddressRange::new(addr, addr + len - 1).unwrap(), MemState::Error)
                .unwrap();
        } else {
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            ram.put_bytes(snap, addr, &bytes).unwrap();
        }
    }
    if extras {
        let map = RegisterMap::new([
            RegisterDef::new("pc", 0, 8),
            RegisterDef::new("flags", 8, 4).big_endian(),
            RegisterDef::new("zf", 8, 4).parent("flags").bits(6, 6),
        ])
        .unwrap();
        txn.set_register_map(&map).unwrap();
        let mut regions = txn.regions("ram").unwrap();
        let rw = RegionFlags::READ.union(RegionFlags::WRITE);
        regions
            .add("stack", Lifespan::new(0, 199).unwrap(), 0x800, 0xfff, rw)
            .unwrap();
        regions
            .add("heap", Lifespan::new(-50, 299).unwrap(), 0, 0x7ff, RegionFlags::READ)
            .unwrap();
        let meta = |description: &str, fork_of| SnapMeta {
            description: description.to_string(),
            timestamp_ns: Some(1_700_000_000_000_000_000),
            fork_of,
        };
        txn.set_snap_meta(2000, &meta("after the capture", None)).unwrap();
        txn.set_snap_meta(2010, &meta("what if", Some(120))).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
#[ignore = "writes the fixtures of the format of the build that runs it"]
fn write_format_fixtures() {
    let dir = std::path::PathBuf::from(std::env::var("TRACEMEM_FIXTURE_DIR").expect("TRACEMEM_FIXTURE_DIR"));
    let version = tracemem::FORMAT_VERSION;
    let plain = dir.join(format!("format{version}.tmdb"));
    let packed = dir.join(format!("format{version}.packed.tmdb"));
    for path in [&plain, &packed] {
        let _ = std::fs::remove_file(path);
    }
    write_fixture(&plain, true);
    std::fs::copy(&plain, &packed).unwrap();
    tracemem::pack(&packed, &mut |_| {}).unwrap();
}
