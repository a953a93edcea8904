//! Granule images kept by a read transaction for its later bulk reads
//! (large `get_bytes`, `find_bytes`). Each image comes with the snaps over
//! which its granule does not change, so a read at any snap among them skips
//! the store: a search repeated at another snap over memory that has not
//! changed runs over images already decoded. A read transaction's snapshot
//! never changes, so nothing kept here goes stale. Bounded: when full it
//! first drops the displaced images (below), then everything, and fills
//! again.
//!
//! Images of consecutive granules are kept as one run, their values in one
//! flat buffer, so a read hands out a whole run's bytes at once. An image a
//! later read at another snap replaces in its run is not dropped but
//! *displaced*: kept under its granule beside the granule's other displaced
//! images, so that reads that go back and forth in time over memory that
//! changes all along (a heap scrubbed snap by snap) find each granule's
//! image at every snap read before.
//!
//! A read transaction that reads through a chunk index keeps none (its
//! budget is 0, see `ReadStore::new`): there a granule is found and decoded
//! in about the time keeping its image and finding it again take.

use std::collections::BTreeMap;

use crate::store::chunk::{GRANULE, ImageSpan, Mask};
use crate::vocab::error::Result;
use crate::vocab::types::Snap;

/// The images of consecutive granules, column by column.
#[derive(Default)]
struct Run {
    since: Vec<Snap>,
    till: Vec<Snap>,
    values: Vec<u8>,
    valued: Vec<Mask>,
    known_now: Vec<Mask>,
}

/// The bytes a run keeps for each granule.
const BYTES_PER_GRANULE: usize = 2 * size_of::<Snap>() + GRANULE as usize + 2 * size_of::<Mask>();

/// The bytes a displaced image takes: its values and masks, its entry in its
/// granule's list, and a share of the map of granules.
const BYTES_PER_DISPLACED: usize = size_of::<Slot>() + size_of::<Version>() + 8;

impl Run {
    /// A run with room for `granules` images.
    fn with_capacity(granules: usize) -> Run {
        Run {
            since: Vec::with_capacity(granules),
            till: Vec::with_capacity(granules),
            values: Vec::with_capacity(granules * GRANULE as usize),
            valued: Vec::with_capacity(granules),
            known_now: Vec::with_capacity(granules),
        }
    }

    /// Gives back the room it reserved and did not fill.
    fn shrink_to_fit(&mut self) {
        self.since.shrink_to_fit();
        self.till.shrink_to_fit();
        self.values.shrink_to_fit();
        self.valued.shrink_to_fit();
        self.known_now.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.since.len()
    }

    /// Adds the image of `span`'s one granule.
    fn push(&mut self, (since, till): (Snap, Snap), span: ImageSpan<'_>) {
        self.since.push(since);
        self.till.push(till);
        self.values.extend_from_slice(span.values);
        self.valued.push(span.valued[0]);
        self.known_now.push(span.known_now[0]);
    }

    /// Puts its granules in the opposite order.
    fn reverse(&mut self) {
        self.since.reverse();
        self.till.reverse();
        self.valued.reverse();
        self.known_now.reverse();
        let gs = GRANULE as usize;
        let n = self.len();
        for i in 0..n / 2 {
            let (low, high) = self.values.split_at_mut((n - 1 - i) * gs);
            low[i * gs..(i + 1) * gs].swap_with_slice(&mut high[..gs]);
        }
    }

    fn holds_at(&self, i: usize, snap: Snap) -> bool {
        self.since[i] <= snap && snap <= self.till[i]
    }

    /// Granules `a..b` of the run, the first of them `first`.
    fn span(&self, first: u64, a: usize, b: usize) -> ImageSpan<'_> {
        let gs = GRANULE as usize;
        ImageSpan {
            first: first + a as u64,
            values: &self.values[a * gs..b * gs],
            valued: &self.valued[a..b],
            known_now: &self.known_now[a..b],
        }
    }

    /// Keeps its first `n` granules.
    fn truncate(&mut self, n: usize) {
        self.since.truncate(n);
        self.till.truncate(n);
        self.values.truncate(n * GRANULE as usize);
        self.valued.truncate(n);
        self.known_now.truncate(n);
    }

    /// Its granules from `i` on; it keeps those before.
    fn split_off(&mut self, i: usize) -> Run {
        Run {
            since: self.since.split_off(i),
            till: self.till.split_off(i),
            values: self.values.split_off(i * GRANULE as usize),
            valued: self.valued.split_off(i),
            known_now: self.known_now.split_off(i),
        }
    }
}

/// What is kept for a stretch of consecutive granules, under its space and
/// first granule: a run of images, or a segment of displaced ones.
trait Consecutive {
    /// How many granules it covers.
    fn granules(&self) -> usize;
}

impl Consecutive for Run {
    fn granules(&self) -> usize {
        self.len()
    }
}

impl Consecutive for Vec<Versions> {
    fn granules(&self) -> usize {
        self.len()
    }
}

/// Stretches of consecutive granules, disjoint, under (space, first granule).
type ByGranule<T> = BTreeMap<(u32, u64), T>;

/// The stretch of `map` covering `granule` of `space`, with its first granule.
fn covering<T: Consecutive>(map: &ByGranule<T>, space: u32, granule: u64) -> Option<(u64, &T)> {
    let (&(s, first), stretch) = map.range(..=(space, granule)).next_back()?;
    (s == space && granule - first < stretch.granules() as u64).then_some((first, stretch))
}

/// The stretches of `map` that cover any of granules `lo..=hi` of `space`,
/// with their first granules, the highest first.
fn overlapping<T: Consecutive>(
    map: &ByGranule<T>,
    space: u32,
    (lo, hi): (u64, u64),
) -> impl Iterator<Item = (u64, &T)> {
    map.range(..=(space, hi))
        .rev()
        .take_while(move |((s, first), stretch)| *s == space && first + stretch.granules() as u64 > lo)
        .map(|(&(_, first), stretch)| (first, stretch))
}

/// The nearest granule in `lo..=hi` of `space`, from `hi` down if
/// `reverse`, at whose place `i` in its stretch `held(stretch, i)`.
fn first_held<T: Consecutive>(
    map: &ByGranule<T>,
    space: u32,
    (lo, hi): (u64, u64),
    reverse: bool,
    held: impl Fn(&T, usize) -> bool,
) -> Option<u64> {
    let mut stretches: Vec<(u64, &T)> = overlapping(map, space, (lo, hi)).collect();
    if !reverse {
        stretches.reverse();
    }
    stretches.into_iter().find_map(|(first, stretch)| {
        let (a, b) = (lo.max(first), hi.min(first + stretch.granules() as u64 - 1));
        let holds = |&g: &u64| held(stretch, (g - first) as usize);
        if reverse {
            (a..=b).rev().find(holds)
        } else {
            (a..=b).find(holds)
        }
    })
}

/// The most displaced granules [`Displaced::serve`] looks up at once.
const DISPLACED_BATCH: usize = 32;

/// One displaced image: the snaps `since..=till` it holds over, and the
/// slot of its values and masks.
#[derive(Clone, Copy, Debug)]
struct Version {
    since: Snap,
    till: Snap,
    slot: usize,
}

/// The displaced images of one granule, in ascending snaps. The snaps of two
/// images of one granule never overlap: each runs from a change, or a
/// chunk's first snap, to before the next.
#[derive(Default)]
struct Versions {
    /// The first and last image's `since`, here so that a search starts
    /// without a look at the list.
    first: Snap,
    last: Snap,
    list: Vec<Version>,
}

impl Versions {
    /// Where in the list the image holding at `snap` should be, if any can
    /// be: where `snap` falls between the first and the last image.
    fn guess(&self, snap: Snap) -> Option<usize> {
        let n = self.list.len();
        if n == 0 || snap < self.first {
            return None;
        }
        if snap >= self.last {
            return Some(n - 1);
        }
        // In floating point: a guess need not be exact, and an integer
        // division as wide as two snaps' distance is slow.
        let span = (i128::from(self.last) - i128::from(self.first)) as f64;
        let into = (i128::from(snap) - i128::from(self.first)) as f64;
        Some(((into / span * (n - 1) as f64) as usize).min(n - 1))
    }

    /// The image that holds at `snap`. A granule's changes spread over its
    /// history, so the search starts where `snap` falls between its first
    /// and last image and gallops from there: a step or two in one place,
    /// where a binary search would miss the CPU's caches at each halving.
    fn find(&self, snap: Snap) -> Option<&Version> {
        let list = &self.list[..];
        let n = list.len();
        let guess = self.guess(snap)?;
        // Bracket `[a, b)`: `list[a].since <= snap`, and `b == n` or `list[b].since > snap`.
        let (mut a, mut b) = (guess, guess + 1);
        let mut step = 1;
        while b < n && list[b].since <= snap {
            a = b;
            b = (b + step).min(n);
            step *= 2;
        }
        step = 1;
        while list[a].since > snap {
            b = a;
            a = a.saturating_sub(step);
            step *= 2;
        }
        let k = a + list[a..b].partition_point(|v| v.since <= snap) - 1;
        (snap <= list[k].till).then_some(&list[k])
    }

    /// Adds `version` in its place; false (and its `till` kept if later) if
    /// it has one from the same snap.
    fn insert(&mut self, version: Version) -> bool {
        match self.list.binary_search_by_key(&version.since, |v| v.since) {
            // The same image (it changes at `since`), seen up to another snap.
            Ok(k) => {
                self.list[k].till = self.list[k].till.max(version.till);
                false
            }
            Err(k) => {
                self.list.insert(k, version);
                self.first = self.list[0].since;
                self.last = self.list[self.list.len() - 1].since;
                true
            }
        }
    }
}

/// A displaced image's values and masks, together: a read of it touches one
/// stretch of memory.
struct Slot {
    values: [u8; GRANULE as usize],
    valued: Mask,
    known_now: Mask,
}

/// Images their runs no longer hold, under their granules, in segments of
/// consecutive granules (a granule's images are found by its place in its
/// segment, not by a search).
#[derive(Default)]
struct Displaced {
    segments: BTreeMap<(u32, u64), Vec<Versions>>,
    slots: Vec<Slot>,
}

impl Displaced {
    fn clear(&mut self) {
        *self = Displaced::default();
    }

    /// How many images it keeps.
    fn len(&self) -> usize {
        self.slots.len()
    }

    /// The images of `granule` of `space`, made (with the segment joining
    /// its neighbours) if it has none.
    fn versions_mut(&mut self, space: u32, granule: u64) -> &mut Versions {
        let below = self
            .segments
            .range(..=(space, granule))
            .next_back()
            .filter(|((s, first), segment)| *s == space && granule - first <= segment.len() as u64)
            .map(|((_, first), _)| *first);
        let first = match below {
            Some(first) if granule - first < self.segments[&(space, first)].len() as u64 => first,
            _ => {
                // A new granule: after the segment ending right below it, or
                // a new segment; either way joined by the one right above.
                let first = below.unwrap_or(granule);
                let mut segment = self.segments.remove(&(space, first)).unwrap_or_default();
                segment.push(Versions::default());
                if let Some(above) = granule.checked_add(1)
                    && let Some(next) = self.segments.remove(&(space, above))
                {
                    segment.extend(next);
                }
                self.segments.insert((space, first), segment);
                first
            }
        };
        let segment = self
            .segments
            .get_mut(&(space, first))
            .expect("the segment was just found or made");
        &mut segment[(granule - first) as usize]
    }

    /// Keeps image `i` of `run` (granule `granule` of `space`); false if it
    /// had it already.
    fn insert(&mut self, space: u32, granule: u64, run: &Run, i: usize) -> bool {
        let version = Version {
            since: run.since[i],
            till: run.till[i],
            slot: self.len(),
        };
        if !self.versions_mut(space, granule).insert(version) {
            return false;
        }
        let gs = GRANULE as usize;
        let mut slot = Slot {
            values: [0; GRANULE as usize],
            valued: run.valued[i],
            known_now: run.known_now[i],
        };
        slot.values.copy_from_slice(&run.values[i * gs..(i + 1) * gs]);
        self.slots.push(slot);
        true
    }

    /// Hands `f` the images that hold at `snap` of the granules from `at` on
    /// towards `to` (down if `reverse`), one span each, up to the first it
    /// holds none of and at most [`DISPLACED_BATCH`] of them: how many it
    /// handed out (0 if it holds none of `at` at `snap`), `None` where `f`
    /// asked to stop.
    fn serve(
        &self,
        space: u32,
        snap: Snap,
        (at, to): (u64, u64),
        reverse: bool,
        f: &mut dyn FnMut(ImageSpan<'_>) -> Result<bool>,
    ) -> Result<Option<u64>> {
        let Some((first, segment)) = covering(&self.segments, space, at) else {
            return Ok(Some(0));
        };
        let i = (at - first) as usize;
        let available = if reverse { i + 1 } else { segment.len() - i };
        let wanted = (at.abs_diff(to) + 1).min(available as u64).min(DISPLACED_BATCH as u64) as usize;
        // The images of the batch are found first, then a load from each of
        // their lines: loads that no branch depends on overlap, so the
        // copies `f` makes find them in the CPU's caches (measured: about a
        // tenth less time a heap read than with the copies missing in turn).
        let mut slots = [0usize; DISPLACED_BATCH];
        let mut n = 0;
        while n < wanted {
            let version = segment[if reverse { i - n } else { i + n }].find(snap);
            let Some(version) = version else { break };
            slots[n] = version.slot;
            n += 1;
        }
        let mut touched = 0u8;
        for &slot in &slots[..n] {
            let slot = &self.slots[slot];
            touched ^= slot
                .values
                .iter()
                .step_by(64)
                .fold(slot.known_now[0] as u8, |a, &b| a ^ b);
        }
        std::hint::black_box(touched);
        for (k, &slot) in slots[..n].iter().enumerate() {
            let slot = &self.slots[slot];
            let span = ImageSpan {
                first: if reverse { at - k as u64 } else { at + k as u64 },
                values: &slot.values,
                valued: std::slice::from_ref(&slot.valued),
                known_now: std::slice::from_ref(&slot.known_now),
            };
            if !f(span)? {
                return Ok(None);
            }
        }
        Ok(Some(n as u64))
    }

    /// The nearest granule in `[lo, hi]`, from `hi` down if `reverse`, with
    /// an image that holds at `snap`.
    fn next_held(&self, space: u32, snap: Snap, span: (u64, u64), reverse: bool) -> Option<u64> {
        first_held(&self.segments, space, span, reverse, |segment, i| {
            segment[i].find(snap).is_some()
        })
    }
}

/// Images of one space read from the store, in runs of consecutive
/// granules, to be kept.
pub(crate) struct Fresh {
    /// Whether they come in descending granule order.
    descending: bool,
    /// Each run, under its lowest granule so far.
    runs: Vec<(u64, Run)>,
    granules: usize,
    /// How many granules the cache could keep: a read of more keeps none
    /// (and holds none in memory while it goes on).
    most: usize,
    /// How many granules the read may bring at most: a run has room for the
    /// rest of them from its start, so that it grows without copying.
    expected: usize,
}

impl Fresh {
    /// At most `expected` images to come in ascending granule order
    /// (descending if `descending`), for `cache`.
    pub fn new(descending: bool, cache: &ImageCache, expected: usize) -> Fresh {
        Fresh {
            descending,
            runs: Vec::new(),
            granules: 0,
            most: cache.budget / BYTES_PER_GRANULE,
            expected,
        }
    }

    /// Adds the image of the one granule of `span`, which holds over the
    /// snaps `holds`.
    pub fn push(&mut self, holds: (Snap, Snap), span: ImageSpan<'_>) {
        let granule = span.first;
        self.granules += 1;
        if self.granules > self.most {
            self.runs = Vec::new();
            return;
        }
        let descending = self.descending;
        match self.runs.last_mut() {
            Some((lowest, run)) if descending && granule.checked_add(1) == Some(*lowest) => {
                *lowest = granule;
                run.push(holds, span);
            }
            Some((lowest, run)) if !descending && *lowest + run.len() as u64 == granule => run.push(holds, span),
            _ => {
                if let Some((_, last)) = self.runs.last_mut() {
                    last.shrink_to_fit();
                }
                let room = self.expected.min(self.most).saturating_sub(self.granules - 1);
                let mut run = Run::with_capacity(room.max(1));
                run.push(holds, span);
                self.runs.push((granule, run));
            }
        }
    }
}

/// The images of one read transaction, as runs under their space and
/// first granule.
pub(crate) struct ImageCache {
    budget: usize,
    used: usize,
    runs: BTreeMap<(u32, u64), Run>,
    displaced: Displaced,
}

/// Where [`ImageCache::serve`] stopped.
pub(crate) enum Served {
    /// At this granule, whose image at the snap it does not hold (`None`:
    /// past the end of the range).
    At(Option<u64>),
    /// Where the caller's function asked to stop.
    Stopped,
}

impl ImageCache {
    /// A cache of at most `budget` bytes of images (0 keeps none).
    pub fn new(budget: usize) -> ImageCache {
        ImageCache {
            budget,
            used: 0,
            runs: BTreeMap::new(),
            displaced: Displaced::default(),
        }
    }

    /// Whether a bulk read should go through it: it keeps images. The
    /// transaction's first bulk read keeps them too, so that its second
    /// (a search repeated at another snap) runs over decoded images; keeping
    /// costs that first read about a fifth of its time (BENCHMARKS.md).
    pub fn wanted(&self) -> bool {
        self.budget >= BYTES_PER_GRANULE
    }

    /// Calls `f` with the spans of granules from `from` on towards `to`
    /// (down if `reverse`, each span then coming before the ones below it),
    /// while it holds their images at `snap` (in runs or displaced) and `f`
    /// returns true.
    pub fn serve(
        &self,
        space: u32,
        snap: Snap,
        (from, to): (u64, u64),
        reverse: bool,
        f: &mut dyn FnMut(ImageSpan<'_>) -> Result<bool>,
    ) -> Result<Served> {
        let mut at = from;
        loop {
            let mut served = 0;
            if let Some((first, run)) = covering(&self.runs, space, at) {
                let i = (at - first) as usize;
                // The run's images from `at` on towards `to`, while they hold.
                let available = if reverse { i + 1 } else { run.len() - i };
                let wanted = (at.abs_diff(to) + 1).min(available as u64) as usize;
                let held = (0..wanted)
                    .take_while(|&k| run.holds_at(if reverse { i - k } else { i + k }, snap))
                    .count();
                if held > 0 {
                    let span = if reverse {
                        run.span(first, i + 1 - held, i + 1)
                    } else {
                        run.span(first, i, i + held)
                    };
                    if !f(span)? {
                        return Ok(Served::Stopped);
                    }
                }
                served = held as u64;
            }
            if served == 0 {
                match self.displaced.serve(space, snap, (at, to), reverse, f)? {
                    None => return Ok(Served::Stopped),
                    Some(0) => return Ok(Served::At(Some(at))),
                    Some(n) => served = n,
                }
            }
            if at.abs_diff(to) < served {
                return Ok(Served::At(None));
            }
            at = if reverse { at - served } else { at + served };
        }
    }

    /// The nearest granule from `from` towards `to` (down if `reverse`)
    /// whose image it holds at `snap`.
    pub fn next_held(&self, space: u32, snap: Snap, (from, to): (u64, u64), reverse: bool) -> Option<u64> {
        let (lo, hi) = if reverse { (to, from) } else { (from, to) };
        let in_runs = first_held(&self.runs, space, (lo, hi), reverse, |run, i| run.holds_at(i, snap));
        let displaced = self.displaced.next_held(space, snap, (lo, hi), reverse);
        match (in_runs, displaced) {
            (Some(a), Some(b)) => Some(if reverse { a.max(b) } else { a.min(b) }),
            (a, b) => a.or(b),
        }
    }

    /// Keeps the `fresh` images of `space` in its runs in place of any they
    /// held of the same granules, which are displaced.
    pub fn keep(&mut self, space: u32, fresh: Fresh) {
        let bytes = fresh.granules * BYTES_PER_GRANULE;
        if bytes == 0 || bytes > self.budget {
            return;
        }
        if self.used + bytes > self.budget {
            // The displaced images go first: the runs are what the latest reads saw.
            self.used -= self.displaced.len() * BYTES_PER_DISPLACED;
            self.displaced.clear();
        }
        if self.used + bytes > self.budget {
            self.runs.clear();
            self.used = 0;
        }
        // The bytes of the fresh runs still to come, which displacing must leave room for.
        let mut pending = bytes;
        for (lowest, mut run) in fresh.runs {
            if fresh.descending {
                run.reverse();
            }
            let Some(last) = (run.len() as u64).checked_sub(1).map(|n| lowest + n) else {
                continue;
            };
            self.replace(space, lowest, last, &run, pending);
            pending -= run.len() * BYTES_PER_GRANULE;
            self.used += run.len() * BYTES_PER_GRANULE;
            self.runs.insert((space, lowest), run);
        }
    }

    /// Takes granules `first..=last` of `space` out of its runs, displacing
    /// those of their images that `by` (their new images, from `first` on)
    /// does not repeat, while the budget leaves room for them and `pending`
    /// bytes more.
    fn replace(&mut self, space: u32, first: u64, last: u64, by: &Run, pending: usize) {
        let starts: Vec<u64> = overlapping(&self.runs, space, (first, last))
            .map(|(start, _)| start)
            .collect();
        for start in starts {
            let Some(mut run) = self.runs.remove(&(space, start)) else {
                continue;
            };
            self.used -= run.len() * BYTES_PER_GRANULE;
            let end = start + run.len() as u64 - 1;
            for granule in start.max(first)..=end.min(last) {
                let i = (granule - start) as usize;
                let repeated = by.since[(granule - first) as usize] == run.since[i];
                if !repeated
                    && self.used + pending + BYTES_PER_DISPLACED <= self.budget
                    && self.displaced.insert(space, granule, &run, i)
                {
                    self.used += BYTES_PER_DISPLACED;
                }
            }
            if end > last {
                let after = run.split_off((last + 1 - start) as usize);
                self.used += after.len() * BYTES_PER_GRANULE;
                self.runs.insert((space, last + 1), after);
            }
            if start < first {
                run.truncate((first - start) as usize);
                self.used += run.len() * BYTES_PER_GRANULE;
                self.runs.insert((space, start), run);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunk::GranuleImage;

    /// Images of `granules`, each holding over `holds` with all its values
    /// `fill`, as a read in that order would find them.
    fn fresh(granules: impl IntoIterator<Item = (u64, (Snap, Snap), u8)>, descending: bool) -> Fresh {
        let mut fresh = Fresh::new(descending, &ImageCache::new(1 << 20), 0);
        for (g, holds, fill) in granules {
            let mut image = GranuleImage {
                values: [fill; GRANULE as usize],
                known_now: [u64::MAX; 4],
                ..GranuleImage::default()
            };
            image.values[1] = g as u8;
            fresh.push(holds, ImageSpan::of(g, &image));
        }
        fresh
    }

    /// The granules `serve` hands out over `(from, to)` at `snap`, with the
    /// first value of each, and where it stopped.
    fn served(cache: &ImageCache, snap: Snap, range: (u64, u64), reverse: bool) -> (Vec<(u64, u8)>, Option<u64>) {
        let mut out = Vec::new();
        let stop = cache
            .serve(0, snap, range, reverse, &mut |span| {
                let mut granules: Vec<_> = (0..span.len())
                    .map(|i| {
                        let g = span.first + i as u64;
                        assert_eq!(span.values_of(i)[1], g as u8, "granule {g} served another's image");
                        (g, span.values_of(i)[0])
                    })
                    .collect();
                if reverse {
                    granules.reverse();
                }
                out.extend(granules);
                Ok(true)
            })
            .unwrap();
        match stop {
            Served::At(at) => (out, at),
            Served::Stopped => unreachable!("the test's function never stops"),
        }
    }

    #[test]
    fn serves_only_images_that_hold_at_the_snap_and_stops_where_one_does_not() {
        let mut cache = ImageCache::new(1 << 20);
        cache.keep(0, fresh([(10, (0, 5), 1), (11, (0, 9), 2), (12, (3, 9), 3)], false));
        assert_eq!(
            served(&cache, 4, (10, 12), false),
            (vec![(10, 1), (11, 2), (12, 3)], None)
        );
        assert_eq!(served(&cache, 2, (10, 12), false), (vec![(10, 1), (11, 2)], Some(12)));
        assert_eq!(served(&cache, 7, (10, 12), false), (vec![], Some(10)));
        assert_eq!(served(&cache, 7, (12, 10), true), (vec![(12, 3), (11, 2)], Some(10)));
        assert_eq!(served(&cache, 4, (9, 12), false), (vec![], Some(9)));
        assert_eq!(served(&cache, 4, (11, 20), false), (vec![(11, 2), (12, 3)], Some(13)));
        assert_eq!(cache.next_held(0, 7, (9, 20), false), Some(11));
        assert_eq!(cache.next_held(0, 7, (20, 9), true), Some(12));
        assert_eq!(cache.next_held(0, 10, (0, 20), false), None);
        assert_eq!(cache.next_held(1, 4, (0, 20), false), None);
    }

    #[test]
    fn images_kept_again_replace_the_old_ones_in_their_runs_and_runs_join_across_their_ends() {
        let mut cache = ImageCache::new(1 << 20);
        cache.keep(0, fresh((0..8).map(|g| (g, (0, 0), 1)), false));
        // Read downwards; the images of 3 and 4 at snap 0 are displaced.
        cache.keep(0, fresh([(9, (1, 1), 4), (4, (1, 1), 2), (3, (1, 1), 2)], true));
        cache.keep(0, fresh([(8, (0, 1), 3)], false));
        assert_eq!(cache.runs.len(), 5, "runs 0..=2, 3..=4, 5..=7, 8, 9");
        assert_eq!(
            served(&cache, 0, (0, 9), false),
            ((0..8).map(|g| (g, 1)).chain([(8, 3)]).collect(), Some(9))
        );
        assert_eq!(served(&cache, 1, (3, 9), false), (vec![(3, 2), (4, 2)], Some(5)));
        assert_eq!(served(&cache, 1, (8, 9), false), (vec![(8, 3), (9, 4)], None));
        assert_eq!(served(&cache, 1, (9, 3), true), (vec![(9, 4), (8, 3)], Some(7)));
        assert_eq!(cache.used, 10 * BYTES_PER_GRANULE + 2 * BYTES_PER_DISPLACED);
        cache.keep(0, fresh((20..25).rev().map(|g| (g, (0, 0), 7)), true));
        assert_eq!(
            served(&cache, 0, (20, 24), false),
            ((20..25).map(|g| (g, 7)).collect(), None)
        );
    }

    #[test]
    fn displaced_images_serve_the_snaps_they_held_at_in_both_directions() {
        let mut cache = ImageCache::new(1 << 20);
        // Granules 0..6 read at three snaps whose images differ, then once
        // more at the first: each read displaces the one before.
        cache.keep(0, fresh((0..6).map(|g| (g, (0, 9), 1)), false));
        cache.keep(0, fresh((2..6).rev().map(|g| (g, (10, 19), 2)), true));
        cache.keep(0, fresh((3..5).map(|g| (g, (20, 29), 3)), false));
        cache.keep(0, fresh((4..5).map(|g| (g, (0, 9), 1)), false));
        // Snap 5: 0, 1 from the first run, 2, 3 displaced, 4 its run again, 5 displaced.
        assert_eq!(
            served(&cache, 5, (0, 5), false),
            ((0..6).map(|g| (g, 1)).collect(), None)
        );
        assert_eq!(
            served(&cache, 5, (5, 0), true),
            ((0..6).rev().map(|g| (g, 1)).collect(), None)
        );
        assert_eq!(
            served(&cache, 15, (0, 5), false),
            (vec![], Some(0)),
            "granules 0 and 1 were never read at 10..=19"
        );
        assert_eq!(
            served(&cache, 15, (2, 7), false),
            ((2..6).map(|g| (g, 2)).collect(), Some(6))
        );
        assert_eq!(served(&cache, 25, (5, 2), true), (vec![], Some(5)));
        assert_eq!(served(&cache, 25, (4, 2), true), (vec![(4, 3), (3, 3)], Some(2)));
        // The same image seen up to a later snap holds up to it.
        cache.keep(0, fresh([(0, (0, 12), 1), (1, (0, 9), 1)], false));
        cache.keep(0, fresh([(0, (20, 29), 5)], false));
        assert_eq!(served(&cache, 12, (0, 1), false), (vec![(0, 1)], Some(1)));
        // Where to read from the store up to: the nearest held, in runs or displaced.
        assert_eq!(cache.next_held(0, 15, (0, 9), false), Some(2));
        assert_eq!(cache.next_held(0, 25, (9, 0), true), Some(4));
        assert_eq!(cache.next_held(0, 25, (0, 2), false), Some(0));
        assert_eq!(cache.next_held(0, 25, (1, 2), false), None);
        assert_eq!(cache.next_held(1, 5, (0, 9), false), None);
        // Displaced again seen up to an earlier snap, it still holds up to the later.
        for holds in [(0, 14), (15, 19), (0, 9), (20, 29)] {
            cache.keep(0, fresh([(7, holds, 6)], false));
        }
        assert_eq!(served(&cache, 12, (7, 7), false), (vec![(7, 6)], None));
    }

    #[test]
    fn displaced_granules_join_into_one_segment_whatever_order_they_come_in() {
        let mut cache = ImageCache::new(1 << 20);
        for g in [5, 9, 7, 6, 8, 4, 10] {
            cache.keep(0, fresh([(g, (0, 9), 1)], false));
            cache.keep(0, fresh([(g, (10, 19), 2)], false));
        }
        assert_eq!(cache.displaced.segments.len(), 1);
        assert_eq!(cache.displaced.len(), 7);
        assert_eq!(
            served(&cache, 3, (4, 10), false),
            ((4..11).map(|g| (g, 1)).collect(), None)
        );
        // Another space is apart.
        let mut other = fresh([(6, (0, 9), 8)], false);
        other.runs[0].1.values[1] = 6;
        cache.keep(1, other);
        cache.keep(1, fresh([(6, (10, 19), 9)], false));
        assert_eq!(cache.displaced.segments.len(), 2);
        assert_eq!(served(&cache, 3, (4, 10), false).0[2], (6, 1));
    }

    #[test]
    fn the_search_for_a_displaced_image_finds_the_one_holding_or_none() {
        // Changes spread evenly, in bursts, and at the ends of the timeline.
        let mut rng = crate::format::soak::Lcg::new(3);
        for case in 0..300 {
            let n = 1 + rng.below(60) as usize;
            let mut snaps: Vec<Snap> = (0..n)
                .map(|_| match case % 3 {
                    0 => rng.below(10_000) as Snap,
                    1 => (rng.below(4) * 1_000_000 + rng.below(20)) as Snap,
                    _ => [i64::MIN, i64::MAX - 5, -3, 0][rng.below(4) as usize] + rng.below(4) as Snap,
                })
                .collect();
            snaps.sort_unstable();
            snaps.dedup();
            let mut versions = Versions::default();
            let mut model = Vec::new();
            for (slot, w) in snaps
                .windows(2)
                .map(|w| (w[0], w[1]))
                .chain([(snaps[snaps.len() - 1], i64::MAX)])
                .enumerate()
            {
                // Some images hold to the next change, some stop short.
                let till = if rng.below(3) == 0 {
                    w.0
                } else {
                    w.1.saturating_sub(1).max(w.0)
                };
                if rng.below(4) > 0 {
                    assert!(versions.insert(Version { since: w.0, till, slot }));
                    model.push((w.0, till, slot));
                }
            }
            let probes = snaps
                .iter()
                .flat_map(|&s| [s.saturating_sub(1), s, s.saturating_add(1)]);
            for snap in probes.chain([i64::MIN, i64::MAX]) {
                let want = model
                    .iter()
                    .find(|&&(since, till, _)| since <= snap && snap <= till)
                    .map(|m| m.2);
                assert_eq!(
                    versions.find(snap).map(|v| v.slot),
                    want,
                    "case {case}, snap {snap}, {model:?}"
                );
            }
        }
    }

    #[test]
    fn a_full_cache_starts_again_and_never_exceeds_its_budget() {
        let mut cache = ImageCache::new(3 * BYTES_PER_GRANULE);
        cache.keep(0, fresh((0..2).map(|g| (g, (0, 9), 1)), false));
        cache.keep(0, fresh((5..7).map(|g| (g, (0, 9), 2)), false));
        assert!(cache.used <= 3 * BYTES_PER_GRANULE);
        assert_eq!(served(&cache, 0, (0, 1), false), (vec![], Some(0)));
        assert_eq!(served(&cache, 0, (5, 6), false), (vec![(5, 2), (6, 2)], None));
        cache.keep(0, fresh((0..4).map(|g| (g, (0, 9), 1)), false));
        assert_eq!(served(&cache, 0, (5, 6), false), (vec![(5, 2), (6, 2)], None));
        // A read of more than it could keep holds none of it meanwhile.
        let mut more = Fresh::new(false, &cache, 0);
        let image = GranuleImage::default();
        for g in 0..4 {
            more.push((0, 9), ImageSpan::of(g, &image));
        }
        assert!(more.runs.is_empty());
        cache.keep(0, more);
        assert_eq!(served(&cache, 0, (5, 6), false), (vec![(5, 2), (6, 2)], None));
        // Displaced images only fit where the budget leaves room for the
        // images that displace them, and go first when it is full.
        let mut cache = ImageCache::new(3 * BYTES_PER_GRANULE + BYTES_PER_DISPLACED);
        cache.keep(0, fresh((0..2).map(|g| (g, (0, 9), 1)), false));
        cache.keep(0, fresh([(0, (10, 19), 2)], false));
        cache.keep(0, fresh([(1, (10, 19), 2)], false));
        assert_eq!(cache.displaced.len(), 1, "room for one only");
        assert!(cache.used <= cache.budget);
        assert_eq!(served(&cache, 5, (0, 1), false), (vec![(0, 1)], Some(1)));
        assert_eq!(served(&cache, 15, (0, 1), false), (vec![(0, 2), (1, 2)], None));
        cache.keep(0, fresh((2..4).map(|g| (g, (0, 9), 4)), false));
        assert_eq!(cache.displaced.len(), 0, "dropped to make room, the runs kept");
        assert_eq!(served(&cache, 5, (0, 3), false), (vec![], Some(0)));
        assert_eq!(served(&cache, 15, (0, 3), false), (vec![(0, 2), (1, 2)], Some(2)));
        assert_eq!(cache.used, 4 * BYTES_PER_GRANULE);
        assert!(!ImageCache::new(0).wanted());
        assert!(ImageCache::new(1 << 20).wanted());
    }
}
