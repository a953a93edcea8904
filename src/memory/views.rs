//! Views over schedule forks (M10): reading a snap through the chain of snaps
//! it was forked from, as Ghidra's `DBTraceTimeViewport` does.
//!
//! A snap's **viewport** is an ordered list of snap ranges, newest first,
//! built by walking `fork_of` ([`SnapMeta::fork_of`](crate::SnapMeta)):
//! starting at `cur = s`, find the most recent *fork* at or before `cur` on
//! `cur`'s side of the sign boundary (M2) — the greatest snap `k` with
//! `fork_of = Some(p)`, skipping "notational" forks `p == k - 1` that fork
//! from the snap just before — and add the range `[k, cur]`, then continue at
//! `cur = p`. With no such fork the last range is `[side start, cur]` (0 on
//! the timeline, `i64::MIN` among scratch snaps), and the walk ends. A range
//! whose first snap already lies in the viewport closes a cycle: it is not
//! added, and the walk ends there.
//!
//! A scratch snap `-1` forked from timeline snap 100 thus sees `[-1, -1]`
//! then `[0, 100]`: its own writes over snap 100's memory, and never another
//! scratch snap's (which plain reads at `-1` would see, M2).
//!
//! Per byte, a **view read** takes the first range of the viewport (newest
//! first) in which the byte has what the read looks for, and answers within
//! that range:
//! - [`MemoryView::view_bytes`]: the most recent KNOWN observation in the
//!   first range holding one (an ERROR there does not hide older KNOWN
//!   bytes, as in M5);
//! - [`MemoryView::view_most_recent_states`]: the most recent record (KNOWN
//!   or ERROR) in the first range holding one;
//! - [`MemoryView::view_states`]: the record made at exactly the *top* (last
//!   snap) of the first range whose top has one — the state "at" a forked
//!   snap is its own, else the one its parent had at the fork point (M6).

use crate::memory::MemoryRead;
use crate::store::StoreRead;
use crate::store::boundary::guard;
use crate::vocab::error::Result;
use crate::vocab::types::{AddressRange, FilledRange, Lifespan, MemState, RangeSet, Snap, SourcedStateRun, side_of};

/// The viewport of `snap` (see the module documentation), newest range first.
pub(crate) fn viewport_in(store: &dyn StoreRead, snap: Snap) -> Result<Vec<Lifespan>> {
    let mut spans: Vec<Lifespan> = Vec::new();
    let mut cur = snap;
    loop {
        let (side_lo, _) = side_of(cur);
        let fork = store.latest_fork(side_lo, cur)?;
        let lower = fork.map_or(side_lo, |(k, _)| k);
        if spans.iter().any(|s| s.contains(lower)) {
            return Ok(spans);
        }
        spans.push(Lifespan::new(lower, cur)?);
        match fork {
            Some((_, parent)) => cur = parent,
            None => return Ok(spans),
        }
    }
}

/// The range `[start, start + len - 1]`, `None` when empty.
fn query_range(start: u64, len: usize) -> Result<Option<AddressRange>> {
    if len == 0 {
        return Ok(None);
    }
    AddressRange::from_start_len(start, len as u64).map(Some)
}

/// For each address of `range`, the runs `query(span, part)` finds in the
/// first viewport span (newest first) that has any: spans are asked only
/// for the parts earlier spans left unanswered. Sorted and merged.
fn first_in_viewport(
    spans: Vec<Lifespan>,
    range: AddressRange,
    mut query: impl FnMut(Lifespan, AddressRange) -> Result<Vec<SourcedStateRun>>,
) -> Result<Vec<SourcedStateRun>> {
    let mut remaining = RangeSet::from_iter([range]);
    let mut found = Vec::new();
    for span in spans {
        let parts: Vec<AddressRange> = remaining.iter().collect();
        for part in parts {
            for run in query(span, part)? {
                remaining.remove(run.range);
                found.push(run);
            }
        }
        if remaining.is_empty() {
            break;
        }
    }
    merge_runs(found)
}

/// Sorts runs by address and merges adjacent runs of one snap and state.
fn merge_runs(mut runs: Vec<SourcedStateRun>) -> Result<Vec<SourcedStateRun>> {
    runs.sort_by_key(|r| r.range.min());
    let mut out: Vec<SourcedStateRun> = Vec::with_capacity(runs.len());
    for run in runs {
        match out.last_mut() {
            Some(prev)
                if prev.snap == run.snap
                    && prev.state == run.state
                    && prev.range.max().checked_add(1) == Some(run.range.min()) =>
            {
                prev.range = AddressRange::new(prev.range.min(), run.range.max())?;
            }
            _ => out.push(run),
        }
    }
    Ok(out)
}

/// View reads of a space's memory through the fork chain (M10). Implemented
/// for every [`MemoryRead`]: spaces of read and write transactions alike.
pub trait MemoryView: MemoryRead {
    /// The viewport of `snap`: the snap ranges a view read at `snap` looks
    /// through, newest first (see the module documentation).
    fn viewport(&self, snap: Snap) -> Result<Vec<Lifespan>> {
        guard(&|| "viewport".to_string(), || viewport_in(self.source().store, snap))
    }

    /// As [`MemoryRead::get_bytes`], through the viewport of `snap`: each
    /// byte gets the most recent KNOWN observation of the first range of the
    /// viewport holding one. Bytes never observed there are left untouched.
    /// Returns how many bytes were filled.
    fn view_bytes(&self, snap: Snap, start: u64, buf: &mut [u8]) -> Result<usize> {
        let runs = self.view_bytes_with_sources(snap, start, buf)?;
        Ok(runs.iter().map(|r| r.range.len() as usize).sum())
    }

    /// As [`MemoryView::view_bytes`], and reports each maximal filled run
    /// with the snap its bytes were observed at.
    fn view_bytes_with_sources(&self, snap: Snap, start: u64, buf: &mut [u8]) -> Result<Vec<FilledRange>> {
        guard(&|| "view_bytes".to_string(), || {
            let Some(range) = query_range(start, buf.len())? else {
                return Ok(Vec::new());
            };
            let spans = viewport_in(self.source().store, snap)?;
            let mut remaining = RangeSet::from_iter([range]);
            let mut found: Vec<FilledRange> = Vec::new();
            let mut scratch = Vec::new();
            for span in spans {
                let parts: Vec<AddressRange> = remaining.iter().collect();
                for part in parts {
                    scratch.clear();
                    scratch.resize(part.len() as usize, 0u8);
                    for run in self.get_bytes_with_sources(span.max(), part.min(), &mut scratch)? {
                        if run.snap < span.min() {
                            continue;
                        }
                        let from = (run.range.min() - part.min()) as usize;
                        let to = (run.range.max() - part.min()) as usize;
                        let at = (run.range.min() - start) as usize;
                        buf[at..=at + (to - from)].copy_from_slice(&scratch[from..=to]);
                        remaining.remove(run.range);
                        found.push(run);
                    }
                }
                if remaining.is_empty() {
                    break;
                }
            }
            found.sort_by_key(|r| r.range.min());
            Ok(found)
        })
    }

    /// The state "at" `snap` through its viewport: the record made at
    /// exactly the top (last snap) of the first viewport range whose top has
    /// one, with that snap; `None` for UNKNOWN.
    fn view_state(&self, snap: Snap, addr: u64) -> Result<Option<(Snap, MemState)>> {
        let runs = self.view_states(snap, AddressRange::new(addr, addr)?)?;
        Ok(runs.first().map(|run| (run.snap, run.state)))
    }

    /// The maximal runs of `range` with one [`MemoryView::view_state`],
    /// UNKNOWN omitted.
    fn view_states(&self, snap: Snap, range: AddressRange) -> Result<Vec<SourcedStateRun>> {
        guard(&|| "view_states".to_string(), || {
            first_in_viewport(viewport_in(self.source().store, snap)?, range, |span, part| {
                Ok(self
                    .states(span.max(), part)?
                    .into_iter()
                    .map(|run| SourcedStateRun {
                        range: run.range,
                        snap: span.max(),
                        state: run.state,
                    })
                    .collect())
            })
        })
    }

    /// The latest record (KNOWN or ERROR) of `addr` in the first viewport
    /// range of `snap` holding one, with its snap; `None` for UNKNOWN.
    fn view_most_recent_state(&self, snap: Snap, addr: u64) -> Result<Option<(Snap, MemState)>> {
        let runs = self.view_most_recent_states(snap, AddressRange::new(addr, addr)?)?;
        Ok(runs.first().map(|run| (run.snap, run.state)))
    }

    /// The maximal runs of `range` with one
    /// [`MemoryView::view_most_recent_state`], UNKNOWN omitted.
    fn view_most_recent_states(&self, snap: Snap, range: AddressRange) -> Result<Vec<SourcedStateRun>> {
        guard(&|| "view_most_recent_states".to_string(), || {
            first_in_viewport(viewport_in(self.source().store, snap)?, range, |span, part| {
                let runs = self.most_recent_states(span.max(), part)?;
                Ok(runs.into_iter().filter(|run| run.snap >= span.min()).collect())
            })
        })
    }
}

impl<T: MemoryRead + ?Sized> MemoryView for T {}
