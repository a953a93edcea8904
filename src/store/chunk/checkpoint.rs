//! Checkpoints: the per-byte state of a granule as of a chunk's first snap
//! (values, their snaps, records), encoded as varint snap runs and
//! roaring bitmaps.

use roaring::RoaringBitmap;

use crate::format::varint;
use crate::vocab::error::{Error, Result};
use crate::vocab::types::{MemState, Snap};

use super::granule::*;
use super::record::*;

/// A decoded checkpoint.
pub(crate) struct Checkpoint<'a> {
    pub(super) known: RoaringBitmap,
    pub(super) error: RoaringBitmap,
    pub(super) values: &'a [u8],
    /// Varint runs of known snaps (see [`CheckpointRecord::known_snaps`]).
    pub(super) known_snaps: &'a [u8],
    /// Varint runs of error snaps.
    pub(super) error_snaps: &'a [u8],
}

/// The snap of rank `rank` in varint snap runs over `count` ranks, found by
/// a scan that allocates nothing; `None` if the runs are malformed.
pub(super) fn scan_snap_runs(bytes: &[u8], count: u64, rank: u64) -> Option<Snap> {
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
pub(super) fn decode_snap_runs(bytes: &[u8], count: u64) -> Option<Vec<(u32, Snap)>> {
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

pub(super) fn encode_snap_run(out: &mut Vec<u8>, last: &mut Option<(u32, Snap)>, rank: u32, snap: Snap) {
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
pub(super) fn snap_of_rank(runs: &[(u32, Snap)], rank: u32) -> Option<Snap> {
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

/// The positions of a checkpoint bitmap. Reads the two forms that
/// [`CheckpointRecord::from_image`] writes (one roaring container of key 0,
/// array or runs) directly; anything else goes through roaring itself.
pub(super) fn bitmap_mask(bytes: &[u8], place: &dyn Fn() -> String, what: &str) -> Result<Mask> {
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

/// The byte columns of a checkpoint, borrowed from a stored or owned record.
#[derive(Clone, Copy)]
pub(super) struct CheckpointBytes<'a> {
    pub(super) known: &'a [u8],
    pub(super) error: &'a [u8],
    pub(super) values: &'a [u8],
    pub(super) known_snaps: &'a [u8],
    pub(super) error_snaps: &'a [u8],
}

impl<'a> CheckpointBytes<'a> {
    pub(super) fn of(record: &'a CheckpointRecord) -> CheckpointBytes<'a> {
        CheckpointBytes {
            known: &record.known,
            error: &record.error,
            values: &record.values,
            known_snaps: &record.known_snaps,
            error_snaps: &record.error_snaps,
        }
    }
}
