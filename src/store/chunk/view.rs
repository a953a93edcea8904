//! A validated, borrowed view of a stored or owned chunk: its checkpoint
//! bytes, its deltas and their runs, and reads of a byte as of a snap.

use roaring::RoaringBitmap;

use crate::vocab::error::{Error, Result};
use crate::vocab::types::{MemState, Snap};

use super::checkpoint::*;
use super::granule::*;
use super::record::*;

/// A validated, borrowed view of a chunk, stored or owned.
#[derive(Clone, Copy)]
pub(crate) struct ChunkView<'a> {
    pub first_snap: Snap,
    pub(super) checkpoint: CheckpointBytes<'a>,
    pub(super) delta_snaps: &'a [u8],
    pub(super) delta_ends: &'a [u8],
    pub(super) runs: &'a [u8],
    pub(super) data: &'a [u8],
    /// Where the first delta's runs and bytes start in `runs` and `data`:
    /// (0, 0) but for a part of a chunk (see [`ChunkView::of_part`]).
    pub(super) base: (usize, usize),
}

/// Chunks of at most this many deltas find a snap's by a count, not a
/// bisection ([`ChunkView::deltas_through`]).
const LINEAR_DELTAS: usize = 128;

/// One delta of a chunk: the records made at `snap`.
#[derive(Clone, Copy)]
pub(crate) struct DeltaView<'a> {
    pub snap: Snap,
    pub(super) runs: &'a [u8],
    pub(super) data: &'a [u8],
}

/// One run of a [`DeltaView`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunView<'a> {
    pub first: u32,
    pub last: u32,
    /// The observed bytes of a KNOWN run, `None` for ERROR.
    pub data: Option<&'a [u8]>,
}

impl RunView<'_> {
    pub fn state(&self) -> MemState {
        if self.data.is_some() {
            MemState::Known
        } else {
            MemState::Error
        }
    }
}

impl<'a> DeltaView<'a> {
    /// The runs, in position order.
    pub fn runs(&self) -> impl Iterator<Item = RunView<'a>> + 'a {
        let data = self.data;
        let mut at = 0usize;
        self.runs.chunks_exact(RUN_BYTES).map(move |r| {
            let first = u32::from(r[0]);
            let last = u32::from(r[1]);
            let run_data = if r[2] == KIND_KNOWN {
                let len = (last - first + 1) as usize;
                let d = &data[at..at + len];
                at += len;
                Some(d)
            } else {
                None
            };
            RunView {
                first,
                last,
                data: run_data,
            }
        })
    }

    /// Applies the delta's records to a granule's state.
    pub fn apply_to_image(&self, image: &mut [ByteAsOf]) {
        for run in self.runs() {
            apply_run(image, self.snap, run.first, run.last, run.data);
        }
    }

    pub fn to_owned(self) -> OwnedDelta {
        OwnedDelta {
            snap: self.snap,
            runs: self
                .runs()
                .map(|r| OwnedRun {
                    first: r.first,
                    last: r.last,
                    data: r.data.map(<[u8]>::to_vec),
                })
                .collect(),
        }
    }
}

impl<'a> ChunkView<'a> {
    pub fn of_record(record: &'a ChunkRecord) -> ChunkView<'a> {
        ChunkView {
            first_snap: record.first_snap,
            checkpoint: CheckpointBytes::of(&record.checkpoint),
            delta_snaps: &record.delta_snaps,
            delta_ends: &record.delta_ends,
            runs: &record.runs,
            data: &record.data,
            base: (0, 0),
        }
    }

    /// Deltas `from..to` of `record` (`from < to <= delta_count()`) read as
    /// a chunk with `checkpoint` (the granule as of the snap before delta
    /// `from`), without copying them: its snap offsets stay relative to the
    /// record's first snap, which the view keeps as its own.
    pub fn of_part(record: &'a ChunkRecord, from: usize, to: usize, checkpoint: &'a CheckpointRecord) -> ChunkView<'a> {
        let whole = ChunkView::of_record(record);
        let base = whole.ends(from);
        let snaps = |i: usize| (i * DELTA_SNAP_BYTES).min(record.delta_snaps.len());
        let ends = |i: usize| (i * DELTA_END_BYTES).min(record.delta_ends.len());
        ChunkView {
            checkpoint: CheckpointBytes::of(checkpoint),
            delta_snaps: &record.delta_snaps[snaps(from).min(snaps(to))..snaps(to)],
            delta_ends: &record.delta_ends[ends(from).min(ends(to))..ends(to)],
            base,
            ..whole
        }
    }

    /// Brings the columns a read of this (part of a) chunk visits into the
    /// CPU cache at once (see [`touch_lines`]): its deltas' snaps, ends,
    /// runs and bytes, and its checkpoint's bitmap and values.
    pub fn touch(&self) {
        let (runs_end, data_end) = self.ends(self.delta_count());
        let within = |bytes: &'a [u8], from: usize, to: usize| bytes.get(from.min(to)..to.min(bytes.len()));
        for bytes in [
            Some(self.delta_snaps),
            Some(self.delta_ends),
            within(self.runs, self.base.0 * RUN_BYTES, runs_end * RUN_BYTES),
            within(self.data, self.base.1, data_end),
            Some(self.checkpoint.known),
            Some(self.checkpoint.values),
        ]
        .into_iter()
        .flatten()
        {
            touch_lines(bytes);
        }
    }

    /// Validates the archive in `bytes` and views it. `place` names the chunk
    /// in error messages.
    pub fn of_bytes(bytes: &'a [u8], place: &dyn Fn() -> String) -> Result<ChunkView<'a>> {
        if crate::store::packed::is_packed(bytes) {
            return Err(Error::corrupt(place(), "a packed chunk read in place"));
        }
        let archived = rkyv::access::<ArchivedChunkRecord, rkyv::rancor::Error>(bytes)
            .map_err(|e| Error::corrupt(place(), format!("undecodable chunk: {e}")))?;
        let view = ChunkView {
            first_snap: archived.first_snap.to_native(),
            checkpoint: CheckpointBytes {
                known: archived.checkpoint.known.as_slice(),
                error: archived.checkpoint.error.as_slice(),
                values: archived.checkpoint.values.as_slice(),
                known_snaps: archived.checkpoint.known_snaps.as_slice(),
                error_snaps: archived.checkpoint.error_snaps.as_slice(),
            },
            delta_snaps: archived.delta_snaps.as_slice(),
            delta_ends: archived.delta_ends.as_slice(),
            runs: archived.runs.as_slice(),
            data: archived.data.as_slice(),
            base: (0, 0),
        };
        if !view.delta_snaps.len().is_multiple_of(DELTA_SNAP_BYTES)
            || view.delta_ends.len() != view.delta_count() * DELTA_END_BYTES
            || !view.runs.len().is_multiple_of(RUN_BYTES)
        {
            return Err(Error::corrupt(place(), "chunk columns of inconsistent lengths"));
        }
        Ok(view)
    }

    pub fn delta_count(&self) -> usize {
        self.delta_snaps.len() / DELTA_SNAP_BYTES
    }

    /// The snap of delta `i` (`i < delta_count()`).
    pub fn delta_snap(&self, i: usize) -> Snap {
        let offset = u32_at(self.delta_snaps, i).unwrap_or(0);
        self.first_snap.saturating_add(i64::from(offset))
    }

    /// The snap of the last delta, if any.
    pub fn last_snap(&self) -> Option<Snap> {
        self.delta_count().checked_sub(1).map(|i| self.delta_snap(i))
    }

    /// The number of deltas with a snap `<= snap`.
    pub fn deltas_through(&self, snap: Snap) -> usize {
        let n = self.delta_count();
        // A chunk's few deltas (64 by default) are counted without branches:
        // the offsets ascend, so the count of those at or before `snap` is
        // the partition point, and it costs less than a bisection's
        // mispredicted branches (a damaged chunk's count is still at most n).
        if n <= LINEAR_DELTAS {
            let offset = snap.saturating_sub(self.first_snap);
            if offset < 0 {
                return 0;
            }
            let offset = u32::try_from(offset).unwrap_or(u32::MAX);
            return self
                .delta_snaps
                .chunks_exact(DELTA_SNAP_BYTES)
                .map(|b| usize::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) <= offset))
                .sum();
        }
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.delta_snap(mid) <= snap {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The index of the delta at exactly `snap`.
    pub fn find_delta(&self, snap: Snap) -> Option<usize> {
        let n = self.deltas_through(snap);
        (n > 0 && self.delta_snap(n - 1) == snap).then(|| n - 1)
    }

    /// Where delta `i`'s runs and bytes start in the runs and data columns
    /// (`i <= delta_count()`: `ends(delta_count())` is where the last ends).
    pub fn ends(&self, i: usize) -> (usize, usize) {
        if i == 0 {
            return self.base;
        }
        let runs = u16_at(self.delta_ends, 2 * (i - 1)).unwrap_or(0);
        let data = u16_at(self.delta_ends, 2 * (i - 1) + 1).unwrap_or(0);
        (usize::from(runs), usize::from(data))
    }

    /// Whether delta `i`'s runs may touch positions `[first, last]`: a cheap
    /// look at its first and last run, without checking the delta (a damaged
    /// delta that is looked at is checked by [`ChunkView::delta`]).
    pub(super) fn may_overlap(&self, i: usize, first: u32, last: u32) -> bool {
        let (lo, hi) = (self.ends(i).0, self.ends(i + 1).0);
        if hi <= lo {
            return true;
        }
        match (self.runs.get(lo * RUN_BYTES), self.runs.get((hi - 1) * RUN_BYTES + 1)) {
            (Some(&delta_first), Some(&delta_last)) => u32::from(delta_first) <= last && u32::from(delta_last) >= first,
            _ => true,
        }
    }

    /// The latest of deltas `0..i` with a run that touches positions
    /// `[first, last]`, if any: a scan back over the runs column, three
    /// bytes a run, then a count of the deltas that end at or before the
    /// run found (a point read passes dozens of deltas that write other
    /// positions; looking at each delta's ends cost it more). Ends out of
    /// bounds (a damaged chunk) give `Some` of a delta that
    /// [`ChunkView::delta`] then refuses, never a panic.
    pub(super) fn latest_delta_touching(&self, i: usize, first: u32, last: u32) -> Option<usize> {
        let runs_end = self.ends(i).0;
        let Some(runs) = self.runs.get(self.base.0 * RUN_BYTES..runs_end * RUN_BYTES) else {
            return i.checked_sub(1);
        };
        let run = self.base.0
            + runs
                .chunks_exact(RUN_BYTES)
                .rposition(|r| u32::from(r[0]) <= last && u32::from(r[1]) >= first)?;
        // Deltas before the run's: those among `0..i` whose runs end at or
        // before it (the ends ascend).
        let before = self
            .delta_ends
            .chunks_exact(DELTA_END_BYTES)
            .take(i)
            .map(|e| usize::from(usize::from(u16::from_le_bytes([e[0], e[1]])) <= run))
            .sum::<usize>();
        Some(before.min(i - 1))
    }

    /// Delta `i`, checked: runs in bounds, sorted and disjoint, their bytes present.
    pub fn delta(&self, i: usize, place: &dyn Fn() -> String) -> Result<DeltaView<'a>> {
        let bad = |what: &str| Error::corrupt(place(), format!("delta {i}: {what}"));
        if i >= self.delta_count() {
            return Err(bad("missing"));
        }
        let (run_lo, data_lo) = self.ends(i);
        let (run_hi, data_hi) = self.ends(i + 1);
        if run_lo > run_hi || data_lo > data_hi {
            return Err(bad("decreasing ends"));
        }
        let runs = self
            .runs
            .get(run_lo * RUN_BYTES..run_hi * RUN_BYTES)
            .ok_or_else(|| bad("runs out of bounds"))?;
        let data = self
            .data
            .get(data_lo..data_hi)
            .ok_or_else(|| bad("bytes out of bounds"))?;
        if runs.is_empty() {
            return Err(bad("no runs"));
        }
        let mut needed = 0usize;
        let mut next_free = 0u32;
        for r in runs.chunks_exact(RUN_BYTES) {
            let first = u32::from(r[0]);
            let last = u32::from(r[1]);
            if first < next_free || last < first || r[2] > KIND_ERROR {
                return Err(bad("run out of order"));
            }
            next_free = last + 1;
            if r[2] == KIND_KNOWN {
                needed += (last - first + 1) as usize;
            }
        }
        if needed != data.len() {
            return Err(bad("byte count does not match its runs"));
        }
        Ok(DeltaView {
            snap: self.delta_snap(i),
            runs,
            data,
        })
    }

    /// The bytes of the granule as of `snap` where its latest delta at or
    /// before `snap` records all of it KNOWN in one run (an image or a copy
    /// written whole): a bulk read then needs no image of its own.
    pub fn whole_known_at(&self, snap: Snap, place: &dyn Fn() -> String) -> Result<Option<&'a [u8]>> {
        let Some(i) = self.deltas_through(snap).checked_sub(1) else {
            return Ok(None);
        };
        let delta = self.delta(i, place)?;
        let whole = [0, (GRANULE - 1) as u8, KIND_KNOWN];
        Ok((delta.runs == whole).then_some(delta.data))
    }

    /// All deltas, owned, from index `from` on.
    pub fn owned_deltas(&self, from: usize, place: &dyn Fn() -> String) -> Result<Vec<OwnedDelta>> {
        (from..self.delta_count())
            .map(|i| Ok(self.delta(i, place)?.to_owned()))
            .collect()
    }

    /// Decodes the checkpoint for lookups.
    pub fn checkpoint(&self, place: &dyn Fn() -> String) -> Result<Checkpoint<'a>> {
        let cp = &self.checkpoint;
        let bitmap = |bytes: &[u8], what: &str| -> Result<RoaringBitmap> {
            if bytes.is_empty() {
                return Ok(RoaringBitmap::new());
            }
            let set = RoaringBitmap::deserialize_from(bytes)
                .map_err(|e| Error::corrupt(place(), format!("checkpoint {what} bitmap: {e}")))?;
            if set.max().is_some_and(|m| m >= GRANULE) {
                return Err(Error::corrupt(
                    place(),
                    format!("checkpoint {what} bitmap past the granule"),
                ));
            }
            Ok(set)
        };
        let known = bitmap(cp.known, "known")?;
        let error = bitmap(cp.error, "error")?;
        if cp.values.len() as u64 != known.len() {
            return Err(Error::corrupt(
                place(),
                "checkpoint values do not match its known bitmap",
            ));
        }
        Ok(Checkpoint {
            known,
            error,
            values: cp.values,
            known_snaps: cp.known_snaps,
            error_snaps: cp.error_snaps,
        })
    }

    /// Fills the unresolved entries of `out` (positions `first..`, one per
    /// entry) with the state as of `snap`, which must lie in this chunk's span.
    /// `done` counts, per entry, which needed parts are found (bit 0 known,
    /// bit 1 record).
    pub fn resolve(
        &self,
        snap: Snap,
        first: u32,
        out: &mut [ByteAsOf],
        need: Need,
        place: &dyn Fn() -> String,
    ) -> Result<()> {
        let last = first + out.len() as u32 - 1;
        let full: u8 = u8::from(need.known) | (u8::from(need.record) << 1);
        // Per entry, the needed parts found (bit 0 known, bit 1 record);
        // parts not needed count as found. A granule has at most 256 bytes.
        let mut done = [!full & 0b11; GRANULE as usize];
        if out.len() > done.len() {
            return Err(Error::corrupt(place(), "a read wider than a granule"));
        }
        let mut remaining = out.len();
        let mut i = self.deltas_through(snap);
        while i > 0 && remaining > 0 {
            i -= 1;
            if !self.may_overlap(i, first, last) {
                continue;
            }
            let delta = self.delta(i, place)?;
            for run in delta.runs() {
                if run.last < first || run.first > last {
                    continue;
                }
                let lo = run.first.max(first);
                let hi = run.last.min(last);
                for pos in lo..=hi {
                    let k = (pos - first) as usize;
                    let d = &mut done[k];
                    if *d == 0b11 {
                        continue;
                    }
                    let slot = &mut out[k];
                    if *d & 0b10 == 0 {
                        slot.record = Some((run.state(), delta.snap));
                        *d |= 0b10;
                    }
                    if *d & 0b01 == 0
                        && let Some(bytes) = run.data
                    {
                        slot.value = bytes[(pos - run.first) as usize];
                        slot.known = Some(delta.snap);
                        *d |= 0b01;
                    }
                    if *d == 0b11 {
                        remaining -= 1;
                    }
                }
            }
        }
        if remaining == 0 || self.checkpoint.known.is_empty() && self.checkpoint.error.is_empty() {
            return Ok(());
        }
        let cp = self.checkpoint(place)?;
        for (k, slot) in out.iter_mut().enumerate() {
            let d = done[k];
            if d == 0b11 {
                continue;
            }
            let pos = first + k as u32;
            let (known, record) = cp.lookup(pos, place)?;
            if d & 0b01 == 0
                && let Some((value, ksnap)) = known
            {
                slot.value = value;
                slot.known = Some(ksnap);
            }
            if d & 0b10 == 0 {
                slot.record = record;
            }
        }
        Ok(())
    }

    /// The granule as the checkpoint records it (as of `first_snap - 1`).
    pub fn checkpoint_image(&self, place: &dyn Fn() -> String) -> Result<Vec<ByteAsOf>> {
        if self.checkpoint.known.is_empty() && self.checkpoint.error.is_empty() {
            return Ok(vec![ByteAsOf::default(); GRANULE as usize]);
        }
        self.checkpoint(place)?.to_image(place)
    }

    /// The state of every byte of the block as of `snap` (within the chunk's span).
    pub fn image(&self, snap: Snap, place: &dyn Fn() -> String) -> Result<Vec<ByteAsOf>> {
        // The checkpoint decoded once, then every delta up to `snap` applied
        // in order: linear in the chunk, where `resolve` looks each byte up.
        let mut image = self.checkpoint_image(place)?;
        for i in 0..self.deltas_through(snap) {
            let delta = self.delta(i, place)?;
            for run in delta.runs() {
                for pos in run.first..=run.last {
                    let slot = image
                        .get_mut(pos as usize)
                        .ok_or_else(|| Error::corrupt(place(), "a run past the granule"))?;
                    slot.record = Some((run.state(), delta.snap));
                    if let Some(bytes) = run.data {
                        slot.value = bytes[(pos - run.first) as usize];
                        slot.known = Some(delta.snap);
                    }
                }
            }
        }
        Ok(image)
    }

    /// An estimate of the stored size, for deciding when a chunk is full.
    pub fn stored_len(&self) -> usize {
        let cp = &self.checkpoint;
        cp.known.len()
            + cp.error.len()
            + cp.values.len()
            + cp.known_snaps.len()
            + cp.error_snaps.len()
            + self.delta_snaps.len()
            + self.delta_ends.len()
            + self.runs.len()
            + self.data.len()
    }

    pub fn checkpoint_len(&self) -> usize {
        let cp = &self.checkpoint;
        cp.known.len() + cp.error.len() + cp.values.len() + cp.known_snaps.len() + cp.error_snaps.len()
    }
}

impl CheckpointRecord {
    /// The granule as the checkpoint records it.
    pub fn to_image(&self, place: &dyn Fn() -> String) -> Result<Vec<ByteAsOf>> {
        let view = ChunkView {
            first_snap: 0,
            checkpoint: CheckpointBytes::of(self),
            delta_snaps: &[],
            delta_ends: &[],
            runs: &[],
            data: &[],
            base: (0, 0),
        };
        view.checkpoint_image(place)
    }
}

impl ChunkRecord {
    pub fn view(&self) -> ChunkView<'_> {
        ChunkView::of_record(self)
    }

    /// Decodes a stored value of the chunks table, unpacked or packed,
    /// checked as [`ChunkView::of_bytes`] checks.
    pub fn from_stored(bytes: &[u8], place: &dyn Fn() -> String) -> Result<ChunkRecord> {
        if crate::store::packed::is_packed(bytes) {
            return crate::store::packed::unpack_chunk(bytes, place);
        }
        ChunkView::of_bytes(bytes, place)?;
        ChunkRecord::from_bytes(bytes, place)
    }

    /// [`ChunkRecord::from_stored`] for the value stored under a key whose
    /// first snap is `first`, which the record must agree with.
    pub fn from_stored_at(bytes: &[u8], first: Snap, place: &dyn Fn() -> String) -> Result<ChunkRecord> {
        let record = ChunkRecord::from_stored(bytes, place)?;
        if record.first_snap != first {
            return Err(Error::corrupt(
                place(),
                format!("chunk says it starts at snap {}", record.first_snap),
            ));
        }
        Ok(record)
    }
}
