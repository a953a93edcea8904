//! A small, obviously correct in-memory model of the memory contract (M1-M7,
//! M9): every byte keeps its own map of snap -> record. Slow, and meant to be.

use std::collections::BTreeMap;

use tracemem::{
    AddressRange, FilledRange, Lifespan, MemState, RangeSet, Snap, SourcedStateRun, StatePredicate, StateRun,
};

/// One record of one byte at one snap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rec {
    Known(u8),
    Error,
}

impl Rec {
    pub fn state(self) -> MemState {
        match self {
            Rec::Known(_) => MemState::Known,
            Rec::Error => MemState::Error,
        }
    }
}

/// One space: address -> (snap -> record).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelSpace {
    pub bytes: BTreeMap<u64, BTreeMap<Snap, Rec>>,
}

fn side(snap: Snap) -> (Snap, Snap) {
    if snap >= 0 { (0, Snap::MAX) } else { (Snap::MIN, -1) }
}

fn addrs(start: u64, len: u64) -> impl Iterator<Item = u64> {
    (0..len).map_while(move |i| start.checked_add(i))
}

impl ModelSpace {
    pub fn put_bytes(&mut self, snap: Snap, start: u64, data: &[u8]) -> usize {
        let mut written = 0;
        for (addr, &value) in addrs(start, data.len() as u64).zip(data) {
            self.bytes.entry(addr).or_default().insert(snap, Rec::Known(value));
            written += 1;
        }
        written
    }

    pub fn set_error(&mut self, snap: Snap, range: AddressRange) {
        for addr in range.min()..=range.max() {
            self.bytes.entry(addr).or_default().insert(snap, Rec::Error);
        }
    }

    pub fn remove_bytes(&mut self, snap: Snap, start: u64, len: u64) {
        for addr in addrs(start, len) {
            if let Some(history) = self.bytes.get_mut(&addr) {
                history.remove(&snap);
                if history.is_empty() {
                    self.bytes.remove(&addr);
                }
            }
        }
    }

    fn most_recent(&self, snap: Snap, addr: u64, known_only: bool) -> Option<(Snap, Rec)> {
        let (lo, _) = side(snap);
        self.bytes
            .get(&addr)?
            .range(lo..=snap)
            .rev()
            .find(|(_, r)| !known_only || matches!(r, Rec::Known(_)))
            .map(|(&s, &r)| (s, r))
    }

    /// M8 by brute force: every start with a record, checked byte by byte.
    pub fn find_bytes(
        &self,
        snap: Snap,
        range: AddressRange,
        pattern: &[u8],
        mask: Option<&[u8]>,
        backward: bool,
    ) -> Option<u64> {
        if pattern.is_empty() {
            return None;
        }
        let n = pattern.len() as u64;
        let fits = |start: u64| {
            start.checked_add(n - 1).is_some_and(|end| end <= range.max())
                && (0..n).all(|i| match self.most_recent(snap, start + i, false) {
                    Some((_, Rec::Known(v))) => {
                        let m = mask.map_or(0xff, |m| m[i as usize]);
                        v & m == pattern[i as usize] & m
                    }
                    _ => false,
                })
        };
        let mut starts = self.bytes.range(range.min()..=range.max()).map(|(&a, _)| a);
        if backward {
            starts.rev().find(|&a| fits(a))
        } else {
            starts.find(|&a| fits(a))
        }
    }

    pub fn get_bytes(&self, snap: Snap, start: u64, buf: &mut [u8]) -> usize {
        let mut filled = 0;
        for (addr, slot) in addrs(start, buf.len() as u64).zip(buf.iter_mut()) {
            if let Some((_, Rec::Known(v))) = self.most_recent(snap, addr, true) {
                *slot = v;
                filled += 1;
            }
        }
        filled
    }

    pub fn get_bytes_with_sources(&self, snap: Snap, start: u64, buf: &mut [u8]) -> Vec<FilledRange> {
        let mut runs: Vec<FilledRange> = Vec::new();
        for (addr, slot) in addrs(start, buf.len() as u64).zip(buf.iter_mut()) {
            if let Some((source, Rec::Known(v))) = self.most_recent(snap, addr, true) {
                *slot = v;
                match runs.last_mut() {
                    Some(run) if run.snap == source && run.range.max() + 1 == addr => {
                        run.range = AddressRange::new(run.range.min(), addr).unwrap();
                    }
                    _ => runs.push(FilledRange {
                        range: AddressRange::new(addr, addr).unwrap(),
                        snap: source,
                    }),
                }
            }
        }
        runs
    }

    pub fn state(&self, snap: Snap, addr: u64) -> MemState {
        self.bytes
            .get(&addr)
            .and_then(|h| h.get(&snap))
            .map_or(MemState::Unknown, |r| r.state())
    }

    pub fn states(&self, snap: Snap, range: AddressRange) -> Vec<StateRun> {
        let mut runs: Vec<StateRun> = Vec::new();
        for (&addr, history) in self.bytes.range(range.min()..=range.max()) {
            let Some(rec) = history.get(&snap) else { continue };
            let state = rec.state();
            match runs.last_mut() {
                Some(run) if run.state == state && run.range.max() + 1 == addr => {
                    run.range = AddressRange::new(run.range.min(), addr).unwrap();
                }
                _ => runs.push(StateRun {
                    range: AddressRange::new(addr, addr).unwrap(),
                    state,
                }),
            }
        }
        runs
    }

    pub fn is_known(&self, snap: Snap, range: AddressRange) -> bool {
        (range.min()..=range.max()).all(|a| self.state(snap, a) == MemState::Known)
    }

    pub fn addresses_with_state(&self, lifespan: Lifespan, predicate: StatePredicate) -> RangeSet {
        let mut set = RangeSet::new();
        for (&addr, history) in &self.bytes {
            if history
                .range(lifespan.min()..=lifespan.max())
                .any(|(_, r)| predicate.matches(r.state()))
            {
                set.insert(AddressRange::new(addr, addr).unwrap());
            }
        }
        set
    }

    pub fn most_recent_state(&self, snap: Snap, addr: u64) -> Option<(Snap, MemState)> {
        self.most_recent(snap, addr, false).map(|(s, r)| (s, r.state()))
    }

    /// M9's diff, address by address: the most recent KNOWN value, or the
    /// most recent state, differs between `a` and `b`.
    pub fn diff(&self, a: Snap, b: Snap, range: AddressRange) -> RangeSet {
        let mut set = RangeSet::new();
        for &addr in self.bytes.range(range.min()..=range.max()).map(|(a, _)| a) {
            let value = |s| self.most_recent(s, addr, true).map(|(_, r)| r);
            let state = |s| self.most_recent_state(s, addr).map(|(_, state)| state);
            if value(a) != value(b) || state(a) != state(b) {
                set.insert(AddressRange::new(addr, addr).unwrap());
            }
        }
        set
    }

    pub fn most_recent_states(&self, snap: Snap, range: AddressRange) -> Vec<SourcedStateRun> {
        let mut runs: Vec<SourcedStateRun> = Vec::new();
        for &addr in self.bytes.range(range.min()..=range.max()).map(|(a, _)| a) {
            let Some((source, state)) = self.most_recent_state(snap, addr) else {
                continue;
            };
            match runs.last_mut() {
                Some(run) if run.snap == source && run.state == state && run.range.max() + 1 == addr => {
                    run.range = AddressRange::new(run.range.min(), addr).unwrap();
                }
                _ => runs.push(SourcedStateRun {
                    range: AddressRange::new(addr, addr).unwrap(),
                    snap: source,
                    state,
                }),
            }
        }
        runs
    }

    pub fn last_change_to_block(&self, snap: Snap, addr: u64, block_size: u64) -> Option<Snap> {
        let (lo, _) = side(snap);
        let first = addr / block_size * block_size;
        let last = first + (block_size - 1);
        self.bytes
            .range(first..=last)
            .filter_map(|(_, h)| h.range(lo..=snap).next_back().map(|(&s, _)| s))
            .max()
    }

    pub fn changes(&self, from: Snap, to: Snap) -> RangeSet {
        let mut set = RangeSet::new();
        let Some(lo) = from.checked_add(1) else { return set };
        if lo > to {
            return set;
        }
        for (&addr, history) in &self.bytes {
            if history.range(lo..=to).next().is_some() {
                set.insert(AddressRange::new(addr, addr).unwrap());
            }
        }
        set
    }
}
