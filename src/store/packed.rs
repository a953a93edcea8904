//! Packed records: the compressed forms that `pack` writes for history
//! chunks, event chunks and change buckets, and their decoders.
//!
//! A packed value is a zstd frame followed by a 12-byte trailer (all
//! integers little-endian):
//!
//! | offset from the end | bytes | field |
//! |---|---|---|
//! | -12 | 4 | CRC-32C of the frame |
//! | -8 | 4 | length of the decoded payload (at most [`MAX_PAYLOAD`]) |
//! | -4 | 1 | kind: 1 history chunk, 2 event chunk, 3 change bucket |
//! | -3 | 1 | packed-format version, 1 |
//! | -2 | 2 | magic `5A FF` |
//!
//! No unpacked value can end that way: an unpacked history or event chunk
//! is an rkyv archive whose last 4 bytes are the u32 length of its last
//! byte column (its top byte is 0xFF only for 4 GiB, past what a redb value
//! holds), and a change bucket ends with the
//! last byte of a LEB128 varint (below 0x80). Readers therefore tell the
//! two forms apart by the value alone, and a file holds both after appends
//! to a packed database (the writer always stores the unpacked form).
//!
//! A packed history chunk's payload is [`ChunkRecord`] with its fixed-width
//! columns turned into varints (see [`encode_chunk_payload`]); an event
//! chunk's payload is its rkyv archive, and a change bucket's its varints.

use std::cell::RefCell;

use crate::format::varint;
use crate::store::chunk::record::ChunkRecord;
use crate::vocab::error::{Error, Result};

/// Bytes of the trailer.
pub(crate) const TRAILER_BYTES: usize = 12;
/// The largest decoded payload a packed value may announce.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;
/// The zstd level `pack` compresses with (see FORMAT.md for the measurements
/// behind it).
pub(crate) const PACK_LEVEL: i32 = 15;

/// The zstd level the writer packs finished event chunks and change
/// buckets with: fast enough to stay off the recorder's critical path.
pub(crate) const WRITE_LEVEL: i32 = 3;

const VERSION: u8 = 1;
const MAGIC: [u8; 2] = [0x5a, 0xff];

/// What a packed value holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    HistoryChunk = 1,
    EventChunk = 2,
    ChangeBucket = 3,
}

/// The shorter of an unpacked and a packed form (the unpacked one on a tie:
/// it reads without decoding).
pub(crate) fn smaller(unpacked: Vec<u8>, packed: Vec<u8>) -> Vec<u8> {
    if packed.len() < unpacked.len() {
        packed
    } else {
        unpacked
    }
}

/// Whether `bytes` is a packed value (of any kind).
pub(crate) fn is_packed(bytes: &[u8]) -> bool {
    bytes.len() >= TRAILER_BYTES && bytes[bytes.len() - 2..] == MAGIC
}

/// The CRC-32C a packed value's trailer gives for its frame: with the
/// chunk's key, what the decoded-chunk cache knows a packed chunk by.
pub(crate) fn stored_crc(bytes: &[u8]) -> Option<u32> {
    is_packed(bytes).then(|| u32_le(&bytes[bytes.len() - TRAILER_BYTES..]))
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Compresses `payload` into a packed value of `kind` at `level`.
pub(crate) fn seal(kind: Kind, payload: &[u8], level: i32) -> Result<Vec<u8>> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::TooLarge {
            what: "a packed record",
            len: payload.len() as u64,
        });
    }
    let compressed = COMPRESSOR.with(|cell| -> std::io::Result<Vec<u8>> {
        let mut slot = cell.borrow_mut();
        let (compressor, at) = match slot.as_mut() {
            Some(found) => found,
            None => slot.insert((zstd::bulk::Compressor::new(level)?, level)),
        };
        if *at != level {
            compressor.set_compression_level(level)?;
            *at = level;
        }
        compressor.compress(payload)
    });
    let mut out = compressed.map_err(|e| Error::Io {
        path: "zstd".into(),
        source: e,
    })?;
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(kind as u8);
    out.push(VERSION);
    out.extend_from_slice(&MAGIC);
    Ok(out)
}

thread_local! {
    /// A compression context and its level, kept: setting one up costs
    /// more than compressing a change bucket.
    static COMPRESSOR: RefCell<Option<(zstd::bulk::Compressor<'static>, i32)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Checks and decompresses a packed value of `kind`. `place` names the
/// record in error messages.
pub(crate) fn open(kind: Kind, bytes: &[u8], place: &dyn Fn() -> String) -> Result<Vec<u8>> {
    let bad = |what: String| Error::corrupt(place(), format!("packed record: {what}"));
    if !is_packed(bytes) {
        return Err(bad("no packed trailer".into()));
    }
    let (frame, trailer) = bytes.split_at(bytes.len() - TRAILER_BYTES);
    let (found_kind, version) = (trailer[8], trailer[9]);
    if found_kind != kind as u8 {
        return Err(bad(format!("holds kind {found_kind}, not {}", kind as u8)));
    }
    if version != VERSION {
        return Err(bad(format!(
            "packed-format version {version} (this build reads {VERSION})"
        )));
    }
    let len = u32_le(&trailer[4..8]) as usize;
    if len > MAX_PAYLOAD {
        return Err(bad(format!("announces {len} decoded bytes (at most {MAX_PAYLOAD})")));
    }
    if crc32c::crc32c(frame) != u32_le(&trailer[0..4]) {
        return Err(bad("checksum mismatch".into()));
    }
    let decoded = DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
        }
        let decompressor = slot.as_mut().ok_or_else(|| "no decompressor".to_string())?;
        decompressor.decompress(frame, len).map_err(|e| e.to_string())
    });
    let decoded = decoded.map_err(|e| bad(format!("undecodable frame: {e}")))?;
    if decoded.len() != len {
        return Err(bad(format!("{} decoded bytes, {len} announced", decoded.len())));
    }
    Ok(decoded)
}

/// Packs a history chunk at `level`.
pub(crate) fn pack_chunk(record: &ChunkRecord, level: i32) -> Result<Vec<u8>> {
    seal(Kind::HistoryChunk, &encode_chunk_payload(record), level)
}

/// Decodes a packed history chunk.
pub(crate) fn unpack_chunk(bytes: &[u8], place: &dyn Fn() -> String) -> Result<ChunkRecord> {
    decode_chunk_payload(&open(Kind::HistoryChunk, bytes, place)?, place)
}

/// The payload of a packed history chunk, all varints LEB128:
///
/// - `first_snap`, zigzag;
/// - the checkpoint's five columns (`known`, `error`, `values`,
///   `known_snaps`, `error_snaps`), each as its length and its bytes;
/// - the number of deltas `n`;
/// - `n` snap offsets as gaps: the first from `first_snap`, each next from
///   the one before;
/// - per delta, its number of runs and its number of data bytes;
/// - the runs column (3 bytes a run, as in [`ChunkRecord::runs`]);
/// - the data column.
pub(crate) fn encode_chunk_payload(record: &ChunkRecord) -> Vec<u8> {
    let view = record.view();
    let n = view.delta_count();
    let mut out = Vec::with_capacity(record.runs.len() + record.data.len() + 4 * n + 64);
    varint::put(&mut out, varint::zigzag(record.first_snap));
    let cp = &record.checkpoint;
    for column in [&cp.known, &cp.error, &cp.values, &cp.known_snaps, &cp.error_snaps] {
        varint::put(&mut out, column.len() as u64);
        out.extend_from_slice(column);
    }
    varint::put(&mut out, n as u64);
    let mut previous = 0u64;
    for i in 0..n {
        let offset = view.delta_snap(i).abs_diff(record.first_snap);
        varint::put(&mut out, offset.wrapping_sub(previous));
        previous = offset;
    }
    for i in 0..n {
        let ((runs_before, data_before), (runs, data)) = (view.ends(i), view.ends(i + 1));
        varint::put(&mut out, runs.wrapping_sub(runs_before) as u64);
        varint::put(&mut out, data.wrapping_sub(data_before) as u64);
    }
    out.extend_from_slice(&record.runs);
    out.extend_from_slice(&record.data);
    out
}

/// Decodes [`encode_chunk_payload`]'s bytes, checking every length (the
/// deltas themselves are checked when read, as an unpacked chunk's are).
pub(crate) fn decode_chunk_payload(bytes: &[u8], place: &dyn Fn() -> String) -> Result<ChunkRecord> {
    let bad = |what: &str| Error::corrupt(place(), format!("packed chunk: {what}"));
    let mut at = 0usize;
    let next = |at: &mut usize, what: &str| varint::get(bytes, at).ok_or_else(|| bad(what));
    let first_snap = varint::unzigzag(next(&mut at, "first snap")?);
    let mut columns: [Vec<u8>; 5] = Default::default();
    for column in &mut columns {
        let len = next(&mut at, "column length")?;
        let end = at_plus(at, len).filter(|&end| end <= bytes.len());
        let end = end.ok_or_else(|| bad("checkpoint column past the end"))?;
        column.extend_from_slice(&bytes[at..end]);
        at = end;
    }
    let n = next(&mut at, "delta count")?;
    // Every delta takes at least 3 bytes (its gap and two lengths).
    if n > bytes.len() as u64 {
        return Err(bad("more deltas than bytes"));
    }
    let n = n as usize;
    let mut record = ChunkRecord::new(first_snap, Default::default());
    let [known, error, values, known_snaps, error_snaps] = columns;
    record.checkpoint.known = known;
    record.checkpoint.error = error;
    record.checkpoint.values = values;
    record.checkpoint.known_snaps = known_snaps;
    record.checkpoint.error_snaps = error_snaps;
    let mut offset = 0u64;
    record.delta_snaps.reserve(4 * n);
    for i in 0..n {
        let gap = next(&mut at, "snap gap")?;
        offset = offset
            .checked_add(gap)
            .filter(|&o| o <= u64::from(u32::MAX) && (i == 0 || gap > 0))
            .ok_or_else(|| bad("snap offsets not increasing within 32 bits"))?;
        record.delta_snaps.extend_from_slice(&(offset as u32).to_le_bytes());
    }
    let (mut runs, mut data) = (0u64, 0u64);
    record.delta_ends.reserve(4 * n);
    for _ in 0..n {
        runs = runs.saturating_add(next(&mut at, "run count")?);
        data = data.saturating_add(next(&mut at, "data length")?);
        if runs > u64::from(u16::MAX) || data > u64::from(u16::MAX) {
            return Err(bad("delta ends past 16 bits"));
        }
        record.delta_ends.extend_from_slice(&(runs as u16).to_le_bytes());
        record.delta_ends.extend_from_slice(&(data as u16).to_le_bytes());
    }
    let runs_len = runs as usize * 3;
    if bytes.len() - at != runs_len + data as usize {
        return Err(bad("runs and data columns of the wrong length"));
    }
    record.runs = bytes[at..at + runs_len].to_vec();
    record.data = bytes[at + runs_len..].to_vec();
    Ok(record)
}

fn at_plus(at: usize, len: u64) -> Option<usize> {
    usize::try_from(len).ok().and_then(|len| at.checked_add(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunk::{CheckpointRecord, OwnedRun};

    fn sample() -> ChunkRecord {
        let mut record = ChunkRecord::new(1000, CheckpointRecord::default());
        for i in 0..300u32 {
            let first = (i * 7) % 250;
            let runs = vec![
                OwnedRun {
                    first,
                    last: first + 3,
                    data: Some(vec![i as u8, 1, 2, 3]),
                },
                OwnedRun {
                    first: first + 5,
                    last: first + 5,
                    data: None,
                },
            ];
            record.push_delta(1000 + i64::from(i) * 3 + 1, &runs);
        }
        record
    }

    #[test]
    fn a_chunk_survives_packing() {
        let record = sample();
        let packed = pack_chunk(&record, 3).unwrap();
        assert!(is_packed(&packed));
        assert!(!is_packed(&record.to_bytes().unwrap()));
        assert!(packed.len() < record.to_bytes().unwrap().len() / 2);
        assert_eq!(unpack_chunk(&packed, &|| "t".into()).unwrap(), record);
    }

    #[test]
    fn damage_is_an_error() {
        let packed = pack_chunk(&sample(), 3).unwrap();
        let place = || "t".to_string();
        for i in 0..packed.len() {
            let mut bad = packed.clone();
            bad[i] ^= 0x10;
            // Whatever byte is hit: an error, or (for the trailer's kind or
            // magic) not a packed chunk at all; never a panic or a wrong record.
            if let Ok(record) = unpack_chunk(&bad, &place) {
                panic!("byte {i}: decoded {} deltas from damage", record.delta_count());
            }
        }
        let mut wrong_kind = packed.clone();
        let k = wrong_kind.len() - 4;
        wrong_kind[k] = Kind::EventChunk as u8;
        let e = unpack_chunk(&wrong_kind, &place).unwrap_err().to_string();
        assert!(e.contains("kind 2"), "{e}");
    }

    #[test]
    fn payload_lengths_are_checked() {
        let payload = encode_chunk_payload(&sample());
        let place = || "t".to_string();
        for cut in [0, 1, 10, payload.len() / 2, payload.len() - 1] {
            assert!(decode_chunk_payload(&payload[..cut], &place).is_err(), "cut at {cut}");
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(decode_chunk_payload(&longer, &place).is_err());
    }

    #[test]
    fn unpacked_values_never_look_packed() {
        assert!(!is_packed(&ChunkRecord::default().to_bytes().unwrap()));
        // The layout the trailer relies on: an archive ends with the length
        // of its last column.
        let record = sample();
        let bytes = record.to_bytes().unwrap();
        assert_eq!(u32_le(&bytes[bytes.len() - 4..]) as usize, record.data.len());
    }
}
