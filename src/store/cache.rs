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
//! unpacked file, a decoded chunk is kept as *parts* of at most the
//! database's chunk length (64 deltas), each with its own checkpoint, and
//! readers see the parts as the chunks they are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::store::chunk::{ByteAsOf, CheckpointRecord, ChunkRecord, GRANULE};
use crate::store::packed;
use crate::types::Snap;

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

/// A decoded packed chunk: its deltas cut into parts, in snap order, each a
/// chunk of its own (the first with the packed chunk's checkpoint).
#[derive(Debug)]
pub(crate) struct DecodedChunk {
    pub parts: Vec<ChunkRecord>,
}

impl DecodedChunk {
    /// Cuts `record` into parts of at most `part_deltas` deltas.
    pub fn cut(record: ChunkRecord, part_deltas: usize, place: &dyn Fn() -> String) -> Result<DecodedChunk> {
        let part_deltas = part_deltas.max(1);
        let view = record.view();
        if view.delta_count() <= part_deltas {
            return Ok(DecodedChunk { parts: vec![record] });
        }
        let mut image = if view.checkpoint_len() == 0 {
            vec![ByteAsOf::default(); GRANULE as usize]
        } else {
            view.checkpoint(place)?.to_image(place)?
        };
        let n = view.delta_count();
        let mut parts = Vec::with_capacity(n.div_ceil(part_deltas));
        let mut checkpoint = record.checkpoint.clone();
        let mut start = 0;
        for i in 0..n {
            let delta = view.delta(i, place)?;
            if i > 0 && delta.snap <= view.delta_snap(i - 1) {
                return Err(crate::error::Error::corrupt(place(), "delta snaps out of order"));
            }
            delta.apply_to_image(&mut image);
            if (i + 1) % part_deltas == 0 || i + 1 == n {
                let next = if i + 1 == n {
                    CheckpointRecord::default()
                } else {
                    CheckpointRecord::from_image(&image)
                };
                parts.push(record.part(start, i + 1, std::mem::replace(&mut checkpoint, next)));
                start = i + 1;
            }
        }
        Ok(DecodedChunk { parts })
    }

    /// The part with the greatest first snap `<= hi` (the first part when
    /// none is: its first snap is the packed chunk's).
    pub fn part_at_or_before(&self, hi: Snap) -> usize {
        self.parts.partition_point(|p| p.first_snap <= hi).saturating_sub(1)
    }
}

#[derive(Default)]
struct Generations {
    young: HashMap<Key, Arc<DecodedChunk>>,
    young_bytes: usize,
    old: HashMap<Key, Arc<DecodedChunk>>,
}

/// The bytes an entry is charged: its parts' columns and overheads.
fn charge(chunk: &DecodedChunk) -> usize {
    chunk.parts.iter().map(charge_part).sum()
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
        let record = packed::unpack_chunk(bytes, place)?;
        if record.first_snap != first {
            return Err(crate::error::Error::corrupt(
                place(),
                format!("says it starts at snap {}", record.first_snap),
            ));
        }
        let chunk = Arc::new(DecodedChunk::cut(record, self.part_deltas, place)?);
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
        assert_eq!(a.parts[0].data, vec![7]);
        let b = cache.decoded(key, &packed_chunk(9), &place).unwrap();
        assert_eq!(b.parts[0].data, vec![9]);
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
        let cut = DecodedChunk::cut(record.clone(), 8, &place).unwrap();
        assert_eq!(cut.parts.len(), 7);
        for snap in 99..210 {
            let whole = record.view().image(snap, &place).unwrap();
            let part = &cut.parts[cut.part_at_or_before(snap)];
            assert_eq!(part.view().image(snap, &place).unwrap(), whole, "at snap {snap}");
        }
    }
}
