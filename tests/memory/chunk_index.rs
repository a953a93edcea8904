//! The chunk index (`Database::write_chunk_index`): reads through it give
//! the model's answers (point reads, sources, states, searches, M9; bulk
//! reads through its stretch images), a write leaves it unused, a stale,
//! missing or other-version index is not used, `pack` drops it, and a
//! damaged one is an error naming it, never a panic.

use std::path::Path;

use tracemem::workloads::Lcg;
use tracemem::{AddressRange, Database, Direction, MemState, MemoryRead, Snap, chunk_index_path};

use crate::model::ModelSpace;

const BASE: u64 = 0x4000;
const LEN: u64 = 4096;
/// Bytes of an index file's header (FORMAT.md, "The chunk index").
const HEADER: usize = 128;
/// Bytes of a stretch: 256 granules.
const STRETCH: u64 = 64 << 10;

/// A database of many short chunks (4 deltas each) over a few granules:
/// writes at random snaps of both sides, into the past too, ERROR ranges
/// and removals, in several transactions, mirrored into the model.
fn random_history(path: &Path, seed: u64) -> (Database, ModelSpace) {
    let db = Database::builder().max_chunk_deltas(4).create(path).unwrap();
    let mut model = ModelSpace::default();
    let mut rng = Lcg::new(seed);
    for _ in 0..8 {
        let mut txn = db.begin_write().unwrap();
        let mut ram = txn.create_space("ram").unwrap();
        for _ in 0..60 {
            let snap = rng.below(200) as Snap - 40;
            let start = BASE + rng.below(LEN - 64);
            let len = 1 + rng.below(64);
            match rng.below(10) {
                0 => {
                    let range = AddressRange::from_start_len(start, len).unwrap();
                    ram.set_state(snap, range, MemState::Error).unwrap();
                    model.set_error(snap, range);
                }
                1 => {
                    ram.remove_bytes(snap, start, len).unwrap();
                    model.remove_bytes(snap, start, len);
                }
                _ => {
                    let data: Vec<u8> = (0..len).map(|_| rng.below(3) as u8).collect();
                    ram.put_bytes(snap, start, &data).unwrap();
                    model.put_bytes(snap, start, &data);
                }
            }
        }
        drop(ram);
        txn.commit().unwrap();
    }
    (db, model)
}

/// Compares reads of `db` with the model at random snaps and ranges.
fn assert_reads_match(db: &Database, model: &ModelSpace, seed: u64) {
    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();
    let mut rng = Lcg::new(seed);
    for _ in 0..300 {
        let snap = rng.below(220) as Snap - 50;
        let start = BASE - 100 + rng.below(LEN + 100);
        let most = match rng.below(3) {
            0 => 16,
            1 => 600,
            _ => LEN,
        };
        let len = 1 + rng.below(most);
        let mut got = vec![0u8; len as usize];
        let mut want = vec![0u8; len as usize];
        let sources = ram.get_bytes_with_sources(snap, start, &mut got).unwrap();
        assert_eq!(
            sources,
            model.get_bytes_with_sources(snap, start, &mut want),
            "snap {snap}, {start:#x}+{len}"
        );
        assert_eq!(got, want, "snap {snap}, {start:#x}+{len}");
        let range = AddressRange::from_start_len(start, len).unwrap();
        assert_eq!(
            ram.states(snap, range).unwrap(),
            model.states(snap, range),
            "states at snap {snap}"
        );
        let pattern = [rng.below(3) as u8, rng.below(3) as u8, rng.below(3) as u8];
        for direction in [Direction::Forward, Direction::Backward] {
            assert_eq!(
                ram.find_bytes(snap, range, &pattern, None, direction).unwrap(),
                model.find_bytes(snap, range, &pattern, None, direction == Direction::Backward),
                "find {pattern:?} at snap {snap} in {range:?}"
            );
        }
    }
}

#[test]
fn reads_through_the_chunk_index_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indexed.tmdb");
    let (db, model) = random_history(&path, 41);
    assert!(!db.begin_read().unwrap().uses_chunk_index());
    let report = db.write_chunk_index().unwrap();
    assert!(report.chunks > report.granules && report.granules >= LEN / 256);
    assert_eq!(std::fs::metadata(chunk_index_path(&path)).unwrap().len(), report.bytes);
    assert!(db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 43);
    // The fuzz targets' walk of the file agrees with itself on it.
    let decoded = tracemem::fuzzing::decode_chunk_index(&std::fs::read(chunk_index_path(&path)).unwrap()).unwrap();
    assert!(decoded.parts as u64 >= report.granules, "{decoded:?}");
    assert!(decoded.disagreements.is_empty(), "{decoded:?}");
    // Opened again, the index is mapped anew; opened without it, unused.
    db.close().unwrap();
    let db = Database::open(&path).unwrap();
    assert!(db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 47);
    db.close().unwrap();
    let db = Database::builder().chunk_index(false).open(&path).unwrap();
    assert!(!db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 53);
}

/// Two granules with long histories (hundreds of chunks of 4 deltas):
/// one written at most snaps, one at a few.
fn long_history(path: &Path) -> (Database, ModelSpace) {
    let db = Database::builder().max_chunk_deltas(4).create(path).unwrap();
    let mut model = ModelSpace::default();
    let mut rng = Lcg::new(61);
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    for snap in 0..3000 {
        // Snaps skipped at random: the chunks' first snaps are uneven.
        if rng.below(5) == 0 {
            continue;
        }
        let start = BASE + rng.below(250);
        let data: Vec<u8> = (0..1 + rng.below(6)).map(|_| rng.below(256) as u8).collect();
        ram.put_bytes(snap, start, &data).unwrap();
        model.put_bytes(snap, start, &data);
        if snap % 97 == 0 {
            ram.put_bytes(snap, BASE + 256, &[snap as u8]).unwrap();
            model.put_bytes(snap, BASE + 256, &[snap as u8]);
        }
    }
    drop(ram);
    txn.commit().unwrap();
    (db, model)
}

#[test]
fn a_long_history_reads_through_the_chunk_index_as_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.tmdb");
    let (db, model) = long_history(&path);
    let report = db.write_chunk_index().unwrap();
    assert!(report.chunks > 500, "{report:?}");
    let read = db.begin_read().unwrap();
    assert!(read.uses_chunk_index());
    let ram = read.space("ram").unwrap();
    let mut rng = Lcg::new(67);
    for snap in -3..3010 {
        for _ in 0..2 {
            let start = BASE - 2 + rng.below(262);
            let len = 1 + rng.below(8) as usize;
            let (mut got, mut want) = (vec![0u8; len], vec![0u8; len]);
            let sources = ram.get_bytes_with_sources(snap, start, &mut got).unwrap();
            assert_eq!(
                sources,
                model.get_bytes_with_sources(snap, start, &mut want),
                "snap {snap}, {start:#x}+{len}"
            );
            assert_eq!(got, want, "snap {snap}, {start:#x}+{len}");
            got.fill(0);
            ram.get_bytes(snap, start, &mut got).unwrap();
            assert_eq!(got, want, "get_bytes at snap {snap}, {start:#x}+{len}");
        }
    }
    drop(read);
    assert!(db.check().unwrap().problems.is_empty());
}

#[test]
fn a_write_leaves_the_chunk_index_unused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("written.tmdb");
    let (db, mut model) = random_history(&path, 59);
    db.write_chunk_index().unwrap();
    // A snapshot taken before the write keeps using it.
    let before = db.begin_read().unwrap();
    let mut txn = db.begin_write().unwrap();
    // Into the past, where the index's chunks would answer otherwise.
    txn.create_space("ram").unwrap().put_bytes(10, BASE, &[7; 300]).unwrap();
    txn.commit().unwrap();
    model.put_bytes(10, BASE, &[7; 300]);
    assert!(before.uses_chunk_index());
    let read = db.begin_read().unwrap();
    assert!(!read.uses_chunk_index());
    let mut buf = [0u8; 300];
    read.space("ram").unwrap().get_bytes(10, BASE, &mut buf).unwrap();
    assert_eq!(buf, [7; 300]);
    drop((read, before));
    assert_reads_match(&db, &model, 61);
    // Written again, it is used again.
    db.write_chunk_index().unwrap();
    assert!(db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 67);
}

#[test]
fn a_stale_or_missing_chunk_index_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.tmdb");
    let (db, mut model) = random_history(&path, 71);
    db.write_chunk_index().unwrap();
    let stale = dir.path().join("stale.index");
    std::fs::copy(chunk_index_path(&path), &stale).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_space("ram")
        .unwrap()
        .put_bytes(100, BASE + 1, &[9; 40])
        .unwrap();
    txn.commit().unwrap();
    model.put_bytes(100, BASE + 1, &[9; 40]);
    db.write_chunk_index().unwrap();
    db.close().unwrap();
    // The older index put back: its stamp is not the file's.
    std::fs::copy(&stale, chunk_index_path(&path)).unwrap();
    let db = Database::open(&path).unwrap();
    assert!(!db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 73);
    std::fs::remove_file(chunk_index_path(&path)).unwrap();
    assert!(!db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 79);
}

#[test]
fn pack_leaves_the_chunk_index_of_the_old_file_unused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.tmdb");
    let (db, model) = random_history(&path, 83);
    db.write_chunk_index().unwrap();
    db.close().unwrap();
    tracemem::pack(&path, &mut |_| {}).unwrap();
    let db = Database::open(&path).unwrap();
    assert!(!db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 89);
    // Indexed after packing: packed chunks through the index.
    db.write_chunk_index().unwrap();
    assert!(db.begin_read().unwrap().uses_chunk_index());
    assert_reads_match(&db, &model, 97);
}

#[test]
fn a_damaged_chunk_index_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.tmdb");
    let (db, _) = random_history(&path, 101);
    db.write_chunk_index().unwrap();
    db.close().unwrap();
    let index = chunk_index_path(&path);
    let good = std::fs::read(&index).unwrap();
    let header_u64 = |at: usize| u64::from_le_bytes(good[at..at + 8].try_into().unwrap()) as usize;
    let (granules, chunks, data_len) = (header_u64(32), header_u64(40), header_u64(48));
    let entries_at = (HEADER + data_len).next_multiple_of(8);
    // Each chunk's record: first snap i64, then place u64 (offset in the low
    // 40 bits, length above).
    let chunks_at = entries_at + 24 * granules;
    let damages: Vec<(&str, Box<dyn Fn(&mut Vec<u8>)>)> = vec![
        ("cut short", Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 4))),
        ("empty", Box::new(|b: &mut Vec<u8>| b.clear())),
        ("bad magic", Box::new(|b: &mut Vec<u8>| b[0] ^= 0xff)),
        (
            "a granule's chunks past the end",
            Box::new(move |b: &mut Vec<u8>| {
                b[entries_at + 16..entries_at + 24].copy_from_slice(&u64::MAX.to_le_bytes())
            }),
        ),
        (
            "a chunk's bytes past the data",
            Box::new(move |b: &mut Vec<u8>| {
                for i in 0..chunks {
                    let at = chunks_at + 16 * i + 8;
                    b[at..at + 8].copy_from_slice(&(1u64 << 39 | 1 << 40).to_le_bytes());
                }
            }),
        ),
        (
            "every chunk's bytes garbled",
            Box::new(move |b: &mut Vec<u8>| b[HEADER..HEADER + data_len].iter_mut().for_each(|x| *x = 0xa5)),
        ),
    ];
    for (what, damage) in damages {
        let mut bytes = good.clone();
        damage(&mut bytes);
        std::fs::write(&index, &bytes).unwrap();
        let db = Database::open(&path).unwrap();
        let outcome = db.begin_read().and_then(|read| {
            let ram = read.space("ram")?;
            let mut buf = vec![0u8; LEN as usize];
            for snap in [-40, 0, 50, 100, 160] {
                ram.get_bytes(snap, BASE, &mut buf)?;
                ram.get_bytes(snap, BASE + 100, &mut buf[..8])?;
            }
            Ok(())
        });
        let error = outcome.expect_err(what).to_string();
        eprintln!("{what}: {error}");
        assert!(
            error.contains("chunk-index") || error.contains("history chunk"),
            "{what}: {error}"
        );
        db.close().unwrap();
    }
    // An index of another version is not used: the file reads from its tables.
    let mut other = good.clone();
    other[8] = 9;
    std::fs::write(&index, &other).unwrap();
    let db = Database::open(&path).unwrap();
    assert!(!db.begin_read().unwrap().uses_chunk_index());
    db.close().unwrap();
    // Removed, the file reads again from its tables.
    std::fs::remove_file(&index).unwrap();
    let db = Database::open(&path).unwrap();
    let mut buf = vec![0u8; LEN as usize];
    db.begin_read()
        .unwrap()
        .space("ram")
        .unwrap()
        .get_bytes(50, BASE, &mut buf)
        .unwrap();
}

#[test]
fn check_compares_the_chunk_index_with_the_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checked.tmdb");
    let (db, _) = random_history(&path, 103);
    db.write_chunk_index().unwrap();
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    db.close().unwrap();
    // One byte of one chunk flipped: the header and every run still hold.
    let index = chunk_index_path(&path);
    let mut bytes = std::fs::read(&index).unwrap();
    let data_len = u64::from_le_bytes(bytes[48..56].try_into().unwrap()) as usize;
    bytes[HEADER + data_len / 2] ^= 0x01;
    std::fs::write(&index, &bytes).unwrap();
    let db = Database::open(&path).unwrap();
    let problems = db.check().unwrap().problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("chunk-index") && problems[0].contains("the table's"),
        "{problems:?}"
    );
}

#[test]
fn randomly_damaged_chunk_indexes_are_errors_or_agree_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutated.tmdb");
    let (db, _) = random_history(&path, 107);
    db.write_chunk_index().unwrap();
    let good = std::fs::read(chunk_index_path(&path)).unwrap();
    let mut rng = Lcg::new(109);
    let (mut errors, mut accepted) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(4) {
                0 => bytes.truncate(at),
                // Mostly the header and the directory, where the runs are.
                1 => {
                    let at = rng.below(64.min(bytes.len() as u64).max(1)) as usize;
                    if let Some(b) = bytes.get_mut(at) {
                        *b = rng.below(256) as u8;
                    }
                }
                _ => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= 1 << rng.below(8);
                    }
                }
            }
        }
        match tracemem::fuzzing::decode_chunk_index(&bytes) {
            Ok(decoded) => {
                accepted += 1;
                assert!(decoded.disagreements.is_empty(), "{decoded:?}");
            }
            Err(_) => errors += 1,
        }
    }
    assert!(errors > 0 && accepted > 0, "{errors} errors, {accepted} accepted");
}

/// Four whole stretches loaded at snap 0 (and one at the scratch snap -3),
/// the first never written again, the second written at every snap from 1
/// to 400 (ERROR once), the third once at snap 300, the fourth at snaps
/// 100, 101 and 102 (an image for snaps 0 to 99, none for 100 and 101);
/// mirrored in the model.
fn stretched_history(path: &Path) -> (Database, ModelSpace) {
    let db = Database::create(path).unwrap();
    let mut model = ModelSpace::default();
    let mut rng = Lcg::new(113);
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    let mut put = |ram: &mut tracemem::MemorySpaceMut<'_>, snap: Snap, start: u64, data: &[u8]| {
        ram.put_bytes(snap, start, data).unwrap();
        model.put_bytes(snap, start, data);
    };
    let image: Vec<u8> = (0..4 * STRETCH)
        .map(|i| if i % 512 < 256 { rng.below(4) as u8 } else { 0 })
        .collect();
    put(&mut ram, 0, STRETCH, &image);
    put(&mut ram, -3, STRETCH, &image[..STRETCH as usize]);
    for snap in 1..=400 {
        let start = 2 * STRETCH + rng.below(STRETCH - 64);
        let data: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.below(4) as u8).collect();
        put(&mut ram, snap, start, &data);
    }
    put(&mut ram, 300, 3 * STRETCH + 1000, &[5; 3000]);
    for snap in 100..=102 {
        put(&mut ram, snap, 4 * STRETCH + 64 * snap as u64, &[snap as u8; 8]);
    }
    let error = AddressRange::from_start_len(2 * STRETCH + 4096, 700).unwrap();
    ram.set_state(200, error, MemState::Error).unwrap();
    model.set_error(200, error);
    drop(ram);
    txn.commit().unwrap();
    (db, model)
}

#[test]
fn stretch_images_answer_bulk_reads_as_the_chunks_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stretches.tmdb");
    let (db, model) = stretched_history(&path);
    let report = db.write_chunk_index().unwrap();
    // The first stretch: one image; the second: its last change; the
    // third: before and after snap 300; the fourth: before 100 and after 102.
    assert!(report.stretch_images >= 6, "{report:?}");
    assert!(db.check().unwrap().problems.is_empty());
    // The fuzz targets' walk of the file finds its stretch images whole.
    let decoded = tracemem::fuzzing::decode_chunk_index(&std::fs::read(chunk_index_path(&path)).unwrap()).unwrap();
    assert!(decoded.disagreements.is_empty(), "{decoded:?}");
    let read = db.begin_read().unwrap();
    assert!(read.uses_chunk_index());
    let ram = read.space("ram").unwrap();
    let mut rng = Lcg::new(127);
    for snap in [-3, -1, 0, 1, 99, 100, 101, 102, 150, 200, 299, 300, 301, 400, 401, 5000] {
        for (start, len) in [
            (STRETCH, 3 * STRETCH),
            (STRETCH + 300, STRETCH + 1000),
            (3 * STRETCH - 7, STRETCH + 14),
            (0, 5 * STRETCH),
            (STRETCH + rng.below(2 * STRETCH), 1 + rng.below(STRETCH)),
        ] {
            let range = AddressRange::from_start_len(start, len).unwrap();
            let (mut got, mut want) = (vec![0u8; len as usize], vec![0u8; len as usize]);
            assert_eq!(
                ram.get_bytes(snap, start, &mut got).unwrap(),
                model.get_bytes(snap, start, &mut want),
                "snap {snap}, {range:?}"
            );
            assert_eq!(got, want, "snap {snap}, {range:?}");
            assert_eq!(
                ram.states(snap, range).unwrap(),
                model.states(snap, range),
                "snap {snap}"
            );
            assert_eq!(
                ram.diff(snap, 150, range).unwrap(),
                model.diff(snap, 150, range),
                "snap {snap}"
            );
            // A pattern found where the model has it (or nowhere), both ways.
            let at = (start + len / 2) as usize - STRETCH as usize;
            let mut pattern = [0u8; 6];
            model.get_bytes(snap, STRETCH + at as u64, &mut pattern);
            for direction in [Direction::Forward, Direction::Backward] {
                assert_eq!(
                    ram.find_bytes(snap, range, &pattern, None, direction).unwrap(),
                    model.find_bytes(snap, range, &pattern, None, direction == Direction::Backward),
                    "find {pattern:?} at snap {snap} in {range:?}"
                );
            }
        }
    }
    // The index's answers are the tables': the first stretch read where its
    // image holds, the others from chunks.
    drop(ram);
    drop(read);
    db.close().unwrap();
    let plain = Database::builder().chunk_index(false).open(&path).unwrap();
    let read = plain.begin_read().unwrap();
    assert!(!read.uses_chunk_index());
    let ram = read.space("ram").unwrap();
    let (mut got, mut want) = (vec![0u8; 3 * STRETCH as usize], vec![0u8; 3 * STRETCH as usize]);
    for snap in [0, 299, 300] {
        ram.get_bytes(snap, STRETCH, &mut got).unwrap();
        model.get_bytes(snap, STRETCH, &mut want);
        assert_eq!(got, want, "snap {snap}");
    }
}

#[test]
fn a_packed_file_gets_the_same_stretch_images() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stretches-packed.tmdb");
    let (db, model) = stretched_history(&path);
    let before = db.write_chunk_index().unwrap();
    db.close().unwrap();
    tracemem::pack(&path, &mut |_| {}).unwrap();
    let db = Database::open(&path).unwrap();
    // Packed chunks decode to the same histories: the same images.
    let after = db.write_chunk_index().unwrap();
    assert_eq!(after.stretch_images, before.stretch_images);
    assert!(db.check().unwrap().problems.is_empty());
    let read = db.begin_read().unwrap();
    assert!(read.uses_chunk_index());
    let ram = read.space("ram").unwrap();
    let (mut got, mut want) = (vec![0u8; 4 * STRETCH as usize], vec![0u8; 4 * STRETCH as usize]);
    for snap in [-3, 0, 99, 100, 101, 102, 250, 300, 400] {
        assert_eq!(
            ram.get_bytes(snap, STRETCH, &mut got).unwrap(),
            model.get_bytes(snap, STRETCH, &mut want)
        );
        assert_eq!(got, want, "snap {snap}");
    }
}

#[test]
fn check_finds_a_damaged_stretch_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stretch-checked.tmdb");
    let (db, _) = stretched_history(&path);
    let report = db.write_chunk_index().unwrap();
    db.close().unwrap();
    // A value in the last stretch image flipped (the images end the file).
    let index = chunk_index_path(&path);
    let mut bytes = std::fs::read(&index).unwrap();
    assert_eq!(bytes.len() as u64, report.bytes);
    let at = bytes.len() - 81_920 + 100;
    bytes[at] ^= 0x40;
    std::fs::write(&index, &bytes).unwrap();
    let db = Database::open(&path).unwrap();
    let problems = db.check().unwrap().problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("stretch image"), "{problems:?}");
    db.close().unwrap();
    // Every mark's flag "whole" (bit 0 of its second u32) flipped: those
    // set wrongly and those cleared wrongly are found alike.
    bytes[at] ^= 0x40;
    let n = report.stretch_images as usize;
    let marks_at = bytes.len() - n * (81_920 + 32);
    let mut wholes = 0;
    for i in 0..n {
        wholes += usize::from(bytes[marks_at + 32 * i + 4] & 1);
        bytes[marks_at + 32 * i + 4] ^= 1;
    }
    assert!(wholes > 0 && wholes < n, "{wholes} of {n} images whole");
    std::fs::write(&index, &bytes).unwrap();
    let problems = Database::open(&path).unwrap().check().unwrap().problems;
    assert_eq!(problems.len(), n.min(10), "{problems:?}");
    assert!(problems.iter().all(|p| p.contains("the chunks make")), "{problems:?}");
}
