//! The recorder's fold: a batch of observations, each at a later snap than
//! anything its granule holds, appended to the granules' last chunks in one
//! pass.
//!
//! Each granule's last chunk is taken out of the overlay once per batch and
//! the observations are pushed onto it as deltas: no lookup of the chunk, no
//! edit of a delta, no allocation per observation. When a chunk is full, the
//! next one's checkpoint comes from an image of the granule kept up to date
//! as deltas are pushed (decoded once per granule and batch), and the change
//! index takes the batch's entries bucket by bucket, in order. An observation
//! that is not such an append (a snap inside a chunk's span, or a granule
//! with a chunk after it) goes through the general edit,
//! [`WriteStore::apply_edit`], and gives the same history.

use std::collections::BTreeSet;
use std::collections::hash_map::Entry;

use crate::store::changes::bucket_of;
use crate::store::chunk::{ByteAsOf, CheckpointRecord, ChunkRecord, Edit, GRANULE, apply_run, for_each_piece};
use crate::store::history::chunk_place;
use crate::vocab::error::{Error, Result};
use crate::vocab::types::Snap;

use super::{WriteStore, is_full, stored_chunk};

/// What was observed at one snap over at most 8 bytes: their values, or
/// ERROR over them (a failed read).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Observation {
    pub snap: Snap,
    pub address: u64,
    /// 1..=8 bytes, and `address + len - 1` fits in u64.
    pub len: u8,
    /// The values of the bytes (the first `len`), or `None` for ERROR.
    pub bytes: Option<[u8; 8]>,
}

/// A granule's last chunk on one side of the timeline while a batch appends
/// to it, out of the overlay.
struct Open {
    record: ChunkRecord,
    /// The granule as of the record's last delta, once a new chunk's
    /// checkpoint needed it (then kept up to date).
    image: Option<Vec<ByteAsOf>>,
}

type OpenChunks = std::collections::HashMap<(u64, bool), Open, foldhash::fast::FixedState>;

impl WriteStore {
    /// Records `observations` (in snap order) in `space`, as `put_bytes`
    /// and `set_state(Error)` at their snaps would.
    pub fn append_observations(&mut self, space: u32, observations: &[Observation]) -> Result<()> {
        let mut open = OpenChunks::default();
        let mut changes = Vec::with_capacity(observations.len());
        let appended = self.append_into(space, observations, &mut open, &mut changes);
        // Back into the overlay, whatever happened: the store stays whole.
        for ((granule, _), chunk) in open.drain() {
            self.put_chunk(space, granule, chunk.record);
        }
        let noted = self.note_appended(space, &changes);
        appended?;
        noted?;
        self.maybe_flush()
    }

    fn append_into(
        &mut self,
        space: u32,
        observations: &[Observation],
        open: &mut OpenChunks,
        changes: &mut Vec<(Snap, u64)>,
    ) -> Result<()> {
        for o in observations {
            let last = o
                .address
                .checked_add(u64::from(o.len.max(1)) - 1)
                .filter(|_| (1..=8).contains(&o.len))
                .ok_or_else(|| {
                    Error::corrupt(
                        format!("space {space}, snap {}", o.snap),
                        format!("{} bytes observed at {:#x}", o.len, o.address),
                    )
                })?;
            for_each_piece(o.address, last, |granule, first, len| {
                let at = (granule * u64::from(GRANULE) + u64::from(first) - o.address) as usize;
                let data = o.bytes.as_ref().map(|bytes| &bytes[at..at + len]);
                let end = first + (len as u32 - 1);
                if self.append_piece(space, granule, o.snap, first, end, data, open)? {
                    changes.push((o.snap, granule));
                    return Ok(());
                }
                if let Some(chunk) = open.remove(&(granule, o.snap >= 0)) {
                    self.put_chunk(space, granule, chunk.record);
                }
                let edit = match data {
                    Some(data) => Edit::Put {
                        first,
                        data: data.to_vec(),
                    },
                    None => Edit::Error { first, last: end },
                };
                self.apply_edit(space, granule, o.snap, &edit)
            })?;
        }
        Ok(())
    }

    /// Pushes the records of positions `first..=last` at `p` (`data` for
    /// KNOWN, `None` for ERROR) onto the granule's last chunk; false when
    /// that is not an append.
    fn append_piece(
        &mut self,
        space: u32,
        granule: u64,
        p: Snap,
        first: u32,
        last: u32,
        data: Option<&[u8]>,
        open: &mut OpenChunks,
    ) -> Result<bool> {
        let chunk = match open.entry((granule, p >= 0)) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => match self.open_tail(space, granule, p)? {
                Some(chunk) => entry.insert(chunk),
                None => return Ok(false),
            },
        };
        let view = chunk.record.view();
        if view.last_snap().is_some_and(|l| p <= l) {
            return Ok(false);
        }
        if is_full(&view, self.max_deltas) || !chunk.record.can_hold(p) {
            let image = match chunk.image.take() {
                Some(image) => image,
                None => view.image(p - 1, &chunk_place(space, granule, chunk.record.first_snap))?,
            };
            let mut next = ChunkRecord::new(p, CheckpointRecord::from_image(&image));
            next.reserve_like(&chunk.record);
            chunk.image = Some(image);
            let full = std::mem::replace(&mut chunk.record, next);
            self.put_chunk(space, granule, full);
        }
        chunk.record.push_delta_of(p, [(first, last, data)]);
        if let Some(image) = chunk.image.as_mut() {
            apply_run(image, p, first, last, data);
        }
        Ok(true)
    }

    /// The granule's last chunk on `p`'s side, out of the overlay, when an
    /// observation at `p` appends to it; when the granule has none there, a
    /// new one starting at `p`.
    fn open_tail(&mut self, space: u32, granule: u64, p: Snap) -> Result<Option<Open>> {
        let first = match self.tail(space, granule, p)? {
            None => {
                // No chunk on this side: the granule holds nothing there.
                return Ok(Some(Open {
                    record: ChunkRecord::new(p, CheckpointRecord::default()),
                    image: Some(vec![ByteAsOf::default(); GRANULE as usize]),
                }));
            }
            Some(first) if first <= p => first,
            Some(_) => return Ok(None),
        };
        let key = (space, granule, first);
        let record = match self.chunks.remove(&key) {
            Some(Some(record)) => record,
            Some(None) => return Err(Error::corrupt(chunk_place(space, granule, first)(), "chunk vanished")),
            None => stored_chunk(&self.txn, key)?,
        };
        if record.view().last_snap().is_some_and(|l| p <= l) {
            self.chunks.insert(key, Some(record));
            return Ok(None);
        }
        Ok(Some(Open { record, image: None }))
    }

    /// Notes in the change index the `(snap, granule)` pairs appended, in
    /// snap order: each bucket's run of them is joined to it at once.
    fn note_appended(&mut self, space: u32, changes: &[(Snap, u64)]) -> Result<()> {
        for run in changes.chunk_by(|a, b| bucket_of(a.0) == bucket_of(b.0)) {
            let bucket = self.change_bucket(space, bucket_of(run[0].0))?;
            let mut added: BTreeSet<(Snap, u64)> = run.iter().copied().collect();
            if bucket.last().is_none_or(|l| added.first().is_some_and(|f| l < f)) {
                bucket.append(&mut added);
            } else {
                bucket.extend(added);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Observation;
    use crate::{AddressRange, Database, MemState, MemoryRead, Snap};

    /// Observations land in `[LO, HI)`: granules 1 to 3, across their edges.
    const LO: u64 = 0x1f0;
    const HI: u64 = 0x320;
    const SNAPS: std::ops::Range<Snap> = -6..30;

    fn observation() -> impl Strategy<Value = Observation> {
        (SNAPS, LO..HI - 8, 1u8..=8, any::<u64>(), prop::bool::weighted(0.2)).prop_map(
            |(snap, address, len, value, error)| Observation {
                snap,
                address,
                len,
                bytes: (!error).then(|| value.to_le_bytes()),
            },
        )
    }

    /// A batch of observations, in snap order (the recorder's) or not, and
    /// whether the transaction commits after it.
    fn batch() -> impl Strategy<Value = (Vec<Observation>, bool, bool)> {
        (
            prop::collection::vec(observation(), 0..30),
            any::<bool>(),
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Every observation appended in batches gives the history that
        /// `put_bytes` and `set_state(Error)` one by one give: the same
        /// bytes with their sources, the same most recent states and the
        /// same change index, on both sides of the timeline, with chunks of
        /// 3 deltas so that batches fill chunks and start new ones.
        #[test]
        fn batches_record_what_edits_one_by_one_record(batches in prop::collection::vec(batch(), 1..5)) {
            let dir = tempfile::tempdir().unwrap();
            let db = Database::builder().max_chunk_deltas(3).create(dir.path().join("t.tmdb")).unwrap();
            let mut txn = db.begin_write().unwrap();
            txn.create_space("edited").unwrap();
            let batched = txn.store.create_space("batched").unwrap();
            for (mut observations, sorted, commit) in batches {
                if sorted {
                    observations.sort_by_key(|o| o.snap);
                }
                txn.store.append_observations(batched, &observations).unwrap();
                let mut edited = txn.space("edited").unwrap();
                for o in &observations {
                    let range = AddressRange::new(o.address, o.address + u64::from(o.len) - 1).unwrap();
                    match o.bytes {
                        Some(bytes) => {
                            edited.put_bytes(o.snap, o.address, &bytes[..usize::from(o.len)]).unwrap();
                        }
                        None => edited.set_state(o.snap, range, MemState::Error).unwrap(),
                    }
                }
                if commit {
                    txn.commit().unwrap();
                    txn = db.begin_write().unwrap();
                }
            }
            txn.commit().unwrap();
            let read = db.begin_read().unwrap();
            let (edited, batched) = (read.space("edited").unwrap(), read.space("batched").unwrap());
            let range = AddressRange::new(LO - 16, HI + 15).unwrap();
            for snap in SNAPS.start - 1..SNAPS.end {
                let (mut a, mut b) = (vec![0; 0x150], vec![0; 0x150]);
                let sources_a = edited.get_bytes_with_sources(snap, LO - 16, &mut a).unwrap();
                let sources_b = batched.get_bytes_with_sources(snap, LO - 16, &mut b).unwrap();
                prop_assert_eq!(&a, &b, "bytes at snap {}", snap);
                prop_assert_eq!(sources_a, sources_b, "sources at snap {}", snap);
                prop_assert_eq!(
                    edited.most_recent_states(snap, range).unwrap(),
                    batched.most_recent_states(snap, range).unwrap(),
                    "states at snap {}", snap
                );
                prop_assert_eq!(
                    edited.changes(snap - 1, snap).unwrap(),
                    batched.changes(snap - 1, snap).unwrap(),
                    "changes at snap {}", snap
                );
            }
        }
    }
}
