//! Writes at addresses (M3, M5, M7): bytes observed, a failed read, and the
//! removal of what a snap recorded, each cut into per-granule edits.

use crate::store::chunk::{Edit, GRANULE, for_each_piece};
use crate::store::history::StoreRead;
use crate::store::writer::WriteStore;
use crate::vocab::error::{Error, Result};
use crate::vocab::types::{AddressRange, Snap};

/// Records `data` observed at `start` at `snap`; a write past `u64::MAX` is
/// truncated (M1). Returns the number of bytes written.
pub(crate) fn put_bytes(store: &mut WriteStore, space: u32, snap: Snap, start: u64, data: &[u8]) -> Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    let room = u128::from(u64::MAX - start) + 1;
    let written = (data.len() as u128).min(room) as usize;
    let last = start + (written as u64 - 1);
    for_each_piece(start, last, |granule, first, len| {
        let at = (granule * u64::from(GRANULE) + u64::from(first) - start) as usize;
        let edit = Edit::Put {
            first,
            data: data[at..at + len].to_vec(),
        };
        store.apply_edit(space, granule, snap, &edit)
    })?;
    Ok(written)
}

/// Records a failed read of `range` at `snap` (M5).
pub(crate) fn set_error(store: &mut WriteStore, space: u32, snap: Snap, range: AddressRange) -> Result<()> {
    for_each_piece(range.min(), range.max(), |granule, first, len| {
        let edit = Edit::Error {
            first,
            last: first + (len as u32 - 1),
        };
        store.apply_edit(space, granule, snap, &edit)
    })
}

/// Removes what `snap` recorded in `range` (M7), visiting only granules with
/// data.
pub(crate) fn remove(store: &mut WriteStore, space: u32, snap: Snap, range: AddressRange) -> Result<()> {
    let gs = u64::from(GRANULE);
    let (first_granule, last_granule) = (range.min() / gs, range.max() / gs);
    let mut next = first_granule;
    while let Some(granule) = store.next_granule(space, next, last_granule)? {
        let part = AddressRange::new(granule * gs, granule * gs + (gs - 1))?
            .intersect(&range)
            .ok_or_else(|| Error::corrupt("remove_bytes", "granule outside its range"))?;
        let edit = Edit::Remove {
            first: (part.min() % gs) as u32,
            last: (part.max() % gs) as u32,
        };
        store.apply_edit(space, granule, snap, &edit)?;
        match granule.checked_add(1) {
            Some(n) if n <= last_granule => next = n,
            _ => break,
        }
    }
    Ok(())
}
