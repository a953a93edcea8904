//! The store of a write transaction: redb's tables under an overlay of the
//! chunks and change buckets edited so far, and the algorithm that edits a
//! granule's history.
//!
//! Edits land in the overlay (decoded, so appending to a granule's open chunk
//! costs no re-encoding); the overlay is written into redb's tables when it
//! grows large and at commit, within the same redb transaction, so a commit
//! stays atomic.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{ReadableTable, WriteTransaction};

use crate::store::boundary::Failable;
use crate::store::cache::DecodedChunk;
use crate::store::changes::{bucket_of, decode_bucket, stored_bucket};
use crate::store::chunk::{ByteAsOf, CheckpointRecord, ChunkRecord, ChunkView, Edit, MAX_CHUNK_DELTA_BYTES, Need};
use crate::store::events::{CaptureRecord, EventChunkRecord, capture_in, captures_in, event_chunks_in};
use crate::store::history::{
    LoadedChunk, StoreRead, checked_key, chunk_place, latest_fork_by_scan, read_granule, stored_edge_granule,
};
use crate::store::packed;
use crate::store::schema::{
    self, BUS_REGISTERS, CAPTURE_IDS, CAPTURES, CHANGES, CHUNKS, EVENT_TRACKS, EVENTS, META, META_REGISTER_SCOPE,
    REGIONS, REGISTER_MAP, SNAP_FORKS, SNAPS, SPACE_IDS, SPACE_NAMES, TRACK_GROUPS, TRACK_TAILS,
};
use crate::store::snaps;
use crate::store::tracks::{TrackBuilder, groups_in, track_in};
use crate::store::{busmap, regions, regmap};
use crate::vocab::error::{Error, Result, StorageContext};
use crate::vocab::register::RegisterScope;
use crate::vocab::snaps::SnapMeta;
use crate::vocab::types::{MemState, Snap, side_of};

mod append;
mod retention;
mod tracks;

pub(crate) use append::Observation;
pub use retention::RetentionReport;

/// A chunk takes new deltas at its end until it holds this many (by default)...
pub(crate) const DEFAULT_MAX_CHUNK_DELTAS: usize = 64;
/// ...or its deltas take this many bytes (or twice its checkpoint, if more).
const DELTA_BYTES: usize = 1536;
/// Overlay entries beyond which edits are written into redb's tables early.
const OVERLAY_LIMIT: usize = 4096;

type ChunkKey = (u32, u64, i64);

/// A write transaction's store.
pub(crate) struct WriteStore {
    txn: WriteTransaction,
    block_size: u32,
    max_deltas: usize,
    /// Edited chunks; `None` marks a deleted one.
    chunks: BTreeMap<ChunkKey, Option<ChunkRecord>>,
    /// Edited change buckets (an empty set deletes the bucket).
    changes: BTreeMap<(u32, i64), BTreeSet<(Snap, u64)>>,
    /// Space ids looked up or created in this transaction (spaces are never deleted).
    space_ids: HashMap<String, u32>,
    /// The spaces written by captures, loaded on first need.
    capture_spaces: Option<HashSet<u32>>,
    /// Per (space, granule, timeline side): the first snap of the granule's
    /// last chunk on that side (`None`: no chunk), as this transaction knows
    /// it — so appending needs no seek.
    tails: HashMap<(u32, u64, bool), Option<Snap>, foldhash::fast::FixedState>,
    /// The database file, for errors.
    path: PathBuf,
    /// The track builders of the database's captures, kept across
    /// transactions by its handle.
    track_builders: TrackBuilders,
    /// Whether the database keeps register tracks, once read.
    tracks_known: Option<bool>,
    /// Captures whose track tails this transaction changed.
    tails_dirty: BTreeSet<u32>,
    /// Whether the fork index is known to be there.
    forks_indexed: bool,
    /// Why redb failed in this transaction, if it did: it then takes no
    /// more writes and cannot be committed.
    failed: std::sync::OnceLock<String>,
}

/// The track builders of a database's captures, by capture id.
pub(crate) type TrackBuilders = Arc<Mutex<HashMap<u32, TrackBuilder>>>;

impl Failable for WriteStore {
    fn fail(&self, why: String) {
        let _ = self.failed.set(why);
    }

    fn failure(&self) -> Option<Error> {
        self.failed.get().map(|why| Error::TransactionFailed {
            path: self.path.clone(),
            reason: format!("the storage engine failed: {why}"),
        })
    }
}

fn is_full(view: &ChunkView<'_>, max_deltas: usize) -> bool {
    let checkpoint = view.checkpoint_len();
    view.delta_count() >= max_deltas || view.stored_len() - checkpoint >= DELTA_BYTES.max(2 * checkpoint)
}

/// A chunk grown by writes into its past splits in two past this.
fn is_oversized(view: &ChunkView<'_>, record: &ChunkRecord, max_deltas: usize) -> bool {
    let checkpoint = view.checkpoint_len();
    view.delta_count() >= 2
        && (view.delta_count() > 2 * max_deltas
            || view.stored_len() - checkpoint > 4 * DELTA_BYTES.max(2 * checkpoint)
            || record.delta_data_len() > MAX_CHUNK_DELTA_BYTES / 4)
}

impl WriteStore {
    pub fn new(
        txn: WriteTransaction,
        path: &Path,
        block_size: u32,
        max_deltas: usize,
        track_builders: TrackBuilders,
    ) -> WriteStore {
        WriteStore {
            path: path.to_path_buf(),
            track_builders,
            tracks_known: None,
            tails_dirty: BTreeSet::new(),
            forks_indexed: false,
            failed: std::sync::OnceLock::new(),
            txn,
            block_size,
            max_deltas,
            chunks: BTreeMap::new(),
            changes: BTreeMap::new(),
            space_ids: HashMap::new(),
            capture_spaces: None,
            tails: HashMap::default(),
        }
    }

    /// The id of `name`, creating the space if needed.
    pub fn create_space(&mut self, name: &str) -> Result<u32> {
        if let Some(id) = self.space_id(name)? {
            self.space_ids.insert(name.to_string(), id);
            return Ok(id);
        }
        let mut names = self.txn.open_table(SPACE_NAMES).context("creating a space")?;
        let id = match names.last().context("creating a space")? {
            Some((key, _)) => key.value().checked_add(1).ok_or_else(|| Error::InvalidSpaceName {
                name: name.to_string(),
                reason: "the database holds the most spaces it can",
            })?,
            None => 0,
        };
        names.insert(id, name).context("creating a space")?;
        drop(names);
        self.txn
            .open_table(SPACE_IDS)
            .context("creating a space")?
            .insert(name, id)
            .context("creating a space")?;
        self.space_ids.insert(name.to_string(), id);
        Ok(id)
    }

    /// Stores the metadata of `snap`.
    pub fn set_snap_meta(&mut self, snap: Snap, meta: &SnapMeta) -> Result<()> {
        self.ensure_fork_index()?;
        self.txn
            .open_table(SNAPS)
            .context("writing snap metadata")?
            .insert(snap, snaps::encode(meta)?.as_slice())
            .context("writing snap metadata")?;
        let mut forks = self.txn.open_table(SNAP_FORKS).context("writing the fork index")?;
        match meta.fork_parent(snap) {
            Some(parent) => drop(forks.insert(snap, parent).context("writing the fork index")?),
            None => drop(forks.remove(snap).context("writing the fork index")?),
        }
        Ok(())
    }

    /// Builds the fork index of a file written before it (once).
    fn ensure_fork_index(&mut self) -> Result<()> {
        if self.forks_indexed {
            return Ok(());
        }
        if !schema::has_write_table(&self.txn, redb::TableHandle::name(&SNAP_FORKS))? {
            let snaps = self.txn.open_table(SNAPS).context("indexing forks")?;
            let mut forks = self.txn.open_table(SNAP_FORKS).context("indexing forks")?;
            snaps::build_fork_index(&snaps, &mut forks)?;
        }
        self.forks_indexed = true;
        Ok(())
    }

    /// Stores a capture record, creating its name entry for a new id.
    pub fn put_capture(&mut self, id: u32, record: &CaptureRecord) -> Result<()> {
        self.txn
            .open_table(CAPTURE_IDS)
            .context("writing captures")?
            .insert(record.name.as_str(), id)
            .context("writing captures")?;
        self.txn
            .open_table(CAPTURES)
            .context("writing captures")?
            .insert(id, record.to_bytes()?.as_slice())
            .context("writing captures")?;
        self.capture_spaces = None;
        Ok(())
    }

    /// The id a new capture gets.
    pub fn next_capture_id(&self) -> Result<u32> {
        let table = self.txn.open_table(CAPTURES).context("reading captures")?;
        match table.last().context("reading captures")? {
            Some((key, _)) => key.value().checked_add(1).ok_or_else(|| Error::TooLarge {
                what: "the number of captures",
                len: u64::from(u32::MAX),
            }),
            None => Ok(0),
        }
    }

    /// Stores the register scope in the metadata.
    pub fn set_register_scope(&mut self, scope: RegisterScope) -> Result<()> {
        self.set_meta_value(META_REGISTER_SCOPE, &[scope.to_byte()])
    }

    /// Stores an event chunk: packed once it is full (appends never touch
    /// it again), unpacked while it is open.
    pub fn put_event_chunk(&mut self, capture: u32, first_seq: u64, chunk: &EventChunkRecord) -> Result<()> {
        let bytes = chunk.to_stored(packed::WRITE_LEVEL)?;
        self.txn
            .open_table(EVENTS)
            .context("writing events")?
            .insert((capture, first_seq), bytes.as_slice())
            .context("writing events")?;
        Ok(())
    }

    /// The folded-through mark of the journal of slot `slot` (0 if never set).
    pub fn journal_mark(&self, slot: u32) -> Result<u64> {
        let table = self.txn.open_table(META).context("reading metadata")?;
        let key = schema::journal_mark_key(slot);
        let value = table.get(key.as_str()).context("reading metadata")?;
        schema::decode_journal_mark(&key, value.as_ref().map(|v| v.value()))
    }

    /// Stores the folded-through mark of the journal of slot `slot`, in this
    /// transaction.
    pub fn set_journal_mark(&mut self, slot: u32, mark: u64) -> Result<()> {
        self.txn
            .open_table(META)
            .context("writing metadata")?
            .insert(schema::journal_mark_key(slot).as_str(), mark.to_le_bytes().as_slice())
            .context("writing metadata")?;
        Ok(())
    }

    /// The bytes of the pages redb has allocated in the file (what a
    /// retention bound by size counts).
    pub fn allocated_bytes(&self) -> Result<u64> {
        let stats = self.txn.stats().context("reading the storage statistics")?;
        Ok(stats.allocated_pages() * stats.page_size() as u64)
    }

    /// Stores `value` under `key` in the `meta` table.
    pub fn set_meta_value(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.txn
            .open_table(META)
            .context("writing metadata")?
            .insert(key, value)
            .context("writing metadata")?;
        Ok(())
    }

    /// Replaces the whole register map with `records` (name, record).
    pub fn replace_register_records(&mut self, records: &[(String, Vec<u8>)]) -> Result<()> {
        let mut table = self.txn.open_table(REGISTER_MAP).context("writing the register map")?;
        table.retain(|_, _| false).context("writing the register map")?;
        for (name, record) in records {
            table
                .insert(name.as_str(), record.as_slice())
                .context("writing the register map")?;
        }
        Ok(())
    }

    /// Replaces the bus register map of `space` with `records` (address, record).
    pub fn replace_bus_register_records(&mut self, space: u32, records: &[(u64, Vec<u8>)]) -> Result<()> {
        const WHAT: &str = "writing the bus register map";
        let mut table = self.txn.open_table(BUS_REGISTERS).context(WHAT)?;
        table.retain(|(s, _), _| s != space).context(WHAT)?;
        for (address, record) in records {
            table.insert((space, *address), record.as_slice()).context(WHAT)?;
        }
        Ok(())
    }

    /// Stores the record of region `name` of `space` starting at `first`.
    pub fn put_region_record(&mut self, space: u32, name: &str, first: Snap, record: &[u8]) -> Result<()> {
        self.txn
            .open_table(REGIONS)
            .context("writing regions")?
            .insert((space, name, first), record)
            .context("writing regions")?;
        Ok(())
    }

    /// Deletes the record of region `name` of `space` starting at `first`.
    pub fn delete_region_record(&mut self, space: u32, name: &str, first: Snap) -> Result<()> {
        self.txn
            .open_table(REGIONS)
            .context("writing regions")?
            .remove((space, name, first))
            .context("writing regions")?;
        Ok(())
    }

    /// Whether `space` is written by a capture (and so by its recorder only).
    pub fn is_capture_space(&mut self, space: u32) -> Result<bool> {
        if self.capture_spaces.is_none() {
            let mut ids = HashSet::new();
            for (_, capture) in self.captures()? {
                if let Some(id) = self.space_id(&capture.space)? {
                    ids.insert(id);
                }
            }
            self.capture_spaces = Some(ids);
        }
        Ok(self.capture_spaces.as_ref().is_some_and(|ids| ids.contains(&space)))
    }

    /// Writes the overlay into redb and commits durably.
    pub fn commit(mut self) -> Result<()> {
        self.flush_overlay()?;
        self.store_track_tails()?;
        self.txn.commit().context("committing")
    }

    /// Discards every edit.
    pub fn abort(self) -> Result<()> {
        self.txn.abort().context("aborting")
    }

    fn flush_overlay(&mut self) -> Result<()> {
        let mut table = self.txn.open_table(CHUNKS).context("writing chunks")?;
        for (key, chunk) in std::mem::take(&mut self.chunks) {
            match chunk {
                Some(record) => {
                    table
                        .insert(key, record.to_bytes()?.as_slice())
                        .context("writing chunks")?;
                }
                None => {
                    table.remove(key).context("writing chunks")?;
                }
            }
        }
        drop(table);
        let mut table = self.txn.open_table(CHANGES).context("writing changes")?;
        for ((space, bucket), entries) in std::mem::take(&mut self.changes) {
            if entries.is_empty() {
                table.remove((space, bucket)).context("writing changes")?;
            } else {
                table
                    .insert(
                        (space, bucket),
                        stored_bucket(bucket, &entries, packed::WRITE_LEVEL)?.as_slice(),
                    )
                    .context("writing changes")?;
            }
        }
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.chunks.len() > OVERLAY_LIMIT || self.changes.len() > OVERLAY_LIMIT {
            self.flush_overlay()?;
        }
        Ok(())
    }

    /// The first snap of the chunk a lookup finds, from overlay or table.
    fn find_chunk(&self, space: u32, granule: u64, lo: Snap, hi: Snap, backward: bool) -> Result<Option<Snap>> {
        let bounds = (space, granule, lo)..=(space, granule, hi);
        let overlay = if backward {
            self.chunks.range(bounds.clone()).rev().find(|(_, c)| c.is_some())
        } else {
            self.chunks.range(bounds.clone()).find(|(_, c)| c.is_some())
        }
        .map(|(k, _)| k.2);
        let table = self.txn.open_table(CHUNKS).context("seeking a chunk")?;
        let range = table.range(bounds).context("seeking a chunk")?;
        let mut stored = None;
        let mut visit = |entry: redb::Result<(
            redb::AccessGuard<'_, schema::ChunkKey>,
            redb::AccessGuard<'_, &[u8]>,
        )>|
         -> Result<bool> {
            let key = checked_key(
                entry.context("seeking a chunk")?.0.value(),
                (space, granule, lo),
                (space, granule, hi),
            )?;
            // The overlay wins over the table for a key both hold, and a
            // found overlay chunk beats any stored one past it.
            if let Some(o) = overlay
                && (if backward { key.2 <= o } else { key.2 >= o })
            {
                return Ok(true);
            }
            if self.chunks.contains_key(&key) {
                return Ok(false);
            }
            stored = Some(key.2);
            Ok(true)
        };
        if backward {
            for entry in range.rev() {
                if visit(entry)? {
                    break;
                }
            }
        } else {
            for entry in range {
                if visit(entry)? {
                    break;
                }
            }
        }
        Ok(match (overlay, stored) {
            (Some(o), Some(s)) => Some(if backward { o.max(s) } else { o.min(s) }),
            (o, s) => o.or(s),
        })
    }

    fn load_chunk(&self, space: u32, granule: u64, first: Snap) -> Result<LoadedChunk<'_>> {
        let key = (space, granule, first);
        if let Some(entry) = self.chunks.get(&key) {
            return entry
                .as_ref()
                .map(LoadedChunk::Owned)
                .ok_or_else(|| Error::corrupt(chunk_place(space, granule, first)(), "chunk vanished"));
        }
        with_stored_chunk(&self.txn, key, |bytes| {
            if packed::is_packed(bytes) {
                let record = ChunkRecord::from_stored_at(bytes, first, &chunk_place(space, granule, first))?;
                return Ok(LoadedChunk::Decoded(Arc::new(DecodedChunk::whole(record)), 0));
            }
            Ok(LoadedChunk::Copied(bytes.to_vec()))
        })
    }

    /// The chunk as an owned record (a copy; the overlay is not touched).
    fn owned_chunk(&self, space: u32, granule: u64, first: Snap) -> Result<ChunkRecord> {
        let place = chunk_place(space, granule, first);
        match self.load_chunk(space, granule, first)? {
            LoadedChunk::Owned(record) => Ok(record.clone()),
            LoadedChunk::Decoded(chunk, _) => Ok(chunk.record().clone()),
            LoadedChunk::Stored(guard) => ChunkRecord::from_stored_at(guard.value(), first, &place),
            LoadedChunk::Copied(bytes) => ChunkRecord::from_stored_at(&bytes, first, &place),
            LoadedChunk::InPlace(bytes) | LoadedChunk::Indexed(bytes, _) => {
                ChunkRecord::from_stored_at(bytes, first, &place)
            }
        }
    }

    /// The chunk, moved into the overlay for editing (one lookup when it
    /// is there already).
    fn chunk_mut(&mut self, space: u32, granule: u64, first: Snap) -> Result<&mut ChunkRecord> {
        let key = (space, granule, first);
        let vanished = || Error::corrupt(chunk_place(space, granule, first)(), "chunk vanished");
        match self.chunks.entry(key) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut().as_mut().ok_or_else(vanished),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let record = stored_chunk(&self.txn, key)?;
                entry.insert(Some(record)).as_mut().ok_or_else(vanished)
            }
        }
    }

    /// An append of `edit` at snap `p` to the granule's last chunk, when
    /// that is all the edit takes: the chunk is in the overlay, `p` is past
    /// its last delta and it has room. The recorder's every event; the
    /// general path ([`WriteStore::apply_edit`]) does the same in more
    /// steps. Returns whether it applied the edit.
    fn try_append(&mut self, space: u32, granule: u64, p: Snap, edit: &Edit) -> Result<bool> {
        if matches!(edit, Edit::Remove { .. }) {
            return Ok(false);
        }
        let Some(Some(tail)) = self.tails.get(&(space, granule, p >= 0)).copied() else {
            return Ok(false);
        };
        let max_deltas = self.max_deltas;
        let Some(Some(record)) = self.chunks.get_mut(&(space, granule, tail)) else {
            return Ok(false);
        };
        let view = record.view();
        if tail > p
            || view.last_snap().is_none_or(|last| p <= last)
            || is_full(&view, max_deltas)
            || !record.can_hold(p)
        {
            return Ok(false);
        }
        let mut runs = Vec::new();
        edit.apply_to(&mut runs);
        if runs.is_empty() {
            return Ok(false);
        }
        record.push_delta(p, &runs);
        let oversized = is_oversized(&record.view(), record, max_deltas);
        self.note_change(space, p, granule, true)?;
        if oversized {
            self.split(space, granule, tail)?;
        }
        self.maybe_flush()?;
        Ok(true)
    }

    fn put_chunk(&mut self, space: u32, granule: u64, record: ChunkRecord) {
        let first = record.first_snap;
        if let Some(tail) = self.tails.get_mut(&(space, granule, first >= 0))
            && tail.is_none_or(|t| t < first)
        {
            *tail = Some(first);
        }
        self.chunks.insert((space, granule, first), Some(record));
    }

    fn delete_chunk(&mut self, space: u32, granule: u64, first: Snap) {
        self.chunks.insert((space, granule, first), None);
        self.tails.remove(&(space, granule, first >= 0));
    }

    /// Whether no chunk of the granule starts after `p` (so an edit at `p`
    /// has no later checkpoint to patch), as far as the cached tail tells.
    fn nothing_after(&self, space: u32, granule: u64, p: Snap) -> bool {
        matches!(self.tails.get(&(space, granule, p >= 0)), Some(None))
            || matches!(self.tails.get(&(space, granule, p >= 0)), Some(Some(t)) if *t <= p)
    }

    /// The first snap of the chunk holding `p`: from the cached tail when `p`
    /// is at or past it (an append), else by a seek.
    fn host_chunk(&mut self, space: u32, granule: u64, p: Snap) -> Result<Option<Snap>> {
        match self.tail(space, granule, p)? {
            None => Ok(None),
            Some(t) if t <= p => Ok(Some(t)),
            Some(_) => self.find_chunk(space, granule, side_of(p).0, p, true),
        }
    }

    /// The first snap of the granule's last chunk on `p`'s side (`None`:
    /// it has none there), sought once per transaction and then kept.
    fn tail(&mut self, space: u32, granule: u64, p: Snap) -> Result<Option<Snap>> {
        let key = (space, granule, p >= 0);
        if let Some(tail) = self.tails.get(&key) {
            return Ok(*tail);
        }
        let (side_lo, side_hi) = side_of(p);
        let tail = self.find_chunk(space, granule, side_lo, side_hi, true)?;
        self.tails.insert(key, tail);
        Ok(tail)
    }

    fn change_bucket(&mut self, space: u32, bucket: i64) -> Result<&mut BTreeSet<(Snap, u64)>> {
        match self.changes.entry((space, bucket)) {
            std::collections::btree_map::Entry::Occupied(entry) => Ok(entry.into_mut()),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let table = self.txn.open_table(CHANGES).context("reading changes")?;
                let entries = match table.get((space, bucket)).context("reading changes")? {
                    Some(bytes) => {
                        let place = || format!("changes table, space {space}, bucket {bucket}");
                        decode_bucket(bucket, bytes.value(), &place)?
                    }
                    None => BTreeSet::new(),
                };
                Ok(entry.insert(entries))
            }
        }
    }

    fn note_change(&mut self, space: u32, snap: Snap, granule: u64, present: bool) -> Result<()> {
        let bucket = self.change_bucket(space, bucket_of(snap))?;
        if present {
            bucket.insert((snap, granule));
        } else {
            bucket.remove(&(snap, granule));
        }
        Ok(())
    }

    /// Applies `edit` to the records of `granule` at snap `p`, keeping every
    /// later checkpoint of the granule's history true.
    pub fn apply_edit(&mut self, space: u32, granule: u64, p: Snap, edit: &Edit) -> Result<()> {
        if self.try_append(space, granule, p, edit)? {
            return Ok(());
        }
        let max_deltas = self.max_deltas;
        let (side_lo, side_hi) = side_of(p);
        let removing = matches!(edit, Edit::Remove { .. });

        // 1. The chunk that holds (or will hold) the records at p.
        let host = match self.host_chunk(space, granule, p)? {
            None => {
                if removing {
                    return Ok(());
                }
                self.put_chunk(space, granule, ChunkRecord::new(p, CheckpointRecord::default()));
                p
            }
            Some(first) => {
                let place = chunk_place(space, granule, first);
                let record = self.chunk_mut(space, granule, first)?;
                let view = record.view();
                let appending = view.last_snap().is_none_or(|last| p > last);
                if appending && (is_full(&view, max_deltas) || !record.can_hold(p)) {
                    if removing {
                        return Ok(());
                    }
                    let image = view.image(p - 1, &place)?;
                    let checkpoint = CheckpointRecord::from_image(&image);
                    self.put_chunk(space, granule, ChunkRecord::new(p, checkpoint));
                    p
                } else {
                    first
                }
            }
        };

        // 2. Edit the delta at p.
        let place = chunk_place(space, granule, host);
        let record = self.chunk_mut(space, granule, host)?;
        let view = record.view();
        let through = view.deltas_through(p);
        let exists = through > 0 && view.delta_snap(through - 1) == p;
        let index = if exists { through - 1 } else { through };
        let mut tail = view.owned_deltas(index, &place)?;
        let mut runs = if exists { tail.remove(0).runs } else { Vec::new() };
        if !exists && removing {
            // Nothing recorded at p: the history is unchanged.
            return Ok(());
        }
        edit.apply_to(&mut runs);
        record.truncate_deltas(index);
        if !runs.is_empty() {
            record.push_delta(p, &runs);
        }
        for delta in &tail {
            record.push_delta(delta.snap, &delta.runs);
        }
        let has_records = !runs.is_empty();
        let oversized = record.delta_count() > 0 && is_oversized(&record.view(), record, max_deltas);
        if record.delta_count() == 0 {
            // A chunk without deltas says nothing its predecessor does not.
            self.delete_chunk(space, granule, host);
        }
        self.note_change(space, p, granule, has_records)?;

        // 3. Patch the checkpoints of later chunks that still show the bytes.
        if !self.nothing_after(space, granule, p) {
            self.patch_later(space, granule, p, side_lo, side_hi, edit)?;
        }
        // 4. Split the host only now: a split's new checkpoint already shows
        // the edit, and patching stops at the first checkpoint that does.
        if oversized {
            self.split(space, granule, host)?;
        }
        self.maybe_flush()
    }

    fn split(&mut self, space: u32, granule: u64, first: Snap) -> Result<()> {
        let place = chunk_place(space, granule, first);
        let record = self.chunk_mut(space, granule, first)?;
        let view = record.view();
        let mid = view.delta_count() / 2;
        let at = view.delta_snap(mid);
        let image = view.image(at - 1, &place)?;
        let tail = view.owned_deltas(mid, &place)?;
        record.truncate_deltas(mid);
        let mut second = ChunkRecord::new(at, CheckpointRecord::from_image(&image));
        for delta in &tail {
            second.push_delta(delta.snap, &delta.runs);
        }
        self.put_chunk(space, granule, second);
        Ok(())
    }

    fn patch_later(
        &mut self,
        space: u32,
        granule: u64,
        p: Snap,
        side_lo: Snap,
        side_hi: Snap,
        edit: &Edit,
    ) -> Result<()> {
        let lo = edit.first();
        let n = (edit.last() - lo + 1) as usize;
        let mut known_active = vec![true; n];
        let mut record_active = vec![true; n];
        let mut fallback: Option<Vec<ByteAsOf>> = None;
        let mut after = p;
        while after < side_hi && known_active.iter().chain(&record_active).any(|&a| a) {
            let Some(next) = self.find_chunk(space, granule, after + 1, side_hi, false)? else {
                break;
            };
            after = next;
            if fallback.is_none() && !matches!(edit, Edit::Put { .. }) {
                // What the bytes held before p, for records that p's removal uncovers.
                let mut before = vec![ByteAsOf::default(); n];
                if p > side_lo {
                    read_granule(self, space, granule, p - 1, lo, &mut before, Need::BOTH)?;
                }
                fallback = Some(before);
            }
            let place = chunk_place(space, granule, next);
            let mut record = self.owned_chunk(space, granule, next)?;
            let mut image = record.view().checkpoint(&place)?.to_image(&place)?;
            let mut changed = false;
            for k in 0..n {
                let x = &mut image[lo as usize + k];
                let before = fallback.as_ref().map(|f| f[k]).unwrap_or_default();
                if known_active[k] {
                    let applies = match edit {
                        Edit::Put { data, .. } => {
                            let applies = x.known.is_none_or(|s| s <= p);
                            if applies {
                                x.value = data[k];
                                x.known = Some(p);
                            }
                            applies
                        }
                        Edit::Error { .. } | Edit::Remove { .. } => {
                            let applies = x.known == Some(p);
                            if applies {
                                x.value = before.value;
                                x.known = before.known;
                            }
                            applies
                        }
                    };
                    changed |= applies;
                    known_active[k] = applies;
                }
                if record_active[k] {
                    let applies = match edit {
                        Edit::Put { .. } | Edit::Error { .. } => {
                            let applies = x.record.is_none_or(|(_, s)| s <= p);
                            if applies {
                                let state = if matches!(edit, Edit::Put { .. }) {
                                    MemState::Known
                                } else {
                                    MemState::Error
                                };
                                x.record = Some((state, p));
                            }
                            applies
                        }
                        Edit::Remove { .. } => {
                            let applies = x.record.is_some_and(|(_, s)| s == p);
                            if applies {
                                x.record = before.record;
                            }
                            applies
                        }
                    };
                    changed |= applies;
                    record_active[k] = applies;
                }
            }
            if changed {
                record.checkpoint = CheckpointRecord::from_image(&image);
                self.put_chunk(space, granule, record);
            }
        }
        Ok(())
    }
}

/// The stored chunk under `key`, decoded (unpacked or packed) and checked.
fn stored_chunk(txn: &WriteTransaction, key: ChunkKey) -> Result<ChunkRecord> {
    with_stored_chunk(txn, key, |bytes| {
        ChunkRecord::from_stored_at(bytes, key.2, &chunk_place(key.0, key.1, key.2))
    })
}

/// Calls `f` with the stored value of the chunk under `key`.
fn with_stored_chunk<R>(txn: &WriteTransaction, key: ChunkKey, f: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
    let table = txn.open_table(CHUNKS).context("reading a chunk")?;
    let value = table
        .get(key)
        .context("reading a chunk")?
        .ok_or_else(|| Error::corrupt(chunk_place(key.0, key.1, key.2)(), "chunk vanished"))?;
    f(value.value())
}

impl StoreRead for WriteStore {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn chunk_at_or_before(
        &self,
        space: u32,
        granule: u64,
        lo: Snap,
        hi: Snap,
    ) -> Result<Option<(Snap, LoadedChunk<'_>)>> {
        match self.find_chunk(space, granule, lo, hi, true)? {
            Some(first) => Ok(Some((first, self.load_chunk(space, granule, first)?))),
            None => Ok(None),
        }
    }

    fn edge_granule(&self, space: u32, from: u64, to: u64, last: bool) -> Result<Option<u64>> {
        if from > to {
            return Ok(None);
        }
        let bounds = (space, from, i64::MIN)..=(space, to, i64::MAX);
        let mut overlay = self.chunks.range(bounds.clone()).filter(|(_, c)| c.is_some());
        let overlay = if last { overlay.next_back() } else { overlay.next() }.map(|(k, _)| k.1);
        let table = self.txn.open_table(CHUNKS).context("seeking a granule")?;
        let stored = stored_edge_granule(&table, space, from, to, last)?;
        Ok(match (overlay, stored) {
            (Some(a), Some(b)) => Some(if last { a.max(b) } else { a.min(b) }),
            (a, b) => a.or(b),
        })
    }

    fn for_each_change(
        &self,
        space: u32,
        lo: Snap,
        hi: Snap,
        f: &mut dyn FnMut(Snap, u64) -> Result<()>,
    ) -> Result<()> {
        let buckets = (space, bucket_of(lo))..=(space, bucket_of(hi));
        let table = self.txn.open_table(CHANGES).context("reading changes")?;
        let mut keys: BTreeSet<i64> = self.changes.range(buckets.clone()).map(|(k, _)| k.1).collect();
        for entry in table.range(buckets).context("reading changes")? {
            keys.insert(entry.context("reading changes")?.0.value().1);
        }
        for bucket in keys {
            let decoded;
            let entries = match self.changes.get(&(space, bucket)) {
                Some(entries) => entries,
                None => {
                    let place = || format!("changes table, space {space}, bucket {bucket}");
                    let bytes = table
                        .get((space, bucket))
                        .context("reading changes")?
                        .ok_or_else(|| Error::corrupt(place(), "bucket vanished"))?;
                    decoded = decode_bucket(bucket, bytes.value(), &place)?;
                    &decoded
                }
            };
            for &(snap, granule) in entries.range((lo, 0)..=(hi, u64::MAX)) {
                f(snap, granule)?;
            }
        }
        Ok(())
    }

    fn space_id(&self, name: &str) -> Result<Option<u32>> {
        if let Some(&id) = self.space_ids.get(name) {
            return Ok(Some(id));
        }
        let table = self.txn.open_table(SPACE_IDS).context("reading spaces")?;
        Ok(table.get(name).context("reading spaces")?.map(|v| v.value()))
    }

    fn spaces(&self) -> Result<Vec<(u32, String)>> {
        let table = self.txn.open_table(SPACE_NAMES).context("reading spaces")?;
        schema::list_spaces(&table)
    }

    fn capture(&self, name: &str) -> Result<Option<(u32, CaptureRecord)>> {
        let ids = self.txn.open_table(CAPTURE_IDS).context("reading captures")?;
        let captures = self.txn.open_table(CAPTURES).context("reading captures")?;
        capture_in(&ids, &captures, name)
    }

    fn captures(&self) -> Result<Vec<(u32, CaptureRecord)>> {
        captures_in(&self.txn.open_table(CAPTURES).context("reading captures")?)
    }

    fn event_chunks(
        &self,
        capture: u32,
        from_seq: u64,
        f: &mut dyn FnMut(u64, EventChunkRecord) -> Result<bool>,
    ) -> Result<()> {
        event_chunks_in(
            &self.txn.open_table(EVENTS).context("reading events")?,
            capture,
            from_seq,
            f,
        )
    }

    fn address_track(
        &self,
        capture: u32,
        address: u64,
        group: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<bool> {
        track_in(
            &self.txn.open_table(EVENT_TRACKS).context("reading event tracks")?,
            capture,
            address,
            group,
            f,
        )
    }

    fn track_tail(&self, capture: u32, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool> {
        let table = self.txn.open_table(TRACK_TAILS).context("reading track tails")?;
        match table.get(capture).context("reading track tails")? {
            Some(value) => f(value.value()).map(|()| true),
            None => Ok(false),
        }
    }

    fn tracked_groups(&self, capture: u32) -> Result<Vec<u64>> {
        groups_in(
            &self.txn.open_table(TRACK_GROUPS).context("reading track groups")?,
            capture,
        )
    }

    fn last_timeline_change(&self, space: u32) -> Result<Option<Snap>> {
        // The last bucket with a change, overlay or table, from the end: one
        // bucket decoded, not every one.
        let buckets = (space, 0)..=(space, i64::MAX);
        let overlaid = self
            .changes
            .range(buckets.clone())
            .rev()
            .find(|(_, entries)| !entries.is_empty())
            .map(|((_, bucket), entries)| (*bucket, entries.last().map(|e| e.0)));
        let table = self.txn.open_table(CHANGES).context("reading changes")?;
        for entry in table.range(buckets).context("reading changes")?.rev() {
            let (key, bytes) = entry.context("reading changes")?;
            let bucket = key.value().1;
            if overlaid.is_some_and(|(b, _)| b >= bucket) {
                break;
            }
            if self.changes.contains_key(&(space, bucket)) {
                // Emptied in this transaction.
                continue;
            }
            let place = || format!("changes table, space {space}, bucket {bucket}");
            return Ok(decode_bucket(bucket, bytes.value(), &place)?.last().map(|e| e.0));
        }
        Ok(overlaid.and_then(|(_, last)| last))
    }

    fn snap_meta(&self, snap: Snap) -> Result<Option<SnapMeta>> {
        let table = self.txn.open_table(SNAPS).context("reading snap metadata")?;
        match table.get(snap).context("reading snap metadata")? {
            Some(bytes) => Ok(Some(snaps::decode(snap, bytes.value())?)),
            None => Ok(None),
        }
    }

    fn snap_metas(&self, lo: Snap, hi: Snap) -> Result<Vec<(Snap, SnapMeta)>> {
        let table = self.txn.open_table(SNAPS).context("reading snap metadata")?;
        let mut out = Vec::new();
        for entry in table.range(lo..=hi).context("reading snap metadata")? {
            let (key, value) = entry.context("reading snap metadata")?;
            out.push((key.value(), snaps::decode(key.value(), value.value())?));
        }
        Ok(out)
    }

    fn snap_metas_rev(&self, lo: Snap, hi: Snap, f: &mut dyn FnMut(Snap, SnapMeta) -> Result<bool>) -> Result<()> {
        let table = self.txn.open_table(SNAPS).context("reading snap metadata")?;
        for entry in table.range(lo..=hi).context("reading snap metadata")?.rev() {
            let (key, value) = entry.context("reading snap metadata")?;
            if !f(key.value(), snaps::decode(key.value(), value.value())?)? {
                break;
            }
        }
        Ok(())
    }

    fn latest_fork(&self, lo: Snap, hi: Snap) -> Result<Option<(Snap, Snap)>> {
        if schema::has_write_table(&self.txn, redb::TableHandle::name(&SNAP_FORKS))? {
            return snaps::latest_fork_in(
                &self.txn.open_table(SNAP_FORKS).context("reading the fork index")?,
                lo,
                hi,
            );
        }
        latest_fork_by_scan(self, lo, hi)
    }

    fn meta_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let table = self.txn.open_table(META).context("reading metadata")?;
        Ok(table.get(key).context("reading metadata")?.map(|v| v.value().to_vec()))
    }

    fn register_records(&self) -> Result<Vec<(String, Vec<u8>)>> {
        regmap::records_in(&self.txn.open_table(REGISTER_MAP).context("reading the register map")?)
    }

    fn region_records(&self, space: u32) -> Result<Vec<(String, Snap, Vec<u8>)>> {
        regions::records_in(&self.txn.open_table(REGIONS).context("reading regions")?, space)
    }

    fn bus_register_records(&self, space: u32) -> Result<Vec<(u64, Vec<u8>)>> {
        busmap::records_in(
            &self
                .txn
                .open_table(BUS_REGISTERS)
                .context("reading the bus register map")?,
            space,
        )
    }
}
