//! [`CaptureRecorder`]: the native half of `tracemem.RecordingMaster` with a
//! database. Python calls the inner master itself and hands each completed
//! (or failed) transaction here, where the library's recorder journals it
//! with the capture's durability (R4) and folds it into the database.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tracemem::record::{BusError, FlushPolicy, Master, RecorderOptions, RecordingMaster};
use tracemem::{CaptureSpec, Op, TraceEvent};

use crate::errors::{IntoPy, bad_value, guarded, to_py};
use crate::snapshot::{Snapshot, event_dict};

/// The database page cache of a recording from Python.
const RECORDING_CACHE_BYTES: usize = 16 << 20;

/// The master a Python recording wraps on the Rust side: none. Python calls
/// its own inner master and records the outcome with `record_event`.
struct PythonCalls;

impl Master for PythonCalls {
    fn read(&mut self, _address: u64, _width: u8) -> Result<u64, BusError> {
        Err(BusError::new("the Python recorder calls its inner master itself"))
    }

    fn write(&mut self, _address: u64, _value: u64, _width: u8) -> Result<(), BusError> {
        Err(BusError::new("the Python recorder calls its inner master itself"))
    }
}

struct Recording {
    recorder: RecordingMaster<PythonCalls>,
    /// The sequence numbers of failed events, ascending: the events the
    /// seed's list would not hold.
    failed: Vec<u64>,
}

/// The sequence number of the `index`-th completed event, given the
/// ascending sequence numbers of the failed ones.
fn seq_of(failed: &[u64], index: u64) -> u64 {
    let mut seq = index;
    for &f in failed {
        if f <= seq {
            seq += 1;
        } else {
            break;
        }
    }
    seq
}

/// A recording, or what is left of it once closed: the events are then read
/// from the file, through a read-only handle opened on first use.
enum State {
    Recording(Box<Recording>),
    Closed {
        failed: Vec<u64>,
        recorded: u64,
        db: Option<Arc<tracemem::Database>>,
        past_bound: Option<u64>,
    },
}

/// Records events into a new capture of a database, with per-event
/// durability under ``flush='event'``. Used by ``tracemem.RecordingMaster``.
#[pyclass(module = "tracemem._tracemem", frozen)]
pub struct CaptureRecorder {
    state: Mutex<State>,
    path: PathBuf,
    capture: String,
}

impl CaptureRecorder {
    fn with<T>(&self, work: impl FnOnce(&mut Recording) -> PyResult<T>) -> PyResult<T> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *guard {
            State::Recording(recording) => guarded("recording", || work(recording)),
            State::Closed { .. } => Err(to_py(tracemem::Error::Closed {
                what: "recording",
                path: self.path.clone(),
            })),
        }
    }

    /// The file of a closed recording, through a read-only handle opened on
    /// first use and kept in `db`.
    fn closed_database(&self, db: &mut Option<Arc<tracemem::Database>>) -> PyResult<Arc<tracemem::Database>> {
        if let Some(db) = db {
            return Ok(Arc::clone(db));
        }
        let mut builder = tracemem::Database::builder();
        builder.shared(true);
        let opened = Arc::new(builder.open_read_only(&self.path).py()?);
        *db = Some(Arc::clone(&opened));
        Ok(opened)
    }

    /// The completed events `start..stop`, and how many there are.
    fn completed_range(&self, start: u64, stop: u64) -> PyResult<Vec<TraceEvent>> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        guarded("events", || {
            let (failed, recorded) = match &*guard {
                State::Recording(r) => (r.failed.as_slice(), r.recorder.len()),
                State::Closed { failed, recorded, .. } => (failed.as_slice(), *recorded),
            };
            let stop = stop.min(recorded - failed.len() as u64);
            if start >= stop {
                return Ok(Vec::new());
            }
            let seqs = seq_of(failed, start)..seq_of(failed, stop - 1) + 1;
            let events = match &mut *guard {
                State::Recording(r) => r.recorder.events_in(seqs).py()?,
                State::Closed { db, .. } => self
                    .closed_database(db)?
                    .begin_read()
                    .py()?
                    .events(&self.capture, seqs)
                    .py()?,
            };
            Ok(events.into_iter().filter(|e| e.error.is_none()).collect())
        })
    }
}

/// The event of a transaction Python completed (or saw fail).
fn event(write: bool, address: u64, value: u64, width: u8, timestamp: f64, error: Option<String>) -> TraceEvent {
    TraceEvent {
        op: if write { Op::Write } else { Op::Read },
        address,
        value,
        width: Some(width),
        timestamp,
        error,
    }
}

fn parse_policy(flush: &Bound<'_, PyAny>) -> PyResult<FlushPolicy> {
    if let Ok(text) = flush.extract::<String>() {
        return FlushPolicy::parse(&text).py();
    }
    if !flush.is_instance_of::<pyo3::types::PyBool>()
        && let Ok(n) = flush.extract::<i128>()
    {
        return FlushPolicy::every(n).py();
    }
    let shown = flush.repr().map(|r| r.to_string()).unwrap_or_default();
    Err(bad_value(
        "flush",
        format!("must be 'event', 'never', or a positive int; got {shown}"),
    ))
}

#[pymethods]
impl CaptureRecorder {
    /// Starts capture ``capture`` in the database at ``path`` (created if
    /// missing) with flush policy ``flush``, its events observing space
    /// ``space`` (default ``bus``). A second recorder of the process on the
    /// same database records beside the first (several buses at once).
    ///
    /// ``max_size`` (bytes), ``keep_events`` and ``keep`` (seconds on the
    /// capture's clock) bound the database: past one, the oldest history is
    /// dropped while recording goes on, and reads before the new horizon
    /// are errors naming it.
    #[new]
    #[pyo3(signature = (path, capture, flush, space=None, *, max_size=None, keep_events=None, keep=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        capture: String,
        flush: &Bound<'_, PyAny>,
        space: Option<String>,
        max_size: Option<u64>,
        keep_events: Option<u64>,
        keep: Option<f64>,
    ) -> PyResult<CaptureRecorder> {
        let keep_time = match keep {
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => Some(std::time::Duration::from_secs_f64(seconds)),
            Some(seconds) => {
                return Err(bad_value(
                    "keep",
                    format!("{seconds} is not a positive number of seconds"),
                ));
            }
            None => None,
        };
        let retention = tracemem::Retention {
            max_size,
            keep_events,
            keep_time,
        };
        let options = RecorderOptions {
            policy: parse_policy(flush)?,
            // A bounded page cache and a small journal: a recording runs in
            // flat memory however long (redb's default cache grows with the
            // file; the journal's pages count once touched).
            cache_size: Some(RECORDING_CACHE_BYTES),
            journal_capacity: 16 << 20,
            retention,
            // An older format is converted by `tracemem upgrade` only.
            ..RecorderOptions::default()
        };
        let mut spec = CaptureSpec::new(capture.clone());
        if let Some(space) = space {
            spec.space = space;
        }
        let recorder = py.detach(|| {
            guarded("starting the recording", || {
                RecordingMaster::create(PythonCalls, &path, &spec, options).py()
            })
        })?;
        Ok(CaptureRecorder {
            state: Mutex::new(State::Recording(Box::new(Recording {
                recorder,
                failed: Vec::new(),
            }))),
            path,
            capture,
        })
    }

    /// The capture's name.
    #[getter]
    fn capture(&self) -> String {
        self.capture.clone()
    }

    /// The database file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Records a completed transaction (``write`` true for a write).
    fn record(&self, write: bool, address: u64, value: u64, width: u8, timestamp: f64) -> PyResult<()> {
        self.with(|r| {
            r.recorder
                .record_event(event(write, address, value, width, timestamp, None))
                .py()
        })
    }

    /// Records a failed transaction with the error's text.
    fn record_failed(
        &self,
        write: bool,
        address: u64,
        value: u64,
        width: u8,
        timestamp: f64,
        error: String,
    ) -> PyResult<()> {
        self.with(|r| {
            let seq = r.recorder.len();
            r.recorder
                .record_event(event(write, address, value, width, timestamp, Some(error)))
                .py()?;
            r.failed.push(seq);
            Ok(())
        })
    }

    /// Labels the snap of the next event.
    fn mark(&self, text: &str) -> PyResult<()> {
        self.with(|r| r.recorder.mark(text).py())
    }

    /// The number of completed events (failed ones aside).
    fn __len__(&self) -> usize {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Recording(r) => (r.recorder.len() - r.failed.len() as u64) as usize,
            State::Closed { failed, recorded, .. } => (recorded - failed.len() as u64) as usize,
        }
    }

    /// The index (failed events aside, as ``len`` counts) of the first
    /// completed event still kept: 0, unless retention dropped older ones.
    fn first_kept(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| {
            let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            guarded("events", || {
                let (horizon, failed) = match &mut *guard {
                    State::Recording(r) => (r.recorder.horizon().py()?, r.failed.as_slice()),
                    State::Closed { db, failed, .. } => {
                        let read = self.closed_database(db)?.begin_read().py()?;
                        (read.capture(&self.capture).py()?.horizon, failed.as_slice())
                    }
                };
                Ok(horizon - failed.iter().filter(|&&f| f < horizon).count() as u64)
            })
        })
    }

    /// The number of events recorded, failed ones included.
    fn recorded(&self) -> u64 {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Recording(r) => r.recorder.len(),
            State::Closed { recorded, .. } => *recorded,
        }
    }

    /// The completed events with indexes ``start``..``stop`` (failed ones
    /// skipped, as the seed's list has them), as the seed's dicts; after
    /// ``close()`` read from the file.
    fn completed_events<'py>(&self, py: Python<'py>, start: u64, stop: u64) -> PyResult<Bound<'py, PyList>> {
        let events = py.detach(|| self.completed_range(start, stop))?;
        let dicts = events
            .iter()
            .map(|e| event_dict(py, e, None))
            .collect::<PyResult<Vec<Bound<'py, PyDict>>>>()?;
        PyList::new(py, dicts)
    }

    /// Makes every event recorded so far durable and visible to readers.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.with(|r| r.recorder.flush().py()))
    }

    /// A snapshot of the database as of the last commit (readers lag the
    /// recording by at most the commit interval; ``flush()`` first for all).
    fn snapshot(&self) -> PyResult<Snapshot> {
        let read = self.with(|r| r.recorder.begin_read().py())?;
        Ok(Snapshot::new(read, self.path.display().to_string()))
    }

    /// Folds everything into the database and closes it. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let State::Recording(recording) = &*guard else {
                return Ok(());
            };
            let closed = State::Closed {
                failed: recording.failed.clone(),
                recorded: recording.recorder.len(),
                db: None,
                past_bound: recording.recorder.past_bound(),
            };
            let State::Recording(recording) = std::mem::replace(&mut *guard, closed) else {
                return Ok(());
            };
            guarded("closing the recording", || recording.recorder.close().py())
        })
    }

    /// Under ``max_size``: the most bytes the file and its journals took
    /// after a commit that found them past the bound (only a snapshot or
    /// another reader held open while retention runs can do that), else
    /// ``None``.
    fn past_bound(&self) -> Option<u64> {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Recording(r) => r.recorder.past_bound(),
            State::Closed { past_bound, .. } => *past_bound,
        }
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::Closed { .. }
        )
    }
}
