//! The store of a read transaction: a consistent snapshot of every table.

use std::sync::{Arc, Mutex};

use redb::ReadOnlyTable;

use crate::store::cache::ChunkCache;
use crate::store::changes::{bucket_of, decode_bucket};
use crate::store::chunk::StretchImage;
use crate::store::chunk_index::{ChunkIndex, GranuleRun, stamp_in};
use crate::store::events::{CaptureRecord, EventChunkRecord, capture_in, captures_in, event_chunks_in};
use crate::store::history::{
    LatestChunkFn, LoadedChunk, StoreRead, checked_key, chunk_place, chunk_till, latest_fork_by_scan,
    stored_edge_granule, till_before,
};
use crate::store::images::ImageCache;
use crate::store::schema::{
    self, BUS_REGISTERS, CAPTURE_IDS, CAPTURES, CHANGES, CHUNKS, EVENT_TRACKS, EVENTS, META, REGIONS, REGISTER_MAP,
    SNAP_FORKS, SNAPS, SPACE_IDS, SPACE_NAMES, TRACK_GROUPS, TRACK_TAILS,
};
use crate::store::snaps;
use crate::store::tracks::{groups_in, track_in};
use crate::store::{busmap, regions, regmap};
use crate::vocab::error::{Result, StorageContext};
use crate::vocab::snaps::SnapMeta;
use crate::vocab::types::{Snap, side_of};

/// The tables of one read snapshot.
pub(crate) struct ReadStore {
    block_size: u32,
    /// Where packed chunks are decoded once for every reader.
    cache: Arc<ChunkCache>,
    /// Where this snapshot's bulk reads keep their granule images (none
    /// when it reads through a chunk index).
    images: Mutex<ImageCache>,
    chunks: ReadOnlyTable<schema::ChunkKey, &'static [u8]>,
    changes: ReadOnlyTable<(u32, i64), &'static [u8]>,
    space_ids: ReadOnlyTable<&'static str, u32>,
    space_names: ReadOnlyTable<u32, &'static str>,
    snaps: ReadOnlyTable<i64, &'static [u8]>,
    capture_ids: ReadOnlyTable<&'static str, u32>,
    captures: ReadOnlyTable<u32, &'static [u8]>,
    events: ReadOnlyTable<(u32, u64), &'static [u8]>,
    meta: ReadOnlyTable<&'static str, &'static [u8]>,
    /// Optional tables: `None` in a file written before they existed.
    register_map: Option<ReadOnlyTable<&'static str, &'static [u8]>>,
    regions: Option<RegionsTable>,
    bus_registers: Option<ReadOnlyTable<(u32, u64), &'static [u8]>>,
    event_tracks: Option<ReadOnlyTable<(u32, u64, u64), &'static [u8]>>,
    track_groups: Option<ReadOnlyTable<(u32, u64), &'static [u8]>>,
    track_tails: Option<ReadOnlyTable<u32, &'static [u8]>>,
    snap_forks: Option<ReadOnlyTable<i64, i64>>,
    /// The retention horizon, read once: every memory read checks it.
    horizon: Option<Snap>,
    /// The chunk index matching this snapshot, if there is one: chunks are
    /// found through it instead of the chunks table.
    index: Option<Arc<ChunkIndex>>,
}

/// The regions table of a read snapshot.
type RegionsTable = ReadOnlyTable<(u32, &'static str, i64), &'static [u8]>;

/// Opens a table that older files may lack.
fn optional<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    table: redb::TableDefinition<K, V>,
) -> Result<Option<ReadOnlyTable<K, V>>> {
    match txn.open_table(table) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(crate::vocab::error::Error::storage("opening an optional table", e)),
    }
}

impl ReadStore {
    /// Opens every table of `txn`; `index_for` gives the chunk index of a
    /// stamp, if the database has that one.
    pub fn new(
        txn: &redb::ReadTransaction,
        block_size: u32,
        cache: Arc<ChunkCache>,
        image_cache_size: usize,
        index_for: &dyn Fn([u8; 16]) -> Result<Option<Arc<ChunkIndex>>>,
    ) -> Result<ReadStore> {
        let meta = txn.open_table(META).context("opening meta")?;
        let horizon = schema::decode_horizon(
            schema::META_HORIZON,
            meta.get(schema::META_HORIZON)
                .context("reading metadata")?
                .map(|v| v.value().to_vec()),
        )?
        .map(i64::from_le_bytes);
        let index = match stamp_in(&meta)? {
            Some(stamp) => index_for(stamp)?,
            None => None,
        };
        // Through the chunk index a granule is found and decoded in about
        // the time the image cache takes to keep its image and find it
        // again, and at random snaps over memory written all the time the
        // cache seldom holds one: keeping them made a first 64 KiB read of
        // the W2 heap a quarter slower and later ones a fifth (BENCHMARKS.md,
        // "Reads through the chunk index on an Intel Xeon"). Memory that does
        // not change is read from stretch images, which need no cache.
        let image_budget = match index {
            Some(_) => 0,
            None => image_cache_size,
        };
        Ok(ReadStore {
            horizon,
            index,
            block_size,
            cache,
            images: Mutex::new(ImageCache::new(image_budget)),
            chunks: txn.open_table(CHUNKS).context("opening block_chunks")?,
            changes: txn.open_table(CHANGES).context("opening changes")?,
            space_ids: txn.open_table(SPACE_IDS).context("opening space_ids")?,
            space_names: txn.open_table(SPACE_NAMES).context("opening space_names")?,
            snaps: txn.open_table(SNAPS).context("opening snaps")?,
            capture_ids: txn.open_table(CAPTURE_IDS).context("opening capture_ids")?,
            captures: txn.open_table(CAPTURES).context("opening captures")?,
            events: txn.open_table(EVENTS).context("opening events")?,
            meta,
            register_map: optional(txn, REGISTER_MAP)?,
            regions: optional(txn, REGIONS)?,
            bus_registers: optional(txn, BUS_REGISTERS)?,
            event_tracks: optional(txn, EVENT_TRACKS)?,
            track_groups: optional(txn, TRACK_GROUPS)?,
            track_tails: optional(txn, TRACK_TAILS)?,
            snap_forks: optional(txn, SNAP_FORKS)?,
        })
    }
}

impl ReadStore {
    /// Whether it finds chunks through a chunk index.
    pub fn uses_chunk_index(&self) -> bool {
        self.index.is_some()
    }

    /// The chunk of `run` (of `space`) with the greatest first snap in
    /// `[lo, hi]` in `index`, loaded, with the first snap of the next one.
    fn indexed_chunk<'s>(
        &'s self,
        index: &'s ChunkIndex,
        space: u32,
        run: GranuleRun,
        (lo, hi): (Snap, Snap),
    ) -> Result<Option<((Snap, LoadedChunk<'s>), Option<Snap>)>> {
        let Some((first, bytes, next)) = index.latest(run, lo, hi)? else {
            return Ok(None);
        };
        let key = (space, run.granule, first);
        Ok(Some((
            LoadedChunk::of_indexed(bytes, index.path(), key, hi, &self.cache, true)?,
            next,
        )))
    }
}

/// A chunk's bytes, read in place.
type StoredChunk = redb::AccessGuard<'static, &'static [u8]>;

/// A granule being walked by a cursor.
struct Walking {
    granule: u64,
    /// Its chunk of greatest first snap in the snaps asked for, so far.
    latest: Option<(Snap, StoredChunk)>,
    /// How many of its keys were passed.
    passed: usize,
    /// The least first snap past the snaps asked for, so far.
    after: Option<Snap>,
}

impl StoreRead for ReadStore {
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
        if let Some(index) = &self.index {
            let Some(run) = index.granule(space, granule)? else {
                return Ok(None);
            };
            return Ok(self.indexed_chunk(index, space, run, (lo, hi))?.map(|(chunk, _)| chunk));
        }
        let mut range = self
            .chunks
            .range((space, granule, lo)..=(space, granule, hi))
            .context("seeking a chunk")?;
        match range.next_back() {
            Some(entry) => {
                let (key, value) = entry.context("reading a chunk")?;
                let key = checked_key(key.value(), (space, granule, lo), (space, granule, hi))?;
                Ok(Some(LoadedChunk::of_stored(value, key, hi, &self.cache)?))
            }
            None => Ok(None),
        }
    }

    fn first_chunk_from(&self, space: u32, granule: u64, from: Snap, to: Snap) -> Result<Option<Snap>> {
        if let Some(index) = &self.index {
            return Ok(index
                .granule(space, granule)?
                .and_then(|run| index.first_from(run, from, to)));
        }
        let bounds = ((space, granule, from), (space, granule, to));
        let mut range = self.chunks.range(bounds.0..=bounds.1).context("seeking a chunk")?;
        match range.next() {
            Some(entry) => Ok(Some(
                checked_key(entry.context("seeking a chunk")?.0.value(), bounds.0, bounds.1)?.2,
            )),
            None => Ok(None),
        }
    }

    fn edge_granule(&self, space: u32, from: u64, to: u64, last: bool) -> Result<Option<u64>> {
        if from > to {
            return Ok(None);
        }
        stored_edge_granule(&self.chunks, space, from, to, last)
    }

    fn has_stretch_images(&self) -> bool {
        self.index.as_ref().is_some_and(|index| index.has_stretch_images())
    }

    fn stretch_image(&self, space: u32, stretch: u64, snap: Snap) -> Result<Option<StretchImage<'_>>> {
        match &self.index {
            Some(index) => index.stretch_image(space, stretch, snap),
            None => Ok(None),
        }
    }

    fn for_each_latest_chunk(
        &self,
        space: u32,
        granules: (u64, u64),
        snaps: (Snap, Snap),
        reverse: bool,
        f: &mut LatestChunkFn<'_>,
    ) -> Result<()> {
        // One cursor over the keys of every granule in the range; a granule
        // whose history holds many chunks outside `snaps` (a hot granule read
        // at an old snap) is left by a fresh seek instead of a walk.
        const WALK_LIMIT: usize = 2;
        let (lo, hi) = snaps;
        let side_hi = side_of(hi).1;
        // The last snap before a granule's next chunk, which starts at `after`
        // (if the granule has one on this side).
        let till_before = |after: Option<Snap>| till_before(after, side_hi);
        let (mut from, mut to) = granules;
        // Hands `f` the granule's chunk, with the last snap before its next
        // chunk where the walk saw it (`None`: sought if `f` asks).
        let mut visit = |g: u64, (first, chunk): (Snap, LoadedChunk<'_>), walked: Option<Snap>| -> Result<bool> {
            let place = chunk_place(space, g, first);
            let view = chunk.view(&place)?;
            let till = || walked.map_or_else(|| chunk_till(self, space, g, hi), Ok);
            let holds = || chunk.holds(&view, hi, &till);
            f(g, view, &holds)
        };
        if let Some(index) = &self.index {
            return index.for_each_latest(space, granules, (lo, hi), reverse, &mut |g, first, bytes, next| {
                // The batch brought the chunk's lines in already.
                let chunk = LoadedChunk::of_indexed(bytes, index.path(), (space, g, first), hi, &self.cache, false)?;
                visit(g, chunk, Some(till_before(next)))
            });
        }
        'seek: loop {
            if from > to {
                return Ok(());
            }
            let bounds = ((space, from, i64::MIN), (space, to, i64::MAX));
            let mut range = self.chunks.range(bounds.0..=bounds.1).context("reading chunks")?;
            let mut current: Option<Walking> = None;
            loop {
                let entry = if reverse { range.next_back() } else { range.next() };
                let next_key = match &entry {
                    Some(Ok((key, _))) => Some(checked_key(key.value(), bounds.0, bounds.1)?),
                    Some(Err(_)) | None => None,
                };
                let granule_done = match (&current, next_key) {
                    (Some(walking), Some(key)) => key.1 != walking.granule,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if granule_done {
                    if let Some(Walking {
                        granule: g,
                        latest: Some((first, value)),
                        after,
                        ..
                    }) = &current
                    {
                        // Every key of the granule was walked: its next chunk, if any, is `after`.
                        let chunk_till = till_before(*after);
                        let chunk = LoadedChunk::of_guard(value, (space, *g, *first), hi, &self.cache)?;
                        if !visit(*g, chunk, Some(chunk_till))? {
                            return Ok(());
                        }
                    }
                    current = None;
                }
                // Matched, not mapped: the entry's guards are large to move.
                let value = match entry {
                    Some(Ok((_, value))) => value,
                    Some(Err(e)) => return Err(crate::vocab::error::Error::storage("reading chunks", e)),
                    None => return Ok(()),
                };
                let Some((_, g, first)) = next_key else {
                    return Ok(());
                };
                let state = current.get_or_insert(Walking {
                    granule: g,
                    latest: None,
                    passed: 0,
                    after: None,
                });
                state.passed += 1;
                if first > hi && (reverse || state.after.is_none()) {
                    state.after = Some(first);
                }
                let wanted = lo <= first && first <= hi;
                if wanted && !(reverse && state.latest.is_some()) {
                    state.latest = Some((first, value));
                }
                // Walking down, the first wanted key is the granule's answer.
                let answered = reverse && state.latest.is_some();
                if answered || state.passed > WALK_LIMIT {
                    // A long walk is cut short by a seek. Either way the
                    // cursor moves on past this granule.
                    let Some(Walking { latest, after, .. }) = current.take() else {
                        return Ok(());
                    };
                    // Walking up, a key past `hi` settles the answer too: the
                    // latest wanted key, and the next chunk's first snap.
                    let settled = answered || (!reverse && after.is_some());
                    let chunk = match (settled, latest) {
                        (true, Some((first, value))) => {
                            Some(LoadedChunk::of_stored(value, (space, g, first), hi, &self.cache)?)
                        }
                        (true, None) => None,
                        (false, _) => self.chunk_at_or_before(space, g, lo, hi)?,
                    };
                    // Walking down, the last key past `hi` seen is the next
                    // chunk when the walk found the answer right below it.
                    let chunk_till = settled.then(|| till_before(after));
                    if let Some(chunk) = chunk
                        && !visit(g, chunk, chunk_till)?
                    {
                        return Ok(());
                    }
                    if reverse {
                        let Some(below) = g.checked_sub(1) else { return Ok(()) };
                        to = below;
                    } else {
                        let Some(above) = g.checked_add(1) else { return Ok(()) };
                        from = above;
                    }
                    continue 'seek;
                }
            }
        }
    }

    fn for_each_change(
        &self,
        space: u32,
        lo: Snap,
        hi: Snap,
        f: &mut dyn FnMut(Snap, u64) -> Result<()>,
    ) -> Result<()> {
        let range = self
            .changes
            .range((space, bucket_of(lo))..=(space, bucket_of(hi)))
            .context("reading changes")?;
        for entry in range {
            let (key, value) = entry.context("reading changes")?;
            let bucket = key.value().1;
            let place = || format!("changes table, space {space}, bucket {bucket}");
            for (snap, granule) in decode_bucket(bucket, value.value(), &place)? {
                if lo <= snap && snap <= hi {
                    f(snap, granule)?;
                }
            }
        }
        Ok(())
    }

    fn space_id(&self, name: &str) -> Result<Option<u32>> {
        Ok(self.space_ids.get(name).context("reading spaces")?.map(|v| v.value()))
    }

    fn spaces(&self) -> Result<Vec<(u32, String)>> {
        schema::list_spaces(&self.space_names)
    }

    fn image_cache(&self) -> Option<&Mutex<ImageCache>> {
        Some(&self.images)
    }

    fn capture(&self, name: &str) -> Result<Option<(u32, CaptureRecord)>> {
        capture_in(&self.capture_ids, &self.captures, name)
    }

    fn captures(&self) -> Result<Vec<(u32, CaptureRecord)>> {
        captures_in(&self.captures)
    }

    fn event_chunks(
        &self,
        capture: u32,
        from_seq: u64,
        f: &mut dyn FnMut(u64, EventChunkRecord) -> Result<bool>,
    ) -> Result<()> {
        event_chunks_in(&self.events, capture, from_seq, f)
    }

    fn address_track(
        &self,
        capture: u32,
        address: u64,
        group: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<bool> {
        match &self.event_tracks {
            Some(table) => track_in(table, capture, address, group, f),
            None => Ok(false),
        }
    }

    fn track_tail(&self, capture: u32, f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool> {
        let Some(table) = &self.track_tails else {
            return Ok(false);
        };
        match table.get(capture).context("reading track tails")? {
            Some(value) => f(value.value()).map(|()| true),
            None => Ok(false),
        }
    }

    fn tracked_groups(&self, capture: u32) -> Result<Vec<u64>> {
        match &self.track_groups {
            Some(table) => groups_in(table, capture),
            None => Ok(Vec::new()),
        }
    }

    fn last_timeline_change(&self, space: u32) -> Result<Option<Snap>> {
        let mut last = None;
        let mut range = self
            .changes
            .range((space, 0)..=(space, i64::MAX))
            .context("reading changes")?;
        if let Some(entry) = range.next_back() {
            let (key, value) = entry.context("reading changes")?;
            let bucket = key.value().1;
            let place = || format!("changes table, space {space}, bucket {bucket}");
            last = decode_bucket(bucket, value.value(), &place)?
                .last()
                .map(|&(snap, _)| snap);
        }
        Ok(last)
    }

    fn snap_meta(&self, snap: Snap) -> Result<Option<SnapMeta>> {
        match self.snaps.get(snap).context("reading snap metadata")? {
            Some(bytes) => Ok(Some(snaps::decode(snap, bytes.value())?)),
            None => Ok(None),
        }
    }

    fn snap_metas(&self, lo: Snap, hi: Snap) -> Result<Vec<(Snap, SnapMeta)>> {
        let mut out = Vec::new();
        for entry in self.snaps.range(lo..=hi).context("reading snap metadata")? {
            let (key, value) = entry.context("reading snap metadata")?;
            out.push((key.value(), snaps::decode(key.value(), value.value())?));
        }
        Ok(out)
    }

    fn snap_metas_rev(&self, lo: Snap, hi: Snap, f: &mut dyn FnMut(Snap, SnapMeta) -> Result<bool>) -> Result<()> {
        for entry in self.snaps.range(lo..=hi).context("reading snap metadata")?.rev() {
            let (key, value) = entry.context("reading snap metadata")?;
            if !f(key.value(), snaps::decode(key.value(), value.value())?)? {
                break;
            }
        }
        Ok(())
    }

    fn latest_fork(&self, lo: Snap, hi: Snap) -> Result<Option<(Snap, Snap)>> {
        match &self.snap_forks {
            Some(forks) => snaps::latest_fork_in(forks, lo, hi),
            None => latest_fork_by_scan(self, lo, hi),
        }
    }

    fn horizon(&self) -> Result<Option<Snap>> {
        Ok(self.horizon)
    }

    fn meta_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .meta
            .get(key)
            .context("reading metadata")?
            .map(|v| v.value().to_vec()))
    }

    fn register_records(&self) -> Result<Vec<(String, Vec<u8>)>> {
        match &self.register_map {
            Some(table) => regmap::records_in(table),
            None => Ok(Vec::new()),
        }
    }

    fn region_records(&self, space: u32) -> Result<Vec<(String, Snap, Vec<u8>)>> {
        match &self.regions {
            Some(table) => regions::records_in(table, space),
            None => Ok(Vec::new()),
        }
    }

    fn bus_register_records(&self, space: u32) -> Result<Vec<(u64, Vec<u8>)>> {
        match &self.bus_registers {
            Some(table) => busmap::records_in(table, space),
            None => Ok(Vec::new()),
        }
    }
}
