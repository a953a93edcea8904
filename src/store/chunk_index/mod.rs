//! The chunk index: a read-only copy of the history chunks in a file of its
//! own beside the database (`<db>.chunk-index`), mapped into memory and
//! found through a per-granule directory, so that a read finds its chunk
//! with a hash probe and a search among the granule's few first snaps
//! instead of a descent of redb's B-tree through its page cache (about 340
//! against 1,670 ns on W2, BENCHMARKS.md). Written by hand because it is a
//! layout, not a library's job: a hash table and flat arrays.
//!
//! Beside the chunks it keeps stretch images: a stretch of 256 whole
//! granules (64 KiB), each with history, decoded as of a change after
//! which the stretch stays unchanged for a long while ([`stretches`]). A
//! bulk read at a snap one holds at copies it as it lies, without finding
//! and decoding 256 chunks: the parts of a memory image that a capture
//! loads once and never writes again read at the speed of memory.
//!
//! It is valid for exactly one state of the database: its header holds a
//! random stamp that the database's `meta` table holds too
//! ([`META_CHUNK_INDEX`]); every write transaction removes the stamp from
//! `meta`, so a read transaction uses the index only if its snapshot holds
//! the same stamp. The file's bytes are checked as they are read (every
//! offset and run against the file's length and the counts), and the chunks
//! in it are checked as the table's are, so a damaged index is an error
//! naming it, never a panic. An index of another version is not used
//! (`tracemem index` writes it again).
//!
//! The layout (all integers little-endian), FORMAT.md "The chunk index":
//!
//! ```text
//! header, 128 bytes: magic b"tmchunks", version u32 = 2, reserved u32 = 0,
//!   stamp [u8; 16], granules u64, chunks u64, data_len u64, slots u64,
//!   stretch images u64, zeros
//! data: the chunks' stored values (data_len bytes), in any order (the
//!   writer's: by space, stretch of 256 granules, first snap, granule),
//!   then zeros to a multiple of 8
//! granules × 24 bytes: space u32, 0 u32, granule u64, first chunk u64
//!   (ascending (space, granule); a granule's chunks run to the next's first)
//! chunks × 8 bytes: each chunk's first snap, i64
//! chunks × 16 bytes: each chunk's place in data, offset u64 and length u64
//! slots × 4 bytes: a hash table of the granules, u32 entry + 1 (0 empty),
//!   linear probing from `slot_of(space, granule)`
//! zeros to a multiple of 64
//! stretch images × 32 bytes: space u32, 0 u32, stretch u64 (its first
//!   granule / 256), since i64, till i64: the snaps it holds over
//!   (ascending (space, stretch, since), not overlapping)
//! stretch images × 81,920 bytes, in the same order: the values of its
//!   256 granules (65,536 bytes, zero where none), then per granule the
//!   mask valued (4 × u64; bit i of word w: position 64 w + i), then per
//!   granule the mask known_now
//! ```

mod check;
mod read;
pub(crate) mod stretches;
mod write;

use std::path::{Path, PathBuf};

use redb::ReadableTable;

use crate::vocab::error::{Error, Result, StorageContext};

pub(crate) use read::{ChunkIndex, GranuleRun};
pub(crate) use write::{ChunkIndexReport, write_chunk_index};

/// The `meta` key holding the stamp of the chunk index the database's
/// current state matches (absent: none does).
pub(crate) const META_CHUNK_INDEX: &str = "chunk_index";

/// The index file's magic.
const MAGIC: &[u8; 8] = b"tmchunks";
/// The index file's format version (version 1, without stretch images,
/// is not read).
const VERSION: u32 = 2;
/// Bytes of the header.
const HEADER: usize = 128;
/// Bytes of a granule entry.
const ENTRY: usize = 24;
/// Bytes of a chunk's place in the data: offset u64, length u64.
const PLACE: usize = 16;
/// Granules of a stretch: the writer keeps a stretch's chunks together in
/// the data, ordered by first snap (a bulk read at one snap finds them close
/// together), and a stretch image holds them all.
const STRETCH_GRANULES: u64 = 256;

/// The path of the chunk index of the database at `db`: `<db>.chunk-index`
/// beside it (see [`Database::write_chunk_index`](crate::Database::write_chunk_index)).
pub fn index_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".chunk-index");
    PathBuf::from(name)
}

/// The first hash slot of a granule in a table of `mask + 1` slots.
fn slot_of(space: u32, granule: u64, mask: u64) -> u64 {
    let h = (granule ^ (u64::from(space) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 29) & mask
}

/// The counts an index's header holds.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    granules: u64,
    chunks: u64,
    data_len: u64,
    slots: u64,
    stretch_images: u64,
}

/// Where the sections of an index of these counts lie, and its length.
#[derive(Clone, Copy, Debug)]
struct Sections {
    granules: usize,
    chunks: usize,
    data_len: usize,
    slots: usize,
    stretch_images: usize,
    entries_at: usize,
    snaps_at: usize,
    places_at: usize,
    slots_at: usize,
    stretch_marks_at: usize,
    stretch_images_at: usize,
    len: usize,
}

impl Sections {
    fn of(counts: Counts) -> Option<Sections> {
        let size = |n: u64| usize::try_from(n).ok();
        let (granules, chunks, data_len) = (size(counts.granules)?, size(counts.chunks)?, size(counts.data_len)?);
        let (slots, stretch_images) = (size(counts.slots)?, size(counts.stretch_images)?);
        let entries_at = HEADER.checked_add(data_len)?.checked_next_multiple_of(8)?;
        let snaps_at = entries_at.checked_add(granules.checked_mul(ENTRY)?)?;
        let places_at = snaps_at.checked_add(chunks.checked_mul(8)?)?;
        let slots_at = places_at.checked_add(chunks.checked_mul(PLACE)?)?;
        let stretch_marks_at = slots_at
            .checked_add(slots.checked_mul(4)?)?
            .checked_next_multiple_of(64)?;
        let stretch_images_at = stretch_marks_at.checked_add(stretch_images.checked_mul(stretches::MARK)?)?;
        let len = stretch_images_at.checked_add(stretch_images.checked_mul(stretches::IMAGE)?)?;
        Some(Sections {
            granules,
            chunks,
            data_len,
            slots,
            stretch_images,
            entries_at,
            snaps_at,
            places_at,
            slots_at,
            stretch_marks_at,
            stretch_images_at,
            len,
        })
    }
}

/// A little-endian integer at `at` of `bytes` (the caller checked the bounds
/// against the sections; a short slice reads as zeros, never panics).
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
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
