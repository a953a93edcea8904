//! [`Database`]: an open database file, read-only unless asked otherwise;
//! snapshots for queries, `check`, `pack` and export. The query methods of
//! `tracemem.Database` (Python) open a snapshot per call.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::Path;

use tracemem::capture::in_family;
use tracemem::export::Format;
use tracemem::export::parquet::{ParquetOptions, write_dataset};
use tracemem::export::waveform::{self, Tick, WaveformOptions, fst::FstSink, vcd::VcdSink};
use tracemem::record::{ExportFormat, export_trace};

use crate::errors::{IntoPy, bad_value, guarded, to_py};
use crate::snapshot::Snapshot;

/// An open tracemem database. ``tracemem.open(path)`` makes one.
#[pyclass(module = "tracemem._tracemem", subclass, frozen)]
pub struct Database {
    db: Mutex<Option<Arc<tracemem::Database>>>,
    path: PathBuf,
    readonly: bool,
}

fn open_file(path: &PathBuf, readonly: bool, create: bool) -> tracemem::Result<tracemem::Database> {
    let mut builder = tracemem::Database::builder();
    // An older format is converted by `tracemem upgrade` only.
    builder.shared(true);
    if readonly {
        builder.open_read_only(path)
    } else if create && !path.exists() {
        builder.create(path)
    } else {
        builder.open(path)
    }
}

impl Database {
    fn handle(&self) -> PyResult<Arc<tracemem::Database>> {
        self.db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                to_py(tracemem::Error::Closed {
                    what: "database",
                    path: self.path.clone(),
                })
            })
    }

    /// Closes the file (waiting for snapshots and iterators to let go of it
    /// is redb's job: they hold their own reference).
    fn release(&self) -> PyResult<()> {
        let taken = self.db.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(Ok(db)) = taken.map(Arc::try_unwrap) {
            db.close().py()?;
        }
        Ok(())
    }
}

#[pymethods]
impl Database {
    /// Opens the database at ``path``: read-only (the default) never
    /// changes a byte of the file nor blocks a recorder; ``readonly=False``
    /// opens it for writing (and ``create=True`` creates it if missing).
    #[new]
    #[pyo3(signature = (path, *, readonly=true, create=false))]
    fn new(py: Python<'_>, path: PathBuf, readonly: bool, create: bool) -> PyResult<Database> {
        if readonly && create {
            return Err(bad_value(
                "create",
                "a database is created for writing: pass readonly=False",
            ));
        }
        let db = py.detach(|| guarded("opening the database", || open_file(&path, readonly, create).py()))?;
        Ok(Database {
            db: Mutex::new(Some(Arc::new(db))),
            path,
            readonly,
        })
    }

    /// The database file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Whether the database was opened read-only.
    #[getter]
    fn readonly(&self) -> bool {
        self.readonly
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.db.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// A consistent view for a series of queries (use it in ``with``).
    fn snapshot(&self) -> PyResult<Snapshot> {
        let db = self.handle()?;
        let read = guarded("snapshot", || db.begin_read().py())?;
        Ok(Snapshot::new(read, self.path.display().to_string()))
    }

    /// Checks every stored record; returns a dict with the counts checked
    /// (``chunks``, ``change_buckets``, ``events``) and ``problems``, a list
    /// of texts naming each damaged place (empty for a sound file).
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.handle()?;
        let report = py.detach(|| guarded("check", || db.check().py()))?;
        let dict = PyDict::new(py);
        dict.set_item("chunks", report.chunks)?;
        dict.set_item("change_buckets", report.change_buckets)?;
        dict.set_item("events", report.events)?;
        dict.set_item("problems", report.problems)?;
        Ok(dict)
    }

    /// Rewrites the file compactly (same answers, smaller file); needs the
    /// database opened for writing and no other user. Returns a dict with
    /// ``bytes_before``, ``bytes_after``, ``chunks_before``, ``chunks_after``.
    fn pack<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        if self.readonly {
            return Err(to_py(tracemem::Error::ReadOnly {
                path: self.path.clone(),
            }));
        }
        self.release()?;
        let path = self.path.clone();
        let outcome = py.detach(|| guarded("pack", || tracemem::pack(&path, &mut |_| {}).py()));
        let reopened = py.detach(|| guarded("reopening after pack", || open_file(&path, false, false).py()));
        *self.db.lock().unwrap_or_else(PoisonError::into_inner) = reopened.ok().map(Arc::new);
        let report = outcome?;
        let dict = PyDict::new(py);
        dict.set_item("bytes_before", report.bytes_before)?;
        dict.set_item("bytes_after", report.bytes_after)?;
        dict.set_item("chunks_before", report.chunks_before)?;
        dict.set_item("chunks_after", report.chunks_after)?;
        Ok(dict)
    }

    /// Writes the chunk index of the database as it is now beside its file
    /// (``<file>.chunk-index``): later snapshots find history chunks through
    /// it, faster, until the next write. Needs the database opened for
    /// writing. Returns a dict with ``granules``, ``chunks``,
    /// ``stretch_images`` (64 KiB of memory decoded as of a snap, for bulk
    /// reads), ``bytes`` and ``seconds``.
    fn write_chunk_index<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.handle()?;
        let report = py.detach(|| guarded("write_chunk_index", || db.write_chunk_index().py()))?;
        let dict = PyDict::new(py);
        dict.set_item("granules", report.granules)?;
        dict.set_item("chunks", report.chunks)?;
        dict.set_item("stretch_images", report.stretch_images)?;
        dict.set_item("bytes", report.bytes)?;
        dict.set_item("seconds", report.seconds)?;
        Ok(dict)
    }

    /// Writes capture ``capture`` to ``path``. ``format``: ``'ndjson'`` (one
    /// event per line) or ``'json'`` (one array), as PeakRDL-pybind11's
    /// recorder writes it, the capture with its later sessions; ``'vcd'`` or
    /// ``'fst'``, a waveform of the session (``timescale`` a tick such as
    /// ``'1ns'``); ``'parquet'``, a Hive-partitioned dataset directory of
    /// the capture with its sessions (``capture=None``: every capture), as
    /// source ``source`` (default the database's file name). A file is
    /// written beside and renamed into place. Returns the events written.
    #[pyo3(signature = (capture, path, *, format="ndjson", timescale="1ns", source=None, force=false))]
    fn export(
        &self,
        py: Python<'_>,
        capture: Option<&str>,
        path: PathBuf,
        format: &str,
        timescale: &str,
        source: Option<String>,
        force: bool,
    ) -> PyResult<u64> {
        let format = Format::parse(format).py()?;
        if path == self.path {
            return Err(bad_value("path", format!("{} is the database itself", path.display())));
        }
        let db = self.handle()?;
        let db_path = self.path.clone();
        py.detach(|| {
            guarded("export", || {
                let read = db.begin_read().py()?;
                if format == Format::Parquet {
                    return export_dataset(&read, &db_path, capture, &path, source, force);
                }
                let capture = capture.ok_or_else(|| bad_value("capture", "name the capture to export"))?;
                write_beside(&path, |out| match format {
                    Format::Ndjson => export_trace(&read, capture, ExportFormat::Ndjson, out),
                    Format::Json => export_trace(&read, capture, ExportFormat::JsonArray, out),
                    _ => {
                        let options = WaveformOptions {
                            tick: Tick::parse(timescale)?,
                            ..WaveformOptions::default()
                        };
                        let place = path.display().to_string();
                        let sink: Box<dyn waveform::Sink + '_> = if format == Format::Fst {
                            Box::new(FstSink::new(&mut *out, options.tick, place)?)
                        } else {
                            Box::new(VcdSink::new(&mut *out, options.tick, place))
                        };
                        waveform::write(&read, capture, &options, sink).map(|report| report.events)
                    }
                })
            })
        })
    }

    /// Closes the file so that a recorder of this process can open it
    /// (``RecordingMaster(db=...)``); ``_reopen`` opens it again.
    fn _release(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.release())
    }

    /// Opens the file again after ``_release``.
    fn _reopen(&self, py: Python<'_>) -> PyResult<()> {
        let db = py.detach(|| {
            guarded("reopening the database", || {
                open_file(&self.path, self.readonly, false).py()
            })
        })?;
        *self.db.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(db));
        Ok(())
    }

    /// Closes the database. Idempotent; queries afterwards raise
    /// ``tracemem.errors.ClosedError``.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.release())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _type: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.close(py)
    }
}

/// Writes a file by `write` beside `path` and renames it into place; a
/// failure removes it.
fn write_beside(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> tracemem::Result<u64>) -> PyResult<u64> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".partial");
    let temp = PathBuf::from(temp);
    let io = |source| {
        to_py(tracemem::Error::Io {
            path: temp.clone(),
            source,
        })
    };
    let file = File::create(&temp).map_err(io)?;
    let mut out = BufWriter::new(file);
    let written = write(&mut out);
    let finished = out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
    match (written, finished) {
        (Ok(n), Ok(())) => {
            std::fs::rename(&temp, path).map_err(io)?;
            Ok(n)
        }
        (written, finished) => {
            let _ = std::fs::remove_file(&temp);
            written.py()?;
            finished.map_err(io)?;
            Ok(0)
        }
    }
}

/// The Parquet dataset of `capture` (with its sessions) or every capture.
fn export_dataset(
    read: &tracemem::ReadTransaction,
    db_path: &Path,
    capture: Option<&str>,
    out: &Path,
    source: Option<String>,
    force: bool,
) -> PyResult<u64> {
    let captures: Vec<_> = read
        .captures()
        .py()?
        .into_iter()
        .filter(|c| capture.is_none_or(|name| in_family(&c.name, name)))
        .collect();
    if let Some(name) = capture
        && captures.is_empty()
    {
        return Err(to_py(tracemem::Error::UnknownCapture { name: name.to_string() }));
    }
    let options = ParquetOptions {
        source: source.unwrap_or_else(|| {
            db_path
                .file_name()
                .map_or_else(|| db_path.display().to_string(), |n| n.to_string_lossy().into_owned())
        }),
        force,
        other_spaces: capture.is_none(),
    };
    let report = write_dataset(read, &captures, out, &options, &mut |_| {}).py()?;
    Ok(report.events)
}
