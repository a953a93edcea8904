//! Captures (R2, R3, R7): named recordings of bus events into a space. Each
//! event gets the next snap of the database's timeline and is stored once:
//! its bytes as the memory observation at its snap in the capture's space,
//! the rest (op, address, width, timestamp, failure) in the capture's event
//! log (FORMAT.md).

use std::ops::Range;

use crate::db::{ReadTransaction, WriteTransaction};
use crate::format::policy::FlushPolicy;
use crate::memory::MemoryRead;
use crate::store::boundary::{guard, guard_write};
use crate::store::delta_cursor::DeltaCursor;
use crate::store::events::{CaptureRecord, LoggedEvent};
use crate::store::ops::event_log;
use crate::store::tracks::TrackedEvent;
use crate::store::{Observation, StoreRead};
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::width_mask;
use crate::vocab::trace::{Op, TraceEvent};
use crate::vocab::types::Snap;

/// The default space of captures.
pub const DEFAULT_CAPTURE_SPACE: &str = "bus";

/// What a new capture is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Its name, unique in the database.
    pub name: String,
    /// The space its events observe (default [`DEFAULT_CAPTURE_SPACE`]).
    pub space: String,
    /// Whether values are laid out big-endian in memory (default little).
    pub big_endian: bool,
    /// Wall time of its start, nanoseconds since the Unix epoch.
    pub start_wall_ns: i64,
    /// Its flush policy (R4).
    pub policy: FlushPolicy,
}

impl CaptureSpec {
    /// A little-endian capture named `name` into [`DEFAULT_CAPTURE_SPACE`],
    /// started now, flushing every event.
    pub fn new(name: impl Into<String>) -> CaptureSpec {
        let start_wall_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        CaptureSpec {
            name: name.into(),
            space: DEFAULT_CAPTURE_SPACE.to_string(),
            big_endian: false,
            start_wall_ns,
            policy: FlushPolicy::Event,
        }
    }
}

/// A capture as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureInfo {
    /// Its name.
    pub name: String,
    /// The space its events observe.
    pub space: String,
    /// Whether values are big-endian in memory.
    pub big_endian: bool,
    /// Wall time of its start, nanoseconds since the Unix epoch.
    pub start_wall_ns: i64,
    /// Its flush policy.
    pub policy: FlushPolicy,
    /// The snap of its first event (of the first it will have, while empty).
    pub first_snap: Snap,
    /// How many events it holds.
    pub events: u64,
    /// The snap of its last event; `first_snap - 1` while empty.
    pub last_snap: Snap,
    /// The sequence number of its first event kept: 0, unless retention
    /// dropped its events before the database's horizon (reading one of
    /// those is [`Error::EventBeforeHorizon`]).
    pub horizon: u64,
}

impl CaptureInfo {
    fn from_record(record: CaptureRecord, horizon: u64) -> Result<CaptureInfo> {
        Ok(CaptureInfo {
            horizon,
            policy: FlushPolicy::parse(&record.policy).map_err(|_| {
                Error::corrupt(format!("captures table, capture '{}'", record.name), "bad flush policy")
            })?,
            name: record.name,
            space: record.space,
            big_endian: record.big_endian,
            start_wall_ns: record.start_wall_ns,
            first_snap: record.first_snap,
            events: record.events,
            last_snap: record.last_snap,
        })
    }

    /// Whether the capture's events hold consecutive snaps (it recorded
    /// alone): then event `seq` is at `first_snap + seq` without a look at
    /// the event log. Events of captures recorded side by side take snaps
    /// from one counter, and each capture stores its own (format 3).
    pub fn snaps_are_consecutive(&self) -> bool {
        consecutive_snaps(self.first_snap, self.last_snap, self.events)
    }

    /// The sequence numbers of the events it keeps: from its horizon on.
    pub fn kept(&self) -> Range<u64> {
        self.horizon..self.events
    }

    /// The snap after the capture's last event (its first snap while
    /// empty): where a mark set after its last event goes.
    pub fn end_snap(&self) -> Snap {
        self.last_snap.saturating_add(1).max(self.first_snap)
    }
}

/// Whether the events of capture `record` hold consecutive snaps.
fn consecutive(record: &CaptureRecord) -> bool {
    consecutive_snaps(record.first_snap, record.last_snap, record.events)
}

/// Whether `events` events from snap `first` to `last` hold consecutive snaps.
fn consecutive_snaps(first: Snap, last: Snap, events: u64) -> bool {
    last.checked_sub(first).and_then(|d| d.checked_add(1)) == i64::try_from(events).ok()
}

/// The record of capture `id`; a journal naming another is damaged.
fn capture_by_id(store: &dyn StoreRead, id: u32) -> Result<CaptureRecord> {
    store
        .captures()?
        .into_iter()
        .find(|(i, _)| *i == id)
        .map(|(_, r)| r)
        .ok_or_else(|| Error::corrupt("journal", format!("a record of unknown capture {id}")))
}

/// The snap of event `seq` of capture `id` (`record`), or `None` past its
/// events: arithmetic while its snaps are consecutive, else one event chunk
/// read.
pub(crate) fn event_snap(store: &dyn StoreRead, id: u32, record: &CaptureRecord, seq: u64) -> Result<Option<Snap>> {
    if seq >= record.events {
        return Ok(None);
    }
    before_horizon(store, id, record, seq)?;
    if consecutive(record) {
        return Ok(Some(record.first_snap.saturating_add_unsigned(seq)));
    }
    let mut found = None;
    event_log::for_each(store, id, seq, &mut |at, event| {
        if at == seq {
            found = Some(event.snap);
        }
        Ok(false)
    })?;
    found.map(Some).ok_or_else(|| {
        Error::corrupt(
            format!("capture '{}', event {seq}", record.name),
            "missing from its event log",
        )
    })
}

/// Fails for event `seq` of capture `id` before its horizon.
fn before_horizon(store: &dyn StoreRead, id: u32, record: &CaptureRecord, seq: u64) -> Result<()> {
    let first_kept = store.capture_horizon(id)?;
    if seq < first_kept {
        return Err(Error::EventBeforeHorizon {
            capture: record.name.clone(),
            seq,
            first_kept,
        });
    }
    Ok(())
}

/// How many events of capture `id` (`record`) have snaps before `snap`: the
/// sequence number of its first event at or after `snap`. A binary search
/// over the event log, one chunk read a step, unless the snaps are
/// consecutive.
pub(crate) fn seq_from_snap(store: &dyn StoreRead, id: u32, record: &CaptureRecord, snap: Snap) -> Result<u64> {
    if snap <= record.first_snap || record.events == 0 {
        return Ok(0);
    }
    if snap > record.last_snap {
        return Ok(record.events);
    }
    if consecutive(record) {
        return Ok(snap.abs_diff(record.first_snap));
    }
    // The first event with a snap >= `snap`: in [lo, hi] (the events before
    // the capture's horizon are gone, and before the database's).
    let (mut lo, mut hi) = (store.capture_horizon(id)?, record.events);
    if lo > 0 && event_snap(store, id, record, lo)?.is_some_and(|s| s >= snap) {
        return Ok(lo);
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let mut chunk_snaps = Vec::new();
        let mut first_seq = mid;
        store.event_chunks(id, mid, &mut |first, chunk| {
            let place = || format!("events table, capture {id}, chunk at event {first}");
            first_seq = first;
            chunk_snaps = chunk.decode(&place)?.into_iter().map(|e| e.snap).collect();
            Ok(false)
        })?;
        if chunk_snaps.is_empty() || first_seq > mid {
            return Err(Error::corrupt(
                format!("capture '{}', event {mid}", record.name),
                "missing from its event log",
            ));
        }
        // The whole chunk narrows the search at once.
        let below = chunk_snaps.partition_point(|&s| s < snap) as u64;
        if below == chunk_snaps.len() as u64 {
            lo = first_seq + below;
        } else if below > 0 {
            return Ok(first_seq + below);
        } else {
            // Chunks start at multiples of their size, so `lo <= first_seq`.
            hi = first_seq;
        }
    }
    Ok(lo)
}

/// The snap the next event appended to capture `record` takes: the next of
/// the database's timeline (R3), after its own last event and every other
/// capture's, so that captures recorded side by side interleave.
fn next_event_snap(store: &dyn StoreRead, id: u32, record: &CaptureRecord) -> Result<Snap> {
    let mut next = record.last_snap.saturating_add(1).max(record.first_snap);
    for (other, capture) in store.captures()? {
        if other != id {
            next = next.max(capture.last_snap.saturating_add(1));
        }
    }
    Ok(next)
}

/// The first snap after everything on the timeline: after every capture and
/// every change in any space.
pub(crate) fn timeline_end(store: &dyn StoreRead) -> Result<Snap> {
    let mut end: Snap = 0;
    for (_, capture) in store.captures()? {
        end = end.max(capture.last_snap.saturating_add(1));
    }
    for (space, _) in store.spaces()? {
        if let Some(last) = store.last_timeline_change(space)? {
            end = end.max(last.saturating_add(1));
        }
    }
    Ok(end)
}

pub(crate) fn capture_of(store: &dyn StoreRead, name: &str) -> Result<(u32, CaptureRecord)> {
    store
        .capture(name)?
        .ok_or_else(|| Error::UnknownCapture { name: name.to_string() })
}

impl WriteTransaction {
    /// The id of capture `name`.
    pub(crate) fn capture_id(&self, name: &str) -> Result<u32> {
        Ok(capture_of(&self.store, name)?.0)
    }

    /// The name of capture `id`.
    pub(crate) fn capture_name(&self, id: u32) -> Result<String> {
        Ok(capture_by_id(&self.store, id)?.name)
    }

    /// How many events capture `name` holds.
    pub(crate) fn capture_events(&self, name: &str) -> Result<u64> {
        Ok(capture_of(&self.store, name)?.1.events)
    }

    /// The journal's folded-through mark.
    pub(crate) fn journal_mark(&self, slot: u32) -> Result<u64> {
        self.store.journal_mark(slot)
    }

    /// Stores the folded-through mark of the journal of slot `slot` with
    /// this transaction's writes.
    pub(crate) fn set_journal_mark(&mut self, slot: u32, mark: u64) -> Result<()> {
        self.store.set_journal_mark(slot, mark)
    }

    /// Labels the snap of event `seq` of capture `capture` with `text` (the
    /// snap the next event would take, when it holds no event `seq` yet):
    /// how a recorder's mark lands once its events are committed.
    pub(crate) fn add_mark_at_event(&mut self, capture: &str, seq: u64, text: &str) -> Result<()> {
        let (id, record) = capture_of(&self.store, capture)?;
        let snap = match event_snap(&self.store, id, &record, seq)? {
            Some(snap) => snap,
            None => next_event_snap(&self.store, id, &record)?,
        };
        self.add_mark(snap, text)
    }

    /// Appends the events of capture `id` that follow what it holds, skipping
    /// those it holds already (a replayed journal): `first_seq` is the
    /// sequence number of `events[0]`.
    pub(crate) fn append_replayed(&mut self, id: u32, first_seq: u64, events: &[TraceEvent]) -> Result<()> {
        let record = capture_by_id(&self.store, id)?;
        let skip = record.events.saturating_sub(first_seq);
        if first_seq + skip != record.events {
            return Err(Error::corrupt(
                format!("journal, capture '{}'", record.name),
                format!("events from {first_seq} on follow only {} recorded", record.events),
            ));
        }
        let rest = events.get(skip as usize..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(());
        }
        self.append_events(&record.name, rest)
    }

    /// Labels `snap` with `text`, after any label it has already (`; `).
    pub(crate) fn add_mark(&mut self, snap: Snap, text: &str) -> Result<()> {
        let mut meta = self.snap_meta(snap)?.unwrap_or_default();
        meta.description = if meta.description.is_empty() {
            text.to_string()
        } else {
            format!("{}; {text}", meta.description)
        };
        self.set_snap_meta(snap, &meta)
    }

    /// Labels snap `snap` of capture `capture` with `text`, after any label
    /// it has (`; `): a mark set after recording, at a snap from the
    /// capture's first event to just after its last (what
    /// [`ReadTransaction::marks`] lists). While a recorder records, marks go
    /// through it ([`RecordingMaster::mark`](crate::record::RecordingMaster::mark)).
    pub fn mark(&mut self, capture: &str, snap: Snap, text: &str) -> Result<()> {
        guard_write(self, &|| format!("marking capture '{capture}'"), |this| {
            let (_, record) = capture_of(&this.store, capture)?;
            let last = record.last_snap.saturating_add(1);
            if !(record.first_snap..=last).contains(&snap) {
                return Err(Error::InvalidArgument {
                    argument: "snap",
                    reason: format!(
                        "{snap} is outside capture '{capture}', whose marks go at snaps {}:{last}",
                        record.first_snap
                    ),
                });
            }
            this.add_mark(snap, text)
        })
    }

    /// Creates a capture; its events start at the end of the timeline (R3).
    pub fn create_capture(&mut self, spec: &CaptureSpec) -> Result<CaptureInfo> {
        guard_write(self, &|| format!("creating capture '{}'", spec.name), |this| {
            if spec.name.is_empty() {
                return Err(Error::InvalidSpaceName {
                    name: spec.name.clone(),
                    reason: "a capture needs a name",
                });
            }
            if this.store.capture(&spec.name)?.is_some() {
                return Err(Error::CaptureExists {
                    name: spec.name.clone(),
                });
            }
            this.create_space(&spec.space)?;
            let first_snap = timeline_end(&this.store)?;
            let record = CaptureRecord {
                name: spec.name.clone(),
                space: spec.space.clone(),
                big_endian: spec.big_endian,
                start_wall_ns: spec.start_wall_ns,
                policy: spec.policy.to_string(),
                first_snap,
                events: 0,
                last_snap: first_snap - 1,
            };
            let id = this.store.next_capture_id()?;
            this.store.put_capture(id, &record)?;
            // A capture created after a retention step starts after its
            // horizon: nothing of it was dropped.
            CaptureInfo::from_record(record, 0)
        })
    }

    /// Appends events to a capture: each gets the next snap; its memory
    /// observation (the low `width` bytes of the value in the capture's byte
    /// order, or ERROR over them for a failed read) goes into the capture's
    /// space, the rest into its event log.
    pub fn append_events(&mut self, capture: &str, events: &[TraceEvent]) -> Result<()> {
        guard_write(self, &|| format!("appending to capture '{capture}'"), |this| {
            let (id, mut record) = capture_of(&this.store, capture)?;
            let space = this.store.space_id(&record.space)?.ok_or_else(|| Error::UnknownSpace {
                name: record.space.clone(),
            })?;
            // Checked and split first: memory takes the observations in one
            // batch, the event log the rest.
            let tracked = this.store.tracks_on()?;
            let mut tracks = Vec::with_capacity(if tracked { events.len() } else { 0 });
            let mut observations = Vec::with_capacity(events.len());
            let mut logged = Vec::with_capacity(events.len());
            let first = next_event_snap(&this.store, id, &record)?;
            if record.events == 0 {
                record.first_snap = first;
            }
            for ((seq, snap), event) in (record.events..).zip(first..).zip(events) {
                let width = event.memory_width();
                let bad = |reason: String| Error::BadEvent {
                    capture: capture.to_string(),
                    seq,
                    address: event.address,
                    reason,
                };
                if !(1..=8).contains(&width) {
                    return Err(bad(format!("width {width} is not in 1..=8")));
                }
                if event.address.checked_add(u64::from(width) - 1).is_none() {
                    return Err(bad(format!("{width} bytes run past the end of the address space")));
                }
                if !event.timestamp.is_finite() {
                    return Err(bad("the timestamp is not finite".into()));
                }
                let value_kept_in_memory = event.error.is_none() && event.value & !width_mask(width) == 0;
                let observed = match (&event.error, event.op) {
                    (None, _) => {
                        let mut bytes = event.value.to_le_bytes();
                        if record.big_endian {
                            bytes[..usize::from(width)].reverse();
                        }
                        Some(Some(bytes))
                    }
                    (Some(_), Op::Read) => Some(None),
                    (Some(_), Op::Write) => None,
                };
                if let Some(bytes) = observed {
                    observations.push(Observation {
                        snap,
                        address: event.address,
                        len: width,
                        bytes,
                    });
                }
                if tracked {
                    tracks.push(TrackedEvent {
                        address: event.address,
                        time: event.timestamp,
                        value: event.error.is_none().then_some(event.value),
                    });
                }
                let failed_read_of_zero = event.error.is_some() && event.op == Op::Read && event.value == 0;
                logged.push(LoggedEvent {
                    snap,
                    op: event.op,
                    address: event.address,
                    width,
                    has_width: event.width.is_some(),
                    timestamp: event.timestamp,
                    exception: (!value_kept_in_memory && !failed_read_of_zero).then_some(event.value),
                    error: event.error.clone(),
                });
            }
            this.store.append_observations(space, &observations)?;
            if tracked {
                // A builder resumed from a stored tail first takes the events
                // committed since it.
                if let Some(since) = this.store.track_catch_up(id, record.events)? {
                    let missed: Vec<TrackedEvent> = read_events(&this.store, capture, since.clone(), None)?
                        .iter()
                        .map(|e| TrackedEvent {
                            address: e.address,
                            time: e.timestamp,
                            value: e.error.is_none().then_some(e.value),
                        })
                        .collect();
                    this.store.track_events(id, since.start, &missed)?;
                }
                this.store.track_events(id, record.events, &tracks)?;
            }
            record.events = event_log::append(&mut this.store, id, record.events, &logged)?;
            if let Some(last) = logged.last() {
                record.last_snap = last.snap;
            }
            this.store.put_capture(id, &record)
        })
    }
}

/// Reads the events `seqs` of a capture, their values from memory.
/// With `snaps`, their snaps go there too.
pub(crate) fn read_events(
    store: &dyn StoreRead,
    name: &str,
    seqs: Range<u64>,
    mut snaps: Option<&mut Vec<Snap>>,
) -> Result<Vec<TraceEvent>> {
    let (id, record) = capture_of(store, name)?;
    let end = seqs.end.min(record.events);
    let mut out = Vec::new();
    if seqs.start >= end {
        return Ok(out);
    }
    before_horizon(store, id, &record, seqs.start)?;
    let space_id = store.space_id(&record.space)?.ok_or_else(|| Error::UnknownSpace {
        name: record.space.clone(),
    })?;
    let space = crate::memory::MemorySpace {
        store,
        space: space_id,
        name: record.space.clone(),
    };
    // Each event's bytes are the records at its snap: read in snap order,
    // each granule's chunk is sought once, not once an event.
    let mut deltas = DeltaCursor::new(space_id);
    event_log::for_each(store, id, seqs.start, &mut |seq, event| {
        if seq >= end {
            return Ok(false);
        }
        let value = match event.exception {
            Some(value) => value,
            None if event.error.is_some() => 0,
            None => {
                let snap = event.snap;
                let mut bytes = [0u8; 8];
                let width = usize::from(event.width);
                let filled = match deltas.known_at(store, snap, event.address, &mut bytes[..width])? {
                    true => width,
                    false => space.get_bytes(snap, event.address, &mut bytes[..width])?,
                };
                if filled != width {
                    return Err(Error::corrupt(
                        format!("capture '{name}', event {seq} at snap {snap}"),
                        "its bytes are missing from memory",
                    ));
                }
                if record.big_endian {
                    bytes[..width].reverse();
                }
                u64::from_le_bytes(bytes)
            }
        };
        if let Some(snaps) = snaps.as_deref_mut() {
            snaps.push(event.snap);
        }
        out.push(TraceEvent {
            op: event.op,
            address: event.address,
            value,
            width: event.has_width.then_some(event.width),
            timestamp: event.timestamp,
            error: event.error,
        });
        Ok(true)
    })?;
    Ok(out)
}

/// Whether `k` is the number of a later session (`2` of `NAME#2`).
fn is_session_number(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())
}

/// The family a capture belongs to: `NAME` for a later session `NAME#k` of
/// an imported file, else its own name.
pub fn family_of(name: &str) -> &str {
    match name.rsplit_once('#') {
        Some((family, k)) if is_session_number(k) => family,
        _ => name,
    }
}

/// Whether capture `name` is `family` or one of its later sessions
/// `family#k`.
pub fn in_family(name: &str, family: &str) -> bool {
    name == family
        || name
            .strip_prefix(family)
            .and_then(|rest| rest.strip_prefix('#'))
            .is_some_and(is_session_number)
}

/// Where and how wide an event touched memory, read from the event log alone
/// (no memory lookup): what a pass over a capture's addresses needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFootprint {
    /// Read or write.
    pub op: Op,
    /// The byte address.
    pub address: u64,
    /// The width it observes in memory (its width, or 4 or 8 for an event
    /// recorded without one, R7).
    pub memory_width: u8,
    /// Whether the transaction failed.
    pub failed: bool,
}

impl ReadTransaction {
    /// The snap of the last event of `capture` at or before `time` seconds
    /// on its own clock (its recorded timestamps, in time order), if any: a
    /// binary search reading one event at a time.
    pub fn snap_at_time(&self, capture: &CaptureInfo, time: f64) -> Result<Option<Snap>> {
        let (mut lo, mut hi) = (capture.horizon, capture.events);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.events(&capture.name, mid..mid + 1)?.first() {
                Some(e) if e.timestamp <= time => lo = mid + 1,
                _ => hi = mid,
            }
        }
        if lo == capture.horizon && capture.horizon > 0 {
            // Before its first kept event: the answer was dropped.
            return Err(Error::EventBeforeHorizon {
                capture: capture.name.clone(),
                seq: capture.horizon - 1,
                first_kept: capture.horizon,
            });
        }
        match lo.checked_sub(1) {
            Some(seq) => self.event_snap(capture, seq),
            None => Ok(None),
        }
    }

    /// The snap of event `seq` of `capture`, or `None` past its events.
    pub fn event_snap(&self, capture: &CaptureInfo, seq: u64) -> Result<Option<Snap>> {
        if seq < capture.events && capture.snaps_are_consecutive() {
            return Ok(Some(capture.first_snap.saturating_add_unsigned(seq)));
        }
        guard(&|| format!("event {seq} of capture '{}'", capture.name), || {
            let (id, record) = capture_of(&self.store, &capture.name)?;
            event_snap(&self.store, id, &record, seq)
        })
    }

    /// The sequence number of the first event of `capture` at or after
    /// `snap` (how many of its events come before `snap`; its event count
    /// when none is at or after it).
    pub fn seq_from_snap(&self, capture: &CaptureInfo, snap: Snap) -> Result<u64> {
        guard(&|| format!("capture '{}' at snap {snap}", capture.name), || {
            let (id, record) = capture_of(&self.store, &capture.name)?;
            seq_from_snap(&self.store, id, &record, snap)
        })
    }

    /// The marks of `capture` (the snaps its recorder labelled: its events'
    /// snaps and the snap after its last event), with their texts, in snap
    /// order.
    pub fn marks(&self, capture: &CaptureInfo) -> Result<Vec<(Snap, String)>> {
        let marked = self.snaps_with_meta(crate::vocab::types::Lifespan::new(
            capture.first_snap,
            capture.end_snap(),
        )?)?;
        let mut marks = Vec::new();
        for (snap, meta) in marked {
            if meta.description.is_empty() {
                continue;
            }
            // Beside another capture, a snap in the range may be its.
            let own = capture.snaps_are_consecutive()
                || snap == capture.end_snap()
                || self
                    .event_snap(capture, self.seq_from_snap(capture, snap)?)?
                    .is_some_and(|s| s == snap);
            if own {
                marks.push((snap, meta.description));
            }
        }
        Ok(marks)
    }

    /// The footprints of events `seqs` of a capture: much cheaper than
    /// [`ReadTransaction::events`], which reads each value from memory.
    pub fn event_footprints(&self, capture: &str, seqs: Range<u64>) -> Result<Vec<EventFootprint>> {
        guard(&|| format!("events of capture '{capture}'"), || {
            let (id, record) = capture_of(&self.store, capture)?;
            let end = seqs.end.min(record.events);
            let mut out = Vec::new();
            if seqs.start >= end {
                return Ok(out);
            }
            before_horizon(&self.store, id, &record, seqs.start)?;
            event_log::for_each(&self.store, id, seqs.start, &mut |seq, event| {
                if seq >= end {
                    return Ok(false);
                }
                out.push(EventFootprint {
                    op: event.op,
                    address: event.address,
                    memory_width: event.width,
                    failed: event.error.is_some(),
                });
                Ok(true)
            })?;
            Ok(out)
        })
    }

    /// Every capture, in creation order.
    pub fn captures(&self) -> Result<Vec<CaptureInfo>> {
        guard(&|| "captures".to_string(), || {
            self.store
                .captures()?
                .into_iter()
                .map(|(id, r)| CaptureInfo::from_record(r, self.store.capture_horizon(id)?))
                .collect()
        })
    }

    /// The capture named `name`.
    pub fn capture(&self, name: &str) -> Result<CaptureInfo> {
        guard(&|| format!("capture '{name}'"), || {
            let (id, record) = capture_of(&self.store, name)?;
            CaptureInfo::from_record(record, self.store.capture_horizon(id)?)
        })
    }

    /// The events `seqs` (sequence numbers, from 0) of a capture.
    pub fn events(&self, capture: &str, seqs: Range<u64>) -> Result<Vec<TraceEvent>> {
        guard(&|| format!("events of capture '{capture}'"), || {
            read_events(&self.store, capture, seqs, None)
        })
    }

    /// The events `seqs` of a capture, each with its snap.
    pub fn events_with_snaps(&self, capture: &str, seqs: Range<u64>) -> Result<Vec<(Snap, TraceEvent)>> {
        guard(&|| format!("events of capture '{capture}'"), || {
            let mut snaps = Vec::new();
            let events = read_events(&self.store, capture, seqs, Some(&mut snaps))?;
            Ok(snaps.into_iter().zip(events).collect())
        })
    }
}
