//! Rewriting every table of a database into a fresh file (the storage half
//! of `pack`, M14): granule histories are merged into fewer, fuller chunks
//! and compressed (see [`packed`]): up to [`PACK_MAX_DELTAS`] deltas in a
//! chunk whose packed form fits [`PACK_CHUNK_BYTES`], one B-tree page. Full
//! event chunks and the change index's buckets are compressed too; every
//! other table is copied record by record. Written into a new file, nothing
//! is left of pages freed by earlier rewrites.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};

use crate::store::changes::{decode_bucket, stored_bucket};
use crate::store::chunk::{ByteAsOf, CheckpointRecord, ChunkRecord, ChunkView, OwnedDelta};
use crate::store::events::EventChunkRecord;
use crate::store::history::chunk_place;
use crate::store::packed;
use crate::store::schema::{
    BUS_REGISTERS, CAPTURE_IDS, CAPTURES, CHANGES, CHUNKS, EVENT_TRACKS, EVENTS, META, REGIONS, REGISTER_MAP,
    SNAP_FORKS, SNAPS, SPACE_IDS, SPACE_NAMES, TRACK_GROUPS, TRACK_TAILS,
};
use crate::vocab::error::{Result, StorageContext};
use crate::vocab::types::{Snap, side_of};

/// The most deltas in a packed chunk: bounds the walk of a read (which,
/// once the chunk is decoded and cached, costs a few ns a delta).
pub(crate) const PACK_MAX_DELTAS: usize = 2048;
/// The most data bytes in a packed chunk: bounds its decoded size.
const PACK_MAX_DATA: usize = 48 << 10;
/// The largest packed chunk, in bytes: one chunk fills one 4 KiB B-tree
/// leaf (with its key and the page's header) instead of leaving part of it
/// unused.
pub(crate) const PACK_CHUNK_BYTES: usize = 3968;

/// What a rewrite did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rewritten {
    pub chunks_before: u64,
    pub chunks_after: u64,
}

/// Copies every table of `src` into `dst` (a new, empty file), merging
/// granule histories. `progress(done, total)` counts source chunks.
pub(crate) fn rewrite(
    src: &redb::ReadTransaction,
    dst: &redb::WriteTransaction,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Rewritten> {
    copy_table(src, dst, META)?;
    // The source's chunk index does not index the packed chunks.
    dst.open_table(META)
        .context("packing: copying meta")?
        .remove(crate::store::chunk_index::META_CHUNK_INDEX)
        .context("packing: copying meta")?;
    copy_table(src, dst, SPACE_IDS)?;
    copy_table(src, dst, SPACE_NAMES)?;
    rewrite_changes(src, dst)?;
    copy_table(src, dst, SNAPS)?;
    // The fork index, built for a file written before it.
    if has_table(src, SNAP_FORKS.name())? {
        copy_table(src, dst, SNAP_FORKS)?;
    } else {
        let snaps = src.open_table(SNAPS).context("packing: indexing forks")?;
        let mut forks = dst.open_table(SNAP_FORKS).context("packing: indexing forks")?;
        crate::store::snaps::build_fork_index(&snaps, &mut forks)?;
    }
    copy_table(src, dst, CAPTURE_IDS)?;
    copy_table(src, dst, CAPTURES)?;
    rewrite_events(src, dst)?;
    // Tables that files written before them do not have.
    if has_table(src, REGISTER_MAP.name())? {
        copy_table(src, dst, REGISTER_MAP)?;
    }
    if has_table(src, REGIONS.name())? {
        copy_table(src, dst, REGIONS)?;
    }
    if has_table(src, BUS_REGISTERS.name())? {
        copy_table(src, dst, BUS_REGISTERS)?;
    }
    if has_table(src, EVENT_TRACKS.name())? {
        copy_table(src, dst, EVENT_TRACKS)?;
    }
    if has_table(src, TRACK_GROUPS.name())? {
        copy_table(src, dst, TRACK_GROUPS)?;
    }
    if has_table(src, TRACK_TAILS.name())? {
        copy_table(src, dst, TRACK_TAILS)?;
    }

    let chunks = src.open_table(CHUNKS).context("packing: reading chunks")?;
    let mut out = dst.open_table(CHUNKS).context("packing: writing chunks")?;
    let total = chunks.len().context("packing: counting chunks")?;
    let mut done = Rewritten::default();
    // The history being merged: (space, granule, side) and its deltas.
    let mut history: Option<((u32, u64, Snap), History)> = None;
    for entry in chunks.iter().context("packing: reading chunks")? {
        let (key, value) = entry.context("packing: reading chunks")?;
        let (space, granule, first) = key.value();
        let place = chunk_place(space, granule, first);
        let record = ChunkRecord::from_stored(value.value(), &place)?;
        let view = record.view();
        let id = (space, granule, side_of(first).0);
        if history.as_ref().is_none_or(|(h, _)| *h != id) {
            if let Some(((space, granule, _), h)) = history.take() {
                done.chunks_after += h.finish(&mut |first, record| put(&mut out, space, granule, first, record))?;
            }
            history = Some((id, History::starting_from(&view, &place)?));
        }
        if let Some((_, h)) = history.as_mut() {
            for delta in view.owned_deltas(0, &place)? {
                done.chunks_after +=
                    h.push(delta, &mut |first, record| put(&mut out, space, granule, first, record))?;
            }
        }
        done.chunks_before += 1;
        if done.chunks_before % 4096 == 0 {
            progress(done.chunks_before, total);
        }
    }
    if let Some(((space, granule, _), h)) = history.take() {
        done.chunks_after += h.finish(&mut |first, record| put(&mut out, space, granule, first, record))?;
    }
    progress(done.chunks_before, total);
    Ok(done)
}

/// Copies the event log, packing every full chunk. A capture's open (last,
/// partial) chunk stays unpacked: appends continue it.
fn rewrite_events(src: &redb::ReadTransaction, dst: &redb::WriteTransaction) -> Result<()> {
    const WHAT: &str = "packing: rewriting the event log";
    let from = src.open_table(EVENTS).context(WHAT)?;
    let mut to = dst.open_table(EVENTS).context(WHAT)?;
    for entry in from.iter().context(WHAT)? {
        let (key, value) = entry.context(WHAT)?;
        let (capture, first) = key.value();
        let place = || format!("events table, capture {capture}, chunk at event {first}");
        let chunk = EventChunkRecord::from_bytes(value.value(), &place)?;
        // Decoded and checked either way, so that pack never copies damage.
        chunk.decode(&place)?;
        let bytes = chunk.to_stored(packed::PACK_LEVEL)?;
        to.insert((capture, first), bytes.as_slice()).context(WHAT)?;
    }
    Ok(())
}

/// Copies the change index, packing each bucket where that pays.
fn rewrite_changes(src: &redb::ReadTransaction, dst: &redb::WriteTransaction) -> Result<()> {
    const WHAT: &str = "packing: rewriting the change index";
    let from = src.open_table(CHANGES).context(WHAT)?;
    let mut to = dst.open_table(CHANGES).context(WHAT)?;
    for entry in from.iter().context(WHAT)? {
        let (key, value) = entry.context(WHAT)?;
        let (space, bucket) = key.value();
        let place = || format!("changes table, space {space}, bucket {bucket}");
        let entries = decode_bucket(bucket, value.value(), &place)?;
        to.insert(
            (space, bucket),
            stored_bucket(bucket, &entries, packed::PACK_LEVEL)?.as_slice(),
        )
        .context(WHAT)?;
    }
    Ok(())
}

fn put(
    table: &mut redb::Table<crate::store::schema::ChunkKey, &[u8]>,
    space: u32,
    granule: u64,
    first: Snap,
    bytes: &[u8],
) -> Result<()> {
    table
        .insert((space, granule, first), bytes)
        .context("packing: writing a chunk")?;
    Ok(())
}

/// Whether `src` has a table named `name` (optional tables).
pub(crate) fn has_table(src: &redb::ReadTransaction, name: &str) -> Result<bool> {
    Ok(src
        .list_tables()
        .context("packing: listing tables")?
        .any(|t| TableHandle::name(&t) == name))
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &redb::ReadTransaction,
    dst: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<()> {
    const WHAT: &str = "packing: copying a table";
    let from = src.open_table(table).context(WHAT)?;
    let mut to = dst.open_table(table).context(WHAT)?;
    for entry in from.iter().context(WHAT)? {
        let (key, value) = entry.context(WHAT)?;
        to.insert(key.value(), value.value()).context(WHAT)?;
    }
    Ok(())
}

/// One granule's history on one side of the timeline, being rewritten: the
/// deltas of the chunk being filled and the granule's state before them.
struct History {
    /// The granule as of the snap before the first pending delta.
    start: Vec<ByteAsOf>,
    /// The deltas of the chunk being filled, in snap order.
    pending: Vec<OwnedDelta>,
    /// Their payload bytes, about (see [`delta_len`]).
    pending_bytes: usize,
    /// Their data bytes and runs (a chunk's ends are 16-bit).
    pending_data: usize,
    pending_runs: usize,
    /// Packed bytes per payload byte, as this history's last chunk came out.
    ratio: f64,
    last: Option<Snap>,
}

impl History {
    /// Starts from the checkpoint of the side's first chunk (empty unless
    /// writes into the past made it otherwise).
    fn starting_from(view: &ChunkView<'_>, place: &dyn Fn() -> String) -> Result<History> {
        let start = view.checkpoint_image(place)?;
        Ok(History {
            start,
            pending: Vec::new(),
            pending_bytes: 0,
            pending_data: 0,
            pending_runs: 0,
            ratio: 0.5,
            last: None,
        })
    }

    /// Whether `delta` would take the pending chunk past a bound.
    fn full_with(&self, delta: &OwnedDelta) -> bool {
        let Some(first) = self.pending.first() else {
            return false;
        };
        let (data, runs) = data_and_runs(delta);
        self.pending.len() >= PACK_MAX_DELTAS
            || self.pending_data + data > PACK_MAX_DATA
            || self.pending_runs + runs > usize::from(u16::MAX)
            || delta.snap.abs_diff(first.snap) > u64::from(u32::MAX)
            || (self.pending_bytes + delta_len(delta)) as f64 * self.ratio > PACK_CHUNK_BYTES as f64
    }

    /// Adds the next delta (in snap order); returns how many chunks it wrote.
    fn push(&mut self, delta: OwnedDelta, write: &mut dyn FnMut(Snap, &[u8]) -> Result<()>) -> Result<u64> {
        if self.last.is_some_and(|last| delta.snap <= last) {
            return Err(crate::vocab::error::Error::corrupt(
                "packing",
                format!("delta at snap {} after one at snap {:?}", delta.snap, self.last),
            ));
        }
        self.last = Some(delta.snap);
        let mut written = 0;
        while self.full_with(&delta) {
            self.flush_one(write)?;
            written += 1;
        }
        let (data, runs) = data_and_runs(&delta);
        self.pending_bytes += delta_len(&delta);
        self.pending_data += data;
        self.pending_runs += runs;
        self.pending.push(delta);
        Ok(written)
    }

    /// Writes one chunk of the first pending deltas: as many as pack into
    /// [`PACK_CHUNK_BYTES`] (all, when they do).
    fn flush_one(&mut self, write: &mut dyn FnMut(Snap, &[u8]) -> Result<()>) -> Result<()> {
        let mut n = self.pending.len();
        let (bytes, payload) = loop {
            let mut record = ChunkRecord::new(self.pending[0].snap, CheckpointRecord::from_image(&self.start));
            for delta in &self.pending[..n] {
                record.push_delta(delta.snap, &delta.runs);
            }
            let payload: usize = self.pending[..n].iter().map(delta_len).sum();
            let packed = packed::pack_chunk(&record, packed::PACK_LEVEL)?;
            if packed.len() <= PACK_CHUNK_BYTES || n == 1 {
                // A chunk that packing does not shrink is kept unpacked:
                // it reads in place.
                let unpacked = record.to_bytes()?;
                let bytes = if unpacked.len() <= packed.len() {
                    unpacked
                } else {
                    packed
                };
                break (bytes, payload);
            }
            n = (n * PACK_CHUNK_BYTES * 15 / (packed.len() * 16)).clamp(1, n - 1);
        };
        write(self.pending[0].snap, &bytes)?;
        self.ratio = (bytes.len() as f64 / payload.max(1) as f64).clamp(0.05, 2.0);
        for delta in self.pending.drain(..n) {
            delta.apply_to_image(&mut self.start);
        }
        self.pending_bytes = self.pending.iter().map(delta_len).sum();
        (self.pending_data, self.pending_runs) = self
            .pending
            .iter()
            .map(data_and_runs)
            .fold((0, 0), |(d, r), (dd, rr)| (d + dd, r + rr));
        Ok(())
    }

    /// Writes the pending deltas; returns how many chunks it wrote.
    fn finish(mut self, write: &mut dyn FnMut(Snap, &[u8]) -> Result<()>) -> Result<u64> {
        let mut written = 0;
        while !self.pending.is_empty() {
            self.flush_one(write)?;
            written += 1;
        }
        Ok(written)
    }
}

/// A delta's data bytes and runs.
fn data_and_runs(delta: &OwnedDelta) -> (usize, usize) {
    let data = delta.runs.iter().map(|r| r.data.as_ref().map_or(0, Vec::len)).sum();
    (data, delta.runs.len())
}

/// The bytes a delta adds to a packed chunk's payload, about: its snap
/// gap and ends (varints), its runs and their data.
fn delta_len(delta: &OwnedDelta) -> usize {
    3 + delta
        .runs
        .iter()
        .map(|r| 3 + r.data.as_ref().map_or(0, Vec::len))
        .sum::<usize>()
}
