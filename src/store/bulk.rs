//! Bulk reads: many granules of a space as of one snap, decoded into flat
//! [`GranuleImage`]s through one cursor over the chunk keys. Large
//! `get_bytes`, `find_bytes` and `diff` read through here; point reads with
//! per-byte source snaps go through [`super::history::read_range`].

use crate::error::Result;
use crate::store::chunk::{ChunkView, GRANULE, GranuleImage, Mask};
use crate::store::history::{StoreRead, chunk_place, seek_latest_chunks};
use crate::types::{Snap, side_of};

/// Calls `f(granule, image)` with the image as of `snap` of every granule
/// of `space` that overlaps `[first, last]` and has a history, ascending (or
/// descending if `reverse`), while `f` returns true. Granules without any
/// chunk at or before `snap` on its side of the timeline are skipped.
pub(crate) fn for_each_granule_image(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    (first, last): (u64, u64),
    reverse: bool,
    f: &mut dyn FnMut(u64, &GranuleImage) -> Result<bool>,
) -> Result<()> {
    let gs = u64::from(GRANULE);
    let (side_lo, _) = side_of(snap);
    let mut image = GranuleImage::default();
    let granules = (first / gs, last / gs);
    let mut visit = |granule: u64, chunk: ChunkView<'_>| -> Result<bool> {
        let place = chunk_place(space, granule, chunk.first_snap);
        // The edge granules of the range are resolved only where it covers them.
        let lo = if granule == granules.0 {
            (first % gs) as usize
        } else {
            0
        };
        let hi = if granule == granules.1 {
            (last % gs) as usize
        } else {
            gs as usize - 1
        };
        if (lo, hi) == (0, gs as usize - 1) {
            chunk.fill_image(snap, &mut image, &place)?;
        } else {
            chunk.fill_image_of(snap, &positions(lo, hi), &mut image, &place)?;
        }
        f(granule, &image)
    };
    // A cursor pays off over many granules; a few are read by seeks, which
    // never walk a hot granule's history.
    if granules.1 - granules.0 < SEEK_GRANULES {
        seek_latest_chunks(store, space, granules, (side_lo, snap), reverse, &mut visit)
    } else {
        store.for_each_latest_chunk(space, granules, (side_lo, snap), reverse, &mut visit)
    }
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

/// Fills `image` with `granule` of `space` as of `snap`; false (and an empty
/// image) if the granule has no history there.
pub(crate) fn granule_image(
    store: &dyn StoreRead,
    space: u32,
    granule: u64,
    snap: Snap,
    image: &mut GranuleImage,
) -> Result<bool> {
    let (side_lo, _) = side_of(snap);
    match store.chunk_at_or_before(space, granule, side_lo, snap)? {
        Some((first, chunk)) => {
            let place = chunk_place(space, granule, first);
            chunk.view(&place)?.fill_image(snap, image, &place)?;
            Ok(true)
        }
        None => {
            *image = GranuleImage::default();
            Ok(false)
        }
    }
}
