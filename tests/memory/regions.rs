//! Memory regions (M12), after Ghidra's region tests
//! (`AbstractDBTraceMemoryManagerRegionsTest`): a region alive from snap 0 is
//! invisible at snap -1, containment and intersection have inclusive bounds,
//! and changes from a snap on split a region's lifespan there.

use tracemem::{AddressRange, Database, Error, Lifespan, RangeSet, Region, RegionFlags, RegionRead, Snap};

fn db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("regions.tmdb")).unwrap();
    (dir, db)
}

fn r(min: u64, max: u64) -> AddressRange {
    AddressRange::new(min, max).unwrap()
}

fn span(min: Snap, max: Snap) -> Lifespan {
    Lifespan::new(min, max).unwrap()
}

const RX: RegionFlags = RegionFlags::READ.union(RegionFlags::EXECUTE);

/// A database with Ghidra's test region: `Regions[0x1000]`, alive from snap
/// 0 on, over `[0x1000, 0x1fff]`, read and execute.
fn with_text_region() -> (tempfile::TempDir, Database, Region) {
    let (dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    let region = txn
        .regions("ram")
        .unwrap()
        .add("Regions[0x1000]", span(0, Snap::MAX), 0x1000, 0x1fff, RX)
        .unwrap();
    txn.commit().unwrap();
    (dir, db, region)
}

#[test]
fn all_and_live_by_name() {
    let (_dir, db) = db();
    let mut txn = db.begin_write().unwrap();
    assert!(txn.regions("ram").unwrap().all().unwrap().is_empty());
    assert!(txn.regions("ram").unwrap().get("Regions[0x1000]", 0).unwrap().is_none());
    txn.commit().unwrap();
    let (_dir, db, region) = with_text_region();
    let read = db.begin_read().unwrap();
    let regions = read.regions("ram").unwrap();
    assert_eq!(regions.all().unwrap(), vec![region.clone()]);
    assert_eq!(regions.get("Regions[0x1000]", 0).unwrap(), Some(region.clone()));
    assert_eq!(regions.get("Regions[0x1000]", Snap::MAX).unwrap(), Some(region));
    assert_eq!(regions.get("Regions[0x1001]", 0).unwrap(), None);
    assert_eq!(regions.get("Regions[0x1000]", -1).unwrap(), None);
    assert!(matches!(read.regions("nowhere"), Err(Error::UnknownSpace { .. })));
}

#[test]
fn containing_has_inclusive_bounds_and_nothing_before_snap_0() {
    let (_dir, db, region) = with_text_region();
    let read = db.begin_read().unwrap();
    let regions = read.regions("ram").unwrap();
    assert_eq!(regions.containing(0, 0x1000).unwrap(), Some(region.clone()));
    assert_eq!(regions.containing(0, 0x1fff).unwrap(), Some(region));
    assert_eq!(regions.containing(-1, 0x1000).unwrap(), None);
    assert_eq!(regions.containing(0, 0x0fff).unwrap(), None);
    assert_eq!(regions.containing(0, 0x2000).unwrap(), None);
}

#[test]
fn intersecting_has_inclusive_bounds() {
    let (_dir, db, region) = with_text_region();
    let read = db.begin_read().unwrap();
    let regions = read.regions("ram").unwrap();
    assert_eq!(
        regions.intersecting(span(0, 10), r(0x1800, 0x27ff)).unwrap(),
        vec![region.clone()]
    );
    assert!(
        regions
            .intersecting(span(-10, -1), r(0x1800, 0x27ff))
            .unwrap()
            .is_empty()
    );
    assert!(regions.intersecting(span(0, 10), r(0x2000, 0x27ff)).unwrap().is_empty());
    // Touching at one address or one snap is intersecting.
    assert_eq!(
        regions.intersecting(span(-10, 0), r(0x0, 0x1000)).unwrap(),
        vec![region.clone()]
    );
    assert_eq!(
        regions
            .intersecting(span(Snap::MAX, Snap::MAX), r(0x1fff, 0x1fff))
            .unwrap(),
        vec![region]
    );
    assert!(regions.intersecting(span(-10, 0), r(0x0, 0xfff)).unwrap().is_empty());
}

#[test]
fn at_snap_and_address_sets_with_flags() {
    let (_dir, db, region) = with_text_region();
    let mut txn = db.begin_write().unwrap();
    let mut regions = txn.regions("ram").unwrap();
    let data = regions
        .add(
            "data",
            span(5, 9),
            0x3000,
            0x3fff,
            RegionFlags::READ | RegionFlags::WRITE,
        )
        .unwrap();
    regions
        .add(
            "mmio",
            span(0, 100),
            0x2000,
            0x2fff,
            RegionFlags::READ | RegionFlags::VOLATILE,
        )
        .unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    let regions = read.regions("ram").unwrap();
    assert!(regions.at(-1).unwrap().is_empty());
    assert_eq!(
        regions
            .at(5)
            .unwrap()
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Regions[0x1000]", "mmio", "data"]
    );
    assert_eq!(regions.at(10).unwrap().len(), 2);
    assert_eq!(regions.address_set(-1, RegionFlags::NONE).unwrap(), RangeSet::new());
    let all: RangeSet = [r(0x1000, 0x3fff)].into_iter().collect();
    assert_eq!(regions.address_set(5, RegionFlags::NONE).unwrap(), all);
    let writable: RangeSet = [data.range].into_iter().collect();
    assert_eq!(regions.address_set(5, RegionFlags::WRITE).unwrap(), writable);
    assert_eq!(regions.address_set(10, RegionFlags::WRITE).unwrap(), RangeSet::new());
    let executable: RangeSet = [region.range].into_iter().collect();
    assert_eq!(regions.address_set(500, RX).unwrap(), executable);
    assert_eq!(
        regions
            .address_set(5, RegionFlags::READ | RegionFlags::VOLATILE)
            .unwrap(),
        [r(0x2000, 0x2fff)].into_iter().collect::<RangeSet>()
    );
}

#[test]
fn changes_from_a_snap_on_split_the_lifespan() {
    let (dir, db, _) = with_text_region();
    let name = "Regions[0x1000]";
    let mut txn = db.begin_write().unwrap();
    let mut regions = txn.regions("ram").unwrap();
    regions
        .set_flags(name, 50, RegionFlags::READ | RegionFlags::WRITE)
        .unwrap();
    let all = regions.all().unwrap();
    assert_eq!(
        all.iter().map(|r| (r.lifespan, r.flags)).collect::<Vec<_>>(),
        vec![
            (span(0, 49), RX),
            (span(50, Snap::MAX), RegionFlags::READ | RegionFlags::WRITE)
        ]
    );
    // Changing from a record's first snap changes it in place.
    regions.set_flags(name, 50, RegionFlags::READ).unwrap();
    assert_eq!(regions.all().unwrap().len(), 2);
    assert_eq!(regions.get(name, 50).unwrap().unwrap().flags, RegionFlags::READ);
    // The region grows at snap 80, and is unmapped from snap 90 on.
    regions.set_range(name, 80, 0x1000, 0x5fff).unwrap();
    regions.delete_from(name, 90).unwrap();
    assert_eq!(regions.containing(79, 0x5000).unwrap(), None);
    assert_eq!(regions.containing(80, 0x5000).unwrap().unwrap().lifespan, span(80, 89));
    assert_eq!(regions.get(name, 90).unwrap(), None);
    assert_eq!(regions.all().unwrap().len(), 3);
    // It comes back at 200 under the same name: a separate record.
    regions.add(name, span(200, 300), 0x8000, 0x8fff, RX).unwrap();
    regions.set_lifespan(name, 250, span(150, 400)).unwrap();
    assert_eq!(regions.get(name, 150).unwrap().unwrap().range, r(0x8000, 0x8fff));
    regions.delete(name, 10).unwrap();
    assert_eq!(regions.get(name, 10).unwrap(), None);
    assert!(regions.get(name, 50).unwrap().is_some());
    txn.commit().unwrap();
    drop(db);
    let db = Database::open(dir.path().join("regions.tmdb")).unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(
        read.regions("ram")
            .unwrap()
            .all()
            .unwrap()
            .iter()
            .map(|r| r.lifespan)
            .collect::<Vec<_>>(),
        vec![span(50, 79), span(80, 89), span(150, 400)]
    );
    assert!(db.check().unwrap().problems.is_empty());
}

#[test]
fn bad_regions_are_typed_errors_naming_the_region() {
    let (_dir, db, _) = with_text_region();
    let mut txn = db.begin_write().unwrap();
    let mut regions = txn.regions("ram").unwrap();
    match regions.add("rev", span(0, 1), 0x2000, 0x1fff, RX).unwrap_err() {
        Error::InvalidRegion { region, reason } => {
            assert_eq!(region, "rev");
            assert!(reason.contains("reversed"), "{reason}");
        }
        other => panic!("{other}"),
    }
    match regions
        .add("Regions[0x1000]", span(-5, 3), 0x9000, 0x9fff, RX)
        .unwrap_err()
    {
        Error::RegionExists { region, space, snap } => {
            assert_eq!((region.as_str(), space.as_str(), snap), ("Regions[0x1000]", "ram", 0))
        }
        other => panic!("{other}"),
    }
    match regions.add("stack", span(7, 7), 0x1fff, 0x2fff, RX).unwrap_err() {
        Error::RegionOverlap { region, other, .. } => {
            assert_eq!((region.as_str(), other.as_str()), ("stack", "Regions[0x1000]"))
        }
        other => panic!("{other}"),
    }
    match regions.set_range("Regions[0x1000]", 3, 5, 4).unwrap_err() {
        Error::InvalidRegion { region, .. } => assert_eq!(region, "Regions[0x1000]"),
        other => panic!("{other}"),
    }
    match regions.set_flags("Regions[0x1000]", -1, RX).unwrap_err() {
        Error::UnknownRegion { region, snap, .. } => assert_eq!((region.as_str(), snap), ("Regions[0x1000]", -1)),
        other => panic!("{other}"),
    }
    assert!(matches!(
        regions.add("", span(0, 1), 0, 1, RX),
        Err(Error::InvalidRegion { .. })
    ));
    // The same name, alive before the region: allowed, and so is the same
    // range at other snaps.
    regions
        .add("Regions[0x1000]", span(-5, -1), 0x1000, 0x1fff, RX)
        .unwrap();
    // Growing into another region from a snap on is an overlap too.
    regions.add("next", span(0, 10), 0x2000, 0x2fff, RX).unwrap();
    assert!(matches!(
        regions.set_range("Regions[0x1000]", 5, 0x1000, 0x2000),
        Err(Error::RegionOverlap { .. })
    ));
    assert!(matches!(
        regions.set_lifespan("Regions[0x1000]", -1, span(-5, 0)),
        Err(Error::RegionExists { snap: 0, .. })
    ));
    regions.add("low", span(-10, -6), 0x1800, 0x1fff, RX).unwrap();
    assert!(matches!(
        regions.set_lifespan("low", -6, span(-10, -5)),
        Err(Error::RegionOverlap { ref other, .. }) if other == "Regions[0x1000]"
    ));
    // Refused changes changed nothing.
    assert_eq!(regions.all().unwrap().len(), 4);
    assert!(Lifespan::new(3, 2).is_err());
    txn.commit().unwrap();
}

#[test]
fn damaged_region_and_register_records_are_errors_not_panics() {
    let (dir, db, _) = with_text_region();
    drop(db);
    let path = dir.path().join("regions.tmdb");
    {
        let raw = redb::Database::open(&path).unwrap();
        let txn = raw.begin_write().unwrap();
        {
            let regions: redb::TableDefinition<(u32, &str, i64), &[u8]> = redb::TableDefinition::new("regions");
            let mut table = txn.open_table(regions).unwrap();
            table.insert((0u32, "bad", 3i64), [9u8, 1, 2].as_slice()).unwrap();
            let map: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("register_map");
            txn.open_table(map).unwrap().insert("r1", [1u8].as_slice()).unwrap();
            let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            txn.open_table(meta)
                .unwrap()
                .insert("register_scope", [7u8].as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    assert!(matches!(read.regions("ram").unwrap().all(), Err(Error::Corrupt { .. })));
    assert!(matches!(read.register_map(), Err(Error::Corrupt { .. })));
    assert!(matches!(read.register_scope(), Err(Error::Corrupt { .. })));
    let report = db.check().unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report.problems[0].contains("register 'r1'"), "{:?}", report.problems);
    assert!(report.problems[1].contains("region 'bad'"), "{:?}", report.problems);
}
