//! [`Database`]: an open database file, read-only unless asked otherwise;
//! snapshots for queries, `check`, `pack` and export. The query methods of
//! `tracemem.Database` (Python) open a snapshot per call.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyDict;
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
    builder.shared(true).upgrade(false);
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

    /// Writes capture ``capture`` (with its later sessions) to ``path`` as
    /// the seed recorder writes it: ``format='ndjson'`` (one event per line)
    /// or ``'json'`` (one array). The file is written beside and renamed
    /// into place. Returns the number of events written.
    #[pyo3(signature = (capture, path, *, format="ndjson"))]
    fn export(&self, py: Python<'_>, capture: &str, path: PathBuf, format: &str) -> PyResult<u64> {
        let format = match format {
            "ndjson" | "jsonl" => ExportFormat::Ndjson,
            "json" => ExportFormat::JsonArray,
            other => return Err(bad_value("format", format!("'{other}' is not 'ndjson' or 'json'"))),
        };
        if path == self.path {
            return Err(bad_value("path", format!("{} is the database itself", path.display())));
        }
        let db = self.handle()?;
        py.detach(|| {
            guarded("export", || {
                let read = db.begin_read().py()?;
                let mut temp = path.clone().into_os_string();
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
                let written = export_trace(&read, capture, format, &mut out);
                let finished = out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
                match (written, finished) {
                    (Ok(n), Ok(())) => {
                        std::fs::rename(&temp, &path).map_err(io)?;
                        Ok(n)
                    }
                    (written, finished) => {
                        let _ = std::fs::remove_file(&temp);
                        written.py()?;
                        finished.map_err(io)?;
                        Ok(0)
                    }
                }
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
