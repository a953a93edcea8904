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

#![deny(missing_docs)]

use std::fs::{File, OpenOptions, TryLockError};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};

use memmap2::{MmapMut, MmapOptions};

/// The magic bytes at the start of every journal file.
pub const MAGIC: [u8; 8] = *b"TMJOURNL";
/// The on-disk format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the header block; the record area starts here.
pub const HEADER_SIZE: u64 = 4096;
/// The smallest accepted capacity (header block plus a 4 KiB record area).
pub const MIN_CAPACITY: u64 = 2 * HEADER_SIZE;

const STATIC_LEN: usize = 64;
const STATIC_CRC_AT: usize = 60;
const SLOT_OFFSETS: [u64; 2] = [512, 1024];
const SLOT_LEN: usize = 32;
const SLOT_SEALED_AT: usize = 24;
const SEALED: u8 = 1;
const SLOT_CRC_AT: usize = 28;
const REC_HDR: u64 = 16;
const COMMITTED: u32 = 0x8000_0000;
const WRAP: u32 = 0xFFFF_FFFF;
const MAX_LEN_FIELD: u64 = 0x7FFF_FFFE;
// Read-only access (`Journal::read_only`) serves live readers, which come next.
#[allow(dead_code)]
const READ_WINDOW: usize = 1 << 20;
const ZERO_CHUNK: usize = 1 << 20;

/// Errors of the journal. Every variant names the journal file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A system call failed.
    #[error("journal {}: {op} failed: {source}", path.display())]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The filesystem has no room to preallocate the journal (ENOSPC/EDQUOT).
    #[error("journal {}: no space left to preallocate {bytes} bytes: {source}", path.display())]
    NoSpace {
        /// The journal file.
        path: PathBuf,
        /// How many bytes were being allocated.
        bytes: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another [`Journal`] (in this or another process) has the file open for writing.
    #[error("journal {}: already open for writing elsewhere (lock held)", path.display())]
    Locked {
        /// The journal file.
        path: PathBuf,
    },
    /// The requested capacity is not usable.
    #[error("journal {}: invalid capacity {capacity}: {reason}", path.display())]
    InvalidCapacity {
        /// The journal file.
        path: PathBuf,
        /// The requested capacity.
        capacity: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The file is shorter than the header block.
    #[error("journal {}: file is {len} bytes, shorter than its {needed}-byte header", path.display())]
    TruncatedHeader {
        /// The journal file.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// The header size.
        needed: u64,
    },
    /// The file does not start with [`MAGIC`].
    #[error("journal {}: bad magic {found:02x?}, not a tracemem journal", path.display())]
    BadMagic {
        /// The journal file.
        path: PathBuf,
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The file was written by a newer format version.
    #[error("journal {}: format version {found} is newer than supported version {supported}", path.display())]
    NewerVersion {
        /// The journal file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this code reads.
        supported: u32,
    },
    /// The static header's checksum does not match.
    #[error("journal {}: header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})", path.display())]
    HeaderChecksum {
        /// The journal file.
        path: PathBuf,
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum computed over the header.
        computed: u32,
    },
    /// The header is inconsistent (checksum fine, content impossible), or no tail slot is valid.
    #[error("journal {}: corrupt header: {reason}", path.display())]
    CorruptHeader {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file is shorter than the capacity recorded in its header.
    #[error("journal {}: file is {len} bytes but its header says capacity {capacity}", path.display())]
    FileTooShort {
        /// The journal file.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// The capacity in the header.
        capacity: u64,
    },
    /// No room for the record until more records are folded (see [`Journal::folded`]).
    #[error("journal {}: full: {needed} bytes needed, {free} bytes free (fold, call folded(), retry)", path.display())]
    Full {
        /// Bytes the record(s) need, headers and padding included.
        needed: u64,
        /// Bytes free in total (possibly fragmented).
        free: u64,
        /// The journal file.
        path: PathBuf,
    },
    /// The payload can never fit in this journal.
    #[error("journal {}: payload of {len} bytes exceeds the maximum of {max} bytes", path.display())]
    TooLarge {
        /// The journal file.
        path: PathBuf,
        /// The payload's length.
        len: u64,
        /// The largest payload this journal accepts.
        max: u64,
    },
    /// [`Journal::folded`] was called with a sequence number that was never appended.
    #[error("journal {}: folded({seq}) is past the last appended sequence number {last}", path.display())]
    FoldBeyondEnd {
        /// The journal file.
        path: PathBuf,
        /// The sequence number passed.
        seq: u64,
        /// The last appended sequence number.
        last: u64,
    },
    /// Sequence numbers (or slot generations) would overflow `u64`.
    #[error("journal {}: sequence numbers exhausted", path.display())]
    SeqExhausted {
        /// The journal file.
        path: PathBuf,
    },
    /// The record area changed under the writer (e.g. another program wrote to the file).
    #[error("journal {}: corrupt record area at offset {offset}: {reason}", path.display())]
    CorruptRecord {
        /// The journal file.
        path: PathBuf,
        /// File offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// One journaled record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number (1, 2, 3, … without gaps).
    pub seq: u64,
    /// The bytes passed to [`Journal::append`].
    pub payload: Vec<u8>,
}

/// A writable journal. See the module documentation for format and guarantees.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Holds the exclusive `flock` for as long as the journal is open.
    file: File,
    map: MmapMut,
    geo: Geometry,
    ring: Ring,
    slot_gen: u64,
}

/// Where the record area is, and the salt of this incarnation of the file.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    start: u64,
    end: u64,
    salt: u32,
}

impl Geometry {
    fn area(&self) -> u64 {
        self.end - self.start
    }

    /// Normalises a position: with fewer than 16 bytes left, the next record
    /// starts at the beginning of the area. Returns the position and the
    /// skipped gap.
    fn norm(&self, pos: u64) -> (u64, u64) {
        let left = self.end.saturating_sub(pos);
        if left < REC_HDR { (self.start, left) } else { (pos, 0) }
    }

    fn max_payload(&self) -> u64 {
        (self.area() - REC_HDR).min(MAX_LEN_FIELD)
    }
}

/// The in-memory ring state.
#[derive(Debug, Clone, Copy)]
struct Ring {
    /// Where the next record goes (normalised).
    head: u64,
    /// Where the oldest unfolded record, or the marker before it, is. Equals
    /// `head` when nothing is unfolded.
    tail: u64,
    /// Sequence number of the record at `tail`; `== next_seq` iff empty.
    tail_seq: u64,
    /// Sequence number of the next record.
    next_seq: u64,
}

/// Where one record will be written.
#[derive(Debug, Clone, Copy)]
struct Placement {
    pos: u64,
    seq: u64,
    /// A wrap marker to write first, at this offset.
    marker: Option<u64>,
    /// Move the tail slot to the area start first (only when empty).
    relocate: bool,
}

impl Ring {
    fn is_empty(&self) -> bool {
        self.tail_seq == self.next_seq
    }

    fn bytes_free(&self, geo: &Geometry) -> u64 {
        if self.is_empty() {
            geo.area()
        } else if self.head > self.tail {
            (geo.end - self.head) + (self.tail - geo.start)
        } else {
            self.tail - self.head
        }
    }

    /// Plans a record of `size` bytes (header and padding included, at most
    /// the area) and advances the state as if it had been written. The caller
    /// has checked that `next_seq + 1` does not overflow.
    fn place(&mut self, geo: &Geometry, size: u64) -> Option<Placement> {
        let (pos, marker, relocate) = if self.is_empty() {
            if self.head + size <= geo.end {
                (self.head, None, false)
            } else if geo.start + size <= geo.end {
                (geo.start, None, true)
            } else {
                return None;
            }
        } else if self.head > self.tail {
            if self.head + size <= geo.end {
                (self.head, None, false)
            } else if geo.start + size <= self.tail {
                (geo.start, Some(self.head), false)
            } else {
                return None;
            }
        } else if self.head + size <= self.tail {
            // head < tail; head == tail while non-empty means full.
            (self.head, None, false)
        } else {
            return None;
        };
        let seq = self.next_seq;
        if relocate {
            self.tail = geo.start;
        }
        self.head = geo.norm(pos + size).0;
        self.next_seq = seq.saturating_add(1);
        Some(Placement {
            pos,
            seq,
            marker,
            relocate,
        })
    }
}

/// Bytes a record with a payload of `len` bytes occupies.
fn record_size(len: u64) -> u64 {
    REC_HDR + ((len + 7) & !7)
}

fn record_crc(salt: u32, len_word: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[..4].copy_from_slice(&len_word.to_le_bytes());
    head[4..].copy_from_slice(&seq.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c_append(salt, &head), payload)
}

fn rd_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn rd_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// A fresh random salt (no unsafe code: std's per-process random hasher keys,
/// mixed with the time and the process id).
fn random_salt() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    h.write_u32(std::process::id());
    let v = h.finish();
    (v ^ (v >> 32)) as u32
}

fn check_capacity(path: &Path, capacity: u64) -> Result<(), JournalError> {
    let bad = |reason| {
        Err(JournalError::InvalidCapacity {
            path: path.to_path_buf(),
            capacity,
            reason,
        })
    };
    if capacity < MIN_CAPACITY {
        return bad("smaller than the minimum of 8192 bytes");
    }
    if !capacity.is_multiple_of(8) {
        return bad("not a multiple of 8");
    }
    if capacity > i64::MAX as u64 || usize::try_from(capacity).is_err() {
        return bad("too large to map");
    }
    Ok(())
}

/// How to fall back when `fallocate` is unsupported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Write zeros over the range (it holds no journal data).
    Zeros,
    /// The range holds journal data: leave it as it is.
    Keep,
}

/// Allocates `[off, off + len)` of `file` for real (extending the file if needed).
fn preallocate(file: &File, path: &Path, off: u64, len: u64, fill: Fill) -> Result<(), JournalError> {
    if len == 0 {
        return Ok(());
    }
    let (Ok(o), Ok(l)) = (libc::off_t::try_from(off), libc::off_t::try_from(len)) else {
        return Err(JournalError::InvalidCapacity {
            path: path.to_path_buf(),
            capacity: off.saturating_add(len),
            reason: "too large for off_t",
        });
    };
    loop {
        // SAFETY: `fallocate` only takes integers; the descriptor is owned by
        // `file`, which outlives this call. No memory is shared with the kernel.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, o, l) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                return Err(JournalError::NoSpace {
                    path: path.to_path_buf(),
                    bytes: len,
                    source: e,
                });
            }
            Some(libc::EOPNOTSUPP) => {
                return match fill {
                    Fill::Zeros => zero_fill(file, path, off, len),
                    Fill::Keep => Ok(()),
                };
            }
            _ => {
                return Err(JournalError::Io {
                    path: path.to_path_buf(),
                    op: "fallocate",
                    source: e,
                });
            }
        }
    }
}

/// Writes zeros over `[off, off + len)` (the fallback when `fallocate` is unsupported).
fn zero_fill(file: &File, path: &Path, off: u64, len: u64) -> Result<(), JournalError> {
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(ZERO_CHUNK as u64) as usize;
        let chunk = zeros.get(..n).unwrap_or(&zeros);
        if let Err(e) = file.write_all_at(chunk, off + done) {
            if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
                return Err(JournalError::NoSpace {
                    path: path.to_path_buf(),
                    bytes: len,
                    source: e,
                });
            }
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                op: "write zeros",
                source: e,
            });
        }
        done += n as u64;
    }
    file.sync_data().map_err(io_err(path, "fsync"))
}

/// Takes the exclusive writer lock (`flock`).
///
/// A child process forked by another thread of this program holds a copy of
/// every descriptor until it calls `exec`, which keeps a just-released lock
/// alive for a moment; so a busy lock is retried for about half a second
/// before [`JournalError::Locked`] is reported.
fn lock_exclusive(file: &File, path: &Path) -> Result<(), JournalError> {
    let mut wait_ms = 1;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if wait_ms <= 256 => {
                std::thread::sleep(std::time::Duration::from_millis(wait_ms));
                wait_ms *= 2;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(JournalError::Io {
                    path: path.to_path_buf(),
                    op: "flock",
                    source: e,
                });
            }
        }
    }
}

fn map_file(file: &File, path: &Path, capacity: u64) -> Result<MmapMut, JournalError> {
    let len = usize::try_from(capacity).map_err(|_| JournalError::InvalidCapacity {
        path: path.to_path_buf(),
        capacity,
        reason: "too large to map",
    })?;
    // SAFETY: memmap2 requires that the mapped file is not truncated or
    // modified by others while mapped. The file is `flock`ed exclusively by
    // this journal (no other tracemem writer); it has at least `capacity`
    // bytes, all allocated, so no access can fault. Other programs changing
    // the file is documented as unsupported.
    unsafe { MmapOptions::new().len(len).map_mut(file) }.map_err(io_err(path, "mmap"))
}

/// A decoded tail slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    generation: u64,
    tail_off: u64,
    tail_seq: u64,
}

fn encode_slot(salt: u32, slot: &Slot) -> [u8; SLOT_LEN] {
    let mut b = [0u8; SLOT_LEN];
    b[0..8].copy_from_slice(&slot.generation.to_le_bytes());
    b[8..16].copy_from_slice(&slot.tail_off.to_le_bytes());
    b[16..24].copy_from_slice(&slot.tail_seq.to_le_bytes());
    b[SLOT_SEALED_AT] = SEALED;
    let crc = crc32c::crc32c_append(salt, &b[..SLOT_CRC_AT]);
    b[SLOT_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_slot(salt: u32, b: &[u8], start: u64, end: u64) -> Option<Slot> {
    let b = b.get(..SLOT_LEN)?;
    let crc = crc32c::crc32c_append(salt, b.get(..SLOT_CRC_AT)?);
    if crc != rd_u32(b, SLOT_CRC_AT) {
        return None;
    }
    let slot = Slot {
        generation: rd_u64(b, 0),
        tail_off: rd_u64(b, 8),
        tail_seq: rd_u64(b, 16),
    };
    let sane = b.get(SLOT_SEALED_AT) == Some(&SEALED)
        && slot.generation != 0
        && slot.tail_seq != 0
        && slot.tail_off >= start
        && slot.tail_off < end
        && slot.tail_off.is_multiple_of(8);
    sane.then_some(slot)
}

/// The decoded header block.
#[derive(Debug, Clone, Copy)]
struct Header {
    capacity: u64,
    salt: u32,
    slot: Slot,
}

#[derive(Debug)]
enum HeaderState {
    /// Empty file, or zero magic: never (fully) initialised.
    Uninitialized,
    Valid(Header),
}

fn build_static(capacity: u64, salt: u32) -> [u8; STATIC_LEN] {
    let mut b = [0u8; STATIC_LEN];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    b[16..24].copy_from_slice(&capacity.to_le_bytes());
    b[24..28].copy_from_slice(&salt.to_le_bytes());
    let crc = crc32c::crc32c(&b[..STATIC_CRC_AT]);
    b[STATIC_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Parses the first `min(file_len, HEADER_SIZE)` bytes of a journal.
fn parse_header(path: &Path, buf: &[u8], file_len: u64) -> Result<HeaderState, JournalError> {
    let corrupt = |reason: String| JournalError::CorruptHeader {
        path: path.to_path_buf(),
        reason,
    };
    let Some(magic) = buf.get(..8) else {
        if buf.iter().all(|&b| b == 0) {
            return Ok(HeaderState::Uninitialized);
        }
        return Err(JournalError::TruncatedHeader {
            path: path.to_path_buf(),
            len: file_len,
            needed: HEADER_SIZE,
        });
    };
    if magic.iter().all(|&b| b == 0) {
        return Ok(HeaderState::Uninitialized);
    }
    if magic != MAGIC {
        let mut found = [0u8; 8];
        found.copy_from_slice(magic);
        return Err(JournalError::BadMagic {
            path: path.to_path_buf(),
            found,
        });
    }
    if (buf.len() as u64) < HEADER_SIZE {
        return Err(JournalError::TruncatedHeader {
            path: path.to_path_buf(),
            len: file_len,
            needed: HEADER_SIZE,
        });
    }
    let version = rd_u32(buf, 8);
    if version > FORMAT_VERSION {
        return Err(JournalError::NewerVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version != FORMAT_VERSION {
        return Err(corrupt(format!("unknown format version {version}")));
    }
    let stored = rd_u32(buf, STATIC_CRC_AT);
    let computed = crc32c::crc32c(buf.get(..STATIC_CRC_AT).unwrap_or_default());
    if stored != computed {
        return Err(JournalError::HeaderChecksum {
            path: path.to_path_buf(),
            stored,
            computed,
        });
    }
    let header_size = rd_u32(buf, 12);
    if u64::from(header_size) != HEADER_SIZE {
        return Err(corrupt(format!("header size {header_size}, expected {HEADER_SIZE}")));
    }
    let capacity = rd_u64(buf, 16);
    if capacity < MIN_CAPACITY
        || !capacity.is_multiple_of(8)
        || capacity > i64::MAX as u64
        || usize::try_from(capacity).is_err()
    {
        return Err(corrupt(format!("impossible capacity {capacity}")));
    }
    if file_len < capacity {
        return Err(JournalError::FileTooShort {
            path: path.to_path_buf(),
            len: file_len,
            capacity,
        });
    }
    let salt = rd_u32(buf, 24);
    let slot = SLOT_OFFSETS
        .iter()
        .filter_map(|&off| {
            let off = off as usize;
            decode_slot(salt, buf.get(off..off + SLOT_LEN)?, HEADER_SIZE, capacity)
        })
        .max_by_key(|s| s.generation)
        .ok_or_else(|| corrupt("no valid tail slot".to_string()))?;
    Ok(HeaderState::Valid(Header { capacity, salt, slot }))
}

fn read_header_bytes(file: &File, path: &Path, file_len: u64) -> Result<Vec<u8>, JournalError> {
    let mut buf = vec![0u8; file_len.min(HEADER_SIZE) as usize];
    file.read_exact_at(&mut buf, 0).map_err(io_err(path, "read header"))?;
    Ok(buf)
}

/// Random-access reads for the recovery scan.
trait Source {
    /// Calls `f` with the bytes `[off, off + len)`.
    fn with_bytes<R>(&mut self, off: u64, len: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R, JournalError>;
}

struct MapSource<'a> {
    bytes: &'a [u8],
    path: &'a Path,
}

impl Source for MapSource<'_> {
    fn with_bytes<R>(&mut self, off: u64, len: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R, JournalError> {
        let range = usize::try_from(off)
            .ok()
            .and_then(|o| Some(o..o.checked_add(usize::try_from(len).ok()?)?));
        match range.and_then(|r| self.bytes.get(r)) {
            Some(s) => Ok(f(s)),
            None => Err(JournalError::CorruptRecord {
                path: self.path.to_path_buf(),
                offset: off,
                reason: format!("read of {len} bytes outside the mapping"),
            }),
        }
    }
}

/// `pread`-based source with a read-ahead window (for read-only access).
#[allow(dead_code)]
struct FileSource<'a> {
    file: &'a File,
    path: &'a Path,
    limit: u64,
    win: Vec<u8>,
    win_off: u64,
}

impl Source for FileSource<'_> {
    fn with_bytes<R>(&mut self, off: u64, len: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R, JournalError> {
        let end = off
            .checked_add(len)
            .filter(|&e| e <= self.limit)
            .ok_or_else(|| JournalError::CorruptRecord {
                path: self.path.to_path_buf(),
                offset: off,
                reason: format!("read of {len} bytes past the end of the journal"),
            })?;
        let win_end = self.win_off + self.win.len() as u64;
        if off < self.win_off || end > win_end {
            if len > READ_WINDOW as u64 {
                let mut big = vec![0u8; len as usize];
                self.file
                    .read_exact_at(&mut big, off)
                    .map_err(io_err(self.path, "read"))?;
                return Ok(f(&big));
            }
            let n = (self.limit - off).min(READ_WINDOW as u64) as usize;
            self.win.resize(n, 0);
            self.win_off = off;
            if let Err(e) = self.file.read_exact_at(&mut self.win, off) {
                self.win.clear();
                return Err(JournalError::Io {
                    path: self.path.to_path_buf(),
                    op: "read",
                    source: e,
                });
            }
        }
        let s = (off - self.win_off) as usize;
        match self.win.get(s..s + len as usize) {
            Some(bytes) => Ok(f(bytes)),
            None => Err(JournalError::CorruptRecord {
                path: self.path.to_path_buf(),
                offset: off,
                reason: "read window inconsistent".to_string(),
            }),
        }
    }
}

/// Result of a recovery scan.
#[derive(Debug)]
struct Scan {
    records: Vec<Record>,
    /// Position just after the last intact record (normalised): the new head.
    head: u64,
    /// One past the last intact record's seq (or the start seq).
    next_seq: u64,
}

/// Reads the chain starting at `(start, start_seq)`. See "Recovery" in the module docs.
fn scan(
    src: &mut impl Source,
    geo: &Geometry,
    start: u64,
    start_seq: u64,
    folded_through: u64,
) -> Result<Scan, JournalError> {
    let area = geo.area();
    let mut pos = geo.norm(start).0;
    let mut head = pos;
    let mut expect = start_seq;
    let mut consumed = 0u64;
    let mut records = Vec::new();
    loop {
        let (len_word, crc, seq) = src.with_bytes(pos, REC_HDR, |h| (rd_u32(h, 0), rd_u32(h, 4), rd_u64(h, 8)))?;
        if seq != expect || seq == u64::MAX {
            break;
        }
        if len_word == WRAP {
            let gap = geo.end - pos;
            if pos == geo.start || crc != record_crc(geo.salt, WRAP, seq, &[]) || consumed + gap > area {
                break;
            }
            consumed += gap;
            pos = geo.start;
            continue;
        }
        if len_word & COMMITTED == 0 {
            break;
        }
        let len = u64::from(len_word & !COMMITTED);
        let size = record_size(len);
        if pos + size > geo.end || consumed + size > area {
            break;
        }
        let keep = seq > folded_through;
        let salt = geo.salt;
        let got = src.with_bytes(pos + REC_HDR, len, |p| {
            (record_crc(salt, len_word, seq, p) == crc).then(|| if keep { p.to_vec() } else { Vec::new() })
        })?;
        let Some(payload) = got else { break };
        if keep {
            records.push(Record { seq, payload });
        }
        let (next, gap) = geo.norm(pos + size);
        consumed += size + gap;
        pos = next;
        head = next;
        expect = seq + 1;
    }
    Ok(Scan {
        records,
        head,
        next_seq: expect,
    })
}

impl Journal {
    /// Opens `path`, creating and preallocating it to `capacity` bytes if
    /// missing (or uninitialised). Returns the journal and every intact record
    /// with a sequence number > `folded_through`, in order.
    ///
    /// `capacity` must be a multiple of 8 and at least [`MIN_CAPACITY`]. An
    /// existing journal keeps its stored capacity unless it holds no unfolded
    /// records (see the module docs). Records up to `folded_through` are
    /// marked folded, so their space can be reused.
    ///
    /// # Errors
    ///
    /// [`JournalError::InvalidCapacity`], [`JournalError::Locked`],
    /// [`JournalError::NoSpace`] when preallocation fails, the header errors
    /// ([`JournalError::BadMagic`], [`JournalError::NewerVersion`],
    /// [`JournalError::HeaderChecksum`], [`JournalError::TruncatedHeader`],
    /// [`JournalError::FileTooShort`], [`JournalError::CorruptHeader`]) and
    /// [`JournalError::Io`]. A damaged record area is not an error: the scan
    /// stops before the damage.
    pub fn open(path: &Path, capacity: u64, folded_through: u64) -> Result<(Journal, Vec<Record>), JournalError> {
        check_capacity(path, capacity)?;
        let first_seq = folded_through
            .checked_add(1)
            .ok_or_else(|| JournalError::SeqExhausted {
                path: path.to_path_buf(),
            })?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err(path, "open"))?;
        lock_exclusive(&file, path)?;
        let file_len = file.metadata().map_err(io_err(path, "stat"))?.len();
        let hdr = read_header_bytes(&file, path, file_len)?;
        let header = match parse_header(path, &hdr, file_len)? {
            HeaderState::Uninitialized => {
                let journal = Journal::initialize(path.to_path_buf(), file, capacity, first_seq)?;
                return Ok((journal, Vec::new()));
            }
            HeaderState::Valid(h) => h,
        };
        preallocate(&file, path, 0, header.capacity, Fill::Keep)?;
        let map = map_file(&file, path, header.capacity)?;
        let geo = Geometry {
            start: HEADER_SIZE,
            end: header.capacity,
            salt: header.salt,
        };
        let tail = geo.norm(header.slot.tail_off).0;
        let found = scan(
            &mut MapSource { bytes: &map, path },
            &geo,
            tail,
            header.slot.tail_seq,
            folded_through,
        )?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            map,
            geo,
            ring: Ring {
                head: found.head,
                tail,
                tail_seq: header.slot.tail_seq,
                next_seq: found.next_seq,
            },
            slot_gen: header.slot.generation,
        };
        if folded_through >= journal.ring.next_seq {
            // The database is ahead of the journal: restart the numbering there.
            let head = journal.ring.head;
            journal.write_slot(head, first_seq)?;
            journal.ring = Ring {
                head,
                tail: head,
                tail_seq: first_seq,
                next_seq: first_seq,
            };
        } else if folded_through >= journal.ring.tail_seq {
            journal.folded(folded_through)?;
        }
        if capacity != journal.geo.end && journal.ring.is_empty() && journal.ring.next_seq == first_seq {
            journal = journal.resize(capacity)?;
        }
        Ok((journal, found.records))
    }

    /// Opens read-only (for live readers and checkers): never writes, never
    /// truncates, takes no lock. Returns every intact record with a sequence
    /// number > `folded_through`, in order. An uninitialised file (empty, or
    /// zero magic) holds no records.
    ///
    /// # Errors
    ///
    /// The header errors of [`Journal::open`] and [`JournalError::Io`].
    #[allow(dead_code)]
    pub fn read_only(path: &Path, folded_through: u64) -> Result<Vec<Record>, JournalError> {
        let file = File::open(path).map_err(io_err(path, "open"))?;
        let file_len = file.metadata().map_err(io_err(path, "stat"))?.len();
        let hdr = read_header_bytes(&file, path, file_len)?;
        let header = match parse_header(path, &hdr, file_len)? {
            HeaderState::Uninitialized => return Ok(Vec::new()),
            HeaderState::Valid(h) => h,
        };
        let geo = Geometry {
            start: HEADER_SIZE,
            end: header.capacity,
            salt: header.salt,
        };
        let mut src = FileSource {
            file: &file,
            path,
            limit: header.capacity,
            win: Vec::new(),
            win_off: 0,
        };
        let found = scan(
            &mut src,
            &geo,
            header.slot.tail_off,
            header.slot.tail_seq,
            folded_through,
        )?;
        Ok(found.records)
    }

    /// Appends one record; returns its sequence number. When this returns, the
    /// record survives a kill -9 of the process (call [`Journal::sync`] for
    /// power-loss durability).
    ///
    /// Fails with [`JournalError::Full`] when the record does not fit in the
    /// space already folded (nothing is written then), and with
    /// [`JournalError::TooLarge`] when it can never fit.
    ///
    /// # Errors
    ///
    /// [`JournalError::Full`], [`JournalError::TooLarge`],
    /// [`JournalError::SeqExhausted`].
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, JournalError> {
        let size = self.size_for(payload)?;
        if self.ring.next_seq == u64::MAX {
            return Err(JournalError::SeqExhausted {
                path: self.path.clone(),
            });
        }
        let mut ring = self.ring;
        let Some(p) = ring.place(&self.geo, size) else {
            return Err(self.full(size));
        };
        self.execute(&p, payload)?;
        self.ring = ring;
        Ok(p.seq)
    }

    /// Appends several records at once (one copy each), returning the last
    /// sequence number (or [`Journal::last_seq`] for an empty batch).
    ///
    /// Either all records fit and are written, or [`JournalError::Full`] is
    /// returned and none is. Each record becomes kill-safe as it is written,
    /// so a kill during the call leaves a prefix of the batch.
    ///
    /// # Errors
    ///
    /// As [`Journal::append`]; on any error nothing was written.
    pub fn append_batch<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) -> Result<u64, JournalError> {
        let payloads: Vec<&[u8]> = payloads.into_iter().collect();
        if self.ring.next_seq.checked_add(payloads.len() as u64).is_none() {
            return Err(JournalError::SeqExhausted {
                path: self.path.clone(),
            });
        }
        let mut ring = self.ring;
        let mut plan = Vec::with_capacity(payloads.len());
        let mut needed = 0u64;
        let mut full = false;
        for payload in &payloads {
            let size = self.size_for(payload)?;
            needed = needed.saturating_add(size);
            match ring.place(&self.geo, size) {
                Some(p) if !full => plan.push(p),
                _ => full = true,
            }
        }
        if full {
            return Err(JournalError::Full {
                path: self.path.clone(),
                needed,
                free: self.bytes_free(),
            });
        }
        for (p, payload) in plan.iter().zip(&payloads) {
            self.execute(p, payload)?;
        }
        self.ring = ring;
        Ok(self.last_seq())
    }

    /// Tells the journal every record up to `seq` is now stored elsewhere
    /// durably; the space they use may be recycled. Folding a sequence number
    /// below the current fold mark is a no-op; one past [`Journal::last_seq`]
    /// is an error.
    ///
    /// # Errors
    ///
    /// [`JournalError::FoldBeyondEnd`]; [`JournalError::CorruptRecord`] if the
    /// mapped records were changed behind the journal's back.
    pub fn folded(&mut self, seq: u64) -> Result<(), JournalError> {
        let last = self.last_seq();
        if seq > last {
            return Err(JournalError::FoldBeyondEnd {
                path: self.path.clone(),
                seq,
                last,
            });
        }
        if seq < self.ring.tail_seq {
            return Ok(());
        }
        let (mut pos, mut s) = (self.ring.tail, self.ring.tail_seq);
        while s <= seq {
            let h = self.slice(pos, REC_HDR)?;
            let (len_word, hseq) = (rd_u32(h, 0), rd_u64(h, 8));
            let bad = |reason: String| JournalError::CorruptRecord {
                path: self.path.clone(),
                offset: pos,
                reason,
            };
            if hseq != s {
                return Err(bad(format!("expected record {s}, found seq {hseq}")));
            }
            if len_word == WRAP {
                if pos == self.geo.start {
                    return Err(bad("wrap marker at the start of the record area".to_string()));
                }
                pos = self.geo.start;
                continue;
            }
            if len_word & COMMITTED == 0 {
                return Err(bad(format!("record {s} is not committed")));
            }
            let size = record_size(u64::from(len_word & !COMMITTED));
            if pos + size > self.geo.end {
                return Err(bad(format!("record {s} runs past the end of the file")));
            }
            pos = self.geo.norm(pos + size).0;
            s += 1;
        }
        let tail = if s == self.ring.next_seq { self.ring.head } else { pos };
        self.write_slot(tail, s)?;
        self.ring.tail = tail;
        self.ring.tail_seq = s;
        Ok(())
    }

    /// Flushes the mapping to disk (`msync(MS_SYNC)`): everything appended so
    /// far, and the fold mark, then survive a power loss.
    ///
    /// # Errors
    ///
    /// [`JournalError::Io`] when `msync` fails (e.g. `EIO`).
    pub fn sync(&self) -> Result<(), JournalError> {
        self.map.flush().map_err(io_err(&self.path, "msync"))
    }

    /// The sequence number of the last appended (or recovered) record; 0 if none ever.
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.ring.next_seq - 1
    }

    /// Bytes not occupied by unfolded records (headers included; may be
    /// fragmented in two pieces, so a record of this size may still not fit).
    #[must_use]
    pub fn bytes_free(&self) -> u64 {
        self.ring.bytes_free(&self.geo)
    }

    /// The journal file's capacity in bytes (header block included).
    #[must_use]
    #[allow(dead_code)]
    pub fn capacity(&self) -> u64 {
        self.geo.end
    }

    /// The largest payload [`Journal::append`] accepts.
    #[must_use]
    #[allow(dead_code)]
    pub fn max_payload(&self) -> u64 {
        self.geo.max_payload()
    }

    /// Another handle on the journal file, to sync it from another thread
    /// (a sync of the file covers what was written through the mapping).
    pub fn sync_handle(&self) -> Result<File, JournalError> {
        self.file.try_clone().map_err(io_err(&self.path, "dup"))
    }

    /// The journal file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn size_for(&self, payload: &[u8]) -> Result<u64, JournalError> {
        let len = payload.len() as u64;
        let max = self.geo.max_payload();
        if len > max {
            return Err(JournalError::TooLarge {
                path: self.path.clone(),
                len,
                max,
            });
        }
        Ok(record_size(len))
    }

    fn full(&self, needed: u64) -> JournalError {
        JournalError::Full {
            path: self.path.clone(),
            needed,
            free: self.bytes_free(),
        }
    }

    fn execute(&mut self, p: &Placement, payload: &[u8]) -> Result<(), JournalError> {
        if p.relocate {
            self.write_slot(self.geo.start, p.seq)?;
        }
        if let Some(m) = p.marker {
            self.write_entry(m, WRAP, p.seq, &[])?;
        }
        // `size_for` bounded the length by MAX_LEN_FIELD < 2^31.
        let len_word = COMMITTED | (payload.len() as u32);
        self.write_entry(p.pos, len_word, p.seq, payload)
    }

    /// Writes a record (or a wrap marker) with the commit word stored last.
    fn write_entry(&mut self, pos: u64, len_word: u32, seq: u64, payload: &[u8]) -> Result<(), JournalError> {
        let crc = record_crc(self.geo.salt, len_word, seq, payload);
        let mut commit = [0u8; 8];
        commit[..4].copy_from_slice(&len_word.to_le_bytes());
        commit[4..].copy_from_slice(&crc.to_le_bytes());
        let body = self.slice_mut(pos, REC_HDR + payload.len() as u64)?;
        let (word, rest) = body.split_at_mut(8);
        // (1) Invalidate: byte 3 holds the committed bit.
        word.copy_from_slice(&[0u8; 8]);
        fence(Ordering::Release);
        // (2) The body.
        let (seq_bytes, data) = rest.split_at_mut(8);
        seq_bytes.copy_from_slice(&seq.to_le_bytes());
        data.copy_from_slice(payload);
        fence(Ordering::Release);
        // (3) The commit word but its byte 3, then (4) byte 3: one single-byte
        // store turns the record valid.
        let (low, high) = word.split_at_mut(3);
        low.copy_from_slice(&commit[..3]);
        if let Some((b3, rest_of_word)) = high.split_first_mut() {
            rest_of_word.copy_from_slice(&commit[4..]);
            fence(Ordering::Release);
            *b3 = commit[3];
        }
        Ok(())
    }

    /// Writes the next tail slot generation (into the slot not currently in use).
    fn write_slot(&mut self, tail_off: u64, tail_seq: u64) -> Result<(), JournalError> {
        let generation = self.slot_gen.checked_add(1).ok_or_else(|| JournalError::SeqExhausted {
            path: self.path.clone(),
        })?;
        let bytes = encode_slot(
            self.geo.salt,
            &Slot {
                generation,
                tail_off,
                tail_seq,
            },
        );
        let at = SLOT_OFFSETS[(generation % 2) as usize];
        let slot = self.slice_mut(at, SLOT_LEN as u64)?;
        // Unseal, write everything else, then seal with a single-byte store.
        slot[SLOT_SEALED_AT] = 0;
        fence(Ordering::Release);
        slot[..SLOT_SEALED_AT].copy_from_slice(&bytes[..SLOT_SEALED_AT]);
        slot[SLOT_SEALED_AT + 1..].copy_from_slice(&bytes[SLOT_SEALED_AT + 1..]);
        fence(Ordering::Release);
        slot[SLOT_SEALED_AT] = bytes[SLOT_SEALED_AT];
        self.slot_gen = generation;
        Ok(())
    }

    fn range(&self, off: u64, len: u64) -> Result<std::ops::Range<usize>, JournalError> {
        off.checked_add(len)
            .filter(|&e| e <= self.map.len() as u64)
            .map(|e| off as usize..e as usize)
            .ok_or_else(|| JournalError::CorruptRecord {
                path: self.path.clone(),
                offset: off,
                reason: format!("access of {len} bytes outside the mapping"),
            })
    }

    fn slice(&self, off: u64, len: u64) -> Result<&[u8], JournalError> {
        let r = self.range(off, len)?;
        Ok(&self.map[r])
    }

    fn slice_mut(&mut self, off: u64, len: u64) -> Result<&mut [u8], JournalError> {
        let r = self.range(off, len)?;
        Ok(&mut self.map[r])
    }

    /// Initialises `file` as an empty journal of `capacity` bytes whose next
    /// record gets `next_seq`. The magic is written last, so a kill before that
    /// leaves an uninitialised file that the next open initialises again.
    fn initialize(path: PathBuf, file: File, capacity: u64, next_seq: u64) -> Result<Journal, JournalError> {
        let len = file.metadata().map_err(io_err(&path, "stat"))?.len();
        if len > capacity {
            file.set_len(capacity).map_err(io_err(&path, "truncate"))?;
        }
        if let Err(e) = preallocate(&file, &path, 0, capacity, Fill::Zeros) {
            // Give back whatever was allocated; the empty file stays uninitialised.
            let _ = file.set_len(0);
            return Err(e);
        }
        let mut map = map_file(&file, &path, capacity)?;
        let salt = random_salt();
        let stat = build_static(capacity, salt);
        let slot = Slot {
            generation: 1,
            tail_off: HEADER_SIZE,
            tail_seq: next_seq,
        };
        let slot_bytes = encode_slot(salt, &slot);
        let mut page = vec![0u8; HEADER_SIZE as usize];
        page[8..STATIC_LEN].copy_from_slice(&stat[8..]);
        let at = SLOT_OFFSETS[1] as usize;
        page[at..at + SLOT_LEN].copy_from_slice(&slot_bytes);
        let header_len = HEADER_SIZE as usize;
        map[..header_len].copy_from_slice(&page);
        map.flush_range(0, header_len).map_err(io_err(&path, "msync"))?;
        file.sync_all().map_err(io_err(&path, "fsync"))?;
        fence(Ordering::Release);
        map[..8].copy_from_slice(&MAGIC);
        map.flush_range(0, header_len).map_err(io_err(&path, "msync"))?;
        Ok(Journal {
            path,
            file,
            map,
            geo: Geometry {
                start: HEADER_SIZE,
                end: capacity,
                salt,
            },
            ring: Ring {
                head: HEADER_SIZE,
                tail: HEADER_SIZE,
                tail_seq: next_seq,
                next_seq,
            },
            slot_gen: 1,
        })
    }

    /// Re-initialises an empty journal at a new capacity, keeping `next_seq`.
    fn resize(self, capacity: u64) -> Result<Journal, JournalError> {
        let Journal {
            path,
            file,
            mut map,
            geo,
            ring,
            ..
        } = self;
        if capacity > geo.end {
            // Allocate the extension first: the old header stays valid meanwhile.
            if let Err(e) = preallocate(&file, &path, geo.end, capacity - geo.end, Fill::Zeros) {
                let _ = file.set_len(geo.end);
                return Err(e);
            }
        }
        // From here on the file is "uninitialised" until the new magic is written.
        map[..8].copy_from_slice(&[0u8; 8]);
        map.flush_range(0, HEADER_SIZE as usize)
            .map_err(io_err(&path, "msync"))?;
        drop(map);
        Journal::initialize(path, file, capacity, ring.next_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    const CHILD_ENV: &str = "TRACEMEM_JOURNAL_KILL_CHILD";

    /// xorshift64* — deterministic, dependency-free randomness for tests.
    struct Rng(u64);
    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// Uniform-ish in `lo..=hi`.
        fn range(&mut self, lo: u64, hi: u64) -> u64 {
            lo + self.next() % (hi - lo + 1)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn time_seed() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7)
    }

    fn payload_for(seq: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| (seq as usize * 31 + i * 7) as u8).collect()
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    /// A fixed pseudo-random pool the kill-test payloads are cut from.
    fn pool() -> &'static [u8] {
        static POOL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        POOL.get_or_init(|| Rng::new(0x7261_6365).bytes(1 << 20))
    }

    /// A payload that proves its own integrity: `seq ‖ offset ‖ pool[offset..]`.
    /// Building it is one memcpy (so a kill lands inside the journal's copy
    /// more often than inside payload generation), and the checker compares
    /// every byte against the pool, which is stronger than a checksum.
    fn self_checking(seq: u64, rng: &mut Rng, len: usize) -> Vec<u8> {
        let body = len.saturating_sub(16);
        let off = rng.range(0, (pool().len() - body) as u64);
        let mut p = Vec::with_capacity(16 + body);
        p.extend_from_slice(&seq.to_le_bytes());
        p.extend_from_slice(&off.to_le_bytes());
        p.extend_from_slice(&pool()[off as usize..off as usize + body]);
        p
    }

    fn check_self(r: &Record) -> bool {
        let off = rd_u64(&r.payload, 8) as usize;
        r.payload.len() >= 16
            && rd_u64(&r.payload, 0) == r.seq
            && pool().get(off..off + r.payload.len() - 16) == Some(&r.payload[16..])
    }

    #[test]
    fn round_trip_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.journal");
        let (mut j, recs) = Journal::open(&path, 1 << 16, 0).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.last_seq(), 0);
        assert_eq!(j.capacity(), 1 << 16);
        assert_eq!(j.path(), path.as_path());
        for i in 1..=100u64 {
            assert_eq!(j.append(&payload_for(i, (i as usize * 13) % 97)).unwrap(), i);
        }
        let batch: Vec<Vec<u8>> = (101..=105).map(|i| payload_for(i, 5)).collect();
        assert_eq!(j.append_batch(batch.iter().map(|v| v.as_slice())).unwrap(), 105);
        assert_eq!(j.append_batch(std::iter::empty()).unwrap(), 105);
        drop(j);

        let (j, recs) = Journal::open(&path, 1 << 16, 0).unwrap();
        assert_eq!(seqs(&recs), (1..=105).collect::<Vec<_>>());
        for r in &recs {
            let len = if r.seq <= 100 { (r.seq as usize * 13) % 97 } else { 5 };
            assert_eq!(r.payload, payload_for(r.seq, len));
        }
        assert_eq!(j.last_seq(), 105);
        drop(j);

        assert_eq!(
            seqs(&Journal::read_only(&path, 40).unwrap()),
            (41..=105).collect::<Vec<_>>()
        );
        let (mut j, recs) = Journal::open(&path, 1 << 16, 40).unwrap();
        assert_eq!(seqs(&recs), (41..=105).collect::<Vec<_>>());
        assert_eq!(j.append(b"next").unwrap(), 106);
        j.sync().unwrap();
        drop(j);
        let (_j, recs) = Journal::open(&path, 1 << 16, 105).unwrap();
        assert_eq!(
            recs,
            vec![Record {
                seq: 106,
                payload: b"next".to_vec()
            }]
        );
    }

    #[test]
    fn folded_through_ahead_of_journal_restarts_numbering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
        for i in 1..=3 {
            j.append(&payload_for(i, 10)).unwrap();
        }
        drop(j);
        let (mut j, recs) = Journal::open(&path, 1 << 14, 50).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.last_seq(), 50);
        assert_eq!(j.append(b"x").unwrap(), 51);
        drop(j);
        let (j, recs) = Journal::open(&path, 1 << 14, 50).unwrap();
        assert_eq!(seqs(&recs), vec![51]);
        assert_eq!(j.last_seq(), 51);
        drop(j);
        // A fresh journal next to a database that already folded 1000 events.
        let fresh = dir.path().join("fresh");
        let (mut j, recs) = Journal::open(&fresh, 1 << 14, 1000).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.append(b"y").unwrap(), 1001);
    }

    #[test]
    fn folded_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
        j.folded(0).unwrap();
        assert!(matches!(
            j.folded(1),
            Err(JournalError::FoldBeyondEnd { seq: 1, last: 0, .. })
        ));
        for i in 1..=10 {
            j.append(&payload_for(i, 30)).unwrap();
        }
        let full = j.bytes_free();
        j.folded(4).unwrap();
        assert!(j.bytes_free() > full);
        j.folded(2).unwrap(); // below the mark: no-op
        drop(j);
        // The journal remembers its own fold mark even if the database's mark is older.
        assert_eq!(
            seqs(&Journal::read_only(&path, 0).unwrap()),
            (5..=10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn too_large_and_max_payload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
        assert_eq!(j.max_payload(), HEADER_SIZE - 16);
        let too_big = vec![1u8; j.max_payload() as usize + 1];
        assert!(matches!(j.append(&too_big), Err(JournalError::TooLarge { .. })));
        // Make head sit in the middle, fold everything, then a max-size record
        // still fits (the tail is relocated to the start of the area).
        j.append(&[7u8; 1000]).unwrap();
        assert!(matches!(
            j.append(&vec![2u8; j.max_payload() as usize]),
            Err(JournalError::Full { .. })
        ));
        j.folded(1).unwrap();
        let max = vec![3u8; j.max_payload() as usize];
        assert_eq!(j.append(&max).unwrap(), 2);
        assert_eq!(j.bytes_free(), 0);
        assert!(matches!(j.append(b""), Err(JournalError::Full { .. })));
        drop(j);
        let (_j, recs) = Journal::open(&path, MIN_CAPACITY, 1).unwrap();
        assert_eq!(recs, vec![Record { seq: 2, payload: max }]);
    }

    #[test]
    fn invalid_capacity_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        for cap in [0, 4096, MIN_CAPACITY + 4] {
            assert!(
                matches!(Journal::open(&path, cap, 0), Err(JournalError::InvalidCapacity { .. })),
                "{cap}"
            );
        }
        let (j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
        match Journal::open(&path, MIN_CAPACITY, 0) {
            Err(JournalError::Locked { path: p }) => assert_eq!(p, path),
            other => panic!("expected Locked, got {other:?}"),
        }
        // Readers are not locked out.
        assert!(Journal::read_only(&path, 0).unwrap().is_empty());
        drop(j);
        Journal::open(&path, MIN_CAPACITY, 0).unwrap();
    }

    /// Offset of the record that the next append will write (for corrupting it).
    fn next_pos(j: &Journal, size: u64) -> u64 {
        let mut ring = j.ring;
        ring.place(&j.geo, size).map(|p| p.pos).unwrap()
    }

    #[test]
    fn torn_tail_variants() {
        let dir = tempfile::tempdir().unwrap();
        let pristine = dir.path().join("pristine");
        let (mut j, _) = Journal::open(&pristine, 1 << 16, 0).unwrap();
        for i in 1..=9u64 {
            j.append(&payload_for(i, 40 + i as usize)).unwrap();
        }
        let last_len = 77usize;
        let pos = next_pos(&j, record_size(last_len as u64)) as usize;
        assert_eq!(j.append(&payload_for(10, last_len)).unwrap(), 10);
        drop(j);
        let good = std::fs::read(&pristine).unwrap();

        type Damage = fn(&mut [u8], usize, usize);
        let damages: Vec<(&str, Damage)> = vec![
            ("payload half copied", |f, p, n| f[p + 16 + n / 2..p + 16 + n].fill(0)),
            ("payload tail stale", |f, p, n| f[p + 16 + n - 3..p + 16 + n].fill(0xAA)),
            ("payload bit flip", |f, p, _| f[p + 20] ^= 0x10),
            ("commit word zeroed", |f, p, _| f[p..p + 8].fill(0)),
            ("header zeroed", |f, p, _| f[p..p + 16].fill(0)),
            ("crc bit flip", |f, p, _| f[p + 5] ^= 1),
            ("seq bit flip", |f, p, _| f[p + 8] ^= 4),
            ("len grown", |f, p, _| f[p] = f[p].wrapping_add(8)),
            ("len shrunk", |f, p, _| f[p] = f[p].wrapping_sub(1)),
            ("committed bit cleared", |f, p, _| f[p + 3] &= 0x7F),
            ("turned into wrap marker", |f, p, _| f[p..p + 4].fill(0xFF)),
        ];
        for (i, (name, damage)) in damages.into_iter().enumerate() {
            let path = dir.path().join(format!("torn{i}"));
            let mut bytes = good.clone();
            damage(&mut bytes, pos, last_len);
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(
                seqs(&Journal::read_only(&path, 0).unwrap()),
                (1..=9).collect::<Vec<_>>(),
                "{name}"
            );
            let (mut j, recs) = Journal::open(&path, 1 << 16, 0).unwrap();
            assert_eq!(seqs(&recs), (1..=9).collect::<Vec<_>>(), "{name}");
            for r in &recs {
                assert_eq!(r.payload, payload_for(r.seq, 40 + r.seq as usize), "{name}");
            }
            assert_eq!(j.last_seq(), 9, "{name}");
            assert_eq!(j.append(b"replacement").unwrap(), 10, "{name}");
            assert_eq!(j.append(b"more").unwrap(), 11, "{name}");
            drop(j);
            let (_j, recs) = Journal::open(&path, 1 << 16, 8).unwrap();
            assert_eq!(seqs(&recs), vec![9, 10, 11], "{name}");
            assert_eq!(recs[1].payload, b"replacement", "{name}");
        }
    }

    /// Simulates a kill after every single byte store of the write protocol,
    /// over the stale bytes of an older record at the same position: the new
    /// record is accepted only once its last store (byte 3) was made.
    #[test]
    fn kill_at_every_store_of_an_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
        let mut n = 0;
        while j.append(&payload_for(n + 1, 100)).is_ok() {
            n += 1;
        }
        j.folded(n - 1).unwrap(); // keep record n unfolded: no relocation below
        assert_eq!(j.append(&payload_for(n + 1, 100)).unwrap(), n + 1); // wraps to the start
        let pos = j.ring.head as usize;
        let before = std::fs::read(&path).unwrap();
        assert_eq!(
            rd_u64(&before, pos + 8),
            2,
            "stale record 2 sits where the next record goes"
        );
        assert_eq!(j.append(&payload_for(n + 2, 100)).unwrap(), n + 2);
        drop(j);
        let after = std::fs::read(&path).unwrap();

        // The stores of `write_entry`, in program order: (offset, value).
        let mut ops: Vec<(usize, u8)> = (pos..pos + 8).map(|i| (i, 0)).collect();
        ops.extend((pos + 8..pos + 16 + 100).map(|i| (i, after[i])));
        ops.extend([0, 1, 2, 4, 5, 6, 7, 3].map(|k| (pos + k, after[pos + k])));
        let diff: Vec<usize> = (0..after.len()).filter(|&i| before[i] != after[i]).collect();
        assert!(
            diff.iter().all(|i| (pos..pos + 116).contains(i)),
            "only the new record changed"
        );

        let sim = dir.path().join("sim");
        for k in 0..=ops.len() {
            let mut bytes = before.clone();
            for &(i, v) in &ops[..k] {
                bytes[i] = v;
            }
            std::fs::write(&sim, &bytes).unwrap();
            let got = Journal::read_only(&sim, n - 1).unwrap();
            let want = if k == ops.len() {
                vec![n, n + 1, n + 2]
            } else {
                vec![n, n + 1]
            };
            assert_eq!(seqs(&got), want, "killed after {k} of {} stores", ops.len());
            if k + 1 >= ops.len() {
                let (mut j, recs) = Journal::open(&sim, MIN_CAPACITY, n - 1).unwrap();
                assert_eq!(seqs(&recs), want);
                assert_eq!(j.append(b"then").unwrap(), want[want.len() - 1] + 1);
            }
        }
    }

    /// Simulates a kill after every single byte store of a tail-slot update.
    #[test]
    fn kill_at_every_store_of_a_slot_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
        for i in 1..=10 {
            j.append(&payload_for(i, 60)).unwrap();
        }
        j.folded(3).unwrap(); // generation 2, slot at 512
        let before = std::fs::read(&path).unwrap();
        j.folded(7).unwrap(); // generation 3, slot at 1024
        drop(j);
        let after = std::fs::read(&path).unwrap();
        let at = SLOT_OFFSETS[1] as usize;
        let diff: Vec<usize> = (0..after.len()).filter(|&i| before[i] != after[i]).collect();
        assert!(diff.iter().all(|i| (at..at + SLOT_LEN).contains(i)), "{diff:?}");

        let mut ops = vec![(at + SLOT_SEALED_AT, 0u8)];
        ops.extend(
            (0..SLOT_LEN)
                .filter(|&k| k != SLOT_SEALED_AT)
                .map(|k| (at + k, after[at + k])),
        );
        ops.push((at + SLOT_SEALED_AT, after[at + SLOT_SEALED_AT]));
        let sim = dir.path().join("sim");
        for k in 0..=ops.len() {
            let mut bytes = before.clone();
            for &(i, v) in &ops[..k] {
                bytes[i] = v;
            }
            std::fs::write(&sim, &bytes).unwrap();
            let want: Vec<u64> = if k == ops.len() {
                (8..=10).collect()
            } else {
                (4..=10).collect()
            };
            assert_eq!(
                seqs(&Journal::read_only(&sim, 0).unwrap()),
                want,
                "killed after {k} stores"
            );
        }
    }

    #[test]
    fn recycling_until_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
        let mut n = 0u64;
        loop {
            match j.append(&payload_for(n + 1, 100)) {
                Ok(s) => {
                    n += 1;
                    assert_eq!(s, n);
                }
                Err(JournalError::Full { needed, free, path: p }) => {
                    assert_eq!(needed, record_size(100));
                    assert!(free < needed);
                    assert_eq!(p, path);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(n >= 30, "only {n} records fit");
        j.folded(n).unwrap();
        assert_eq!(j.bytes_free(), HEADER_SIZE);
        for k in 1..=5 {
            assert_eq!(j.append(&payload_for(n + k, 100)).unwrap(), n + k);
        }
        drop(j);
        let (j, recs) = Journal::open(&path, MIN_CAPACITY, n).unwrap();
        assert_eq!(seqs(&recs), (n + 1..=n + 5).collect::<Vec<_>>());
        assert!(recs.iter().all(|r| r.payload == payload_for(r.seq, 100)));
        assert_eq!(j.last_seq(), n + 5);
        drop(j);
        // A reader that passes an old mark still never sees stale records.
        assert_eq!(
            seqs(&Journal::read_only(&path, 0).unwrap()),
            (n + 1..=n + 5).collect::<Vec<_>>()
        );
    }

    #[test]
    fn batch_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
        let big = vec![9u8; 1500];
        let r = j.append_batch([big.as_slice(), big.as_slice(), big.as_slice()]);
        assert!(matches!(r, Err(JournalError::Full { .. })), "{r:?}");
        assert_eq!(j.last_seq(), 0);
        assert_eq!(j.append_batch([big.as_slice(), big.as_slice()]).unwrap(), 2);
        drop(j);
        assert_eq!(seqs(&Journal::read_only(&path, 0).unwrap()), vec![1, 2]);
    }

    /// Random appends, batches, partial folds and reopens against a model.
    #[test]
    fn ring_model_randomized() {
        for round in 0..4u64 {
            let seed = time_seed() ^ round;
            let mut rng = Rng::new(seed);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("j");
            let cap = [MIN_CAPACITY, 12288, 20480, 65536][round as usize];
            let (mut j, _) = Journal::open(&path, cap, 0).unwrap();
            let mut model: std::collections::VecDeque<Record> = Default::default();
            let mut mark = 0u64; // the "database" fold mark
            let mut next = 1u64;
            for step in 0..3000 {
                let ctx = format!("seed {seed} cap {cap} step {step}");
                match rng.range(0, 99) {
                    0..=64 => {
                        let len = rng.range(0, 1200) as usize;
                        let p = rng.bytes(len);
                        match j.append(&p) {
                            Ok(s) => {
                                assert_eq!(s, next, "{ctx}");
                                model.push_back(Record { seq: s, payload: p });
                                next += 1;
                            }
                            Err(JournalError::Full { .. }) => {
                                assert!(!model.is_empty(), "{ctx}: full while empty");
                            }
                            Err(e) => panic!("{ctx}: {e}"),
                        }
                    }
                    65..=74 => {
                        let k = rng.range(1, 4) as usize;
                        let ps: Vec<Vec<u8>> = (0..k)
                            .map(|_| {
                                let len = rng.range(0, 400) as usize;
                                rng.bytes(len)
                            })
                            .collect();
                        match j.append_batch(ps.iter().map(|p| p.as_slice())) {
                            Ok(s) => {
                                assert_eq!(s, next + k as u64 - 1, "{ctx}");
                                for p in ps {
                                    model.push_back(Record { seq: next, payload: p });
                                    next += 1;
                                }
                            }
                            Err(JournalError::Full { .. }) => assert!(!model.is_empty(), "{ctx}"),
                            Err(e) => panic!("{ctx}: {e}"),
                        }
                    }
                    75..=92 => {
                        let upto = rng.range(mark, next - 1);
                        j.folded(upto).unwrap();
                        mark = mark.max(upto);
                        while model.front().is_some_and(|r| r.seq <= mark) {
                            model.pop_front();
                        }
                    }
                    93..=96 => {
                        drop(j);
                        let (nj, recs) = Journal::open(&path, cap, mark).unwrap();
                        j = nj;
                        assert_eq!(recs, model.iter().cloned().collect::<Vec<_>>(), "{ctx}");
                        assert_eq!(j.last_seq(), next - 1, "{ctx}");
                    }
                    _ => {
                        // The database is ahead of what it told the journal.
                        let db_mark = rng.range(mark, next - 1);
                        let got = Journal::read_only(&path, db_mark).unwrap();
                        let want: Vec<Record> = model.iter().filter(|r| r.seq > db_mark).cloned().collect();
                        assert_eq!(got, want, "{ctx}");
                    }
                }
                assert!(j.bytes_free() <= cap - HEADER_SIZE, "{ctx}");
            }
        }
    }

    fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn damaged_files_give_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good_path = dir.path().join("good");
        let (mut j, _) = Journal::open(&good_path, 1 << 14, 0).unwrap();
        j.append(b"hello").unwrap();
        j.append(b"world").unwrap();
        j.folded(1).unwrap(); // both tail slots now valid (generations 1 and 2)
        drop(j);
        let good = std::fs::read(&good_path).unwrap();
        let mut rng = Rng::new(time_seed());

        let both = |p: &Path| -> (Result<Vec<Record>, JournalError>, Result<Vec<Record>, JournalError>) {
            let ro = Journal::read_only(p, 0);
            let rw = Journal::open(p, 1 << 14, 0).map(|(_, r)| r);
            (ro, rw)
        };

        let mut random = rng.bytes(1 << 14);
        random[0] = b'X';
        let p = write_file(dir.path(), "random", &random);
        for r in [both(&p).0, both(&p).1] {
            match r {
                Err(JournalError::BadMagic { path, found }) => {
                    assert_eq!(path, p);
                    assert_eq!(found[0], b'X');
                }
                other => panic!("{other:?}"),
            }
        }

        let p = write_file(dir.path(), "tiny", &good[..5]);
        let (ro, rw) = both(&p);
        assert!(
            matches!(ro, Err(JournalError::TruncatedHeader { len: 5, .. })),
            "{ro:?}"
        );
        assert!(
            matches!(rw, Err(JournalError::TruncatedHeader { len: 5, .. })),
            "{rw:?}"
        );

        let p = write_file(dir.path(), "short", &good[..1000]);
        let (ro, rw) = both(&p);
        assert!(
            matches!(ro, Err(JournalError::TruncatedHeader { len: 1000, .. })),
            "{ro:?}"
        );
        assert!(matches!(rw, Err(JournalError::TruncatedHeader { .. })), "{rw:?}");

        let mut bad = good.clone();
        bad[..8].copy_from_slice(b"SQLite f");
        let p = write_file(dir.path(), "magic", &bad);
        assert!(matches!(both(&p).0, Err(JournalError::BadMagic { .. })));
        assert!(matches!(both(&p).1, Err(JournalError::BadMagic { .. })));

        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        let p = write_file(dir.path(), "newer", &newer);
        for r in [both(&p).0, both(&p).1] {
            assert!(
                matches!(
                    r,
                    Err(JournalError::NewerVersion {
                        found: 2,
                        supported: 1,
                        ..
                    })
                ),
                "{r:?}"
            );
        }

        let mut v0 = good.clone();
        v0[8..12].copy_from_slice(&0u32.to_le_bytes());
        let p = write_file(dir.path(), "v0", &v0);
        assert!(matches!(both(&p).0, Err(JournalError::CorruptHeader { .. })));

        let mut cap = good.clone();
        cap[17] ^= 1;
        let p = write_file(dir.path(), "checksum", &cap);
        assert!(matches!(both(&p).0, Err(JournalError::HeaderChecksum { .. })));
        assert!(matches!(both(&p).1, Err(JournalError::HeaderChecksum { .. })));

        let p = write_file(dir.path(), "truncated", &good[..good.len() - 8]);
        assert!(matches!(both(&p).0, Err(JournalError::FileTooShort { .. })));
        assert!(matches!(both(&p).1, Err(JournalError::FileTooShort { .. })));

        let mut slots = good.clone();
        slots[512..512 + 32].fill(0x55);
        slots[1024..1024 + 32].fill(0x55);
        let p = write_file(dir.path(), "slots", &slots);
        assert!(matches!(both(&p).0, Err(JournalError::CorruptHeader { .. })));

        // One torn slot: the other one is used.
        let mut one = good.clone();
        one[1024 + 3] ^= 0xFF; // generation 1 (older)
        let p = write_file(dir.path(), "oneslot_old", &one);
        assert_eq!(seqs(&Journal::read_only(&p, 0).unwrap()), vec![2]);
        let mut one = good.clone();
        one[512] = 0; // generation 2 (newer) torn: falls back to generation 1
        one[512 + 1] = 0;
        let p = write_file(dir.path(), "oneslot_new", &one);
        assert_eq!(seqs(&Journal::read_only(&p, 0).unwrap()), vec![1, 2]);
        assert_eq!(seqs(&Journal::read_only(&p, 1).unwrap()), vec![2]);

        // A record area of random garbage: zero records, usable afterwards.
        let mut garbage = good.clone();
        let noise = rng.bytes(garbage.len() - HEADER_SIZE as usize);
        garbage[HEADER_SIZE as usize..].copy_from_slice(&noise);
        let p = write_file(dir.path(), "garbage", &garbage);
        assert!(Journal::read_only(&p, 0).unwrap().is_empty());
        let (mut j, recs) = Journal::open(&p, 1 << 14, 0).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.last_seq(), 1); // the tail slot says record 2 comes next
        assert_eq!(j.append(b"fresh").unwrap(), 2);
        drop(j);
        assert_eq!(seqs(&Journal::read_only(&p, 0).unwrap()), vec![2]);

        // All-zero or empty files are uninitialised: no records, initialised on open.
        let p = write_file(dir.path(), "zeros", &vec![0u8; 3 << 12]);
        assert!(Journal::read_only(&p, 0).unwrap().is_empty());
        let p = write_file(dir.path(), "empty", &[]);
        assert!(Journal::read_only(&p, 0).unwrap().is_empty());
        let (mut j, recs) = Journal::open(&p, 1 << 14, 7).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.append(b"a").unwrap(), 8);

        // Missing file for a reader.
        assert!(matches!(
            Journal::read_only(&dir.path().join("nope"), 0),
            Err(JournalError::Io { .. })
        ));
    }

    /// Random bit flips and truncations anywhere: never a panic.
    #[test]
    fn random_damage_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let good_path = dir.path().join("good");
        let (mut j, _) = Journal::open(&good_path, 1 << 14, 0).unwrap();
        let mut rng = Rng::new(time_seed());
        for i in 1..=400u64 {
            let p = payload_for(i, rng.range(0, 120) as usize);
            loop {
                match j.append(&p) {
                    Ok(_) => break,
                    Err(JournalError::Full { .. }) => {
                        let upto = j.last_seq().saturating_sub(rng.range(0, 3));
                        j.folded(upto).unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        drop(j);
        let good = std::fs::read(&good_path).unwrap();
        let p = dir.path().join("damaged");
        for _ in 0..300 {
            let mut bytes = good.clone();
            for _ in 0..rng.range(1, 8) {
                let at = rng.range(0, bytes.len() as u64 - 1) as usize;
                bytes[at] = rng.next() as u8;
            }
            if rng.range(0, 9) == 0 {
                bytes.truncate(rng.range(0, bytes.len() as u64) as usize);
            }
            std::fs::write(&p, &bytes).unwrap();
            let _ = Journal::read_only(&p, rng.range(0, 500));
            if let Ok((mut j, _)) = Journal::open(&p, 1 << 14, rng.range(0, 500)) {
                let _ = j.append(b"after damage");
            }
        }
    }

    #[test]
    fn preallocation_is_real() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let cap = 8 << 20;
        let (j, _) = Journal::open(&path, cap, 0).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), cap);
        assert!(meta.blocks() * 512 >= cap, "{} blocks", meta.blocks());
        drop(j);

        // The zero-writing fallback allocates too.
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("z"))
            .unwrap();
        zero_fill(&f, &dir.path().join("z"), 0, 1 << 20).unwrap();
        let meta = f.metadata().unwrap();
        assert_eq!(meta.len(), 1 << 20);
        assert!(meta.blocks() * 512 >= 1 << 20);

        // A sparse journal (e.g. copied with `cp --sparse`) gets its holes filled on open.
        let sparse = dir.path().join("sparse");
        let f = File::create(&sparse).unwrap();
        let good = std::fs::read(&path).unwrap();
        f.write_all_at(&good[..HEADER_SIZE as usize], 0).unwrap();
        f.set_len(cap).unwrap();
        drop(f);
        assert!(std::fs::metadata(&sparse).unwrap().blocks() * 512 < cap);
        let (_j, _) = Journal::open(&sparse, cap, 0).unwrap();
        assert!(std::fs::metadata(&sparse).unwrap().blocks() * 512 >= cap);
    }

    /// ENOSPC at open on a size-limited tmpfs (tmpfs refuses an oversized
    /// `fallocate` up front, so this allocates nothing). Skipped elsewhere.
    #[test]
    fn no_space_is_a_typed_error_at_open() {
        let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
            return;
        };
        let size = mounts.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(1) != Some(&"/dev/shm") || f.get(2) != Some(&"tmpfs") {
                return None;
            }
            let opt = f.get(3)?.split(',').find_map(|o| o.strip_prefix("size="))?;
            let (num, mul) = match opt.chars().last()? {
                'k' => (&opt[..opt.len() - 1], 1u64 << 10),
                'm' => (&opt[..opt.len() - 1], 1 << 20),
                'g' => (&opt[..opt.len() - 1], 1 << 30),
                _ => (opt, 1),
            };
            num.parse::<u64>().ok().map(|n| n * mul)
        });
        let Some(size) = size else {
            eprintln!("no size-limited tmpfs at /dev/shm; skipping");
            return;
        };
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let path = dir.path().join("j");
        let cap = (size + (1 << 30)) & !7;
        match Journal::open(&path, cap, 0) {
            Err(JournalError::NoSpace { path: p, bytes, .. }) => {
                assert_eq!(p, path);
                assert_eq!(bytes, cap);
            }
            other => panic!("expected NoSpace, got {other:?}"),
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // The failed file is uninitialised; a sane capacity works afterwards.
        let (mut j, _) = Journal::open(&path, 1 << 16, 0).unwrap();
        assert_eq!(j.append(b"ok").unwrap(), 1);
    }

    #[test]
    fn capacity_changes_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
        for i in 1..=5 {
            j.append(&payload_for(i, 50)).unwrap();
        }
        drop(j);
        // Unfolded records: the stored capacity is kept.
        let (mut j, recs) = Journal::open(&path, 1 << 16, 2).unwrap();
        assert_eq!(seqs(&recs), vec![3, 4, 5]);
        assert_eq!(j.capacity(), 1 << 14);
        j.folded(5).unwrap();
        drop(j);
        // Nothing unfolded: grown.
        let (mut j, recs) = Journal::open(&path, 1 << 16, 5).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.capacity(), 1 << 16);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 1 << 16);
        assert!(meta.blocks() * 512 >= 1 << 16);
        assert_eq!(j.append(b"six").unwrap(), 6);
        drop(j);
        // Shrunk when empty again, numbering kept.
        let (mut j, recs) = Journal::open(&path, MIN_CAPACITY, 6).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.capacity(), MIN_CAPACITY);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), MIN_CAPACITY);
        assert_eq!(j.append(b"seven").unwrap(), 7);
        drop(j);
        assert_eq!(seqs(&Journal::read_only(&path, 0).unwrap()), vec![7]);

        // A resize killed after it zeroed the magic: the file is uninitialised
        // and the next open initialises it, continuing after the fold mark.
        let (j, _) = Journal::open(&path, MIN_CAPACITY, 7).unwrap();
        drop(j);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..8].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        assert!(Journal::read_only(&path, 7).unwrap().is_empty());
        let (mut j, recs) = Journal::open(&path, 1 << 15, 7).unwrap();
        assert!(recs.is_empty());
        assert_eq!(j.capacity(), 1 << 15);
        assert_eq!(j.append(b"eight").unwrap(), 8);
    }

    /// The child side of `kill9_recovery`: does nothing unless started by it.
    #[test]
    fn kill9_child() {
        let Ok(path) = std::env::var(CHILD_ENV) else {
            return;
        };
        let mark: u64 = std::env::var("JOURNAL_CHILD_MARK").unwrap().parse().unwrap();
        let seed: u64 = std::env::var("JOURNAL_CHILD_SEED").unwrap().parse().unwrap();
        let mut rng = Rng::new(seed);
        let (mut j, recs) = Journal::open(Path::new(&path), 1 << 20, mark).unwrap();
        println!("\n@@start {}", j.last_seq() + 1);
        let mut folded = mark;
        if let Some(last) = recs.last() {
            // "Replay into the database": the mark is durable before folded().
            println!("@@folded {}", last.seq);
            j.folded(last.seq).unwrap();
            folded = last.seq;
        }
        for _ in 0..1_000_000 {
            let next = j.last_seq() + 1;
            let r = if rng.range(0, 9) == 0 {
                let ps: Vec<Vec<u8>> = (0..rng.range(1, 5))
                    .map(|k| {
                        let len = rng.range(16, 300) as usize;
                        self_checking(next + k, &mut rng, len)
                    })
                    .collect();
                println!("@@inflight {}", next + ps.len() as u64 - 1);
                j.append_batch(ps.iter().map(|p| p.as_slice()))
            } else {
                // Mostly small events, some large ones (a long copy is a wide kill window).
                let len = if rng.range(0, 3) == 0 {
                    rng.range(16 << 10, 128 << 10)
                } else {
                    rng.range(16, 1500)
                } as usize;
                println!("@@inflight {next}");
                j.append(&self_checking(next, &mut rng, len))
            };
            match r {
                Ok(s) => println!("@@acked {s}"),
                Err(JournalError::Full { .. }) => {
                    let upto = j.last_seq();
                    println!("@@folded {upto}");
                    j.folded(upto).unwrap();
                    folded = upto;
                    continue;
                }
                Err(e) => panic!("{e}"),
            }
            if rng.range(0, 40) == 0 {
                let upto = rng.range(folded, j.last_seq());
                println!("@@folded {upto}");
                j.folded(upto).unwrap();
                folded = upto;
            }
        }
    }

    /// Whether the writer was killed in the middle of writing the record after
    /// the chain's end (commit word invalidated, new `seq` already stored).
    fn killed_mid_write(path: &Path) -> bool {
        let file = File::open(path).unwrap();
        let len = file.metadata().unwrap().len();
        let hdr = read_header_bytes(&file, path, len).unwrap();
        let HeaderState::Valid(h) = parse_header(path, &hdr, len).unwrap() else {
            return false;
        };
        let geo = Geometry {
            start: HEADER_SIZE,
            end: h.capacity,
            salt: h.salt,
        };
        let mut src = FileSource {
            file: &file,
            path,
            limit: h.capacity,
            win: Vec::new(),
            win_off: 0,
        };
        let found = scan(&mut src, &geo, h.slot.tail_off, h.slot.tail_seq, u64::MAX).unwrap();
        let mut at_head = [0u8; 16];
        file.read_exact_at(&mut at_head, found.head).unwrap();
        rd_u64(&at_head, 0) == 0 && rd_u64(&at_head, 8) == found.next_seq
    }

    #[test]
    fn kill9_recovery() {
        if std::env::var_os(CHILD_ENV).is_some() {
            return;
        }
        let kills: u64 = std::env::var("JOURNAL_KILLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        let seed = time_seed();
        let mut rng = Rng::new(seed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.journal");
        let exe = std::env::current_exe().unwrap();
        let mut mark = 0u64;
        let mut expect_next = 1u64;
        let (mut total_acks, mut total_recovered, mut unacked_recovered) = (0u64, 0u64, 0u64);
        let mut torn_at_head = 0u64;
        for round in 0..kills {
            let ctx = format!("seed {seed} round {round}");
            let target = rng.range(1, 2000);
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "store::journal::tests::kill9_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .env("JOURNAL_CHILD_MARK", mark.to_string())
                .env("JOURNAL_CHILD_SEED", rng.next().to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let (mut acks, mut last_acked, mut start) = (0u64, None::<u64>, None::<u64>);
            let mut inflight = 0u64;
            let mut killed = false;
            let mut line = String::new();
            loop {
                line.clear();
                if out.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                if !line.ends_with('\n') {
                    continue; // cut off by the kill
                }
                let Some(at) = line.find("@@") else { continue };
                let mut it = line[at + 2..].split_whitespace();
                let (Some(what), Some(n)) = (it.next(), it.next().and_then(|n| n.parse::<u64>().ok())) else {
                    continue;
                };
                match what {
                    "start" => start = Some(n),
                    "inflight" => inflight = inflight.max(n),
                    "acked" => {
                        assert!(last_acked.is_none_or(|l| n > l), "{ctx}: acks out of order");
                        last_acked = Some(n);
                        acks += 1;
                    }
                    "folded" => {
                        assert!(n >= mark, "{ctx}: fold mark went back");
                        mark = n;
                    }
                    _ => {}
                }
                if acks == target && !killed {
                    // A random extra moment, so the kill does not always land
                    // at the same distance from the ack just printed.
                    let spin = Instant::now();
                    let delay = std::time::Duration::from_micros(rng.range(0, 400));
                    while spin.elapsed() < delay {
                        std::hint::spin_loop();
                    }
                    child.kill().unwrap();
                    killed = true;
                }
            }
            let status = child.wait().unwrap();
            assert!(killed, "{ctx}: child ended by itself: {status:?}");
            assert_eq!(start, Some(expect_next), "{ctx}: numbering did not continue");
            let last_acked = last_acked.unwrap();

            torn_at_head += u64::from(killed_mid_write(&path));
            let recs = Journal::read_only(&path, mark).unwrap();
            for (i, r) in recs.iter().enumerate() {
                assert_eq!(r.seq, mark + 1 + i as u64, "{ctx}: gap");
                assert!(check_self(r), "{ctx}: record {} damaged", r.seq);
            }
            let last = recs.last().map_or(mark, |r| r.seq);
            assert!(
                last >= last_acked,
                "{ctx}: acked {last_acked} but recovered only up to {last} (mark {mark})"
            );
            // Only the append (or batch) in flight at the kill may show up unacknowledged.
            assert!(
                last <= inflight.max(mark),
                "{ctx}: recovered {last}, acked {last_acked}, in flight {inflight}"
            );
            expect_next = last.max(mark) + 1;
            total_acks += acks;
            total_recovered += recs.len() as u64;
            unacked_recovered += u64::from(last > last_acked && last > mark);
        }
        eprintln!(
            "kill9_recovery: seed {seed}, {kills} kills, {total_acks} acks read, {total_recovered} records replayed, \
             {unacked_recovered} kills caught an append after its copy but before its ack, \
             {torn_at_head} caught one mid-copy, final seq {}",
            expect_next - 1
        );
    }

    /// `cargo test --release -- --ignored bench_append --nocapture`
    #[test]
    #[ignore = "benchmark: run with --release -- --ignored --nocapture"]
    fn bench_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.journal");
        let payload = [0x5Au8; 32];
        let n = 1_000_000u64;
        // A 4 MiB ring that is folded whenever it fills (pages stay resident),
        // then a 64 MiB one whose first lap pays the first-touch page faults.
        let (mut j, _) = Journal::open(&dir.path().join("small.journal"), 4 << 20, 0).unwrap();
        for round in 0..2 {
            let t = Instant::now();
            let mut folds = 0;
            for _ in 0..n {
                if let Err(JournalError::Full { .. }) = j.append(&payload) {
                    j.folded(j.last_seq()).unwrap();
                    folds += 1;
                    j.append(&payload).unwrap();
                }
            }
            let el = t.elapsed();
            println!(
                "4 MiB ring, round {round}: {n} appends of 32 bytes in {el:?}: {:.1} ns/append ({folds} folds included)",
                el.as_nanos() as f64 / n as f64
            );
        }
        drop(j);
        let (mut j, _) = Journal::open(&path, 64 << 20, 0).unwrap();
        for round in 0..3 {
            let t = Instant::now();
            let mut folds = 0;
            for _ in 0..n {
                match j.append(&payload) {
                    Ok(_) => {}
                    Err(JournalError::Full { .. }) => {
                        j.folded(j.last_seq()).unwrap();
                        folds += 1;
                        j.append(&payload).unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            let el = t.elapsed();
            println!(
                "64 MiB ring, round {round}: {n} appends of 32 bytes in {el:?}: {:.1} ns/append ({folds} folds)",
                el.as_nanos() as f64 / n as f64
            );
            j.folded(j.last_seq()).unwrap();
        }
        let t = Instant::now();
        let batch: Vec<&[u8]> = vec![&payload[..]; 100];
        for _ in 0..n / 100 {
            if j.append_batch(batch.iter().copied()).is_err() {
                j.folded(j.last_seq()).unwrap();
                j.append_batch(batch.iter().copied()).unwrap();
            }
        }
        println!(
            "append_batch(100): {:.1} ns/record",
            t.elapsed().as_nanos() as f64 / n as f64
        );
        let t = Instant::now();
        j.sync().unwrap();
        println!("sync: {:?}", t.elapsed());
    }
}
