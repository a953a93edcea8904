//! The words of a masked memory search (M8): its direction and its progress.

/// Which way [`crate::MemoryRead::find_bytes`] searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the low end of the range up: the lowest match wins.
    Forward,
    /// From the high end of the range down: the highest match wins.
    Backward,
}

/// How far a long search has come, passed to its progress callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FindProgress {
    /// Bytes of KNOWN memory searched so far.
    pub searched: u64,
    /// The address the search has reached.
    pub at: u64,
}
