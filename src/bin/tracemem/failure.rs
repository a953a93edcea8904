//! How a command ends when it does not succeed, and the exit status and
//! message each ending gets: the one place where errors become text.
//!
//! Exit statuses (`tracemem --help` lists them too):
//!
//! | status | meaning |
//! |---:|---|
//! | 0 | success, also when standard output is a closed pipe |
//! | 1 | a query found nothing, or a replay mismatched |
//! | 2 | an error in the arguments or the input, or any other error |
//! | 3 | the database (or its journal) is damaged, or not a database |
//! | 4 | the database is locked by another process |
//! | 5 | no space left on the device |
//! | 6 | the database's format is newer or older than this tracemem's |

use std::io::ErrorKind;
use std::path::Path;
use std::process::ExitCode;

use tracemem::{Database, ReadTransaction};

/// How a command ended.
pub type Outcome = Result<(), Failure>;

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
    /// An error: `tracemem: <what>: <why>`, with the exit status of its kind.
    Error { what: String, why: String, status: u8 },
}

/// An error's text and the exit status its kind has.
pub trait Why: std::fmt::Display {
    /// The exit status (see the module documentation); 2 unless the kind
    /// says otherwise.
    fn status(&self) -> u8 {
        2
    }
}

impl Why for tracemem::Error {
    fn status(&self) -> u8 {
        use tracemem::Error;
        match self {
            Error::Corrupt { .. } | Error::NotADatabase { .. } => 3,
            Error::Busy { .. } => 4,
            Error::NoSpace { .. } => 5,
            Error::Io { source, .. } => source.status(),
            Error::NewerFormat { .. } | Error::OlderFormat { .. } => 6,
            Error::Storage { source, .. } => match source.as_ref() {
                redb::Error::Corrupted(_) => 3,
                redb::Error::DatabaseAlreadyOpen => 4,
                redb::Error::Io(e) => e.status(),
                _ => 2,
            },
            _ => 2,
        }
    }
}

impl Why for std::io::Error {
    fn status(&self) -> u8 {
        match self.kind() {
            ErrorKind::StorageFull | ErrorKind::FileTooLarge | ErrorKind::QuotaExceeded => 5,
            _ => 2,
        }
    }
}

impl Why for String {}
impl Why for &str {}
impl Why for serde_json::Error {}
impl Why for tracemem::record::TraceError {}
impl Why for tracemem::record::BusError {}

impl Failure {
    /// An error about `what`.
    pub fn error(what: impl Into<String>, why: impl Why) -> Failure {
        Failure::Error {
            what: what.into(),
            status: why.status(),
            why: why.to_string(),
        }
    }

    /// Says what happened on standard error, as `tracemem: VERB: what: why`,
    /// and gives the exit status.
    pub fn report(self, verb: &str) -> ExitCode {
        match self {
            Failure::Output(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Failure::Output(e) => {
                eprintln!("tracemem: {verb}: writing the output: {e}");
                ExitCode::from(e.status())
            }
            Failure::NothingFound(message) => {
                if !message.is_empty() {
                    eprintln!("tracemem: {verb}: {message}");
                }
                ExitCode::from(1)
            }
            Failure::Mismatch => ExitCode::from(1),
            Failure::Error { what, why, status } => {
                // `what` may name the verb already (`find --mask`).
                let what = match what.strip_prefix(verb) {
                    Some(rest) if rest.is_empty() || rest.starts_with([' ', ':']) => {
                        rest.trim_start_matches(':').trim_start()
                    }
                    _ => what.as_str(),
                };
                if what.is_empty() {
                    eprintln!("tracemem: {verb}: {why}");
                } else {
                    eprintln!("tracemem: {verb}: {what}: {why}");
                }
                ExitCode::from(status)
            }
        }
    }
}

/// A failure to write the command's output.
pub fn io(e: std::io::Error) -> Failure {
    Failure::Output(e)
}

/// Opens the database at `path` for a query: read-only, beside any writer,
/// changing nothing in the file.
pub fn open(path: &Path) -> Result<Database, Failure> {
    Database::builder()
        .cache_size(QUERY_CACHE_BYTES)
        .decoded_cache_size(QUERY_CACHE_BYTES)
        .image_cache_size(QUERY_CACHE_BYTES)
        .open_read_only(path)
        .map_err(|e| opening(path, e))
}

/// The page cache, decoded-chunk cache and image cache of a query: a scan
/// of a long capture (`log`, `history`) or a large read runs in bounded
/// memory.
const QUERY_CACHE_BYTES: usize = 64 << 20;

/// Refuses a write to `path` while a recorder records into it, naming it.
pub fn refuse_while_recording(path: &Path, verb: &str) -> Result<(), Failure> {
    match tracemem::record::recorder_running(path) {
        Ok(false) => Ok(()),
        Ok(true) => Err(Failure::error(
            verb,
            format!(
                "{}: a recorder is recording into it; write once it has closed",
                path.display()
            ),
        )),
        Err(e) => Err(Failure::error(verb, e)),
    }
}

/// Opens the database at `path` for a writer other than `pack` and
/// `upgrade`: shared, so that queries keep working beside it.
pub fn open_writer(path: &Path) -> Result<Database, Failure> {
    Database::builder()
        .shared(true)
        .open(path)
        .map_err(|e| opening(path, e))
}

/// The failure to start a recorder on `path`: a file of an older format is
/// refused as every writer refuses it (naming `tracemem upgrade`).
pub fn starting(path: &Path, e: tracemem::Error) -> Failure {
    match e {
        e @ tracemem::Error::OlderFormat { .. } => opening(path, e),
        other => Failure::error("starting the recorder", other),
    }
}

/// The failure to open `path`, saying what to do where there is something.
pub fn opening(path: &Path, e: tracemem::Error) -> Failure {
    match e {
        tracemem::Error::Unclean { .. } => Failure::error(
            path.display().to_string(),
            format!(
                "a recorder stopped without closing it; run tracemem recover {}",
                path.display()
            ),
        ),
        tracemem::Error::OlderFormat { found, current, .. } => Failure::Error {
            what: path.display().to_string(),
            why: format!(
                "database format {found} is older than this tracemem's ({current}); run tracemem upgrade {}",
                path.display()
            ),
            status: 6,
        },
        other => Failure::error("opening the database", other),
    }
}

/// Begins a read transaction of `db`.
pub fn begin_read(db: &Database) -> Result<ReadTransaction, Failure> {
    db.begin_read().map_err(|e| Failure::error("reading", e))
}
