//! The chunk index of a database in a file (`<db>.chunk-index`): writing
//! it for the database's current state, and handing the matching one to
//! each read transaction (see `store::chunk_index` for the layout and the
//! stamp that ties it to one state).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Database, guard};
use crate::journal::random_u64;
use crate::store::chunk_index::{ChunkIndex, ChunkIndexReport, index_path, write_chunk_index};
use crate::vocab::error::{Error, Result, StorageContext};

/// The chunk index a database last mapped, shared by its read transactions.
#[derive(Default)]
pub(super) struct IndexSlot {
    mapped: Mutex<Option<Arc<ChunkIndex>>>,
}

impl IndexSlot {
    /// The index of the database at `db` under `stamp`: the one mapped, or
    /// the file mapped again if it is another; `None` if there is no file or
    /// its stamp is another (a stale or unfinished index is not used).
    pub fn index_for(&self, db: &std::path::Path, stamp: [u8; 16]) -> Result<Option<Arc<ChunkIndex>>> {
        let mut mapped = self.mapped.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = mapped.as_ref().filter(|i| i.stamp() == stamp) {
            return Ok(Some(Arc::clone(index)));
        }
        let index = ChunkIndex::open(&index_path(db))?
            .filter(|i| i.stamp() == stamp)
            .map(Arc::new);
        mapped.clone_from(&index);
        Ok(index)
    }

    /// Forgets the mapped index (a new one replaces it).
    pub fn clear(&self) {
        *self.mapped.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// What [`Database::write_chunk_index`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct IndexReport {
    /// Granules with history.
    pub granules: u64,
    /// History chunks copied into the index.
    pub chunks: u64,
    /// Stretch images made: 64 KiB of memory decoded as of a snap, for bulk
    /// reads (see FORMAT.md, "The chunk index").
    pub stretch_images: u64,
    /// Bytes of the index file.
    pub bytes: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// 16 random bytes (two draws of [`random_u64`]).
fn random_stamp() -> [u8; 16] {
    let bits = (u128::from(random_u64()) << 64) | u128::from(random_u64());
    bits.to_le_bytes()
}

impl Database {
    /// The differences between the chunk index the snapshot `txn` has a
    /// stamp for and its chunks (none without a matching index); a damaged
    /// index is one problem.
    pub(super) fn chunk_index_differences(&self, txn: &redb::ReadTransaction) -> Result<Vec<String>> {
        let meta = txn
            .open_table(crate::store::schema::META)
            .context("checking the chunk index")?;
        let Some(stamp) = crate::store::chunk_index::stamp_in(&meta)? else {
            return Ok(Vec::new());
        };
        let differences = ChunkIndex::open(&index_path(&self.path)).and_then(|index| match index {
            Some(index) if index.stamp() == stamp => index.differences(txn),
            _ => Ok(Vec::new()),
        });
        match differences {
            Err(e @ Error::Corrupt { .. }) => Ok(vec![e.to_string()]),
            other => other,
        }
    }

    /// Writes the chunk index of the database's current state beside its
    /// file (`<file>.chunk-index`), replacing any older one. Reads then find
    /// each history chunk in the mapped index instead of descending the
    /// file's B-tree, until the next write transaction commits (any commit
    /// leaves the index unused until it is written again). For a finished
    /// capture: `pack` output, or a recording once closed.
    ///
    /// It holds the write lock while it copies the chunks, so no commit
    /// comes between the chunks it copies and the stamp it records. A crash
    /// leaves the old index or none in use, never a half-written one.
    pub fn write_chunk_index(&self) -> Result<IndexReport> {
        guard(&|| "write_chunk_index".to_string(), || {
            if !self.on_file {
                return Err(Error::InvalidArgument {
                    argument: "database",
                    reason: "only a database in a file has a chunk index".into(),
                });
            }
            let started = Instant::now();
            let txn = self.writable()?.begin_write().context("starting a write transaction")?;
            let ChunkIndexReport {
                granules,
                chunks,
                stretch_images,
                bytes,
            } = write_chunk_index(&txn, &index_path(&self.path), random_stamp())?;
            self.chunk_index.clear();
            txn.commit().context("recording the chunk index")?;
            Ok(IndexReport {
                granules,
                chunks,
                stretch_images,
                bytes,
                seconds: started.elapsed().as_secs_f64(),
            })
        })
    }
}
