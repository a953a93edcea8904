//! Appending to a journal: placing records in the ring, the commit-word
//! protocol, tail-slot updates as records are folded, syncing, and
//! (re)initialising the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};

use memmap2::MmapMut;

use super::error::{JournalError, io_err};
use super::file::*;
use super::layout::*;

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
    pub(super) path: PathBuf,
    /// Holds the exclusive `flock` for as long as the journal is open.
    pub(super) file: File,
    pub(super) map: MmapMut,
    pub(super) geo: Geometry,
    pub(super) ring: Ring,
    pub(super) slot_gen: u64,
}

impl Journal {
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
    #[cfg(test)]
    pub fn capacity(&self) -> u64 {
        self.geo.end
    }

    /// The largest payload [`Journal::append`] accepts.
    #[must_use]
    #[cfg(test)]
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

    pub(super) fn size_for(&self, payload: &[u8]) -> Result<u64, JournalError> {
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

    pub(super) fn full(&self, needed: u64) -> JournalError {
        JournalError::Full {
            path: self.path.clone(),
            needed,
            free: self.bytes_free(),
        }
    }

    pub(super) fn execute(&mut self, p: &Placement, payload: &[u8]) -> Result<(), JournalError> {
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
    pub(super) fn write_entry(
        &mut self,
        pos: u64,
        len_word: u32,
        seq: u64,
        payload: &[u8],
    ) -> Result<(), JournalError> {
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
    pub(super) fn write_slot(&mut self, tail_off: u64, tail_seq: u64) -> Result<(), JournalError> {
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

    pub(super) fn range(&self, off: u64, len: u64) -> Result<std::ops::Range<usize>, JournalError> {
        off.checked_add(len)
            .filter(|&e| e <= self.map.len() as u64)
            .map(|e| off as usize..e as usize)
            .ok_or_else(|| JournalError::CorruptRecord {
                path: self.path.clone(),
                offset: off,
                reason: format!("access of {len} bytes outside the mapping"),
            })
    }

    pub(super) fn slice(&self, off: u64, len: u64) -> Result<&[u8], JournalError> {
        let r = self.range(off, len)?;
        Ok(&self.map[r])
    }

    pub(super) fn slice_mut(&mut self, off: u64, len: u64) -> Result<&mut [u8], JournalError> {
        let r = self.range(off, len)?;
        Ok(&mut self.map[r])
    }

    /// Initialises `file` as an empty journal of `capacity` bytes whose next
    /// record gets `next_seq`. The magic is written last, so a kill before that
    /// leaves an uninitialised file that the next open initialises again.
    pub(super) fn initialize(path: PathBuf, file: File, capacity: u64, next_seq: u64) -> Result<Journal, JournalError> {
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
    pub(super) fn resize(self, capacity: u64) -> Result<Journal, JournalError> {
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
