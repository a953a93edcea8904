//! The recorder (R2-R5): [`RecordingMaster`] wraps a bus master and records
//! every completed transaction into a capture.
//!
//! Durability comes from the journal beside the database (`<db>.journal`): an
//! event is copied into a shared, preallocated file mapping — which survives
//! a kill -9 of the process — when its policy says so (every event, every
//! `n`-th, or at a flush). Events are then folded into the database in
//! batches, each one commit that also records how far the journal is folded
//! (the *mark*), at least every `commit_interval` (what live readers lag by;
//! while recording pauses, a ticker thread asks for the commit the next
//! call would have) and whenever `max_pending` events wait. The commits run on a thread of
//! their own while recording goes on (`folder`); at most two batches wait
//! for it, and a recording call that would hand over a third, or that finds
//! the journal full, waits (backpressure: memory stays flat). Opening the
//! database for writing replays whatever the journal holds past the mark
//! (see `Database::open`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::db::capture::{CaptureInfo, CaptureSpec};
use crate::db::retention::Retention;
use crate::db::{Database, ReadTransaction};
use crate::format::policy::FlushPolicy;
use crate::journal::entry::JournalEntry;
use crate::journal::{Journal, journal_slot_path};
use crate::record::folder::{Batch, FoldWorker, Folder, SharedDatabase, lock};
use crate::record::master::{BusError, BusOp, Master};
use crate::record::shared::{self, Slot};
use crate::record::syncer::{IdleSyncer, SyncState};
use crate::record::ticker::Ticker;
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::{Op, TraceEvent};

/// When the journal is also forced to the disk (power-loss durability): a
/// journaled event reaches the disk within `interval` or `events` events,
/// whichever comes first, whether recording goes on or pauses (a thread of
/// the recorder syncs an idle journal). Events committed into the database
/// are on the disk already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncPolicy {
    /// At least this often...
    pub interval: Duration,
    /// ...and at least every this many events.
    pub events: u64,
}

/// How a recorder behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderOptions {
    /// When events become durable against a crash of the process (R4).
    pub policy: FlushPolicy,
    /// The longest time between two commits of recorded events into the
    /// database, which is how far live readers (other processes that open the
    /// database read-only while it records) lag behind (default 100 ms),
    /// also when the bus goes quiet.
    pub commit_interval: Duration,
    /// The most events waiting in memory for a commit (default 65,536).
    pub max_pending: usize,
    /// The size of the journal file (default 64 MiB).
    pub journal_capacity: u64,
    /// Forcing the journal to the disk, bounding loss on power failure
    /// (default none: durable against process crashes only).
    pub sync: Option<SyncPolicy>,
    /// The database's page cache in bytes (default: redb's).
    pub cache_size: Option<usize>,
    /// Whether batches are committed on a thread of their own while
    /// recording goes on (default), or within the recording call that hands
    /// them over. Either way a commit holds the same events.
    pub background_fold: bool,
    /// Whether the database keeps register tracks from this capture on
    /// (default off; see [`WriteTransaction::keep_tracks`](crate::WriteTransaction::keep_tracks)).
    /// A database that keeps them already goes on keeping them.
    pub tracks: bool,
    /// The bounds of the database (default none: it grows without bound).
    /// Past a bound, each commit drops the oldest history while recording
    /// goes on ([`WriteTransaction::retain`](crate::WriteTransaction::retain));
    /// a size bound also caps the journal at an eighth of it.
    pub retention: Retention,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            policy: FlushPolicy::Event,
            commit_interval: Duration::from_millis(100),
            max_pending: 65_536,
            journal_capacity: 64 << 20,
            sync: None,
            cache_size: None,
            background_fold: true,
            tracks: false,
            retention: Retention::default(),
        }
    }
}

/// The state of a recording between creation and close.
struct Recording {
    db: SharedDatabase,
    /// The journal slot it holds in the database (shared with the other
    /// recorders of the process that record into it).
    slot: Option<Slot>,
    capture: CaptureInfo,
    capture_id: u32,
    journal: Journal,
    options: RecorderOptions,
    started: Instant,
    /// The last timestamp given, and the whole microseconds it stands for.
    clock: (f64, u64),
    /// The clock as the last timestamp read it, until the event is recorded.
    clock_read: Option<Instant>,
    /// Events the folder has reported in the database.
    folded: u64,
    /// Batches handed to the folder and not reported committed, in order
    /// (events `folded..`); every event in them is journaled.
    in_flight: VecDeque<Arc<Batch>>,
    /// Events in `in_flight`.
    in_flight_events: u64,
    /// Events recorded since, in order.
    pending: Vec<TraceEvent>,
    /// How many of the last `pending` events are not in the journal yet.
    unjournaled: usize,
    /// Marks not handed over yet, at the sequence numbers of the events
    /// whose snaps they label.
    marks: Vec<(u64, String)>,
    folder: FoldWorker,
    /// Turns asked of the folder and not reported yet.
    awaiting: usize,
    last_commit: Instant,
    last_sync: Instant,
    since_sync: u64,
    /// Events journaled and synced, shared with `syncer`.
    sync_state: Arc<SyncState>,
    /// Syncs the journal when recording pauses (with a sync policy).
    syncer: Option<IdleSyncer>,
    payload: Vec<u8>,
    /// What a commit asked for by the idle ticker failed with, for the
    /// next recording call to return.
    deferred: Option<Error>,
    /// The most bytes a commit found the file and its journals taking past
    /// the size bound.
    past_bound: Option<u64>,
}

/// A recording shared by the recording calls and the idle ticker.
type SharedRecording = Arc<Mutex<Recording>>;

/// Locks a recording; a panic elsewhere while it was held leaves it usable.
fn hold(recording: &SharedRecording) -> MutexGuard<'_, Recording> {
    recording.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A master that records every transaction of the master it wraps (R2).
pub struct RecordingMaster<M: Master> {
    inner: M,
    recording: Option<SharedRecording>,
    /// The capture being recorded, as created.
    capture: Option<CaptureInfo>,
    /// Commits what waits once recording pauses for the commit interval.
    ticker: Option<Ticker>,
    /// The database file, for errors after closing.
    path: PathBuf,
}

impl<M: Master> RecordingMaster<M> {
    /// Starts capture `spec` in the database at `path` (created if missing;
    /// in an existing one the capture continues the timeline, R3).
    pub fn create(inner: M, path: &Path, spec: &CaptureSpec, options: RecorderOptions) -> Result<RecordingMaster<M>> {
        // Bounds too small to hold one unit fail before anything is stored.
        options.retention.validate()?;
        let mut options = options;
        options.journal_capacity = options.retention.journal_capacity(options.journal_capacity);
        // Shared: other processes may open it read-only meanwhile (R5).
        let mut builder = Database::builder();
        builder.shared(true);
        if let Some(bytes) = options.cache_size {
            builder.cache_size(bytes);
        }
        // A database that another recorder of this process records into is
        // shared with it; each recorder has a journal of its own.
        let slot = shared::join(path, &builder)?;
        let db = slot.database.db.clone();
        let mut spec = spec.clone();
        spec.policy = options.policy;
        let (capture, capture_id, mark) = {
            let db = lock(&db);
            let mut txn = db.begin_write()?;
            if options.tracks {
                txn.keep_tracks()?;
            }
            let capture = txn.create_capture(&spec)?;
            let capture_id = txn.capture_id(&capture.name)?;
            if options.retention.is_bounded() {
                txn.store_bounds(&capture.name, &options.retention)?;
            }
            let mark = txn.journal_mark(slot.slot)?;
            txn.commit()?;
            (capture, capture_id, mark)
        };
        let journal_file = journal_slot_path(path, slot.slot);
        let (journal, leftover) = Journal::open(&journal_file, options.journal_capacity, mark)?;
        if !leftover.is_empty() {
            // Database::open replays the journals; records past the mark now
            // mean another writer is at work.
            return Err(Error::Busy {
                path: path.to_path_buf(),
            });
        }
        let folder =
            Folder::new(db.clone(), capture.name.clone(), 0, slot.slot, mark).with_retention(options.retention.clone());
        let folder = FoldWorker::start(folder, options.background_fold)?;
        let sync_state = Arc::new(SyncState::default());
        let syncer = match options.sync {
            Some(sync) => {
                let file = journal.sync_handle()?;
                Some(
                    IdleSyncer::start(file, sync.interval, sync_state.clone()).map_err(|source| Error::Io {
                        path: journal.path().to_path_buf(),
                        source: std::io::Error::new(source.kind(), format!("starting its sync thread: {source}")),
                    })?,
                )
            }
            None => None,
        };
        let now = Instant::now();
        let interval = options.commit_interval;
        let recording = Arc::new(Mutex::new(Recording {
            db,
            slot: Some(slot),
            capture: capture.clone(),
            capture_id,
            journal,
            options,
            started: now,
            clock: (0.0, 0),
            clock_read: None,
            folded: 0,
            in_flight: VecDeque::new(),
            in_flight_events: 0,
            pending: Vec::new(),
            unjournaled: 0,
            marks: Vec::new(),
            folder,
            awaiting: 0,
            last_commit: now,
            last_sync: now,
            since_sync: 0,
            sync_state,
            syncer,
            payload: Vec::new(),
            deferred: None,
            past_bound: None,
        }));
        let weak = Arc::downgrade(&recording);
        let tick = (interval / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
        let ticker = Ticker::start("tracemem-commit", tick, move || match weak.upgrade() {
            Some(recording) => {
                hold(&recording).idle_tick();
                true
            }
            None => false,
        })
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(source.kind(), format!("starting its commit thread: {source}")),
        })?;
        Ok(RecordingMaster {
            inner,
            path: path.to_path_buf(),
            recording: Some(recording),
            capture: Some(capture),
            ticker: Some(ticker),
        })
    }

    fn recording(&self) -> Result<MutexGuard<'_, Recording>> {
        self.recording.as_ref().map(hold).ok_or_else(|| Error::Closed {
            what: "recording",
            path: self.path.clone(),
        })
    }

    /// The capture being recorded.
    pub fn capture(&self) -> Option<&CaptureInfo> {
        self.capture.as_ref()
    }

    /// A read transaction on the database, for queries while recording: it
    /// sees the events of the last commit (at most `commit_interval` old).
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        let r = self.recording()?;
        lock(&r.db).begin_read()
    }

    /// The sequence number of the capture's first kept event as of the last
    /// commit: 0, unless its retention bounds have dropped older events.
    pub fn horizon(&self) -> Result<u64> {
        let r = self.recording()?;
        let read = lock(&r.db).begin_read()?;
        Ok(read.capture(&r.capture.name)?.horizon)
    }

    /// Under a size bound ([`Retention::max_size`]): the most bytes the
    /// database file and its journals took after a commit that found them
    /// past the bound, if one did. Retention keeps them under the bound; only
    /// a reader holding pages from before the horizon (a read transaction
    /// left open, here or in another process) can make redb grow the file
    /// past it, and the file keeps that size once the reader ends.
    pub fn past_bound(&self) -> Option<u64> {
        self.recording.as_ref().and_then(|r| hold(r).past_bound)
    }

    /// The master being recorded.
    pub fn inner(&mut self) -> &mut M {
        &mut self.inner
    }

    /// How many events have been recorded.
    pub fn len(&self) -> u64 {
        self.recording.as_ref().map_or(0, |r| hold(r).recorded())
    }

    /// How many of the recorded events are durable: they survive a kill -9 of
    /// the process (and a power loss once synced). Under `Event` every
    /// recorded event; under `Every(n)` all but at most the last `n - 1`;
    /// under `Never` those up to the last flush (or fold).
    pub fn durable(&self) -> u64 {
        self.recording.as_ref().map_or(0, |r| {
            let r = hold(r);
            r.recorded() - r.unjournaled as u64
        })
    }

    /// How many of the recorded events are known to be on the disk (they
    /// survive a power loss): those committed, and with a [`SyncPolicy`]
    /// those in the journal when it was last synced, by a recording call or,
    /// while recording pauses, by a thread of the recorder's own.
    pub fn synced(&self) -> u64 {
        self.recording.as_ref().map_or(0, |r| {
            let r = hold(r);
            r.folded.max(r.sync_state.synced_events())
        })
    }

    /// Whether nothing has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every event recorded so far, committed or not (the seed's `events`).
    pub fn events(&self) -> Result<Vec<TraceEvent>> {
        let Some(r) = self.recording.as_ref().map(hold) else {
            return Ok(Vec::new());
        };
        let mut events = lock(&r.db).begin_read()?.events(&r.capture.name, 0..r.folded)?;
        for batch in &r.in_flight {
            events.extend(batch.events.iter().cloned());
        }
        events.extend(r.pending.iter().cloned());
        Ok(events)
    }

    /// The recorded events with sequence numbers in `seqs` (clamped to those
    /// recorded), committed or not: how a caller pages through a long
    /// recording without holding it all in memory.
    pub fn events_in(&self, seqs: std::ops::Range<u64>) -> Result<Vec<TraceEvent>> {
        let Some(r) = self.recording.as_ref().map(hold) else {
            return Ok(Vec::new());
        };
        let end = seqs.end.min(r.recorded());
        let start = seqs.start.min(end);
        let mut events = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        if start < r.folded {
            events = lock(&r.db)
                .begin_read()?
                .events(&r.capture.name, start..end.min(r.folded))?;
        }
        // The events not committed yet, in order, from seq `r.folded`.
        let unfolded = r.in_flight.iter().flat_map(|b| b.events.iter()).chain(r.pending.iter());
        let skip = start.max(r.folded) - r.folded;
        let take = end.saturating_sub(start.max(r.folded));
        events.extend(
            unfolded
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .take(usize::try_from(take).unwrap_or(usize::MAX))
                .cloned(),
        );
        Ok(events)
    }

    /// Records an event observed elsewhere, as given (its timestamp too): how
    /// a trace piped in from another recorder becomes a live capture.
    pub fn record_event(&mut self, event: TraceEvent) -> Result<()> {
        if let Some(width) = event.width {
            check_request(event.address, width).map_err(|e| Error::BadEvent {
                capture: self.capture().map(|c| c.name.clone()).unwrap_or_default(),
                seq: self.len(),
                address: event.address,
                reason: e.message,
            })?;
        }
        self.recording()?.record(event)
    }

    /// Labels the snap of the next event (a test's start, a phase).
    pub fn mark(&mut self, text: &str) -> Result<()> {
        let mut r = self.recording()?;
        // The snap is the next event's, known once it is committed: other
        // recorders may take snaps meanwhile.
        let seq = r.recorded();
        r.payload.clear();
        JournalEntry::MarkAtEvent {
            capture: r.capture_id,
            seq,
            text: text.to_string(),
        }
        .encode(&mut r.payload);
        r.journal_payload()?;
        r.marks.push((seq, text.to_string()));
        // Labelled all the same: the failure is an earlier commit's.
        r.take_deferred()
    }

    /// Makes every event recorded so far durable and visible to readers.
    pub fn flush(&mut self) -> Result<()> {
        let mut r = self.recording()?;
        let deferred = r.take_deferred();
        r.fold_all()?;
        if r.options.sync.is_some() {
            r.sync()?;
        }
        deferred
    }

    /// Folds everything into the database and closes it; the database file
    /// is then complete on its own (the journal file is removed).
    pub fn close(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        // The ticker first: then the recording has no other holder.
        drop(self.ticker.take());
        self.capture = None;
        let Some(shared) = self.recording.take() else {
            return Ok(());
        };
        let mut r = Arc::try_unwrap(shared)
            .map_err(|_| Error::Busy {
                path: self.path.clone(),
            })?
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        // A commit the ticker asked for that failed is retried here; the
        // close reports how that goes.
        drop(r.take_deferred());
        r.fold_all()?;
        r.folder.stop();
        drop(r.syncer.take());
        let path = r.journal.path().to_path_buf();
        drop(r.journal);
        drop(r.folder);
        drop(r.db);
        // Everything it held is committed: the journal goes before its slot
        // is free for another recorder.
        std::fs::remove_file(&path).map_err(|source| Error::Io { path, source })?;
        // The folder's thread has ended; the last recorder of the database
        // closes it.
        match r.slot.take() {
            Some(slot) => slot.release(),
            None => Ok(()),
        }
    }

    fn record(&mut self, event: TraceEvent) -> std::result::Result<(), BusError> {
        let mut r = self
            .recording
            .as_ref()
            .map(hold)
            .ok_or_else(|| BusError::new("recording failed: the recording is closed"))?;
        r.record(event)
            .map_err(|e| BusError::new(format!("recording failed: {e}")))
    }

    fn completed(&mut self, op: Op, address: u64, value: u64, width: u8, error: Option<&BusError>) -> TraceEvent {
        let timestamp = self.recording.as_ref().map_or(0.0, |r| hold(r).timestamp());
        TraceEvent {
            op,
            address,
            value,
            width: Some(width),
            timestamp,
            error: error.map(|e| e.message.clone()),
        }
    }
}

/// Checks a request before it reaches the bus.
fn check_request(address: u64, width: u8) -> std::result::Result<(), BusError> {
    if !(1..=8).contains(&width) {
        return Err(BusError::new(format!("width {width} is not in 1..=8")));
    }
    if address.checked_add(u64::from(width) - 1).is_none() {
        return Err(BusError::new(format!(
            "{width} bytes at {address:#x} run past the end of the address space"
        )));
    }
    Ok(())
}

impl<M: Master> Master for RecordingMaster<M> {
    fn read(&mut self, address: u64, width: u8) -> std::result::Result<u64, BusError> {
        check_request(address, width)?;
        let result = self.inner.read(address, width);
        let event = match &result {
            Ok(value) => self.completed(Op::Read, address, *value, width, None),
            Err(e) => self.completed(Op::Read, address, 0, width, Some(e)),
        };
        self.record(event)?;
        result
    }

    fn write(&mut self, address: u64, value: u64, width: u8) -> std::result::Result<(), BusError> {
        check_request(address, width)?;
        let result = self.inner.write(address, value, width);
        let event = self.completed(Op::Write, address, value, width, result.as_ref().err());
        self.record(event)?;
        result
    }

    fn read_many(&mut self, ops: &[BusOp]) -> std::result::Result<Vec<u64>, BusError> {
        ops.iter().try_for_each(|op| check_request(op.address, op.width))?;
        let result = self.inner.read_many(ops);
        for (i, op) in ops.iter().enumerate() {
            let event = match &result {
                Ok(values) => self.completed(
                    Op::Read,
                    op.address,
                    values.get(i).copied().unwrap_or(0),
                    op.width,
                    None,
                ),
                Err(e) => self.completed(Op::Read, op.address, 0, op.width, Some(e)),
            };
            self.record(event)?;
        }
        result
    }

    fn write_many(&mut self, ops: &[BusOp]) -> std::result::Result<(), BusError> {
        ops.iter().try_for_each(|op| check_request(op.address, op.width))?;
        let result = self.inner.write_many(ops);
        for op in ops {
            let event = self.completed(Op::Write, op.address, op.value, op.width, result.as_ref().err());
            self.record(event)?;
        }
        result
    }
}

impl<M: Master> Drop for RecordingMaster<M> {
    fn drop(&mut self) {
        // Close and drop always flush; a drop cannot report a failure, and
        // what was journaled is replayed at the next open anyway.
        let _ = self.finish();
    }
}

impl Recording {
    /// Seconds since the capture started, in whole microseconds accumulated
    /// as the seed does (`t += k * 1e-6`), so that the event log stores each
    /// as a one-byte step `k` (FORMAT.md) instead of a raw double.
    fn timestamp(&mut self) -> f64 {
        let now = Instant::now();
        self.clock_read = Some(now);
        let micros = u64::try_from(now.duration_since(self.started).as_micros()).unwrap_or(u64::MAX);
        let (time, last) = self.clock;
        let step = micros.saturating_sub(last);
        let time = time + step as f64 * 1e-6;
        self.clock = (time, last + step);
        time
    }

    /// Events recorded so far.
    fn recorded(&self) -> u64 {
        self.folded + self.in_flight_events + self.pending.len() as u64
    }

    /// The failure of a commit the idle ticker asked for, once.
    fn take_deferred(&mut self) -> Result<()> {
        self.deferred.take().map_or(Ok(()), Err)
    }

    /// A turn of the idle ticker: once the commit interval has passed since
    /// the last commit, hands over what waits (a recording call would
    /// have, had one come); else takes the folder's reports, which frees
    /// the journal of what it committed.
    fn idle_tick(&mut self) {
        let due = self.has_pending() && self.last_commit.elapsed() >= self.options.commit_interval;
        let result = if due {
            self.fold()
        } else if self.awaiting > 0 {
            self.take_reports(false)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            self.deferred.get_or_insert(e);
        }
    }

    /// Records `event`; an error reports a failed commit (this call's or
    /// one the idle ticker asked for), the event recorded all the same.
    fn record(&mut self, event: TraceEvent) -> Result<()> {
        let recorded = self.record_one(event);
        let deferred = self.take_deferred();
        recorded.and(deferred)
    }

    fn record_one(&mut self, event: TraceEvent) -> Result<()> {
        self.pending.push(event);
        self.unjournaled += 1;
        let due = match self.options.policy {
            FlushPolicy::Event => true,
            FlushPolicy::Every(n) => self.unjournaled as u64 >= n.get(),
            FlushPolicy::Never => self.unjournaled >= self.options.max_pending,
        };
        if due {
            self.journal_pending()?;
        }
        // The clock as the event's timestamp read it: one read per event.
        let now = self.clock_read.take().unwrap_or_else(Instant::now);
        if self.pending.len() >= self.options.max_pending
            || now.saturating_duration_since(self.last_commit) >= self.options.commit_interval
        {
            self.fold()?;
        }
        self.since_sync += 1;
        if let Some(sync) = self.options.sync {
            if let Some(failure) = self.sync_state.take_failure() {
                return Err(Error::SyncFailed {
                    path: self.journal.path().to_path_buf(),
                    reason: failure,
                });
            }
            if self.since_sync >= sync.events || now.saturating_duration_since(self.last_sync) >= sync.interval {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Journals the events not journaled yet. When the journal is full,
    /// waits for the batches handed over to be committed (which frees it);
    /// when it cannot take them even empty, has them committed instead.
    fn journal_pending(&mut self) -> Result<()> {
        if self.unjournaled > self.pending.len() {
            // Events handed over unjournaled (see below) come first.
            self.fold_all()?;
        }
        while self.unjournaled > 0 {
            let start = self.pending.len() - self.unjournaled;
            // All payloads in one buffer, cut at `ends`: no copy of an event,
            // no allocation per event.
            self.payload.clear();
            let mut ends = Vec::with_capacity(self.unjournaled);
            let first_seq = self.folded + self.in_flight_events;
            for (i, event) in self.pending[start..].iter().enumerate() {
                JournalEntry::encode_event(
                    &mut self.payload,
                    self.capture_id,
                    first_seq + (start + i) as u64,
                    event,
                );
                ends.push(self.payload.len());
            }
            let buffer = &self.payload;
            let payloads = ends.iter().scan(0, |from, &end| {
                let slice = &buffer[*from..end];
                *from = end;
                Some(slice)
            });
            match self.journal.append_batch(payloads) {
                Ok(_) => {
                    self.unjournaled = 0;
                    self.sync_state.journaled(self.recorded());
                }
                Err(crate::journal::JournalError::Full { .. }) if !self.in_flight.is_empty() => {
                    self.fold_all()?;
                }
                Err(crate::journal::JournalError::Full { .. }) => {
                    // Nothing to wait for: commit them rather than journal them.
                    return self.fold_all();
                }
                Err(e) => return Err(self.journal_error(e)),
            }
        }
        Ok(())
    }

    /// Journals `self.payload` (a mark), making room first if the journal is full.
    fn journal_payload(&mut self) -> Result<()> {
        match self.journal.append(&self.payload) {
            Ok(_) => Ok(()),
            Err(crate::journal::JournalError::Full { .. }) => {
                self.fold_all()?;
                let payload = std::mem::take(&mut self.payload);
                let result = self
                    .journal
                    .append(&payload)
                    .map(|_| ())
                    .map_err(|e| self.journal_error(e));
                self.payload = payload;
                result
            }
            Err(e) => Err(self.journal_error(e)),
        }
    }

    fn journal_error(&self, e: crate::journal::JournalError) -> Error {
        Error::from(e)
    }

    /// Hands the pending events and marks over to be committed (journaled
    /// first), and takes the folder's reports so far. A failed commit keeps
    /// its events in flight (and journaled): the folder opens the database
    /// again at its next turn and retries, so recording resumes once the
    /// disk has room again; the failure is returned once.
    fn fold(&mut self) -> Result<()> {
        self.last_commit = Instant::now();
        let reported = self.take_reports(false);
        let handed = if self.has_pending() {
            self.journal_pending().and_then(|()| self.hand_over())
        } else if self.awaiting == 0 && !self.in_flight.is_empty() {
            // A failed commit waits for a retry.
            self.ask(None)
        } else {
            Ok(())
        };
        reported.and(handed)
    }

    /// Hands everything over and waits until it is committed.
    fn fold_all(&mut self) -> Result<()> {
        self.hand_over()?;
        while !self.in_flight.is_empty() {
            if self.awaiting == 0 {
                self.ask(None)?;
            }
            self.take_reports(true)?;
        }
        Ok(())
    }

    /// Whether events or marks wait to be handed over.
    fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.marks.is_empty()
    }

    /// Hands the pending events and marks over as one batch, if there are
    /// any (journaling may have had them committed already: a full journal).
    fn hand_over(&mut self) -> Result<()> {
        if !self.has_pending() {
            return Ok(());
        }
        let batch = Arc::new(Batch {
            events: std::mem::take(&mut self.pending),
            marks: std::mem::take(&mut self.marks),
            mark: self.journal.last_seq(),
        });
        self.in_flight_events += batch.events.len() as u64;
        self.in_flight.push_back(batch.clone());
        self.ask(Some(batch))
    }

    fn ask(&mut self, batch: Option<Arc<Batch>>) -> Result<()> {
        self.folder.send(batch)?;
        self.awaiting += 1;
        Ok(())
    }

    /// Takes the folder's reports: waits for one when `wait`, else takes
    /// those there are. Committed batches leave `in_flight` and free their
    /// journal records; the first failure reported is returned.
    fn take_reports(&mut self, wait: bool) -> Result<()> {
        let mut first_error = None;
        let mut wait = wait;
        while self.awaiting > 0 {
            let Some(report) = self.folder.report(wait)? else {
                break;
            };
            wait = false;
            self.awaiting = self.awaiting.saturating_sub(report.handovers);
            for batch in self.in_flight.drain(..report.batches.min(self.in_flight.len())) {
                self.in_flight_events -= batch.events.len() as u64;
                self.folded += batch.events.len() as u64;
            }
            if report.batches > 0 {
                self.journal.folded(report.mark).map_err(|e| self.journal_error(e))?;
                let unfolded = usize::try_from(self.recorded() - self.folded).unwrap_or(usize::MAX);
                self.unjournaled = self.unjournaled.min(unfolded);
            }
            self.past_bound = self.past_bound.max(report.past_bound);
            if first_error.is_none() {
                first_error = report.error;
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn sync(&mut self) -> Result<()> {
        let events = self.sync_state.to_sync();
        self.journal.sync().map_err(|e| self.journal_error(e))?;
        self.sync_state.synced(events);
        self.since_sync = 0;
        self.last_sync = Instant::now();
        Ok(())
    }
}
