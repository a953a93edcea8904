//! **Unstable; for the fuzz targets in `fuzz/` only.** Entry points that
//! feed arbitrary bytes to the crate-private decoders of on-disk records
//! (FORMAT.md): history chunks, event chunks, change buckets, snap
//! metadata, capture records, journal payloads, region and register
//! records, register tracks and their tails, and chunk index files. Each
//! decodes everything it is given and walks every part a reader could
//! reach; bad bytes are an `Err`, never a panic.
//!
//! Where a record has two decoders that must agree (a history chunk is read
//! per byte by point reads, whole by images, and a word at a time by bulk
//! reads), or an encoder that must give the decoded value back, the
//! functions compare them and list every disagreement in their `Ok` answer:
//! a disagreement is a bug of tracemem, not of the input, and the fuzz
//! targets fail on it. Nothing here is part of the stable API: names,
//! signatures and answers change without notice.

use std::collections::BTreeSet;

pub use crate::store::schema::{CHUNKS_TABLE, ChunkKey};

use crate::store::chunk::{ByteAsOf, ChunkView, GRANULE, GranuleImage, Need, mask_has};
use crate::vocab::error::Result;
use crate::vocab::types::{MemState, Snap};

/// What decoding a record found: how many parts it walked, and each
/// disagreement between two decoders (or a decoder and its encoder) on
/// bytes that both accepted. An empty `disagreements` is the only correct
/// answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The parts decoded: deltas, events, entries, fields.
    pub parts: usize,
    /// What two decoders answered differently, one line each.
    pub disagreements: Vec<String>,
}

fn place() -> String {
    "fuzz input".to_string()
}

/// The most snaps a chunk is read at, so that one input stays fast.
const MAX_PROBE_SNAPS: usize = 24;

/// Decodes `data` as the record kind its first byte picks (the rest is the
/// record; change buckets and regions start with their key's `i64`), by
/// the functions below: what the `records` fuzz target runs.
pub fn decode_record(data: &[u8]) -> Result<Decoded> {
    let Some((&kind, bytes)) = data.split_first() else {
        return Ok(Decoded::default());
    };
    let keyed = || -> Option<(i64, &[u8])> {
        let (key, value) = bytes.split_at_checked(8)?;
        Some((i64::from_le_bytes(key.try_into().ok()?), value))
    };
    match kind % 13 {
        12 => decode_chunk_index(bytes),
        0 => decode_chunk(bytes),
        8 => decode_packed_chunk_payload(bytes),
        1 => decode_event_chunk(bytes),
        2 => keyed().map_or_else(|| Ok(Decoded::default()), |(b, v)| decode_change_bucket(b, v)),
        3 => decode_snap_meta(bytes),
        4 => decode_capture(bytes),
        5 => decode_journal_payload(bytes),
        6 => keyed().map_or_else(|| Ok(Decoded::default()), |(f, v)| decode_region(f, ".text", v)),
        9 => decode_bus_register(bytes),
        10 => decode_track(bytes),
        11 => decode_track_tail(bytes),
        _ => decode_register("r0", bytes),
    }
}

/// Reads `bytes` as a chunk index file (FORMAT.md, "The chunk index") every
/// way the readers do: each granule entry, found again through the hash
/// table, its latest chunk and first chunk at a spread of snaps, and the
/// granules of each space in both directions, which must list the same
/// runs, and the stretch images around the first granules. A granule the
/// hash finds with another run, the two directions disagreeing, or a
/// stretch image cut short, on bytes that were accepted, is a disagreement.
pub fn decode_chunk_index(bytes: &[u8]) -> Result<Decoded> {
    use crate::store::chunk::STRETCH_GRANULES;
    use crate::store::chunk_index::ChunkIndex;
    let index = ChunkIndex::held(std::path::Path::new("fuzz input"), bytes.to_vec())?;
    let mut decoded = Decoded::default();
    let mut entries = Vec::new();
    index.for_each_entry(&mut |space, run| {
        entries.push((space, run));
        Ok(())
    })?;
    let probes = [Snap::MIN, -1, 0, 1, 7, 1000, Snap::MAX];
    for &(space, run) in entries.iter().take(MAX_PROBE_SNAPS * 4) {
        decoded.parts += 1;
        if let Some(found) = index.granule(space, run.granule)?
            && found.granule != run.granule
        {
            decoded
                .disagreements
                .push(format!("granule {:#x} found as {:#x}", run.granule, found.granule));
        }
        for (&lo, &hi) in probes.iter().zip(&probes[1..]) {
            // Snaps out of order within a run are bad input; a chunk
            // outside the snaps asked for is a disagreement.
            if let Some((first, chunk, _)) = index.latest(run, lo, hi)? {
                decoded.parts += chunk.len().min(1);
                if first < lo || first > hi {
                    decoded
                        .disagreements
                        .push(format!("latest in [{lo}, {hi}] is at {first}"));
                }
            }
            let _ = index.first_from(run, lo, hi);
        }
    }
    // The stretch images of the stretches the first granules lie in, at a
    // spread of snaps: each one whole, or none.
    for &(space, run) in entries.iter().take(MAX_PROBE_SNAPS) {
        for &snap in &probes {
            if let Some(image) = index.stretch_image(space, run.granule / STRETCH_GRANULES, snap)? {
                decoded.parts += 1;
                let granules = STRETCH_GRANULES as usize;
                if image.values.len() != granules * GRANULE as usize
                    || image.valued.len() != granules
                    || image.known_now.len() != granules
                {
                    decoded
                        .disagreements
                        .push(format!("stretch image of granule {:#x} cut short", run.granule));
                }
            }
        }
    }
    let spaces: BTreeSet<u32> = entries.iter().map(|&(space, _)| space).collect();
    for space in spaces.into_iter().take(4) {
        let mut up = Vec::new();
        let mut down = Vec::new();
        index.for_each_granule(space, (0, u64::MAX), false, &mut |run| {
            up.push(run);
            Ok(up.len() < 4096)
        })?;
        index.for_each_granule(space, (0, u64::MAX), true, &mut |run| {
            down.push(run);
            Ok(down.len() < 4096)
        })?;
        down.reverse();
        if up.len() < 4096 && up != down {
            decoded
                .disagreements
                .push(format!("space {space}: {} granules up, {} down", up.len(), down.len()));
        }
    }
    Ok(decoded)
}

/// Decodes a history chunk (the value of a `history_chunks` row) and reads
/// it every way the readers do: every delta and its runs, the checkpoint
/// both ways, and at a spread of snaps the whole granule by
/// `ChunkView::image`, by `ChunkView::fill_image` and by
/// `ChunkView::resolve` over several ranges, which must agree.
pub fn decode_chunk(bytes: &[u8]) -> Result<Decoded> {
    let unpacked;
    let view = if crate::store::packed::is_packed(bytes) {
        unpacked = crate::store::packed::unpack_chunk(bytes, &place)?;
        unpacked.view()
    } else {
        ChunkView::of_bytes(bytes, &place)?
    };
    read_every_way(&view)
}

/// Decodes the payload of a packed history chunk (what its zstd frame holds,
/// past the checksum that keeps arbitrary frames from reaching it) and reads
/// the chunk as [`decode_chunk`] does.
pub fn decode_packed_chunk_payload(bytes: &[u8]) -> Result<Decoded> {
    let record = crate::store::packed::decode_chunk_payload(bytes, &place)?;
    let again = crate::store::packed::encode_chunk_payload(&record);
    let mut out = read_every_way(&record.view())?;
    if crate::store::packed::decode_chunk_payload(&again, &place)? != record {
        out.disagreements
            .push("a decoded payload does not survive encoding again".to_string());
    }
    Ok(out)
}

/// The payload of a packed history chunk (checked and decompressed): how
/// the seed corpus makes inputs for [`decode_packed_chunk_payload`].
pub fn packed_chunk_payload(bytes: &[u8]) -> Result<Vec<u8>> {
    crate::store::packed::open(crate::store::packed::Kind::HistoryChunk, bytes, &place)
}

/// Reads a chunk every way the readers do (see [`decode_chunk`]).
fn read_every_way(view: &ChunkView<'_>) -> Result<Decoded> {
    let mut out = Decoded::default();
    for i in 0..view.delta_count() {
        let delta = view.delta(i, &place)?;
        for run in delta.runs() {
            out.parts += 1;
            if run.first > run.last || run.last >= GRANULE {
                out.disagreements
                    .push(format!("delta {i}: a validated run [{}, {}]", run.first, run.last));
            }
        }
        out.parts += 1;
    }
    view.checkpoint(&place)?.to_image(&place)?;
    // The snaps worth reading at: before the chunk, at and just before each
    // delta, and the end of the chunk's side of the timeline.
    let first = view.first_snap;
    let end = if first < 0 { -1 } else { Snap::MAX };
    let mut snaps = BTreeSet::from([first, end]);
    for i in 0..view.delta_count() {
        let snap = view.delta_snap(i);
        snaps.insert(snap);
        snaps.insert(snap.saturating_sub(1).max(first));
    }
    let step = snaps.len().div_ceil(MAX_PROBE_SNAPS).max(1);
    for snap in snaps.into_iter().step_by(step) {
        if (snap < 0) != (first < 0) {
            continue;
        }
        compare_reads(view, snap, &mut out)?;
    }
    Ok(out)
}

/// Reads the granule at `snap` three ways and records any difference.
fn compare_reads(view: &ChunkView<'_>, snap: Snap, out: &mut Decoded) -> Result<()> {
    let image = view.image(snap, &place);
    let mut filled = GranuleImage::default();
    let fill = view.fill_image(snap, &mut filled, &place);
    let mut resolved = vec![ByteAsOf::default(); GRANULE as usize];
    let resolve = view.resolve(snap, 0, &mut resolved, Need::BOTH, &place);
    // A read may stop before the damage another read runs into: compare
    // only what both accepted.
    let Ok(image) = image else { return Ok(()) };
    if resolve.is_ok() && resolved != image {
        let at = (0..resolved.len()).find(|&p| resolved[p] != image[p]).unwrap_or(0);
        out.disagreements.push(format!(
            "snap {snap}, position {at}: resolve gives {:?}, image {:?}",
            resolved.get(at),
            image.get(at)
        ));
    }
    if fill.is_ok() {
        for (pos, byte) in image.iter().enumerate() {
            let valued = mask_has(&filled.valued, pos);
            let recorded = mask_has(&filled.recorded, pos);
            let known_now = mask_has(&filled.known_now, pos);
            let same = valued == byte.known.is_some()
                && recorded == byte.record.is_some()
                && known_now == matches!(byte.record, Some((MemState::Known, _)))
                && (!valued || filled.values.get(pos) == Some(&byte.value));
            if !same {
                out.disagreements.push(format!(
                    "snap {snap}, position {pos}: fill_image gives valued {valued} recorded {recorded} known {known_now} value {:?}, image {byte:?}",
                    filled.values.get(pos)
                ));
                break;
            }
        }
    }
    // Narrow point reads skip deltas by their first and last run.
    for (lo, hi) in [(0u32, 0u32), (7, 9), (100, 199), (255, 255)] {
        let mut part = vec![ByteAsOf::default(); (hi - lo + 1) as usize];
        if view.resolve(snap, lo, &mut part, Need::BOTH, &place).is_ok()
            && image.get(lo as usize..=hi as usize) != Some(&part[..])
        {
            out.disagreements
                .push(format!("snap {snap}: resolve of [{lo}, {hi}] differs from the image"));
        }
        let mut known = vec![ByteAsOf::default(); part.len()];
        if view.resolve(snap, lo, &mut known, Need::KNOWN, &place).is_ok() {
            let differs = known
                .iter()
                .zip(&image[lo as usize..=hi as usize])
                .any(|(k, i)| k.known != i.known || k.known.is_some() && k.value != i.value);
            if differs {
                out.disagreements
                    .push(format!("snap {snap}: known-only resolve of [{lo}, {hi}] differs"));
            }
        }
    }
    Ok(())
}

/// Decodes an event chunk (the value of an `events` row), then encodes the
/// events again: the new chunk must decode to the same events.
pub fn decode_event_chunk(bytes: &[u8]) -> Result<Decoded> {
    use crate::store::events::EventChunkRecord;
    let record = EventChunkRecord::from_bytes(bytes, &place)?;
    let events = record.decode(&place)?;
    let mut out = Decoded {
        parts: events.len(),
        ..Decoded::default()
    };
    let mut again = EventChunkRecord::default();
    again.push(&events, None);
    let back = EventChunkRecord::from_bytes(&again.to_bytes()?, &place)?.decode(&place)?;
    let key = |e: &crate::store::events::LoggedEvent| {
        (
            e.snap,
            e.op,
            e.address,
            e.width,
            e.has_width,
            e.timestamp.to_bits(),
            e.exception,
            e.error.clone(),
        )
    };
    if let Some(i) = (0..events.len()).find(|&i| back.get(i).map(key) != events.get(i).map(key)) {
        out.disagreements.push(format!(
            "event {i}: decoded {:?}, re-encoded and decoded {:?}",
            events.get(i),
            back.get(i)
        ));
    } else if back.len() != events.len() {
        out.disagreements
            .push(format!("{} events re-encoded as {}", events.len(), back.len()));
    }
    Ok(out)
}

/// Decodes change bucket `bucket` (the value of a `changes` row); its
/// entries encoded again must decode to the same entries.
pub fn decode_change_bucket(bucket: i64, bytes: &[u8]) -> Result<Decoded> {
    use crate::store::changes::{decode_bucket, encode_bucket};
    let entries = decode_bucket(bucket, bytes, &place)?;
    let mut out = Decoded {
        parts: entries.len(),
        ..Decoded::default()
    };
    match decode_bucket(bucket, &encode_bucket(bucket, &entries), &place) {
        Ok(again) if again == entries => {}
        Ok(again) => out.disagreements.push(format!("{entries:?} re-encoded as {again:?}")),
        Err(e) => out
            .disagreements
            .push(format!("{entries:?} re-encoded undecodably: {e}")),
    }
    Ok(out)
}

/// Decodes the metadata of a snap (the value of a `snaps` row), which
/// encoded again must decode to the same.
pub fn decode_snap_meta(bytes: &[u8]) -> Result<Decoded> {
    use crate::store::snaps::{decode, encode};
    let meta = decode(0, bytes)?;
    let mut out = Decoded {
        parts: 1,
        ..Decoded::default()
    };
    if decode(0, &encode(&meta)?)? != meta {
        out.disagreements.push(format!("{meta:?} does not round-trip"));
    }
    Ok(out)
}

/// Decodes a capture record (the value of a `captures` row).
pub fn decode_capture(bytes: &[u8]) -> Result<Decoded> {
    use crate::store::events::CaptureRecord;
    let record = CaptureRecord::from_bytes(bytes, &place)?;
    let mut out = Decoded {
        parts: 1,
        ..Decoded::default()
    };
    if CaptureRecord::from_bytes(&record.to_bytes()?, &place)? != record {
        out.disagreements.push(format!("{record:?} does not round-trip"));
    }
    Ok(out)
}

/// Decodes the payload of a journal record (an event or a mark), which
/// encoded again must decode to the same.
pub fn decode_journal_payload(bytes: &[u8]) -> Result<Decoded> {
    use crate::journal::entry::JournalEntry;
    let entry = JournalEntry::decode(bytes, &place)?;
    let mut out = Decoded {
        parts: 1,
        ..Decoded::default()
    };
    let mut again = Vec::new();
    entry.encode(&mut again);
    match JournalEntry::decode(&again, &place) {
        Ok(back) if format!("{back:?}") == format!("{entry:?}") => {}
        other => out
            .disagreements
            .push(format!("{entry:?} re-encoded decodes as {other:?}")),
    }
    Ok(out)
}

/// Decodes a region record of region `name` from snap `first` (the value
/// of a `regions` row), which encoded again must decode to the same.
pub fn decode_region(first: Snap, name: &str, bytes: &[u8]) -> Result<Decoded> {
    let record = crate::store::regions::decode(0, name, first, bytes)?;
    let mut out = Decoded {
        parts: 1,
        ..Decoded::default()
    };
    let again = crate::store::regions::encode(&record);
    if crate::store::regions::decode(0, name, first, &again)? != record {
        out.disagreements.push(format!("{record:?} does not round-trip"));
    }
    Ok(out)
}

/// Decodes the definition of register `name` (the value of a
/// `register_map` row), which encoded again must decode to the same.
pub fn decode_register(name: &str, bytes: &[u8]) -> Result<Decoded> {
    let def = crate::store::regmap::decode(name, bytes)?;
    let mut out = Decoded {
        parts: 1,
        ..Decoded::default()
    };
    // A map of one register checks its own rules; an error is fine.
    let _ = crate::vocab::register::RegisterMap::new([def.clone()]);
    if crate::store::regmap::decode(name, &crate::store::regmap::encode(&def))? != def {
        out.disagreements.push(format!("{def:?} does not round-trip"));
    }
    Ok(out)
}

/// Decodes a bus register (the value of a `bus_registers` row), which
/// encoded again must decode to the same.
pub fn decode_bus_register(bytes: &[u8]) -> Result<Decoded> {
    let register = crate::store::busmap::decode(0, 0x4000_0000, bytes)?;
    let mut out = Decoded {
        parts: 1 + register.fields.len(),
        ..Decoded::default()
    };
    // A map of one register checks its own rules; an error is fine.
    let _ = crate::vocab::bus_map::BusMap::new([register.clone()]);
    if crate::store::busmap::decode(0, 0x4000_0000, &crate::store::busmap::encode(&register))? != register {
        out.disagreements.push(format!("{register:?} does not round-trip"));
    }
    Ok(out)
}

/// Decodes a register track record (an `event_tracks` value): every block's
/// stream against its summary, and the record rebuilt from what was
/// decoded must decode the same.
pub fn decode_track(bytes: &[u8]) -> Result<Decoded> {
    use crate::store::tracks::{TrackRecord, TrackView};
    let view = TrackView::parse(bytes, &place)?;
    let events = view.check(&place)?;
    let mut out = Decoded {
        parts: events.len(),
        ..Decoded::default()
    };
    let again = TrackRecord::from_view(&view, &place)?.encode();
    if TrackView::parse(&again, &place)?.check(&place)? != events {
        out.disagreements
            .push("a track re-encoded decodes to other events".to_string());
    }
    // Appending after a stored record goes on from where it stands.
    let mut record = TrackRecord::from_view(&view, &place)?;
    let next = (events.last().map_or(0.0, |e| e.0) + 1e-6, Some(7));
    record.push(next.0, next.1);
    let grown = record.encode();
    let decoded = TrackView::parse(&grown, &place)?.check(&place)?;
    if decoded.last() != Some(&next) || decoded[..decoded.len() - 1] != events[..] {
        out.disagreements
            .push("an event appended to a stored track decodes otherwise".to_string());
    }
    Ok(out)
}

/// Decodes a track tail (a `track_tails` value) and each track in it, and a
/// builder resumed from it must store the same tail again.
pub fn decode_track_tail(bytes: &[u8]) -> Result<Decoded> {
    use crate::store::tracks::{TailView, TrackBuilder, TrackView};
    let tail = TailView::parse(bytes, &place)?;
    let mut out = Decoded::default();
    for (_, track) in &tail.tracks {
        out.parts += TrackView::parse(track, &place)?.check(&place)?.len();
    }
    let mut builder = TrackBuilder::default();
    builder.resume(&tail, &place)?;
    let decoded = |tail: &TailView<'_>| -> Result<Vec<(u64, Vec<(f64, Option<u64>)>)>> {
        tail.tracks
            .iter()
            .map(|(address, track)| Ok((*address, TrackView::parse(track, &place)?.check(&place)?)))
            .collect()
    };
    let again = builder.tail().unwrap_or_default();
    match TailView::parse(&again, &place) {
        Ok(back) if (back.group, back.events) == (tail.group, tail.events) && decoded(&back)? == decoded(&tail)? => {}
        _ => out
            .disagreements
            .push("a resumed builder stores another tail".to_string()),
    }
    Ok(out)
}

/// The track records a tail holds (what the seed corpus takes its track
/// records from).
pub fn tracks_of_tail(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let tail = crate::store::tracks::TailView::parse(bytes, &place)?;
    Ok(tail.tracks.iter().map(|(_, t)| t.to_vec()).collect())
}
