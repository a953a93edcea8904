//! The recorder (R2-R5): [`RecordingMaster`] wraps a bus master and records
//! every completed transaction into a capture.
//!
//! Durability comes from the journal beside the database (`<db>.journal`): an
//! event is copied into a shared, preallocated file mapping — which survives
//! a kill -9 of the process — when its policy says so (every event, every
//! `n`-th, or at a flush). Events are then folded into the database in
//! batches, each one commit that also records how far the journal is folded
//! (the *mark*), at least every `commit_interval` (what live readers lag by)
//! and whenever `max_pending` events wait (backpressure: memory stays flat).
//! Opening the database for writing replays whatever the journal holds past
//! the mark (see `Database::open`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::capture::{CaptureInfo, CaptureSpec};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::record::master::{BusError, BusOp, Master};
use crate::record::policy::FlushPolicy;
use crate::record::trace_file::{Op, TraceEvent};
use crate::store::journal::Journal;
use crate::store::wal::JournalEntry;
use crate::types::Snap;

/// The journal file of the database at `db`: `<db>.journal`.
pub fn journal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// When the journal is also forced to the disk (power-loss durability).
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
    /// database read-only while it records) lag behind (default 200 ms).
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
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            policy: FlushPolicy::Event,
            commit_interval: Duration::from_millis(200),
            max_pending: 65_536,
            journal_capacity: 64 << 20,
            sync: None,
            cache_size: None,
        }
    }
}

/// The state of a recording between creation and close.
struct Recording {
    db: Database,
    capture: CaptureInfo,
    capture_id: u32,
    journal: Journal,
    options: RecorderOptions,
    started: Instant,
    /// The last timestamp given, and the whole microseconds it stands for.
    clock: (f64, u64),
    /// The clock as the last timestamp read it, until the event is recorded.
    clock_read: Option<Instant>,
    /// Events already in the database.
    folded: u64,
    /// Events recorded since, in order (event `folded + i`).
    pending: Vec<TraceEvent>,
    /// How many of the last `pending` events are not in the journal yet.
    unjournaled: usize,
    /// Marks not yet in the database.
    marks: Vec<(Snap, String)>,
    /// After a fold whose commit failed (a full disk, an I/O error): how
    /// many marks it held and the journal mark it tried to commit. The
    /// storage then refuses everything until the database is opened again,
    /// which the next fold does.
    failed_fold: Option<(usize, u64)>,
    /// The journal mark of the last fold committed.
    committed_mark: u64,
    last_commit: Instant,
    last_sync: Instant,
    since_sync: u64,
    payload: Vec<u8>,
}

/// A master that records every transaction of the master it wraps (R2).
pub struct RecordingMaster<M: Master> {
    inner: M,
    recording: Option<Recording>,
}

impl<M: Master> RecordingMaster<M> {
    /// Starts capture `spec` in the database at `path` (created if missing;
    /// in an existing one the capture continues the timeline, R3).
    pub fn create(inner: M, path: &Path, spec: &CaptureSpec, options: RecorderOptions) -> Result<RecordingMaster<M>> {
        // Shared: other processes may open it read-only meanwhile (R5).
        let mut builder = Database::builder();
        builder.shared(true);
        if let Some(bytes) = options.cache_size {
            builder.cache_size(bytes);
        }
        let db = if path.exists() {
            builder.open(path)?
        } else {
            builder.create(path)?
        };
        let mut spec = spec.clone();
        spec.policy = options.policy;
        let mut txn = db.begin_write()?;
        let capture = txn.create_capture(&spec)?;
        let capture_id = txn.capture_id(&capture.name)?;
        let mark = txn.journal_mark()?;
        txn.commit()?;
        let (journal, leftover) = Journal::open(&journal_path(path), options.journal_capacity, mark)
            .map_err(|e| Error::corrupt(journal_path(path).display().to_string(), e.to_string()))?;
        if !leftover.is_empty() {
            // Database::open replays the journal; records past the mark now
            // mean another writer is at work.
            return Err(Error::Busy {
                path: path.to_path_buf(),
            });
        }
        let now = Instant::now();
        Ok(RecordingMaster {
            inner,
            recording: Some(Recording {
                db,
                capture,
                capture_id,
                journal,
                options,
                started: now,
                clock: (0.0, 0),
                clock_read: None,
                folded: 0,
                pending: Vec::new(),
                unjournaled: 0,
                marks: Vec::new(),
                failed_fold: None,
                committed_mark: mark,
                last_commit: now,
                last_sync: now,
                since_sync: 0,
                payload: Vec::new(),
            }),
        })
    }

    fn recording(&mut self) -> Result<&mut Recording> {
        self.recording
            .as_mut()
            .ok_or_else(|| Error::corrupt("recorder", "the recording is closed"))
    }

    /// The capture being recorded.
    pub fn capture(&self) -> Option<&CaptureInfo> {
        self.recording.as_ref().map(|r| &r.capture)
    }

    /// The database, for queries while recording.
    pub fn database(&self) -> Option<&Database> {
        self.recording.as_ref().map(|r| &r.db)
    }

    /// The master being recorded.
    pub fn inner(&mut self) -> &mut M {
        &mut self.inner
    }

    /// How many events have been recorded.
    pub fn len(&self) -> u64 {
        self.recording.as_ref().map_or(0, |r| r.folded + r.pending.len() as u64)
    }

    /// How many of the recorded events are durable: they survive a kill -9 of
    /// the process (and a power loss once synced). Under `Event` every
    /// recorded event; under `Every(n)` all but at most the last `n - 1`;
    /// under `Never` those up to the last flush (or fold).
    pub fn durable(&self) -> u64 {
        self.recording
            .as_ref()
            .map_or(0, |r| r.folded + (r.pending.len() - r.unjournaled) as u64)
    }

    /// Whether nothing has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every event recorded so far, committed or not (the seed's `events`).
    pub fn events(&self) -> Result<Vec<TraceEvent>> {
        let Some(r) = self.recording.as_ref() else {
            return Ok(Vec::new());
        };
        let mut events = r.db.begin_read()?.events(&r.capture.name, 0..r.folded)?;
        events.extend(r.pending.iter().cloned());
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
        let r = self.recording()?;
        let snap = r.capture.snap_of(r.folded + r.pending.len() as u64);
        r.payload.clear();
        JournalEntry::Mark {
            snap,
            text: text.to_string(),
        }
        .encode(&mut r.payload);
        r.journal_payload()?;
        r.marks.push((snap, text.to_string()));
        Ok(())
    }

    /// Makes every event recorded so far durable and visible to readers.
    pub fn flush(&mut self) -> Result<()> {
        let r = self.recording()?;
        r.fold()?;
        if r.options.sync.is_some() {
            r.sync()?;
        }
        Ok(())
    }

    /// Folds everything into the database and closes it; the database file
    /// is then complete on its own (the journal file is removed).
    pub fn close(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        let Some(mut r) = self.recording.take() else {
            return Ok(());
        };
        r.fold()?;
        let path = r.journal.path().to_path_buf();
        drop(r.journal);
        r.db.close()?;
        std::fs::remove_file(&path).map_err(|source| Error::Io { path, source })
    }

    fn record(&mut self, event: TraceEvent) -> std::result::Result<(), BusError> {
        let r = self
            .recording
            .as_mut()
            .ok_or_else(|| BusError::new("recording failed: the recording is closed"))?;
        r.record(event)
            .map_err(|e| BusError::new(format!("recording failed: {e}")))
    }

    fn completed(&mut self, op: Op, address: u64, value: u64, width: u8, error: Option<&BusError>) -> TraceEvent {
        let timestamp = self.recording.as_mut().map_or(0.0, Recording::timestamp);
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

    fn record(&mut self, event: TraceEvent) -> Result<()> {
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
        if let Some(sync) = self.options.sync
            && (self.since_sync >= sync.events || now.saturating_duration_since(self.last_sync) >= sync.interval)
        {
            self.sync()?;
        }
        Ok(())
    }

    /// Journals the events not journaled yet; if the journal is full, folds
    /// everything into the database instead (which also frees the journal).
    fn journal_pending(&mut self) -> Result<()> {
        let start = self.pending.len() - self.unjournaled;
        // All payloads in one buffer, cut at `ends`: no copy of an event,
        // no allocation per event.
        self.payload.clear();
        let mut ends = Vec::with_capacity(self.unjournaled);
        for (i, event) in self.pending[start..].iter().enumerate() {
            JournalEntry::encode_event(
                &mut self.payload,
                self.capture_id,
                self.folded + (start + i) as u64,
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
                Ok(())
            }
            Err(crate::store::journal::JournalError::Full { .. }) => self.fold(),
            Err(e) => Err(self.journal_error(e)),
        }
    }

    /// Journals `self.payload` (a mark), folding first if the journal is full.
    fn journal_payload(&mut self) -> Result<()> {
        match self.journal.append(&self.payload) {
            Ok(_) => Ok(()),
            Err(crate::store::journal::JournalError::Full { .. }) => {
                self.fold()?;
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

    fn journal_error(&self, e: crate::store::journal::JournalError) -> Error {
        Error::corrupt(self.journal.path().display().to_string(), e.to_string())
    }

    /// Commits every pending event and mark, with the journal's mark, then
    /// lets the journal recycle what is folded. A failed commit keeps them
    /// all pending (and journaled): the next fold opens the database again
    /// and retries, so recording resumes once the disk has room again.
    fn fold(&mut self) -> Result<()> {
        self.last_commit = Instant::now();
        if self.failed_fold.is_some() {
            self.recover()?;
        }
        if self.pending.is_empty() && self.marks.is_empty() {
            return Ok(());
        }
        let mark = self.journal.last_seq();
        if let Err(e) = self.commit_pending(mark) {
            self.failed_fold = Some((self.marks.len(), mark));
            return Err(e);
        }
        self.folded_through(self.pending.len(), self.marks.len(), mark)
    }

    fn commit_pending(&mut self, mark: u64) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.append_events(&self.capture.name, &self.pending)?;
        for (snap, text) in &self.marks {
            txn.add_mark(*snap, text)?;
        }
        txn.set_journal_mark(mark)?;
        txn.commit()
    }

    /// Forgets the first `events` pending events and `marks` marks, now in
    /// the database with the journal mark `mark`.
    fn folded_through(&mut self, events: usize, marks: usize, mark: u64) -> Result<()> {
        self.committed_mark = mark;
        self.journal.folded(mark).map_err(|e| self.journal_error(e))?;
        self.folded += events as u64;
        self.pending.drain(..events);
        self.unjournaled = self.unjournaled.min(self.pending.len());
        self.marks.drain(..marks);
        Ok(())
    }

    /// Opens the database again after a failed fold, and finds out whether
    /// that fold's commit landed after all (a failure after the commit
    /// record reached the file): then its events and marks are dropped from
    /// the pending ones rather than committed twice.
    fn recover(&mut self) -> Result<()> {
        let Some((marks, mark)) = self.failed_fold else {
            return Ok(());
        };
        self.db.reopen()?;
        let txn = self.db.begin_write()?;
        let stored_mark = txn.journal_mark()?;
        let stored = txn.capture_events(&self.capture.name)?;
        txn.abort()?;
        let landed = usize::try_from(stored.saturating_sub(self.folded)).unwrap_or(usize::MAX);
        if landed > self.pending.len() {
            return Err(Error::corrupt(
                self.db.path().display().to_string(),
                format!(
                    "capture '{}' holds {stored} events, more than the {} recorded",
                    self.capture.name,
                    self.folded + self.pending.len() as u64
                ),
            ));
        }
        // A commit is atomic: the events it held, or a moved journal mark,
        // tell that all of it landed.
        if landed > 0 || stored_mark != self.committed_mark {
            self.folded_through(landed, marks, mark)?;
        }
        self.failed_fold = None;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.journal.sync().map_err(|e| self.journal_error(e))?;
        self.since_sync = 0;
        self.last_sync = Instant::now();
        Ok(())
    }
}
