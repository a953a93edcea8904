//! Trace files in and out of a database (R7, R8): an imported file becomes
//! one capture per session (`NAME`, `NAME#2`, …); exporting `NAME` writes
//! all of them, in order, byte for byte as the seed recorder would.

use std::io::Write;
use std::path::Path;

use crate::db::capture::CaptureSpec;
use crate::db::{Database, ReadTransaction};
use crate::format::trace::{parse_trace, write_json_array, write_ndjson};
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::TraceEvent;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The captures created, one per session of the file.
    pub captures: Vec<String>,
    /// Events imported in all.
    pub events: u64,
    /// Warnings, such as a torn last line that was dropped.
    pub warnings: Vec<String>,
}

/// The layout of an exported trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line, as the seed recorder streams them.
    Ndjson,
    /// One JSON array, as Python's `json.dumps(events, indent=2)` writes it.
    JsonArray,
}

/// The capture name of session `index` (from 0) of an import named `name`.
pub fn session_name(name: &str, index: usize) -> String {
    if index == 0 {
        name.to_string()
    } else {
        format!("{name}#{}", index + 1)
    }
}

/// Imports the trace file at `file` as captures `name`, `name#2`, … into
/// `space`, in one transaction: on any error nothing is imported.
pub fn import_trace(db: &Database, file: &Path, name: &str, space: &str) -> Result<ImportReport> {
    import_trace_with_progress(db, file, name, space, &mut |_, _| {})
}

/// As [`import_trace`], calling `progress(events stored, events parsed)`
/// as the events go in.
pub fn import_trace_with_progress(
    db: &Database,
    file: &Path,
    name: &str,
    space: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    let text = std::fs::read(file).map_err(|source| Error::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let shown = file
        .file_name()
        .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let parsed = parse_trace(&shown, &text)?;
    let mut txn = db.begin_write()?;
    let mut report = ImportReport {
        warnings: parsed.warnings.clone(),
        ..ImportReport::default()
    };
    let total: u64 = parsed.sessions.iter().map(|s| s.len() as u64).sum();
    for (index, session) in parsed.sessions.iter().enumerate() {
        let capture = session_name(name, index);
        let mut spec = CaptureSpec::new(&capture);
        spec.space = space.to_string();
        txn.create_capture(&spec)?;
        for part in session.chunks(65_536) {
            txn.append_events(&capture, part)?;
            report.events += part.len() as u64;
            progress(report.events, total);
        }
        report.captures.push(capture);
    }
    txn.commit()?;
    Ok(report)
}

/// Every kept event of capture `name` and of its later sessions `name#2`, …
/// in order: from each one's horizon on (see [`dropped_by_retention`]).
pub fn session_events(read: &ReadTransaction, name: &str) -> Result<Vec<TraceEvent>> {
    let mut events = read.events(name, read.capture(name)?.kept())?;
    for index in 1.. {
        let session = session_name(name, index);
        let kept = match read.capture(&session) {
            Ok(capture) => capture.kept(),
            Err(Error::UnknownCapture { .. }) => break,
            Err(e) => return Err(e),
        };
        match read.events(&session, kept) {
            Ok(more) => events.extend(more),
            Err(Error::UnknownCapture { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(events)
}

/// The captures of family `name` whose first events retention dropped,
/// with their first kept event: what an export that starts at the horizon
/// tells its user.
pub fn dropped_by_retention(read: &ReadTransaction, name: &str) -> Result<Vec<(String, u64)>> {
    Ok(read
        .captures()?
        .into_iter()
        .filter(|c| c.horizon > 0 && crate::db::capture::in_family(&c.name, name))
        .map(|c| (c.name, c.horizon))
        .collect())
}

/// Writes capture `name` (with its later sessions) to `out`; returns the
/// number of events written.
pub fn export_trace(read: &ReadTransaction, name: &str, format: ExportFormat, out: &mut impl Write) -> Result<u64> {
    let events = session_events(read, name)?;
    let written = match format {
        ExportFormat::Ndjson => write_ndjson(&events, out),
        ExportFormat::JsonArray => write_json_array(&events, out),
    };
    written.map_err(|source| Error::Io {
        path: format!("export of capture '{name}'").into(),
        source,
    })?;
    Ok(events.len() as u64)
}
