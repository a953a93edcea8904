//! A capture's event log by sequence number: appending events and reading
//! them from a sequence number on. The log's chunks of 4096 events stay
//! below this line.

use crate::store::events::{EVENTS_PER_CHUNK, EventChunkRecord, LoggedEvent};
use crate::store::history::StoreRead;
use crate::store::writer::WriteStore;
use crate::vocab::error::Result;

/// Appends `logged` to the log of capture `capture`, which holds `events`
/// events; returns how many it holds after.
pub(crate) fn append(store: &mut WriteStore, capture: u32, events: u64, logged: &[LoggedEvent]) -> Result<u64> {
    // The open (last) chunk, and the time and snap of its last event.
    let mut chunk_start = events - events % EVENTS_PER_CHUNK as u64;
    let mut chunk = EventChunkRecord::default();
    let mut previous = None;
    if events > chunk_start {
        store.event_chunks(capture, chunk_start, &mut |first, found| {
            if first == chunk_start {
                chunk = found;
            }
            Ok(false)
        })?;
        let place = || format!("events table, capture {capture}, chunk at event {chunk_start}");
        previous = chunk.decode(&place)?.last().map(|e| (e.timestamp, e.snap));
    }
    let mut held = events;
    let mut rest = logged;
    while !rest.is_empty() {
        let take = (EVENTS_PER_CHUNK - chunk.len()).min(rest.len());
        chunk.push(&rest[..take], previous);
        store.put_event_chunk(capture, chunk_start, &chunk)?;
        rest = &rest[take..];
        held += take as u64;
        if chunk.len() == EVENTS_PER_CHUNK {
            chunk = EventChunkRecord::default();
            chunk_start = held;
            previous = None;
        }
    }
    Ok(held)
}

/// Calls `f(seq, event)` for the events of capture `capture` from sequence
/// number `from` on, in order, until it returns false.
pub(crate) fn for_each(
    store: &dyn StoreRead,
    capture: u32,
    from: u64,
    f: &mut dyn FnMut(u64, LoggedEvent) -> Result<bool>,
) -> Result<()> {
    store.event_chunks(capture, from, &mut |first, chunk| {
        let place = || format!("events table, capture {capture}, chunk at event {first}");
        for (i, event) in chunk.decode(&place)?.into_iter().enumerate() {
            let seq = first + i as u64;
            if seq < from {
                continue;
            }
            if !f(seq, event)? {
                return Ok(false);
            }
        }
        Ok(true)
    })
}
