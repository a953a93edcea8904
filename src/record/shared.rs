//! The databases this process records into, shared by their recorders: a
//! second recorder on a database that a recorder of the process records
//! into already takes the same handle (redb lets one process write a file)
//! and a journal slot of its own (`<db>.journal.<slot>`), so that several
//! buses record into one database at once. The last recorder to close
//! closes the database.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::db::DatabaseBuilder;
use crate::journal::MAX_JOURNALS;
use crate::record::folder::SharedDatabase;
use crate::vocab::error::{Error, Result};

/// A database recorded into, with the journal slots its recorders hold.
pub(crate) struct RecordedDatabase {
    pub db: SharedDatabase,
    /// The canonical path, its key among the databases recorded into.
    key: PathBuf,
    /// Bit `s` set: slot `s` is taken.
    slots: Mutex<u32>,
}

/// The databases recorded into, by canonical path.
static RECORDED: Mutex<Vec<(PathBuf, Weak<RecordedDatabase>)>> = Mutex::new(Vec::new());

fn recorded() -> MutexGuard<'static, Vec<(PathBuf, Weak<RecordedDatabase>)>> {
    RECORDED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The canonical form of `path`, also for a file that does not exist yet.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(found) = path.canonicalize() {
        return found;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// A journal slot of a recorded database, held until dropped.
pub(crate) struct Slot {
    pub database: Arc<RecordedDatabase>,
    pub slot: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = self.database.slots.lock().unwrap_or_else(PoisonError::into_inner);
        *slots &= !(1u32 << self.slot);
    }
}

impl Slot {
    /// Gives the slot back; when no other recorder holds the database, closes
    /// it (else it stays open for them).
    pub fn release(self) -> Result<()> {
        let database = self.database.clone();
        drop(self);
        // Decided under the lock of the list: a recorder joining meanwhile
        // either finds the database gone or keeps it open.
        let mut list = recorded();
        match Arc::try_unwrap(database) {
            Ok(database) => {
                list.retain(|(key, _)| key != &database.key);
                drop(list);
                let path = database.key.clone();
                let db = Arc::try_unwrap(database.db)
                    .map_err(|_| Error::Busy { path })?
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner);
                db.close()
            }
            Err(_) => Ok(()),
        }
    }
}

/// A journal slot in the database at `path`: the database that a recorder
/// of this process records into already, or else one opened (or created)
/// with `builder`, which then replays the journals of recorders that did
/// not close.
pub(crate) fn join(path: &Path, builder: &DatabaseBuilder) -> Result<Slot> {
    let key = canonical(path);
    let mut list = recorded();
    list.retain(|(_, weak)| weak.strong_count() > 0);
    let found = list
        .iter()
        .find(|(k, _)| k == &key)
        .and_then(|(_, weak)| weak.upgrade());
    let database = match found {
        Some(database) => database,
        None => {
            let db = if path.exists() {
                builder.open(path)?
            } else {
                builder.create(path)?
            };
            let database = Arc::new(RecordedDatabase {
                db: Arc::new(Mutex::new(db)),
                key: key.clone(),
                slots: Mutex::new(0),
            });
            list.push((key, Arc::downgrade(&database)));
            database
        }
    };
    drop(list);
    let mut slots = database.slots.lock().unwrap_or_else(PoisonError::into_inner);
    let slot = (0..MAX_JOURNALS)
        .find(|s| *slots & (1u32 << s) == 0)
        .ok_or_else(|| Error::InvalidArgument {
            argument: "database",
            reason: format!(
                "{} has {MAX_JOURNALS} recorders recording into it already, the most at once",
                path.display()
            ),
        })?;
    *slots |= 1u32 << slot;
    drop(slots);
    Ok(Slot { database, slot })
}
