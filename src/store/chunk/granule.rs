//! Granules: the 256-byte unit of history, cutting addresses into granule
//! pieces, and what a read asks of and learns about one byte.

use crate::vocab::error::Result;
use crate::vocab::types::{MemState, Snap};

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

/// A set of granule positions, bit `p % 64` of word `p / 64`.
pub(crate) type Mask = [u64; 4];

/// Every position of a granule.
pub(crate) const FULL_MASK: Mask = [u64::MAX; 4];

/// Whether position `pos` is in `mask`.
pub(crate) fn mask_has(mask: &Mask, pos: usize) -> bool {
    mask[pos / 64] >> (pos % 64) & 1 == 1
}

/// The `index`-th little-endian u32 of a byte column.
pub(super) fn u32_at(bytes: &[u8], index: usize) -> Option<u32> {
    let at = index.checked_mul(4)?;
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The `index`-th little-endian u16 of a byte column.
pub(super) fn u16_at(bytes: &[u8], index: usize) -> Option<u16> {
    let at = index.checked_mul(2)?;
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}
