//! Converting a database of an older format to this build's: [`upgrade`]
//! writes the converted file beside the database and renames it over the
//! original, as [`pack`](crate::pack()) does, so a crash at any moment leaves
//! the old file or the new one under the database's name. No open converts
//! a file: readers and writers refuse an older one with
//! [`Error::OlderFormat`].

use std::path::{Path, PathBuf};

use redb::ReadableDatabase;

use crate::db::pack::{beside, file_len, io, sync_dir, sync_file};
use crate::db::{Database, DatabaseBuilder, open_error};
use crate::store::boundary::guard;
use crate::store::schema::{self, FORMAT_VERSION};
use crate::vocab::error::{Error, Result, StorageContext};

/// The page cache of each file during an upgrade (redb's default is 1 GiB
/// each): with the batches, what bounds an upgrade's memory.
const UPGRADE_CACHE_BYTES: usize = 64 << 20;

/// How far an [`upgrade`] has come, passed to its progress callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeProgress {
    /// History and event chunks converted so far.
    pub done: u64,
    /// History and event chunks in the old file.
    pub total: u64,
}

/// What a finished [`upgrade`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeReport {
    /// The format the file had.
    pub from: u32,
    /// The format it has now ([`FORMAT_VERSION`](crate::FORMAT_VERSION)).
    pub to: u32,
    /// Records written into the new file (none when `from == to`).
    pub records: u64,
    /// File size before, in bytes.
    pub bytes_before: u64,
    /// File size after, in bytes.
    pub bytes_after: u64,
}

/// The file an upgrade of `path` writes before renaming it over `path`.
pub fn upgrading_path(path: &Path) -> PathBuf {
    beside(path, ".upgrading")
}

/// Converts the database at `path` to this build's format, in memory
/// bounded whatever its size. A file already of this format is left as it
/// is. The database must not be open anywhere ([`Error::Busy`] otherwise,
/// nothing touched). A killed recorder's journal beside it is folded into
/// the new file once it is in place. On any error the database stays as it
/// was and the partial new file is removed.
pub fn upgrade(path: impl AsRef<Path>, progress: &mut dyn FnMut(UpgradeProgress)) -> Result<UpgradeReport> {
    let path = path.as_ref();
    let bytes_before = file_len(path)?;
    let place = || path.display().to_string();
    // Opened for writing at redb's level (a file left unclean is repaired;
    // no table of tracemem's is written), which also keeps every other
    // process out while the new file is written.
    let source = guard(&place, || {
        DatabaseBuilder::default()
            .cache_size(UPGRADE_CACHE_BYTES)
            .redb()
            .open(path)
            .map_err(|e| open_error(path, e))
    })?;
    let found = guard(&place, || schema::validate(&source, path, true))?;
    if found.format == FORMAT_VERSION {
        drop(source);
        return Ok(UpgradeReport {
            from: found.format,
            to: FORMAT_VERSION,
            records: 0,
            bytes_before,
            bytes_after: bytes_before,
        });
    }
    let new_path = upgrading_path(path);
    // An upgrade killed earlier may have left its new file behind.
    match std::fs::remove_file(&new_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&new_path, e)),
    }
    let written = guard(&place, || write_converted(&source, found.format, &new_path, progress));
    let records = match written {
        Ok(records) => records,
        Err(e) => {
            let _ = std::fs::remove_file(&new_path);
            return Err(e);
        }
    };
    drop(source);
    std::fs::rename(&new_path, path).map_err(|e| io(path, e))?;
    sync_dir(path)?;
    // A killed recorder's journal: its events go into the new file now.
    if !crate::journal::journal_files(path).is_empty() {
        Database::open(path)?.close()?;
    }
    Ok(UpgradeReport {
        from: found.format,
        to: FORMAT_VERSION,
        records,
        bytes_before,
        bytes_after: file_len(path)?,
    })
}

/// Writes the converted tables of `source` (of format `format`) into a new
/// file at `new_path`, synced; returns the records written.
fn write_converted(
    source: &redb::Database,
    format: u32,
    new_path: &Path,
    progress: &mut dyn FnMut(UpgradeProgress),
) -> Result<u64> {
    let mut target = redb::Builder::new()
        .set_cache_size(UPGRADE_CACHE_BYTES)
        .create(new_path)
        .context("upgrading: creating the new file")?;
    let read = source.begin_read().context("upgrading: reading the database")?;
    let records = crate::store::convert::convert(&read, format, &target, &mut |done, total| {
        progress(UpgradeProgress { done, total })
    })?;
    drop(read);
    // One synced commit makes every batch before it durable.
    let mut last = target.begin_write().context("upgrading: finishing the new file")?;
    last.set_durability(redb::Durability::Immediate)
        .map_err(|e| Error::storage("upgrading: finishing the new file", e))?;
    last.commit().context("upgrading: finishing the new file")?;
    target.compact().context("upgrading: compacting the new file")?;
    drop(target);
    sync_file(new_path)?;
    Ok(records)
}
