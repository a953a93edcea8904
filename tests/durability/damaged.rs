//! Opening what is not a healthy tracemem database gives a typed error naming
//! the file, never a panic; damage inside a file gives errors or committed
//! answers.

use std::path::Path;

use tracemem::{Database, Error, MemoryRead};

fn healthy(path: &Path) {
    let db = Database::create(path).unwrap();
    let mut txn = db.begin_write().unwrap();
    let mut ram = txn.create_space("ram").unwrap();
    for snap in 0..300i64 {
        ram.put_bytes(snap, (snap as u64 % 64) * 64, &[snap as u8; 96]).unwrap();
    }
    txn.commit().unwrap();
}

fn names_path(err: &Error, path: &Path) -> bool {
    err.to_string().contains(&path.display().to_string())
}

#[test]
fn random_bytes_are_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.tmdb");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let err = Database::open(&path).err().expect("random bytes must not open");
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
    assert!(names_path(&err, &path), "{err}");
}

#[test]
fn a_text_file_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello, this is not a database\n").unwrap();
    let err = Database::open(&path).err().expect("must not open");
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
}

#[test]
fn a_truncated_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    healthy(&path);
    let full = std::fs::read(&path).unwrap();
    for keep in [0usize, 100, 512, 4096, full.len() / 2, full.len() - 1] {
        std::fs::write(&path, &full[..keep]).unwrap();
        match Database::open(&path) {
            // An empty file or a header-only stub is not a database.
            Err(err) => assert!(names_path(&err, &path), "keeping {keep} bytes: {err}"),
            // redb may recover a consistent earlier state from a long prefix;
            // then every answer must come back without a panic.
            Ok(db) => {
                let read = db.begin_read().unwrap();
                if let Ok(ram) = read.space("ram") {
                    let mut buf = [0u8; 96];
                    let _ = ram.get_bytes(299, 0, &mut buf);
                }
            }
        }
    }
}

#[test]
fn a_redb_file_of_another_program_is_not_a_tracemem_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("counters");
            txn.open_table(table).unwrap().insert("x", 1).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Database::open(&path).err().expect("must not open");
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
    assert!(names_path(&err, &path), "{err}");
}

#[test]
fn a_database_of_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.tmdb");
    healthy(&path);
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            txn.open_table(meta)
                .unwrap()
                .insert("format_version", 99u32.to_le_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Database::open(&path).err().expect("must not open");
    assert!(
        matches!(
            err,
            Error::NewerFormat {
                found: 99,
                supported: tracemem::FORMAT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(names_path(&err, &path), "{err}");
    // Nor does an upgrade take it for an older one.
    let err = tracemem::upgrade(&path, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::NewerFormat { found: 99, .. }), "{err}");
}

#[test]
fn damaged_chunk_records_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    healthy(&path);
    // Overwrite every stored chunk with garbage through redb itself: the file
    // stays a valid redb file, the records do not.
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let chunks: redb::TableDefinition<tracemem::fuzzing::ChunkKey, &[u8]> =
                redb::TableDefinition::new(tracemem::fuzzing::CHUNKS_TABLE);
            let mut table = txn.open_table(chunks).unwrap();
            let keys: Vec<(u32, u64, i64)> = redb::ReadableTable::iter(&table)
                .unwrap()
                .map(|e| e.unwrap().0.value())
                .collect();
            for (i, key) in keys.into_iter().enumerate() {
                let garbage: Vec<u8> = (0..(i * 7 % 200)).map(|b| (b * 31 + i) as u8).collect();
                table.insert(key, garbage.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let db = Database::open(&path).unwrap();
    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();
    let mut buf = [0u8; 96];
    let err = ram
        .get_bytes(299, 0, &mut buf)
        .expect_err("garbage chunks must not read");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("history_chunks"), "{err}");
}

/// A file damaged at rest, opened with verification: an error at open, or a
/// database whose answers come back without a panic.
#[test]
fn flipped_bytes_in_the_file_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tmdb");
    healthy(&path);
    let pristine = std::fs::read(&path).unwrap();
    let rounds: u64 = std::env::var("TRACEMEM_FLIP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut state = 7u64;
    for round in 0..rounds {
        let mut bytes = pristine.clone();
        for _ in 0..(1 + round % 8) {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (state >> 33) as usize % bytes.len();
            bytes[at] ^= 1 << (state % 8);
        }
        std::fs::write(&path, &bytes).unwrap();
        let Ok(db) = Database::builder().verify_on_open(true).open(&path) else {
            continue;
        };
        let Ok(read) = db.begin_read() else { continue };
        let Ok(ram) = read.space("ram") else { continue };
        let mut buf = [0u8; 96];
        for snap in [0i64, 150, 299] {
            let _ = ram.get_bytes(snap, 64 * 3, &mut buf);
            let _ = ram.most_recent_states(snap, tracemem::AddressRange::new(0, 4095).unwrap());
        }
    }
}
