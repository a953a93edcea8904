//! Rewriting every table of a database into a fresh file (the storage half
//! of `pack`, M14): granule histories are merged into fewer, fuller chunks
//! (up to [`PACK_MAX_DELTAS`] deltas in a chunk of at most
//! [`PACK_CHUNK_BYTES`], one B-tree page, where writing keeps chunks at a
//! quarter of that), every other table is copied record by record. Written into a new file, nothing is
//! left of pages freed by earlier rewrites.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};

use crate::error::{Result, StorageContext};
use crate::store::chunk::{ByteAsOf, CheckpointRecord, ChunkRecord, ChunkView, GRANULE, OwnedDelta};
use crate::store::events::{EVENTS_PER_CHUNK, EventChunkRecord};
use crate::store::history::chunk_place;
use crate::store::schema::{
    CAPTURE_IDS, CAPTURES, CHANGES, CHUNKS, EVENTS, META, REGIONS, REGISTER_MAP, SNAPS, SPACE_IDS, SPACE_NAMES,
};
use crate::types::{MemState, Snap, side_of};

/// The most deltas in a packed chunk: bounds the walk of a read.
pub(crate) const PACK_MAX_DELTAS: usize = 512;
/// The largest packed chunk, in bytes: one chunk fills one 4 KiB B-tree
/// leaf (with its key and the page's header) instead of leaving half of it
/// unused, as chunks of 2-3 KiB would.
pub(crate) const PACK_CHUNK_BYTES: usize = 3968;
/// The largest packed event chunk, in bytes: one 16 KiB B-tree leaf with
/// its key. A full chunk of 4,096 events is ~18 KiB on W1, which takes a
/// 32 KiB page.
pub(crate) const PACK_EVENT_CHUNK_BYTES: usize = 16_256;
/// The archive's envelope around a chunk's columns (rkyv, 32-bit lengths).
const CHUNK_ENVELOPE_BYTES: usize = 96;

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
    copy_table(src, dst, SPACE_IDS)?;
    copy_table(src, dst, SPACE_NAMES)?;
    copy_table(src, dst, CHANGES)?;
    copy_table(src, dst, SNAPS)?;
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
        let view = ChunkView::of_bytes(value.value(), &place)?;
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

/// Copies the event log, cutting each full chunk larger than
/// [`PACK_EVENT_CHUNK_BYTES`] into pieces that fit. A capture's open (last,
/// partial) chunk stays whole: appends continue it at its 4,096-aligned key.
fn rewrite_events(src: &redb::ReadTransaction, dst: &redb::WriteTransaction) -> Result<()> {
    const WHAT: &str = "packing: rewriting the event log";
    let from = src.open_table(EVENTS).context(WHAT)?;
    let mut to = dst.open_table(EVENTS).context(WHAT)?;
    for entry in from.iter().context(WHAT)? {
        let (key, value) = entry.context(WHAT)?;
        let (capture, first) = key.value();
        let bytes = value.value();
        let place = || format!("events table, capture {capture}, chunk at event {first}");
        let chunk = EventChunkRecord::from_bytes(bytes, &place)?;
        if chunk.len() < EVENTS_PER_CHUNK || bytes.len() <= PACK_EVENT_CHUNK_BYTES {
            to.insert((capture, first), bytes).context(WHAT)?;
            continue;
        }
        let events = chunk.decode(&place)?;
        let mut at = 0;
        while at < events.len() {
            // Start from the chunk's average size per event, then shrink
            // until the piece fits (once or twice).
            let rest = events.len() - at;
            let mut n = (PACK_EVENT_CHUNK_BYTES * events.len() / bytes.len()).clamp(1, rest);
            let piece = loop {
                let mut piece = EventChunkRecord::default();
                piece.push(&events[at..at + n], None);
                let encoded = piece.to_bytes()?;
                if encoded.len() <= PACK_EVENT_CHUNK_BYTES || n == 1 {
                    break encoded;
                }
                n = (n * PACK_EVENT_CHUNK_BYTES / encoded.len()).min(n - 1).max(1);
            };
            to.insert((capture, first + at as u64), piece.as_slice())
                .context(WHAT)?;
            at += n;
        }
    }
    Ok(())
}

fn put(
    table: &mut redb::Table<(u32, u64, i64), &[u8]>,
    space: u32,
    granule: u64,
    first: Snap,
    record: &ChunkRecord,
) -> Result<()> {
    table
        .insert((space, granule, first), record.to_bytes()?.as_slice())
        .context("packing: writing a chunk")?;
    Ok(())
}

fn has_table(src: &redb::ReadTransaction, name: &str) -> Result<bool> {
    Ok(src
        .list_tables()
        .context("packing: listing tables")?
        .any(|t| redb::TableHandle::name(&t) == name))
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
/// chunk being filled and the granule's state as of its last delta.
struct History {
    image: Vec<ByteAsOf>,
    open: Option<ChunkRecord>,
    last: Option<Snap>,
}

impl History {
    /// Starts from the checkpoint of the side's first chunk (empty unless
    /// writes into the past made it otherwise).
    fn starting_from(view: &ChunkView<'_>, place: &dyn Fn() -> String) -> Result<History> {
        let image = if view.checkpoint_len() == 0 {
            vec![ByteAsOf::default(); GRANULE as usize]
        } else {
            view.checkpoint(place)?.to_image(place)?
        };
        Ok(History {
            image,
            open: None,
            last: None,
        })
    }

    /// Adds the next delta (in snap order); returns how many chunks it wrote.
    fn push(&mut self, delta: OwnedDelta, write: &mut dyn FnMut(Snap, &ChunkRecord) -> Result<()>) -> Result<u64> {
        let mut written = 0;
        if self.last.is_some_and(|last| delta.snap <= last) {
            return Err(crate::error::Error::corrupt(
                "packing",
                format!("delta at snap {} after one at snap {:?}", delta.snap, self.last),
            ));
        }
        self.last = Some(delta.snap);
        if let Some(open) = &self.open
            && (open.delta_count() >= PACK_MAX_DELTAS
                || open.view().stored_len() + CHUNK_ENVELOPE_BYTES + delta_len(&delta) > PACK_CHUNK_BYTES
                || !open.can_hold(delta.snap))
        {
            write(open.first_snap, open)?;
            written += 1;
            self.open = None;
        }
        let open = self
            .open
            .get_or_insert_with(|| ChunkRecord::new(delta.snap, CheckpointRecord::from_image(&self.image)));
        open.push_delta(delta.snap, &delta.runs);
        for run in &delta.runs {
            for pos in run.first..=run.last {
                let slot = &mut self.image[pos as usize];
                match &run.data {
                    Some(bytes) => {
                        slot.value = bytes[(pos - run.first) as usize];
                        slot.known = Some(delta.snap);
                        slot.record = Some((MemState::Known, delta.snap));
                    }
                    None => slot.record = Some((MemState::Error, delta.snap)),
                }
            }
        }
        Ok(written)
    }

    /// Writes the last chunk; returns how many chunks it wrote.
    fn finish(self, write: &mut dyn FnMut(Snap, &ChunkRecord) -> Result<()>) -> Result<u64> {
        match self.open {
            Some(open) => write(open.first_snap, &open).map(|()| 1),
            None => Ok(0),
        }
    }
}

/// The bytes a delta adds to a chunk: its snap, its ends, its runs and
/// their data.
fn delta_len(delta: &OwnedDelta) -> usize {
    8 + delta
        .runs
        .iter()
        .map(|r| 3 + r.data.as_ref().map_or(0, Vec::len))
        .sum::<usize>()
}
