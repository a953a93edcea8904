//! Granule images: a granule's values and masks as of one snap, as bulk
//! reads and searches take them, and spans of consecutive images.

use crate::vocab::error::{Error, Result};
use crate::vocab::types::Snap;

use super::checkpoint::*;
use super::granule::*;
use super::view::*;

/// One granule as of a snap, decoded for bulk reads (large `get_bytes`,
/// `find_bytes`, `diff`): values in a flat array and per-position bit masks,
/// without the per-byte source snaps that [`ChunkView::resolve`] finds.
#[derive(Clone)]
pub(crate) struct GranuleImage {
    /// The most recent KNOWN value of each position (where `valued`).
    pub values: [u8; GRANULE as usize],
    /// Positions with a KNOWN value at or before the snap.
    pub valued: Mask,
    /// Positions with any record (KNOWN or ERROR) at or before the snap.
    pub recorded: Mask,
    /// Positions whose most recent record is KNOWN.
    pub known_now: Mask,
}

/// Consecutive granules as of one snap, as bulk reads hand them out: the
/// values of all of them in one flat slice, and each one's masks (see
/// [`GranuleImage`]).
#[derive(Clone, Copy)]
pub(crate) struct ImageSpan<'a> {
    /// The first granule.
    pub first: u64,
    /// `GRANULE` values a granule.
    pub values: &'a [u8],
    pub valued: &'a [Mask],
    pub known_now: &'a [Mask],
}

impl<'a> ImageSpan<'a> {
    /// One granule.
    pub fn of(granule: u64, image: &'a GranuleImage) -> ImageSpan<'a> {
        ImageSpan {
            first: granule,
            values: &image.values,
            valued: std::slice::from_ref(&image.valued),
            known_now: std::slice::from_ref(&image.known_now),
        }
    }

    /// How many granules it holds.
    pub fn len(&self) -> usize {
        self.known_now.len()
    }

    /// The values of its `i`-th granule.
    pub fn values_of(&self, i: usize) -> &'a [u8] {
        &self.values[i * GRANULE as usize..(i + 1) * GRANULE as usize]
    }
}

/// Granules of a stretch: the consecutive granules a [`StretchImage`] holds
/// (64 KiB), from a multiple of this many.
pub(crate) const STRETCH_GRANULES: u64 = 256;

/// The masks of a stretch whose every position is KNOWN: a whole stretch
/// image hands these out instead of its own ([`masks_full`] knows them).
pub(crate) static FULL_STRETCH_MASKS: [Mask; STRETCH_GRANULES as usize] = [FULL_MASK; STRETCH_GRANULES as usize];

/// Whether every mask of `masks` is full: at once for (part of)
/// [`FULL_STRETCH_MASKS`], else mask by mask.
pub(crate) fn masks_full(masks: &[Mask]) -> bool {
    let (full, these) = (FULL_STRETCH_MASKS.as_ptr_range(), masks.as_ptr_range());
    (full.start <= these.start && these.end <= full.end) || masks.iter().all(|m| *m == FULL_MASK)
}

/// Consecutive whole granules as of one snap, as a chunk index stores them
/// (a stretch image): their values in place, their masks decoded.
pub(crate) struct StretchImage<'a> {
    /// Its first granule.
    pub first: u64,
    /// `GRANULE` values a granule.
    pub values: &'a [u8],
    pub valued: std::borrow::Cow<'a, [Mask]>,
    pub known_now: std::borrow::Cow<'a, [Mask]>,
}

impl StretchImage<'_> {
    /// Its granules `a..=b` (which it holds) as a span.
    pub fn span(&self, a: u64, b: u64) -> ImageSpan<'_> {
        let (i, j) = ((a - self.first) as usize, (b - self.first) as usize);
        ImageSpan {
            first: a,
            values: &self.values[i * GRANULE as usize..(j + 1) * GRANULE as usize],
            valued: &self.valued[i..=j],
            known_now: &self.known_now[i..=j],
        }
    }
}

impl Default for GranuleImage {
    fn default() -> GranuleImage {
        GranuleImage {
            values: [0; GRANULE as usize],
            valued: [0; 4],
            recorded: [0; 4],
            known_now: [0; 4],
        }
    }
}

impl GranuleImage {
    pub(super) fn clear(&mut self) {
        self.valued = [0; 4];
        self.recorded = [0; 4];
        self.known_now = [0; 4];
    }
}

impl ChunkView<'_> {
    /// Decodes the granule as of `snap` (within the chunk's span) into `image`:
    /// the deltas at or before `snap`, newest first, then the checkpoint, a
    /// word of 64 positions at a time where it can.
    pub fn fill_image(&self, snap: Snap, image: &mut GranuleImage, place: &dyn Fn() -> String) -> Result<()> {
        self.fill_image_of(snap, &FULL_MASK, image, place)
    }

    /// [`ChunkView::fill_image`] for the positions in `want` only: it stops
    /// as soon as they are resolved, and the image's other positions are
    /// left incomplete.
    pub fn fill_image_of(
        &self,
        snap: Snap,
        want: &Mask,
        image: &mut GranuleImage,
        place: &dyn Fn() -> String,
    ) -> Result<()> {
        image.clear();
        // The positions still wanted, as one span (none: done): deltas
        // outside it are passed by a look at their ends (a point read walks
        // many).
        let span_of = |image: &GranuleImage| {
            let mut span: Option<(u32, u32)> = None;
            for (w, wanted) in want.iter().enumerate() {
                let open = wanted & !(image.valued[w] & image.recorded[w]);
                if open != 0 {
                    let (lo, hi) = (
                        w as u32 * 64 + open.trailing_zeros(),
                        w as u32 * 64 + 63 - open.leading_zeros(),
                    );
                    span = Some(span.map_or((lo, hi), |(a, _)| (a, hi)));
                }
            }
            span
        };
        let mut i = self.deltas_through(snap);
        let mut open = span_of(image);
        // Each step goes back to the latest earlier delta that touches the
        // positions still open, past those that do not.
        while i > 0
            && let Some((first, last)) = open
        {
            let Some(latest) = self.latest_delta_touching(i, first, last) else {
                break;
            };
            i = latest;
            let delta = self.delta(i, place)?;
            for run in delta.runs() {
                let (first, last) = (run.first as usize, run.last as usize);
                for w in first / 64..=last / 64 {
                    let (lo, hi) = (first.max(w * 64) - w * 64, last.min(w * 64 + 63) - w * 64);
                    let in_run = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
                    let newly_recorded = in_run & !image.recorded[w];
                    image.recorded[w] |= newly_recorded;
                    let Some(data) = run.data else { continue };
                    image.known_now[w] |= newly_recorded;
                    let to_value = in_run & !image.valued[w];
                    image.valued[w] |= to_value;
                    if to_value == in_run {
                        let (a, b) = (w * 64 + lo, w * 64 + hi);
                        image.values[a..=b].copy_from_slice(&data[a - first..=b - first]);
                    } else {
                        let mut bits = to_value;
                        while bits != 0 {
                            let pos = w * 64 + bits.trailing_zeros() as usize;
                            image.values[pos] = data[pos - first];
                            bits &= bits - 1;
                        }
                    }
                }
            }
            open = span_of(image);
        }
        let cp = &self.checkpoint;
        if open.is_none() || cp.known.is_empty() && cp.error.is_empty() {
            return Ok(());
        }
        let known = bitmap_mask(cp.known, place, "known")?;
        let error = bitmap_mask(cp.error, place, "error")?;
        let count: u32 = known.iter().map(|w| w.count_ones()).sum();
        if cp.values.len() != count as usize {
            return Err(Error::corrupt(
                place(),
                "checkpoint values do not match its known bitmap",
            ));
        }
        // The checkpoint gives the wanted positions still open; a value's
        // place among the checkpoint's is the rank of its position.
        let mut rank = 0usize;
        for w in 0..4 {
            let (k, v) = (known[w], image.valued[w]);
            let (k_wanted, e_wanted) = (k & want[w], error[w] & want[w]);
            if k_wanted == u64::MAX && v == 0 {
                image.values[w * 64..w * 64 + 64].copy_from_slice(&cp.values[rank..rank + 64]);
            } else {
                let mut bits = k_wanted & !v;
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    let below = k & ((1u64 << b) - 1);
                    image.values[w * 64 + b] = cp.values[rank + below.count_ones() as usize];
                    bits &= bits - 1;
                }
            }
            rank += k.count_ones() as usize;
            let unrecorded = !image.recorded[w];
            image.known_now[w] |= k_wanted & !e_wanted & unrecorded;
            image.recorded[w] |= (k_wanted | e_wanted) & unrecorded;
            image.valued[w] |= k_wanted;
        }
        Ok(())
    }
}
