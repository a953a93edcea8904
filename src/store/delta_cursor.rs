//! Reading the records made at many snaps of a few granules, in snap order:
//! a capture's events read back (each event's bytes are the delta at its
//! snap) keep each granule's current chunk instead of seeking the chunks
//! table once an event.

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::cache::DecodedChunk;
use crate::store::chunk::{ChunkRecord, ChunkView, GRANULE};
use crate::store::history::{LoadedChunk, StoreRead, chunk_place};
use crate::vocab::error::Result;
use crate::vocab::types::{Snap, side_of};

/// How many granules a cursor keeps a chunk of before it starts afresh:
/// a bound on its memory (a few MiB) for reads scattered over many granules.
const MAX_HELD: usize = 2048;

/// A chunk a cursor keeps, whole.
enum Held {
    /// An unpacked chunk, copied out of its page.
    Record(Box<ChunkRecord>),
    /// A packed chunk, decoded (shared with the decoded-chunk cache).
    Decoded(Arc<DecodedChunk>),
}

impl Held {
    fn view(&self) -> ChunkView<'_> {
        match self {
            Held::Record(record) => record.view(),
            Held::Decoded(chunk) => chunk.record().view(),
        }
    }
}

/// The deltas of one space, read at snaps that mostly grow.
pub(crate) struct DeltaCursor {
    space: u32,
    held: HashMap<u64, (Snap, Held), foldhash::fast::FixedState>,
}

impl DeltaCursor {
    /// A cursor over space `space`, holding no chunk yet.
    pub fn new(space: u32) -> DeltaCursor {
        DeltaCursor {
            space,
            held: HashMap::default(),
        }
    }

    /// Copies into `out` the bytes from `address` on recorded KNOWN at
    /// exactly `snap`. Returns false, leaving `out` partly written, when
    /// the records made at `snap` do not cover them all (the caller then
    /// reads them as of `snap` the ordinary way).
    pub fn known_at(&mut self, store: &dyn StoreRead, snap: Snap, address: u64, out: &mut [u8]) -> Result<bool> {
        let mut done = 0usize;
        while done < out.len() {
            let Some(at) = address.checked_add(done as u64) else {
                return Ok(false);
            };
            let granule = at / u64::from(GRANULE);
            let first = (at % u64::from(GRANULE)) as u32;
            let take = (out.len() - done).min((GRANULE - first) as usize);
            if !self.granule_known_at(store, snap, granule, first, &mut out[done..done + take])? {
                return Ok(false);
            }
            done += take;
        }
        Ok(true)
    }

    /// [`DeltaCursor::known_at`] within one granule, from position `first`.
    fn granule_known_at(
        &mut self,
        store: &dyn StoreRead,
        snap: Snap,
        granule: u64,
        first: u32,
        out: &mut [u8],
    ) -> Result<bool> {
        let found = self
            .held
            .get(&granule)
            .and_then(|(first, held)| held.view().find_delta(snap).map(|i| (*first, i)));
        let (chunk_first, i) = match found {
            Some(found) => found,
            None => {
                let Some((first, held)) = self.load(store, granule, snap)? else {
                    return Ok(false);
                };
                let Some(i) = held.view().find_delta(snap) else {
                    return Ok(false);
                };
                if self.held.len() >= MAX_HELD {
                    self.held.clear();
                }
                self.held.insert(granule, (first, held));
                (first, i)
            }
        };
        let Some((_, held)) = self.held.get(&granule) else {
            return Ok(false);
        };
        let view = held.view();
        let delta = view.delta(i, &chunk_place(self.space, granule, chunk_first))?;
        let last = first + out.len() as u32 - 1;
        let mut covered = 0usize;
        for run in delta.runs() {
            if run.last < first || run.first > last {
                continue;
            }
            let Some(data) = run.data else {
                return Ok(false);
            };
            let lo = run.first.max(first);
            let hi = run.last.min(last);
            let from = (lo - run.first) as usize;
            let to = (hi - run.first) as usize + 1;
            out[(lo - first) as usize..=(hi - first) as usize].copy_from_slice(&data[from..to]);
            covered += to - from;
        }
        Ok(covered == out.len())
    }

    /// The chunk of `granule` holding `snap`, kept whole.
    fn load(&self, store: &dyn StoreRead, granule: u64, snap: Snap) -> Result<Option<(Snap, Held)>> {
        let (side_lo, _) = side_of(snap);
        let Some((part_first, chunk)) = store.chunk_at_or_before(self.space, granule, side_lo, snap)? else {
            return Ok(None);
        };
        let place = chunk_place(self.space, granule, part_first);
        let held = match chunk {
            LoadedChunk::Decoded(decoded, _) => {
                let first = decoded.record().first_snap;
                return Ok(Some((first, Held::Decoded(decoded))));
            }
            LoadedChunk::Owned(record) => Held::Record(Box::new(record.clone())),
            LoadedChunk::Stored(guard) => Held::Record(Box::new(ChunkRecord::from_stored(guard.value(), &place)?)),
            LoadedChunk::InPlace(bytes) => Held::Record(Box::new(ChunkRecord::from_stored(bytes, &place)?)),
            LoadedChunk::Indexed(bytes, index) => Held::Record(Box::new(ChunkRecord::from_stored(bytes, &|| {
                crate::store::history::indexed_place(&place, index)
            })?)),
            LoadedChunk::Copied(bytes) => Held::Record(Box::new(ChunkRecord::from_stored(&bytes, &place)?)),
        };
        Ok(Some((part_first, held)))
    }
}
