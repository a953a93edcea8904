//! Reading granule histories: the seam between the stores (a read
//! transaction's tables, or a write transaction's tables under its buffered
//! edits) and the algorithms that answer the memory contract from chunks.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::store::cache::{ChunkCache, DecodedChunk};
use crate::store::chunk::{ByteAsOf, ChunkRecord, ChunkView, GRANULE, Need, OwnedDelta, StretchImage, touch_lines};
use crate::store::events::{CaptureRecord, EventChunkRecord};
use crate::store::images::ImageCache;
use crate::store::packed;
use crate::vocab::error::{Result, StorageContext};
use crate::vocab::snaps::SnapMeta;
use crate::vocab::types::{Snap, side_of};

/// A chunk as a store hands it out.
pub(crate) enum LoadedChunk<'a> {
    /// An edited chunk buffered in a write transaction.
    Owned(&'a ChunkRecord),
    /// A stored chunk, read in place.
    Stored(redb::AccessGuard<'static, &'static [u8]>),
    /// A stored chunk, read in place through a guard its reader holds.
    InPlace(&'a [u8]),
    /// A stored chunk, read in place from the chunk index at the path.
    Indexed(&'a [u8], &'a Path),
    /// A stored chunk, copied out of its table.
    Copied(Vec<u8>),
    /// A part of a packed chunk, decoded (and shared through the
    /// decoded-chunk cache).
    Decoded(Arc<DecodedChunk>, usize),
}

impl LoadedChunk<'_> {
    /// The snaps `[since, till]` over which the granule stays as `view` (this
    /// chunk, read for snaps up to `hi`) shows it as of `hi`: from its last
    /// delta at or before `hi` (or its first snap) to the snap before its
    /// next delta, or, past its last delta, to `chunk_till()`: the last snap
    /// before the granule's next chunk (a store that does not look for it
    /// answers `hi`).
    pub fn holds(&self, view: &ChunkView<'_>, hi: Snap, chunk_till: &dyn Fn() -> Result<Snap>) -> Result<(Snap, Snap)> {
        // A part of a decoded chunk sees only its own deltas: ask the whole.
        let whole = match self {
            LoadedChunk::Decoded(chunk, _) => chunk.record().view(),
            _ => *view,
        };
        let through = whole.deltas_through(hi);
        let since = match through {
            0 => whole.first_snap,
            n => whole.delta_snap(n - 1),
        };
        // A chunk's deltas all come before the granule's next chunk.
        let till = match through < whole.delta_count() {
            true => whole.delta_snap(through) - 1,
            false => chunk_till()?,
        };
        Ok((since.min(hi), till.max(hi)))
    }

    /// A checked view of the chunk.
    pub fn view(&self, place: &dyn Fn() -> String) -> Result<ChunkView<'_>> {
        match self {
            LoadedChunk::Owned(record) => Ok(record.view()),
            LoadedChunk::Decoded(chunk, part) => {
                let view = chunk.part_view(*part, place)?;
                view.touch();
                Ok(view)
            }
            LoadedChunk::Stored(guard) => ChunkView::of_bytes(guard.value(), place),
            LoadedChunk::InPlace(bytes) => ChunkView::of_bytes(bytes, place),
            LoadedChunk::Indexed(bytes, index) => ChunkView::of_bytes(bytes, &|| indexed_place(place, index)),
            LoadedChunk::Copied(bytes) => ChunkView::of_bytes(bytes, place),
        }
    }
}

/// Where a chunk read from the chunk index at `index` lies.
pub(crate) fn indexed_place(place: &dyn Fn() -> String, index: &Path) -> String {
    format!("{}, as copied into {}", place(), index.display())
}

impl<'a> LoadedChunk<'a> {
    /// [`LoadedChunk::of_stored`] for a stored value read through `guard`,
    /// which its reader keeps: the chunk borrows it.
    pub fn of_guard(
        guard: &'a redb::AccessGuard<'static, &'static [u8]>,
        key: (u32, u64, Snap),
        hi: Snap,
        cache: &ChunkCache,
    ) -> Result<(Snap, LoadedChunk<'a>)> {
        match packed_part(guard.value(), key, hi, cache, None, true)? {
            Some(part) => Ok(part),
            None => Ok((key.2, LoadedChunk::InPlace(guard.value()))),
        }
    }

    /// [`LoadedChunk::of_guard`] for a chunk's bytes in the chunk index at
    /// `index` (named where they are damaged); `touch`: bring its cache
    /// lines in all at once, as a point read wants (a bulk read's batch
    /// brought them in already).
    pub fn of_indexed(
        bytes: &'a [u8],
        index: &'a Path,
        key: (u32, u64, Snap),
        hi: Snap,
        cache: &ChunkCache,
        touch: bool,
    ) -> Result<(Snap, LoadedChunk<'a>)> {
        match packed_part(bytes, key, hi, cache, Some(index), touch)? {
            Some(part) => Ok(part),
            None => Ok((key.2, LoadedChunk::Indexed(bytes, index))),
        }
    }
}

impl LoadedChunk<'static> {
    /// The stored value of the chunks table under `key`, read for snaps up
    /// to `hi`: in place, or, when packed, decoded through `cache` (then the
    /// chunk is the part of it with the greatest first snap `<= hi`), with
    /// the chunk's first snap.
    pub fn of_stored(
        guard: redb::AccessGuard<'static, &'static [u8]>,
        key: (u32, u64, Snap),
        hi: Snap,
        cache: &ChunkCache,
    ) -> Result<(Snap, LoadedChunk<'static>)> {
        match packed_part(guard.value(), key, hi, cache, None, true)? {
            Some(part) => Ok(part),
            None => Ok((key.2, LoadedChunk::Stored(guard))),
        }
    }
}

/// The part for snaps up to `hi` of the stored value `bytes` under `key`
/// (copied into the chunk index `index`, if given), decoded through
/// `cache`, with its first snap, if the value is packed; if not, with
/// `touch`, its cache lines are brought in all at once (a point read visits
/// most).
fn packed_part(
    bytes: &[u8],
    key: (u32, u64, Snap),
    hi: Snap,
    cache: &ChunkCache,
    index: Option<&Path>,
    touch: bool,
) -> Result<Option<(Snap, LoadedChunk<'static>)>> {
    if !packed::is_packed(bytes) {
        if touch {
            touch_lines(bytes);
        }
        return Ok(None);
    }
    let in_table = chunk_place(key.0, key.1, key.2);
    let place = || match index {
        Some(index) => indexed_place(&in_table, index),
        None => in_table(),
    };
    let chunk = cache.decoded(key, bytes, &place)?;
    let part = chunk.part_at_or_before(hi);
    Ok(Some((chunk.part_first_snap(part), LoadedChunk::Decoded(chunk, part))))
}

/// What the memory operations need from a store.
pub(crate) trait StoreRead {
    /// The granule size of the database.
    fn block_size(&self) -> u32;
    /// The chunk of `(space, granule)` with the greatest first snap in `[lo, hi]`.
    fn chunk_at_or_before(
        &self,
        space: u32,
        granule: u64,
        lo: Snap,
        hi: Snap,
    ) -> Result<Option<(Snap, LoadedChunk<'_>)>>;
    /// The least first snap in `[from, to]` of a chunk of `(space, granule)`.
    /// A store that does not look answers `from`: an image's interval that
    /// ends there is only shorter than it could be.
    fn first_chunk_from(&self, space: u32, granule: u64, from: Snap, to: Snap) -> Result<Option<Snap>> {
        let _ = (space, granule, to);
        Ok(Some(from))
    }
    /// The least (greatest if `last`) granule `>= from` and `<= to` of
    /// `space` that may have chunks.
    fn edge_granule(&self, space: u32, from: u64, to: u64, last: bool) -> Result<Option<u64>>;
    /// The least granule `>= from` and `<= to` of `space` that may have chunks.
    fn next_granule(&self, space: u32, from: u64, to: u64) -> Result<Option<u64>> {
        self.edge_granule(space, from, to, false)
    }
    /// The greatest granule `>= from` and `<= to` of `space` that may have chunks.
    fn prev_granule(&self, space: u32, from: u64, to: u64) -> Result<Option<u64>> {
        self.edge_granule(space, from, to, true)
    }
    /// Calls `f(granule, chunk, holds)` for each granule in `granules`
    /// (inclusive) of `space`, in ascending order (descending if `reverse`),
    /// with its chunk of greatest first snap in `snaps` (inclusive) and what
    /// finds the snaps over which its image as of `snaps.1` holds (see
    /// [`LoadedChunk::holds`]), skipping granules without one, while `f`
    /// returns true. Stores with a cursor override this one-seek-per-granule
    /// walk.
    fn for_each_latest_chunk(
        &self,
        space: u32,
        granules: (u64, u64),
        snaps: (Snap, Snap),
        reverse: bool,
        f: &mut LatestChunkFn<'_>,
    ) -> Result<()> {
        seek_latest_chunks(self, space, granules, snaps, reverse, f)
    }
    /// Whether it keeps stretch images (a chunk index does): a bulk read then
    /// asks [`StoreRead::stretch_image`] for each stretch it covers.
    fn has_stretch_images(&self) -> bool {
        false
    }
    /// The image of the stretch `stretch` (its first granule / 256) of
    /// `space` that holds at `snap`, if the store keeps one.
    fn stretch_image(&self, _space: u32, _stretch: u64, _snap: Snap) -> Result<Option<StretchImage<'_>>> {
        Ok(None)
    }
    /// Calls `f(snap, granule)` for every change of `space` with a snap in `[lo, hi]`, in order.
    fn for_each_change(&self, space: u32, lo: Snap, hi: Snap, f: &mut dyn FnMut(Snap, u64) -> Result<()>)
    -> Result<()>;
    /// The id of the space named `name`.
    fn space_id(&self, name: &str) -> Result<Option<u32>>;
    /// Every space, (id, name), in id order.
    fn spaces(&self) -> Result<Vec<(u32, String)>>;
    /// Where bulk reads keep the granule images they decode, if the store
    /// keeps any (a read transaction does; a write transaction's images
    /// change under its own writes).
    fn image_cache(&self) -> Option<&Mutex<ImageCache>> {
        None
    }
    /// The capture named `name`, with its id.
    fn capture(&self, name: &str) -> Result<Option<(u32, CaptureRecord)>>;
    /// Every capture, in id (creation) order.
    fn captures(&self) -> Result<Vec<(u32, CaptureRecord)>>;
    /// Calls `f(first_seq, chunk)` for the event chunks of `capture` from the
    /// one holding `from_seq` on, in order, while `f` returns true.
    fn event_chunks(
        &self,
        capture: u32,
        from_seq: u64,
        f: &mut dyn FnMut(u64, EventChunkRecord) -> Result<bool>,
    ) -> Result<()>;
    /// Calls `f` with the stored track record of `address` in capture
    /// `capture` for the group of events from `group`; false if there is
    /// none (as in a file without tracks).
    fn address_track(
        &self,
        capture: u32,
        address: u64,
        group: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<bool>;

    /// Calls `f` with the stored track tail of capture `capture`; false if
    /// there is none.
    fn track_tail(&self, capture: u32, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool>;

    /// The first sequence numbers of capture `capture`'s tracked groups, in
    /// order (none in a file without tracks).
    fn tracked_groups(&self, capture: u32) -> Result<Vec<u64>>;

    /// The latest timeline snap (`>= 0`) with a change in `space`.
    fn last_timeline_change(&self, space: u32) -> Result<Option<Snap>>;
    /// The metadata of `snap`.
    fn snap_meta(&self, snap: Snap) -> Result<Option<SnapMeta>>;
    /// The snaps with metadata in `[lo, hi]`.
    fn snap_metas(&self, lo: Snap, hi: Snap) -> Result<Vec<(Snap, SnapMeta)>>;
    /// Calls `f(snap, metadata)` for the snaps with metadata in `[lo, hi]`,
    /// newest first, while `f` returns true.
    fn snap_metas_rev(&self, lo: Snap, hi: Snap, f: &mut dyn FnMut(Snap, SnapMeta) -> Result<bool>) -> Result<()>;
    /// The value stored under `key` in the `meta` table.
    fn meta_value(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// The retention horizon: the first snap whose history is kept, once
    /// retention has dropped the history before it (`None`: nothing dropped).
    fn horizon(&self) -> Result<Option<Snap>> {
        let key = crate::store::schema::META_HORIZON;
        Ok(crate::store::schema::decode_horizon(key, self.meta_value(key)?)?.map(i64::from_le_bytes))
    }

    /// The sequence number of capture `capture`'s first kept event (0 unless
    /// retention dropped its events before the horizon).
    fn capture_horizon(&self, capture: u32) -> Result<u64> {
        let key = crate::store::schema::capture_horizon_key(capture);
        Ok(crate::store::schema::decode_horizon(&key, self.meta_value(&key)?)?.map_or(0, u64::from_le_bytes))
    }

    /// The most recent snap in `lo..=hi` whose metadata forks it
    /// (`SnapMeta::fork_parent`), with its parent: from the fork index, or
    /// by scanning the snap metadata of a file without one.
    fn latest_fork(&self, lo: Snap, hi: Snap) -> Result<Option<(Snap, Snap)>> {
        latest_fork_by_scan(self, lo, hi)
    }
    /// Every (name, record) of the register map, in name order.
    fn register_records(&self) -> Result<Vec<(String, Vec<u8>)>>;
    /// Every (name, first snap, record) of the regions of `space`, in key order.
    fn region_records(&self, space: u32) -> Result<Vec<(String, Snap, Vec<u8>)>>;
    /// Every (address, record) of the bus register map of `space`.
    fn bus_register_records(&self, space: u32) -> Result<Vec<(u64, Vec<u8>)>>;
}

/// What [`StoreRead::for_each_latest_chunk`] calls with each granule: the
/// granule, its chunk, and what finds the snaps `[since, till]` its image
/// holds over (which may take another seek, so only a caller that keeps the
/// image asks).
pub(crate) type LatestChunkFn<'f> =
    dyn FnMut(u64, ChunkView<'_>, &dyn Fn() -> Result<(Snap, Snap)>) -> Result<bool> + 'f;

/// The most recent snap in `lo..=hi` whose metadata forks it, with its
/// parent, by scanning the snap metadata back from `hi` (a file without the
/// fork index).
pub(crate) fn latest_fork_by_scan(
    store: &(impl StoreRead + ?Sized),
    lo: Snap,
    hi: Snap,
) -> Result<Option<(Snap, Snap)>> {
    let mut found = None;
    store.snap_metas_rev(lo, hi, &mut |snap, meta| match meta.fork_parent(snap) {
        Some(parent) => {
            found = Some((snap, parent));
            Ok(false)
        }
        None => Ok(true),
    })?;
    Ok(found)
}

/// The last snap before `granule`'s first chunk after `hi`: the end of
/// `hi`'s side of the timeline if there is none.
pub(crate) fn chunk_till(store: &(impl StoreRead + ?Sized), space: u32, granule: u64, hi: Snap) -> Result<Snap> {
    let side_hi = side_of(hi).1;
    if hi >= side_hi {
        return Ok(side_hi);
    }
    Ok(till_before(
        store.first_chunk_from(space, granule, hi + 1, side_hi)?,
        side_hi,
    ))
}

/// The last snap before a chunk that starts at `next` (none: the side of the
/// timeline ends at `side_hi`), at most `side_hi`.
pub(crate) fn till_before(next: Option<Snap>, side_hi: Snap) -> Snap {
    next.map_or(side_hi, |first| (first - 1).min(side_hi))
}

/// [`StoreRead::for_each_latest_chunk`] by one or two seeks per granule: the
/// default, and the faster way for a few granules.
pub(crate) fn seek_latest_chunks(
    store: &(impl StoreRead + ?Sized),
    space: u32,
    granules: (u64, u64),
    snaps: (Snap, Snap),
    reverse: bool,
    f: &mut LatestChunkFn<'_>,
) -> Result<()> {
    let (mut from, mut to) = granules;
    while from <= to {
        // One granule left takes one seek, for its chunk: no search for it first.
        let next = if from == to {
            Some(from)
        } else if reverse {
            store.prev_granule(space, from, to)?
        } else {
            store.next_granule(space, from, to)?
        };
        let Some(granule) = next else {
            return Ok(());
        };
        if let Some((first, chunk)) = store.chunk_at_or_before(space, granule, snaps.0, snaps.1)? {
            let place = chunk_place(space, granule, first);
            let view = chunk.view(&place)?;
            let holds = || chunk.holds(&view, snaps.1, &|| chunk_till(store, space, granule, snaps.1));
            if !f(granule, view, &holds)? {
                return Ok(());
            }
        }
        if reverse {
            match granule.checked_sub(1) {
                Some(below) => to = below,
                None => return Ok(()),
            }
        } else {
            match granule.checked_add(1) {
                Some(above) => from = above,
                None => return Ok(()),
            }
        }
    }
    Ok(())
}

/// A chunk key a range lookup returned, checked to lie in `[lo, hi]`: a
/// damaged B-tree can hand out keys outside the range asked for, and loops
/// over keys rely on them to progress.
pub(crate) fn checked_key(key: (u32, u64, i64), lo: (u32, u64, i64), hi: (u32, u64, i64)) -> Result<(u32, u64, i64)> {
    if key < lo || key > hi {
        return Err(crate::vocab::error::Error::corrupt(
            "history_chunks table",
            format!("key {key:?} found when looking between {lo:?} and {hi:?}"),
        ));
    }
    Ok(key)
}

/// The least (greatest if `last`) granule in `[from, to]` of `space` with a
/// stored chunk: one seek of the chunks table, in a read or a write
/// transaction alike.
pub(crate) fn stored_edge_granule(
    chunks: &impl redb::ReadableTable<crate::store::schema::ChunkKey, &'static [u8]>,
    space: u32,
    from: u64,
    to: u64,
    last: bool,
) -> Result<Option<u64>> {
    let bounds = ((space, from, i64::MIN), (space, to, i64::MAX));
    let mut range = chunks.range(bounds.0..=bounds.1).context("seeking a granule")?;
    match if last { range.next_back() } else { range.next() } {
        Some(entry) => {
            let key = entry.context("seeking a granule")?.0.value();
            Ok(Some(checked_key(key, bounds.0, bounds.1)?.1))
        }
        None => Ok(None),
    }
}

/// Names a chunk in error messages.
pub(crate) fn chunk_place(space: u32, granule: u64, first: Snap) -> impl Fn() -> String {
    move || format!("history_chunks table, space {space}, granule {granule:#x}, chunk at snap {first}")
}

/// Resolves positions `first..first + out.len()` of `granule` as of `snap`.
pub(crate) fn read_granule(
    store: &dyn StoreRead,
    space: u32,
    granule: u64,
    snap: Snap,
    first: u32,
    out: &mut [ByteAsOf],
    need: Need,
) -> Result<()> {
    let (side_lo, _) = side_of(snap);
    if let Some((chunk_first, chunk)) = store.chunk_at_or_before(space, granule, side_lo, snap)? {
        let place = chunk_place(space, granule, chunk_first);
        let view = chunk.view(&place)?;
        view.resolve(snap, first, out, need, &place)?;
    }
    Ok(())
}

/// Visits the blocks overlapping `[start, start + len - 1]` (the caller checks
/// it does not wrap) with each granule's state as of `snap`: `f(address of the
/// first byte, states)`.
pub(crate) fn read_range(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    start: u64,
    len: u64,
    need: Need,
    f: &mut dyn FnMut(u64, &[ByteAsOf]) -> Result<()>,
) -> Result<()> {
    let gs = u64::from(GRANULE);
    let last = start + (len - 1);
    let mut buf = Vec::new();
    let mut addr = start;
    loop {
        let granule = addr / gs;
        let granule_last = (granule * gs).saturating_add(gs - 1).min(last);
        let n = (granule_last - addr + 1) as usize;
        buf.clear();
        buf.resize(n, ByteAsOf::default());
        read_granule(store, space, granule, snap, (addr % gs) as u32, &mut buf, need)?;
        f(addr, &buf)?;
        if granule_last == last {
            return Ok(());
        }
        addr = granule_last + 1;
    }
}

/// The records of `granule` made at exactly `snap`.
pub(crate) fn delta_at(store: &dyn StoreRead, space: u32, granule: u64, snap: Snap) -> Result<Option<OwnedDelta>> {
    let (side_lo, _) = side_of(snap);
    let Some((chunk_first, chunk)) = store.chunk_at_or_before(space, granule, side_lo, snap)? else {
        return Ok(None);
    };
    let place = chunk_place(space, granule, chunk_first);
    let view = chunk.view(&place)?;
    match view.find_delta(snap) {
        Some(i) => Ok(Some(view.delta(i, &place)?.to_owned())),
        None => Ok(None),
    }
}

/// The latest snap at or before `snap` (same side) with any record in `granule`.
pub(crate) fn last_change(store: &dyn StoreRead, space: u32, granule: u64, snap: Snap) -> Result<Option<Snap>> {
    let (side_lo, _) = side_of(snap);
    let mut hi = snap;
    // Every stored chunk has a delta, so at most two chunks are looked at: the
    // one holding `snap`, whose deltas may all be later, and the one before.
    // With none before (retention dropped it), the first one's checkpoint
    // holds the latest record.
    let checkpoint_latest = |first: Snap| -> Result<Option<Snap>> {
        let Some((found, chunk)) = store.chunk_at_or_before(space, granule, first, first)? else {
            return Ok(None);
        };
        let place = chunk_place(space, granule, found);
        Ok(chunk
            .view(&place)?
            .checkpoint_image(&place)?
            .iter()
            .filter_map(|b| b.record.map(|r| r.1))
            .max())
    };
    let mut later_first = None;
    loop {
        let Some((chunk_first, chunk)) = store.chunk_at_or_before(space, granule, side_lo, hi)? else {
            return later_first.map_or(Ok(None), checkpoint_latest);
        };
        let place = chunk_place(space, granule, chunk_first);
        let view = chunk.view(&place)?;
        let n = view.deltas_through(snap);
        if n > 0 {
            return Ok(Some(view.delta_snap(n - 1)));
        }
        if chunk_first == side_lo {
            return checkpoint_latest(chunk_first);
        }
        later_first = Some(chunk_first);
        hi = chunk_first - 1;
    }
}

/// The latest snap at or before `snap` (same side) with any record in the
/// block of `block_size` bytes holding `addr` (M9): the latest over its
/// granules, one seek each.
pub(crate) fn last_change_in_block(store: &dyn StoreRead, space: u32, addr: u64, snap: Snap) -> Result<Option<Snap>> {
    let bs = u64::from(store.block_size());
    let gs = u64::from(GRANULE);
    let first = addr / bs * bs / gs;
    let mut latest = None;
    for granule in first..first + bs / gs {
        latest = latest.max(last_change(store, space, granule, snap)?);
    }
    Ok(latest)
}
