//! Granule-history chunks: the record of one granule's history over a range
//! of snaps, and everything that reads or edits one.
//!
//! Histories are kept per *granule* of 256 bytes (the smallest block size),
//! whatever the database's block size, so that a checkpoint stays small and
//! a read touches one small chunk. A chunk of granule `g` starting at
//! `first_snap` holds a *checkpoint* (per byte: the most recent KNOWN value
//! with its snap, and the most recent record with its snap, as of
//! `first_snap - 1` on the same side of the timeline) followed by *deltas*:
//! the records made at each snap of the chunk, in snap order. A read at snap
//! `s` walks the deltas at or before `s` backwards and falls back to the
//! checkpoint, so its cost is bounded by the chunk's size, never by the
//! length of the granule's history.
//!
//! The record is an rkyv archive whose fields are byte columns in an explicit
//! little-endian layout (see FORMAT.md); rkyv is built with `little_endian`,
//! `unaligned` and `pointer_width_32`, so the envelope is fixed too.

pub(crate) mod checkpoint;
pub(crate) mod granule;
pub(crate) mod image;
pub(crate) mod record;
#[cfg(test)]
mod tests;
pub(crate) mod view;

pub(crate) use granule::*;
pub(crate) use image::*;
pub(crate) use record::*;
pub(crate) use view::*;
