//! Converting the tables of a file of an older format (1 or 2) into a new,
//! empty file of this build's format (3), record by record, in batches of
//! bounded size (the storage half of `tracemem upgrade`).
//!
//! What changes on the way (FORMAT.md, "Versioning"):
//! - format 1's history chunks move from `granule_chunks` (little-endian
//!   tuple keys) to `history_chunks`, the records unchanged;
//! - a capture record gains the snap of its last event;
//! - an event chunk gains the snaps of its events (format 2 derived them
//!   from the capture's first snap and the sequence number).
//!
//! Every other record is copied unchanged.

use std::collections::HashMap;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use rkyv::{Archive, Deserialize};

use crate::store::compact::has_table;
use crate::store::events::{CaptureRecord, EventChunkRecord};
use crate::store::packed;
use crate::store::schema::{
    CAPTURE_IDS, CAPTURES, CHANGES, CHUNKS, CHUNKS_FORMAT_1, EVENTS, FORMAT_VERSION, META, META_FORMAT, REGIONS,
    REGISTER_MAP, SNAP_FORKS, SNAPS, SPACE_IDS, SPACE_NAMES,
};
use crate::vocab::error::{Error, Result, StorageContext};

/// About how many bytes a batch writes before it commits: what bounds the
/// memory of a conversion, whatever the size of the file.
const BATCH_BYTES: usize = 32 << 20;

/// A capture record of formats 1 and 2.
#[derive(Archive, Deserialize, Debug)]
struct CaptureRecordV2 {
    name: String,
    space: String,
    big_endian: bool,
    start_wall_ns: i64,
    policy: String,
    first_snap: i64,
    events: u64,
}

/// An event chunk of formats 1 and 2: format 3's without the snaps.
#[derive(Archive, Deserialize, Debug)]
struct EventChunkRecordV2 {
    flags: Vec<u8>,
    addresses: Vec<u8>,
    address_index: Vec<u8>,
    time_steps: Vec<u8>,
    raw_times: Vec<u8>,
    exceptions: Vec<u8>,
    errors: Vec<u8>,
}

/// Converts every table of `src`, a file of format `format`, into `dst`, a
/// new file. `progress(done, total)` counts the history and event chunks.
/// Returns how many records were written.
pub(crate) fn convert(
    src: &redb::ReadTransaction,
    format: u32,
    dst: &redb::Database,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let mut written = 0u64;
    let history = match format {
        1 => CHUNKS_FORMAT_1.name(),
        _ => CHUNKS.name(),
    };
    let total = count(src, history)? + count(src, EVENTS.name())?;
    let mut done = 0u64;

    // The tables copied as they are (format 3 keeps their records).
    written += copy(src, dst, META, &mut |key, value, to| {
        let value = if key == META_FORMAT {
            FORMAT_VERSION.to_le_bytes().to_vec()
        } else {
            value.to_vec()
        };
        to.insert(key, value.as_slice()).map(|_| value.len())
    })?;
    written += copy_unchanged(src, dst, SPACE_IDS)?;
    written += copy_unchanged(src, dst, SPACE_NAMES)?;
    written += copy_unchanged(src, dst, CAPTURE_IDS)?;
    // Tables that files written before them do not have.
    if has_table(src, REGISTER_MAP.name())? {
        written += copy_unchanged(src, dst, REGISTER_MAP)?;
    }
    if has_table(src, REGIONS.name())? {
        written += copy_unchanged(src, dst, REGIONS)?;
    }
    written += copy_unchanged(src, dst, SNAPS)?;
    // The fork index (added within format 3), from the snaps' metadata.
    let snaps = src.open_table(SNAPS).context("upgrading: indexing forks")?;
    let mut rows = snaps.iter().context("upgrading: indexing forks")?;
    in_batches(dst, SNAP_FORKS, &mut |to| loop {
        let Some(entry) = rows.next() else {
            return Ok(None);
        };
        let (key, value) = entry.context("upgrading: indexing forks")?;
        let snap = key.value();
        if let Some(parent) = crate::store::snaps::decode(snap, value.value())?.fork_parent(snap) {
            to.insert(snap, parent).context("upgrading: indexing forks")?;
            written += 1;
            return Ok(Some(32));
        }
    })?;
    written += copy_unchanged(src, dst, CHANGES)?;

    // Captures gain their last snap; their first snaps place the events'.
    let mut first_snaps = HashMap::new();
    let captures = src.open_table(CAPTURES).context("upgrading: reading captures")?;
    let mut converted = Vec::new();
    for entry in captures.iter().context("upgrading: reading captures")? {
        let (key, value) = entry.context("upgrading: reading captures")?;
        let id = key.value();
        let old = old_capture(value.value(), id)?;
        first_snaps.insert(id, old.first_snap);
        converted.push((
            id,
            CaptureRecord {
                last_snap: old.first_snap.saturating_add_unsigned(old.events) - 1,
                name: old.name,
                space: old.space,
                big_endian: old.big_endian,
                start_wall_ns: old.start_wall_ns,
                policy: old.policy,
                first_snap: old.first_snap,
                events: old.events,
            },
        ));
    }
    {
        let txn = begin(dst)?;
        {
            let mut to = txn.open_table(CAPTURES).context("upgrading: writing captures")?;
            for (id, record) in &converted {
                to.insert(*id, record.to_bytes()?.as_slice())
                    .context("upgrading: writing captures")?;
                written += 1;
            }
        }
        txn.commit().context("upgrading: committing captures")?;
    }

    // The event log, each chunk with its events' snaps.
    let events = src.open_table(EVENTS).context("upgrading: reading events")?;
    let mut rows = events.iter().context("upgrading: reading events")?;
    in_batches(dst, EVENTS, &mut |to| {
        let Some(entry) = rows.next() else {
            return Ok(None);
        };
        let (key, value) = entry.context("upgrading: reading events")?;
        let (capture, first) = key.value();
        let place = || format!("events table, capture {capture}, chunk at event {first}");
        let first_snap = *first_snaps
            .get(&capture)
            .ok_or_else(|| Error::corrupt(place(), "a chunk of no capture"))?;
        let chunk = event_chunk(value.value(), first_snap.saturating_add_unsigned(first), &place)?;
        // Decoded, so that an upgrade never copies damage.
        chunk.decode(&place)?;
        // At the writer's level: `pack`'s would take most of the upgrade's
        // time; a pack afterwards makes them as small as ever.
        let bytes = chunk.to_stored(packed::WRITE_LEVEL)?;
        to.insert((capture, first), bytes.as_slice())
            .context("upgrading: writing events")?;
        done += 1;
        progress(done, total);
        Ok(Some(bytes.len()))
    })?;
    drop(rows);
    written += events.len().context("upgrading: counting events")?;

    // The history chunks, unchanged (format 1: under their new keys).
    let moved = match format {
        1 => copy_chunks(src, dst, CHUNKS_FORMAT_1, &mut done, total, progress)?,
        _ => copy_chunks(src, dst, CHUNKS, &mut done, total, progress)?,
    };
    Ok(written + moved)
}

/// Copies the history chunks of `table` into [`CHUNKS`], in batches.
fn copy_chunks<K: redb::Key + 'static>(
    src: &redb::ReadTransaction,
    dst: &redb::Database,
    table: TableDefinition<K, &'static [u8]>,
    done: &mut u64,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64>
where
    for<'a> K::SelfType<'a>: Into<(u32, u64, i64)>,
{
    let from = src.open_table(table).context("upgrading: reading history chunks")?;
    let mut rows = from.iter().context("upgrading: reading history chunks")?;
    let mut moved = 0u64;
    in_batches(dst, CHUNKS, &mut |to| {
        let Some(entry) = rows.next() else {
            return Ok(None);
        };
        let (key, value) = entry.context("upgrading: reading history chunks")?;
        let key: (u32, u64, i64) = key.value().into();
        to.insert(key, value.value())
            .context("upgrading: writing history chunks")?;
        moved += 1;
        *done += 1;
        if moved.is_multiple_of(4096) {
            progress(*done, total);
        }
        Ok(Some(value.value().len()))
    })?;
    progress(*done, total);
    Ok(moved)
}

/// A format-2 capture record, decoded.
fn old_capture(bytes: &[u8], id: u32) -> Result<CaptureRecordV2> {
    rkyv::from_bytes::<CaptureRecordV2, rkyv::rancor::Error>(bytes).map_err(|e| {
        Error::corrupt(
            format!("captures table, capture {id}"),
            format!("undecodable capture: {e}"),
        )
    })
}

/// A format-2 event chunk (packed or not) as a format-3 chunk whose first
/// event is at `first_snap`, the rest following it snap by snap.
fn event_chunk(bytes: &[u8], first_snap: i64, place: &dyn Fn() -> String) -> Result<EventChunkRecord> {
    let payload;
    let archive = if packed::is_packed(bytes) {
        payload = packed::open(packed::Kind::EventChunk, bytes, place)?;
        payload.as_slice()
    } else {
        bytes
    };
    let old = rkyv::from_bytes::<EventChunkRecordV2, rkyv::rancor::Error>(archive)
        .map_err(|e| Error::corrupt(place(), format!("undecodable format-2 event chunk: {e}")))?;
    Ok(EventChunkRecord {
        first_snap,
        snap_steps: vec![1; old.flags.len().saturating_sub(1)],
        flags: old.flags,
        addresses: old.addresses,
        address_index: old.address_index,
        time_steps: old.time_steps,
        raw_times: old.raw_times,
        exceptions: old.exceptions,
        errors: old.errors,
    })
}

/// A write transaction of `dst` that commits without syncing: the last
/// commit of the conversion syncs them all.
fn begin(dst: &redb::Database) -> Result<redb::WriteTransaction> {
    let mut txn = dst.begin_write().context("upgrading: writing the new file")?;
    txn.set_durability(redb::Durability::None)
        .map_err(|e| Error::storage("upgrading: writing the new file", e))?;
    Ok(txn)
}

/// Calls `step` with table `table` of `dst` until it returns `None`,
/// committing every [`BATCH_BYTES`] (the bytes `step` reports writing).
fn in_batches<K: redb::Key + 'static, V: redb::Value + 'static>(
    dst: &redb::Database,
    table: TableDefinition<K, V>,
    step: &mut dyn FnMut(&mut redb::Table<'_, K, V>) -> Result<Option<usize>>,
) -> Result<()> {
    loop {
        let txn = begin(dst)?;
        let mut finished = false;
        {
            let mut to = txn.open_table(table).context("upgrading: writing the new file")?;
            let mut bytes = 0usize;
            while bytes < BATCH_BYTES {
                match step(&mut to)? {
                    Some(n) => bytes += n,
                    None => {
                        finished = true;
                        break;
                    }
                }
            }
        }
        txn.commit().context("upgrading: committing a batch")?;
        if finished {
            return Ok(());
        }
    }
}

/// Copies table `table` of `src` into `dst` through `put(key, value, to)`,
/// in batches; returns how many records.
fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &redb::ReadTransaction,
    dst: &redb::Database,
    table: TableDefinition<K, V>,
    put: &mut dyn for<'a> FnMut(
        K::SelfType<'a>,
        V::SelfType<'a>,
        &mut redb::Table<'_, K, V>,
    ) -> std::result::Result<usize, redb::StorageError>,
) -> Result<u64> {
    let from = src.open_table(table).context("upgrading: reading a table")?;
    let mut rows = from.iter().context("upgrading: reading a table")?;
    let mut copied = 0u64;
    in_batches(dst, table, &mut |to| {
        let Some(entry) = rows.next() else {
            return Ok(None);
        };
        let (key, value) = entry.context("upgrading: reading a table")?;
        let n = put(key.value(), value.value(), to).context("upgrading: writing a table")?;
        copied += 1;
        Ok(Some(n + 16))
    })?;
    Ok(copied)
}

/// Copies table `table` of `src` into `dst` record by record, in batches;
/// returns how many records.
fn copy_unchanged<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &redb::ReadTransaction,
    dst: &redb::Database,
    table: TableDefinition<K, V>,
) -> Result<u64> {
    copy(src, dst, table, &mut |key, value, to| {
        let len = V::as_bytes(&value).as_ref().len();
        to.insert(key, value).map(|_| len)
    })
}

/// How many records table `name` of `src` holds.
fn count(src: &redb::ReadTransaction, name: &str) -> Result<u64> {
    let table: TableDefinition<'_, (), ()> = TableDefinition::new(name);
    src.open_untyped_table(table)
        .context("upgrading: counting records")?
        .len()
        .context("upgrading: counting records")
}
