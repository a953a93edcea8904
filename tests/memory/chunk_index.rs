//! The chunk index (`Database::write_chunk_index`): reads through it give
//! the model's answers (point reads, sources, states, searches, M9), a
//! write leaves it unused, a stale or missing index is not used, `pack`
//! drops it, and a damaged one is an error naming it, never a panic.

use std::path::Path;

use tracemem::workloads::Lcg;
use tracemem::{AddressRange, Database, Direction, MemState, MemoryRead, Snap, chunk_index_path};

use crate::model::ModelSpace;

const BASE: u64 = 0x4000;
const LEN: u64 = 4096;

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
    let entries_at = (64 + data_len).next_multiple_of(8);
    let places_at = entries_at + 24 * granules + 8 * chunks;
    let damages: Vec<(&str, Box<dyn Fn(&mut Vec<u8>)>)> = vec![
        ("cut short", Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 4))),
        ("empty", Box::new(|b: &mut Vec<u8>| b.clear())),
        ("bad magic", Box::new(|b: &mut Vec<u8>| b[0] ^= 0xff)),
        ("newer version", Box::new(|b: &mut Vec<u8>| b[8] = 2)),
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
                    let at = places_at + 16 * i;
                    b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
                }
            }),
        ),
        (
            "every chunk's bytes garbled",
            Box::new(move |b: &mut Vec<u8>| b[64..64 + data_len].iter_mut().for_each(|x| *x = 0xa5)),
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
    bytes[64 + data_len / 2] ^= 0x01;
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
