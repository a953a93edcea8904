//! Event-log chunks: up to [`EVENTS_PER_CHUNK`] events of one capture in
//! columns. The event's value bytes are not here: they are the memory
//! observation at the event's snap in the capture's space (FORMAT.md), read
//! back when the event is. What memory cannot give back is kept as an
//! exception: a value wider than its width, a failed write's value, an error
//! text.

use rkyv::{Archive, Deserialize, Serialize};

use redb::ReadableTable;

use crate::format::varint;
use crate::store::packed;
use crate::vocab::error::{Error, Result, StorageContext};
use crate::vocab::trace::Op;
use crate::vocab::types::Snap;

/// Events per chunk; a chunk's event indices fit a u16.
pub(crate) const EVENTS_PER_CHUNK: usize = 4096;

const FLAG_WRITE: u8 = 1;
const FLAG_FAILED: u8 = 1 << 1;
const FLAG_NO_WIDTH: u8 = 1 << 2;
const FLAG_RAW_TIME: u8 = 1 << 3;
const WIDTH_SHIFT: u8 = 4;

/// One event as the log keeps it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LoggedEvent {
    /// Its snap (format 3 stores it; greater than the previous event's).
    pub snap: Snap,
    pub op: Op,
    pub address: u64,
    /// The width of the memory observation (`1..=8`).
    pub width: u8,
    /// Whether the event had a width of its own (imported traces may not).
    pub has_width: bool,
    pub timestamp: f64,
    /// Set when memory cannot give the value back (see the module docs).
    pub exception: Option<u64>,
    /// The error text of a failed event.
    pub error: Option<String>,
}

/// The stored form of an event chunk (all integers little-endian). The
/// last field stays a byte column: see `an_unpacked_event_chunk_never_looks_packed`.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct EventChunkRecord {
    /// The snap of the first event (format 3).
    pub first_snap: i64,
    /// Per event after the first: LEB128 of its snap minus the previous
    /// event's (at least 1; format 3).
    pub snap_steps: Vec<u8>,
    /// Per event: bit 0 write, bit 1 failed, bit 2 no width of its own,
    /// bit 3 raw timestamp, bits 4-6 memory width - 1.
    pub flags: Vec<u8>,
    /// The distinct addresses of the chunk, u64 each, in first-use order.
    pub addresses: Vec<u8>,
    /// Per event, u16: its address's index in `addresses`.
    pub address_index: Vec<u8>,
    /// Per event without a raw timestamp: LEB128 `k` with
    /// `t[i] == t[i-1] + k * 1e-6` exactly (the first event is always raw).
    pub time_steps: Vec<u8>,
    /// Per event with a raw timestamp: its f64 bits, u64.
    pub raw_times: Vec<u8>,
    /// (u16 index, u64 value) per event whose value memory cannot give back.
    pub exceptions: Vec<u8>,
    /// (u16 index, LEB128 length, UTF-8 text) per failed event.
    pub errors: Vec<u8>,
}

/// The step `k` with `previous + k * 1e-6 == t` exactly, if there is one.
pub(crate) fn time_step(previous: f64, t: f64) -> Option<u64> {
    let steps = (t - previous) / 1e-6;
    if !(0.0..1e15).contains(&steps) {
        return None;
    }
    // Rounded by a cast (a call to libm's `round` costs more than the rest).
    let k = (steps + 0.5) as u64;
    (previous + (k as f64) * 1e-6 == t).then_some(k)
}

impl EventChunkRecord {
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Appends events after `previous`, the chunk's last event's (time,
    /// snap) if it has one; the caller keeps the chunk within
    /// [`EVENTS_PER_CHUNK`] and the snaps increasing.
    pub fn push(&mut self, events: &[LoggedEvent], previous: Option<(f64, Snap)>) {
        // Rebuilding the address dictionary's lookup is cheap at 4096 events.
        let mut dict: std::collections::HashMap<u64, u16, foldhash::fast::FixedState> = self
            .addresses
            .chunks_exact(8)
            .enumerate()
            .filter_map(|(i, b)| Some((u64::from_le_bytes(b.try_into().ok()?), i as u16)))
            .collect();
        let (mut previous, mut previous_snap) = (previous.map(|p| p.0), previous.map(|p| p.1));
        for event in events {
            let index = self.flags.len() as u16;
            match previous_snap.filter(|_| index > 0) {
                Some(p) => varint::put(&mut self.snap_steps, event.snap.abs_diff(p)),
                None => self.first_snap = event.snap,
            }
            previous_snap = Some(event.snap);
            let mut flags = (event.width.clamp(1, 8) - 1) << WIDTH_SHIFT;
            if event.op == Op::Write {
                flags |= FLAG_WRITE;
            }
            if event.error.is_some() {
                flags |= FLAG_FAILED;
            }
            if !event.has_width {
                flags |= FLAG_NO_WIDTH;
            }
            match previous
                .filter(|_| index > 0)
                .and_then(|p| time_step(p, event.timestamp))
            {
                Some(k) => varint::put(&mut self.time_steps, k),
                None => {
                    flags |= FLAG_RAW_TIME;
                    self.raw_times
                        .extend_from_slice(&event.timestamp.to_bits().to_le_bytes());
                }
            }
            previous = Some(event.timestamp);
            self.flags.push(flags);
            let next = dict.len() as u16;
            let slot = *dict.entry(event.address).or_insert_with(|| {
                self.addresses.extend_from_slice(&event.address.to_le_bytes());
                next
            });
            self.address_index.extend_from_slice(&slot.to_le_bytes());
            if let Some(value) = event.exception {
                self.exceptions.extend_from_slice(&index.to_le_bytes());
                self.exceptions.extend_from_slice(&value.to_le_bytes());
            }
            if let Some(text) = &event.error {
                self.errors.extend_from_slice(&index.to_le_bytes());
                varint::put(&mut self.errors, text.len() as u64);
                self.errors.extend_from_slice(text.as_bytes());
            }
        }
    }

    /// Decodes every event, checked.
    pub fn decode(&self, place: &dyn Fn() -> String) -> Result<Vec<LoggedEvent>> {
        let bad = |what: &str| Error::corrupt(place(), format!("event chunk: {what}"));
        let n = self.flags.len();
        if self.address_index.len() != 2 * n || !self.addresses.len().is_multiple_of(8) {
            return Err(bad("columns of inconsistent lengths"));
        }
        let address_of = |i: usize| -> Result<u64> {
            let slot = usize::from(u16::from_le_bytes([
                self.address_index[2 * i],
                self.address_index[2 * i + 1],
            ]));
            let b = self
                .addresses
                .get(8 * slot..8 * slot + 8)
                .ok_or_else(|| bad("address index out of range"))?;
            Ok(u64::from_le_bytes(b.try_into().map_err(|_| bad("address"))?))
        };
        let mut exceptions = std::collections::HashMap::new();
        for e in self.exceptions.chunks(10) {
            let e: &[u8; 10] = e.try_into().map_err(|_| bad("exceptions truncated"))?;
            let value = u64::from_le_bytes([e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9]]);
            exceptions.insert(u16::from_le_bytes([e[0], e[1]]), value);
        }
        let mut errors = std::collections::HashMap::new();
        let mut at = 0;
        while at < self.errors.len() {
            let index = self.errors.get(at..at + 2).ok_or_else(|| bad("errors truncated"))?;
            let index = u16::from_le_bytes([index[0], index[1]]);
            at += 2;
            let len = varint::get(&self.errors, &mut at).ok_or_else(|| bad("errors truncated"))? as usize;
            let text = self
                .errors
                .get(at..at.saturating_add(len))
                .ok_or_else(|| bad("errors truncated"))?;
            errors.insert(
                index,
                String::from_utf8(text.to_vec()).map_err(|_| bad("error text not UTF-8"))?,
            );
            at += len;
        }
        let mut out = Vec::with_capacity(n);
        let (mut step_at, mut raw_at, mut snap_at) = (0usize, 0usize, 0usize);
        let mut previous = 0.0f64;
        let mut snap = self.first_snap;
        for (i, &flags) in self.flags.iter().enumerate() {
            if i > 0 {
                let step = varint::get(&self.snap_steps, &mut snap_at).ok_or_else(|| bad("snap steps truncated"))?;
                snap = i64::try_from(step)
                    .ok()
                    .filter(|&step| step > 0)
                    .and_then(|step| snap.checked_add(step))
                    .ok_or_else(|| bad(&format!("event {i}: snap step {step} after snap {snap}")))?;
            }
            let timestamp = if flags & FLAG_RAW_TIME != 0 {
                let b = self
                    .raw_times
                    .get(raw_at..raw_at + 8)
                    .ok_or_else(|| bad("raw times truncated"))?;
                raw_at += 8;
                f64::from_bits(u64::from_le_bytes(b.try_into().map_err(|_| bad("raw time"))?))
            } else {
                if i == 0 {
                    return Err(bad("first event without a raw timestamp"));
                }
                let k = varint::get(&self.time_steps, &mut step_at).ok_or_else(|| bad("time steps truncated"))?;
                previous + (k as f64) * 1e-6
            };
            previous = timestamp;
            let index = i as u16;
            out.push(LoggedEvent {
                snap,
                op: if flags & FLAG_WRITE != 0 { Op::Write } else { Op::Read },
                address: address_of(i)?,
                width: ((flags >> WIDTH_SHIFT) & 0x7) + 1,
                has_width: flags & FLAG_NO_WIDTH == 0,
                timestamp,
                exception: exceptions.get(&index).copied(),
                error: if flags & FLAG_FAILED != 0 {
                    Some(errors.remove(&index).unwrap_or_default())
                } else {
                    None
                },
            });
        }
        if snap_at != self.snap_steps.len() {
            return Err(bad("snap steps left over"));
        }
        Ok(out)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .map(|bytes| bytes.into_vec())
            .map_err(|_| Error::TooLarge {
                what: "an event chunk",
                len: self.flags.len() as u64,
            })
    }

    /// Decodes a stored event chunk, unpacked or packed.
    pub fn from_bytes(bytes: &[u8], place: &dyn Fn() -> String) -> Result<EventChunkRecord> {
        if packed::is_packed(bytes) {
            let payload = packed::open(packed::Kind::EventChunk, bytes, place)?;
            return Self::from_archive(&payload, place);
        }
        Self::from_archive(bytes, place)
    }

    /// The value to store for the chunk: unpacked while it is open (appends
    /// continue it), and once full ([`EVENTS_PER_CHUNK`] events) packed at
    /// `level` when that is smaller.
    pub fn to_stored(&self, level: i32) -> Result<Vec<u8>> {
        let unpacked = self.to_bytes()?;
        if self.len() < EVENTS_PER_CHUNK {
            return Ok(unpacked);
        }
        let packed = packed::seal(packed::Kind::EventChunk, &unpacked, level)?;
        Ok(packed::smaller(unpacked, packed))
    }

    fn from_archive(bytes: &[u8], place: &dyn Fn() -> String) -> Result<EventChunkRecord> {
        rkyv::from_bytes::<EventChunkRecord, rkyv::rancor::Error>(bytes)
            .map_err(|e| Error::corrupt(place(), format!("undecodable event chunk: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpacked_event_chunk_never_looks_packed() {
        // The layout the packed trailer relies on: an archive ends with the
        // length of its last column.
        let events = EventChunkRecord {
            errors: vec![7; 300],
            ..Default::default()
        };
        let bytes = events.to_bytes().unwrap();
        assert_eq!(u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()), 300);
        assert!(!packed::is_packed(&EventChunkRecord::default().to_bytes().unwrap()));
    }

    #[test]
    fn events_round_trip_with_steps_raw_times_exceptions_and_errors() {
        let mut t = 0.0;
        let mut events = Vec::new();
        for i in 0..100u64 {
            t += (1 + i % 50) as f64 * 1e-6;
            events.push(LoggedEvent {
                snap: 1000 + (i * i) as i64,
                op: if i % 3 == 0 { Op::Write } else { Op::Read },
                address: 0x4000_0000 + 4 * (i % 7),
                width: if i % 5 == 0 { 1 } else { 4 },
                has_width: i % 11 != 0,
                timestamp: if i == 50 { 0.123456789 } else { t },
                exception: (i == 9).then_some(0x1_0000_0000),
                error: (i == 42).then(|| "bus timeout \u{e9}".to_string()),
            });
        }
        let mut chunk = EventChunkRecord::default();
        chunk.push(&events[..60], None);
        chunk.push(&events[60..], Some((events[59].timestamp, events[59].snap)));
        let bytes = chunk.to_bytes().unwrap();
        let back = EventChunkRecord::from_bytes(&bytes, &|| "t".into()).unwrap();
        assert_eq!(back.decode(&|| "t".into()).unwrap(), events);
        assert_eq!(chunk.addresses.len(), 7 * 8);
        assert!(chunk.raw_times.len() <= 3 * 8, "steps are used where exact");
    }
}

/// The stored record of a capture.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub(crate) struct CaptureRecord {
    pub name: String,
    /// The space its events observe.
    pub space: String,
    pub big_endian: bool,
    /// Wall time of the start, nanoseconds since the Unix epoch.
    pub start_wall_ns: i64,
    /// The flush policy it was recorded with (`event`, `never`, or a number).
    pub policy: String,
    /// The snap of its first event (of the first it will have, while empty).
    pub first_snap: i64,
    /// How many events it holds.
    pub events: u64,
    /// The snap of its last event; `first_snap - 1` while empty (format 3).
    pub last_snap: i64,
}

impl CaptureRecord {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .map(|bytes| bytes.into_vec())
            .map_err(|_| Error::TooLarge {
                what: "a capture record",
                len: self.name.len() as u64,
            })
    }

    pub fn from_bytes(bytes: &[u8], place: &dyn Fn() -> String) -> Result<CaptureRecord> {
        rkyv::from_bytes::<CaptureRecord, rkyv::rancor::Error>(bytes)
            .map_err(|e| Error::corrupt(place(), format!("undecodable capture: {e}")))
    }
}

/// The capture `name` names, read from the two capture tables.
pub(crate) fn capture_in(
    ids: &impl ReadableTable<&'static str, u32>,
    captures: &impl ReadableTable<u32, &'static [u8]>,
    name: &str,
) -> Result<Option<(u32, CaptureRecord)>> {
    let Some(id) = ids.get(name).context("reading captures")?.map(|v| v.value()) else {
        return Ok(None);
    };
    let place = || format!("captures table, capture {id}");
    let bytes = captures
        .get(id)
        .context("reading captures")?
        .ok_or_else(|| Error::corrupt(place(), "capture named but missing"))?;
    Ok(Some((id, CaptureRecord::from_bytes(bytes.value(), &place)?)))
}

/// Every capture of the captures table, in id order.
pub(crate) fn captures_in(captures: &impl ReadableTable<u32, &'static [u8]>) -> Result<Vec<(u32, CaptureRecord)>> {
    let mut out = Vec::new();
    for entry in captures.iter().context("reading captures")? {
        let (key, value) = entry.context("reading captures")?;
        let id = key.value();
        out.push((
            id,
            CaptureRecord::from_bytes(value.value(), &|| format!("captures table, capture {id}"))?,
        ));
    }
    Ok(out)
}

/// Calls `f(first_seq, chunk)` for the event chunks of `capture` from the one
/// holding `from_seq` on, in order, while `f` returns true.
pub(crate) fn event_chunks_in(
    events: &impl ReadableTable<(u32, u64), &'static [u8]>,
    capture: u32,
    from_seq: u64,
    f: &mut dyn FnMut(u64, EventChunkRecord) -> Result<bool>,
) -> Result<()> {
    let start = match events
        .range((capture, 0)..=(capture, from_seq))
        .context("reading events")?
        .next_back()
    {
        Some(entry) => entry.context("reading events")?.0.value().1,
        None => from_seq,
    };
    for entry in events
        .range((capture, start)..=(capture, u64::MAX))
        .context("reading events")?
    {
        let (key, value) = entry.context("reading events")?;
        let first = key.value().1;
        let place = || format!("events table, capture {capture}, chunk at event {first}");
        if !f(first, EventChunkRecord::from_bytes(value.value(), &place)?)? {
            break;
        }
    }
    Ok(())
}
