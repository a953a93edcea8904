//! Writing a chunk index: the chunks copied (grouped for bulk reads), the
//! directory and the stretch images, atomically replacing the old index.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use redb::ReadableTable;

use super::layout::{
    Counts, HEADER, MAGIC, MAX_CHUNK_LEN, MAX_DATA_LEN, META_CHUNK_INDEX, STRETCH_GRANULES, STRETCH_MARK, Sections,
    VERSION, io_error, place_bits, slot_of,
};
use super::stretches;
use crate::store::schema::{CHUNKS, META};
use crate::vocab::error::{Error, Result, StorageContext};

/// What writing an index found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkIndexReport {
    /// Granules with chunks.
    pub granules: u64,
    /// Chunks copied.
    pub chunks: u64,
    /// Stretch images made.
    pub stretch_images: u64,
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
        let len = value.value().len() as u64;
        if len > MAX_CHUNK_LEN {
            return Err(Error::TooLarge {
                what: "a chunk in the chunk index",
                len,
            });
        }
        snaps.push(first);
        lengths.push(len);
    }
    // Then the data, each stretch of granules ordered by first snap, so that
    // the chunks a bulk read at one snap needs lie close together.
    let mut order: Vec<(u32, u64, i64, u64, usize)> = Vec::with_capacity(snaps.len());
    for (e, &(space, granule, first_chunk)) in entries.iter().enumerate() {
        let end = entries.get(e + 1).map_or(snaps.len(), |next| next.2 as usize);
        for (i, &first) in snaps.iter().enumerate().take(end).skip(first_chunk as usize) {
            order.push((space, granule / STRETCH_GRANULES, first, granule, i));
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
        if data_len > MAX_DATA_LEN {
            return Err(Error::TooLarge {
                what: "the chunks in the chunk index",
                len: data_len,
            });
        }
    }
    let stretch_marks = stretches::select(&chunks)?;
    let slots = (entries.len() as u64 * 2).next_power_of_two().max(1);
    let counts = Counts {
        granules: entries.len() as u64,
        chunks: snaps.len() as u64,
        data_len,
        slots,
        stretch_images: stretch_marks.len() as u64,
    };
    let sections =
        Sections::of(counts).ok_or_else(|| Error::corrupt(path.display().to_string(), "chunk index too large"))?;
    write(&mut out, &vec![0u8; sections.entries_at - HEADER - sections.data_len])?;
    for &(space, granule, first) in &entries {
        write(&mut out, &space.to_le_bytes())?;
        write(&mut out, &0u32.to_le_bytes())?;
        write(&mut out, &granule.to_le_bytes())?;
        write(&mut out, &first.to_le_bytes())?;
    }
    for (snap, &(offset, len)) in snaps.iter().zip(&places) {
        write(&mut out, &snap.to_le_bytes())?;
        write(&mut out, &place_bits(offset, len).to_le_bytes())?;
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
    write(
        &mut out,
        &vec![0u8; sections.stretch_marks_at - sections.slots_at - table.len() * 4],
    )?;
    // The marks once the images are made (which of them are whole), so a
    // place for them first.
    let mut stretch_marks = stretch_marks;
    write(&mut out, &vec![0u8; stretch_marks.len() * STRETCH_MARK])?;
    for mark in &mut stretch_marks {
        let (made, image) = stretches::make(&chunks, *mark)?;
        *mark = made;
        write(&mut out, &image)?;
    }
    out.seek(SeekFrom::Start(sections.stretch_marks_at as u64))
        .map_err(|e| io_error(&tmp, e))?;
    for mark in &stretch_marks {
        write(&mut out, &mark.to_bytes())?;
    }
    drop(chunks);
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&stamp);
    for n in [
        counts.granules,
        counts.chunks,
        counts.data_len,
        counts.slots,
        counts.stretch_images,
    ] {
        header.extend_from_slice(&n.to_le_bytes());
    }
    header.resize(HEADER, 0);
    out.seek(SeekFrom::Start(0)).map_err(|e| io_error(&tmp, e))?;
    write(&mut out, &header)?;
    let file = out.into_inner().map_err(|e| io_error(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| io_error(&tmp, e))?;
    drop_cached_pages(&file);
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
        stretch_images: counts.stretch_images,
        bytes: sections.len as u64,
    })
}

/// Drops the cached pages of the index just written and synced. Written
/// through `write`, its pages sit in the page cache 4 KiB at a time, and a
/// reader's mapping would map them so however it asks for huge pages;
/// dropped, they are read in again through the readers' mappings, which
/// ask for huge pages ([`super::read`]), in 2 MiB folios a process maps
/// with one page-table entry each: W1 as-of queries on a 1 GB index miss
/// the page tables less. Only advice: where it is refused or unknown, the
/// pages stay.
fn drop_cached_pages(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on a file descriptor `file` owns; it
        // changes no memory of this process.
        let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}
