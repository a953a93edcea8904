//! Differences between two snaps of one space (M9's `diff`): the addresses
//! whose most recent bytes or most recent states differ. Only granules that
//! changed between the two snaps are compared; a granule whose last change
//! is the same at both snaps cannot differ.

use std::collections::BTreeSet;

use crate::store::bulk::granule_image;
use crate::store::chunk::{GRANULE, GranuleImage};
use crate::store::history::StoreRead;
use crate::store::ops::read::granule_overlap;
use crate::vocab::error::Result;
use crate::vocab::types::{AddressRange, RangeSet, Snap, side_of};

/// The ranges of `range` in `space` whose most recent KNOWN byte, or whose
/// most recent state (KNOWN, ERROR, or none), differs between snaps `a` and
/// `b`. Equal values recorded at different snaps are not a difference.
pub(crate) fn diff(store: &dyn StoreRead, space: u32, a: Snap, b: Snap, range: AddressRange) -> Result<RangeSet> {
    let mut set = RangeSet::new();
    if a == b {
        return Ok(set);
    }
    let gs = u64::from(GRANULE);
    let (first, last) = (range.min() / gs, range.max() / gs);
    // The granules that may differ: those with a record at a snap in
    // (earlier, later] when both lie on one side of the timeline; any with
    // a history when they lie on opposite sides.
    let mut candidates = BTreeSet::new();
    if side_of(a) == side_of(b) {
        let (lo, hi) = (a.min(b), a.max(b));
        store.for_each_change(space, lo + 1, hi, &mut |_, granule| {
            if (first..=last).contains(&granule) {
                candidates.insert(granule);
            }
            Ok(())
        })?;
    } else {
        let mut from = first;
        while let Some(granule) = store.next_granule(space, from, last)? {
            candidates.insert(granule);
            if granule >= last {
                break;
            }
            from = granule + 1;
        }
    }
    let (mut at_a, mut at_b) = (GranuleImage::default(), GranuleImage::default());
    for granule in candidates {
        let found_a = granule_image(store, space, granule, a, &mut at_a)?;
        let found_b = granule_image(store, space, granule, b, &mut at_b)?;
        if !found_a && !found_b {
            continue;
        }
        let (base, p0, p1) = granule_overlap(granule, range);
        let mut run: Option<usize> = None;
        for p in p0..=p1 + 1 {
            let differs = p <= p1 && differs_at(&at_a, &at_b, p);
            match (differs, run) {
                (true, None) => run = Some(p),
                (false, Some(start)) => {
                    set.insert(AddressRange::new(base + start as u64, base + (p as u64 - 1))?);
                    run = None;
                }
                _ => {}
            }
        }
    }
    Ok(set)
}

/// Whether position `p` differs between two granule images.
fn differs_at(x: &GranuleImage, y: &GranuleImage, p: usize) -> bool {
    let bit = |mask: &crate::store::Mask| mask[p / 64] >> (p % 64) & 1;
    let state = |image: &GranuleImage| (bit(&image.recorded), bit(&image.known_now));
    let valued = bit(&x.valued);
    state(x) != state(y) || valued != bit(&y.valued) || valued == 1 && x.values[p] != y.values[p]
}
