//! A kill -9 at any moment of `write_chunk_index` (`tracemem index`) leaves
//! a database that answers as before, with its chunk index in use (the old
//! one or the new one) or unused, never a part of one; a later write of the
//! index finishes the job. The child indexes a copy of a database indexed
//! once already; `TRACEMEM_INDEX_KILLS` sets the number of kills (default
//! 20).

use std::time::Instant;

use tracemem::Database;

use crate::child::{self, Xorshift};
use crate::crash_pack::{build, digest};

const CHILD_ENV: &str = "TRACEMEM_INDEX_CHILD_DB";

/// The child: writes the chunk index of the database named in its
/// environment. Does nothing in a normal run.
#[test]
fn crash_child_indexer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Database::open(&path).unwrap();
    println!("indexing");
    db.write_chunk_index().unwrap();
    println!("indexed");
}

#[test]
fn writing_the_chunk_index_survives_kill_9() {
    let kills: u64 = std::env::var("TRACEMEM_INDEX_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.tmdb");
    build(&base);
    let want = digest(&Database::open(&base).unwrap());
    let db = Database::open(&base).unwrap();
    let started = Instant::now();
    db.write_chunk_index().unwrap();
    let index_time = started.elapsed();
    assert!(db.begin_read().unwrap().uses_chunk_index());
    assert_eq!(digest(&db), want);
    db.close().unwrap();
    let index_of = tracemem::chunk_index_path;

    // The stamp in an index file's header (FORMAT.md, "The chunk index").
    let stamp_of = |path: &std::path::Path| std::fs::read(index_of(path)).ok().map(|b| b[16..32].to_vec());
    let old_stamp = stamp_of(&base);
    let mut random = Xorshift(0x2545_f491_4f6c_dd1d);
    let (mut old, mut new, mut unused) = (0, 0, 0);
    for round in 0..kills {
        let path = dir.path().join(format!("kill-{round}.tmdb"));
        std::fs::copy(&base, &path).unwrap();
        std::fs::copy(index_of(&base), index_of(&path)).unwrap();
        let (child, lines) = child::spawn("crash_index::crash_child_indexer", CHILD_ENV, &path);
        // The index is written in about `index_time`, after the open.
        let delay = random.delay_within(index_time * 3);
        child::kill_after(child, lines, "indexing", delay);
        let db = Database::open(&path).unwrap();
        assert_eq!(digest(&db), want, "round {round}, killed after {delay:?}");
        let report = db.check().unwrap();
        assert!(report.problems.is_empty(), "round {round}: {report:?}");
        match db.begin_read().unwrap().uses_chunk_index() {
            true if stamp_of(&path) == old_stamp => old += 1,
            true => new += 1,
            false => unused += 1,
        }
        // Writing it again finishes the job, whatever the kill left.
        db.write_chunk_index().unwrap();
        assert!(db.begin_read().unwrap().uses_chunk_index());
        assert_eq!(digest(&db), want, "round {round}, indexed again");
        db.close().unwrap();
    }
    eprintln!(
        "{kills} kills while writing the chunk index: {old} left the old index in use, {new} the new one, {unused} none"
    );
}
