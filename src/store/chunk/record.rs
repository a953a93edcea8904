//! The stored record of a chunk (an rkyv archive of byte columns) and its
//! owned, editable parts: runs, deltas, edits.

use rkyv::{Archive, Deserialize, Serialize};

use crate::vocab::error::{Error, Result};
use crate::vocab::types::{MemState, Snap};

use super::granule::*;

/// Bytes of one run in [`ChunkRecord::runs`]: first u8, last u8, kind u8.
pub(super) const RUN_BYTES: usize = 3;
/// Bytes per delta in [`ChunkRecord::delta_snaps`].
pub(super) const DELTA_SNAP_BYTES: usize = 4;
/// Bytes per delta in [`ChunkRecord::delta_ends`].
pub(super) const DELTA_END_BYTES: usize = 4;
/// The most bytes of deltas a chunk may hold (its ends are u16).
pub(crate) const MAX_CHUNK_DELTA_BYTES: usize = u16::MAX as usize;

pub(super) const KIND_KNOWN: u8 = 0;
pub(super) const KIND_ERROR: u8 = 1;

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

pub(super) fn slice_run(run: &OwnedRun, first: u32, last: u32) -> OwnedRun {
    let data = run.data.as_ref().map(|d| {
        let from = (first - run.first) as usize;
        let to = (last - run.first) as usize + 1;
        d[from..to].to_vec()
    });
    OwnedRun { first, last, data }
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

    /// Deserializes a stored record, checked.
    pub fn from_bytes(bytes: &[u8], place: &dyn Fn() -> String) -> Result<ChunkRecord> {
        rkyv::from_bytes::<ChunkRecord, rkyv::rancor::Error>(bytes)
            .map_err(|e| Error::corrupt(place(), format!("undecodable chunk: {e}")))
    }
}
