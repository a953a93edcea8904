//! Register tracks (tables `event_tracks` and `track_groups`): a capture's
//! events of one address as a compact stream of (time, value), in blocks
//! that each carry the summary a zoomed-out timeline needs (count, time
//! range, first, last, least and greatest value), so that a timeline reads
//! one address's summaries instead of every event and its value in memory.
//!
//! Tracks are kept per group of [`TRACK_GROUP`] events of a capture (sixteen
//! event chunks). The writer builds a group's tracks in memory as its events
//! arrive ([`TrackBuilder`]) and stores them once, when the group's last
//! event is appended, in the same transaction: one record per address of
//! the group, keyed by (capture id, address, first sequence number of the
//! group), and a mark in `track_groups` keyed by (capture id, first
//! sequence number) saying the group is tracked. A group whose events did
//! not all pass through one builder (the writer was reopened within it, a
//! transaction was aborted, the file predates tracks) has no mark; readers
//! then read its events, and `pack` tracks it.
//!
//! A track record, all integers little-endian, varints LEB128 (stored as
//! it is: its streams are mostly values that do not compress, and a reader
//! decodes the few blocks it needs in place):
//!
//! ```text
//! u8      version (1)
//! varint  number of blocks, then per block:
//!   varint  count of events, varint count of valued events
//!   f64     least and greatest time (bits, u64 each)
//!   varint  first, last, least and greatest value (0 when none is valued)
//!   varint  length of its stream
//! the blocks' streams, one after the other; per event:
//!   varint  h: bit 0 a raw time follows, bit 1 failed (no value follows),
//!           bit 2 the value is the block's previous value (none follows),
//!           h >> 3 the step k with t == previous t + k * 1e-6 exactly
//!   f64     the time (bits, u64), when bit 0 is set
//!   varint  the value XOR the block's previous value (0 before the first),
//!           unless bit 1 or bit 2 is set
//! u8      0 (the end; so an unpacked record never ends like a packed one)
//! ```
//!
//! A block's first event always carries a raw time, so each block decodes
//! on its own. A failed event counts, but has no value.
//!
//! A group mark is `u8 version (1), varint number of events`.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use redb::ReadableTable;

use crate::format::varint;
use crate::store::events::time_step;
use crate::vocab::error::{Error, Result, StorageContext};

/// Events of a capture per track group (sixteen event chunks).
pub(crate) const TRACK_GROUP: u64 = 65536;

/// The stored tail of a capture is brought up to date after at least this
/// many events (and with each new group): between, readers and a resuming
/// writer read the events since from the event log.
pub(crate) const TAIL_EVERY: u64 = 16384;

/// An address's events per block.
pub(crate) const TRACK_BLOCK: u64 = 64;

const VERSION: u8 = 1;
const RAW_TIME: u64 = 1;
const FAILED: u64 = 2;
const SAME_VALUE: u64 = 4;
const FLAG_BITS: u32 = 3;

/// The summary of a run of events of one address.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Summary {
    /// How many events.
    pub count: u64,
    /// How many of them have a value (did not fail).
    pub valued: u64,
    pub min_time: f64,
    pub max_time: f64,
    pub first: u64,
    pub last: u64,
    pub min: u64,
    pub max: u64,
}

impl Summary {
    /// Adds an event after the ones summarized.
    pub fn add(&mut self, time: f64, value: Option<u64>) {
        self.merge(&Summary {
            count: 1,
            valued: u64::from(value.is_some()),
            min_time: time,
            max_time: time,
            first: value.unwrap_or(0),
            last: value.unwrap_or(0),
            min: value.unwrap_or(0),
            max: value.unwrap_or(0),
        });
    }

    /// Adds `later`, which follows the events summarized.
    pub fn merge(&mut self, later: &Summary) {
        if later.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *later;
            return;
        }
        self.min_time = self.min_time.min(later.min_time);
        self.max_time = self.max_time.max(later.max_time);
        self.count += later.count;
        if later.valued == 0 {
            return;
        }
        if self.valued == 0 {
            self.first = later.first;
            self.min = later.min;
            self.max = later.max;
        } else {
            self.min = self.min.min(later.min);
            self.max = self.max.max(later.max);
        }
        self.last = later.last;
        self.valued += later.valued;
    }
}

/// One block: its summary and its stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TrackBlock {
    pub summary: Summary,
    pub stream: Vec<u8>,
}

/// Decodes a block's stream of `count` events, calling `f(time, value)`
/// for each in order (`value` `None` for a failed event).
fn decode_stream(
    stream: &[u8],
    count: u64,
    place: &dyn Fn() -> String,
    f: &mut dyn FnMut(f64, Option<u64>),
) -> Result<()> {
    let bad = |what: String| Error::corrupt(place(), format!("track: {what}"));
    let (mut at, mut time, mut value, mut n) = (0usize, 0.0f64, 0u64, 0u64);
    while at < stream.len() {
        let h = varint::get(stream, &mut at).ok_or_else(|| bad("a truncated event".into()))?;
        if h & RAW_TIME != 0 {
            let bits = stream.get(at..at + 8).ok_or_else(|| bad("a truncated time".into()))?;
            at += 8;
            time = f64::from_bits(u64::from_le_bytes(bits.try_into().map_err(|_| bad("time".into()))?));
        } else if n == 0 {
            return Err(bad("a block whose first time is not raw".into()));
        } else {
            time += ((h >> FLAG_BITS) as f64) * 1e-6;
        }
        let valued = if h & FAILED != 0 {
            None
        } else {
            if h & SAME_VALUE == 0 {
                value ^= varint::get(stream, &mut at).ok_or_else(|| bad("a truncated value".into()))?;
            }
            Some(value)
        };
        f(time, valued);
        n += 1;
    }
    if n != count {
        return Err(bad(format!("a block of {count} events holds {n}")));
    }
    Ok(())
}

/// The track of one address: its blocks, and where the last one's stream
/// stands (its last time and value), to go on appending.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TrackRecord {
    pub blocks: Vec<TrackBlock>,
    previous_time: f64,
    previous_value: u64,
}

impl TrackRecord {
    /// Appends an event of the address, after the ones it holds.
    pub fn push(&mut self, time: f64, value: Option<u64>) {
        let block = match self.blocks.last_mut() {
            Some(block) if block.summary.count < TRACK_BLOCK => block,
            _ => {
                self.blocks.push(TrackBlock {
                    summary: Summary::default(),
                    // Most events take two or three bytes.
                    stream: Vec::with_capacity(3 * TRACK_BLOCK as usize),
                });
                self.previous_value = 0;
                let Some(block) = self.blocks.last_mut() else {
                    unreachable!("a block was just pushed");
                };
                block
            }
        };
        let step = (block.summary.count > 0)
            .then(|| time_step(self.previous_time, time))
            .flatten();
        let mut h = match step {
            Some(k) => k << FLAG_BITS,
            None => RAW_TIME,
        };
        match value {
            None => h |= FAILED,
            Some(v) if v == self.previous_value && block.summary.valued > 0 => h |= SAME_VALUE,
            Some(_) => {}
        }
        varint::put(&mut block.stream, h);
        if step.is_none() {
            block.stream.extend_from_slice(&time.to_bits().to_le_bytes());
        }
        if let Some(v) = value {
            if h & SAME_VALUE == 0 {
                varint::put(&mut block.stream, v ^ self.previous_value);
            }
            self.previous_value = v;
        }
        self.previous_time = time;
        block.summary.add(time, value);
    }

    /// A record to go on appending to, from a stored one.
    pub fn from_view(view: &TrackView<'_>, place: &dyn Fn() -> String) -> Result<TrackRecord> {
        let mut record = TrackRecord::default();
        for (i, (summary, stream)) in view.blocks.iter().enumerate() {
            if i + 1 == view.blocks.len() {
                // Where the last block's stream stands.
                let (mut time, mut value) = (0.0, 0);
                view.block_events(i, place, &mut |t, v| {
                    time = t;
                    value = v.unwrap_or(value);
                })?;
                (record.previous_time, record.previous_value) = (time, value);
            }
            record.blocks.push(TrackBlock {
                summary: *summary,
                stream: stream.to_vec(),
            });
        }
        Ok(record)
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        varint::put(&mut out, self.blocks.len() as u64);
        for block in &self.blocks {
            let s = &block.summary;
            varint::put(&mut out, s.count);
            varint::put(&mut out, s.valued);
            out.extend_from_slice(&s.min_time.to_bits().to_le_bytes());
            out.extend_from_slice(&s.max_time.to_bits().to_le_bytes());
            for v in [s.first, s.last, s.min, s.max] {
                varint::put(&mut out, v);
            }
            varint::put(&mut out, block.stream.len() as u64);
        }
        for block in &self.blocks {
            out.extend_from_slice(&block.stream);
        }
        out.push(0);
        out
    }
}

/// A stored track record, read in place: its blocks' summaries and streams.
#[derive(Clone, Debug)]
pub(crate) struct TrackView<'a> {
    pub blocks: Vec<(Summary, &'a [u8])>,
}

impl<'a> TrackView<'a> {
    /// Parses a record's blocks, checking its shape (not each block's
    /// stream: see [`TrackView::check`]).
    pub fn parse(bytes: &'a [u8], place: &dyn Fn() -> String) -> Result<TrackView<'a>> {
        let bad = |what: &str| Error::corrupt(place(), format!("track: {what}"));
        let Some((&version, _)) = bytes.split_first() else {
            return Err(bad("an empty record"));
        };
        if version != VERSION {
            return Err(bad(&format!("record version {version}, not {VERSION}")));
        }
        let mut at = 1usize;
        let next = |at: &mut usize| varint::get(bytes, at).ok_or_else(|| bad("truncated"));
        let n = next(&mut at)?;
        if n > TRACK_GROUP {
            return Err(bad(&format!("{n} blocks")));
        }
        let mut summaries = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let count = next(&mut at)?;
            let valued = next(&mut at)?;
            let mut times = [0f64; 2];
            for t in &mut times {
                let b = bytes.get(at..at + 8).ok_or_else(|| bad("truncated"))?;
                at += 8;
                *t = f64::from_bits(u64::from_le_bytes(b.try_into().map_err(|_| bad("time"))?));
            }
            let [min_time, max_time] = times;
            let mut values = [0u64; 4];
            for v in &mut values {
                *v = next(&mut at)?;
            }
            let len = next(&mut at)?;
            if count == 0 || count > TRACK_BLOCK || valued > count || min_time.is_nan() || min_time > max_time {
                return Err(bad(&format!(
                    "a block of {count} events, {valued} valued, times {min_time}..{max_time}"
                )));
            }
            let [first, last, min, max] = values;
            let summary = Summary {
                count,
                valued,
                min_time,
                max_time,
                first,
                last,
                min,
                max,
            };
            summaries.push((summary, len));
        }
        let mut blocks = Vec::with_capacity(summaries.len());
        for (summary, len) in summaries {
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| at.checked_add(len))
                .filter(|&end| end < bytes.len())
                .ok_or_else(|| bad("a stream past the record's end"))?;
            blocks.push((summary, &bytes[at..end]));
            at = end;
        }
        if bytes[at..] != [0] {
            return Err(bad("no end byte after the last stream"));
        }
        Ok(TrackView { blocks })
    }

    /// Calls `f(time, value)` for the events of block `i`, in order.
    pub fn block_events(
        &self,
        i: usize,
        place: &dyn Fn() -> String,
        f: &mut dyn FnMut(f64, Option<u64>),
    ) -> Result<()> {
        let (summary, stream) = &self.blocks[i];
        decode_stream(stream, summary.count, place, f)
    }

    /// Checks every block's stream against its summary; returns the events.
    pub fn check(&self, place: &dyn Fn() -> String) -> Result<Vec<(f64, Option<u64>)>> {
        let mut all = Vec::new();
        for (i, (summary, _)) in self.blocks.iter().enumerate() {
            let mut again = Summary::default();
            self.block_events(i, place, &mut |time, value| {
                again.add(time, value);
                all.push((time, value));
            })?;
            if again != *summary {
                return Err(Error::corrupt(
                    place(),
                    format!("track: block {i}'s summary does not match its events"),
                ));
            }
        }
        Ok(all)
    }
}

/// One event as its address's track keeps it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrackedEvent {
    pub address: u64,
    pub time: f64,
    /// Its value, or `None` if it failed.
    pub value: Option<u64>,
}

/// A group whose tracks are complete: its first sequence number and each
/// address's track.
pub(crate) type TrackedGroup = (u64, Vec<(u64, TrackRecord)>);

/// The tracks of a capture's current group, built in memory as its events
/// are appended.
#[derive(Debug, Default)]
pub(crate) struct TrackBuilder {
    /// The sequence number the next appended event must have to go on.
    next_seq: u64,
    /// Whether every event of the current group so far is in `tracks`.
    whole: bool,
    tracks: HashMap<u64, TrackRecord, FixedState>,
    /// Where the stored tail stands, as this builder last wrote it.
    stored: u64,
}

impl TrackBuilder {
    /// The sequence number the next appended event must have to go on.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Goes on from a stored tail: the tracks of the first `events` events of
    /// the group from `group`.
    pub fn resume(&mut self, tail: &TailView<'_>, place: &dyn Fn() -> String) -> Result<()> {
        let mut tracks = HashMap::default();
        for (address, bytes) in &tail.tracks {
            tracks.insert(
                *address,
                TrackRecord::from_view(&TrackView::parse(bytes, place)?, place)?,
            );
        }
        self.tracks = tracks;
        self.whole = true;
        self.next_seq = tail.group + tail.events;
        self.stored = self.next_seq;
        Ok(())
    }

    /// Whether the stored tail is due: the builder holds a group so far
    /// and is [`TAIL_EVERY`] events past the stored tail, or in a new group.
    pub fn tail_due(&self) -> bool {
        let group = group_of(self.next_seq);
        self.whole
            && self.next_seq > group
            && (self.next_seq - self.stored >= TAIL_EVERY || group_of(self.stored) != group || self.stored == group)
    }

    /// Notes that the stored tail now holds what the builder holds.
    pub fn tail_stored(&mut self) {
        self.stored = self.next_seq;
    }

    /// The stored form of the tracks of the current group so far, if the
    /// builder saw each of its events and it has any:
    ///
    /// ```text
    /// u8      version (1)
    /// varint  the group's first sequence number, varint its events so far
    /// varint  number of addresses, then per address, in address order:
    ///   varint address, varint length of its track record, the record
    /// ```
    pub fn tail(&self) -> Option<Vec<u8>> {
        let group = group_of(self.next_seq);
        if !self.whole || self.next_seq == group {
            return None;
        }
        let mut out = vec![VERSION];
        varint::put(&mut out, group);
        varint::put(&mut out, self.next_seq - group);
        let mut addresses: Vec<&u64> = self.tracks.keys().collect();
        addresses.sort_unstable();
        varint::put(&mut out, addresses.len() as u64);
        for address in addresses {
            let record = self.tracks[address].encode();
            varint::put(&mut out, *address);
            varint::put(&mut out, record.len() as u64);
            out.extend_from_slice(&record);
        }
        Some(out)
    }

    /// Takes the events of the capture from `first_seq` on; returns the
    /// groups they complete whose every event the builder saw.
    pub fn feed(&mut self, first_seq: u64, events: &[TrackedEvent]) -> Vec<TrackedGroup> {
        if first_seq != self.next_seq {
            // Events the builder did not see (or an aborted transaction's):
            // this group stays untracked.
            self.whole = false;
            self.tracks.clear();
        }
        let mut done = Vec::new();
        for (seq, event) in (first_seq..).zip(events) {
            if seq % TRACK_GROUP == 0 {
                self.whole = true;
                self.tracks.clear();
            }
            if !self.whole {
                continue;
            }
            self.tracks
                .entry(event.address)
                .or_default()
                .push(event.time, event.value);
            if (seq + 1) % TRACK_GROUP == 0 {
                let mut tracks: Vec<(u64, TrackRecord)> = self.tracks.drain().collect();
                tracks.sort_unstable_by_key(|t| t.0);
                done.push((group_of(seq), tracks));
                self.whole = false;
            }
        }
        self.next_seq = first_seq + events.len() as u64;
        done
    }
}

/// A stored tail (see [`TrackBuilder::tail`]), read in place.
#[derive(Clone, Debug)]
pub(crate) struct TailView<'a> {
    /// The first sequence number of its group.
    pub group: u64,
    /// How many events of the group it holds.
    pub events: u64,
    /// Each address's track record, in address order.
    pub tracks: Vec<(u64, &'a [u8])>,
}

impl<'a> TailView<'a> {
    pub fn parse(bytes: &'a [u8], place: &dyn Fn() -> String) -> Result<TailView<'a>> {
        let bad = |what: &str| Error::corrupt(place(), format!("track tail: {what}"));
        if bytes.first() != Some(&VERSION) {
            return Err(bad("not a version-1 tail"));
        }
        let mut at = 1;
        let next = |at: &mut usize| varint::get(bytes, at).ok_or_else(|| bad("truncated"));
        let (group, events, n) = (next(&mut at)?, next(&mut at)?, next(&mut at)?);
        if group % TRACK_GROUP != 0 || events == 0 || events >= TRACK_GROUP || n > events {
            return Err(bad(&format!(
                "{events} events of the group from {group}, {n} addresses"
            )));
        }
        let mut tracks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let address = next(&mut at)?;
            let len = next(&mut at)?;
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| at.checked_add(len))
                .filter(|&end| end <= bytes.len())
                .ok_or_else(|| bad("a record past the tail's end"))?;
            if tracks.last().is_some_and(|(a, _)| *a >= address) {
                return Err(bad("addresses out of order"));
            }
            tracks.push((address, &bytes[at..end]));
            at = end;
        }
        if at != bytes.len() {
            return Err(bad("bytes after the last record"));
        }
        Ok(TailView { group, events, tracks })
    }

    /// The track record of `address`, if it has events in the tail.
    pub fn track(&self, address: u64) -> Option<&'a [u8]> {
        self.tracks
            .binary_search_by_key(&address, |t| t.0)
            .ok()
            .map(|i| self.tracks[i].1)
    }
}

/// Calls `f` with the stored track record of `address` in capture
/// `capture` for the group of events from `group`; false if there is none.
pub(crate) fn track_in(
    table: &impl ReadableTable<(u32, u64, u64), &'static [u8]>,
    capture: u32,
    address: u64,
    group: u64,
    f: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<bool> {
    match table.get((capture, address, group)).context("reading event tracks")? {
        Some(value) => f(value.value()).map(|()| true),
        None => Ok(false),
    }
}

/// Where a track record is, for errors.
pub(crate) fn track_place(capture: u32, address: u64, group: u64) -> String {
    format!("event_tracks table, capture {capture}, address {address:#x}, events from {group}")
}

/// A group mark's bytes.
pub(crate) fn encode_group(events: u64) -> Vec<u8> {
    let mut out = vec![VERSION];
    varint::put(&mut out, events);
    out
}

/// Decodes a group mark: how many events the group's tracks hold.
pub(crate) fn decode_group(capture: u32, group: u64, bytes: &[u8]) -> Result<u64> {
    let bad = |what: &str| {
        Error::corrupt(
            format!("track_groups table, capture {capture}, events from {group}"),
            what.to_string(),
        )
    };
    if bytes.first() != Some(&VERSION) {
        return Err(bad("not a version-1 group mark"));
    }
    let mut at = 1;
    let events = varint::get(bytes, &mut at).ok_or_else(|| bad("truncated"))?;
    if at != bytes.len() || events != TRACK_GROUP {
        return Err(bad(&format!("a group of {events} events")));
    }
    Ok(events)
}

/// The first sequence numbers of the tracked groups of capture `capture`.
pub(crate) fn groups_in(table: &impl ReadableTable<(u32, u64), &'static [u8]>, capture: u32) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in table
        .range((capture, 0)..=(capture, u64::MAX))
        .context("reading track groups")?
    {
        let (key, value) = entry.context("reading track groups")?;
        let group = key.value().1;
        decode_group(capture, group, value.value())?;
        out.push(group);
    }
    Ok(out)
}

/// The first sequence number of the track group holding event `seq`.
pub(crate) fn group_of(seq: u64) -> u64 {
    seq - seq % TRACK_GROUP
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<(f64, Option<u64>)> {
        let mut events = Vec::new();
        let mut t = 0.5;
        for i in 0..700u64 {
            t += if i % 97 == 0 {
                0.123_456_789
            } else {
                (i % 5) as f64 * 1e-6
            };
            let value = (i % 13 != 0).then_some(if i % 3 == 0 { 7 } else { i * 0x1234_5678 % 1000 });
            events.push((t, value));
        }
        events
    }

    #[test]
    fn a_record_round_trips_across_blocks_with_raw_times_and_failures() {
        let events = events();
        let mut record = TrackRecord::default();
        for &(t, v) in &events {
            record.push(t, v);
        }
        assert_eq!(record.blocks.len(), 700usize.div_ceil(TRACK_BLOCK as usize));
        let bytes = record.encode();
        let view = TrackView::parse(&bytes, &|| "t".into()).unwrap();
        assert_eq!(view.check(&|| "t".into()).unwrap(), events);
        let mut whole = Summary::default();
        for (i, (summary, stream)) in view.blocks.iter().enumerate() {
            assert_eq!(*summary, record.blocks[i].summary);
            assert_eq!(*stream, record.blocks[i].stream.as_slice());
            whole.merge(summary);
        }
        let valued: Vec<u64> = events.iter().filter_map(|e| e.1).collect();
        assert_eq!(whole.count, 700);
        assert_eq!(whole.valued, valued.len() as u64);
        assert_eq!(whole.first, valued[0]);
        assert_eq!(whole.last, *valued.last().unwrap());
        assert_eq!(whole.min, *valued.iter().min().unwrap());
        assert_eq!(whole.max, *valued.iter().max().unwrap());
    }

    #[test]
    fn damaged_records_are_errors() {
        let mut record = TrackRecord::default();
        record.push(1.0, Some(5));
        record.push(1.000001, None);
        record.push(-1.7e305, None);
        let bytes = record.encode();
        for cut in 0..bytes.len() {
            assert!(TrackView::parse(&bytes[..cut], &|| "t".into()).is_err(), "cut at {cut}");
        }
        let mut wrong = record.clone();
        wrong.blocks[0].summary.max = 9;
        let bytes = wrong.encode();
        let again = TrackView::parse(&bytes, &|| "t".into()).unwrap();
        assert!(again.check(&|| "t".into()).is_err());
        let mut short = record.clone();
        short.blocks[0].stream.pop();
        let bytes = short.encode();
        assert!(
            TrackView::parse(&bytes, &|| "t".into())
                .unwrap()
                .check(&|| "t".into())
                .is_err()
        );
    }

    #[test]
    fn damaged_records_and_tails_decode_or_err_without_panicking() {
        let mut builder = TrackBuilder::default();
        let tracked: Vec<TrackedEvent> = events()
            .into_iter()
            .enumerate()
            .map(|(i, (time, value))| TrackedEvent {
                address: i as u64 % 3,
                time,
                value,
            })
            .collect();
        builder.feed(0, &tracked);
        let tail = builder.tail().unwrap();
        for i in 0..tail.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = tail.clone();
                damaged[i] ^= flip;
                if let Ok(view) = TailView::parse(&damaged, &|| "t".into()) {
                    for (_, track) in &view.tracks {
                        if let Ok(track) = TrackView::parse(track, &|| "t".into()) {
                            let _ = track.check(&|| "t".into());
                        }
                    }
                    let _ = TrackBuilder::default().resume(&view, &|| "t".into());
                }
            }
        }
    }

    #[test]
    fn a_builder_tracks_only_groups_it_saw_whole() {
        let event = |i: u64| TrackedEvent {
            address: i % 3,
            time: i as f64 * 1e-6,
            value: Some(i),
        };
        let all: Vec<TrackedEvent> = (0..3 * TRACK_GROUP).map(event).collect();
        let mut builder = TrackBuilder::default();
        let g = TRACK_GROUP as usize;
        assert!(builder.feed(0, &all[..100]).is_empty());
        let done = builder.feed(100, &all[100..g + 10]);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, 0);
        assert_eq!(
            done[0]
                .1
                .iter()
                .map(|t| t.1.blocks.iter().map(|b| b.summary.count).sum::<u64>())
                .sum::<u64>(),
            TRACK_GROUP
        );
        // A gap (an aborted transaction's events) leaves group 1 untracked.
        assert!(builder.feed(g as u64 + 5, &all[g + 5..2 * g]).is_empty());
        let done = builder.feed(2 * g as u64, &all[2 * g..]);
        assert_eq!(done.iter().map(|d| d.0).collect::<Vec<_>>(), vec![2 * TRACK_GROUP]);
    }
}
