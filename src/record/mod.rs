//! Bus recording and replay (R1-R8): bus masters and the mock register
//! file, the recorder, the replayer, and trace files into captures and back.
//!
//! - [`master`]: the [`Master`] trait (R1) and [`MockMaster`].
//! - [`recorder`]: [`RecordingMaster`] and its journal (R2-R5); `folder`
//!   commits what it records, on a thread of its own; `syncer` forces an
//!   idle journal to the disk under a [`SyncPolicy`].
//! - [`replay`]: [`ReplayMaster`], strict and loose (R6).
//! - [`interchange`]: trace files into captures and back (R7, R8).
//!
//! It also re-exports the words of trace files: the event model
//! ([`TraceEvent`], [`Op`]), the importer ([`parse_trace`]) and the
//! exporters ([`write_ndjson`], [`write_json_array`]) that write exactly
//! what the seed recorder writes, [`FlushPolicy`] (R4) and [`pyfloat`],
//! Python's float `repr`.

mod folder;
pub mod interchange;
pub mod master;
pub mod recorder;
pub mod replay;
mod shared;
mod syncer;
mod ticker;

pub use crate::format::policy::FlushPolicy;
pub use crate::format::pyfloat;
pub use crate::format::soak::SoakTrace;
pub use crate::format::trace::{ParsedTrace, TraceFormat, parse_trace, write_json_array, write_ndjson};
pub use crate::journal::{MAX_JOURNALS, journal_files, journal_path, journal_slot_path};

/// Whether a recorder is recording into the database at `db` now: it holds
/// the lock of one of the database's journals.
pub fn recorder_running(db: &std::path::Path) -> crate::Result<bool> {
    for (_, journal) in journal_files(db) {
        if crate::journal::Journal::held(&journal).map_err(crate::Error::from)? {
            return Ok(true);
        }
    }
    Ok(false)
}
pub use crate::vocab::trace::{DEFAULT_WIDTH, Location, MAX_LINE_BYTES, Op, Problem, TraceError, TraceEvent};
pub use interchange::{
    ExportFormat, ImportReport, dropped_by_retention, export_trace, import_trace, import_trace_with_progress,
};
pub use master::{BusError, BusOp, Master, MockMaster};
pub use recorder::{RecorderOptions, RecordingMaster, SyncPolicy};
pub use replay::{ReplayError, ReplayMaster, ReplayMismatchError, ReplayMode};
