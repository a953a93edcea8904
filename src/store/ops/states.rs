//! State queries (M6, M9): the states recorded at a snap, the addresses with
//! a state over a lifespan, the most recent states with their source snaps,
//! the ranges changed between two snaps, and a block's last change.

use crate::store::chunk::GRANULE;
use crate::store::chunk::Need;
use crate::store::chunk::OwnedRun;
use crate::store::history::{StoreRead, delta_at, last_change_in_block, read_range};
use crate::vocab::error::{Error, Result};
use crate::vocab::types::{AddressRange, Lifespan, RangeSet, Snap, SourcedStateRun, StatePredicate, StateRun};

/// The maximal runs of state recorded at exactly `snap` in `range`,
/// UNKNOWN omitted (M6).
pub(crate) fn states(store: &dyn StoreRead, space: u32, snap: Snap, range: AddressRange) -> Result<Vec<StateRun>> {
    let gs = u64::from(GRANULE);
    let mut granules = Vec::new();
    store.for_each_change(space, snap, snap, &mut |_, granule| {
        if (range.min() / gs..=range.max() / gs).contains(&granule) {
            granules.push(granule);
        }
        Ok(())
    })?;
    let mut out: Vec<StateRun> = Vec::new();
    for granule in granules {
        let Some(delta) = delta_at(store, space, granule, snap)? else {
            continue;
        };
        let base = granule * gs;
        for run in &delta.runs {
            let run_range = AddressRange::new(base + u64::from(run.first), base + u64::from(run.last))?;
            let Some(part) = run_range.intersect(&range) else {
                continue;
            };
            let state = run.state();
            match out.last_mut() {
                Some(prev) if prev.state == state && prev.range.max().checked_add(1) == Some(part.min()) => {
                    prev.range = AddressRange::new(prev.range.min(), part.max())?;
                }
                _ => out.push(StateRun { range: part, state }),
            }
        }
    }
    Ok(out)
}

/// The ranges recorded at the snaps of `[from, to]` whose runs satisfy
/// `keep`, as a range set.
fn recorded_in(
    store: &dyn StoreRead,
    space: u32,
    from: Snap,
    to: Snap,
    keep: &dyn Fn(&OwnedRun) -> bool,
) -> Result<RangeSet> {
    let mut changes = Vec::new();
    store.for_each_change(space, from, to, &mut |snap, granule| {
        changes.push((snap, granule));
        Ok(())
    })?;
    let gs = u64::from(GRANULE);
    let mut set = RangeSet::new();
    for (snap, granule) in changes {
        let Some(delta) = delta_at(store, space, granule, snap)? else {
            continue;
        };
        for run in delta.runs.iter().filter(|r| keep(r)) {
            set.insert(AddressRange::new(
                granule * gs + u64::from(run.first),
                granule * gs + u64::from(run.last),
            )?);
        }
    }
    Ok(set)
}

/// The addresses with a state satisfying `predicate` recorded at some snap
/// of `lifespan` (M6).
pub(crate) fn addresses_with_state(
    store: &dyn StoreRead,
    space: u32,
    lifespan: Lifespan,
    predicate: StatePredicate,
) -> Result<RangeSet> {
    recorded_in(store, space, lifespan.min(), lifespan.max(), &|run| {
        predicate.matches(run.state())
    })
}

/// The ranges with records at snaps in `(from, to]` (M9).
pub(crate) fn changes(store: &dyn StoreRead, space: u32, from: Snap, to: Snap) -> Result<RangeSet> {
    match from.checked_add(1) {
        Some(lo) if lo <= to => recorded_in(store, space, lo, to, &|_| true),
        _ => Ok(RangeSet::new()),
    }
}

/// The maximal runs of `range` whose latest record at or before `snap` has
/// one source snap and state, UNKNOWN omitted (M6).
pub(crate) fn most_recent_states(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    range: AddressRange,
) -> Result<Vec<SourcedStateRun>> {
    let gs = u64::from(GRANULE);
    let (first_granule, last_granule) = (range.min() / gs, range.max() / gs);
    let mut out: Vec<SourcedStateRun> = Vec::new();
    let mut next = first_granule;
    while let Some(granule) = store.next_granule(space, next, last_granule)? {
        let part = AddressRange::new(granule * gs, granule * gs + (gs - 1))?
            .intersect(&range)
            .ok_or_else(|| Error::corrupt("most_recent_states", "granule outside its range"))?;
        read_range(
            store,
            space,
            snap,
            part.min(),
            part.len() as u64,
            Need::RECORD,
            &mut |addr, bytes| {
                for (i, byte) in bytes.iter().enumerate() {
                    let Some((state, source)) = byte.record else { continue };
                    let a = addr + i as u64;
                    match out.last_mut() {
                        Some(run)
                            if run.snap == source
                                && run.state == state
                                && run.range.max().checked_add(1) == Some(a) =>
                        {
                            run.range = AddressRange::new(run.range.min(), a)?;
                        }
                        _ => out.push(SourcedStateRun {
                            range: AddressRange::new(a, a)?,
                            snap: source,
                            state,
                        }),
                    }
                }
                Ok(())
            },
        )?;
        match granule.checked_add(1) {
            Some(n) if n <= last_granule => next = n,
            _ => break,
        }
    }
    Ok(out)
}

/// The latest snap at or before `snap` at which anything in the block
/// holding `addr` was recorded (M9).
pub(crate) fn last_change_to_block(store: &dyn StoreRead, space: u32, snap: Snap, addr: u64) -> Result<Option<Snap>> {
    last_change_in_block(store, space, addr, snap)
}
