//! The memory operations of one space (M1-M7, M9): [`MemoryRead`] answers
//! queries in read and write transactions alike; [`MemorySpaceMut`] records.

pub mod regions;
pub mod registers;
pub mod views;

use crate::store::{
    Edit, FULL_MASK, GRANULE, Need, StoreRead, WriteStore, delta_at, for_each_image_span, for_each_piece,
    last_change_in_block, mask_has, read_range,
};
use crate::vocab::error::{Error, Result, guard};
use crate::vocab::search::{Direction, FindProgress};
use crate::vocab::types::{
    AddressRange, FilledRange, Lifespan, MemState, RangeSet, Snap, SourcedStateRun, StatePredicate, StateRun,
};

pub(crate) mod private {
    use crate::store::StoreRead;

    /// What a query runs against.
    pub struct Source<'a> {
        pub(crate) store: &'a dyn StoreRead,
        pub(crate) space: u32,
    }

    /// Keeps [`super::MemoryRead`] implemented only here.
    pub trait Sealed {
        fn source(&self) -> Source<'_>;
    }
}

use private::{Sealed, Source};

/// A space in a read transaction.
pub struct MemorySpace<'a> {
    pub(crate) store: &'a dyn StoreRead,
    pub(crate) space: u32,
    pub(crate) name: String,
}

/// A space in a write transaction: records, and answers queries with the
/// transaction's own writes visible.
pub struct MemorySpaceMut<'a> {
    pub(crate) store: &'a mut WriteStore,
    pub(crate) space: u32,
    pub(crate) name: String,
}

impl Sealed for MemorySpace<'_> {
    fn source(&self) -> Source<'_> {
        Source {
            store: self.store,
            space: self.space,
        }
    }
}

impl Sealed for MemorySpaceMut<'_> {
    fn source(&self) -> Source<'_> {
        Source {
            store: &*self.store,
            space: self.space,
        }
    }
}

impl MemorySpace<'_> {
    /// The space's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The range `[start, start + len - 1]` of a query, refused if it would run
/// past the end of the address space.
fn query_range(start: u64, len: usize) -> Result<Option<AddressRange>> {
    if len == 0 {
        return Ok(None);
    }
    AddressRange::from_start_len(start, len as u64).map(Some)
}

/// The first address of `granule`, and the first and last of its positions
/// inside `range`.
pub(crate) fn granule_overlap(granule: u64, range: AddressRange) -> (u64, usize, usize) {
    let base = granule * u64::from(GRANULE);
    let lo = base.max(range.min());
    let hi = (base + u64::from(GRANULE - 1)).min(range.max());
    (base, (lo - base) as usize, (hi - base) as usize)
}

/// Fills the KNOWN bytes of `buf` (at `start`) as of `snap`, calling
/// `filled(address, source snap)` for each, in address order.
fn fill_known(
    src: Source<'_>,
    snap: Snap,
    start: u64,
    buf: &mut [u8],
    filled: &mut dyn FnMut(u64, Snap) -> Result<()>,
) -> Result<()> {
    let Some(range) = query_range(start, buf.len())? else {
        return Ok(());
    };
    read_range(
        src.store,
        src.space,
        snap,
        range.min(),
        range.len() as u64,
        Need::KNOWN,
        &mut |addr, bytes| {
            let at = (addr - start) as usize;
            for (i, byte) in bytes.iter().enumerate() {
                if let Some(source) = byte.known {
                    buf[at + i] = byte.value;
                    filled(addr + i as u64, source)?;
                }
            }
            Ok(())
        },
    )
}

/// Queries of a space's memory (M4, M6, M9). Implemented by [`MemorySpace`]
/// and [`MemorySpaceMut`].
pub trait MemoryRead: Sealed {
    /// The address of the lowest (forward) or highest (backward) window of
    /// `pattern.len()` bytes lying wholly in `range` whose bytes all have
    /// KNOWN as their most recent state at or before `snap` and match
    /// `pattern` under `mask` (`(mem & mask) == (pattern & mask)` per byte;
    /// no mask: every bit counts) (M8). An empty pattern, or one longer than
    /// the range, matches nothing. A mask of another length is
    /// [`Error::MaskLength`].
    fn find_bytes(
        &self,
        snap: Snap,
        range: AddressRange,
        pattern: &[u8],
        mask: Option<&[u8]>,
        direction: Direction,
    ) -> Result<Option<u64>> {
        self.find_bytes_with_progress(snap, range, pattern, mask, direction, &mut |_| true)
    }

    /// As [`MemoryRead::find_bytes`], calling `progress` now and then (about
    /// every MiB of memory with a history); when it returns false the search
    /// stops with [`Error::Cancelled`].
    fn find_bytes_with_progress(
        &self,
        snap: Snap,
        range: AddressRange,
        pattern: &[u8],
        mask: Option<&[u8]>,
        direction: Direction,
        progress: &mut dyn FnMut(FindProgress) -> bool,
    ) -> Result<Option<u64>> {
        guard(&|| format!("find_bytes at snap {snap} in {range}"), || {
            let src = self.source();
            crate::store::find::find_bytes(src.store, src.space, snap, range, pattern, mask, direction, progress)
        })
    }

    /// The block size of the database (M9).
    fn block_size(&self) -> u32 {
        self.source().store.block_size()
    }

    /// Fills `buf` with the bytes at `start` as of `snap`: each byte gets the
    /// value of its most recent KNOWN observation at or before `snap` (M2, M4).
    /// Bytes never observed are left untouched. Returns how many were filled.
    fn get_bytes(&self, snap: Snap, start: u64, buf: &mut [u8]) -> Result<usize> {
        guard(&|| "get_bytes".to_string(), || {
            let Some(range) = query_range(start, buf.len())? else {
                return Ok(0);
            };
            let src = self.source();
            let mut filled = 0;
            for_each_image_span(
                src.store,
                src.space,
                snap,
                (range.min(), range.max()),
                false,
                &mut |span| {
                    let gs = u64::from(GRANULE);
                    let (span_lo, span_hi) = (span.first * gs, (span.first + span.len() as u64 - 1) * gs + (gs - 1));
                    let (lo, hi) = (span_lo.max(range.min()), span_hi.min(range.max()));
                    if span.valued.iter().all(|m| *m == FULL_MASK) {
                        buf[(lo - start) as usize..=(hi - start) as usize]
                            .copy_from_slice(&span.values[(lo - span_lo) as usize..=(hi - span_lo) as usize]);
                        filled += (hi - lo + 1) as usize;
                        return Ok(true);
                    }
                    for (i, valued) in span.valued.iter().enumerate() {
                        let (base, p0, p1) = granule_overlap(span.first + i as u64, range);
                        let out = &mut buf[(base + p0 as u64 - start) as usize..=(base + p1 as u64 - start) as usize];
                        let values = span.values_of(i);
                        if *valued == FULL_MASK {
                            out.copy_from_slice(&values[p0..=p1]);
                            filled += p1 - p0 + 1;
                        } else {
                            for p in p0..=p1 {
                                if mask_has(valued, p) {
                                    out[p - p0] = values[p];
                                    filled += 1;
                                }
                            }
                        }
                    }
                    Ok(true)
                },
            )?;
            Ok(filled)
        })
    }

    /// As [`MemoryRead::get_bytes`], and reports each maximal filled run with
    /// the snap its bytes came from.
    fn get_bytes_with_sources(&self, snap: Snap, start: u64, buf: &mut [u8]) -> Result<Vec<FilledRange>> {
        guard(&|| "get_bytes_with_sources".to_string(), || {
            let mut runs: Vec<FilledRange> = Vec::new();
            fill_known(self.source(), snap, start, buf, &mut |addr, source| {
                match runs.last_mut() {
                    Some(run) if run.snap == source && run.range.max().checked_add(1) == Some(addr) => {
                        run.range = AddressRange::new(run.range.min(), addr)?;
                    }
                    _ => runs.push(FilledRange {
                        range: AddressRange::new(addr, addr)?,
                        snap: source,
                    }),
                }
                Ok(())
            })?;
            Ok(runs)
        })
    }

    /// The state recorded at exactly `snap` for `addr` (M6).
    fn state(&self, snap: Snap, addr: u64) -> Result<MemState> {
        let runs = self.states(snap, AddressRange::new(addr, addr)?)?;
        Ok(runs.first().map_or(MemState::Unknown, |run| run.state))
    }

    /// The maximal runs of state recorded at exactly `snap` in `range`,
    /// UNKNOWN omitted (M6).
    fn states(&self, snap: Snap, range: AddressRange) -> Result<Vec<StateRun>> {
        guard(&|| "states".to_string(), || {
            let src = self.source();
            let gs = u64::from(GRANULE);
            let mut granules = Vec::new();
            src.store.for_each_change(src.space, snap, snap, &mut |_, granule| {
                if (range.min() / gs..=range.max() / gs).contains(&granule) {
                    granules.push(granule);
                }
                Ok(())
            })?;
            let mut out: Vec<StateRun> = Vec::new();
            for granule in granules {
                let Some(delta) = delta_at(src.store, src.space, granule, snap)? else {
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
        })
    }

    /// Whether every byte of `range` is KNOWN at exactly `snap` (M6).
    fn is_known(&self, snap: Snap, range: AddressRange) -> Result<bool> {
        let runs = self.states(snap, range)?;
        Ok(runs.len() == 1 && runs[0].state == MemState::Known && runs[0].range == range)
    }

    /// The addresses with a state satisfying `predicate` recorded at some snap
    /// of `lifespan` (M6).
    fn addresses_with_state(&self, lifespan: Lifespan, predicate: StatePredicate) -> Result<RangeSet> {
        guard(&|| "addresses_with_state".to_string(), || {
            let src = self.source();
            let mut changes = Vec::new();
            src.store
                .for_each_change(src.space, lifespan.min(), lifespan.max(), &mut |snap, granule| {
                    changes.push((snap, granule));
                    Ok(())
                })?;
            let gs = u64::from(GRANULE);
            let mut set = RangeSet::new();
            for (snap, granule) in changes {
                let Some(delta) = delta_at(src.store, src.space, granule, snap)? else {
                    continue;
                };
                for run in delta.runs.iter().filter(|r| predicate.matches(r.state())) {
                    set.insert(AddressRange::new(
                        granule * gs + u64::from(run.first),
                        granule * gs + u64::from(run.last),
                    )?);
                }
            }
            Ok(set)
        })
    }

    /// The latest state recorded for `addr` at or before `snap` (M2, M6), with
    /// the snap it was recorded at; `None` if UNKNOWN.
    fn most_recent_state(&self, snap: Snap, addr: u64) -> Result<Option<(Snap, MemState)>> {
        let runs = self.most_recent_states(snap, AddressRange::new(addr, addr)?)?;
        Ok(runs.first().map(|run| (run.snap, run.state)))
    }

    /// The maximal runs of `range` whose latest record at or before `snap` has
    /// one source snap and state, UNKNOWN omitted (M6).
    fn most_recent_states(&self, snap: Snap, range: AddressRange) -> Result<Vec<SourcedStateRun>> {
        guard(&|| "most_recent_states".to_string(), || {
            let src = self.source();
            let gs = u64::from(GRANULE);
            let (first_granule, last_granule) = (range.min() / gs, range.max() / gs);
            let mut out: Vec<SourcedStateRun> = Vec::new();
            let mut next = first_granule;
            while let Some(granule) = src.store.next_granule(src.space, next, last_granule)? {
                let part = AddressRange::new(granule * gs, granule * gs + (gs - 1))?
                    .intersect(&range)
                    .ok_or_else(|| Error::corrupt("most_recent_states", "granule outside its range"))?;
                read_range(
                    src.store,
                    src.space,
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
        })
    }

    /// The latest snap at or before `snap` at which anything in the granule
    /// holding `addr` was recorded (M9).
    fn snap_of_most_recent_change_to_block(&self, snap: Snap, addr: u64) -> Result<Option<Snap>> {
        guard(&|| "snap_of_most_recent_change_to_block".to_string(), || {
            let src = self.source();
            last_change_in_block(src.store, src.space, addr, snap)
        })
    }

    /// The addresses of `range` whose most recent bytes or most recent
    /// states (M6) differ between snaps `a` and `b` (M9): a KNOWN value that
    /// differs, or a different state (KNOWN, ERROR, none). The same value
    /// recorded again at another snap is no difference. Granules whose last
    /// change is the same at both snaps are skipped unread.
    fn diff(&self, a: Snap, b: Snap, range: AddressRange) -> Result<RangeSet> {
        guard(&|| format!("diff of {range} between snaps {a} and {b}"), || {
            let src = self.source();
            crate::store::diff::diff(src.store, src.space, a, b, range)
        })
    }

    /// The ranges with records at snaps in `(from, to]` (M9).
    fn changes(&self, from: Snap, to: Snap) -> Result<RangeSet> {
        guard(&|| "changes".to_string(), || {
            let mut set = RangeSet::new();
            let Some(lo) = from.checked_add(1) else {
                return Ok(set);
            };
            if lo > to {
                return Ok(set);
            }
            let src = self.source();
            let mut changes = Vec::new();
            src.store.for_each_change(src.space, lo, to, &mut |snap, granule| {
                changes.push((snap, granule));
                Ok(())
            })?;
            let gs = u64::from(GRANULE);
            for (snap, granule) in changes {
                if let Some(delta) = delta_at(src.store, src.space, granule, snap)? {
                    for run in &delta.runs {
                        set.insert(AddressRange::new(
                            granule * gs + u64::from(run.first),
                            granule * gs + u64::from(run.last),
                        )?);
                    }
                }
            }
            Ok(set)
        })
    }
}

impl MemoryRead for MemorySpace<'_> {}
impl MemoryRead for MemorySpaceMut<'_> {}

impl MemorySpaceMut<'_> {
    /// The space's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Refuses writes into a space a capture owns: its memory is its event
    /// log's values (FORMAT.md), written by its recorder only.
    fn check_writable(&mut self) -> Result<()> {
        if self.store.is_capture_space(self.space)? {
            return Err(Error::CaptureSpace {
                space: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Records `data` observed at `start` at `snap`: each byte becomes KNOWN at
    /// `snap`, replacing what that snap recorded before (M3). A write past
    /// `u64::MAX` is truncated (M1). Returns the number of bytes written.
    pub fn put_bytes(&mut self, snap: Snap, start: u64, data: &[u8]) -> Result<usize> {
        guard(&|| "put_bytes".to_string(), || {
            self.check_writable()?;
            put_in(self.store, self.space, snap, start, data)
        })
    }

    /// Records `state` over `range` at `snap` (M5): `Error` marks a failed
    /// read, `Unknown` removes what `snap` recorded (M7), and `Known` is
    /// refused: KNOWN comes with the observed bytes, through `put_bytes`.
    pub fn set_state(&mut self, snap: Snap, range: AddressRange, state: MemState) -> Result<()> {
        guard(&|| "set_state".to_string(), || match state {
            MemState::Known => Err(Error::KnownNeedsBytes { snap, range }),
            MemState::Unknown => {
                self.check_writable()?;
                remove_in(self.store, self.space, snap, range)
            }
            MemState::Error => {
                self.check_writable()?;
                error_in(self.store, self.space, snap, range)
            }
        })
    }

    /// Deletes every record made at exactly `snap` in `[start, start + len - 1]`
    /// (truncated at the end of the address space); reads fall back to
    /// earlier snaps (M7).
    pub fn remove_bytes(&mut self, snap: Snap, start: u64, len: u64) -> Result<()> {
        guard(&|| "remove_bytes".to_string(), || {
            if len == 0 {
                return Ok(());
            }
            self.check_writable()?;
            let last = start.saturating_add(len - 1);
            remove_in(self.store, self.space, snap, AddressRange::new(start, last)?)
        })
    }
}

/// `put_bytes` without the capture check.
fn put_in(store: &mut WriteStore, space: u32, snap: Snap, start: u64, data: &[u8]) -> Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    let room = u128::from(u64::MAX - start) + 1;
    let written = (data.len() as u128).min(room) as usize;
    let last = start + (written as u64 - 1);
    for_each_piece(start, last, |granule, first, len| {
        let at = (granule * u64::from(GRANULE) + u64::from(first) - start) as usize;
        let edit = Edit::Put {
            first,
            data: data[at..at + len].to_vec(),
        };
        store.apply_edit(space, granule, snap, &edit)
    })?;
    Ok(written)
}

/// `set_state(Error)` without the capture check.
fn error_in(store: &mut WriteStore, space: u32, snap: Snap, range: AddressRange) -> Result<()> {
    for_each_piece(range.min(), range.max(), |granule, first, len| {
        let edit = Edit::Error {
            first,
            last: first + (len as u32 - 1),
        };
        store.apply_edit(space, granule, snap, &edit)
    })
}

/// Removes what `snap` recorded in `range`, visiting only granules with data.
fn remove_in(store: &mut WriteStore, space: u32, snap: Snap, range: AddressRange) -> Result<()> {
    let gs = u64::from(GRANULE);
    let (first_granule, last_granule) = (range.min() / gs, range.max() / gs);
    let mut next = first_granule;
    while let Some(granule) = store.next_granule(space, next, last_granule)? {
        let part = AddressRange::new(granule * gs, granule * gs + (gs - 1))?
            .intersect(&range)
            .ok_or_else(|| Error::corrupt("remove_bytes", "granule outside its range"))?;
        let edit = Edit::Remove {
            first: (part.min() % gs) as u32,
            last: (part.max() % gs) as u32,
        };
        store.apply_edit(space, granule, snap, &edit)?;
        match granule.checked_add(1) {
            Some(n) if n <= last_granule => next = n,
            _ => break,
        }
    }
    Ok(())
}
