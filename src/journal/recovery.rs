//! Reading a journal back: the scan from the current tail slot that accepts
//! exactly the acknowledged records, and opening a journal (writable or
//! read-only) with the records to replay.

use std::fs::File;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::error::{JournalError, io_err};
use super::file::*;
use super::layout::*;
use super::writer::{Journal, Record};

/// Random-access reads for the recovery scan.
pub(super) trait Source {
    /// Calls `f` with the bytes `[off, off + len)`.
    fn with_bytes<R>(&mut self, off: u64, len: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R, JournalError>;
}

pub(super) struct MapSource<'a> {
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
pub(super) struct FileSource<'a> {
    pub(super) file: &'a File,
    pub(super) path: &'a Path,
    pub(super) limit: u64,
    pub(super) win: Vec<u8>,
    pub(super) win_off: u64,
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
pub(super) struct Scan {
    pub(super) records: Vec<Record>,
    /// Position just after the last intact record (normalised): the new head.
    pub(super) head: u64,
    /// One past the last intact record's seq (or the start seq).
    pub(super) next_seq: u64,
}

/// Reads the chain starting at `(start, start_seq)`. See "Recovery" in the module docs.
pub(super) fn scan(
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
    #[cfg(test)]
    pub fn read_only(path: &Path, folded_through: u64) -> Result<Vec<Record>, JournalError> {
        let file = File::open(path).map_err(io_err(path, "open"))?;
        Self::records_of(&file, path, folded_through)
    }

    /// [`Journal::read_only`] of the journal `file`, opened from `path`.
    fn records_of(file: &File, path: &Path, folded_through: u64) -> Result<Vec<Record>, JournalError> {
        let file_len = file.metadata().map_err(io_err(path, "stat"))?.len();
        let hdr = read_header_bytes(file, path, file_len)?;
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
            file,
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

    /// Whether a recorder holds the journal at `path` now (its lock, not the
    /// file's existence, says so).
    pub fn held(path: &Path) -> Result<bool, JournalError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(path, "open")(e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err(path, "lock")(e)),
        }
    }

    /// Whether the journal at `path` was left by a recorder that stopped
    /// without closing: no process holds its lock, and it holds records past
    /// `folded_through`. A journal that a live recorder holds is not
    /// abandoned, whatever it holds.
    pub fn abandoned(path: &Path, folded_through: u64) -> Result<bool, JournalError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(path, "open")(e)),
        };
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(path, "lock")(e)),
        }
        Ok(!Self::records_of(&file, path, folded_through)?.is_empty())
    }
}
