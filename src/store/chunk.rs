//! Granule-history chunks: the record of one granule's history over a range
//! of snaps, and everything that reads or edits one.
//!
//! Histories are kept per *granule* of 256 bytes (the smallest block size),
//! whatever the database's block size, so that a checkpoint stays small and
//! a read touches one small chunk. A chunk of granule `g` starting at
//! `first_snap` holds a *checkpoint* (per byte: the most recent KNOWN value
//! with its snap, and the most recent record with its snap, as of
//! `first_snap - 1` on the same side of the timeline) followed by *deltas*:
//! the records made at each snap of the chunk, in snap order. A read at snap
//! `s` walks the deltas at or before `s` backwards and falls back to the
//! checkpoint, so its cost is bounded by the chunk's size, never by the
//! length of the granule's history.
//!
//! The record is an rkyv archive whose fields are byte columns in an explicit
//! little-endian layout (see FORMAT.md); rkyv is built with `little_endian`,
//! `unaligned` and `pointer_width_32`, so the envelope is fixed too.

use rkyv::{Archive, Deserialize, Serialize};
use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::store::varint;
use crate::types::{MemState, Snap};

/// The bytes of one granule: the unit of history storage.
pub(crate) const GRANULE: u32 = 256;

/// Visits the granule pieces of addresses `[start, last]`: `(granule, first
/// position, length)`.
pub(crate) fn for_each_piece(start: u64, last: u64, mut f: impl FnMut(u64, u32, usize) -> Result<()>) -> Result<()> {
    let gs = u64::from(GRANULE);
    let mut addr = start;
    loop {
        let granule = addr / gs;
        let piece_last = (granule * gs + (gs - 1)).min(last);
        f(granule, (addr % gs) as u32, (piece_last - addr + 1) as usize)?;
        if piece_last == last {
            return Ok(());
        }
        addr = piece_last + 1;
    }
}

/// Stored values up to this size are brought into the CPU cache whole by
/// [`touch_lines`]; a point read visits most of a chunk's cache lines.
const TOUCHED_BYTES: usize = 8192;

/// Reads one byte of every cache line of `bytes` (if it is no larger than
/// [`TOUCHED_BYTES`]), all at once: the loads are independent, so a cold
/// chunk costs about one memory latency instead of one per column a read
/// goes on to visit.
#[inline]
pub(crate) fn touch_lines(bytes: &[u8]) {
    if bytes.len() > TOUCHED_BYTES {
        return;
    }
    let mut folded = 0u8;
    for line in bytes.chunks(64) {
        folded ^= line[0];
    }
    std::hint::black_box(folded);
}

/// Bytes of one run in [`ChunkRecord::runs`]: first u8, last u8, kind u8.
const RUN_BYTES: usize = 3;
/// Bytes per delta in [`ChunkRecord::delta_snaps`].
const DELTA_SNAP_BYTES: usize = 4;
/// Bytes per delta in [`ChunkRecord::delta_ends`].
const DELTA_END_BYTES: usize = 4;
/// The most bytes of deltas a chunk may hold (its ends are u16).
pub(crate) const MAX_CHUNK_DELTA_BYTES: usize = u16::MAX as usize;

const KIND_KNOWN: u8 = 0;
const KIND_ERROR: u8 = 1;

/// The stored form of a chunk (and, in a write transaction, the editable one).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct ChunkRecord {
    /// The first snap the chunk covers; equal to the snap in its key.
    pub first_snap: i64,
    /// The block as of `first_snap - 1`.
    pub checkpoint: CheckpointRecord,
    /// Per delta, u32 LE: its snap minus `first_snap`, strictly increasing.
    pub delta_snaps: Vec<u8>,
    /// Per delta, two u16 LE: the end (exclusive) of its runs in `runs`
    /// (counted in runs) and of its bytes in `data`.
    pub delta_ends: Vec<u8>,
    /// Runs of 3 bytes: first position u8, last position u8, kind u8 (0 KNOWN
    /// with `last - first + 1` bytes in `data`, 1 ERROR with none). Within a
    /// delta, runs are sorted and disjoint.
    pub runs: Vec<u8>,
    /// The observed bytes of the KNOWN runs, in order.
    pub data: Vec<u8>,
}

/// The per-byte state of a block as of one snap, compactly.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct CheckpointRecord {
    /// Positions with a KNOWN value (roaring portable format; empty bytes for
    /// an empty set).
    pub known: Vec<u8>,
    /// Positions whose most recent record is ERROR (roaring, as `known`).
    pub error: Vec<u8>,
    /// The value of each known position, in position order.
    pub values: Vec<u8>,
    /// Varint runs: per run, the first rank's distance from the previous
    /// run's (LEB128; the first run starts at rank 0) and the snap's distance
    /// from the previous run's (zigzag LEB128; from 0 for the first): the
    /// known positions of ranks `first..next first` were observed at `snap`.
    pub known_snaps: Vec<u8>,
    /// The same for the error positions and the snap of their ERROR record.
    pub error_snaps: Vec<u8>,
}

/// What one byte holds as of a snap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ByteAsOf {
    /// The most recent KNOWN value (meaningful when `known` is set).
    pub value: u8,
    /// The snap of the most recent KNOWN observation.
    pub known: Option<Snap>,
    /// The most recent record: its state (KNOWN or ERROR) and snap.
    pub record: Option<(MemState, Snap)>,
}

/// Which parts of [`ByteAsOf`] a read needs; it stops as soon as they are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Need {
    pub known: bool,
    pub record: bool,
}

impl Need {
    pub const BOTH: Need = Need {
        known: true,
        record: true,
    };
    pub const KNOWN: Need = Need {
        known: true,
        record: false,
    };
    pub const RECORD: Need = Need {
        known: false,
        record: true,
    };
}

/// One run of a delta, owned: positions `[first, last]` of the block, with the
/// observed bytes for a KNOWN run (`None` for ERROR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedRun {
    pub first: u32,
    pub last: u32,
    pub data: Option<Vec<u8>>,
}

/// Applies one run recorded at `snap` (positions `first..=last`, with its
/// bytes for KNOWN, `None` for ERROR) to a granule's state; positions past
/// the granule are ignored.
pub(crate) fn apply_run(image: &mut [ByteAsOf], snap: Snap, first: u32, last: u32, data: Option<&[u8]>) {
    for pos in first..=last {
        let Some(slot) = image.get_mut(pos as usize) else {
            continue;
        };
        match data {
            Some(bytes) => {
                slot.value = bytes[(pos - first) as usize];
                slot.known = Some(snap);
                slot.record = Some((MemState::Known, snap));
            }
            None => slot.record = Some((MemState::Error, snap)),
        }
    }
}

impl OwnedDelta {
    /// Applies the delta's records to a granule's state.
    pub fn apply_to_image(&self, image: &mut [ByteAsOf]) {
        for run in &self.runs {
            apply_run(image, self.snap, run.first, run.last, run.data.as_deref());
        }
    }
}

impl OwnedRun {
    pub fn state(&self) -> MemState {
        if self.data.is_some() {
            MemState::Known
        } else {
            MemState::Error
        }
    }
}

/// The records of one snap in one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnedDelta {
    pub snap: Snap,
    pub runs: Vec<OwnedRun>,
}

/// An edit of the records at one snap over block positions `[first, last]`.
#[derive(Clone, Debug)]
pub(crate) enum Edit {
    /// Record these bytes as KNOWN (`data.len() == last - first + 1`).
    Put { first: u32, data: Vec<u8> },
    /// Record ERROR.
    Error { first: u32, last: u32 },
    /// Delete whatever is recorded.
    Remove { first: u32, last: u32 },
}

impl Edit {
    pub fn first(&self) -> u32 {
        match self {
            Edit::Put { first, .. } | Edit::Error { first, .. } | Edit::Remove { first, .. } => *first,
        }
    }

    pub fn last(&self) -> u32 {
        match self {
            Edit::Put { first, data } => first + (data.len() as u32) - 1,
            Edit::Error { last, .. } | Edit::Remove { last, .. } => *last,
        }
    }

    /// Applies the edit to the runs of one delta (sorted, disjoint); keeps them
    /// sorted, disjoint, and with adjacent runs of one kind merged.
    pub fn apply_to(&self, runs: &mut Vec<OwnedRun>) {
        let (lo, hi) = (self.first(), self.last());
        let mut out: Vec<OwnedRun> = Vec::with_capacity(runs.len() + 2);
        for run in runs.drain(..) {
            if run.last < lo || run.first > hi {
                out.push(run);
                continue;
            }
            if run.first < lo {
                out.push(slice_run(&run, run.first, lo - 1));
            }
            if run.last > hi {
                out.push(slice_run(&run, hi + 1, run.last));
            }
        }
        match self {
            Edit::Put { first, data } => out.push(OwnedRun {
                first: *first,
                last: hi,
                data: Some(data.clone()),
            }),
            Edit::Error { first, last } => out.push(OwnedRun {
                first: *first,
                last: *last,
                data: None,
            }),
            Edit::Remove { .. } => {}
        }
        out.sort_by_key(|run| run.first);
        for run in out {
            match runs.last_mut() {
                Some(prev) if prev.last + 1 == run.first && prev.data.is_some() == run.data.is_some() => {
                    prev.last = run.last;
                    if let (Some(a), Some(b)) = (prev.data.as_mut(), run.data) {
                        a.extend_from_slice(&b);
                    }
                }
                _ => runs.push(run),
            }
        }
    }
}

fn slice_run(run: &OwnedRun, first: u32, last: u32) -> OwnedRun {
    let data = run.data.as_ref().map(|d| {
        let from = (first - run.first) as usize;
        let to = (last - run.first) as usize + 1;
        d[from..to].to_vec()
    });
    OwnedRun { first, last, data }
}

fn u32_at(bytes: &[u8], index: usize) -> Option<u32> {
    let at = index.checked_mul(4)?;
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u16_at(bytes: &[u8], index: usize) -> Option<u16> {
    let at = index.checked_mul(2)?;
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// A validated, borrowed view of a chunk, stored or owned.
#[derive(Clone, Copy)]
pub(crate) struct ChunkView<'a> {
    pub first_snap: Snap,
    checkpoint: CheckpointBytes<'a>,
    delta_snaps: &'a [u8],
    delta_ends: &'a [u8],
    runs: &'a [u8],
    data: &'a [u8],
    /// Where the first delta's runs and bytes start in `runs` and `data`:
    /// (0, 0) but for a part of a chunk (see [`ChunkView::of_part`]).
    base: (usize, usize),
}

#[derive(Clone, Copy)]
struct CheckpointBytes<'a> {
    known: &'a [u8],
    error: &'a [u8],
    values: &'a [u8],
    known_snaps: &'a [u8],
    error_snaps: &'a [u8],
}

impl<'a> CheckpointBytes<'a> {
    fn of(record: &'a CheckpointRecord) -> CheckpointBytes<'a> {
        CheckpointBytes {
            known: &record.known,
            error: &record.error,
            values: &record.values,
            known_snaps: &record.known_snaps,
            error_snaps: &record.error_snaps,
        }
    }
}

/// One delta of a chunk: the records made at `snap`.
#[derive(Clone, Copy)]
pub(crate) struct DeltaView<'a> {
    pub snap: Snap,
    runs: &'a [u8],
    data: &'a [u8],
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
        let (mut lo, mut hi) = (0usize, self.delta_count());
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
    fn may_overlap(&self, i: usize, first: u32, last: u32) -> bool {
        let (lo, _) = self.ends(i);
        let (hi, _) = self.ends(i + 1);
        if hi <= lo {
            return true;
        }
        let position =
            |run: usize, at: usize| -> Option<u32> { self.runs.get(run * RUN_BYTES + at).map(|&b| u32::from(b)) };
        match (position(lo, 0), position(hi - 1, 1)) {
            (Some(delta_first), Some(delta_last)) => delta_first <= last && delta_last >= first,
            _ => true,
        }
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

/// A decoded checkpoint.
pub(crate) struct Checkpoint<'a> {
    known: RoaringBitmap,
    error: RoaringBitmap,
    values: &'a [u8],
    /// Varint runs of known snaps (see [`CheckpointRecord::known_snaps`]).
    known_snaps: &'a [u8],
    /// Varint runs of error snaps.
    error_snaps: &'a [u8],
}

/// The snap of rank `rank` in varint snap runs over `count` ranks, found by
/// a scan that allocates nothing; `None` if the runs are malformed.
fn scan_snap_runs(bytes: &[u8], count: u64, rank: u64) -> Option<Snap> {
    let (mut at, mut first, mut snap) = (0usize, 0u64, 0i64);
    let mut found = None;
    while at < bytes.len() {
        let step = varint::get(bytes, &mut at)?;
        if found.is_some() && step == 0 || found.is_none() && step != 0 {
            return None;
        }
        first = first.checked_add(step)?;
        let next = snap.checked_add(varint::unzigzag(varint::get(bytes, &mut at)?))?;
        if first >= count {
            return None;
        }
        if first > rank {
            return found;
        }
        snap = next;
        found = Some(snap);
    }
    found
}

/// Decodes varint snap runs over `count` ranks: starts at rank 0, ranks
/// strictly increasing and below `count`.
fn decode_snap_runs(bytes: &[u8], count: u64) -> Option<Vec<(u32, Snap)>> {
    let mut runs = Vec::new();
    let (mut at, mut rank, mut snap) = (0usize, 0u64, 0i64);
    while at < bytes.len() {
        let step = varint::get(bytes, &mut at)?;
        if !runs.is_empty() && step == 0 {
            return None;
        }
        rank = rank.checked_add(step)?;
        snap = snap.checked_add(varint::unzigzag(varint::get(bytes, &mut at)?))?;
        if runs.is_empty() && rank != 0 || rank >= count {
            return None;
        }
        runs.push((rank as u32, snap));
    }
    (runs.is_empty() == (count == 0)).then_some(runs)
}

fn encode_snap_run(out: &mut Vec<u8>, last: &mut Option<(u32, Snap)>, rank: u32, snap: Snap) {
    match *last {
        Some((_, s)) if s == snap => {}
        _ => {
            let (prev_rank, prev_snap) = last.unwrap_or((0, 0));
            varint::put(out, u64::from(rank - prev_rank));
            varint::put(out, varint::zigzag(snap.wrapping_sub(prev_snap)));
            *last = Some((rank, snap));
        }
    }
}

/// The snap of the run holding rank `rank`.
fn snap_of_rank(runs: &[(u32, Snap)], rank: u32) -> Option<Snap> {
    let after = runs.partition_point(|&(first, _)| first <= rank);
    runs.get(after.checked_sub(1)?).map(|&(_, snap)| snap)
}

impl Checkpoint<'_> {
    /// The whole granule as the checkpoint records it.
    pub fn to_image(&self, place: &dyn Fn() -> String) -> Result<Vec<ByteAsOf>> {
        let bad = || Error::corrupt(place(), "checkpoint does not decode");
        let known_runs = decode_snap_runs(self.known_snaps, self.known.len()).ok_or_else(bad)?;
        let error_runs = decode_snap_runs(self.error_snaps, self.error.len()).ok_or_else(bad)?;
        let mut image = vec![ByteAsOf::default(); GRANULE as usize];
        for (rank, pos) in self.known.iter().enumerate() {
            let snap = snap_of_rank(&known_runs, rank as u32).ok_or_else(bad)?;
            let slot = image.get_mut(pos as usize).ok_or_else(bad)?;
            slot.value = *self.values.get(rank).ok_or_else(bad)?;
            slot.known = Some(snap);
            slot.record = Some((MemState::Known, snap));
        }
        for (rank, pos) in self.error.iter().enumerate() {
            let snap = snap_of_rank(&error_runs, rank as u32).ok_or_else(bad)?;
            image.get_mut(pos as usize).ok_or_else(bad)?.record = Some((MemState::Error, snap));
        }
        Ok(image)
    }

    /// The known value with its snap, and the record with its snap, at `pos`.
    #[allow(clippy::type_complexity)]
    pub fn lookup(
        &self,
        pos: u32,
        place: &dyn Fn() -> String,
    ) -> Result<(Option<(u8, Snap)>, Option<(MemState, Snap)>)> {
        let bad = || Error::corrupt(place(), format!("checkpoint lookup of position {pos}"));
        let known = if self.known.contains(pos) {
            let rank = (self.known.rank(pos) - 1) as u32;
            let value = *self.values.get(rank as usize).ok_or_else(bad)?;
            let snap = scan_snap_runs(self.known_snaps, self.known.len(), u64::from(rank)).ok_or_else(bad)?;
            Some((value, snap))
        } else {
            None
        };
        let record = if self.error.contains(pos) {
            let rank = (self.error.rank(pos) - 1) as u32;
            let snap = scan_snap_runs(self.error_snaps, self.error.len(), u64::from(rank)).ok_or_else(bad)?;
            Some((MemState::Error, snap))
        } else {
            known.map(|(_, snap)| (MemState::Known, snap))
        };
        Ok((known, record))
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

    /// Encodes the state of a whole block.
    pub fn from_image(image: &[ByteAsOf]) -> CheckpointRecord {
        // Positions come in order: gathered as runs of consecutive ones, then
        // each bitmap built a run at a time (inserting positions one by one
        // was most of a checkpoint's cost).
        let mut known = Vec::new();
        let mut error = Vec::new();
        let mut values = Vec::with_capacity(image.len());
        let mut known_snaps = Vec::new();
        let mut error_snaps = Vec::new();
        let (mut last_known, mut last_error) = (None, None);
        let (mut known_rank, mut error_rank) = (0u32, 0u32);
        let extend = |runs: &mut Vec<std::ops::RangeInclusive<u32>>, pos: u32| match runs.last_mut() {
            Some(run) if *run.end() + 1 == pos => *run = *run.start()..=pos,
            _ => runs.push(pos..=pos),
        };
        for (pos, byte) in image.iter().enumerate() {
            let pos = pos as u32;
            if let Some(snap) = byte.known {
                extend(&mut known, pos);
                values.push(byte.value);
                encode_snap_run(&mut known_snaps, &mut last_known, known_rank, snap);
                known_rank += 1;
            }
            if let Some((MemState::Error, snap)) = byte.record {
                extend(&mut error, pos);
                encode_snap_run(&mut error_snaps, &mut last_error, error_rank, snap);
                error_rank += 1;
            }
        }
        let encode = |runs: Vec<std::ops::RangeInclusive<u32>>| {
            if runs.is_empty() {
                return Vec::new();
            }
            let mut set = RoaringBitmap::new();
            for run in runs {
                set.insert_range(run);
            }
            set.optimize();
            let mut bytes = Vec::with_capacity(set.serialized_size());
            // Writing into a Vec cannot fail.
            let _ = set.serialize_into(&mut bytes);
            bytes
        };
        CheckpointRecord {
            known: encode(known),
            error: encode(error),
            values,
            known_snaps,
            error_snaps,
        }
    }
}

impl ChunkRecord {
    /// An empty chunk starting at `first_snap` with the given checkpoint.
    pub fn new(first_snap: Snap, checkpoint: CheckpointRecord) -> ChunkRecord {
        ChunkRecord {
            first_snap,
            checkpoint,
            ..ChunkRecord::default()
        }
    }

    pub fn view(&self) -> ChunkView<'_> {
        ChunkView::of_record(self)
    }

    /// Reserves room for as many deltas as `like` holds: a chunk that
    /// follows a full one fills up alike, without growing step by step.
    pub fn reserve_like(&mut self, like: &ChunkRecord) {
        self.delta_snaps.reserve(like.delta_snaps.len());
        self.delta_ends.reserve(like.delta_ends.len());
        self.runs.reserve(like.runs.len());
        self.data.reserve(like.data.len());
    }

    pub fn delta_count(&self) -> usize {
        self.delta_snaps.len() / DELTA_SNAP_BYTES
    }

    /// Whether a delta at `snap` can be stored (its offset fits a u32).
    pub fn can_hold(&self, snap: Snap) -> bool {
        snap >= self.first_snap && snap.abs_diff(self.first_snap) <= u64::from(u32::MAX)
    }

    /// Keeps the first `n` deltas.
    pub fn truncate_deltas(&mut self, n: usize) {
        let (runs, data) = if n == 0 {
            (0, 0)
        } else {
            (
                usize::from(u16_at(&self.delta_ends, 2 * (n - 1)).unwrap_or(0)),
                usize::from(u16_at(&self.delta_ends, 2 * (n - 1) + 1).unwrap_or(0)),
            )
        };
        self.delta_snaps.truncate(n * DELTA_SNAP_BYTES);
        self.delta_ends.truncate(n * DELTA_END_BYTES);
        self.runs.truncate(runs * RUN_BYTES);
        self.data.truncate(data);
    }

    /// Appends a delta after the last one. The caller guarantees the snap is
    /// later than every delta, `can_hold` it, the runs are sorted, disjoint
    /// and inside the granule, and the chunk stays under
    /// [`MAX_CHUNK_DELTA_BYTES`] of data.
    pub fn push_delta(&mut self, snap: Snap, runs: &[OwnedRun]) {
        debug_assert!(!runs.is_empty());
        self.push_delta_of(snap, runs.iter().map(|run| (run.first, run.last, run.data.as_deref())));
    }

    /// [`ChunkRecord::push_delta`] of runs given as positions `first..=last`
    /// with their bytes (`None` for ERROR), without owning them.
    pub fn push_delta_of<'d>(&mut self, snap: Snap, runs: impl IntoIterator<Item = (u32, u32, Option<&'d [u8]>)>) {
        debug_assert!(self.can_hold(snap));
        let offset = (snap - self.first_snap) as u32;
        self.delta_snaps.extend_from_slice(&offset.to_le_bytes());
        for (first, last, data) in runs {
            self.runs.push(first as u8);
            self.runs.push(last as u8);
            match data {
                Some(bytes) => {
                    self.runs.push(KIND_KNOWN);
                    self.data.extend_from_slice(bytes);
                }
                None => self.runs.push(KIND_ERROR),
            }
        }
        let run_end = (self.runs.len() / RUN_BYTES) as u16;
        let data_end = self.data.len() as u16;
        self.delta_ends.extend_from_slice(&run_end.to_le_bytes());
        self.delta_ends.extend_from_slice(&data_end.to_le_bytes());
    }

    /// The bytes of data its deltas hold.
    pub fn delta_data_len(&self) -> usize {
        self.data.len()
    }

    /// Serializes the record.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        // The only failure is a size past the format's 32-bit lengths, which
        // the writer's chunk bounds keep far away.
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .map(|bytes| bytes.into_vec())
            .map_err(|_| Error::TooLarge {
                what: "a history chunk",
                len: (self.data.len() + self.runs.len()) as u64,
            })
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

    /// Deserializes a stored record, checked.
    pub fn from_bytes(bytes: &[u8], place: &dyn Fn() -> String) -> Result<ChunkRecord> {
        rkyv::from_bytes::<ChunkRecord, rkyv::rancor::Error>(bytes)
            .map_err(|e| Error::corrupt(place(), format!("undecodable chunk: {e}")))
    }
}

/// One granule as of a snap, decoded for bulk reads (large `get_bytes`,
/// `find_bytes`, `diff`): values in a flat array and per-position bit masks,
/// without the per-byte source snaps that [`ChunkView::resolve`] finds.
#[derive(Clone)]
pub(crate) struct GranuleImage {
    /// The most recent KNOWN value of each position (where `valued`).
    pub values: [u8; GRANULE as usize],
    /// Positions with a KNOWN value at or before the snap.
    pub valued: Mask,
    /// Positions with any record (KNOWN or ERROR) at or before the snap.
    pub recorded: Mask,
    /// Positions whose most recent record is KNOWN.
    pub known_now: Mask,
}

/// Consecutive granules as of one snap, as bulk reads hand them out: the
/// values of all of them in one flat slice, and each one's masks (see
/// [`GranuleImage`]).
#[derive(Clone, Copy)]
pub(crate) struct ImageSpan<'a> {
    /// The first granule.
    pub first: u64,
    /// `GRANULE` values a granule.
    pub values: &'a [u8],
    pub valued: &'a [Mask],
    pub known_now: &'a [Mask],
}

impl<'a> ImageSpan<'a> {
    /// One granule.
    pub fn of(granule: u64, image: &'a GranuleImage) -> ImageSpan<'a> {
        ImageSpan {
            first: granule,
            values: &image.values,
            valued: std::slice::from_ref(&image.valued),
            known_now: std::slice::from_ref(&image.known_now),
        }
    }

    /// How many granules it holds.
    pub fn len(&self) -> usize {
        self.known_now.len()
    }

    /// The values of its `i`-th granule.
    pub fn values_of(&self, i: usize) -> &'a [u8] {
        &self.values[i * GRANULE as usize..(i + 1) * GRANULE as usize]
    }
}

/// A set of granule positions, bit `p % 64` of word `p / 64`.
pub(crate) type Mask = [u64; 4];

/// Every position of a granule.
pub(crate) const FULL_MASK: Mask = [u64::MAX; 4];

impl Default for GranuleImage {
    fn default() -> GranuleImage {
        GranuleImage {
            values: [0; GRANULE as usize],
            valued: [0; 4],
            recorded: [0; 4],
            known_now: [0; 4],
        }
    }
}

impl GranuleImage {
    fn clear(&mut self) {
        self.valued = [0; 4];
        self.recorded = [0; 4];
        self.known_now = [0; 4];
    }
}

/// Whether position `pos` is in `mask`.
pub(crate) fn mask_has(mask: &Mask, pos: usize) -> bool {
    mask[pos / 64] >> (pos % 64) & 1 == 1
}

/// The positions of a checkpoint bitmap. Reads the two forms that
/// [`CheckpointRecord::from_image`] writes (one roaring container of key 0,
/// array or runs) directly; anything else goes through roaring itself.
fn bitmap_mask(bytes: &[u8], place: &dyn Fn() -> String, what: &str) -> Result<Mask> {
    let mut mask = [0u64; 4];
    if bytes.is_empty() {
        return Ok(mask);
    }
    let bad = || Error::corrupt(place(), format!("checkpoint {what} bitmap does not decode"));
    let u16_le = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let set = |mask: &mut Mask, pos: u16| -> Result<()> {
        if u32::from(pos) >= GRANULE {
            return Err(Error::corrupt(
                place(),
                format!("checkpoint {what} bitmap past the granule"),
            ));
        }
        mask[usize::from(pos) / 64] |= 1 << (pos % 64);
        Ok(())
    };
    // Roaring's portable format: a cookie, container descriptions (key,
    // cardinality - 1), offsets where required, then the containers.
    const NO_RUNS: u32 = 12346;
    const WITH_RUNS: u16 = 12347;
    let cookie = u32::from_le_bytes(bytes.get(..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    if cookie == NO_RUNS && bytes.get(4..8) == Some(&1u32.to_le_bytes()[..]) && u16_le(8) == Some(0) {
        // One array container: key 0, its offset, then `cardinality` u16s.
        let count = usize::from(u16_le(10).ok_or_else(bad)?) + 1;
        if bytes.len() != 16 + 2 * count {
            return Err(bad());
        }
        let mut previous = None;
        for i in 0..count {
            let pos = u16_le(16 + 2 * i).ok_or_else(bad)?;
            if previous.is_some_and(|p| p >= pos) {
                return Err(bad());
            }
            previous = Some(pos);
            set(&mut mask, pos)?;
        }
        return Ok(mask);
    }
    if cookie == u32::from(WITH_RUNS) && bytes.get(4) == Some(&1) && u16_le(5) == Some(0) {
        // One run container: key 0, no offsets, then the run count and
        // (start, length - 1) pairs.
        let cardinality = usize::from(u16_le(7).ok_or_else(bad)?) + 1;
        let runs = usize::from(u16_le(9).ok_or_else(bad)?);
        if bytes.len() != 11 + 4 * runs {
            return Err(bad());
        }
        let (mut seen, mut next_free) = (0usize, 0u32);
        for i in 0..runs {
            let start = u32::from(u16_le(11 + 4 * i).ok_or_else(bad)?);
            let len = u32::from(u16_le(13 + 4 * i).ok_or_else(bad)?) + 1;
            if start < next_free || start + len > GRANULE {
                return Err(bad());
            }
            next_free = start + len;
            seen += len as usize;
            let (lo, hi) = (start as usize, (start + len) as usize);
            for (w, word) in mask.iter_mut().enumerate() {
                let (wlo, whi) = (w * 64, w * 64 + 64);
                let (a, b) = (lo.max(wlo), hi.min(whi));
                if a < b {
                    let bits = if b - a == 64 {
                        u64::MAX
                    } else {
                        ((1u64 << (b - a)) - 1) << (a - wlo)
                    };
                    *word |= bits;
                }
            }
        }
        if seen != cardinality {
            return Err(bad());
        }
        return Ok(mask);
    }
    let set_of = RoaringBitmap::deserialize_from(bytes)
        .map_err(|e| Error::corrupt(place(), format!("checkpoint {what} bitmap: {e}")))?;
    for pos in &set_of {
        set(&mut mask, u16::try_from(pos).unwrap_or(u16::MAX))?;
    }
    Ok(mask)
}

impl ChunkView<'_> {
    /// Decodes the granule as of `snap` (within the chunk's span) into `image`:
    /// the deltas at or before `snap`, newest first, then the checkpoint, a
    /// word of 64 positions at a time where it can.
    pub fn fill_image(&self, snap: Snap, image: &mut GranuleImage, place: &dyn Fn() -> String) -> Result<()> {
        self.fill_image_of(snap, &FULL_MASK, image, place)
    }

    /// [`ChunkView::fill_image`] for the positions in `want` only: it stops
    /// as soon as they are resolved, and the image's other positions are
    /// left incomplete.
    pub fn fill_image_of(
        &self,
        snap: Snap,
        want: &Mask,
        image: &mut GranuleImage,
        place: &dyn Fn() -> String,
    ) -> Result<()> {
        image.clear();
        // The positions still wanted, as one span (none: done): deltas
        // outside it are passed by a look at their ends (a point read walks
        // many).
        let span_of = |image: &GranuleImage| {
            let mut span: Option<(u32, u32)> = None;
            for (w, wanted) in want.iter().enumerate() {
                let open = wanted & !(image.valued[w] & image.recorded[w]);
                if open != 0 {
                    let (lo, hi) = (
                        w as u32 * 64 + open.trailing_zeros(),
                        w as u32 * 64 + 63 - open.leading_zeros(),
                    );
                    span = Some(span.map_or((lo, hi), |(a, _)| (a, hi)));
                }
            }
            span
        };
        let mut i = self.deltas_through(snap);
        let mut open = span_of(image);
        while i > 0
            && let Some((first, last)) = open
        {
            i -= 1;
            if !self.may_overlap(i, first, last) {
                continue;
            }
            let delta = self.delta(i, place)?;
            for run in delta.runs() {
                let (first, last) = (run.first as usize, run.last as usize);
                for w in first / 64..=last / 64 {
                    let (lo, hi) = (first.max(w * 64) - w * 64, last.min(w * 64 + 63) - w * 64);
                    let in_run = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
                    let newly_recorded = in_run & !image.recorded[w];
                    image.recorded[w] |= newly_recorded;
                    let Some(data) = run.data else { continue };
                    image.known_now[w] |= newly_recorded;
                    let to_value = in_run & !image.valued[w];
                    image.valued[w] |= to_value;
                    if to_value == in_run {
                        let (a, b) = (w * 64 + lo, w * 64 + hi);
                        image.values[a..=b].copy_from_slice(&data[a - first..=b - first]);
                    } else {
                        let mut bits = to_value;
                        while bits != 0 {
                            let pos = w * 64 + bits.trailing_zeros() as usize;
                            image.values[pos] = data[pos - first];
                            bits &= bits - 1;
                        }
                    }
                }
            }
            open = span_of(image);
        }
        let cp = &self.checkpoint;
        if open.is_none() || cp.known.is_empty() && cp.error.is_empty() {
            return Ok(());
        }
        let known = bitmap_mask(cp.known, place, "known")?;
        let error = bitmap_mask(cp.error, place, "error")?;
        let count: u32 = known.iter().map(|w| w.count_ones()).sum();
        if cp.values.len() != count as usize {
            return Err(Error::corrupt(
                place(),
                "checkpoint values do not match its known bitmap",
            ));
        }
        let mut rank = 0usize;
        for w in 0..4 {
            let (k, v) = (known[w], image.valued[w]);
            if k == u64::MAX && v == 0 {
                image.values[w * 64..w * 64 + 64].copy_from_slice(&cp.values[rank..rank + 64]);
            } else {
                let mut bits = k;
                let mut r = rank;
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    if v >> b & 1 == 0 {
                        image.values[w * 64 + b] = cp.values[r];
                    }
                    r += 1;
                    bits &= bits - 1;
                }
            }
            rank += k.count_ones() as usize;
            let unrecorded = !image.recorded[w];
            image.known_now[w] |= k & !error[w] & unrecorded;
            image.recorded[w] |= (k | error[w]) & unrecorded;
            image.valued[w] |= k;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> String {
        "test chunk".into()
    }

    #[test]
    fn a_chunk_round_trips_through_its_archive() {
        let mut image = vec![ByteAsOf::default(); 256];
        image[3] = ByteAsOf {
            value: 7,
            known: Some(5),
            record: Some((MemState::Known, 5)),
        };
        image[4] = ByteAsOf {
            value: 8,
            known: Some(2),
            record: Some((MemState::Error, 6)),
        };
        image[9] = ByteAsOf {
            value: 0,
            known: None,
            record: Some((MemState::Error, 6)),
        };
        let mut chunk = ChunkRecord::new(10, CheckpointRecord::from_image(&image));
        chunk.push_delta(
            10,
            &[OwnedRun {
                first: 3,
                last: 3,
                data: Some(vec![0xaa]),
            }],
        );
        chunk.push_delta(
            12,
            &[OwnedRun {
                first: 4,
                last: 9,
                data: None,
            }],
        );
        let bytes = chunk.to_bytes().unwrap();
        let view = ChunkView::of_bytes(&bytes, &place).unwrap();
        assert_eq!(view.delta_count(), 2);
        assert_eq!(view.delta_snap(1), 12);
        // As of snap 11: byte 3 from delta 10, byte 4 from the checkpoint.
        let mut out = vec![ByteAsOf::default(); 7];
        view.resolve(11, 3, &mut out, Need::BOTH, &place).unwrap();
        assert_eq!(out[0].value, 0xaa);
        assert_eq!(out[0].known, Some(10));
        assert_eq!(out[1].value, 8);
        assert_eq!(out[1].known, Some(2));
        assert_eq!(out[1].record, Some((MemState::Error, 6)));
        assert_eq!(out[6].record, Some((MemState::Error, 6)));
        assert_eq!(out[2], ByteAsOf::default());
        // As of snap 12 the ERROR delta covers 4..=9.
        let mut out = vec![ByteAsOf::default(); 2];
        view.resolve(12, 3, &mut out, Need::BOTH, &place).unwrap();
        assert_eq!(out[1].record, Some((MemState::Error, 12)));
        assert_eq!(out[1].known, Some(2));
        assert_eq!(ChunkRecord::from_bytes(&bytes, &place).unwrap(), chunk);
    }

    #[test]
    fn checkpoint_bitmaps_decode_without_roaring_as_with_it() {
        // Sets of every shape a checkpoint holds: runs, scattered
        // positions, one position, full, and both ends of a granule.
        let mut sets: Vec<Vec<u32>> = vec![
            vec![0],
            vec![255],
            (0..256).collect(),
            (0..256).step_by(2).collect(),
            (10..20).chain(100..101).chain(200..256).collect(),
            (0..256).filter(|p| p % 7 == 3 || p / 64 == 2).collect(),
        ];
        let mut x = 12345u64;
        for _ in 0..200 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let density = (x >> 60) + 1;
            sets.push(
                (0..256u32)
                    .filter(|p| (x >> (p % 61)).wrapping_add(u64::from(*p)) % 16 < density)
                    .collect(),
            );
        }
        for set in sets {
            let mut bitmap: RoaringBitmap = set.iter().copied().collect();
            bitmap.optimize();
            let mut bytes = Vec::new();
            bitmap.serialize_into(&mut bytes).unwrap();
            let mask = bitmap_mask(&bytes, &place, "known").unwrap();
            let decoded: Vec<u32> = (0..256u32).filter(|&p| mask_has(&mask, p as usize)).collect();
            assert_eq!(decoded, set);
            // Cut short or lengthened, the same bytes are an error.
            assert!(bitmap_mask(&bytes[..bytes.len() - 1], &place, "known").is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(bitmap_mask(&longer, &place, "known").is_err());
        }
    }

    #[test]
    fn damaged_chunks_are_errors() {
        let mut chunk = ChunkRecord::new(0, CheckpointRecord::default());
        chunk.push_delta(
            0,
            &[OwnedRun {
                first: 0,
                last: 3,
                data: Some(vec![1, 2, 3, 4]),
            }],
        );
        chunk.data.pop();
        let bytes = chunk.to_bytes().unwrap();
        let view = ChunkView::of_bytes(&bytes, &place).unwrap();
        assert!(matches!(view.delta(0, &place), Err(Error::Corrupt { .. })));
        assert!(ChunkView::of_bytes(&[1, 2, 3], &place).is_err());
    }

    #[test]
    fn edits_cut_and_merge_runs() {
        let mut runs = vec![OwnedRun {
            first: 0,
            last: 9,
            data: Some((0..10).collect()),
        }];
        Edit::Error { first: 3, last: 4 }.apply_to(&mut runs);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[1].data, None);
        Edit::Put {
            first: 3,
            data: vec![30, 40],
        }
        .apply_to(&mut runs);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].data.as_deref(), Some(&[0, 1, 2, 30, 40, 5, 6, 7, 8, 9][..]));
        Edit::Remove { first: 0, last: 9 }.apply_to(&mut runs);
        assert!(runs.is_empty());
    }
}
