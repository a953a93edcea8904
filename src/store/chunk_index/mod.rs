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
//! header, 128 bytes: magic b"tmchunks", version u32 = 3, reserved u32 = 0,
//!   stamp [u8; 16], granules u64, chunks u64, data_len u64, slots u64,
//!   stretch images u64, zeros
//! data: the chunks' stored values (data_len bytes), in any order (the
//!   writer's: by space, stretch of 256 granules, first snap, granule),
//!   then zeros to a multiple of 8
//! granules × 24 bytes: space u32, 0 u32, granule u64, first chunk u64
//!   (ascending (space, granule); a granule's chunks run to the next's first)
//! chunks × 16 bytes: each chunk's first snap i64, then its place in data
//!   u64: offset in the low 40 bits, length in the high 24
//! slots × 4 bytes: a hash table of the granules, u32 entry + 1 (0 empty),
//!   linear probing from `slot_of(space, granule)`
//! zeros to a multiple of 64
//! stretch images × 32 bytes: space u32, flags u32 (bit 0: whole, every
//!   position KNOWN, so its masks are all full and reads skip them),
//!   stretch u64 (its first granule / 256), since i64, till i64: the snaps
//!   it holds over (ascending (space, stretch, since), not overlapping)
//! stretch images × 81,920 bytes, in the same order: the values of its
//!   256 granules (65,536 bytes, zero where none), then per granule the
//!   mask valued (4 × u64; bit i of word w: position 64 w + i), then per
//!   granule the mask known_now
//! ```

mod check;
mod layout;
mod read;
mod stretches;
mod write;

pub use layout::index_path;
pub(crate) use layout::{META_CHUNK_INDEX, stamp_in};
pub(crate) use read::{ChunkIndex, GranuleRun};
pub(crate) use write::{ChunkIndexReport, write_chunk_index};
