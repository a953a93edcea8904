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
pub mod policy;
pub mod pyfloat;
pub mod recorder;
pub mod replay;
mod syncer;
pub mod trace_file;

pub use interchange::{ExportFormat, ImportReport, export_trace, import_trace, import_trace_with_progress};
pub use master::{BusError, BusOp, Master, MockMaster};
pub use policy::FlushPolicy;
pub use recorder::{RecorderOptions, RecordingMaster, SyncPolicy, journal_path};
pub use replay::{ReplayError, ReplayMaster, ReplayMismatchError, ReplayMode};

pub use trace_file::{
    Location, Op, ParsedTrace, Problem, TraceError, TraceEvent, TraceFormat, parse_trace, write_json_array,
    write_ndjson,
};

/// Helpers shared by the unit tests: scratch directories and running Python.
#[cfg(test)]
pub(crate) mod test_util {
    use std::io::ErrorKind;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp directory, removed on drop.
    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("tracemem-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).expect("create a temp dir");
            Self(path)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs `python3 ARGS…` and returns its standard output, or `None` (after
    /// saying so) when there is no `python3`, so that the caller skips its test.
    /// Panics when Python runs but fails.
    pub(crate) fn python3(args: &[&str]) -> Option<String> {
        let output = match Command::new("python3").args(args).output() {
            Ok(output) => output,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                eprintln!("skipped: python3 is not installed");
                return None;
            }
            Err(e) => panic!("cannot run python3: {e}"),
        };
        assert!(
            output.status.success(),
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(String::from_utf8(output.stdout).expect("python3 printed UTF-8"))
    }
}
