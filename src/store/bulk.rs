//! Bulk reads: many granules of a space as of one snap, decoded into flat
//! [`GranuleImage`]s through one cursor over the chunk keys (or, where a
//! granule's latest delta wrote all of it, read where the chunk lies), kept
//! in the read transaction's [`ImageCache`] for the reads after, and handed
//! out as [`ImageSpan`]s of consecutive granules. Large `get_bytes`, `find_bytes`
//! and `diff` read through here; point reads with per-byte source snaps go
//! through [`super::history::read_range`].

use crate::store::chunk::{ChunkView, FULL_MASK, GRANULE, GranuleImage, ImageSpan, Mask, STRETCH_GRANULES};
use crate::store::history::{StoreRead, chunk_place, seek_latest_chunks};
use crate::store::images::{Fresh, ImageCache, Served};
use crate::vocab::error::Result;
use crate::vocab::types::{Snap, side_of};

/// Calls `f(span)` with the images as of `snap` of the granules of `space`
/// that overlap `[first, last]` and have a history, ascending (or
/// descending if `reverse`: the spans then come down, each one ascending
/// within), while `f` returns true. Granules without any chunk at or before
/// `snap` on its side of the timeline are skipped. A span may hold more of
/// its edge granules than the range covers.
pub(crate) fn for_each_image_span(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    (first, last): (u64, u64),
    reverse: bool,
    f: &mut dyn FnMut(ImageSpan<'_>) -> Result<bool>,
) -> Result<()> {
    let gs = u64::from(GRANULE);
    let granules = (first / gs, last / gs);
    // A few granules are read by seeks and not kept: a point read stays one.
    if granules.1 - granules.0 >= SEEK_GRANULES
        && let Some(cache) = store.image_cache()
        && let Ok(mut cache) = cache.try_lock()
        && cache.wanted()
    {
        return cached_images(store, &mut cache, space, snap, granules, reverse, f);
    }
    read_images(store, space, snap, (first, last), granules, reverse, None, f).map(|_| ())
}

/// [`for_each_image_span`] through `cache`: the granules it holds at
/// `snap` from it, the others from the store, then kept in it.
fn cached_images(
    store: &dyn StoreRead,
    cache: &mut ImageCache,
    space: u32,
    snap: Snap,
    (g0, g1): (u64, u64),
    reverse: bool,
    f: &mut dyn FnMut(ImageSpan<'_>) -> Result<bool>,
) -> Result<()> {
    let gs = u64::from(GRANULE);
    // Whole granules only: an image is kept for any later range.
    let bytes = (g0 * gs, g1 * gs + (gs - 1));
    let (mut at, end) = if reverse { (g1, g0) } else { (g0, g1) };
    loop {
        at = match cache.serve(space, snap, (at, end), reverse, f)? {
            Served::Stopped | Served::At(None) => return Ok(()),
            Served::At(Some(at)) => at,
        };
        // `at` is not held: read from the store up to the next granule that is.
        let upto = match cache.next_held(space, snap, (at, end), reverse) {
            Some(held) if reverse => held + 1,
            Some(held) => held - 1,
            None => end,
        };
        let segment = if reverse { (upto, at) } else { (at, upto) };
        let mut fresh = Fresh::new(reverse, cache, (segment.1 - segment.0 + 1) as usize);
        let go_on = read_images(store, space, snap, bytes, segment, reverse, Some(&mut fresh), f)?;
        cache.keep(space, fresh);
        if !go_on || upto == end {
            return Ok(());
        }
        at = if reverse { upto - 1 } else { upto + 1 };
    }
}

/// Reads the granules `granules` (of the range `[first, last]`) from the
/// store: each stretch of 256 granules of which the store keeps an image
/// that holds at `snap` from that image as it lies (and not kept: it is as
/// fast to read again), the others granule by granule ([`read_granules`]).
/// False where `f` asked to stop.
#[allow(clippy::too_many_arguments)]
fn read_images(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    range: (u64, u64),
    granules: (u64, u64),
    reverse: bool,
    mut keep: Option<&mut Fresh>,
    f: &mut dyn FnMut(ImageSpan<'_>) -> Result<bool>,
) -> Result<bool> {
    if !store.has_stretch_images() || granules.1 - granules.0 < SEEK_GRANULES {
        return read_granules(store, space, snap, range, granules, reverse, keep, f);
    }
    let (s0, s1) = (granules.0 / STRETCH_GRANULES, granules.1 / STRETCH_GRANULES);
    let stretches: Box<dyn Iterator<Item = u64>> = match reverse {
        true => Box::new((s0..=s1).rev()),
        false => Box::new(s0..=s1),
    };
    // Consecutive granules without an image yet to be read.
    let mut pending: Option<(u64, u64)> = None;
    for stretch in stretches {
        let first = stretch * STRETCH_GRANULES;
        let segment = (granules.0.max(first), granules.1.min(first + (STRETCH_GRANULES - 1)));
        match store.stretch_image(space, stretch, snap)? {
            Some(image) => {
                if let Some(segment) = pending.take()
                    && !read_granules(store, space, snap, range, segment, reverse, keep.as_deref_mut(), f)?
                {
                    return Ok(false);
                }
                if !f(image.span(segment.0, segment.1))? {
                    return Ok(false);
                }
            }
            None => {
                pending = Some(match pending {
                    None => segment,
                    Some((a, b)) => (a.min(segment.0), b.max(segment.1)),
                })
            }
        }
    }
    match pending {
        Some(segment) => read_granules(store, space, snap, range, segment, reverse, keep, f),
        None => Ok(true),
    }
}

/// Reads the granules `granules` (of the range `[first, last]`) from the
/// store's chunks; with `keep`, each whole, and pushed there with the snaps
/// its image holds over. False where `f` asked to stop.
#[allow(clippy::too_many_arguments)]
fn read_granules(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    (first, last): (u64, u64),
    granules: (u64, u64),
    reverse: bool,
    mut keep: Option<&mut Fresh>,
    f: &mut dyn FnMut(ImageSpan<'_>) -> Result<bool>,
) -> Result<bool> {
    let gs = u64::from(GRANULE);
    let (side_lo, _) = side_of(snap);
    let mut image = GranuleImage::default();
    let mut go_on = true;
    let mut visit = |granule: u64, chunk: ChunkView<'_>, holds: &dyn Fn() -> Result<(Snap, Snap)>| {
        let place = chunk_place(space, granule, chunk.first_snap);
        // The edge granules of the range are resolved only where it covers them.
        let lo = if granule == first / gs {
            (first % gs) as usize
        } else {
            0
        };
        let hi = if granule == last / gs {
            (last % gs) as usize
        } else {
            gs as usize - 1
        };
        let whole = (lo, hi) == (0, gs as usize - 1);
        // A granule its latest delta wrote whole is handed out in place.
        let in_place = match whole {
            true => chunk.whole_known_at(snap, &place)?,
            false => None,
        };
        let span = match in_place {
            Some(values) => {
                static ALL: Mask = FULL_MASK;
                let all = std::slice::from_ref(&ALL);
                ImageSpan {
                    first: granule,
                    values,
                    valued: all,
                    known_now: all,
                }
            }
            None => {
                if whole {
                    chunk.fill_image(snap, &mut image, &place)?;
                } else {
                    chunk.fill_image_of(snap, &positions(lo, hi), &mut image, &place)?;
                }
                ImageSpan::of(granule, &image)
            }
        };
        go_on = f(span)?;
        if whole && let Some(keep) = &mut keep {
            keep.push(holds()?, span);
        }
        Ok(go_on)
    };
    // A cursor pays off over many granules; a few are read by seeks, which
    // never walk a hot granule's history.
    if granules.1 - granules.0 < SEEK_GRANULES {
        seek_latest_chunks(store, space, granules, (side_lo, snap), reverse, &mut visit)?;
    } else {
        store.for_each_latest_chunk(space, granules, (side_lo, snap), reverse, &mut visit)?;
    }
    Ok(go_on)
}

/// The mask of positions `lo..=hi` of a granule.
fn positions(lo: usize, hi: usize) -> Mask {
    let mut mask = [0u64; 4];
    for (w, word) in mask.iter_mut().enumerate() {
        let (a, b) = (lo.max(w * 64), hi.min(w * 64 + 63));
        if a <= b {
            *word = (u64::MAX >> (63 - (b - w * 64))) & (u64::MAX << (a - w * 64));
        }
    }
    mask
}

/// Ranges of fewer granules than this are read by seeks.
const SEEK_GRANULES: u64 = 4;

/// Fills `image` with positions `lo..=hi` of `granule` of `space` as of
/// `snap` (its other positions are left incomplete): a point read, one
/// seek and a decode that stops once they are resolved, without the
/// spans and the image cache of a bulk read. False (and an empty image)
/// if the granule has no history there.
pub(crate) fn granule_positions(
    store: &dyn StoreRead,
    space: u32,
    granule: u64,
    snap: Snap,
    (lo, hi): (usize, usize),
    image: &mut GranuleImage,
) -> Result<bool> {
    let (side_lo, _) = side_of(snap);
    match store.chunk_at_or_before(space, granule, side_lo, snap)? {
        Some((first, chunk)) => {
            let place = chunk_place(space, granule, first);
            chunk
                .view(&place)?
                .fill_image_of(snap, &positions(lo, hi), image, &place)?;
            Ok(true)
        }
        None => {
            *image = GranuleImage::default();
            Ok(false)
        }
    }
}

/// Fills `image` with `granule` of `space` as of `snap`; false (and an empty
/// image) if the granule has no history there.
pub(crate) fn granule_image(
    store: &dyn StoreRead,
    space: u32,
    granule: u64,
    snap: Snap,
    image: &mut GranuleImage,
) -> Result<bool> {
    granule_positions(store, space, granule, snap, (0, GRANULE as usize - 1), image)
}
