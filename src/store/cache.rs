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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::store::chunk::ChunkRecord;
use crate::store::packed;
use crate::types::Snap;

/// The default budget of decoded bytes.
pub(crate) const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// A packed chunk's identity: space, granule, first snap, CRC of its frame.
type Key = (u32, u64, Snap, u32);

/// Decoded packed chunks, within a budget of bytes.
pub(crate) struct ChunkCache {
    budget: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<Key, Arc<ChunkRecord>>,
    young_bytes: usize,
    old: HashMap<Key, Arc<ChunkRecord>>,
}

/// The bytes an entry is charged: its columns and a fixed overhead.
fn charge(record: &ChunkRecord) -> usize {
    let cp = &record.checkpoint;
    256 + record.delta_snaps.len()
        + record.delta_ends.len()
        + record.runs.len()
        + record.data.len()
        + cp.known.len()
        + cp.error.len()
        + cp.values.len()
        + cp.known_snaps.len()
        + cp.error_snaps.len()
}

impl ChunkCache {
    /// A cache holding up to about `budget` decoded bytes (0: none kept).
    pub fn new(budget: usize) -> ChunkCache {
        ChunkCache {
            budget,
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
    ) -> Result<Arc<ChunkRecord>> {
        let key = (space, granule, first, packed::stored_crc(bytes).unwrap_or(0));
        if let Some(found) = self.lookup(&key) {
            return Ok(found);
        }
        let record = Arc::new(packed::unpack_chunk(bytes, place)?);
        self.insert(key, &record);
        Ok(record)
    }

    fn lookup(&self, key: &Key) -> Option<Arc<ChunkRecord>> {
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

    fn insert(&self, key: Key, record: &Arc<ChunkRecord>) {
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
        let cache = ChunkCache::new(1 << 20);
        let place = || "t".to_string();
        let key = (1, 2, 10);
        let a = cache.decoded(key, &packed_chunk(7), &place).unwrap();
        assert_eq!(a.data, vec![7]);
        let b = cache.decoded(key, &packed_chunk(9), &place).unwrap();
        assert_eq!(b.data, vec![9]);
        assert!(Arc::ptr_eq(&b, &cache.decoded(key, &packed_chunk(9), &place).unwrap()));
    }

    #[test]
    fn the_budget_bounds_what_is_kept() {
        let cache = ChunkCache::new(4096);
        let place = || "t".to_string();
        let bytes = packed_chunk(1);
        for granule in 0..1000 {
            cache.decoded((0, granule, 10), &bytes, &place).unwrap();
        }
        let g = cache.generations.lock().unwrap();
        assert!(g.young.len() + g.old.len() <= 2 * 4096 / 256, "{}", g.young.len() + g.old.len());
    }
}
