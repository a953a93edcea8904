//! The Parquet dataset read back with the parquet crate's own reader: every
//! event row equals the database's event, every memory row its
//! observation, every mark row its mark; partitions per source and session,
//! percent-encoded; an existing source is refused unless forced, and then
//! only it is replaced.

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Row, RowAccessor};
use tracemem::export::parquet::{ParquetOptions, partition_value, write_dataset};
use tracemem::record::{Master, MockMaster, RecorderOptions, RecordingMaster, SoakTrace};
use tracemem::{CaptureSpec, Database, Op, TraceEvent};

fn rows(path: &Path) -> Vec<Row> {
    let reader = SerializedFileReader::try_from(std::fs::File::open(path).unwrap()).unwrap();
    let metadata = reader.metadata().file_metadata();
    let version = metadata
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "tracemem.dataset_version"))
        .and_then(|k| k.value.clone());
    assert_eq!(version.as_deref(), Some("2"), "{}", path.display());
    reader.get_row_iter(None).unwrap().map(Result::unwrap).collect()
}

/// A database with an imported W1 session pair (NAME, NAME#2) and a
/// recording with failed transactions and marks, big-endian.
fn database(dir: &Path) -> Database {
    let path = dir.join("soak-0412.tmdb");
    let mut mock = MockMaster::new();
    mock.fail_at(0x40);
    let mut spec = CaptureSpec::new("live");
    spec.big_endian = true;
    let mut bus = RecordingMaster::create(mock, &path, &spec, RecorderOptions::default()).unwrap();
    bus.mark("start").unwrap();
    bus.write(0x10, 0x0102_0304, 4).unwrap();
    bus.read(0x40, 4).unwrap_err();
    bus.write(0x40, 9, 2).unwrap_err();
    bus.mark("end").unwrap();
    bus.read(0x10, 2).unwrap();
    bus.close().unwrap();
    let db = Database::open(&path).unwrap();
    let mut txn = db.begin_write().unwrap();
    let w1: Vec<TraceEvent> = SoakTrace::new(3).take(5_000).collect();
    for (name, events) in [("small", &w1[..3_000]), ("small#2", &w1[3_000..])] {
        txn.create_capture(&CaptureSpec::new(name)).unwrap();
        txn.append_events(name, events).unwrap();
    }
    // The bus's register map names two of its registers.
    let map = tracemem::BusMap::new([
        tracemem::BusRegister::new("ctrl", 0x10, 4),
        tracemem::BusRegister::new("uart.status", 0x4000_0000, 4),
    ])
    .unwrap();
    txn.set_bus_map(tracemem::DEFAULT_CAPTURE_SPACE, &map).unwrap();
    // A space no capture records: an image, a scratch snap, a failed read.
    let mut ram = txn.create_space("ram").unwrap();
    ram.put_bytes(100, 0x2000, b"snap-100").unwrap();
    ram.put_bytes(-1, 0x2002, b"SCR").unwrap();
    ram.set_state(
        120,
        tracemem::AddressRange::new(0x3000, 0x3003).unwrap(),
        tracemem::MemState::Error,
    )
    .unwrap();
    txn.commit().unwrap();
    db
}

#[test]
fn every_row_is_the_databases_answer() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let read = db.begin_read().unwrap();
    let captures = read.captures().unwrap();
    let out = dir.path().join("dataset");
    let options = ParquetOptions {
        source: "soak-0412.tmdb".into(),
        force: false,
        other_spaces: true,
    };
    let report = write_dataset(&read, &captures, &out, &options, &mut |_| {}).unwrap();
    assert_eq!(report.events, 5_004);
    assert_eq!(report.marks, 2);
    let source = out.join("events").join("source=soak-0412.tmdb");
    assert!(
        source.join("capture=small%232").is_dir(),
        "one partition a session, percent-encoded"
    );
    let mut observations = 0;
    for capture in &captures {
        let part = |kind: &str| {
            out.join(kind)
                .join("source=soak-0412.tmdb")
                .join(format!("capture={}", partition_value(&capture.name)))
                .join("part-00000.parquet")
        };
        let events = read.events(&capture.name, 0..u64::MAX).unwrap();
        let got = rows(&part("events"));
        assert_eq!(got.len(), events.len(), "{}", capture.name);
        for (seq, (row, event)) in got.iter().zip(&events).enumerate() {
            assert_eq!(row.get_long(0).unwrap(), seq as i64);
            assert_eq!(
                row.get_long(1).unwrap(),
                read.event_snap(capture, seq as u64).unwrap().unwrap()
            );
            assert_eq!(row.get_double(2).unwrap().to_bits(), event.timestamp.to_bits());
            assert_eq!(row.get_string(3).unwrap(), event.op.as_str());
            assert_eq!(row.get_ulong(4).unwrap(), event.address);
            let failed_read = event.error.is_some() && event.op == Op::Read;
            assert_eq!(row.is_null(5).unwrap(), failed_read);
            if !failed_read {
                assert_eq!(row.get_ulong(5).unwrap(), event.value);
            }
            assert_eq!(row.is_null(6).unwrap(), event.width.is_none());
            if let Some(width) = event.width {
                assert_eq!(row.get_ubyte(6).unwrap(), width);
            }
            match &event.error {
                Some(text) => assert_eq!(row.get_string(7).unwrap(), text),
                None => assert!(row.is_null(7).unwrap()),
            }
            match event.address {
                0x10 => assert_eq!(row.get_string(8).unwrap(), "ctrl"),
                0x4000_0000 => assert_eq!(row.get_string(8).unwrap(), "uart.status"),
                _ => assert!(row.is_null(8).unwrap()),
            }
        }
        if capture.name == "small" {
            let named = events.iter().filter(|e| e.address == 0x4000_0000).count();
            assert!(named > 10, "W1 polls uart.status: {named}");
        }
        observations += events
            .iter()
            .filter(|e| !(e.error.is_some() && e.op == Op::Write))
            .count();
        let marks = rows(&part("marks"));
        let expected = read
            .snaps_with_meta(tracemem::Lifespan::new(capture.first_snap, capture.end_snap()).unwrap())
            .unwrap();
        assert_eq!(marks.len(), expected.len(), "{}", capture.name);
        for (row, (snap, meta)) in marks.iter().zip(&expected) {
            assert_eq!(row.get_long(0).unwrap(), *snap);
            assert_eq!(row.get_string(2).unwrap(), &meta.description);
        }
    }
    assert_eq!(report.observations, observations as u64 + 3, "with the 3 of space ram");
    // The live capture's memory rows: big-endian bytes, ERROR for the failed read.
    let memory = rows(&out.join("memory/source=soak-0412.tmdb/space=bus/part-00000.parquet"));
    let live = read.capture("live").unwrap();
    assert_eq!(memory.len(), 3, "the failed write observed nothing");
    assert_eq!(memory[0].get_bytes(3).unwrap().data(), &[1, 2, 3, 4]);
    assert_eq!(memory[1].get_string(4).unwrap(), "error");
    assert!(memory[1].is_null(3).unwrap());
    assert_eq!(
        memory[2].get_long(0).unwrap(),
        read.event_snap(&live, 3).unwrap().unwrap()
    );
    let mut buf = [0u8; 2];
    use tracemem::MemoryRead;
    read.space("bus")
        .unwrap()
        .get_bytes(read.event_snap(&live, 3).unwrap().unwrap(), 0x10, &mut buf)
        .unwrap();
    assert_eq!(
        memory[2].get_bytes(3).unwrap().data(),
        &buf,
        "the database's answer at that snap"
    );
    // The space no capture records, from its change index, by (snap, address).
    let ram = rows(&out.join("memory/source=soak-0412.tmdb/space=ram/part-00000.parquet"));
    let shown: Vec<(i64, u64, u32, Option<Vec<u8>>, String)> = ram
        .iter()
        .map(|r| {
            (
                r.get_long(0).unwrap(),
                r.get_ulong(1).unwrap(),
                r.get_uint(2).unwrap(),
                (!r.is_null(3).unwrap()).then(|| r.get_bytes(3).unwrap().data().to_vec()),
                r.get_string(4).unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (-1, 0x2002, 3, Some(b"SCR".to_vec()), "known".to_string()),
            (100, 0x2000, 8, Some(b"snap-100".to_vec()), "known".to_string()),
            (120, 0x3000, 4, None, "error".to_string()),
        ]
    );
}

#[test]
fn an_existing_source_is_refused_unless_forced_and_only_it_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let read = db.begin_read().unwrap();
    let captures = read.captures().unwrap();
    let out = dir.path().join("dataset");
    let write = |source: &str, force: bool| {
        let options = ParquetOptions {
            source: source.into(),
            force,
            other_spaces: false,
        };
        write_dataset(&read, &captures, &out, &options, &mut |_| {})
    };
    write("a.tmdb", false).unwrap();
    write("b.tmdb", false).unwrap();
    let again = write("a.tmdb", false).unwrap_err();
    assert!(again.to_string().contains("pass --force"), "{again}");
    let marker = out.join("events/source=b.tmdb/keep");
    std::fs::write(&marker, b"").unwrap();
    write("a.tmdb", true).unwrap();
    assert!(marker.exists(), "another source's partitions are kept");
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no staging folder left: {leftovers:?}");
}
