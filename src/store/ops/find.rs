//! Masked search of a space's memory as of a snap (M8): [`Direction`],
//! [`FindProgress`], and the search itself, which streams granule images
//! through a staging buffer and scans it with `memchr::memmem` for the
//! longest fully-masked part of the pattern, checking each candidate
//! window against the whole masked pattern.

use memchr::memmem;

use crate::store::bulk::for_each_image_span;
use crate::store::chunk::{FULL_MASK, GRANULE, ImageSpan, Mask, masks_full};
use crate::store::history::StoreRead;
use crate::store::ops::read::granule_overlap;
use crate::vocab::error::{Error, Result};
use crate::vocab::search::{Direction, FindProgress};
use crate::vocab::types::{AddressRange, Snap};

/// Bytes staged before a search pass: large enough that memmem runs at
/// speed, small enough to stay in the CPU's caches.
const STAGE: usize = 256 << 10;

/// Runs of KNOWN memory at least this long, handed out whole by a read
/// transaction's kept images, are searched where they lie, not staged.
const SCAN_IN_PLACE: usize = 16 << 10;

/// A pattern, its mask, and a prefilter on its longest fully-masked run.
struct Matcher<'p> {
    pattern: &'p [u8],
    mask: Option<&'p [u8]>,
    /// Offset of the prefilter run in the pattern, and the run's finders.
    anchor: Option<(usize, memmem::Finder<'p>, memmem::FinderRev<'p>)>,
}

impl<'p> Matcher<'p> {
    fn new(pattern: &'p [u8], mask: Option<&'p [u8]>) -> Matcher<'p> {
        let (mut best, mut run_start) = ((0usize, 0usize), None);
        for i in 0..=pattern.len() {
            let exact = i < pattern.len() && mask.is_none_or(|m| m[i] == 0xff);
            match (exact, run_start) {
                (true, None) => run_start = Some(i),
                (false, Some(start)) => {
                    if i - start > best.1 - best.0 {
                        best = (start, i);
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        let anchor = (best.1 > best.0).then(|| {
            let needle = &pattern[best.0..best.1];
            (best.0, memmem::Finder::new(needle), memmem::FinderRev::new(needle))
        });
        Matcher { pattern, mask, anchor }
    }

    fn matches_at(&self, window: &[u8]) -> bool {
        match self.mask {
            None => window == self.pattern,
            Some(mask) => window
                .iter()
                .zip(self.pattern)
                .zip(mask)
                .all(|((&m, &p), &k)| m & k == p & k),
        }
    }

    /// The first (or last) start in `hay` of a whole matching window.
    fn find(&self, hay: &[u8], direction: Direction) -> Option<usize> {
        let n = self.pattern.len();
        if hay.len() < n {
            return None;
        }
        let fits = |start: usize| start + n <= hay.len() && self.matches_at(&hay[start..start + n]);
        let Some((offset, forward, backward)) = &self.anchor else {
            return match direction {
                Direction::Forward => (0..=hay.len() - n).find(|&s| fits(s)),
                Direction::Backward => (0..=hay.len() - n).rev().find(|&s| fits(s)),
            };
        };
        let offset = *offset;
        match direction {
            Direction::Forward => {
                // Occurrences may overlap (`find_iter` would skip those).
                let mut from = 0;
                while let Some(found) = forward.find(&hay[from..]) {
                    let at = from + found;
                    if let Some(start) = at.checked_sub(offset) {
                        if start + n > hay.len() {
                            return None;
                        }
                        if fits(start) {
                            return Some(start);
                        }
                    }
                    from = at + 1;
                }
                None
            }
            Direction::Backward => {
                let needle = backward.needle().len();
                let mut end = hay.len();
                while let Some(at) = backward.rfind(&hay[..end]) {
                    if let Some(start) = at.checked_sub(offset)
                        && fits(start)
                    {
                        return Some(start);
                    }
                    // The next occurrence ends before this one does.
                    end = at + needle - 1;
                }
                None
            }
        }
    }
}

/// Bytes of contiguous KNOWN memory waiting to be searched: `data[lo..hi]`
/// holds the bytes from address `first` on. Forward searches append at
/// `hi`; backward ones prepend at `lo`.
struct Stage {
    data: Vec<u8>,
    lo: usize,
    hi: usize,
    first: u64,
}

/// Appends to `runs` the maximal runs `(first, last)` of positions in
/// `[p0, p1]` that `mask` holds, found a word at a time.
fn known_runs(mask: &Mask, p0: usize, p1: usize, runs: &mut Vec<(usize, usize)>) {
    // A fully known granule, the common case, is one run.
    if *mask == FULL_MASK && p0 <= p1 {
        runs.push((p0, p1));
        return;
    }
    let mut p = p0;
    while p <= p1 {
        let bits = mask[p / 64] >> (p % 64);
        if bits & 1 == 0 {
            p += if bits == 0 {
                64 - p % 64
            } else {
                bits.trailing_zeros() as usize
            };
            continue;
        }
        let first = p;
        // Trailing ones of the shifted word stop at the word's end, where
        // the run may go on in the next word.
        loop {
            let ones = (!(mask[p / 64] >> (p % 64))).trailing_zeros() as usize;
            p += ones;
            if ones == 0 || !p.is_multiple_of(64) || p > p1 {
                break;
            }
        }
        let last = (p - 1).min(p1);
        runs.push((first, last));
        p = last + 2;
    }
}

/// Copies `from` into `to` (of the same length), a whole granule as one
/// fixed-size copy that the compiler unrolls.
fn copy_run(to: &mut [u8], from: &[u8]) {
    let whole = to.len() == GRANULE as usize;
    match (to.first_chunk_mut::<{ GRANULE as usize }>(), from.first_chunk()) {
        (Some(whole_to), Some(whole_from)) if whole => *whole_to = *whole_from,
        _ => to.copy_from_slice(from),
    }
}

/// Searches `range` of `space` as of `snap` (see `MemoryRead::find_bytes`).
pub(crate) fn find_bytes(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    range: AddressRange,
    pattern: &[u8],
    mask: Option<&[u8]>,
    direction: Direction,
    progress: &mut dyn FnMut(FindProgress) -> bool,
) -> Result<Option<u64>> {
    if let Some(mask) = mask
        && mask.len() != pattern.len()
    {
        return Err(Error::MaskLength {
            pattern: pattern.len(),
            mask: mask.len(),
        });
    }
    if pattern.is_empty() || range.len() < pattern.len() as u128 {
        return Ok(None);
    }
    let matcher = Matcher::new(pattern, mask);
    let keep = pattern.len() - 1;
    let capacity = STAGE + keep + GRANULE as usize;
    let mut stage = Stage {
        data: vec![0; capacity],
        lo: 0,
        hi: 0,
        first: 0,
    };
    if direction == Direction::Backward {
        (stage.lo, stage.hi) = (capacity, capacity);
    }
    let mut found = None;
    let mut searched = 0u64;
    // Searches the staged bytes; if `carry`, keeps the bytes a window
    // crossing into the next ones would need, else empties the stage.
    let flush = |stage: &mut Stage, carry: bool| -> Option<u64> {
        let staged = &stage.data[stage.lo..stage.hi];
        if let Some(at) = matcher.find(staged, direction) {
            return Some(stage.first + at as u64);
        }
        let len = staged.len();
        let kept = if carry { keep.min(len) } else { 0 };
        match direction {
            Direction::Forward => {
                stage.data.copy_within(stage.hi - kept..stage.hi, 0);
                // An empty stage takes the address of the next bytes staged
                // (and may have ended at the top of the address space).
                if kept > 0 {
                    stage.first += (len - kept) as u64;
                }
                (stage.lo, stage.hi) = (0, kept);
            }
            Direction::Backward => {
                stage.data.copy_within(stage.lo..stage.lo + kept, capacity - kept);
                (stage.lo, stage.hi) = (capacity - kept, capacity);
            }
        }
        None
    };
    // Stages `bytes` (at `addr`) in search order, searching the stage
    // whenever it fills; the address of a match, if that finds one.
    let take = |addr: u64, bytes: &[u8], stage: &mut Stage| -> Option<u64> {
        let staged = (stage.hi - stage.lo) as u64;
        match direction {
            Direction::Forward => {
                if staged > 0
                    && stage.first + staged != addr
                    && let Some(at) = flush(stage, false)
                {
                    return Some(at);
                }
                if stage.hi == stage.lo {
                    stage.first = addr;
                }
                let mut rest = bytes;
                while !rest.is_empty() {
                    let n = (capacity - stage.hi).min(rest.len());
                    copy_run(&mut stage.data[stage.hi..stage.hi + n], &rest[..n]);
                    stage.hi += n;
                    rest = &rest[n..];
                    if stage.hi >= STAGE
                        && let Some(at) = flush(stage, true)
                    {
                        return Some(at);
                    }
                }
            }
            Direction::Backward => {
                if staged > 0
                    && stage.first != addr + bytes.len() as u64
                    && let Some(at) = flush(stage, false)
                {
                    return Some(at);
                }
                let mut rest = bytes;
                while !rest.is_empty() {
                    let n = stage.lo.min(rest.len());
                    let (below, top) = rest.split_at(rest.len() - n);
                    copy_run(&mut stage.data[stage.lo - n..stage.lo], top);
                    stage.lo -= n;
                    stage.first = addr + below.len() as u64;
                    rest = below;
                    if capacity - stage.lo >= STAGE
                        && let Some(at) = flush(stage, true)
                    {
                        return Some(at);
                    }
                }
            }
        }
        None
    };
    // Searches `bytes` (at `addr`, contiguous KNOWN memory, at least `keep`
    // of them) where they lie: only the bytes a window across their edges
    // needs go through the stage.
    let scan = |addr: u64, bytes: &[u8], stage: &mut Stage| -> Option<u64> {
        let staged = (stage.hi - stage.lo) as u64;
        let edge = keep.min(bytes.len());
        match direction {
            Direction::Forward => {
                if staged > 0 && stage.first + staged == addr {
                    stage.data[stage.hi..stage.hi + edge].copy_from_slice(&bytes[..edge]);
                    stage.hi += edge;
                }
                if let Some(at) = flush(stage, false) {
                    return Some(at);
                }
                if let Some(at) = matcher.find(bytes, direction) {
                    return Some(addr + at as u64);
                }
                stage.data[..edge].copy_from_slice(&bytes[bytes.len() - edge..]);
                (stage.lo, stage.hi) = (0, edge);
                stage.first = addr + (bytes.len() - edge) as u64;
            }
            Direction::Backward => {
                if staged > 0 && addr + bytes.len() as u64 == stage.first {
                    stage.data[stage.lo - edge..stage.lo].copy_from_slice(&bytes[bytes.len() - edge..]);
                    stage.lo -= edge;
                    stage.first -= edge as u64;
                }
                if let Some(at) = flush(stage, false) {
                    return Some(at);
                }
                if let Some(at) = matcher.find(bytes, direction) {
                    return Some(addr + at as u64);
                }
                stage.data[capacity - edge..].copy_from_slice(&bytes[..edge]);
                (stage.lo, stage.hi) = (capacity - edge, capacity);
                stage.first = addr;
            }
        }
        None
    };
    let mut runs = Vec::with_capacity(GRANULE as usize / 2 + 1);
    // Known runs of the span being searched, as (first, last) addresses.
    let mut known: Vec<(u64, u64)> = Vec::new();
    let mut since_report = 0usize;
    let mut visit = |span: ImageSpan<'_>| -> Result<bool> {
        let gs = u64::from(GRANULE);
        let span_lo = span.first * gs;
        if masks_full(span.known_now) {
            let span_hi = (span.first + span.len() as u64 - 1) * gs + (gs - 1);
            known.push((span_lo.max(range.min()), span_hi.min(range.max())));
        } else {
            for (i, known_now) in span.known_now.iter().enumerate() {
                let (base, p0, p1) = granule_overlap(span.first + i as u64, range);
                known_runs(known_now, p0, p1, &mut runs);
                // A run that goes on from the granule before joins its run.
                for (a, b) in runs.drain(..) {
                    let (a, b) = (base + a as u64, base + b as u64);
                    match known.last_mut() {
                        Some(last) if last.1 + 1 == a => last.1 = b,
                        _ => known.push((a, b)),
                    }
                }
            }
        }
        let mut visit_run = |&(a, b): &(u64, u64)| -> Option<u64> {
            searched += b - a + 1;
            let bytes = &span.values[(a - span_lo) as usize..=(b - span_lo) as usize];
            if bytes.len() >= SCAN_IN_PLACE.max(keep) {
                scan(a, bytes, &mut stage)
            } else {
                take(a, bytes, &mut stage)
            }
        };
        let hit = match direction {
            Direction::Forward => known.iter().find_map(&mut visit_run),
            Direction::Backward => known.iter().rev().find_map(&mut visit_run),
        };
        known.clear();
        if hit.is_some() {
            found = hit;
            return Ok(false);
        }
        since_report += span.len();
        if since_report >= 4096 {
            since_report = 0;
            if !progress(FindProgress { searched, at: span_lo }) {
                return Err(Error::Cancelled {
                    operation: "find_bytes",
                    at: span_lo,
                });
            }
        }
        Ok(true)
    };
    for_each_image_span(
        store,
        space,
        snap,
        (range.min(), range.max()),
        direction == Direction::Backward,
        &mut visit,
    )?;
    if found.is_none() {
        found = flush(&mut stage, false);
    }
    Ok(found)
}
