//! Bus recording and replay (R1-R8). So far: bus masters and the mock
//! register file, flush policies, and the trace files of the seed recorder
//! (PeakRDL-pybind11's `RecordingMaster`), read strictly and written byte for
//! byte as it writes them.
//!
//! - [`master`]: the [`Master`] trait (R1) and [`MockMaster`].
//! - [`policy`]: [`FlushPolicy`] (R4), parsed with the seed's exact message.
//! - [`interchange`]: trace files into captures and back (R7, R8).
//! - [`recorder`]: [`RecordingMaster`] and its journal (R2-R5); `folder`
//!   commits what it records, on a thread of its own; `syncer` forces an
//!   idle journal to the disk under a [`SyncPolicy`].
//! - [`replay`]: [`ReplayMaster`], strict and loose (R6).
//! - [`pyfloat`] prints a double exactly as Python's `repr` / `json.dumps` does.
//! - [`trace_file`] holds the event model, the importer
//!   ([`trace_file::parse_trace`]) and the exporters
//!   ([`trace_file::write_ndjson`], [`trace_file::write_json_array`]).

mod folder;
pub mod interchange;
pub mod master;
pub mod recorder;
pub mod replay;
mod syncer;

pub use crate::format::policy::FlushPolicy;
pub use crate::format::pyfloat;
pub use crate::format::trace::{ParsedTrace, TraceFormat, parse_trace, write_json_array, write_ndjson};
pub use crate::journal::journal_path;
pub use crate::vocab::trace::{Location, Op, Problem, TraceError, TraceEvent};
pub use interchange::{ExportFormat, ImportReport, export_trace, import_trace, import_trace_with_progress};
pub use master::{BusError, BusOp, Master, MockMaster};
pub use recorder::{RecorderOptions, RecordingMaster, SyncPolicy};
pub use replay::{ReplayError, ReplayMaster, ReplayMismatchError, ReplayMode};
