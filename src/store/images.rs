//! Granule images kept by a read transaction for its later bulk reads
//! (large `get_bytes`, `find_bytes`). Each image comes with the snaps over
//! which its granule does not change, so a read at any snap among them skips
//! the store: a search repeated at another snap over memory that has not
//! changed runs over images already decoded. A read transaction's snapshot
//! never changes, so nothing kept here goes stale. Bounded: when full it is
//! emptied and filled again.
//!
//! Images of consecutive granules are kept as one run, their values in one
//! flat buffer, so a read hands out a whole run's bytes at once.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::store::chunk::{GRANULE, GranuleImage, ImageSpan, Mask};
use crate::types::Snap;

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

impl Run {
    fn len(&self) -> usize {
        self.since.len()
    }

    fn push(&mut self, (since, till): (Snap, Snap), image: &GranuleImage) {
        self.since.push(since);
        self.till.push(till);
        self.values.extend_from_slice(&image.values);
        self.valued.push(image.valued);
        self.known_now.push(image.known_now);
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
}

impl Fresh {
    /// Images to come in ascending granule order (descending if
    /// `descending`), for `cache`.
    pub fn new(descending: bool, cache: &ImageCache) -> Fresh {
        Fresh {
            descending,
            runs: Vec::new(),
            granules: 0,
            most: cache.budget / BYTES_PER_GRANULE,
        }
    }

    /// Adds the image of `granule`, which holds over the snaps `holds`.
    pub fn push(&mut self, granule: u64, holds: (Snap, Snap), image: &GranuleImage) {
        self.granules += 1;
        if self.granules > self.most {
            self.runs = Vec::new();
            return;
        }
        let descending = self.descending;
        match self.runs.last_mut() {
            Some((lowest, run)) if descending && granule.checked_add(1) == Some(*lowest) => {
                *lowest = granule;
                run.push(holds, image);
            }
            Some((lowest, run)) if !descending && *lowest + run.len() as u64 == granule => run.push(holds, image),
            _ => {
                let mut run = Run::default();
                run.push(holds, image);
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
    /// How many bulk reads asked for it so far.
    reads: u64,
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
            reads: 0,
        }
    }

    /// Whether a bulk read should go through it: it keeps images, and this
    /// is not the transaction's first bulk read (a transaction that reads
    /// once would only pay for keeping them).
    pub fn wanted(&mut self) -> bool {
        self.reads += 1;
        self.reads > 1 && self.budget >= BYTES_PER_GRANULE
    }

    /// The run holding `granule` of `space`, with its first granule.
    fn run_of(&self, space: u32, granule: u64) -> Option<(u64, &Run)> {
        let (&(s, first), run) = self.runs.range(..=(space, granule)).next_back()?;
        (s == space && granule - first < run.len() as u64).then_some((first, run))
    }

    /// Calls `f` with the spans of granules from `from` on towards `to`
    /// (down if `reverse`, each span then coming before the ones below it),
    /// while it holds their images at `snap` and `f` returns true.
    pub fn serve(
        &self,
        space: u32,
        snap: Snap,
        (from, to): (u64, u64),
        reverse: bool,
        f: &mut dyn FnMut(ImageSpan<'_>) -> Result<bool>,
    ) -> Result<Served> {
        let mut at = from;
        while let Some((first, run)) = self.run_of(space, at) {
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
            let served = held as u64;
            if at.abs_diff(to) < served {
                return Ok(Served::At(None));
            }
            if held < available {
                return Ok(Served::At(Some(if reverse { at - served } else { at + served })));
            }
            // The run ended: the next may go on from its end.
            at = if reverse { at - served } else { at + served };
        }
        Ok(Served::At(Some(at)))
    }

    /// The nearest granule from `from` towards `to` (down if `reverse`)
    /// whose image it holds at `snap`.
    pub fn next_held(&self, space: u32, snap: Snap, (from, to): (u64, u64), reverse: bool) -> Option<u64> {
        let (lo, hi) = if reverse { (to, from) } else { (from, to) };
        // The run holding `lo`, if one starts below it, then the runs starting within.
        let before = self
            .runs
            .range(..(space, lo))
            .next_back()
            .filter(|((s, first), run)| *s == space && lo - first < run.len() as u64);
        let within = self.runs.range((space, lo)..=(space, hi));
        let found = |(&(_, first), run): (&(u32, u64), &Run)| -> Option<u64> {
            if hi < first {
                return None;
            }
            let (a, b) = (lo.saturating_sub(first), (hi - first).min(run.len() as u64 - 1));
            let mut indices = (a..=b).map(|i| i as usize);
            let i = if reverse {
                indices.rev().find(|&i| run.holds_at(i, snap))
            } else {
                indices.find(|&i| run.holds_at(i, snap))
            };
            i.map(|i| first + i as u64)
        };
        if reverse {
            within.rev().chain(before).find_map(found)
        } else {
            before.into_iter().chain(within).find_map(found)
        }
    }

    /// Keeps the `fresh` images of `space` in place of any it held of the
    /// same granules.
    pub fn keep(&mut self, space: u32, fresh: Fresh) {
        let bytes = fresh.granules * BYTES_PER_GRANULE;
        if bytes == 0 || bytes > self.budget {
            return;
        }
        if self.used + bytes > self.budget {
            self.runs.clear();
            self.used = 0;
        }
        for (lowest, mut run) in fresh.runs {
            if fresh.descending {
                run.reverse();
            }
            self.keep_run(space, lowest, run);
        }
    }

    /// Keeps a run of images of consecutive granules from `first` on.
    fn keep_run(&mut self, space: u32, first: u64, run: Run) {
        let Some(last) = (run.len() as u64).checked_sub(1).map(|n| first + n) else {
            return;
        };
        self.forget(space, first, last);
        self.used += run.len() * BYTES_PER_GRANULE;
        self.runs.insert((space, first), run);
    }

    /// Drops the images it holds of granules `first..=last` of `space`.
    fn forget(&mut self, space: u32, first: u64, last: u64) {
        let overlapping: Vec<u64> = self
            .runs
            .range(..=(space, last))
            .rev()
            .take_while(|((s, start), run)| *s == space && start + run.len() as u64 > first)
            .map(|((_, start), _)| *start)
            .collect();
        for start in overlapping {
            let Some(mut run) = self.runs.remove(&(space, start)) else {
                continue;
            };
            self.used -= run.len() * BYTES_PER_GRANULE;
            let end = start + run.len() as u64 - 1;
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

    /// Images of `granules`, each holding over `holds` with all its values
    /// `fill`, as a read in that order would find them.
    fn fresh(granules: impl IntoIterator<Item = (u64, (Snap, Snap), u8)>, descending: bool) -> Fresh {
        let mut fresh = Fresh::new(descending, &ImageCache::new(1 << 20));
        for (g, holds, fill) in granules {
            let mut image = GranuleImage {
                values: [fill; GRANULE as usize],
                known_now: [u64::MAX; 4],
                ..GranuleImage::default()
            };
            image.values[1] = g as u8;
            fresh.push(g, holds, &image);
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
    fn images_kept_again_replace_the_old_ones_and_runs_join_across_their_ends() {
        let mut cache = ImageCache::new(1 << 20);
        cache.keep(0, fresh((0..8).map(|g| (g, (0, 0), 1)), false));
        // Read downwards.
        cache.keep(0, fresh([(9, (1, 1), 4), (4, (1, 1), 2), (3, (1, 1), 2)], true));
        cache.keep(0, fresh([(8, (0, 1), 3)], false));
        assert_eq!(
            served(&cache, 0, (0, 9), false),
            (vec![(0, 1), (1, 1), (2, 1)], Some(3))
        );
        assert_eq!(
            served(&cache, 0, (5, 9), false),
            (vec![(5, 1), (6, 1), (7, 1), (8, 3)], Some(9))
        );
        assert_eq!(served(&cache, 1, (3, 9), false), (vec![(3, 2), (4, 2)], Some(5)));
        assert_eq!(served(&cache, 1, (8, 9), false), (vec![(8, 3), (9, 4)], None));
        assert_eq!(served(&cache, 1, (9, 3), true), (vec![(9, 4), (8, 3)], Some(7)));
        assert_eq!(cache.used, 10 * BYTES_PER_GRANULE);
        cache.keep(0, fresh((20..25).rev().map(|g| (g, (0, 0), 7)), true));
        assert_eq!(
            served(&cache, 0, (20, 24), false),
            ((20..25).map(|g| (g, 7)).collect(), None)
        );
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
        let mut more = Fresh::new(false, &cache);
        let image = GranuleImage::default();
        for g in 0..4 {
            more.push(g, (0, 9), &image);
        }
        assert!(more.runs.is_empty());
        cache.keep(0, more);
        assert_eq!(served(&cache, 0, (5, 6), false), (vec![(5, 2), (6, 2)], None));
        let mut none = ImageCache::new(0);
        assert!(!none.wanted() && !none.wanted());
        let mut some = ImageCache::new(1 << 20);
        assert!(!some.wanted() && some.wanted());
    }
}
