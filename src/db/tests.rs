//! The database's transactions against the storage engine failing inside
//! them.

use crate::store::StoreRead;
use crate::store::boundary::guard_write;
use crate::vocab::error::{Error, Result};

/// Through a real write transaction: after redb panicked in it, its
/// writes and its commit are refused, and the database keeps what was
/// committed before.
#[test]
fn a_write_transaction_in_which_redb_panicked_cannot_be_committed() {
    use crate::memory::MemoryRead;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::Database::create(dir.path().join("t.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_space("ram").unwrap().put_bytes(1, 0x10, &[1, 2, 3]).unwrap();
    txn.commit().unwrap();

    let mut txn = db.begin_write().unwrap();
    txn.space("ram").unwrap().put_bytes(2, 0x10, &[9]).unwrap();
    let err = guard_write(&mut txn, &|| "a write".into(), |_| -> Result<()> {
        crate::store::boundary::pretend_next_panic_is_in_redb();
        panic!("redb: assertion failed on a damaged page")
    })
    .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let refused = txn.space("ram").map(|_| ());
    assert!(matches!(refused, Err(Error::TransactionFailed { .. })), "{refused:?}");
    let refused = txn.create_space("other");
    assert!(
        matches!(refused, Err(Error::TransactionFailed { .. })),
        "a write after the failure"
    );
    let commit = txn.commit();
    assert!(matches!(commit, Err(Error::TransactionFailed { .. })), "{commit:?}");

    let read = db.begin_read().unwrap();
    let mut buf = [0u8; 3];
    read.space("ram").unwrap().get_bytes(5, 0x10, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 3], "nothing of the failed transaction was committed");
}

/// A read in a write transaction that redb fails in fails the transaction
/// as a write would: its commit is refused.
#[test]
fn a_read_in_which_redb_panicked_fails_its_write_transaction() {
    use crate::store::boundary::guard_in;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::Database::create(dir.path().join("t.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_space("ram").unwrap().put_bytes(1, 0x10, &[1]).unwrap();
    let err = guard_in(Some(&txn.store), &|| "a read".into(), || -> Result<()> {
        crate::store::boundary::pretend_next_panic_is_in_redb();
        panic!("redb: a damaged page")
    })
    .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let commit = txn.commit();
    assert!(matches!(commit, Err(Error::TransactionFailed { .. })), "{commit:?}");
    assert!(
        db.begin_read().unwrap().space("ram").is_err(),
        "nothing of it was committed"
    );
}

/// A read transaction that finds chunks through the chunk index keeps no
/// granule images (a granule decodes there about as fast as the cache
/// keeps and finds it); one that reads the tables keeps them.
#[test]
fn a_read_through_the_chunk_index_keeps_no_images() {
    use crate::memory::MemoryRead;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::Database::create(dir.path().join("t.tmdb")).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_space("ram").unwrap().put_bytes(1, 0, &[7; 4096]).unwrap();
    txn.commit().unwrap();
    let wanted = |read: &crate::ReadTransaction| {
        let cache = read.store.image_cache().expect("a read transaction has an image cache");
        cache.lock().unwrap().wanted()
    };

    let read = db.begin_read().unwrap();
    assert!(!read.uses_chunk_index());
    assert!(wanted(&read), "without a chunk index, bulk reads keep their images");
    drop(read);

    db.write_chunk_index().unwrap();
    let read = db.begin_read().unwrap();
    assert!(read.uses_chunk_index());
    assert!(!wanted(&read), "through the chunk index, bulk reads keep none");
    let mut buf = [0u8; 4096];
    read.space("ram").unwrap().get_bytes(1, 0, &mut buf).unwrap();
    assert_eq!(buf, [7; 4096]);
}
