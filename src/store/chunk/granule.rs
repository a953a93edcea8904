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
