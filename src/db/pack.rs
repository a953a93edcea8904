//! Offline compaction (M14): [`pack`] rewrites a closed database into a new
//! file beside it — granule histories merged into fuller chunks, every other
//! record copied, the file compacted — and renames it over the original.
//! A crash at any moment leaves either the old file or the new one under
//! the database's name (the rename is atomic and both files are synced
//! first); either answers every query the same way.

use std::path::{Path, PathBuf};

use crate::db::Database;
use crate::vocab::error::{Error, Result, StorageContext};

/// The stage a running [`pack`] is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackPhase {
    /// Rewriting granule histories and copying the other tables.
    Rewriting,
    /// Compacting the new file.
    Compacting,
    /// Syncing the new file and renaming it over the old one.
    Replacing,
}

/// How far a [`pack`] has come, passed to its progress callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackProgress {
    /// The current stage.
    pub phase: PackPhase,
    /// History chunks of the old file rewritten so far.
    pub done: u64,
    /// History chunks in the old file.
    pub total: u64,
}

/// What a finished [`pack`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackReport {
    /// File size before, in bytes.
    pub bytes_before: u64,
    /// File size after, in bytes.
    pub bytes_after: u64,
    /// History chunks before.
    pub chunks_before: u64,
    /// History chunks after.
    pub chunks_after: u64,
}

/// The file a pack of `path` writes before renaming it over `path`.
pub fn packing_path(path: &Path) -> PathBuf {
    beside(path, ".packing")
}

/// `path` with `suffix` added to its name: the new file a rewrite writes.
pub(super) fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Packs the database at `path` into its most compact form without changing
/// the answer of any query. The database must not be open anywhere: a
/// recorder or another process holding it gets [`Error::Busy`], and nothing
/// is touched. A recorder's leftover journal is folded in first. On any
/// error (a full disk included) the database stays as it was and the
/// partial new file is removed.
pub fn pack(path: impl AsRef<Path>, progress: &mut dyn FnMut(PackProgress)) -> Result<PackReport> {
    let path = path.as_ref();
    let bytes_before = file_len(path)?;
    let source = Database::open(path)?;
    let block_size = source.block_size();
    let new_path = packing_path(path);
    // A pack killed earlier may have left its new file behind.
    match std::fs::remove_file(&new_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&new_path, e)),
    }
    let result = write_packed(&source, &new_path, progress);
    let rewritten = match result {
        Ok(rewritten) => rewritten,
        Err(e) => {
            let _ = std::fs::remove_file(&new_path);
            return Err(e);
        }
    };
    source.close()?;
    progress(PackProgress {
        phase: PackPhase::Replacing,
        done: rewritten.chunks_before,
        total: rewritten.chunks_before,
    });
    std::fs::rename(&new_path, path).map_err(|e| io(path, e))?;
    sync_dir(path)?;
    debug_assert!(block_size > 0);
    Ok(PackReport {
        bytes_before,
        bytes_after: file_len(path)?,
        chunks_before: rewritten.chunks_before,
        chunks_after: rewritten.chunks_after,
    })
}

/// Writes, compacts and syncs the new file.
fn write_packed(
    source: &Database,
    new_path: &Path,
    progress: &mut dyn FnMut(PackProgress),
) -> Result<crate::store::compact::Rewritten> {
    let mut target = redb::Database::create(new_path).context("packing: creating the new file")?;
    let read = source.redb_read()?;
    let mut write = target.begin_write().context("packing: starting the new file")?;
    write.set_quick_repair(true);
    let rewritten = crate::store::compact::rewrite(&read, &write, &mut |done, total| {
        progress(PackProgress {
            phase: PackPhase::Rewriting,
            done,
            total,
        })
    })?;
    write.commit().context("packing: committing the new file")?;
    drop(read);
    progress(PackProgress {
        phase: PackPhase::Compacting,
        done: rewritten.chunks_before,
        total: rewritten.chunks_before,
    });
    target.compact().context("packing: compacting the new file")?;
    drop(target);
    sync_file(new_path)?;
    Ok(rewritten)
}

/// Forces the file at `path` to the disk.
pub(super) fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(path, e))
}

pub(super) fn file_len(path: &Path) -> Result<u64> {
    std::fs::metadata(path).map(|m| m.len()).map_err(|e| io(path, e))
}

pub(super) fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a rename in `path`'s directory durable.
pub(super) fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}
