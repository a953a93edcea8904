//! The chunk index's layout: its constants, where its sections lie for the
//! counts of a header, the hash of a granule, little-endian reads, and the
//! stamp in `meta` that ties an index to one state (see the module above
//! for the whole layout).

use std::path::{Path, PathBuf};

use redb::ReadableTable;

use crate::store::chunk::GRANULE;
use crate::vocab::error::{Error, Result, StorageContext};

/// The `meta` key holding the stamp of the chunk index the database's
/// current state matches (absent: none does).
pub(crate) const META_CHUNK_INDEX: &str = "chunk_index";

/// The index file's magic.
pub(super) const MAGIC: &[u8; 8] = b"tmchunks";
/// The index file's format version (versions 1, without stretch images,
/// and 2, with each chunk's first snap and place in two arrays, are not
/// read).
pub(super) const VERSION: u32 = 3;
/// Bytes of the header.
pub(super) const HEADER: usize = 128;
/// Bytes of a granule entry.
pub(super) const ENTRY: usize = 24;
/// Bytes of a chunk's record: its first snap i64, then its place in the
/// data, u64: offset in the low [`OFFSET_BITS`] bits, length above. The
/// search among a granule's first snaps ends on the line that holds the
/// chunk's place, one memory miss less than a place of its own.
pub(super) const CHUNK: usize = 16;
/// Bits of a chunk's place that hold its offset in the data (up to 1 TiB);
/// the other 24 hold its length (up to 16 MiB).
const OFFSET_BITS: u32 = 40;
/// The largest chunk a place can hold (16 MiB - 1).
pub(super) const MAX_CHUNK_LEN: u64 = u64::MAX >> OFFSET_BITS;
/// The largest offset a place can hold (1 TiB - 1): the data's length.
pub(super) const MAX_DATA_LEN: u64 = (1 << OFFSET_BITS) - 1;

/// A chunk's place as its record stores it (`offset <= MAX_DATA_LEN`,
/// `len <= MAX_CHUNK_LEN`).
pub(super) fn place_bits(offset: u64, len: u64) -> u64 {
    offset | len << OFFSET_BITS
}

/// The offset and length of a chunk's place as its record stores it.
pub(super) fn place_of(bits: u64) -> (u64, u64) {
    (bits & MAX_DATA_LEN, bits >> OFFSET_BITS)
}
// Granules of a stretch: the writer keeps a stretch's chunks together in
// the data, ordered by first snap (a bulk read at one snap finds them close
// together), and a stretch image holds them all.
pub(super) use crate::store::chunk::STRETCH_GRANULES;
/// Bytes of a stretch's values.
pub(super) const STRETCH_VALUES: usize = STRETCH_GRANULES as usize * GRANULE as usize;
/// Bytes of a stretch image's mark: space u32, 0 u32, stretch u64, since
/// i64, till i64.
pub(super) const STRETCH_MARK: usize = 32;
/// Bytes of a stretch image: its values, then its granules' masks valued,
/// then known_now (four little-endian u64 each).
pub(super) const STRETCH_IMAGE: usize = STRETCH_VALUES + 2 * STRETCH_GRANULES as usize * 32;

/// The path of the chunk index of the database at `db`: `<db>.chunk-index`
/// beside it (see [`Database::write_chunk_index`](crate::Database::write_chunk_index)).
pub fn index_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".chunk-index");
    PathBuf::from(name)
}

/// The first hash slot of a granule in a table of `mask + 1` slots.
pub(super) fn slot_of(space: u32, granule: u64, mask: u64) -> u64 {
    let h = (granule ^ (u64::from(space) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 29) & mask
}

/// The counts an index's header holds.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counts {
    pub(super) granules: u64,
    pub(super) chunks: u64,
    pub(super) data_len: u64,
    pub(super) slots: u64,
    pub(super) stretch_images: u64,
}

/// Where the sections of an index of these counts lie, and its length.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sections {
    pub(super) granules: usize,
    pub(super) chunks: usize,
    pub(super) data_len: usize,
    pub(super) slots: usize,
    pub(super) stretch_images: usize,
    pub(super) entries_at: usize,
    pub(super) chunks_at: usize,
    pub(super) slots_at: usize,
    pub(super) stretch_marks_at: usize,
    pub(super) stretch_images_at: usize,
    pub(super) len: usize,
}

impl Sections {
    pub(super) fn of(counts: Counts) -> Option<Sections> {
        let size = |n: u64| usize::try_from(n).ok();
        let (granules, chunks, data_len) = (size(counts.granules)?, size(counts.chunks)?, size(counts.data_len)?);
        let (slots, stretch_images) = (size(counts.slots)?, size(counts.stretch_images)?);
        let entries_at = HEADER.checked_add(data_len)?.checked_next_multiple_of(8)?;
        let chunks_at = entries_at.checked_add(granules.checked_mul(ENTRY)?)?;
        let slots_at = chunks_at.checked_add(chunks.checked_mul(CHUNK)?)?;
        let stretch_marks_at = slots_at
            .checked_add(slots.checked_mul(4)?)?
            .checked_next_multiple_of(64)?;
        let stretch_images_at = stretch_marks_at.checked_add(stretch_images.checked_mul(STRETCH_MARK)?)?;
        let len = stretch_images_at.checked_add(stretch_images.checked_mul(STRETCH_IMAGE)?)?;
        Some(Sections {
            granules,
            chunks,
            data_len,
            slots,
            stretch_images,
            entries_at,
            chunks_at,
            slots_at,
            stretch_marks_at,
            stretch_images_at,
            len,
        })
    }
}

/// A little-endian integer at `at` of `bytes` (the caller checked the bounds
/// against the sections; a short slice reads as zeros, never panics).
pub(super) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

pub(super) fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The stamp of the chunk index `meta` says the state matches, if any.
pub(crate) fn stamp_in(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Option<[u8; 16]>> {
    match meta.get(META_CHUNK_INDEX).context("reading metadata")? {
        Some(value) => {
            let stamp: [u8; 16] = value.value().try_into().map_err(|_| {
                Error::corrupt(
                    "meta table",
                    format!("{META_CHUNK_INDEX}: {} bytes, expected 16", value.value().len()),
                )
            })?;
            Ok(Some(stamp))
        }
        None => Ok(None),
    }
}
