//! Stretch images: which stretches of a chunk index get an image at which
//! snaps, the images made from the chunks table, and their bytes.
//!
//! A stretch (256 consecutive granules of a space, 64 KiB) gets images
//! only once every one of its granules has history on the timeline (snaps
//! `>= 0`), and then at each change of any of its granules after which it
//! stays unchanged for at least a sixteenth of its history (so at most
//! sixteen of those), and at its last change (holding to the end of the
//! timeline). The image of a memory image loaded once and never written
//! again holds at every snap; a stretch written all the time gets one
//! image, at its last change. So the images cost at most seventeen times
//! the stretch's bytes, and usually one.

use std::borrow::Cow;

use redb::ReadableTable;

use super::layout::{
    STRETCH_GRANULES, STRETCH_IMAGE as IMAGE, STRETCH_MARK as MARK, STRETCH_VALUES as VALUES, u32_at, u64_at,
};
use crate::store::chunk::{
    ChunkRecord, ChunkView, FULL_STRETCH_MASKS, GRANULE, GranuleImage, Mask, StretchImage, mask_has,
};
use crate::store::history::chunk_place;
use crate::store::schema::ChunkKey;
use crate::vocab::error::{Error, Result, StorageContext};
use crate::vocab::types::Snap;

/// A change gets an image if the stretch then stays unchanged for this
/// part of its history or more.
const QUIET_PARTS: i64 = 16;

/// One stretch image: the snaps `[since, till]` it holds over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StretchMark {
    pub space: u32,
    /// Every position of the image KNOWN (its masks all full): reads skip
    /// its masks (flag bit 0 in the index).
    pub whole: bool,
    /// The stretch's first granule / [`STRETCH_GRANULES`].
    pub stretch: u64,
    pub since: Snap,
    pub till: Snap,
}

/// The flag bit of a mark whose image is [`StretchMark::whole`].
const WHOLE: u32 = 1;

impl StretchMark {
    /// Its bytes in the index.
    pub fn to_bytes(self) -> [u8; MARK] {
        let mut out = [0u8; MARK];
        out[..4].copy_from_slice(&self.space.to_le_bytes());
        out[4..8].copy_from_slice(&(if self.whole { WHOLE } else { 0 }).to_le_bytes());
        out[8..16].copy_from_slice(&self.stretch.to_le_bytes());
        out[16..24].copy_from_slice(&self.since.to_le_bytes());
        out[24..].copy_from_slice(&self.till.to_le_bytes());
        out
    }

    /// The mark in `bytes` (`MARK` of them).
    pub fn of_bytes(bytes: &[u8]) -> StretchMark {
        StretchMark {
            space: u64_at(bytes, 0) as u32,
            whole: u32_at(bytes, 4) & WHOLE != 0,
            stretch: u64_at(bytes, 8),
            since: u64_at(bytes, 16) as i64,
            till: u64_at(bytes, 24) as i64,
        }
    }
}

/// The changes of one stretch, gathered from its chunks in key order.
struct Gathering {
    space: u32,
    stretch: u64,
    granules: u64,
    last_granule: Option<u64>,
    /// The first snap at which every granule so far has history.
    whole_from: Snap,
    changes: Vec<Snap>,
}

impl Gathering {
    fn chunk(&mut self, granule: u64, view: &ChunkView<'_>) {
        if self.last_granule != Some(granule) {
            self.last_granule = Some(granule);
            self.granules += 1;
            // A granule's first chunk on the timeline comes first.
            self.whole_from = self.whole_from.max(view.first_snap);
        }
        self.changes.push(view.first_snap);
        self.changes
            .extend((0..view.delta_count()).map(|i| view.delta_snap(i)).filter(|&s| s >= 0));
    }

    /// Its images, pushed to `marks`.
    fn finish(mut self, marks: &mut Vec<StretchMark>) {
        if self.granules < STRETCH_GRANULES {
            return;
        }
        self.changes.retain(|&s| s >= self.whole_from);
        self.changes.sort_unstable();
        self.changes.dedup();
        let (Some(&first), Some(&last)) = (self.changes.first(), self.changes.last()) else {
            return;
        };
        let quiet = ((last - first) / QUIET_PARTS).max(1);
        let mark = |since, till| StretchMark {
            space: self.space,
            whole: false,
            stretch: self.stretch,
            since,
            till,
        };
        for pair in self.changes.windows(2) {
            if pair[1] - pair[0] >= quiet {
                marks.push(mark(pair[0], pair[1] - 1));
            }
        }
        marks.push(mark(last, Snap::MAX));
    }
}

/// The stretch images the chunks in `chunks` get, ascending (each
/// [`StretchMark::whole`] false until its image is made: [`make`]).
pub(super) fn select(chunks: &impl ReadableTable<ChunkKey, &'static [u8]>) -> Result<Vec<StretchMark>> {
    let mut marks = Vec::new();
    let mut gathering: Option<Gathering> = None;
    for entry in chunks.iter().context("choosing stretch images")? {
        let (key, value) = entry.context("choosing stretch images")?;
        let (space, granule, first) = key.value();
        if first < 0 {
            continue;
        }
        let stretch = granule / STRETCH_GRANULES;
        let current = match gathering.take() {
            Some(g) if (g.space, g.stretch) == (space, stretch) => g,
            other => {
                if let Some(done) = other {
                    done.finish(&mut marks);
                }
                Gathering {
                    space,
                    stretch,
                    granules: 0,
                    last_granule: None,
                    whole_from: 0,
                    changes: Vec::new(),
                }
            }
        };
        let current = gathering.insert(current);
        let place = chunk_place(space, granule, first);
        let record = ChunkRecord::from_stored_at(value.value(), first, &place)?;
        current.chunk(granule, &record.view());
    }
    if let Some(done) = gathering {
        done.finish(&mut marks);
    }
    Ok(marks)
}

/// The image `mark` names, made from the chunks in `chunks`, and the mark
/// as the index stores it ([`StretchMark::whole`] found in the image).
pub(super) fn make(
    chunks: &impl ReadableTable<ChunkKey, &'static [u8]>,
    mark: StretchMark,
) -> Result<(StretchMark, Vec<u8>)> {
    let mut out = vec![0u8; IMAGE];
    let mut image = GranuleImage::default();
    for k in 0..STRETCH_GRANULES as usize {
        let granule = mark.stretch * STRETCH_GRANULES + k as u64;
        let key = |snap| (mark.space, granule, snap);
        let mut range = chunks
            .range(key(0)..=key(mark.since))
            .context("making a stretch image")?;
        let Some(entry) = range.next_back() else {
            return Err(Error::corrupt(
                crate::store::schema::CHUNKS_TABLE,
                format!(
                    "granule {granule:#x} of space {} has no history at snap {}",
                    mark.space, mark.since
                ),
            ));
        };
        let (key, value) = entry.context("making a stretch image")?;
        let (_, _, first) = key.value();
        let place = chunk_place(mark.space, granule, first);
        let record = ChunkRecord::from_stored_at(value.value(), first, &place)?;
        record.view().fill_image(mark.since, &mut image, &place)?;
        let values = &mut out[k * GRANULE as usize..(k + 1) * GRANULE as usize];
        for (pos, (out, &value)) in values.iter_mut().zip(&image.values).enumerate() {
            if mask_has(&image.valued, pos) {
                *out = value;
            }
        }
        for (m, mask) in [image.valued, image.known_now].iter().enumerate() {
            let at = VALUES + m * STRETCH_GRANULES as usize * 32 + k * 32;
            for (w, word) in mask.iter().enumerate() {
                out[at + w * 8..at + w * 8 + 8].copy_from_slice(&word.to_le_bytes());
            }
        }
    }
    let mark = StretchMark {
        whole: is_whole(&out),
        ..mark
    };
    Ok((mark, out))
}

/// Whether every position of the image in `image` (`IMAGE` bytes, as
/// [`make`] makes it) is KNOWN: its masks valued and known_now all full.
fn is_whole(image: &[u8]) -> bool {
    image[VALUES..].iter().all(|&b| b == 0xff)
}

/// The image in `bytes` (`IMAGE` of them) that `mark` names; a whole one's
/// masks are not read (they are all full).
pub(super) fn decode(bytes: &[u8], mark: StretchMark) -> StretchImage<'_> {
    let masks = |m: usize| match mark.whole {
        true => Cow::Borrowed(&FULL_STRETCH_MASKS[..]),
        false => {
            let at = VALUES + m * STRETCH_GRANULES as usize * 32;
            masks_in(&bytes[at..at + STRETCH_GRANULES as usize * 32])
        }
    };
    StretchImage {
        first: mark.stretch * STRETCH_GRANULES,
        values: &bytes[..VALUES],
        valued: masks(0),
        known_now: masks(1),
    }
}

/// The masks in `bytes` (four little-endian u64 each): in place where the
/// host is little-endian and they are aligned (the index aligns them),
/// else decoded.
fn masks_in(bytes: &[u8]) -> Cow<'_, [Mask]> {
    #[cfg(target_endian = "little")]
    if let Ok(masks) = bytemuck::try_cast_slice::<u8, Mask>(bytes) {
        return Cow::Borrowed(masks);
    }
    Cow::Owned(
        bytes
            .chunks_exact(32)
            .map(|mask| [0, 1, 2, 3].map(|w| u64_at(mask, w * 8)))
            .collect(),
    )
}
