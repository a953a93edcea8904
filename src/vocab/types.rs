//! The contract's vocabulary as types: snaps, lifespans, address ranges, range
//! sets, per-byte states and the runs that queries return.

use std::collections::BTreeMap;
use std::fmt;

use crate::vocab::error::{Error, Result};

pub use crate::vocab::snaps::Snap;

/// The state of one byte at one snap (M5, M6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemState {
    /// Nothing was recorded. Never stored.
    Unknown,
    /// The byte was observed; its value is known.
    Known,
    /// A read of the byte was attempted and failed.
    Error,
}

impl fmt::Display for MemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemState::Unknown => "UNKNOWN",
            MemState::Known => "KNOWN",
            MemState::Error => "ERROR",
        })
    }
}

/// Which recorded states `addresses_with_state` selects (M6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatePredicate {
    /// Bytes recorded KNOWN.
    IsKnown,
    /// Bytes recorded ERROR.
    IsError,
    /// Bytes recorded KNOWN or ERROR.
    IsKnownOrError,
}

impl StatePredicate {
    /// Whether `state` satisfies the predicate.
    pub fn matches(self, state: MemState) -> bool {
        match self {
            StatePredicate::IsKnown => state == MemState::Known,
            StatePredicate::IsError => state == MemState::Error,
            StatePredicate::IsKnownOrError => state != MemState::Unknown,
        }
    }
}

/// An inclusive range of snaps `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lifespan {
    min: Snap,
    max: Snap,
}

impl Lifespan {
    /// The lifespan `[min, max]`; an error if `min > max`.
    pub fn new(min: Snap, max: Snap) -> Result<Lifespan> {
        if min > max {
            return Err(Error::ReversedLifespan { min, max });
        }
        Ok(Lifespan { min, max })
    }

    /// The lifespan of one snap.
    pub fn at(snap: Snap) -> Lifespan {
        Lifespan { min: snap, max: snap }
    }

    /// The first snap.
    pub fn min(&self) -> Snap {
        self.min
    }

    /// The last snap.
    pub fn max(&self) -> Snap {
        self.max
    }

    /// Whether `snap` lies in the lifespan.
    pub fn contains(&self, snap: Snap) -> bool {
        self.min <= snap && snap <= self.max
    }
}

/// An inclusive range of byte addresses `[min, max]` that never wraps (M1),
/// shown as `0xMIN:0xMAX` (as the command line takes ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressRange {
    min: u64,
    max: u64,
}

impl AddressRange {
    /// The range `[min, max]`; an error if `min > max`.
    pub fn new(min: u64, max: u64) -> Result<AddressRange> {
        if min > max {
            return Err(Error::ReversedRange { min, max });
        }
        Ok(AddressRange { min, max })
    }

    /// The range of `len` bytes starting at `start`; an error if `len` is 0 or
    /// the range would run past `u64::MAX`.
    pub fn from_start_len(start: u64, len: u64) -> Result<AddressRange> {
        if len == 0 {
            return Err(Error::EmptyRange { start });
        }
        match start.checked_add(len - 1) {
            Some(max) => Ok(AddressRange { min: start, max }),
            None => Err(Error::RangePastEnd { start, len }),
        }
    }

    /// The whole 64-bit address space.
    pub fn full() -> AddressRange {
        AddressRange { min: 0, max: u64::MAX }
    }

    /// The first address.
    pub fn min(&self) -> u64 {
        self.min
    }

    /// The last address.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The number of addresses, which is `2^64` for the full space.
    pub fn len(&self) -> u128 {
        u128::from(self.max - self.min) + 1
    }

    /// Always false: a range holds at least one address. Present for clippy's
    /// `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: u64) -> bool {
        self.min <= addr && addr <= self.max
    }

    /// The overlap of two ranges, if any.
    pub fn intersect(&self, other: &AddressRange) -> Option<AddressRange> {
        let min = self.min.max(other.min);
        let max = self.max.min(other.max);
        (min <= max).then_some(AddressRange { min, max })
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}:{:#x}", self.min, self.max)
    }
}

/// A set of addresses kept as disjoint, non-adjacent inclusive ranges in
/// address order (adjacent ranges are merged as they are added).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// min -> max of each range.
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// Adds every address of `range`, merging with overlapping or adjacent ranges.
    pub fn insert(&mut self, range: AddressRange) {
        let mut min = range.min;
        let mut max = range.max;
        // A range that starts at or before `max + 1` and ends at or after `min - 1` merges.
        let upper = max.saturating_add(1);
        let mut absorbed = Vec::new();
        for (&lo, &hi) in self.ranges.range(..=upper).rev() {
            if hi.saturating_add(1) < min {
                break;
            }
            absorbed.push(lo);
            min = min.min(lo);
            max = max.max(hi);
        }
        for lo in absorbed {
            self.ranges.remove(&lo);
        }
        self.ranges.insert(min, max);
    }

    /// Removes every address of `range`, splitting ranges it cuts.
    pub fn remove(&mut self, range: AddressRange) {
        let mut cut = Vec::new();
        for (&lo, &hi) in self.ranges.range(..=range.max).rev() {
            if hi < range.min {
                break;
            }
            cut.push((lo, hi));
        }
        for (lo, hi) in cut {
            self.ranges.remove(&lo);
            if lo < range.min {
                self.ranges.insert(lo, range.min - 1);
            }
            if hi > range.max {
                self.ranges.insert(range.max + 1, hi);
            }
        }
    }

    /// Adds every range of `other`.
    pub fn extend(&mut self, other: &RangeSet) {
        for range in other.iter() {
            self.insert(range);
        }
    }

    /// Whether the set holds `addr`.
    pub fn contains(&self, addr: u64) -> bool {
        self.ranges
            .range(..=addr)
            .next_back()
            .is_some_and(|(_, &hi)| addr <= hi)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The number of disjoint ranges.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The number of addresses in the set.
    pub fn address_count(&self) -> u128 {
        self.ranges.iter().map(|(&lo, &hi)| u128::from(hi - lo) + 1).sum()
    }

    /// The ranges in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = AddressRange> + '_ {
        self.ranges.iter().map(|(&min, &max)| AddressRange { min, max })
    }
}

impl FromIterator<AddressRange> for RangeSet {
    fn from_iter<T: IntoIterator<Item = AddressRange>>(iter: T) -> Self {
        let mut set = RangeSet::new();
        for range in iter {
            set.insert(range);
        }
        set
    }
}

/// A maximal run of bytes with one state recorded at exactly one snap (M6 `states`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateRun {
    /// The addresses of the run.
    pub range: AddressRange,
    /// Their state (never `Unknown`).
    pub state: MemState,
}

/// A maximal run of bytes whose most recent record has the same snap and state
/// (M6 `most_recent_states`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcedStateRun {
    /// The addresses of the run.
    pub range: AddressRange,
    /// The snap the state was recorded at.
    pub snap: Snap,
    /// The state (never `Unknown`).
    pub state: MemState,
}

/// A maximal run of filled bytes that came from one snap (M4's variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilledRange {
    /// The addresses filled.
    pub range: AddressRange,
    /// The snap their bytes were observed at.
    pub snap: Snap,
}

/// The first and last snap of the side `snap` lies on: the timeline `[0, MAX]`
/// or the scratch snaps `[MIN, -1]` (M2). Queries never cross sides.
pub(crate) fn side_of(snap: Snap) -> (Snap, Snap) {
    if snap >= 0 { (0, Snap::MAX) } else { (Snap::MIN, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(min: u64, max: u64) -> AddressRange {
        AddressRange::new(min, max).unwrap()
    }

    #[test]
    fn range_set_merges_overlapping_and_adjacent_ranges() {
        let mut set = RangeSet::new();
        set.insert(r(10, 19));
        set.insert(r(30, 39));
        set.insert(r(20, 29));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![r(10, 39)]);
        set.insert(r(0, 5));
        set.insert(r(u64::MAX - 1, u64::MAX));
        set.insert(r(u64::MAX - 5, u64::MAX - 2));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![r(0, 5), r(10, 39), r(u64::MAX - 5, u64::MAX)]
        );
        assert!(set.contains(39) && !set.contains(40) && set.contains(u64::MAX));
        assert_eq!(set.address_count(), 6 + 30 + 6);
    }

    #[test]
    fn range_set_removal_splits_and_trims() {
        let mut set: RangeSet = [r(0, 9), r(20, 29), r(40, 49)].into_iter().collect();
        set.remove(r(5, 22));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![r(0, 4), r(23, 29), r(40, 49)]);
        set.remove(r(42, 45));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![r(0, 4), r(23, 29), r(40, 41), r(46, 49)]
        );
        set.remove(r(30, 39));
        assert_eq!(set.range_count(), 4);
        set.insert(r(u64::MAX - 3, u64::MAX));
        set.remove(AddressRange::full());
        assert!(set.is_empty());
    }

    #[test]
    fn ranges_refuse_reversal_and_overflow() {
        assert!(matches!(
            AddressRange::new(5, 4),
            Err(Error::ReversedRange { min: 5, max: 4 })
        ));
        assert!(matches!(
            AddressRange::from_start_len(u64::MAX, 2),
            Err(Error::RangePastEnd { .. })
        ));
        assert_eq!(AddressRange::full().len(), 1u128 << 64);
        assert!(Lifespan::new(3, 2).is_err());
    }
}
