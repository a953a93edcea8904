//! Reading a chunk index: its header checked, a granule's chunks found by
//! hash or by range, the chunk a read at a snap wants.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::layout::{
    CHUNK, Counts, ENTRY, HEADER, MAGIC, STRETCH_GRANULES, STRETCH_IMAGE as IMAGE, STRETCH_MARK as MARK, Sections,
    VERSION, io_error, place_of, slot_of, u32_at, u64_at,
};
use super::stretches::{self, StretchMark};
use crate::store::chunk::{StretchImage, touch_lines};
use crate::vocab::error::{Error, Result};
use crate::vocab::types::Snap;

/// The bytes of an index: its file mapped, or (for the fuzz targets) held.
enum IndexBytes {
    Mapped(Mmap),
    /// An empty file (which has no header: always refused).
    Empty,
    #[cfg(feature = "fuzzing")]
    Held(Vec<u8>),
}

impl std::ops::Deref for IndexBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            IndexBytes::Mapped(map) => map,
            IndexBytes::Empty => &[],
            #[cfg(feature = "fuzzing")]
            IndexBytes::Held(bytes) => bytes,
        }
    }
}

/// A chunk index, mapped.
pub(crate) struct ChunkIndex {
    pub(super) path: PathBuf,
    map: IndexBytes,
    stamp: [u8; 16],
    pub(super) sections: Sections,
}

impl std::fmt::Debug for ChunkIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkIndex").field("path", &self.path).finish()
    }
}

/// A granule's run of chunks in an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GranuleRun {
    pub granule: u64,
    pub(super) first: usize,
    pub(super) end: usize,
}

/// Granules a bulk read looks up together ([`ChunkIndex::for_each_latest`]).
const LOOK_AHEAD: usize = 32;

impl ChunkIndex {
    /// Maps the index at `path`; `None` if there is no file. The header and
    /// the length are checked here, the rest as it is read.
    pub fn open(path: &Path) -> Result<Option<ChunkIndex>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(path, e)),
        };
        // An empty file cannot be mapped: read as the damage it is.
        if file.metadata().map_err(|e| io_error(path, e))?.len() == 0 {
            return ChunkIndex::of_bytes(path, IndexBytes::Empty).map(Some);
        }
        // SAFETY: memmap2 requires that the file is not truncated or changed
        // while mapped. tracemem never changes an index in place: a new one
        // is written beside it and renamed over it, which leaves this
        // mapping on the old file. Other programs changing the file is
        // unsupported, as for the database and its journals.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io_error(path, e))?;
        // Huge pages where the system gives them (Linux: file pages read in
        // through this mapping come in 2 MiB folios, mapped whole): a read
        // of a large index misses the TLB and the page tables less (see
        // `write::drop_cached_pages`). Only advice: refused, it is ignored.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        // An index of another version (a whole header, the magic) is not used.
        if map.len() >= HEADER && &map[..8] == MAGIC && u32_at(&map, 8) != VERSION {
            return Ok(None);
        }
        ChunkIndex::of_bytes(path, IndexBytes::Mapped(map)).map(Some)
    }

    /// An index of `bytes`, named `path` in errors (the fuzz targets').
    #[cfg(feature = "fuzzing")]
    pub fn held(path: &Path, bytes: Vec<u8>) -> Result<ChunkIndex> {
        ChunkIndex::of_bytes(path, IndexBytes::Held(bytes))
    }

    /// The index of `map`: its header and length checked.
    fn of_bytes(path: &Path, map: IndexBytes) -> Result<ChunkIndex> {
        let damaged = |detail: &str| Error::corrupt(path.display().to_string(), format!("chunk index: {detail}"));
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(damaged("not a chunk index (no magic)"));
        }
        let version = u32_at(&map, 8);
        if version != VERSION {
            return Err(damaged(&format!("version {version}, this tracemem reads {VERSION}")));
        }
        let mut stamp = [0u8; 16];
        stamp.copy_from_slice(&map[16..32]);
        let counts = Counts {
            granules: u64_at(&map, 32),
            chunks: u64_at(&map, 40),
            data_len: u64_at(&map, 48),
            slots: u64_at(&map, 56),
            stretch_images: u64_at(&map, 64),
        };
        let (granules, slots) = (counts.granules, counts.slots);
        let sections = Sections::of(counts)
            .filter(|s| s.len == map.len())
            .ok_or_else(|| damaged(&format!("{} bytes do not hold the counts of its header", map.len())))?;
        if !slots.is_power_of_two() || slots < granules {
            return Err(damaged(&format!("{slots} hash slots for {granules} granules")));
        }
        Ok(ChunkIndex {
            path: path.to_path_buf(),
            map,
            stamp,
            sections,
        })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stamp the database's `meta` holds while this index matches it.
    pub fn stamp(&self) -> [u8; 16] {
        self.stamp
    }

    fn damaged(&self, detail: String) -> Error {
        Error::corrupt(self.path.display().to_string(), format!("chunk index: {detail}"))
    }

    /// Entry `i`'s (space, granule) and run of chunks, checked.
    fn entry(&self, i: usize) -> Result<(u32, GranuleRun)> {
        let s = &self.sections;
        let at = s.entries_at + i * ENTRY;
        let first = u64_at(&self.map, at + 16);
        let end = match i + 1 < s.granules {
            true => u64_at(&self.map, at + ENTRY + 16),
            false => s.chunks as u64,
        };
        if first > end || end > s.chunks as u64 {
            return Err(self.damaged(format!("granule entry {i}: chunks {first}..{end} of {}", s.chunks)));
        }
        let run = GranuleRun {
            granule: u64_at(&self.map, at + 8),
            first: first as usize,
            end: end as usize,
        };
        Ok((u32_at(&self.map, at), run))
    }

    /// The chunks of `granule` of `space`, if it has any.
    pub fn granule(&self, space: u32, granule: u64) -> Result<Option<GranuleRun>> {
        let slots = self.sections.slots;
        if slots == 0 {
            return Ok(None);
        }
        let mask = slots as u64 - 1;
        let mut slot = slot_of(space, granule, mask);
        for _ in 0..slots {
            let entry = u32_at(&self.map, self.sections.slots_at + slot as usize * 4) as usize;
            if entry == 0 {
                return Ok(None);
            }
            if entry > self.sections.granules {
                return Err(self.damaged(format!("hash slot {slot} names entry {entry}")));
            }
            let (s, run) = self.entry(entry - 1)?;
            if (s, run.granule) == (space, granule) {
                return Ok(Some(run));
            }
            slot = (slot + 1) & mask;
        }
        Ok(None)
    }

    /// The granules of `space` in `[from, to]` with chunks, ascending (or
    /// descending if `reverse`), while `f` returns true.
    pub fn for_each_granule(
        &self,
        space: u32,
        (from, to): (u64, u64),
        reverse: bool,
        f: &mut dyn FnMut(GranuleRun) -> Result<bool>,
    ) -> Result<()> {
        let s = &self.sections;
        let key = |i: usize| {
            let at = s.entries_at + i * ENTRY;
            (u32_at(&self.map, at), u64_at(&self.map, at + 8))
        };
        // The entries from the first at or past (space, from) to the first
        // past (space, to), by bisection.
        let first_past = |bound: &dyn Fn((u32, u64)) -> bool| {
            let (mut lo, mut hi) = (0, s.granules);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match bound(key(mid)) {
                    true => lo = mid + 1,
                    false => hi = mid,
                }
            }
            lo
        };
        let start = first_past(&|k| k < (space, from));
        let end = first_past(&|k| k <= (space, to)).max(start);
        let mut visit = |i: usize| -> Result<bool> {
            let (entry_space, run) = self.entry(i)?;
            if entry_space != space {
                return Err(self.damaged(format!("granule entry {i} out of order")));
            }
            f(run)
        };
        match reverse {
            false => {
                for i in start..end {
                    if !visit(i)? {
                        break;
                    }
                }
            }
            true => {
                for i in (start..end).rev() {
                    if !visit(i)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The chunk of `run` with the greatest first snap in `[lo, hi]`, and the
    /// first snap of the chunk after it (if any).
    pub fn latest(&self, run: GranuleRun, lo: Snap, hi: Snap) -> Result<Option<(Snap, &[u8], Option<Snap>)>> {
        let snap = |i: usize| self.first_snap(i);
        let a = self.rank(run, hi);
        if a == run.first || snap(a - 1) < lo {
            return Ok(None);
        }
        let i = a - 1;
        let next = (a < run.end).then(|| snap(a));
        Ok(Some((snap(i), self.chunk_bytes(i)?, next)))
    }

    /// Where in `run` the first chunk with a first snap past `x` is (its
    /// end if none is): the chunks before it start at or before `x`.
    fn rank(&self, run: GranuleRun, x: Snap) -> usize {
        rank_in(run.first, run.end, x, &|i| self.first_snap(i))
    }

    /// The stretch image of stretch `stretch` (its first granule / 256) of
    /// `space` that holds at `snap`, if there is one.
    pub fn stretch_image(&self, space: u32, stretch: u64, snap: Snap) -> Result<Option<StretchImage<'_>>> {
        let n = self.sections.stretch_images;
        // The marks up to (space, stretch, snap), by bisection: the last is the one.
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mark = self.stretch_mark(mid);
            match (mark.space, mark.stretch, mark.since) <= (space, stretch, snap) {
                true => lo = mid + 1,
                false => hi = mid,
            }
        }
        let Some(i) = lo.checked_sub(1) else {
            return Ok(None);
        };
        let mark = self.stretch_mark(i);
        if (mark.space, mark.stretch) != (space, stretch) || mark.till < snap {
            return Ok(None);
        }
        if mark.since > mark.till || mark.stretch > u64::MAX / STRETCH_GRANULES {
            return Err(self.damaged(format!("stretch image {i}: {mark:?}")));
        }
        Ok(Some(stretches::decode(self.stretch_image_bytes(i), mark)))
    }

    /// Stretch image `i`'s mark (`i` below the count: the sections were checked).
    pub(super) fn stretch_mark(&self, i: usize) -> StretchMark {
        let at = self.sections.stretch_marks_at + i * MARK;
        StretchMark::of_bytes(&self.map[at..at + MARK])
    }

    /// Stretch image `i`'s bytes.
    pub(super) fn stretch_image_bytes(&self, i: usize) -> &[u8] {
        let at = self.sections.stretch_images_at + i * IMAGE;
        &self.map[at..at + IMAGE]
    }

    /// Whether it holds stretch images.
    pub fn has_stretch_images(&self) -> bool {
        self.sections.stretch_images > 0
    }

    /// Calls `f(granule, first snap, bytes, next chunk's first snap)` with
    /// the chunk of greatest first snap in `[lo, hi]` of each granule of
    /// `space` in `granules` that has one, ascending (descending if
    /// `reverse`), while `f` returns true.
    ///
    /// A bulk read at one snap wants one chunk from each of many granules,
    /// apart in the file and each a memory miss away. So they are found
    /// [`LOOK_AHEAD`] granules at a time, and each chunk's cache lines
    /// brought in all at once before `f` reads any: the loads of a batch do
    /// not depend on one another, so their misses overlap (the W2 heap's
    /// first 64 KiB reads about a fifth faster).
    pub fn for_each_latest(
        &self,
        space: u32,
        granules: (u64, u64),
        (lo, hi): (Snap, Snap),
        reverse: bool,
        f: &mut dyn FnMut(u64, Snap, &[u8], Option<Snap>) -> Result<bool>,
    ) -> Result<()> {
        let mut runs = Vec::with_capacity(LOOK_AHEAD);
        let mut go_on = true;
        let mut batch = |runs: &mut Vec<GranuleRun>| -> Result<bool> {
            let mut found = [None; LOOK_AHEAD];
            for (k, run) in runs.iter().enumerate() {
                found[k] = self.latest(*run, lo, hi)?;
            }
            for (_, bytes, _) in found.iter().flatten() {
                touch_lines(bytes);
            }
            for (run, chunk) in runs.drain(..).zip(found) {
                if let Some((first, bytes, next)) = chunk
                    && !f(run.granule, first, bytes, next)?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        self.for_each_granule(space, granules, reverse, &mut |run| {
            runs.push(run);
            if runs.len() == LOOK_AHEAD {
                go_on = batch(&mut runs)?;
            }
            Ok(go_on)
        })?;
        if go_on && !runs.is_empty() {
            batch(&mut runs)?;
        }
        Ok(())
    }

    /// The least first snap in `[from, to]` of a chunk of `run`.
    pub fn first_from(&self, run: GranuleRun, from: Snap, to: Snap) -> Option<Snap> {
        let a = match from.checked_sub(1) {
            Some(before) => self.rank(run, before),
            None => run.first,
        };
        (a < run.end && self.first_snap(a) <= to).then(|| self.first_snap(a))
    }

    /// Calls `f` with every granule entry, in order.
    pub fn for_each_entry(&self, f: &mut dyn FnMut(u32, GranuleRun) -> Result<()>) -> Result<()> {
        for i in 0..self.sections.granules {
            let (space, run) = self.entry(i)?;
            f(space, run)?;
        }
        Ok(())
    }

    /// Chunk `i`'s first snap.
    pub(super) fn first_snap(&self, i: usize) -> Snap {
        u64_at(&self.map, self.sections.chunks_at + i * CHUNK) as i64
    }

    /// The stored bytes of chunk `i`, checked.
    pub(super) fn chunk_bytes(&self, i: usize) -> Result<&[u8]> {
        let place = u64_at(&self.map, self.sections.chunks_at + i * CHUNK + 8);
        let (start, len) = place_of(place);
        match start.checked_add(len) {
            Some(end) if end <= self.sections.data_len as u64 => {
                Ok(&self.map[HEADER + start as usize..HEADER + end as usize])
            }
            _ => Err(self.damaged(format!(
                "chunk {i}: {len} bytes at {start} of {}",
                self.sections.data_len
            ))),
        }
    }
}

/// The first `i` in `[first, end)` with `snap(i) > x` (`end` if none is),
/// for snaps ascending over the range: where a granule's chunks past `x`
/// begin.
///
/// A granule's chunks start at snaps spread about evenly over its
/// history (a register written at a steady rate, a stack slot), so the
/// search starts where `x` falls between the first and the last, by
/// proportion, and gallops from there: a probe or two in one place,
/// where a bisection of a long history (69,000 chunks at 31,000,000
/// W1 events) misses the CPU's caches at each of a dozen halvings.
/// Snaps out of order (a damaged index) give some place in the run,
/// never a panic.
fn rank_in(first: usize, end: usize, x: Snap, snap: &dyn Fn(usize) -> Snap) -> usize {
    if end - first <= 8 {
        return first + (first..end).take_while(|&i| snap(i) <= x).count();
    }
    let (low, high) = (snap(first), snap(end - 1));
    if x < low {
        return first;
    }
    if x >= high {
        return end;
    }
    // low <= x < high: a guess in [first, end - 1).
    // (Distances as u64, whose conversion to f64 is a few instructions;
    // through i128 it was a library call, 3% of a point read.)
    let into = x.abs_diff(low) as f64 / high.abs_diff(low) as f64;
    let guess = first + ((into * (end - 1 - first) as f64) as usize).min(end - 2 - first);
    // Bracket [a, b): snap(a) <= x (or a == first), and b == end or snap(b) > x.
    let (mut a, mut b) = (guess, guess + 1);
    let mut step = 1;
    if snap(guess) <= x {
        while b < end && snap(b) <= x {
            a = b;
            b = (b + step).min(end);
            step *= 2;
        }
    } else {
        b = guess;
        a = guess;
        while a > first && snap(a) > x {
            b = a;
            a = a.saturating_sub(step).max(first);
            step *= 2;
        }
        if snap(a) > x {
            return a;
        }
    }
    // snap(a) <= x; the answer is in (a, b].
    let (mut lo, mut hi) = (a + 1, b);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match snap(mid) <= x {
            true => lo = mid + 1,
            false => hi = mid,
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::Lcg;

    #[test]
    fn the_rank_of_a_snap_is_the_partition_point_of_the_snaps_up_to_it() {
        let mut rng = Lcg::new(7);
        for round in 0..2000 {
            let n = rng.below(300) as usize;
            // Even, clustered, duplicated and jumping spreads of snaps.
            let mut snaps: Vec<Snap> = (0..n)
                .map(|i| match round % 4 {
                    0 => i as Snap * 64,
                    1 => rng.below(50) as Snap,
                    2 => (i as Snap).pow(3) - 1000,
                    _ => rng.below(u64::MAX) as Snap,
                })
                .collect();
            snaps.sort_unstable();
            let from = if n > 0 { rng.below(n as u64) as usize } else { 0 };
            for x in [Snap::MIN, -1, 0, 5, 63, 64, 1000, Snap::MAX].into_iter().chain(
                snaps
                    .iter()
                    .flat_map(|&s| [s.saturating_sub(1), s, s.saturating_add(1)]),
            ) {
                let want = from + snaps[from..].partition_point(|&s| s <= x);
                assert_eq!(rank_in(from, n, x, &|i| snaps[i]), want, "{x} in {:?}", &snaps[from..]);
            }
        }
    }

    #[test]
    fn snaps_out_of_order_give_a_place_in_the_range_never_a_panic() {
        let mut rng = Lcg::new(11);
        for _ in 0..2000 {
            let n = 1 + rng.below(200) as usize;
            let snaps: Vec<Snap> = (0..n).map(|_| rng.below(u64::MAX) as Snap).collect();
            for x in [Snap::MIN, 0, Snap::MAX, snaps[n / 2]] {
                let at = rank_in(0, n, x, &|i| snaps[i]);
                assert!(at <= n);
            }
        }
    }
}
