//! Reads of bytes as of a snap (M4): bulk reads through granule images, and
//! reads that report each byte's source snap.

use crate::store::bulk::{for_each_image_span, granule_positions};
use crate::store::chunk::{FULL_MASK, GRANULE, GranuleImage, Need, mask_has, masks_full};
use crate::store::history::{StoreRead, read_range};
use crate::vocab::error::Result;
use crate::vocab::types::{AddressRange, FilledRange, Snap};

/// The range `[start, start + len - 1]` of a query, refused if it would run
/// past the end of the address space; `None` for no bytes.
pub(crate) fn query_range(start: u64, len: usize) -> Result<Option<AddressRange>> {
    if len == 0 {
        return Ok(None);
    }
    AddressRange::from_start_len(start, len as u64).map(Some)
}

/// The first address of `granule`, and the first and last of its positions
/// inside `range`.
pub(crate) fn granule_overlap(granule: u64, range: AddressRange) -> (u64, usize, usize) {
    let base = granule * u64::from(GRANULE);
    let lo = base.max(range.min());
    let hi = (base + u64::from(GRANULE - 1)).min(range.max());
    (base, (lo - base) as usize, (hi - base) as usize)
}

/// Fills `buf` with the bytes at `start` of `space` as of `snap` (M2, M4);
/// bytes never observed are left untouched. Returns how many were filled.
pub(crate) fn get_bytes(store: &dyn StoreRead, space: u32, snap: Snap, start: u64, buf: &mut [u8]) -> Result<usize> {
    let Some(range) = query_range(start, buf.len())? else {
        return Ok(0);
    };
    let gs = u64::from(GRANULE);
    if range.min() / gs == range.max() / gs {
        return get_granule_bytes(store, space, snap, range, buf);
    }
    let mut filled = 0;
    for_each_image_span(store, space, snap, (range.min(), range.max()), false, &mut |span| {
        let gs = u64::from(GRANULE);
        let (span_lo, span_hi) = (span.first * gs, (span.first + span.len() as u64 - 1) * gs + (gs - 1));
        let (lo, hi) = (span_lo.max(range.min()), span_hi.min(range.max()));
        if masks_full(span.valued) {
            buf[(lo - start) as usize..=(hi - start) as usize]
                .copy_from_slice(&span.values[(lo - span_lo) as usize..=(hi - span_lo) as usize]);
            filled += (hi - lo + 1) as usize;
            return Ok(true);
        }
        for (i, valued) in span.valued.iter().enumerate() {
            let (base, p0, p1) = granule_overlap(span.first + i as u64, range);
            let out = &mut buf[(base + p0 as u64 - start) as usize..=(base + p1 as u64 - start) as usize];
            let values = span.values_of(i);
            if *valued == FULL_MASK {
                out.copy_from_slice(&values[p0..=p1]);
                filled += p1 - p0 + 1;
            } else {
                for p in p0..=p1 {
                    if mask_has(valued, p) {
                        out[p - p0] = values[p];
                        filled += 1;
                    }
                }
            }
        }
        Ok(true)
    })?;
    Ok(filled)
}

/// [`get_bytes`] of a range within one granule: a point read.
fn get_granule_bytes(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    range: AddressRange,
    buf: &mut [u8],
) -> Result<usize> {
    let gs = u64::from(GRANULE);
    let (lo, hi) = ((range.min() % gs) as usize, (range.max() % gs) as usize);
    let mut image = GranuleImage::default();
    if !granule_positions(store, space, range.min() / gs, snap, (lo, hi), &mut image)? {
        return Ok(0);
    }
    let mut filled = 0;
    for (out, p) in buf.iter_mut().zip(lo..=hi) {
        if mask_has(&image.valued, p) {
            *out = image.values[p];
            filled += 1;
        }
    }
    Ok(filled)
}

/// As [`get_bytes`], and returns each maximal filled run with the snap its
/// bytes came from.
pub(crate) fn get_bytes_with_sources(
    store: &dyn StoreRead,
    space: u32,
    snap: Snap,
    start: u64,
    buf: &mut [u8],
) -> Result<Vec<FilledRange>> {
    let mut runs: Vec<FilledRange> = Vec::new();
    let Some(range) = query_range(start, buf.len())? else {
        return Ok(runs);
    };
    read_range(
        store,
        space,
        snap,
        range.min(),
        range.len() as u64,
        Need::KNOWN,
        &mut |addr, bytes| {
            let at = (addr - start) as usize;
            for (i, byte) in bytes.iter().enumerate() {
                let Some(source) = byte.known else { continue };
                buf[at + i] = byte.value;
                let a = addr + i as u64;
                match runs.last_mut() {
                    Some(run) if run.snap == source && run.range.max().checked_add(1) == Some(a) => {
                        run.range = AddressRange::new(run.range.min(), a)?;
                    }
                    _ => runs.push(FilledRange {
                        range: AddressRange::new(a, a)?,
                        snap: source,
                    }),
                }
            }
            Ok(())
        },
    )?;
    Ok(runs)
}
