//! The chunk index: a read-only copy of the history chunks in a file of its
//! own beside the database (`<db>.chunk-index`), mapped into memory and
//! found through a per-granule directory, so that a read finds its chunk
//! with a hash probe and a search among the granule's few first snaps
//! instead of a descent of redb's B-tree through its page cache (about 340
//! against 1,670 ns on W2, BENCHMARKS.md). Written by hand because it is a
//! layout, not a library's job: a hash table and three flat arrays.
//!
//! It is valid for exactly one state of the database: its header holds a
//! random stamp that the database's `meta` table holds too
//! ([`META_CHUNK_INDEX`]); every write transaction removes the stamp from
//! `meta`, so a read transaction uses the index only if its snapshot holds
//! the same stamp. The file's bytes are checked as they are read (every
//! offset and run against the file's length and the counts), and the chunks
//! in it are checked as the table's are, so a damaged index is an error
//! naming it, never a panic.
//!
//! The layout (all integers little-endian), FORMAT.md "The chunk index":
//!
//! ```text
//! header, 64 bytes: magic b"tmchunks", version u32 = 1, reserved u32 = 0,
//!   stamp [u8; 16], granules u64, chunks u64, data_len u64, slots u64
//! data: the chunks' stored values (data_len bytes), in any order (the
//!   writer's: by space, block of 256 granules, first snap, granule), then
//!   zeros to a multiple of 8
//! granules × 24 bytes: space u32, 0 u32, granule u64, first chunk u64
//!   (ascending (space, granule); a granule's chunks run to the next's first)
//! chunks × 8 bytes: each chunk's first snap, i64
//! chunks × 16 bytes: each chunk's place in data, offset u64 and length u64
//! slots × 4 bytes: a hash table of the granules, u32 entry + 1 (0 empty),
//!   linear probing from `slot_of(space, granule)`
//! ```

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use redb::ReadableTable;

use crate::store::schema::{CHUNKS, META};
use crate::vocab::error::{Error, Result, StorageContext};
use crate::vocab::types::Snap;

/// The `meta` key holding the stamp of the chunk index the database's
/// current state matches (absent: none does).
pub(crate) const META_CHUNK_INDEX: &str = "chunk_index";

/// The index file's magic.
const MAGIC: &[u8; 8] = b"tmchunks";
/// The index file's format version.
const VERSION: u32 = 1;
/// Bytes of the header.
const HEADER: usize = 64;
/// Bytes of a granule entry.
const ENTRY: usize = 24;
/// Bytes of a chunk's place in the data: offset u64, length u64.
const PLACE: usize = 16;
/// Granules whose chunks the writer keeps together in the data, ordered by
/// first snap: a bulk read at one snap finds its chunks close together.
const DATA_BLOCK_GRANULES: u64 = 256;

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

/// Where the sections of an index of these counts lie, and its length.
#[derive(Clone, Copy, Debug)]
struct Sections {
    granules: usize,
    chunks: usize,
    data_len: usize,
    slots: usize,
    entries_at: usize,
    snaps_at: usize,
    places_at: usize,
    slots_at: usize,
    len: usize,
}

impl Sections {
    fn of(granules: u64, chunks: u64, data_len: u64, slots: u64) -> Option<Sections> {
        let (granules, chunks) = (usize::try_from(granules).ok()?, usize::try_from(chunks).ok()?);
        let (data_len, slots) = (usize::try_from(data_len).ok()?, usize::try_from(slots).ok()?);
        let entries_at = HEADER.checked_add(data_len)?.checked_next_multiple_of(8)?;
        let snaps_at = entries_at.checked_add(granules.checked_mul(ENTRY)?)?;
        let places_at = snaps_at.checked_add(chunks.checked_mul(8)?)?;
        let slots_at = places_at.checked_add(chunks.checked_mul(PLACE)?)?;
        let len = slots_at.checked_add(slots.checked_mul(4)?)?;
        Some(Sections {
            granules,
            chunks,
            data_len,
            slots,
            entries_at,
            snaps_at,
            places_at,
            slots_at,
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

/// The bytes of an index: its file mapped, or (for the fuzz targets) held.
enum IndexBytes {
    Mapped(Mmap),
    /// An empty file (which has no header: always refused).
    Empty,
    #[cfg(feature = "fuzzing")]
    Held(Vec<u8>),
}

impl std::ops::Deref for IndexBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            IndexBytes::Mapped(map) => map,
            IndexBytes::Empty => &[],
            #[cfg(feature = "fuzzing")]
            IndexBytes::Held(bytes) => bytes,
        }
    }
}

/// A chunk index, mapped.
pub(crate) struct ChunkIndex {
    path: PathBuf,
    map: IndexBytes,
    stamp: [u8; 16],
    sections: Sections,
}

impl std::fmt::Debug for ChunkIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkIndex").field("path", &self.path).finish()
    }
}

/// A granule's run of chunks in an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GranuleRun {
    pub granule: u64,
    first: usize,
    end: usize,
}

impl ChunkIndex {
    /// Maps the index at `path`; `None` if there is no file. The header and
    /// the length are checked here, the rest as it is read.
    pub fn open(path: &Path) -> Result<Option<ChunkIndex>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(path, e)),
        };
        // An empty file cannot be mapped: read as the damage it is.
        if file.metadata().map_err(|e| io_error(path, e))?.len() == 0 {
            return ChunkIndex::of_bytes(path, IndexBytes::Empty).map(Some);
        }
        // SAFETY: memmap2 requires that the file is not truncated or changed
        // while mapped. tracemem never changes an index in place: a new one
        // is written beside it and renamed over it, which leaves this
        // mapping on the old file. Other programs changing the file is
        // unsupported, as for the database and its journals.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io_error(path, e))?;
        ChunkIndex::of_bytes(path, IndexBytes::Mapped(map)).map(Some)
    }

    /// An index of `bytes`, named `path` in errors (the fuzz targets').
    #[cfg(feature = "fuzzing")]
    pub fn held(path: &Path, bytes: Vec<u8>) -> Result<ChunkIndex> {
        ChunkIndex::of_bytes(path, IndexBytes::Held(bytes))
    }

    /// The index of `map`: its header and length checked.
    fn of_bytes(path: &Path, map: IndexBytes) -> Result<ChunkIndex> {
        let damaged = |detail: &str| Error::corrupt(path.display().to_string(), format!("chunk index: {detail}"));
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(damaged("not a chunk index (no magic)"));
        }
        let version = u32_at(&map, 8);
        if version != VERSION {
            return Err(damaged(&format!("version {version}, this tracemem reads {VERSION}")));
        }
        let mut stamp = [0u8; 16];
        stamp.copy_from_slice(&map[16..32]);
        let (granules, chunks, data_len, slots) =
            (u64_at(&map, 32), u64_at(&map, 40), u64_at(&map, 48), u64_at(&map, 56));
        let sections = Sections::of(granules, chunks, data_len, slots)
            .filter(|s| s.len == map.len())
            .ok_or_else(|| damaged(&format!("{} bytes do not hold the counts of its header", map.len())))?;
        if !slots.is_power_of_two() || slots < granules {
            return Err(damaged(&format!("{slots} hash slots for {granules} granules")));
        }
        Ok(ChunkIndex {
            path: path.to_path_buf(),
            map,
            stamp,
            sections,
        })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stamp the database's `meta` holds while this index matches it.
    pub fn stamp(&self) -> [u8; 16] {
        self.stamp
    }

    fn damaged(&self, detail: String) -> Error {
        Error::corrupt(self.path.display().to_string(), format!("chunk index: {detail}"))
    }

    /// Entry `i`'s (space, granule) and run of chunks, checked.
    fn entry(&self, i: usize) -> Result<(u32, GranuleRun)> {
        let s = &self.sections;
        let at = s.entries_at + i * ENTRY;
        let first = u64_at(&self.map, at + 16);
        let end = match i + 1 < s.granules {
            true => u64_at(&self.map, at + ENTRY + 16),
            false => s.chunks as u64,
        };
        if first > end || end > s.chunks as u64 {
            return Err(self.damaged(format!("granule entry {i}: chunks {first}..{end} of {}", s.chunks)));
        }
        let run = GranuleRun {
            granule: u64_at(&self.map, at + 8),
            first: first as usize,
            end: end as usize,
        };
        Ok((u32_at(&self.map, at), run))
    }

    /// The chunks of `granule` of `space`, if it has any.
    pub fn granule(&self, space: u32, granule: u64) -> Result<Option<GranuleRun>> {
        let slots = self.sections.slots;
        if slots == 0 {
            return Ok(None);
        }
        let mask = slots as u64 - 1;
        let mut slot = slot_of(space, granule, mask);
        for _ in 0..slots {
            let entry = u32_at(&self.map, self.sections.slots_at + slot as usize * 4) as usize;
            if entry == 0 {
                return Ok(None);
            }
            if entry > self.sections.granules {
                return Err(self.damaged(format!("hash slot {slot} names entry {entry}")));
            }
            let (s, run) = self.entry(entry - 1)?;
            if (s, run.granule) == (space, granule) {
                return Ok(Some(run));
            }
            slot = (slot + 1) & mask;
        }
        Ok(None)
    }

    /// The granules of `space` in `[from, to]` with chunks, ascending (or
    /// descending if `reverse`), while `f` returns true.
    pub fn for_each_granule(
        &self,
        space: u32,
        (from, to): (u64, u64),
        reverse: bool,
        f: &mut dyn FnMut(GranuleRun) -> Result<bool>,
    ) -> Result<()> {
        let s = &self.sections;
        let key = |i: usize| {
            let at = s.entries_at + i * ENTRY;
            (u32_at(&self.map, at), u64_at(&self.map, at + 8))
        };
        // The entries from the first at or past (space, from) to the first
        // past (space, to), by bisection.
        let first_past = |bound: &dyn Fn((u32, u64)) -> bool| {
            let (mut lo, mut hi) = (0, s.granules);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match bound(key(mid)) {
                    true => lo = mid + 1,
                    false => hi = mid,
                }
            }
            lo
        };
        let start = first_past(&|k| k < (space, from));
        let end = first_past(&|k| k <= (space, to)).max(start);
        let mut visit = |i: usize| -> Result<bool> {
            let (entry_space, run) = self.entry(i)?;
            if entry_space != space {
                return Err(self.damaged(format!("granule entry {i} out of order")));
            }
            f(run)
        };
        match reverse {
            false => {
                for i in start..end {
                    if !visit(i)? {
                        break;
                    }
                }
            }
            true => {
                for i in (start..end).rev() {
                    if !visit(i)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The chunk of `run` with the greatest first snap in `[lo, hi]`, and the
    /// first snap of the chunk after it (if any).
    pub fn latest(&self, run: GranuleRun, lo: Snap, hi: Snap) -> Result<Option<(Snap, &[u8], Option<Snap>)>> {
        let snap = |i: usize| self.first_snap(i);
        let (mut a, mut b) = (run.first, run.end);
        while a < b {
            let mid = a + (b - a) / 2;
            match snap(mid) <= hi {
                true => a = mid + 1,
                false => b = mid,
            }
        }
        if a == run.first || snap(a - 1) < lo {
            return Ok(None);
        }
        let i = a - 1;
        let next = (a < run.end).then(|| snap(a));
        Ok(Some((snap(i), self.chunk_bytes(i)?, next)))
    }

    /// The least first snap in `[from, to]` of a chunk of `run`.
    pub fn first_from(&self, run: GranuleRun, from: Snap, to: Snap) -> Option<Snap> {
        let snap = |i: usize| self.first_snap(i);
        let (mut a, mut b) = (run.first, run.end);
        while a < b {
            let mid = a + (b - a) / 2;
            match snap(mid) < from {
                true => a = mid + 1,
                false => b = mid,
            }
        }
        (a < run.end && snap(a) <= to).then(|| snap(a))
    }
}

impl ChunkIndex {
    /// Compares it with the chunks `txn` holds, the state its stamp says it
    /// indexes: every key and stored value, in order, and every granule
    /// found through the hash table. Each difference found, naming where
    /// (the first ten).
    pub fn differences(&self, txn: &redb::ReadTransaction) -> Result<Vec<String>> {
        let chunks = txn.open_table(CHUNKS).context("checking the chunk index")?;
        let mut table = chunks.iter().context("checking the chunk index")?;
        let mut problems = Vec::new();
        let mut note = |problem: String| {
            if problems.len() < 10 {
                problems.push(format!("{}: {problem}", self.path.display()));
            }
        };
        let mut indexed = 0u64;
        self.for_each_entry(&mut |space, run| {
            match self.granule(space, run.granule)? {
                Some(found) if (found.first, found.end) == (run.first, run.end) => {}
                _ => note(format!(
                    "granule {:#x} of space {space} not found by its hash",
                    run.granule
                )),
            }
            for i in run.first..run.end {
                indexed += 1;
                let first = self.first_snap(i);
                let bytes = self.chunk_bytes(i)?;
                match table.next() {
                    Some(entry) => {
                        let (key, value) = entry.context("checking the chunk index")?;
                        if key.value() != (space, run.granule, first) || value.value() != bytes {
                            note(format!(
                                "chunk {i} is {:?} ({} bytes), the table's {:?} ({} bytes)",
                                (space, run.granule, first),
                                bytes.len(),
                                key.value(),
                                value.value().len()
                            ));
                        }
                    }
                    None => note(format!(
                        "chunk {i} {:?} is not in the table",
                        (space, run.granule, first)
                    )),
                }
            }
            Ok(())
        })?;
        let rest = table.count() as u64;
        if rest > 0 || indexed != self.sections.chunks as u64 {
            note(format!(
                "{indexed} chunks listed of {} counted; the table has {rest} more",
                self.sections.chunks
            ));
        }
        Ok(problems)
    }

    /// Calls `f` with every granule entry, in order.
    pub fn for_each_entry(&self, f: &mut dyn FnMut(u32, GranuleRun) -> Result<()>) -> Result<()> {
        for i in 0..self.sections.granules {
            let (space, run) = self.entry(i)?;
            f(space, run)?;
        }
        Ok(())
    }

    /// Chunk `i`'s first snap.
    fn first_snap(&self, i: usize) -> Snap {
        u64_at(&self.map, self.sections.snaps_at + i * 8) as i64
    }

    /// The stored bytes of chunk `i`, checked.
    fn chunk_bytes(&self, i: usize) -> Result<&[u8]> {
        let at = self.sections.places_at + i * PLACE;
        let (start, len) = (u64_at(&self.map, at), u64_at(&self.map, at + 8));
        match start.checked_add(len) {
            Some(end) if end <= self.sections.data_len as u64 => {
                Ok(&self.map[HEADER + start as usize..HEADER + end as usize])
            }
            _ => Err(self.damaged(format!(
                "chunk {i}: {len} bytes at {start} of {}",
                self.sections.data_len
            ))),
        }
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What writing an index found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkIndexReport {
    /// Granules with chunks.
    pub granules: u64,
    /// Chunks copied.
    pub chunks: u64,
    /// Bytes of the index file.
    pub bytes: u64,
}

/// Writes the index of the chunks `txn` holds to `path` (through a
/// temporary file beside it, synced and renamed over it) under `stamp`, and
/// records the stamp in `txn`'s `meta`: the index is valid once `txn`
/// commits. `txn` is a write transaction, so no other commit comes between
/// the chunks read and the stamp.
pub(crate) fn write_chunk_index(
    txn: &redb::WriteTransaction,
    path: &Path,
    stamp: [u8; 16],
) -> Result<ChunkIndexReport> {
    let tmp = {
        let mut name = path.as_os_str().to_os_string();
        name.push(".tmp");
        PathBuf::from(name)
    };
    let file = File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let write = |out: &mut BufWriter<File>, bytes: &[u8]| out.write_all(bytes).map_err(|e| io_error(&tmp, e));
    write(&mut out, &[0u8; HEADER])?;
    // First the keys, in key order: the directory, and each chunk's length.
    let mut entries: Vec<(u32, u64, u64)> = Vec::new();
    let mut snaps: Vec<i64> = Vec::new();
    let mut lengths: Vec<u64> = Vec::new();
    let chunks = txn.open_table(CHUNKS).context("indexing chunks")?;
    for entry in chunks.iter().context("indexing chunks")? {
        let (key, value) = entry.context("indexing chunks")?;
        let (space, granule, first) = key.value();
        if entries.last().is_none_or(|&(s, g, _)| (s, g) != (space, granule)) {
            entries.push((space, granule, snaps.len() as u64));
        }
        snaps.push(first);
        lengths.push(value.value().len() as u64);
    }
    // Then the data, each block of granules ordered by first snap, so that
    // the chunks a bulk read at one snap needs lie close together.
    let mut order: Vec<(u32, u64, i64, u64, usize)> = Vec::with_capacity(snaps.len());
    for (e, &(space, granule, first_chunk)) in entries.iter().enumerate() {
        let end = entries.get(e + 1).map_or(snaps.len(), |next| next.2 as usize);
        for (i, &first) in snaps.iter().enumerate().take(end).skip(first_chunk as usize) {
            order.push((space, granule / DATA_BLOCK_GRANULES, first, granule, i));
        }
    }
    order.sort_unstable();
    let mut places = vec![(0u64, 0u64); snaps.len()];
    let mut data_len = 0u64;
    for &(space, _, first, granule, i) in &order {
        let value = chunks
            .get((space, granule, first))
            .context("indexing chunks")?
            .ok_or_else(|| {
                Error::corrupt(
                    "history_chunks table",
                    format!("chunk {:?} vanished", (space, granule, first)),
                )
            })?;
        write(&mut out, value.value())?;
        places[i] = (data_len, lengths[i]);
        data_len += lengths[i];
    }
    drop(chunks);
    let slots = (entries.len() as u64 * 2).next_power_of_two().max(1);
    let sections = Sections::of(entries.len() as u64, snaps.len() as u64, data_len, slots)
        .ok_or_else(|| Error::corrupt(path.display().to_string(), "chunk index too large"))?;
    write(&mut out, &vec![0u8; sections.entries_at - HEADER - sections.data_len])?;
    for &(space, granule, first) in &entries {
        write(&mut out, &space.to_le_bytes())?;
        write(&mut out, &0u32.to_le_bytes())?;
        write(&mut out, &granule.to_le_bytes())?;
        write(&mut out, &first.to_le_bytes())?;
    }
    for snap in &snaps {
        write(&mut out, &snap.to_le_bytes())?;
    }
    for &(offset, len) in &places {
        write(&mut out, &offset.to_le_bytes())?;
        write(&mut out, &len.to_le_bytes())?;
    }
    let mut table = vec![0u32; slots as usize];
    for (i, &(space, granule, _)) in entries.iter().enumerate() {
        let mut slot = slot_of(space, granule, slots - 1) as usize;
        while table[slot] != 0 {
            slot = (slot + 1) & (slots as usize - 1);
        }
        table[slot] = i as u32 + 1;
    }
    for entry in &table {
        write(&mut out, &entry.to_le_bytes())?;
    }
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&stamp);
    for n in [entries.len() as u64, snaps.len() as u64, data_len, slots] {
        header.extend_from_slice(&n.to_le_bytes());
    }
    out.seek(SeekFrom::Start(0)).map_err(|e| io_error(&tmp, e))?;
    write(&mut out, &header)?;
    let file = out.into_inner().map_err(|e| io_error(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| io_error(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
    }
    let mut meta = txn.open_table(META).context("recording the chunk index")?;
    meta.insert(META_CHUNK_INDEX, stamp.as_slice())
        .context("recording the chunk index")?;
    Ok(ChunkIndexReport {
        granules: entries.len() as u64,
        chunks: snaps.len() as u64,
        bytes: sections.len as u64,
    })
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
