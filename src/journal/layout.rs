//! The journal file's layout (see the module documentation of `journal`):
//! constants, the record area's geometry and ring, record and slot encoding,
//! and the header. All integers little-endian.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::error::{JournalError, io_err};

/// The magic bytes at the start of every journal file.
pub const MAGIC: [u8; 8] = *b"TMJOURNL";
/// The on-disk format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the header block; the record area starts here.
pub const HEADER_SIZE: u64 = 4096;
/// The smallest accepted capacity (header block plus a 4 KiB record area).
pub const MIN_CAPACITY: u64 = 2 * HEADER_SIZE;

pub(super) const STATIC_LEN: usize = 64;
pub(super) const STATIC_CRC_AT: usize = 60;
pub(super) const SLOT_OFFSETS: [u64; 2] = [512, 1024];
pub(super) const SLOT_LEN: usize = 32;
pub(super) const SLOT_SEALED_AT: usize = 24;
pub(super) const SEALED: u8 = 1;
pub(super) const SLOT_CRC_AT: usize = 28;
pub(super) const REC_HDR: u64 = 16;
pub(super) const COMMITTED: u32 = 0x8000_0000;
pub(super) const WRAP: u32 = 0xFFFF_FFFF;
pub(super) const MAX_LEN_FIELD: u64 = 0x7FFF_FFFE;
pub(super) const READ_WINDOW: usize = 1 << 20;
pub(super) const ZERO_CHUNK: usize = 1 << 20;

/// Where the record area is, and the salt of this incarnation of the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) salt: u32,
}

impl Geometry {
    pub(super) fn area(&self) -> u64 {
        self.end - self.start
    }

    /// Normalises a position: with fewer than 16 bytes left, the next record
    /// starts at the beginning of the area. Returns the position and the
    /// skipped gap.
    pub(super) fn norm(&self, pos: u64) -> (u64, u64) {
        let left = self.end.saturating_sub(pos);
        if left < REC_HDR { (self.start, left) } else { (pos, 0) }
    }

    pub(super) fn max_payload(&self) -> u64 {
        (self.area() - REC_HDR).min(MAX_LEN_FIELD)
    }
}

/// The in-memory ring state.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ring {
    /// Where the next record goes (normalised).
    pub(super) head: u64,
    /// Where the oldest unfolded record, or the marker before it, is. Equals
    /// `head` when nothing is unfolded.
    pub(super) tail: u64,
    /// Sequence number of the record at `tail`; `== next_seq` iff empty.
    pub(super) tail_seq: u64,
    /// Sequence number of the next record.
    pub(super) next_seq: u64,
}

/// Where one record will be written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placement {
    pub(super) pos: u64,
    pub(super) seq: u64,
    /// A wrap marker to write first, at this offset.
    pub(super) marker: Option<u64>,
    /// Move the tail slot to the area start first (only when empty).
    pub(super) relocate: bool,
}

impl Ring {
    pub(super) fn is_empty(&self) -> bool {
        self.tail_seq == self.next_seq
    }

    pub(super) fn bytes_free(&self, geo: &Geometry) -> u64 {
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
    pub(super) fn place(&mut self, geo: &Geometry, size: u64) -> Option<Placement> {
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
pub(super) fn record_size(len: u64) -> u64 {
    REC_HDR + ((len + 7) & !7)
}

pub(super) fn record_crc(salt: u32, len_word: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[..4].copy_from_slice(&len_word.to_le_bytes());
    head[4..].copy_from_slice(&seq.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c_append(salt, &head), payload)
}

pub(super) fn rd_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(super) fn rd_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// A decoded tail slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) generation: u64,
    pub(super) tail_off: u64,
    pub(super) tail_seq: u64,
}

pub(super) fn encode_slot(salt: u32, slot: &Slot) -> [u8; SLOT_LEN] {
    let mut b = [0u8; SLOT_LEN];
    b[0..8].copy_from_slice(&slot.generation.to_le_bytes());
    b[8..16].copy_from_slice(&slot.tail_off.to_le_bytes());
    b[16..24].copy_from_slice(&slot.tail_seq.to_le_bytes());
    b[SLOT_SEALED_AT] = SEALED;
    let crc = crc32c::crc32c_append(salt, &b[..SLOT_CRC_AT]);
    b[SLOT_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(super) fn decode_slot(salt: u32, b: &[u8], start: u64, end: u64) -> Option<Slot> {
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
pub(super) struct Header {
    pub(super) capacity: u64,
    pub(super) salt: u32,
    pub(super) slot: Slot,
}

#[derive(Debug)]
pub(super) enum HeaderState {
    /// Empty file, or zero magic: never (fully) initialised.
    Uninitialized,
    Valid(Header),
}

pub(super) fn build_static(capacity: u64, salt: u32) -> [u8; STATIC_LEN] {
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
pub(super) fn parse_header(path: &Path, buf: &[u8], file_len: u64) -> Result<HeaderState, JournalError> {
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

pub(super) fn read_header_bytes(file: &File, path: &Path, file_len: u64) -> Result<Vec<u8>, JournalError> {
    let mut buf = vec![0u8; file_len.min(HEADER_SIZE) as usize];
    file.read_exact_at(&mut buf, 0).map_err(io_err(path, "read header"))?;
    Ok(buf)
}
