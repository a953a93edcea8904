//! A memory-mapped, preallocated ring journal that makes appended events
//! survive a `kill -9` of the writing process without an `fsync` per event.
//!
//! # Why this works
//!
//! The journal file (`<db>.journal`) is preallocated and mapped `MAP_SHARED`.
//! [`Journal::append`] copies a record into the mapping: once the store
//! instructions have executed, the bytes live in the kernel's page cache, which
//! the kernel writes back even if the process dies. So when `append` returns,
//! the record survives the death of the process (kill -9, panic, abort). It does
//! **not** survive a power loss or kernel crash until [`Journal::sync`]
//! (`msync(MS_SYNC)`) has returned.
//!
//! A background step folds batches of journaled records into the database,
//! stores there the sequence number it has folded through (durably), then calls
//! [`Journal::folded`]; the journal may then reuse the space of those records.
//! On [`Journal::open`] every intact record with a sequence number above the
//! database's mark is returned for replay.
//!
//! # On-disk layout (format version 1, all integers little-endian)
//!
//! The first [`HEADER_SIZE`] (4096) bytes are the header block; records live
//! in the *record area* `[4096, capacity)`.
//!
//! Static header, bytes `0..64` (written once, when the file is initialised):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8  | magic `b"TMJOURNL"` ([`MAGIC`]) |
//! | 8  | 4  | format version, u32 = 1 ([`FORMAT_VERSION`]) |
//! | 12 | 4  | header size = record area start, u32 = 4096 |
//! | 16 | 8  | capacity (= file size in use), u64, a multiple of 8 |
//! | 24 | 4  | salt, u32: random per initialisation, seeds every record and slot CRC |
//! | 28 | 32 | reserved, zero |
//! | 60 | 4  | CRC-32C of bytes `0..60` |
//!
//! Two *tail slots*, at offsets 512 and 1024 (separate disk sectors), 32 bytes each:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | generation, u64 (≥ 1) |
//! | 8  | 8 | `tail_off`: file offset where the oldest unfolded record (or a wrap marker preceding it) is |
//! | 16 | 8 | `tail_seq`: sequence number of that record (the next seq if nothing is unfolded) |
//! | 24 | 1 | sealed, u8 = 1; 0 while the slot is being rewritten |
//! | 25 | 3 | reserved, zero |
//! | 28 | 4 | CRC-32C, seeded with the salt, of bytes `0..28` |
//!
//! The valid slot (sealed, CRC matches, fields in range) with the higher
//! generation is current. Generation `g` is written to slot `g % 2`.
//!
//! Records, each starting at an 8-byte aligned offset inside the record area:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 4 | `len_word`, u32: payload length with bit 31 set ("committed"); `0xFFFF_FFFF` = wrap marker |
//! | 4  | 4 | CRC-32C, seeded with the salt, over `len_word`(4 bytes LE) ‖ `seq`(8 bytes LE) ‖ payload |
//! | 8  | 8 | `seq`, u64 |
//! | 16 | len | payload, then zero to seven padding bytes (not covered by the CRC) |
//!
//! The first eight bytes (`len_word` ‖ `crc`) form the *commit word*. A wrap
//! marker is a 16-byte record header with `len_word = 0xFFFF_FFFF`, the
//! sequence number of the record that follows it at the start of the record
//! area, and the CRC of `len_word ‖ seq` with an empty payload. A position with
//! fewer than 16 bytes left before the end of the file is an implicit wrap.
//! The largest payload is the record area size minus 16 (and below 2³¹ − 1).
//!
//! # Ring policy
//!
//! Records are appended contiguously at `head`. The unfolded records occupy
//! the circular range `[tail, head)`. When a record does not fit before the end
//! of the file, a wrap marker is written at `head` and the record goes to the
//! start of the record area, but only if it fits there before `tail` (space
//! already folded). Otherwise [`Journal::append`] returns
//! [`JournalError::Full`]; the caller folds, calls [`Journal::folded`] and
//! retries. When nothing is unfolded and the record does not fit at `head`,
//! the journal instead moves `tail` (and `head`) to the start of the record
//! area with a slot update ("relocation"), so any record up to the maximum
//! payload fits into an empty journal. Fullness is decided by
//! sequence numbers (`tail_seq == next_seq` means empty), never by comparing
//! offsets alone. The ring never overwrites an unfolded record.
//!
//! # Writing protocol
//!
//! A record is written as: (1) zero its commit word, whose byte 3 holds the
//! committed bit; (2) copy `seq` and the payload; (3) store the commit word
//! except byte 3; (4) store byte 3. Release fences between the steps keep
//! the compiler and the CPU from reordering them. The record becomes valid
//! with the single-byte store (4), so no partial state can carry the
//! committed bit without a complete body and commit word. A wrap marker is
//! written the same way. A slot is rewritten likewise: sealed := 0, the other
//! fields and the CRC, sealed := 1. [`Journal::folded`] writes the
//! *other* slot than the current one, so the current slot stays intact while
//! the new one is being written; the in-memory tail, and thus the permission
//! to overwrite records before the new tail, changes only after the slot write
//! completed.
//!
//! # Recovery
//!
//! [`Journal::open`] and [`Journal::read_only`] read the current slot and
//! scan from `(tail_off, tail_seq)`: a record is accepted iff its committed bit
//! is set, it fits before the end of the file, its `seq` is exactly the
//! expected one (`tail_seq`, then +1 per record), its CRC matches and the run
//! so far does not exceed the record area; a valid wrap marker carrying the
//! expected seq sends the scan to the start of the record area. The scan stops
//! at the first position that fails. Records with `seq <= folded_through` are
//! checked but not returned.
//!
//! Why this is correct if the writer is killed at any instruction: a kill
//! leaves exactly the stores that were executed before it (the page cache is
//! shared; the fences keep the compiler and CPU from reordering the commit word
//! before the body). Hence:
//! * a record whose byte 3 is not yet stored has the committed bit clear
//!   (step (1) zeroed it) or, if killed before step (1), the stale commit
//!   word *and* stale `seq` of whatever was there before — an older record of
//!   this file, whose seq is lower than the expected one, or bytes written
//!   under another salt, whose CRC does not match; either way the scan stops
//!   there, which is exactly the end of the acknowledged records;
//! * stale records left in recycled space always carry lower sequence numbers
//!   (sequence numbers only grow, and re-initialisation changes the salt), so
//!   they can never extend the chain;
//! * a slot torn mid-write is not sealed and is ignored; the
//!   other slot is the previous, complete one, and the records it points to
//!   have not been overwritten because space is only reused after the new slot
//!   was fully written;
//! * a kill after a wrap marker but before the record behind it leaves a marker
//!   followed by a torn or stale record; the scan stops there and the next
//!   append simply overwrites the marker.
//!
//! The one probabilistic case: when the position after the last record holds
//! stale bytes from the middle of an older payload (same salt) that happen to
//! carry the committed bit, exactly the expected sequence number and a
//! matching CRC (odds 2⁻³² once the other two coincide; a payload deliberately
//! containing a fake record header with a future sequence number could do it).
//! Checking payloads for that is the caller's business.
//!
//! # Sequence numbers
//!
//! Sequence numbers start at 1 and grow by exactly one per record, across
//! recycling and reopen. After reopen the next one is one past the last intact
//! record, or `folded_through + 1` if that is larger (then the tail slot is
//! moved so the scan expects the new number).
//!
//! # Capacity, preallocation, initialisation
//!
//! The capacity must be a multiple of 8 and at least [`MIN_CAPACITY`]. The
//! file is preallocated with `fallocate(2)` (never sparse), so a full disk is
//! reported at open as [`JournalError::NoSpace`] instead of a `SIGBUS` when a
//! page is first touched; if the filesystem does not support `fallocate`
//! (`EOPNOTSUPP`), zeros are written instead (only over space that holds no
//! journal data). Every writable open re-runs `fallocate` over the whole file,
//! which is a no-op for an intact file and fills any holes.
//!
//! A new file is initialised in place: everything but the magic is written and
//! synced, then the magic. A file whose magic is all zero (or that is empty)
//! is *uninitialised* and is (re)initialised by [`Journal::open`]; for
//! [`Journal::read_only`] it holds no records.
//!
//! An existing journal keeps the capacity stored in its header, unless it holds
//! no unfolded records at open (and its next seq is `folded_through + 1`):
//! then it is re-initialised at the requested capacity (grown or shrunk),
//! keeping the sequence numbering. So a new capacity takes effect at the first
//! open after everything was folded; until then [`Journal::capacity`] reports
//! the capacity in use.
//!
//! # Concurrency
//!
//! One writer per file: [`Journal::open`] takes an exclusive `flock`, and a
//! second writable open (in any process) fails with [`JournalError::Locked`]
//! (after retrying for about half a second, because a child forked by another
//! thread briefly shares the lock until it calls `exec`).
//! [`Journal::read_only`] takes no lock and reads with `pread`; while a writer
//! is active it returns a consistent prefix of the chain (a record being
//! written or recycled concurrently ends the scan). Other programs must not
//! truncate or rewrite the file while it is mapped.
//!
//! # Power loss
//!
//! Without [`Journal::sync`], a power loss may lose or reorder any unsynced
//! page; recovery then still never panics and returns a CRC-checked,
//! gap-free run, but may miss records or return records of an earlier run.

pub(crate) mod entry;
mod error;
mod file;
mod layout;
mod recovery;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};

pub use error::JournalError;
pub(crate) use file::random_u64;
pub use layout::MIN_CAPACITY;
pub use writer::Journal;

/// How many recorders may record into one database at once: each has a
/// journal of its own, in a slot `0..MAX_JOURNALS`.
pub const MAX_JOURNALS: u32 = 16;

/// The journal file of the database at `db`: `<db>.journal` (the journal of
/// slot 0, the only one while one recorder records).
pub fn journal_path(db: &Path) -> PathBuf {
    journal_slot_path(db, 0)
}

/// The journal file of slot `slot` of the database at `db`: `<db>.journal`
/// for slot 0, `<db>.journal.<slot>` for the others (recorders that record
/// beside another, in the same process).
pub fn journal_slot_path(db: &Path, slot: u32) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".journal");
    if slot > 0 {
        name.push(format!(".{slot}"));
    }
    PathBuf::from(name)
}

/// The journal files beside the database at `db`, with their slots, in slot
/// order.
pub fn journal_files(db: &Path) -> Vec<(u32, PathBuf)> {
    (0..MAX_JOURNALS)
        .map(|slot| (slot, journal_slot_path(db, slot)))
        .filter(|(_, path)| path.exists())
        .collect()
}
