//! The decoded-chunk cache: packed history chunks, decompressed once and
//! shared by every read transaction of a database.
//!
//! Entries are known by the chunk's key and the CRC-32C in its packed
//! trailer, so a chunk rewritten under the same key (a write into the past
//! after a pack stores it unpacked; a second pack may cut it differently)
//! is never served stale. Eviction is by two generations: lookups fill the
//! young one, and when it holds half the budget it becomes the old one and
//! the previous old one is dropped; a hit in the old generation moves the
//! entry back. That keeps the hot chunks at O(1) a lookup with no list.
//!
//! A packed chunk holds up to 2,048 deltas, and a read walks a chunk's
//! deltas back from its snap; so that a read costs what it costs on an
//! unpacked file, a decoded chunk is read as *parts* of at most the
//! database's chunk length (64 deltas), viewed in place, each with a
//! checkpoint computed when it is first read, and readers see the parts as
//! the chunks they are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::store::chunk::{CheckpointRecord, ChunkRecord, ChunkView};
use crate::store::packed;
use crate::vocab::error::Result;
use crate::vocab::types::Snap;

/// The default budget of decoded bytes.
pub(crate) const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// A packed chunk's identity: space, granule, first snap, CRC of its frame.
type Key = (u32, u64, Snap, u32);

/// Decoded packed chunks, within a budget of bytes.
pub(crate) struct ChunkCache {
    budget: usize,
    /// The most deltas in a part.
    part_deltas: usize,
    generations: Mutex<Generations>,
}

/// A decoded packed chunk, read as parts of at most `part_deltas` deltas:
/// part `k` is deltas `k * part_deltas..` of the record, viewed in place
/// with a checkpoint of its own, computed the first time the part is read.
#[derive(Debug)]
pub(crate) struct DecodedChunk {
    record: ChunkRecord,
    part_deltas: usize,
    /// Per part, the granule as of the snap before its first delta (part 0
    /// uses the record's own checkpoint).
    checkpoints: Vec<OnceLock<CheckpointRecord>>,
    /// Per part after the first, its first snap: a point read searches
    /// these few instead of the whole record's deltas.
    part_firsts: Vec<Snap>,
}

impl DecodedChunk {
    /// `record`, to be read in parts of at most `part_deltas` deltas.
    pub fn new(record: ChunkRecord, part_deltas: usize) -> DecodedChunk {
        let part_deltas = part_deltas.max(1);
        let parts = record.delta_count().div_ceil(part_deltas).max(1);
        let view = record.view();
        let part_firsts = (1..parts).map(|k| view.delta_snap(k * part_deltas)).collect();
        DecodedChunk {
            record,
            part_deltas,
            checkpoints: (0..parts).map(|_| OnceLock::new()).collect(),
            part_firsts,
        }
    }

    /// `record`, read whole.
    pub fn whole(record: ChunkRecord) -> DecodedChunk {
        DecodedChunk::new(record, usize::MAX)
    }

    /// The whole record.
    pub fn record(&self) -> &ChunkRecord {
        &self.record
    }

    fn parts(&self) -> usize {
        self.checkpoints.len()
    }

    /// The part with the greatest first snap `<= hi` (the first part when
    /// none is: its first snap is the chunk's).
    pub fn part_at_or_before(&self, hi: Snap) -> usize {
        // Parts after the first whose first snap is `<= hi`.
        self.part_firsts.partition_point(|&first| first <= hi)
    }

    /// The first snap of part `k`.
    pub fn part_first_snap(&self, k: usize) -> Snap {
        match k {
            0 => self.record.first_snap,
            _ => self.part_firsts.get(k - 1).copied().unwrap_or(self.record.first_snap),
        }
    }

    /// Part `k` as a chunk.
    pub fn part_view(&self, k: usize, place: &dyn Fn() -> String) -> Result<ChunkView<'_>> {
        if self.parts() == 1 {
            return Ok(self.record.view());
        }
        if k >= self.parts() {
            return Err(crate::vocab::error::Error::corrupt(place(), "a part past the chunk's"));
        }
        let start = k * self.part_deltas;
        let end = (start + self.part_deltas).min(self.record.delta_count());
        Ok(ChunkView::of_part(&self.record, start, end, self.checkpoint(k, place)?))
    }

    /// Part `k`'s checkpoint: the nearest earlier one known (or the
    /// chunk's), with the deltas between applied.
    fn checkpoint(&self, k: usize, place: &dyn Fn() -> String) -> Result<&CheckpointRecord> {
        if k == 0 {
            return Ok(&self.record.checkpoint);
        }
        if let Some(found) = self.checkpoints[k].get() {
            return Ok(found);
        }
        let (from, checkpoint) = (1..k)
            .rev()
            .find_map(|j| self.checkpoints[j].get().map(|c| (j, c)))
            .unwrap_or((0, &self.record.checkpoint));
        let view = self.record.view();
        let mut image = checkpoint.to_image(place)?;
        for i in from * self.part_deltas..k * self.part_deltas {
            view.delta(i, place)?.apply_to_image(&mut image);
        }
        let _ = self.checkpoints[k].set(CheckpointRecord::from_image(&image));
        self.checkpoints[k]
            .get()
            .ok_or_else(|| crate::vocab::error::Error::corrupt(place(), "a checkpoint that was not kept"))
    }
}

/// Decoded chunks by key, under a fast hash (a point read looks one up).
type Decoded = HashMap<Key, Arc<DecodedChunk>, foldhash::fast::FixedState>;

#[derive(Default)]
struct Generations {
    young: Decoded,
    young_bytes: usize,
    old: Decoded,
}

/// The bytes an entry is charged: its record, and a checkpoint per part
/// past the first.
fn charge(chunk: &DecodedChunk) -> usize {
    charge_part(&chunk.record) + 512 * (chunk.parts() - 1)
}

/// A part's columns and a fixed overhead for its record and allocations.
fn charge_part(record: &ChunkRecord) -> usize {
    256 + record.view().stored_len()
}

impl ChunkCache {
    /// A cache holding up to about `budget` decoded bytes (0: none kept),
    /// cutting chunks into parts of at most `part_deltas` deltas.
    pub fn new(budget: usize, part_deltas: usize) -> ChunkCache {
        ChunkCache {
            budget,
            part_deltas,
            generations: Mutex::new(Generations::default()),
        }
    }

    /// The packed chunk `bytes` stored under `(space, granule, first)`,
    /// decoded, from the cache when it is there.
    pub fn decoded(
        &self,
        (space, granule, first): (u32, u64, Snap),
        bytes: &[u8],
        place: &dyn Fn() -> String,
    ) -> Result<Arc<DecodedChunk>> {
        let key = (space, granule, first, packed::stored_crc(bytes).unwrap_or(0));
        if let Some(found) = self.lookup(&key) {
            return Ok(found);
        }
        let record = ChunkRecord::from_stored_at(bytes, first, place)?;
        let chunk = Arc::new(DecodedChunk::new(record, self.part_deltas));
        self.insert(key, &chunk);
        Ok(chunk)
    }

    fn lookup(&self, key: &Key) -> Option<Arc<DecodedChunk>> {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = g.young.get(key) {
            return Some(Arc::clone(found));
        }
        let found = g.old.remove(key)?;
        g.young_bytes += charge(&found);
        g.young.insert(*key, Arc::clone(&found));
        self.age(&mut g);
        Some(found)
    }

    fn insert(&self, key: Key, record: &Arc<DecodedChunk>) {
        if self.budget == 0 {
            return;
        }
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if g.young.insert(key, Arc::clone(record)).is_none() {
            g.young_bytes += charge(record);
        }
        self.age(&mut g);
    }

    /// Retires the young generation once it holds half the budget.
    fn age(&self, g: &mut Generations) {
        if g.young_bytes >= self.budget / 2 {
            g.old = std::mem::take(&mut g.young);
            g.young_bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunk::{CheckpointRecord, OwnedRun};

    fn packed_chunk(value: u8) -> Vec<u8> {
        let mut record = ChunkRecord::new(10, CheckpointRecord::default());
        let run = OwnedRun {
            first: 0,
            last: 0,
            data: Some(vec![value]),
        };
        record.push_delta(10, &[run]);
        packed::pack_chunk(&record, 1).unwrap()
    }

    #[test]
    fn a_rewritten_chunk_is_not_served_stale() {
        let cache = ChunkCache::new(1 << 20, 64);
        let place = || "t".to_string();
        let key = (1, 2, 10);
        let a = cache.decoded(key, &packed_chunk(7), &place).unwrap();
        assert_eq!(a.record().data, vec![7]);
        let b = cache.decoded(key, &packed_chunk(9), &place).unwrap();
        assert_eq!(b.record().data, vec![9]);
        assert!(Arc::ptr_eq(&b, &cache.decoded(key, &packed_chunk(9), &place).unwrap()));
    }

    #[test]
    fn the_budget_bounds_what_is_kept() {
        let cache = ChunkCache::new(4096, 64);
        let place = || "t".to_string();
        let bytes = packed_chunk(1);
        for granule in 0..1000 {
            cache.decoded((0, granule, 10), &bytes, &place).unwrap();
        }
        let g = cache.generations.lock().unwrap();
        assert!(
            g.young.len() + g.old.len() <= 2 * 4096 / 256,
            "{}",
            g.young.len() + g.old.len()
        );
    }

    #[test]
    fn parts_read_as_the_whole_chunk() {
        let mut record = ChunkRecord::new(100, CheckpointRecord::default());
        for i in 0..50u32 {
            let first = (i * 13) % 200;
            let data = (i % 7 != 0).then(|| vec![i as u8; 3]);
            let run = OwnedRun {
                first,
                last: first + 2,
                data,
            };
            record.push_delta(100 + i64::from(i) * 2, &[run]);
        }
        let place = || "t".to_string();
        let cut = DecodedChunk::new(record.clone(), 8);
        assert_eq!(cut.parts(), 7);
        // Backwards, so that checkpoints are computed out of order.
        for snap in (99..210).rev() {
            let whole = record.view().image(snap, &place).unwrap();
            let k = cut.part_at_or_before(snap);
            let part = cut.part_view(k, &place).unwrap();
            assert!(cut.part_first_snap(k) <= snap.max(100));
            assert_eq!(part.image(snap, &place).unwrap(), whole, "at snap {snap}");
            let mut filled = crate::store::chunk::GranuleImage::default();
            let mut all = crate::store::chunk::GranuleImage::default();
            part.fill_image(snap, &mut filled, &place).unwrap();
            record.view().fill_image(snap, &mut all, &place).unwrap();
            assert_eq!(
                (filled.values, filled.valued),
                (all.values, all.valued),
                "at snap {snap}"
            );
        }
    }
}
