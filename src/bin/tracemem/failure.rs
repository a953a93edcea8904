//! How a command ends when it does not succeed, and the exit status and
//! message each ending gets: the one place where errors become text.
//!
//! Exit statuses: 0 success (also when standard output is a closed pipe);
//! 1 a query that found nothing, or a replay that mismatched; 2 an error.

use std::io::ErrorKind;
use std::path::Path;
use std::process::ExitCode;

use tracemem::{Database, ReadTransaction};

/// How a command ended, besides success.
#[derive(Debug)]
pub enum Failure {
    /// The query found nothing (exit 1), with what to say on standard error.
    NothingFound(String),
    /// A mismatch found by `replay-check` (exit 1), already printed.
    Mismatch,
    /// Writing the command's output failed (exit 2; quiet, exit 0, on a
    /// closed pipe).
    Output(std::io::Error),
    /// An error: `tracemem: <what>: <why>` (exit 2).
    Error { what: String, why: String },
}

impl Failure {
    /// An error about `what`.
    pub fn error(what: impl Into<String>, why: impl std::fmt::Display) -> Failure {
        Failure::Error {
            what: what.into(),
            why: why.to_string(),
        }
    }

    /// Says what happened on standard error and gives the exit status.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::Output(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Failure::Output(e) => {
                eprintln!("tracemem: writing the output: {e}");
                ExitCode::from(2)
            }
            Failure::NothingFound(message) => {
                if !message.is_empty() {
                    eprintln!("tracemem: {message}");
                }
                ExitCode::from(1)
            }
            Failure::Mismatch => ExitCode::from(1),
            Failure::Error { what, why } => {
                eprintln!("tracemem: {what}: {why}");
                ExitCode::from(2)
            }
        }
    }
}

/// A failure to write the command's output.
pub fn io(e: std::io::Error) -> Failure {
    Failure::Output(e)
}

/// Opens the database at `path`.
pub fn open(path: &Path) -> Result<Database, Failure> {
    Database::open(path).map_err(|e| Failure::error("opening the database", e))
}

/// Begins a read transaction of `db`.
pub fn begin_read(db: &Database) -> Result<ReadTransaction, Failure> {
    db.begin_read().map_err(|e| Failure::error("reading", e))
}
