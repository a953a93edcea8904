//! The memory operations of one space (M1-M9): [`MemoryRead`] answers
//! queries in read and write transactions alike; [`MemorySpaceMut`] records.

pub mod regions;
pub mod registers;
pub mod views;

use crate::store::boundary::{Failable, guard_in, guard_write};
use crate::store::ops::{diff, find, read, states, write};
use crate::store::{StoreRead, WriteStore};
use crate::vocab::error::{Error, Result};
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
        /// The write transaction the query runs in, if any: redb failing
        /// in the query fails it.
        pub(crate) txn: Option<&'a dyn crate::store::boundary::Failable>,
    }

    /// Keeps [`super::MemoryRead`] implemented only here.
    pub trait Sealed {
        fn source(&self) -> Source<'_>;
    }
}

use private::{Sealed, Source};

/// Fails a read at `snap` before the retention horizon of `store` (scratch
/// snaps, which are never dropped, pass).
fn check_horizon(store: &dyn StoreRead, what: &str, snap: Snap) -> Result<()> {
    match store.horizon()? {
        Some(horizon) if (0..horizon).contains(&snap) => Err(Error::BeforeHorizon {
            what: what.to_string(),
            snap,
            horizon,
        }),
        _ => Ok(()),
    }
}

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
            txn: None,
        }
    }
}

impl Sealed for MemorySpaceMut<'_> {
    fn source(&self) -> Source<'_> {
        Source {
            store: &*self.store,
            space: self.space,
            txn: Some(&*self.store),
        }
    }
}

impl MemorySpace<'_> {
    /// The space's name.
    pub fn name(&self) -> &str {
        &self.name
    }
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
        let src = self.source();
        check_horizon(src.store, "find_bytes", snap)?;
        guard_in(src.txn, &|| format!("find_bytes at snap {snap} in {range}"), || {
            find::find_bytes(src.store, src.space, snap, range, pattern, mask, direction, progress)
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
        let src = self.source();
        check_horizon(src.store, "get_bytes", snap)?;
        guard_in(src.txn, &|| "get_bytes".to_string(), || {
            read::get_bytes(src.store, src.space, snap, start, buf)
        })
    }

    /// As [`MemoryRead::get_bytes`], and reports each maximal filled run with
    /// the snap its bytes came from.
    fn get_bytes_with_sources(&self, snap: Snap, start: u64, buf: &mut [u8]) -> Result<Vec<FilledRange>> {
        let src = self.source();
        check_horizon(src.store, "get_bytes_with_sources", snap)?;
        guard_in(src.txn, &|| "get_bytes_with_sources".to_string(), || {
            read::get_bytes_with_sources(src.store, src.space, snap, start, buf)
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
        let src = self.source();
        check_horizon(src.store, "states", snap)?;
        guard_in(src.txn, &|| "states".to_string(), || {
            states::states(src.store, src.space, snap, range)
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
        let src = self.source();
        check_horizon(src.store, "addresses_with_state", lifespan.min())?;
        guard_in(src.txn, &|| "addresses_with_state".to_string(), || {
            states::addresses_with_state(src.store, src.space, lifespan, predicate)
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
        let src = self.source();
        check_horizon(src.store, "most_recent_states", snap)?;
        guard_in(src.txn, &|| "most_recent_states".to_string(), || {
            states::most_recent_states(src.store, src.space, snap, range)
        })
    }

    /// The latest snap at or before `snap` at which anything in the block
    /// holding `addr` was recorded (M9).
    fn snap_of_most_recent_change_to_block(&self, snap: Snap, addr: u64) -> Result<Option<Snap>> {
        let src = self.source();
        check_horizon(src.store, "snap_of_most_recent_change_to_block", snap)?;
        guard_in(src.txn, &|| "snap_of_most_recent_change_to_block".to_string(), || {
            states::last_change_to_block(src.store, src.space, snap, addr)
        })
    }

    /// The addresses of `range` whose most recent bytes or most recent
    /// states (M6) differ between snaps `a` and `b` (M9): a KNOWN value that
    /// differs, or a different state (KNOWN, ERROR, none). The same value
    /// recorded again at another snap is no difference. Blocks whose last
    /// change is the same at both snaps are skipped unread.
    fn diff(&self, a: Snap, b: Snap, range: AddressRange) -> Result<RangeSet> {
        let src = self.source();
        check_horizon(src.store, "diff", a)?;
        check_horizon(src.store, "diff", b)?;
        guard_in(
            src.txn,
            &|| format!("diff of {range} between snaps {a} and {b}"),
            || diff::diff(src.store, src.space, a, b, range),
        )
    }

    /// The ranges with records at snaps in `(from, to]` (M9).
    fn changes(&self, from: Snap, to: Snap) -> Result<RangeSet> {
        let src = self.source();
        check_horizon(src.store, "changes", from.saturating_add(1))?;
        guard_in(src.txn, &|| "changes".to_string(), || {
            states::changes(src.store, src.space, from, to)
        })
    }
}

impl Failable for MemorySpaceMut<'_> {
    fn fail(&self, why: String) {
        self.store.fail(why);
    }

    fn failure(&self) -> Option<Error> {
        self.store.failure()
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
    fn check_writable(&mut self, snap: Snap) -> Result<()> {
        check_horizon(&*self.store, "writing", snap)?;
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
        guard_write(self, &|| "put_bytes".to_string(), |this| {
            this.check_writable(snap)?;
            write::put_bytes(this.store, this.space, snap, start, data)
        })
    }

    /// Records `state` over `range` at `snap` (M5): `Error` marks a failed
    /// read, `Unknown` removes what `snap` recorded (M7), and `Known` is
    /// refused: KNOWN comes with the observed bytes, through `put_bytes`.
    pub fn set_state(&mut self, snap: Snap, range: AddressRange, state: MemState) -> Result<()> {
        guard_write(self, &|| "set_state".to_string(), |this| match state {
            MemState::Known => Err(Error::KnownNeedsBytes {
                snap,
                first: range.min(),
                last: range.max(),
            }),
            MemState::Unknown => {
                this.check_writable(snap)?;
                write::remove(this.store, this.space, snap, range)
            }
            MemState::Error => {
                this.check_writable(snap)?;
                write::set_error(this.store, this.space, snap, range)
            }
        })
    }

    /// Deletes every record made at exactly `snap` in `[start, start + len - 1]`
    /// (truncated at the end of the address space); reads fall back to
    /// earlier snaps (M7).
    pub fn remove_bytes(&mut self, snap: Snap, start: u64, len: u64) -> Result<()> {
        guard_write(self, &|| "remove_bytes".to_string(), |this| {
            if len == 0 {
                return Ok(());
            }
            this.check_writable(snap)?;
            let last = start.saturating_add(len - 1);
            write::remove(this.store, this.space, snap, AddressRange::new(start, last)?)
        })
    }
}
