//! The journal's typed errors; every variant names the journal file.

use std::io;
use std::path::{Path, PathBuf};

/// Errors of the journal. Every variant names the journal file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A system call failed.
    #[error("journal {}: {op} failed: {source}", path.display())]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The filesystem has no room to preallocate the journal (ENOSPC/EDQUOT).
    #[error("journal {}: no space left to preallocate {bytes} bytes: {source}", path.display())]
    NoSpace {
        /// The journal file.
        path: PathBuf,
        /// How many bytes were being allocated.
        bytes: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another [`Journal`] (in this or another process) has the file open for writing.
    #[error("journal {}: already open for writing elsewhere (lock held)", path.display())]
    Locked {
        /// The journal file.
        path: PathBuf,
    },
    /// The requested capacity is not usable.
    #[error("journal {}: invalid capacity {capacity}: {reason}", path.display())]
    InvalidCapacity {
        /// The journal file.
        path: PathBuf,
        /// The requested capacity.
        capacity: u64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The file is shorter than the header block.
    #[error("journal {}: file is {len} bytes, shorter than its {needed}-byte header", path.display())]
    TruncatedHeader {
        /// The journal file.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// The header size.
        needed: u64,
    },
    /// The file does not start with [`MAGIC`].
    #[error("journal {}: bad magic {found:02x?}, not a tracemem journal", path.display())]
    BadMagic {
        /// The journal file.
        path: PathBuf,
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The file was written by a newer format version.
    #[error("journal {}: format version {found} is newer than supported version {supported}", path.display())]
    NewerVersion {
        /// The journal file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this code reads.
        supported: u32,
    },
    /// The static header's checksum does not match.
    #[error("journal {}: header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})", path.display())]
    HeaderChecksum {
        /// The journal file.
        path: PathBuf,
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum computed over the header.
        computed: u32,
    },
    /// The header is inconsistent (checksum fine, content impossible), or no tail slot is valid.
    #[error("journal {}: corrupt header: {reason}", path.display())]
    CorruptHeader {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file is shorter than the capacity recorded in its header.
    #[error("journal {}: file is {len} bytes but its header says capacity {capacity}", path.display())]
    FileTooShort {
        /// The journal file.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// The capacity in the header.
        capacity: u64,
    },
    /// No room for the record until more records are folded (see [`Journal::folded`]).
    #[error("journal {}: full: {needed} bytes needed, {free} bytes free (fold, call folded(), retry)", path.display())]
    Full {
        /// Bytes the record(s) need, headers and padding included.
        needed: u64,
        /// Bytes free in total (possibly fragmented).
        free: u64,
        /// The journal file.
        path: PathBuf,
    },
    /// The payload can never fit in this journal.
    #[error("journal {}: payload of {len} bytes exceeds the maximum of {max} bytes", path.display())]
    TooLarge {
        /// The journal file.
        path: PathBuf,
        /// The payload's length.
        len: u64,
        /// The largest payload this journal accepts.
        max: u64,
    },
    /// [`Journal::folded`] was called with a sequence number that was never appended.
    #[error("journal {}: folded({seq}) is past the last appended sequence number {last}", path.display())]
    FoldBeyondEnd {
        /// The journal file.
        path: PathBuf,
        /// The sequence number passed.
        seq: u64,
        /// The last appended sequence number.
        last: u64,
    },
    /// Sequence numbers (or slot generations) would overflow `u64`.
    #[error("journal {}: sequence numbers exhausted", path.display())]
    SeqExhausted {
        /// The journal file.
        path: PathBuf,
    },
    /// The record area changed under the writer (e.g. another program wrote to the file).
    #[error("journal {}: corrupt record area at offset {offset}: {reason}", path.display())]
    CorruptRecord {
        /// The journal file.
        path: PathBuf,
        /// File offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

pub(super) fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

impl From<JournalError> for crate::vocab::error::Error {
    /// The journal's errors by what happened: a lock held elsewhere, no
    /// space, an I/O failure, a refused argument, a newer format, or damage.
    fn from(e: JournalError) -> Self {
        use crate::vocab::error::Error;
        match e {
            JournalError::Locked { path } => Error::Busy { path },
            JournalError::NoSpace { ref path, .. } | JournalError::Full { ref path, .. } => Error::NoSpace {
                path: path.clone(),
                detail: e.to_string(),
            },
            JournalError::Io { path, op, source } => match source.raw_os_error() {
                Some(libc::ENOSPC | libc::EFBIG | libc::EDQUOT) => Error::NoSpace {
                    path,
                    detail: format!("{op}: {source}"),
                },
                _ => Error::Io {
                    path,
                    source: io::Error::new(source.kind(), format!("journal {op}: {source}")),
                },
            },
            JournalError::InvalidCapacity { ref reason, .. } => Error::InvalidArgument {
                argument: "journal capacity",
                reason: reason.to_string(),
            },
            JournalError::NewerVersion { path, found, supported } => Error::NewerFormat { path, found, supported },
            JournalError::TooLarge { len, .. } => Error::TooLarge {
                what: "journal record",
                len,
            },
            JournalError::TruncatedHeader { ref path, .. }
            | JournalError::BadMagic { ref path, .. }
            | JournalError::HeaderChecksum { ref path, .. }
            | JournalError::CorruptHeader { ref path, .. }
            | JournalError::FileTooShort { ref path, .. }
            | JournalError::FoldBeyondEnd { ref path, .. }
            | JournalError::SeqExhausted { ref path }
            | JournalError::CorruptRecord { ref path, .. } => Error::Corrupt {
                place: path.display().to_string(),
                detail: e.to_string(),
            },
        }
    }
}
