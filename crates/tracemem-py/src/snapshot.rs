//! [`Snapshot`]: one consistent view of the database (a read transaction)
//! and every query an analysis script asks of it, with the classes its
//! answers come in ([`Capture`], [`EventIterator`], [`Registers`]).

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use tracemem::capture::in_family;
use tracemem::{
    AddressRange, CaptureInfo, Direction, Lifespan, MemState, MemoryRead, ReadTransaction, RegionRead, RegisterRead,
    Snap, TraceEvent,
};

use crate::args::{span, u64_arg, width_arg};
use crate::errors::{IntoPy, bad_value, guarded};

/// How many events an iterator fetches at a time.
const EVENT_PAGE: u64 = 4096;

/// A consistent view of the database: every query through it sees the
/// database as it was when the snapshot began, whatever is written since.
/// Use it in a ``with`` block, or call ``close()``.
#[pyclass(module = "tracemem", frozen)]
pub struct Snapshot {
    read: Mutex<Option<Arc<ReadTransaction>>>,
    path: String,
    /// The captures as this view sees them, read once (a view never changes).
    captures: Mutex<Option<Arc<Vec<CaptureInfo>>>>,
}

impl Snapshot {
    /// A snapshot over `read`, of the database at `path`.
    pub fn new(read: ReadTransaction, path: String) -> Snapshot {
        Snapshot {
            read: Mutex::new(Some(Arc::new(read))),
            path,
            captures: Mutex::new(None),
        }
    }

    /// What a read of `length` bytes at `address` runs on: the checked
    /// arguments, the transaction and the snap `snap`/`time` name.
    fn span_at(
        &self,
        what: &str,
        space: &str,
        address: &Bound<'_, PyAny>,
        length: &Bound<'_, PyAny>,
        at: (Option<Snap>, Option<f64>, Option<&str>),
    ) -> PyResult<(Arc<ReadTransaction>, Snap, u64, usize)> {
        let (address, length) = (u64_arg("address", address)?, u64_arg("length", length)?);
        span(address, length)?;
        let len = usize::try_from(length).map_err(|_| bad_value("length", "too large"))?;
        let read = self.txn()?;
        let (snap, time, capture) = at;
        let snap = guarded(what, || resolve_snap(&read, space, snap, time, capture))?;
        Ok((read, snap, address, len))
    }

    /// The captures of the view, read on first use.
    fn capture_list(&self, read: &ReadTransaction) -> PyResult<Arc<Vec<CaptureInfo>>> {
        let mut cached = self.captures.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = cached.as_ref() {
            return Ok(Arc::clone(list));
        }
        let list = Arc::new(read.captures().py()?);
        *cached = Some(Arc::clone(&list));
        Ok(list)
    }

    fn txn(&self) -> PyResult<Arc<ReadTransaction>> {
        self.read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                crate::errors::to_py(tracemem::Error::Closed {
                    what: "snapshot",
                    path: self.path.clone().into(),
                })
            })
    }
}

/// A capture as stored: its name, the space its events observe, its byte
/// order, start time, flush policy, first and last snaps and number of events.
#[pyclass(module = "tracemem", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Capture {
    /// Its name (later sessions of an imported file are ``NAME#2``, …).
    pub name: String,
    /// The space its events observe.
    pub space: String,
    /// Whether values are laid out big-endian in memory.
    pub big_endian: bool,
    /// Wall time of its start, nanoseconds since the Unix epoch.
    pub start_wall_ns: i64,
    /// Its flush policy: ``'event'``, ``'never'`` or a number as text.
    pub policy: String,
    /// The snap of its first event (event ``i`` is at ``first_snap + i``
    /// while the capture records alone; beside other captures its snaps
    /// interleave with theirs).
    pub first_snap: i64,
    /// How many events it holds.
    pub events: u64,
    /// The snap of its last event; ``first_snap - 1`` while it has none.
    pub last_snap: i64,
}

#[pymethods]
impl Capture {
    fn __repr__(&self) -> String {
        format!(
            "Capture(name={:?}, space={:?}, events={}, first_snap={})",
            self.name, self.space, self.events, self.first_snap
        )
    }
}

impl From<&CaptureInfo> for Capture {
    fn from(info: &CaptureInfo) -> Capture {
        Capture {
            name: info.name.clone(),
            space: info.space.clone(),
            big_endian: info.big_endian,
            start_wall_ns: info.start_wall_ns,
            policy: info.policy.to_string(),
            first_snap: info.first_snap,
            events: info.events,
            last_snap: info.last_snap,
        }
    }
}

/// An event as a dict with the seed's keys in the seed's order (``op``,
/// ``address``, ``value``, ``width``, ``timestamp``; ``width`` left out when
/// the event has none), then `extra` keys.
pub fn event_dict<'py>(py: Python<'py>, event: &TraceEvent, snap: Option<Snap>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("op", event.op.as_str())?;
    dict.set_item("address", event.address)?;
    dict.set_item("value", event.value)?;
    if let Some(width) = event.width {
        dict.set_item("width", width)?;
    } else if snap.is_some() {
        dict.set_item("width", py.None())?;
    }
    dict.set_item("timestamp", event.timestamp)?;
    if let Some(snap) = snap {
        dict.set_item("snap", snap)?;
        dict.set_item("error", event.error.as_deref())?;
    }
    Ok(dict)
}

fn state_name(state: MemState) -> &'static str {
    match state {
        MemState::Known => "known",
        MemState::Error => "error",
        MemState::Unknown => "unknown",
    }
}

/// The capture named `name`, or the only one (its later sessions aside).
fn pick_capture(read: &ReadTransaction, name: Option<&str>) -> PyResult<CaptureInfo> {
    if let Some(name) = name {
        return read.capture(name).py();
    }
    let captures = read.captures().py()?;
    let roots: Vec<&CaptureInfo> = captures.iter().filter(|c| !c.name.contains('#')).collect();
    match roots.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(PyValueError::new_err("capture: the database holds no capture")),
        many => Err(bad_value(
            "capture",
            format!(
                "the database holds several captures; name one of: {}",
                many.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The capture a `time=` refers to: as named, or the only one recording
/// `space`.
fn capture_for_time(read: &ReadTransaction, space: &str, capture: Option<&str>) -> PyResult<CaptureInfo> {
    if let Some(name) = capture {
        return read.capture(name).py();
    }
    let captures = read.captures().py()?;
    let of_space: Vec<&CaptureInfo> = captures.iter().filter(|c| c.space == space).collect();
    match of_space.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(bad_value("time", format!("no capture records space '{space}'"))),
        many => Err(bad_value(
            "capture",
            format!(
                "several captures record space '{space}'; name one of: {}",
                many.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The snap of the last event of `capture` at or before `time` seconds;
/// an error naming the time when there is none.
fn snap_at_time(read: &ReadTransaction, capture: &CaptureInfo, time: f64) -> PyResult<Snap> {
    if !time.is_finite() {
        return Err(bad_value("time", format!("{time} is not a finite number of seconds")));
    }
    read.snap_at_time(capture, time).py()?.ok_or_else(|| {
        bad_value(
            "time",
            format!("capture '{}' has no event at or before {time} s", capture.name),
        )
    })
}

/// The snap a `snap=`/`time=` pair names for `space`: the snap as given, the
/// time's snap, or (neither) the newest.
fn resolve_snap(
    read: &ReadTransaction,
    space: &str,
    snap: Option<Snap>,
    time: Option<f64>,
    capture: Option<&str>,
) -> PyResult<Snap> {
    match (snap, time) {
        (Some(_), Some(_)) => Err(PyTypeError::new_err("give snap= or time=, not both")),
        (Some(snap), None) => Ok(snap),
        (None, Some(time)) => snap_at_time(read, &capture_for_time(read, space, capture)?, time),
        (None, None) => Ok(Snap::MAX),
    }
}

fn range_arg(address: u64, length: u64) -> PyResult<AddressRange> {
    span(address, length)?;
    AddressRange::from_start_len(address, length).py()
}

fn pairs<'py>(py: Python<'py>, ranges: impl Iterator<Item = AddressRange>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, ranges.map(|r| (r.min(), r.max())).collect::<Vec<_>>())
}

#[pymethods]
impl Snapshot {
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _type: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) {
        self.close();
    }

    /// Ends the snapshot (iterators already made from it go on). Idempotent.
    fn close(&self) {
        self.read.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Whether this view finds history chunks through the database's chunk
    /// index (``Database.write_chunk_index``), written for exactly its state.
    #[getter]
    fn uses_chunk_index(&self) -> PyResult<bool> {
        Ok(self.txn()?.uses_chunk_index())
    }

    /// The captures, by name.
    fn captures(&self) -> PyResult<Vec<Capture>> {
        let read = self.txn()?;
        guarded("captures", || {
            Ok(read.captures().py()?.iter().map(Capture::from).collect())
        })
    }

    /// The capture named ``name`` (``KeyError`` if there is none).
    fn capture(&self, name: &str) -> PyResult<Capture> {
        let read = self.txn()?;
        guarded("capture", || Ok(Capture::from(&read.capture(name).py()?)))
    }

    /// The names of the address spaces, sorted.
    fn spaces(&self) -> PyResult<Vec<String>> {
        let read = self.txn()?;
        guarded("spaces", || read.spaces().py())
    }

    /// The events of ``capture`` (default: the only capture) with sequence
    /// numbers in ``start``..``stop``, as dicts with the keys ``op``,
    /// ``address``, ``value``, ``width``, ``timestamp``, ``snap`` and
    /// ``error`` (``None`` for a transaction that completed). Fetched a page
    /// at a time: memory stays flat however long the capture. ``start``
    /// defaults to the capture's first kept event (0, unless retention
    /// dropped the events before its horizon; an earlier ``start`` is then
    /// an error naming it).
    #[pyo3(signature = (capture=None, start=None, stop=None))]
    fn events(&self, capture: Option<&str>, start: Option<u64>, stop: Option<u64>) -> PyResult<EventIterator> {
        let read = self.txn()?;
        let info = guarded("events", || pick_capture(&read, capture))?;
        let start = start.unwrap_or(info.horizon);
        let stop = stop.unwrap_or(u64::MAX).min(info.events);
        Ok(EventIterator {
            state: Mutex::new(EventCursor {
                read,
                capture: info,
                next: start.min(stop),
                stop,
                page: Vec::new(),
                taken: 0,
            }),
        })
    }

    /// ``length`` bytes of ``space`` from ``address`` as of ``snap`` (or the
    /// snap of the last event at or before ``time`` seconds of ``capture``;
    /// neither: the newest). Bytes never observed read as 0.
    #[pyo3(signature = (space, address, length, *, snap=None, time=None, capture=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        space: &str,
        address: &Bound<'py, PyAny>,
        length: &Bound<'py, PyAny>,
        snap: Option<Snap>,
        time: Option<f64>,
        capture: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (read, snap, address, len) = self.span_at("read", space, address, length, (snap, time, capture))?;
        let mut buf = vec![0u8; len];
        if len > 0 {
            py.detach(|| {
                guarded("read", || {
                    read.space(space).py()?.get_bytes(snap, address, &mut buf).py()
                })
            })?;
        }
        Ok(PyBytes::new(py, &buf))
    }

    /// As ``read``, with a mask beside the bytes: ``1`` where the byte's most
    /// recent observation is KNOWN, ``0`` where it is ERROR or UNKNOWN.
    #[pyo3(signature = (space, address, length, *, snap=None, time=None, capture=None))]
    fn read_known<'py>(
        &self,
        py: Python<'py>,
        space: &str,
        address: &Bound<'py, PyAny>,
        length: &Bound<'py, PyAny>,
        snap: Option<Snap>,
        time: Option<f64>,
        capture: Option<&str>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let (read, snap, address, len) = self.span_at("read_known", space, address, length, (snap, time, capture))?;
        let mut buf = vec![0u8; len];
        let mut mask = vec![0u8; len];
        if len > 0 {
            py.detach(|| {
                guarded("read_known", || {
                    let mem = read.space(space).py()?;
                    mem.get_bytes(snap, address, &mut buf).py()?;
                    for run in mem.most_recent_states(snap, range_arg(address, len as u64)?).py()? {
                        if run.state == MemState::Known {
                            let from = (run.range.min() - address) as usize;
                            let to = (run.range.max() - address) as usize;
                            mask[from..=to].fill(1);
                        }
                    }
                    Ok(())
                })
            })?;
        }
        PyTuple::new(py, [PyBytes::new(py, &buf), PyBytes::new(py, &mask)])
    }

    /// Reads ``len(buffer)`` bytes (of a C-contiguous writable buffer: a
    /// ``bytearray``, a ``memoryview``, a NumPy array) of ``space`` from
    /// ``address`` straight into it; returns the number of bytes. Bytes
    /// never observed are set to 0.
    #[pyo3(signature = (space, address, buffer, *, snap=None, time=None, capture=None))]
    fn readinto(
        &self,
        py: Python<'_>,
        space: &str,
        address: &Bound<'_, PyAny>,
        buffer: &Bound<'_, PyAny>,
        snap: Option<Snap>,
        time: Option<f64>,
        capture: Option<&str>,
    ) -> PyResult<usize> {
        let address = u64_arg("address", address)?;
        // The limited API has no buffer protocol before Python 3.11: ctypes
        // gives the address of any writable buffer, and holds its export
        // while it lives.
        let bytes_view = py
            .import("builtins")?
            .getattr("memoryview")?
            .call1((buffer,))?
            .call_method1("cast", ("B",))?;
        if bytes_view.getattr("readonly")?.extract::<bool>()? {
            return Err(PyTypeError::new_err("buffer: a writable buffer is needed"));
        }
        let len: usize = bytes_view.len()?;
        span(address, len as u64)?;
        let read = self.txn()?;
        let snap = guarded("readinto", || resolve_snap(&read, space, snap, time, capture))?;
        if len == 0 {
            return Ok(0);
        }
        let ctypes = py.import("ctypes")?;
        let array = ctypes
            .getattr("c_char")?
            .call_method1("__mul__", (len,))?
            .call_method1("from_buffer", (&bytes_view,))?;
        let pointer: usize = ctypes.getattr("addressof")?.call1((&array,))?.extract()?;
        let pointer = pointer as *mut u8;
        // `array` keeps the buffer exported (neither freed nor resized) until
        // it is dropped, after the copy.
        let target = SendPointer(pointer);
        py.detach(move || {
            let target = target;
            // SAFETY: `pointer` addresses `len` writable bytes exported by
            // `array`, alive until after this closure returns.
            let buf = unsafe { std::slice::from_raw_parts_mut(target.0, len) };
            buf.fill(0);
            guarded("readinto", || {
                read.space(space).py()?.get_bytes(snap, address, buf).py()
            })
        })?;
        drop(array);
        Ok(len)
    }

    /// The states of ``length`` bytes from ``address`` as of ``snap`` (each
    /// byte's most recent observation at or before it): a list of
    /// ``(first, last, state)`` runs (inclusive addresses) with ``state``
    /// ``'known'``, ``'error'`` or ``'unknown'``, covering the whole range.
    #[pyo3(signature = (space, address, length, *, snap=None, time=None, capture=None))]
    fn states<'py>(
        &self,
        py: Python<'py>,
        space: &str,
        address: &Bound<'py, PyAny>,
        length: &Bound<'py, PyAny>,
        snap: Option<Snap>,
        time: Option<f64>,
        capture: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (address, length) = (u64_arg("address", address)?, u64_arg("length", length)?);
        if length == 0 {
            return Ok(PyList::empty(py));
        }
        let range = range_arg(address, length)?;
        let read = self.txn()?;
        let snap = guarded("states", || resolve_snap(&read, space, snap, time, capture))?;
        let runs = py.detach(|| {
            guarded("states", || {
                read.space(space).py()?.most_recent_states(snap, range).py()
            })
        })?;
        let mut out: Vec<(u64, u64, &str)> = Vec::new();
        let mut push = |first: u64, last: u64, state: &'static str| match out.last_mut() {
            // Runs from different snaps with one state read as one run.
            Some(prev) if prev.2 == state && prev.1.checked_add(1) == Some(first) => prev.1 = last,
            _ => out.push((first, last, state)),
        };
        let mut at = Some(address);
        for run in runs {
            if let Some(from) = at.filter(|&from| run.range.min() > from) {
                push(from, run.range.min() - 1, "unknown");
            }
            push(run.range.min(), run.range.max(), state_name(run.state));
            at = run.range.max().checked_add(1);
        }
        if let Some(from) = at.filter(|&from| from <= range.max()) {
            push(from, range.max(), "unknown");
        }
        PyList::new(py, out)
    }

    /// The value of ``width`` bytes at ``address`` as of ``snap`` (or
    /// ``time``), in the byte order of the capture recording the space;
    /// ``None`` unless every byte's most recent observation is KNOWN. ``space`` defaults to that
    /// of ``capture``, or of the only capture, or the only space.
    #[pyo3(signature = (address, width, *, snap=None, time=None, space=None, capture=None))]
    fn value(
        &self,
        address: &Bound<'_, PyAny>,
        width: &Bound<'_, PyAny>,
        snap: Option<Snap>,
        time: Option<f64>,
        space: Option<&str>,
        capture: Option<&str>,
    ) -> PyResult<Option<u64>> {
        let address = u64_arg("address", address)?;
        let width = width_arg(width)?;
        span(address, u64::from(width))?;
        let read = self.txn()?;
        guarded("value", || {
            let (space, big_endian) = value_space(&read, &self.capture_list(&read)?, space, capture)?;
            let snap = resolve_snap(&read, &space, snap, time, capture)?;
            let mut buf = [0u8; 8];
            let buf = &mut buf[..usize::from(width)];
            let mem = read.space(&space).py()?;
            let runs = mem
                .most_recent_states(snap, range_arg(address, u64::from(width))?)
                .py()?;
            let known = runs
                .iter()
                .filter(|r| r.state == MemState::Known)
                .map(|r| r.range.len())
                .sum::<u128>();
            if known < u128::from(width) {
                return Ok(None);
            }
            mem.get_bytes(snap, address, buf).py()?;
            let mut wide = [0u8; 8];
            let value = if big_endian {
                wide[8 - buf.len()..].copy_from_slice(buf);
                u64::from_be_bytes(wide)
            } else {
                wide[..buf.len()].copy_from_slice(buf);
                u64::from_le_bytes(wide)
            };
            Ok(Some(value))
        })
    }

    /// The events at ``address`` (dicts as ``events`` gives them), oldest
    /// first; with ``before=snap`` those before it, newest first; with
    /// ``after=snap`` those after it; at most ``limit``. ``capture`` (with
    /// its later sessions) is required when the database holds several.
    #[pyo3(signature = (address, *, before=None, after=None, limit=None, capture=None))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        address: &Bound<'py, PyAny>,
        before: Option<Snap>,
        after: Option<Snap>,
        limit: Option<usize>,
        capture: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let address = u64_arg("address", address)?;
        let read = self.txn()?;
        let found = py.detach(|| {
            guarded("history", || {
                let root = pick_capture(&read, capture)?;
                let family: Vec<CaptureInfo> = read
                    .captures()
                    .py()?
                    .into_iter()
                    .filter(|c| in_family(&c.name, &root.name))
                    .collect();
                let mut found: Vec<(Snap, TraceEvent)> = Vec::new();
                let keep_all = before.is_some();
                'captures: for info in &family {
                    // Retention dropped the events before its horizon.
                    let mut seq = info.horizon;
                    while seq < info.events {
                        let page = read
                            .events_with_snaps(&info.name, seq..(seq + EVENT_PAGE).min(info.events))
                            .py()?;
                        for (snap, event) in page {
                            if event.address == address
                                && before.is_none_or(|b| snap < b)
                                && after.is_none_or(|a| snap > a)
                            {
                                found.push((snap, event));
                                if !keep_all && limit.is_some_and(|l| found.len() >= l) {
                                    break 'captures;
                                }
                            }
                        }
                        seq += EVENT_PAGE;
                    }
                }
                if before.is_some() {
                    found.reverse();
                }
                found.truncate(limit.unwrap_or(usize::MAX));
                Ok(found)
            })
        })?;
        let dicts = found
            .iter()
            .map(|(snap, event)| event_dict(py, event, Some(*snap)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, dicts)
    }

    /// ``address``'s events in ``capture`` summarized in ``buckets`` equal
    /// buckets of time from ``from_time`` to ``to_time`` (by default the
    /// capture's first event's time to its last's): a dict per bucket with
    /// ``from_time``, ``to_time``, ``events`` and the ``first``, ``last``,
    /// ``min`` and ``max`` value (``None`` where no event in it has one),
    /// what a viewer draws a register's whole history from. Read from the
    /// register tracks of a database that keeps them (``tracemem track``),
    /// else from its events.
    #[pyo3(signature = (address, *, buckets=1000, from_time=None, to_time=None, capture=None))]
    fn timeline<'py>(
        &self,
        py: Python<'py>,
        address: &Bound<'py, PyAny>,
        buckets: usize,
        from_time: Option<f64>,
        to_time: Option<f64>,
        capture: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let address = u64_arg("address", address)?;
        let read = self.txn()?;
        let found = py.detach(|| {
            guarded("timeline", || {
                let info = pick_capture(&read, capture)?;
                let time = |seq: u64| -> PyResult<Option<f64>> {
                    Ok(read
                        .events(&info.name, seq..seq.saturating_add(1))
                        .py()?
                        .first()
                        .map(|e| e.timestamp))
                };
                let from = match from_time {
                    Some(t) => t,
                    None => time(info.horizon)?.unwrap_or(0.0),
                };
                let to = match to_time {
                    Some(t) => t,
                    None => time(info.events.saturating_sub(1))?.unwrap_or(from).max(from),
                };
                read.timeline(&info.name, address, from, to, buckets).py()
            })
        })?;
        let dicts = found
            .iter()
            .map(|b| {
                let d = PyDict::new(py);
                d.set_item("from_time", b.from_time)?;
                d.set_item("to_time", b.to_time)?;
                d.set_item("events", b.events)?;
                d.set_item("first", b.first)?;
                d.set_item("last", b.last)?;
                d.set_item("min", b.min)?;
                d.set_item("max", b.max)?;
                Ok(d)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, dicts)
    }

    /// The lowest (or with ``backward=True`` the highest) address in
    /// ``start``..=``end`` where ``pattern`` matches bytes all KNOWN as of
    /// ``snap`` (under ``mask``: ``mem & mask == pattern & mask`` per
    /// byte), or ``None``.
    #[pyo3(signature = (space, pattern, mask=None, *, snap=None, start=0, end=u64::MAX, backward=false))]
    fn find(
        &self,
        py: Python<'_>,
        space: &str,
        pattern: Vec<u8>,
        mask: Option<Vec<u8>>,
        snap: Option<Snap>,
        start: u64,
        end: u64,
        backward: bool,
    ) -> PyResult<Option<u64>> {
        if start > end {
            return Err(bad_value("start", format!("{start:#x} is after end {end:#x}")));
        }
        let range = AddressRange::new(start, end).py()?;
        let read = self.txn()?;
        let direction = if backward {
            Direction::Backward
        } else {
            Direction::Forward
        };
        py.detach(|| {
            guarded("find", || {
                read.space(space)
                    .py()?
                    .find_bytes(snap.unwrap_or(Snap::MAX), range, &pattern, mask.as_deref(), direction)
                    .py()
            })
        })
    }

    /// The addresses of ``space`` (within ``start``..=``end``) whose bytes
    /// differ between snaps ``a`` and ``b``, as ``(first, last)`` ranges.
    #[pyo3(signature = (space, a, b, *, start=0, end=u64::MAX))]
    fn diff<'py>(
        &self,
        py: Python<'py>,
        space: &str,
        a: Snap,
        b: Snap,
        start: u64,
        end: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        if start > end {
            return Err(bad_value("start", format!("{start:#x} is after end {end:#x}")));
        }
        let range = AddressRange::new(start, end).py()?;
        let read = self.txn()?;
        let set = py.detach(|| guarded("diff", || read.space(space).py()?.diff(a, b, range).py()))?;
        pairs(py, set.iter())
    }

    /// The addresses of ``space`` with an observation at a snap after
    /// ``a`` and at or before ``b``, as ``(first, last)`` ranges.
    fn changes<'py>(&self, py: Python<'py>, space: &str, a: Snap, b: Snap) -> PyResult<Bound<'py, PyList>> {
        let read = self.txn()?;
        let set = py.detach(|| guarded("changes", || read.space(space).py()?.changes(a, b).py()))?;
        pairs(py, set.iter())
    }

    /// The registers of ``thread`` (frame ``frame``), by name.
    #[pyo3(signature = (thread, *, frame=0))]
    fn registers(&self, thread: String, frame: u32) -> PyResult<Registers> {
        let read = self.txn()?;
        guarded("registers", || read.registers_in_frame(&thread, frame).py().map(|_| ()))?;
        Ok(Registers { read, thread, frame })
    }

    /// The regions of ``space`` as dicts (``name``, ``first``, ``last``,
    /// ``flags``, ``lifespan``); with ``snap``, those alive at it.
    #[pyo3(signature = (space, *, snap=None))]
    fn regions<'py>(&self, py: Python<'py>, space: &str, snap: Option<Snap>) -> PyResult<Bound<'py, PyList>> {
        let read = self.txn()?;
        let regions = guarded("regions", || read.regions(space).py()?.all().py())?;
        let list = PyList::empty(py);
        for region in regions.iter().filter(|r| snap.is_none_or(|s| r.lifespan.contains(s))) {
            let dict = PyDict::new(py);
            dict.set_item("name", &region.name)?;
            dict.set_item("first", region.range.min())?;
            dict.set_item("last", region.range.max())?;
            dict.set_item("flags", region.flags.bits())?;
            dict.set_item("lifespan", (region.lifespan.min(), region.lifespan.max()))?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// The snaps with metadata (marks, wall times, forks), as dicts
    /// (``snap``, ``description``, ``timestamp_ns``, ``fork_of``).
    fn snaps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let read = self.txn()?;
        let snaps = guarded("snaps", || {
            read.snaps_with_meta(Lifespan::new(Snap::MIN, Snap::MAX).py()?).py()
        })?;
        let list = PyList::empty(py);
        for (snap, meta) in snaps {
            let dict = PyDict::new(py);
            dict.set_item("snap", snap)?;
            dict.set_item("description", meta.description)?;
            dict.set_item("timestamp_ns", meta.timestamp_ns)?;
            dict.set_item("fork_of", meta.fork_of)?;
            list.append(dict)?;
        }
        Ok(list)
    }
}

/// The space and byte order a `value` query reads.
fn value_space(
    read: &ReadTransaction,
    captures: &[CaptureInfo],
    space: Option<&str>,
    capture: Option<&str>,
) -> PyResult<(String, bool)> {
    if let Some(name) = capture {
        let info = match captures.iter().find(|c| c.name == name) {
            Some(info) => info.clone(),
            None => read.capture(name).py()?,
        };
        if space.is_some_and(|s| s != info.space) {
            return Err(bad_value(
                "space",
                format!("capture '{name}' records space '{}'", info.space),
            ));
        }
        return Ok((info.space, info.big_endian));
    }
    if let Some(space) = space {
        let big_endian = captures.iter().find(|c| c.space == space).is_some_and(|c| c.big_endian);
        return Ok((space.to_string(), big_endian));
    }
    let recorded: std::collections::BTreeSet<&str> = captures.iter().map(|c| c.space.as_str()).collect();
    if let [only] = recorded.iter().copied().collect::<Vec<_>>().as_slice()
        && let Some(info) = captures.iter().find(|c| c.space == *only)
    {
        return Ok((info.space.clone(), info.big_endian));
    }
    match read.spaces().py()?.as_slice() {
        [only] => Ok((only.clone(), false)),
        _ => Err(bad_value(
            "space",
            "the database holds several spaces; name one with space=",
        )),
    }
}

/// A raw pointer handed to the thread that runs without the GIL.
struct SendPointer(*mut u8);
// SAFETY: the pointer is used by one thread at a time (the caller waits).
unsafe impl Send for SendPointer {}

struct EventCursor {
    read: Arc<ReadTransaction>,
    capture: CaptureInfo,
    next: u64,
    stop: u64,
    page: Vec<(Snap, TraceEvent)>,
    taken: usize,
}

/// An iterator over a capture's events (see ``Snapshot.events``).
#[pyclass(module = "tracemem")]
pub struct EventIterator {
    state: Mutex<EventCursor>,
}

#[pymethods]
impl EventIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let mut cursor = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if cursor.taken == cursor.page.len() {
            if cursor.next >= cursor.stop {
                return Ok(None);
            }
            let range = cursor.next..(cursor.next + EVENT_PAGE).min(cursor.stop);
            let page = guarded("events", || {
                cursor.read.events_with_snaps(&cursor.capture.name, range.clone()).py()
            })?;
            if page.is_empty() {
                cursor.stop = cursor.next;
                return Ok(None);
            }
            cursor.page = page;
            cursor.taken = 0;
        }
        let (snap, event) = &cursor.page[cursor.taken];
        let dict = event_dict(py, event, Some(*snap))?;
        cursor.taken += 1;
        cursor.next += 1;
        Ok(Some(dict))
    }
}

/// The registers of one thread and frame, by name.
#[pyclass(module = "tracemem", frozen)]
pub struct Registers {
    read: Arc<ReadTransaction>,
    thread: String,
    frame: u32,
}

#[pymethods]
impl Registers {
    /// The value of register ``name`` as of ``snap`` (default the newest),
    /// or ``None`` if it was never written.
    #[pyo3(signature = (name, *, snap=None))]
    fn value(&self, name: &str, snap: Option<Snap>) -> PyResult<Option<u128>> {
        guarded("registers", || {
            self.read
                .registers_in_frame(&self.thread, self.frame)
                .py()?
                .get_value(snap.unwrap_or(Snap::MAX), name)
                .py()
        })
    }

    /// The names of the registers the database defines.
    fn names(&self) -> PyResult<Vec<String>> {
        guarded("registers", || {
            Ok(self.read.register_map().py()?.iter().map(|r| r.name.clone()).collect())
        })
    }
}
