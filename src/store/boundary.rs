//! Where redb's panics stop. redb asserts on some damaged files instead of
//! returning an error (its documentation says an open of an altered file
//! "may panic"). A panic raised inside redb's own code is taken for damage
//! and becomes [`Error::Corrupt`]; any other panic, a bug of tracemem or of
//! a caller's storage backend, goes on unwinding and is never relabelled as
//! damage. A write transaction in which redb panicked is marked failed and
//! cannot be committed.
//!
//! Where a panic was raised is told by a panic hook, installed once and
//! chained to the one before it, which notes for its thread whether the
//! panic's location lies in redb's sources. A program that replaces the
//! panic hook after tracemem installed it turns that off: redb's panics then
//! unwind as panics.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::Once;

use crate::vocab::error::{Error, Result};

thread_local! {
    /// Whether the last panic of this thread was raised in redb's code.
    static RAISED_IN_REDB: Cell<bool> = const { Cell::new(false) };
    /// Tests: take the next panic of this thread for one raised in redb.
    #[cfg(test)]
    static PRETEND_REDB: Cell<bool> = const { Cell::new(false) };
}

/// Whether `file` is in redb's sources (a crate directory `redb-x.y.z`, as
/// cargo unpacks it, or a checkout named `redb`).
fn is_redb_source(file: &str) -> bool {
    file.replace('\\', "/").split('/').any(|part| {
        part == "redb"
            || part
                .strip_prefix("redb-")
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    })
}

fn in_redb(location: &Location<'_>) -> bool {
    is_redb_source(location.file())
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let redb = info.location().is_some_and(in_redb);
            #[cfg(test)]
            let redb = redb || PRETEND_REDB.replace(false);
            RAISED_IN_REDB.set(redb);
            previous(info);
        }));
    });
}

/// Runs `f`; a panic raised in redb's code comes back as its message, any
/// other panic unwinds on.
fn catch<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    install_hook();
    RAISED_IN_REDB.set(false);
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Ok(value),
        Err(payload) if RAISED_IN_REDB.replace(false) => Err(payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".into())),
        Err(payload) => resume_unwind(payload),
    }
}

/// Tests: takes the next panic of this thread for one raised in redb.
#[cfg(test)]
pub(crate) fn pretend_next_panic_is_in_redb() {
    PRETEND_REDB.set(true);
}

fn damage(place: &dyn Fn() -> String, why: &str) -> Error {
    Error::corrupt(place(), format!("the storage engine failed on damaged data: {why}"))
}

/// Runs `f`, a read or an open that calls into redb, turning a panic
/// raised in redb into [`Error::Corrupt`] at `place`.
pub(crate) fn guard<T>(place: &dyn Fn() -> String, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch(f).unwrap_or_else(|why| Err(damage(place, &why)))
}

/// What a write transaction needs of the boundary: to be marked failed
/// (through a shared reference: a read in it can fail it too), and to say so.
pub(crate) trait Failable {
    /// Marks it failed for `why`; it can then only be dropped or aborted.
    fn fail(&self, why: String);
    /// The error for every later write and for a commit, if it failed.
    fn failure(&self) -> Option<Error>;
}

/// As [`guard`], for a read in `txn` when it is a write transaction
/// (`None`: a read transaction): a failed transaction is refused, and a
/// panic raised in redb fails it.
pub(crate) fn guard_in<T>(
    txn: Option<&dyn Failable>,
    place: &dyn Fn() -> String,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let Some(txn) = txn else {
        return guard(place, f);
    };
    if let Some(error) = txn.failure() {
        return Err(error);
    }
    match catch(f) {
        Ok(result) => result,
        Err(why) => {
            txn.fail(why.clone());
            Err(damage(place, &why))
        }
    }
}

/// As [`guard`], for a write into `txn`: a panic raised in redb marks the
/// transaction failed, and a failed transaction takes no more writes.
pub(crate) fn guard_write<S: Failable, T>(
    txn: &mut S,
    place: &dyn Fn() -> String,
    f: impl FnOnce(&mut S) -> Result<T>,
) -> Result<T> {
    if let Some(error) = txn.failure() {
        return Err(error);
    }
    match catch(|| f(txn)) {
        Ok(result) => result,
        Err(why) => {
            txn.fail(why.clone());
            Err(damage(place, &why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Txn(std::sync::OnceLock<String>);

    impl Failable for Txn {
        fn fail(&self, why: String) {
            let _ = self.0.set(why);
        }
        fn failure(&self) -> Option<Error> {
            self.0.get().map(|why| Error::TransactionFailed {
                path: "test".into(),
                reason: why.clone(),
            })
        }
    }

    #[test]
    fn redb_sources_are_told_from_others() {
        assert!(is_redb_source(
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/redb-4.6.0/src/tree_store/btree.rs"
        ));
        assert!(is_redb_source("/home/me/src/redb/src/db.rs"));
        assert!(!is_redb_source("src/store/reader.rs"));
        assert!(!is_redb_source("/work/redb-bench/src/lib.rs"));
        assert!(!in_redb(Location::caller()));
    }

    #[test]
    fn a_panic_of_tracemem_is_not_relabelled_as_damage() {
        let caught = catch_unwind(|| guard(&|| "here".into(), || -> Result<()> { panic!("a bug of ours") }));
        assert!(caught.is_err(), "the panic went on unwinding");
    }

    #[test]
    fn a_panic_in_redb_is_damage_and_fails_the_write_transaction() {
        let err = guard(&|| "a read".into(), || -> Result<()> {
            PRETEND_REDB.set(true);
            panic!("assertion failed: page checksum")
        })
        .unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { place, detail } if place == "a read" && detail.contains("page checksum")),
            "{err}"
        );
        let mut txn = Txn(std::sync::OnceLock::new());
        let err = guard_write(&mut txn, &|| "put_bytes".into(), |_| -> Result<()> {
            PRETEND_REDB.set(true);
            panic!("redb failed")
        })
        .unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        let later = guard_write(&mut txn, &|| "put_bytes".into(), |_| Ok(()));
        assert!(matches!(later, Err(Error::TransactionFailed { .. })), "{later:?}");
    }
}
