//! The database file and its transactions (M13): creating and opening a
//! database, read transactions that see a consistent snapshot, and write
//! transactions that commit atomically and durably.

mod bus_map;
pub mod capture;
pub mod chunk_index;
pub mod pack;
mod regions;
mod registers;
pub mod retention;
#[cfg(test)]
mod tests;
pub mod timeline;
pub mod upgrade;
mod views;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::ReadableDatabase;

use crate::memory::{MemorySpace, MemorySpaceMut};
use crate::store::boundary::{Failable, guard, guard_in, guard_write};
use crate::store::cache::ChunkCache;
pub use crate::store::schema::TableUsage;
use crate::store::schema::{self, valid_block_size};
use crate::store::{ReadStore, StoreRead, TrackBuilders, WriteStore};
use crate::vocab::error::{Error, Result, StorageContext};
use crate::vocab::snaps::SnapMeta;
use crate::vocab::types::{Lifespan, Snap};

/// The default block size.
pub const DEFAULT_BLOCK_SIZE: u32 = 4096;

/// The default of [`DatabaseBuilder::image_cache_size`].
const DEFAULT_IMAGE_CACHE_BYTES: usize = 256 << 20;

/// A tracemem database: one file holding memory observations over time.
pub struct Database {
    /// `None` once closed.
    db: Option<Handle>,
    path: PathBuf,
    block_size: u32,
    max_chunk_deltas: usize,
    /// Packed chunks decoded for every reader.
    chunk_cache: Arc<ChunkCache>,
    /// The captures' track builders, kept across write transactions.
    track_builders: TrackBuilders,
    /// The settings it was opened with, to open it again after a failure.
    settings: DatabaseBuilder,
    /// Whether it lives in a file (`path`), not in a storage backend.
    on_file: bool,
    /// The chunk index its read transactions use, when one matches.
    chunk_index: chunk_index::IndexSlot,
}

/// The redb handle: writable, or read-only beside a writer in another process.
enum Handle {
    Writable(redb::Database),
    ReadOnly(redb::ReadOnlyDatabase),
}

impl Handle {
    fn begin_read(&self) -> std::result::Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Handle::Writable(db) => db.begin_read(),
            Handle::ReadOnly(db) => db.begin_read(),
        }
    }
}

/// Settings for creating or opening a [`Database`].
#[derive(Clone, Debug)]
pub struct DatabaseBuilder {
    block_size: u64,
    cache_size: Option<usize>,
    decoded_cache_size: usize,
    image_cache_size: usize,
    max_chunk_deltas: usize,
    verify_on_open: bool,
    shared: bool,
    chunk_index: bool,
}

impl Default for DatabaseBuilder {
    fn default() -> Self {
        DatabaseBuilder {
            block_size: u64::from(DEFAULT_BLOCK_SIZE),
            cache_size: None,
            decoded_cache_size: crate::store::cache::DEFAULT_CACHE_BYTES,
            image_cache_size: DEFAULT_IMAGE_CACHE_BYTES,
            max_chunk_deltas: crate::store::DEFAULT_MAX_CHUNK_DELTAS,
            verify_on_open: false,
            shared: false,
            chunk_index: true,
        }
    }
}

impl DatabaseBuilder {
    /// The block size of a new database: a power of two from 256 to 65536
    /// (default 4096). Ignored when opening: it is fixed at creation.
    pub fn block_size(&mut self, bytes: u64) -> &mut Self {
        self.block_size = bytes;
        self
    }

    /// The memory the storage engine may use as page cache (default: redb's).
    pub fn cache_size(&mut self, bytes: usize) -> &mut Self {
        self.cache_size = Some(bytes);
        self
    }

    /// The memory kept for decoded packed chunks, shared by every read of
    /// the database (default 256 MiB; 0 keeps none). Only a packed database
    /// (see [`pack`](crate::pack())) uses it: its chunks are compressed, and
    /// a point read served from this cache stays as fast as an unpacked one.
    pub fn decoded_cache_size(&mut self, bytes: usize) -> &mut Self {
        self.decoded_cache_size = bytes;
        self
    }

    /// The memory each read transaction may keep for the granule images its
    /// large reads and searches decode (default 256 MiB, taken only as
    /// reads decode images; 0 keeps none). A later large read or search in
    /// the same transaction, at any snap at which that memory had not
    /// changed since an image of it was decoded, reads the kept image
    /// instead of the file: about 340 bytes kept per 256 bytes of memory
    /// and image. Scrubbing memory that changes all along (a heap read at
    /// many snaps) keeps an image per change seen: W2's 1 MiB heap over
    /// 200,000 snaps takes about 150 MiB. A transaction that reads through
    /// the chunk index keeps none: there a granule decodes about as fast.
    pub fn image_cache_size(&mut self, bytes: usize) -> &mut Self {
        self.image_cache_size = bytes;
        self
    }

    /// Whether read transactions find chunks through the database's chunk
    /// index when one matches its state (default true; see
    /// [`Database::write_chunk_index`]). False reads the file's tables only.
    pub fn chunk_index(&mut self, use_it: bool) -> &mut Self {
        self.chunk_index = use_it;
        self
    }

    /// How many deltas a history chunk takes before a new one starts
    /// (default and most 64). A write-time policy, not part of the file
    /// format: tests set it low to exercise chunk boundaries with few writes.
    #[doc(hidden)]
    pub fn max_chunk_deltas(&mut self, deltas: usize) -> &mut Self {
        self.max_chunk_deltas = deltas.clamp(1, crate::store::DEFAULT_MAX_CHUNK_DELTAS);
        self
    }

    /// Verifies the checksum of every page when opening (default off). A
    /// file damaged at rest then fails to open with [`Error::Corrupt`]
    /// instead of being trusted. Costs a read of the whole file; use it for
    /// files of unknown provenance.
    pub fn verify_on_open(&mut self, verify: bool) -> &mut Self {
        self.verify_on_open = verify;
        self
    }

    /// Lets other processes open the database read-only while this one
    /// writes (R5): they see every commit. Commits then always fsync twice.
    /// Default off: the writer holds the file alone.
    pub fn shared(&mut self, shared: bool) -> &mut Self {
        self.shared = shared;
        self
    }

    /// Opens a database read-only, beside a writer in another process that
    /// opened it [`shared`](Self::shared): each read transaction sees the
    /// writer's latest commit. Never replays a journal, never writes.
    pub fn open_read_only(&self, path: impl AsRef<Path>) -> Result<Database> {
        let path = path.as_ref();
        require_file(path)?;
        let place = || path.display().to_string();
        let mut builder = self.redb();
        builder.set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
        // Rather than fail a live reader on a refusal at once (a writer that
        // is just starting or closing holds the file alone), retry for up to
        // a second.
        let mut attempts = 0;
        let db = loop {
            match guard(&place, || builder.open_read_only(path).map_err(|e| open_error(path, e))) {
                Err(Error::Busy { .. }) if attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other?,
            }
        };
        let block_size = guard(&place, || schema::validate(&db, path, false))?.block_size;
        // A journal that no recorder holds, with events the file lacks: the
        // recorder was killed, and only a writer's open replays them.
        for (slot, journal) in crate::journal::journal_files(path) {
            let mark = guard(&place, || schema::journal_mark(&db, slot))?;
            if crate::journal::Journal::abandoned(&journal, mark)? {
                return Err(Error::Unclean {
                    path: path.to_path_buf(),
                });
            }
        }
        Ok(Database {
            db: Some(Handle::ReadOnly(db)),
            path: path.to_path_buf(),
            block_size,
            max_chunk_deltas: self.max_chunk_deltas,
            chunk_cache: Arc::new(ChunkCache::new(self.decoded_cache_size, self.max_chunk_deltas)),
            track_builders: TrackBuilders::default(),
            settings: self.clone(),
            on_file: true,
            chunk_index: Default::default(),
        })
    }

    fn redb(&self) -> redb::Builder {
        let mut builder = redb::Builder::new();
        builder.set_check_integrity_on_open(self.verify_on_open);
        if self.shared {
            builder.set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
        }
        if let Some(bytes) = self.cache_size {
            builder.set_cache_size(bytes);
        }
        builder
    }

    /// Creates a new database at `path`; refuses an existing non-empty file.
    pub fn create(&self, path: impl AsRef<Path>) -> Result<Database> {
        let path = path.as_ref();
        if !valid_block_size(self.block_size) {
            return Err(Error::InvalidBlockSize { value: self.block_size });
        }
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the file exists; open it instead"),
            });
        }
        let db = self.redb().create(path).map_err(|e| open_error(path, e))?;
        self.initialize(db, path, true)
    }

    /// Writes the tables of a new database into `db`, just created empty.
    fn initialize(&self, db: redb::Database, path: &Path, on_file: bool) -> Result<Database> {
        let block_size = self.block_size as u32;
        let place = || path.display().to_string();
        guard(&place, || {
            let mut txn = db.begin_write().context("creating the database")?;
            txn.set_quick_repair(true);
            schema::initialize(&txn, block_size)?;
            txn.commit().context("creating the database")
        })?;
        Ok(Database {
            db: Some(Handle::Writable(db)),
            path: path.to_path_buf(),
            block_size,
            max_chunk_deltas: self.max_chunk_deltas,
            chunk_cache: Arc::new(ChunkCache::new(self.decoded_cache_size, self.max_chunk_deltas)),
            track_builders: TrackBuilders::default(),
            settings: self.clone(),
            on_file,
            chunk_index: Default::default(),
        })
    }

    /// Creates a new database in `backend`, a storage of the caller's in
    /// place of a file (redb's [`StorageBackend`](redb::StorageBackend):
    /// memory, or a test's storage that injects faults); it must be empty.
    /// `label` stands for the file name in error messages and
    /// [`Database::path`]. Such a database has no journal: use it with
    /// write transactions, not with a recorder, and not with [`pack`](crate::pack()).
    pub fn create_with_backend(&self, backend: impl redb::StorageBackend, label: &str) -> Result<Database> {
        let path = Path::new(label);
        if !valid_block_size(self.block_size) {
            return Err(Error::InvalidBlockSize { value: self.block_size });
        }
        let not_empty = backend.len().map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })? > 0;
        if not_empty {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the storage is not empty"),
            });
        }
        let place = || label.to_string();
        let db = guard(&place, || {
            self.redb()
                .create_with_backend(backend)
                .map_err(|e| open_error(path, e))
        })?;
        self.initialize(db, path, false)
    }

    /// Opens the database held in `backend` (see
    /// [`create_with_backend`](Self::create_with_backend)), checked as
    /// [`open`](Self::open) checks a file; an empty storage is not a
    /// database. There is no journal to replay.
    pub fn open_with_backend(&self, backend: impl redb::StorageBackend, label: &str) -> Result<Database> {
        let path = Path::new(label);
        let place = || label.to_string();
        let empty = backend.len().map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })? == 0;
        if empty {
            return Err(Error::NotADatabase {
                path: path.to_path_buf(),
                detail: "the storage is empty".into(),
            });
        }
        let (db, block_size) = guard(&place, || {
            let db = self
                .redb()
                .create_with_backend(backend)
                .map_err(|e| open_error(path, e))?;
            let found = schema::validate(&db, path, false)?;
            Ok((db, found.block_size))
        })?;
        Ok(Database {
            db: Some(Handle::Writable(db)),
            path: path.to_path_buf(),
            block_size,
            max_chunk_deltas: self.max_chunk_deltas,
            chunk_cache: Arc::new(ChunkCache::new(self.decoded_cache_size, self.max_chunk_deltas)),
            track_builders: TrackBuilders::default(),
            settings: self.clone(),
            on_file: false,
            chunk_index: Default::default(),
        })
    }

    /// Opens an existing database at `path`.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Database> {
        let path = path.as_ref();
        require_file(path)?;
        let (db, block_size) = self.open_file(path)?;
        let database = Database {
            db: Some(Handle::Writable(db)),
            path: path.to_path_buf(),
            block_size,
            max_chunk_deltas: self.max_chunk_deltas,
            chunk_cache: Arc::new(ChunkCache::new(self.decoded_cache_size, self.max_chunk_deltas)),
            track_builders: TrackBuilders::default(),
            settings: self.clone(),
            on_file: true,
            chunk_index: Default::default(),
        };
        database.recover_journal()?;
        Ok(database)
    }
}

impl DatabaseBuilder {
    /// Opens the storage of the database file at `path` and checks it. A
    /// file of an older format is refused with [`Error::OlderFormat`] (only
    /// [`upgrade::upgrade`] converts one).
    fn open_file(&self, path: &Path) -> Result<(redb::Database, u32)> {
        let place = || path.display().to_string();
        // redb writes its header when it opens a file for writing: refuse an
        // older format from a read-only look first, so that the file is left
        // byte for byte as it was.
        let probe = guard(&place, || {
            let db = self.redb().open_read_only(path).map_err(|e| open_error(path, e))?;
            schema::validate(&db, path, false).map(|_| ())
        });
        if let Err(e @ Error::OlderFormat { .. }) = probe {
            return Err(e);
        }
        guard(&place, || {
            let db = self.redb().open(path).map_err(|e| open_error(path, e))?;
            let found = schema::validate(&db, path, false)?;
            Ok((db, found.block_size))
        })
    }
}

/// An error naming `path` unless it exists.
fn require_file(path: &Path) -> Result<()> {
    std::fs::metadata(path).map(|_| ()).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Turns redb's refusal to open a file into an error naming the file.
fn open_error(path: &Path, error: redb::DatabaseError) -> Error {
    let path_buf = path.to_path_buf();
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::Busy { path: path_buf },
        // A read-only open of a file left unclean, which only a writer repairs.
        redb::DatabaseError::RepairAborted => Error::Unclean { path: path_buf },
        redb::DatabaseError::UpgradeRequired(version) => Error::NotADatabase {
            path: path_buf,
            detail: format!("a redb file of old format {version}"),
        },
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if source.kind() == std::io::ErrorKind::InvalidData =>
        {
            Error::NotADatabase {
                path: path_buf,
                detail: source.to_string(),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(source)) => Error::Io { path: path_buf, source },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail)) => Error::Corrupt {
            place: path.display().to_string(),
            detail,
        },
        other => Error::storage("opening the database", other),
    }
}

impl Database {
    /// Creates a new database with the default settings.
    pub fn create(path: impl AsRef<Path>) -> Result<Database> {
        DatabaseBuilder::default().create(path)
    }

    /// Opens an existing database with the default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        DatabaseBuilder::default().open(path)
    }

    /// Settings for creating or opening a database.
    pub fn builder() -> DatabaseBuilder {
        DatabaseBuilder::default()
    }

    /// Replays the journals of recorders that did not close (R4): every
    /// record past the database's mark of its journal, in one commit per
    /// journal (in slot order) that moves the mark.
    fn recover_journal(&self) -> Result<()> {
        for (slot, path) in crate::journal::journal_files(&self.path) {
            self.recover_journal_slot(slot, &path)?;
        }
        Ok(())
    }

    fn recover_journal_slot(&self, slot: u32, path: &Path) -> Result<()> {
        use crate::journal::entry::JournalEntry;
        let Ok(metadata) = std::fs::metadata(path) else {
            return Ok(());
        };
        let mut txn = self.begin_write()?;
        let mark = txn.journal_mark(slot)?;
        let capacity = metadata.len().max(crate::journal::MIN_CAPACITY);
        let (mut journal, records) = crate::journal::Journal::open(path, capacity, mark)?;
        let Some(last) = records.last().map(|r| r.seq) else {
            return txn.abort();
        };
        // Consecutive events of one capture replay as one batch; marks at
        // events go after every event, as the recorder's commits put them.
        let mut marks_at_events = Vec::new();
        let mut replayed = std::collections::BTreeSet::new();
        let mut batch: Option<(u32, u64, Vec<crate::vocab::trace::TraceEvent>)> = None;
        for record in records {
            let place = || format!("{}, record {}", path.display(), record.seq);
            let entry = JournalEntry::decode(&record.payload, &place)?;
            if let JournalEntry::Event { capture, seq, event } = entry {
                replayed.insert(capture);
                match &mut batch {
                    Some((c, first, events)) if *c == capture && *first + events.len() as u64 == seq => {
                        events.push(event);
                    }
                    _ => {
                        if let Some((c, first, events)) = batch.take() {
                            txn.append_replayed(c, first, &events)?;
                        }
                        batch = Some((capture, seq, vec![event]));
                    }
                }
                continue;
            }
            if let Some((c, first, events)) = batch.take() {
                txn.append_replayed(c, first, &events)?;
            }
            match entry {
                JournalEntry::Mark { snap, text } => txn.add_mark(snap, &text)?,
                JournalEntry::MarkAtEvent { capture, seq, text } => marks_at_events.push((capture, seq, text)),
                JournalEntry::Event { .. } => {}
            }
        }
        if let Some((c, first, events)) = batch.take() {
            txn.append_replayed(c, first, &events)?;
        }
        for (capture, seq, text) in marks_at_events {
            let name = txn.capture_name(capture)?;
            txn.add_mark_at_event(&name, seq, &text)?;
        }
        // The bounds the killed recorders recorded under hold after replay.
        for capture in replayed {
            txn.retain_stored(capture)?;
        }
        txn.set_journal_mark(slot, last)?;
        txn.commit()?;
        Ok(journal.folded(last)?)
    }

    /// Closes the storage and opens the file again, without replaying the
    /// journal (its owner, a recorder, does that itself): the way back to a
    /// working database after a failed write (a full disk, an I/O error),
    /// which leaves the storage engine refusing every later operation.
    /// Reading the file again also tells whether the failed commit landed.
    pub(crate) fn reopen(&mut self) -> Result<()> {
        let writable = self.on_file && matches!(self.db, Some(Handle::Writable(_)) | None);
        // The failed storage may fail to close as well: it is dropped anyway.
        let _ = self.close_inner();
        if !writable {
            return Err(Error::ReadOnly {
                path: self.path.clone(),
            });
        }
        let (db, block_size) = self.settings.open_file(&self.path)?;
        self.db = Some(Handle::Writable(db));
        self.block_size = block_size;
        Ok(())
    }

    fn handle(&self) -> Result<&Handle> {
        self.db.as_ref().ok_or_else(|| Error::Closed {
            what: "database",
            path: self.path.clone(),
        })
    }

    fn writable(&self) -> Result<&redb::Database> {
        match self.handle()? {
            Handle::Writable(db) => Ok(db),
            Handle::ReadOnly(_) => Err(Error::ReadOnly {
                path: self.path.clone(),
            }),
        }
    }

    /// How much of the file each table takes: entries, bytes of keys and
    /// values, and pages, per table (to see where the space goes).
    pub fn table_usage(&self) -> Result<Vec<TableUsage>> {
        let txn = self.redb_read()?;
        schema::table_usage(&txn)
    }

    /// A read transaction of the storage engine itself, for whole-file work.
    pub(crate) fn redb_read(&self) -> Result<redb::ReadTransaction> {
        self.handle()?.begin_read().context("reading the database")
    }

    /// Closes the database, reporting what its final write reports. Dropping
    /// it closes it too, silently.
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        let Some(db) = self.db.take() else {
            return Ok(());
        };
        let place = || self.path.display().to_string();
        guard(&place, || match db {
            Handle::Writable(db) => db.close().map_err(|e| Error::storage("closing the database", e)),
            Handle::ReadOnly(db) => db.close().map_err(|e| Error::storage("closing the database", e)),
        })
    }

    /// Checks the whole file: redb's page checksums and allocator (when the
    /// database is opened with [`DatabaseBuilder::verify_on_open`], at open),
    /// then every history chunk, change bucket and event chunk, and the
    /// chunk index against the chunks if one matches the state. Problems are
    /// listed in the report, naming where; an `Err` means the check itself
    /// could not run.
    pub fn check(&self) -> Result<crate::store::check::CheckReport> {
        let place = || self.path.display().to_string();
        guard(&place, || {
            let txn = self.handle()?.begin_read().context("checking")?;
            let mut report = crate::store::check::check(&txn)?;
            if self.on_file {
                report.problems.extend(self.chunk_index_differences(&txn)?);
            }
            Ok(report)
        })
    }

    /// The file of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The block size, fixed at creation.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Starts a read transaction: a consistent snapshot that later commits do
    /// not change. Any number may be open, and they never block the writer.
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        guard(&|| "begin_read".to_string(), || {
            let txn = self.handle()?.begin_read().context("starting a read transaction")?;
            let index_for = |stamp: [u8; 16]| match self.on_file && self.settings.chunk_index {
                true => self.chunk_index.index_for(&self.path, stamp),
                false => Ok(None),
            };
            let store = ReadStore::new(
                &txn,
                self.block_size,
                Arc::clone(&self.chunk_cache),
                self.settings.image_cache_size,
                &index_for,
            )?;
            Ok(ReadTransaction { _txn: txn, store })
        })
    }

    /// Starts a write transaction. One is open at a time; a second call waits
    /// for the first to commit or abort.
    pub fn begin_write(&self) -> Result<WriteTransaction> {
        guard(&|| "begin_write".to_string(), || {
            let mut txn = self.writable()?.begin_write().context("starting a write transaction")?;
            // Reopening after a crash then costs no walk over the whole file.
            txn.set_quick_repair(true);
            // Whatever it changes, the chunk index no longer matches once it
            // commits.
            {
                let mut meta = txn.open_table(schema::META).context("starting a write transaction")?;
                meta.remove(crate::store::chunk_index::META_CHUNK_INDEX)
                    .context("starting a write transaction")?;
            }
            Ok(WriteTransaction {
                store: WriteStore::new(
                    txn,
                    &self.path,
                    self.block_size,
                    self.max_chunk_deltas,
                    self.track_builders.clone(),
                ),
            })
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // redb's own close may assert on a damaged file: guarded, and ignored
        // here because a drop cannot report (`close` does).
        let _ = self.close_inner();
    }
}

/// A consistent, read-only snapshot of the database.
pub struct ReadTransaction {
    _txn: redb::ReadTransaction,
    pub(crate) store: ReadStore,
}

/// Operations shared by both kinds of transaction.
fn space_of(store: &dyn StoreRead, name: &str) -> Result<u32> {
    store
        .space_id(name)?
        .ok_or_else(|| Error::UnknownSpace { name: name.to_string() })
}

impl ReadTransaction {
    /// Whether this snapshot finds history chunks through the database's
    /// chunk index ([`Database::write_chunk_index`]): one was written for
    /// exactly this state, and the database was not opened with
    /// [`DatabaseBuilder::chunk_index`] false.
    pub fn uses_chunk_index(&self) -> bool {
        self.store.uses_chunk_index()
    }

    /// The space named `name`.
    pub fn space(&self, name: &str) -> Result<MemorySpace<'_>> {
        guard(&|| "space".to_string(), || {
            Ok(MemorySpace {
                store: &self.store,
                space: space_of(&self.store, name)?,
                name: name.to_string(),
            })
        })
    }

    /// The names of every space, in creation order.
    pub fn spaces(&self) -> Result<Vec<String>> {
        guard(&|| "spaces".to_string(), || {
            Ok(self.store.spaces()?.into_iter().map(|(_, name)| name).collect())
        })
    }

    /// The metadata of `snap`, if any was stored.
    pub fn snap_meta(&self, snap: Snap) -> Result<Option<SnapMeta>> {
        guard(&|| "snap_meta".to_string(), || self.store.snap_meta(snap))
    }

    /// The snaps of `lifespan` that carry metadata, in order.
    pub fn snaps_with_meta(&self, lifespan: Lifespan) -> Result<Vec<(Snap, SnapMeta)>> {
        guard(&|| "snaps_with_meta".to_string(), || {
            self.store.snap_metas(lifespan.min(), lifespan.max())
        })
    }
}

/// A write transaction: everything in it commits atomically, or nothing does.
/// Dropping it without [`WriteTransaction::commit`] aborts it.
pub struct WriteTransaction {
    pub(crate) store: WriteStore,
}

impl Failable for WriteTransaction {
    fn fail(&self, why: String) {
        self.store.fail(why);
    }

    fn failure(&self) -> Option<Error> {
        self.store.failure()
    }
}

impl WriteTransaction {
    /// The space named `name`, created if it does not exist yet. Names are
    /// non-empty UTF-8 of at most 1024 bytes.
    pub fn create_space(&mut self, name: &str) -> Result<MemorySpaceMut<'_>> {
        guard_write(self, &|| "create_space".to_string(), |this| {
            if name.is_empty() || name.len() > 1024 {
                return Err(Error::InvalidSpaceName {
                    name: name.to_string(),
                    reason: "names are 1 to 1024 bytes long",
                });
            }
            this.store.create_space(name)
        })
        .map(|space| MemorySpaceMut {
            store: &mut self.store,
            space,
            name: name.to_string(),
        })
    }

    /// The existing space named `name`.
    pub fn space(&mut self, name: &str) -> Result<MemorySpaceMut<'_>> {
        let space = guard_in(Some(&self.store), &|| "space".to_string(), || {
            space_of(&self.store, name)
        })?;
        Ok(MemorySpaceMut {
            store: &mut self.store,
            space,
            name: name.to_string(),
        })
    }

    /// The names of every space, in creation order.
    pub fn spaces(&self) -> Result<Vec<String>> {
        guard_in(Some(&self.store), &|| "spaces".to_string(), || {
            Ok(self.store.spaces()?.into_iter().map(|(_, name)| name).collect())
        })
    }

    /// Stores the metadata of `snap`, replacing any earlier.
    pub fn set_snap_meta(&mut self, snap: Snap, meta: &SnapMeta) -> Result<()> {
        guard_write(self, &|| "set_snap_meta".to_string(), |this| {
            this.store.set_snap_meta(snap, meta)
        })
    }

    /// The metadata of `snap`, including this transaction's writes.
    pub fn snap_meta(&self, snap: Snap) -> Result<Option<SnapMeta>> {
        guard_in(Some(&self.store), &|| "snap_meta".to_string(), || {
            self.store.snap_meta(snap)
        })
    }

    /// Commits every write durably: when this returns, they survive a crash
    /// of the process (and a power loss where the disk honours fsync).
    pub fn commit(self) -> Result<()> {
        if let Some(error) = self.store.failure() {
            return Err(error);
        }
        guard(&|| "commit".to_string(), || self.store.commit())
    }

    /// Discards every write of the transaction.
    pub fn abort(self) -> Result<()> {
        guard(&|| "abort".to_string(), || self.store.abort())
    }
}
