//! Typed errors. Every variant carries what the caller needs to say where and
//! what went wrong: the path, the space, the address, the snap, the value.

use std::path::PathBuf;

use crate::vocab::snaps::Snap;

/// The result type of tracemem.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in tracemem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file exists but is not a tracemem database.
    #[error("{path}: not a tracemem database: {detail}")]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// Why it was not recognised.
        detail: String,
    },
    /// The database was written by a newer tracemem.
    #[error("{path}: database format {found} is newer than the newest this tracemem reads ({supported})")]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// The format version stored in the file.
        found: u32,
        /// The newest format version this build reads.
        supported: u32,
    },
    /// The database was written in an older format: only an upgrade
    /// (`tracemem upgrade`) converts it; no open does.
    #[error(
        "{path}: database format {found} is older than this tracemem's ({current}); convert it with `tracemem upgrade {path}` (or `tracemem::upgrade::upgrade`)"
    )]
    OlderFormat {
        /// The file.
        path: PathBuf,
        /// The format version stored in the file.
        found: u32,
        /// The format version this build writes.
        current: u32,
    },
    /// Stored data failed a consistency check.
    #[error("{place}: damaged database: {detail}")]
    Corrupt {
        /// Where the damage was found (file, table, key).
        place: String,
        /// What is wrong.
        detail: String,
    },
    /// A read at a snap before the retention horizon: that history was
    /// dropped to bound the database.
    #[error(
        "{what} at snap {snap}: the history before snap {horizon} was dropped by retention (the database's horizon)"
    )]
    BeforeHorizon {
        /// What was asked.
        what: String,
        /// The snap asked for.
        snap: i64,
        /// The first snap whose history is kept.
        horizon: i64,
    },

    /// An event before its capture's first kept one (retention dropped it).
    #[error(
        "event {seq} of capture '{capture}': its events before event {first_kept} were dropped by retention (the capture's horizon)"
    )]
    EventBeforeHorizon {
        /// The capture.
        capture: String,
        /// The sequence number asked for.
        seq: u64,
        /// The sequence number of its first kept event.
        first_kept: u64,
    },

    /// The database file is open for writing elsewhere.
    #[error("{path}: the database is in use by another process")]
    Busy {
        /// The file.
        path: PathBuf,
    },
    /// The database or the recording was closed before this call.
    #[error("{path}: the {what} is closed")]
    Closed {
        /// What was closed: `database` or `recording`.
        what: &'static str,
        /// Its file.
        path: PathBuf,
    },
    /// No space left on the device, or the file-size limit reached, or the
    /// recorder's journal full.
    #[error("{path}: no space left: {detail}")]
    NoSpace {
        /// The file that could not grow.
        path: PathBuf,
        /// What was being written and what the system said.
        detail: String,
    },
    /// The recorder's folding thread (which commits what it records) has
    /// stopped: nothing more can be committed by this recorder.
    #[error("capture '{capture}': the recorder's folding thread stopped")]
    FoldingStopped {
        /// The capture being recorded.
        capture: String,
    },
    /// The recorder's background sync of its journal failed; the events
    /// journaled since the last sync may not survive a power loss.
    #[error("{path}: syncing the journal in the background failed: {reason}")]
    SyncFailed {
        /// The journal file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// An argument outside what the call accepts.
    #[error("invalid {argument}: {reason}")]
    InvalidArgument {
        /// The argument.
        argument: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A write transaction in which the storage engine failed: it cannot be
    /// committed, only dropped or aborted.
    #[error("{path}: this write transaction failed and cannot be committed: {reason}")]
    TransactionFailed {
        /// The database file.
        path: PathBuf,
        /// The failure.
        reason: String,
    },
    /// A writer stopped without closing the database (a killed recorder):
    /// a read-only open neither repairs the file nor replays the journal,
    /// so it refuses to show what may lack acknowledged events.
    #[error("{path}: a writer stopped without closing the database; open it for writing once to recover it")]
    Unclean {
        /// The database file.
        path: PathBuf,
    },
    /// A write to a database opened read-only.
    #[error("{path}: the database is open read-only")]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error from the storage engine underneath.
    #[error("storage: {context}: {source}")]
    Storage {
        /// What tracemem was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: Box<redb::Error>,
    },
    /// A block size that is not a power of two in `256..=65536`.
    #[error("block size {value} is not a power of two from 256 to 65536")]
    InvalidBlockSize {
        /// The block size asked for.
        value: u64,
    },
    /// A range whose first address is after its last.
    #[error("reversed address range {min:#x}:{max:#x}")]
    ReversedRange {
        /// The first address given.
        min: u64,
        /// The last address given.
        max: u64,
    },
    /// A query of zero bytes where at least one is needed.
    #[error("empty address range at {start:#x}")]
    EmptyRange {
        /// The start address given.
        start: u64,
    },
    /// A query whose length runs past the end of the 64-bit address space.
    #[error("range of {len} bytes at {start:#x} runs past the end of the address space")]
    RangePastEnd {
        /// The start address.
        start: u64,
        /// The length asked for.
        len: u64,
    },
    /// A lifespan whose first snap is after its last.
    #[error("reversed lifespan [{min}, {max}]")]
    ReversedLifespan {
        /// The first snap given.
        min: Snap,
        /// The last snap given.
        max: Snap,
    },
    /// A space name that does not exist in the database.
    #[error("unknown space '{name}'")]
    UnknownSpace {
        /// The name asked for.
        name: String,
    },
    /// A space name that cannot be stored.
    #[error("invalid space name '{name}': {reason}")]
    InvalidSpaceName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A record too large for the file format (its lengths are 32-bit).
    #[error("{what} of {len} bytes is too large to store")]
    TooLarge {
        /// What was being stored.
        what: &'static str,
        /// Its size.
        len: u64,
    },
    /// A write into a space that a capture owns (its recorder writes it).
    #[error("space '{space}' is written by a capture's recorder only")]
    CaptureSpace {
        /// The space.
        space: String,
    },
    /// A capture name that is taken.
    #[error("a capture named '{name}' exists already")]
    CaptureExists {
        /// The name.
        name: String,
    },
    /// A capture name that does not exist.
    #[error("unknown capture '{name}'")]
    UnknownCapture {
        /// The name asked for.
        name: String,
    },
    /// An event that cannot be recorded: a width outside 1..=8, or bytes
    /// running past the end of the address space.
    #[error("event {seq} of capture '{capture}' at {address:#x}: {reason}")]
    BadEvent {
        /// The capture.
        capture: String,
        /// The event's sequence number in it.
        seq: u64,
        /// Its address.
        address: u64,
        /// What is wrong.
        reason: String,
    },
    /// A flush policy other than `event`, `never` or a positive integer (R4).
    #[error("flush must be 'event', 'never', or a positive int; got {given}")]
    InvalidFlushPolicy {
        /// The value as given: numbers as written, text in single quotes.
        given: String,
    },
    /// A search mask whose length differs from its pattern's (M8).
    #[error("find_bytes: the mask has {mask} bytes but the pattern has {pattern}; they must be the same length")]
    MaskLength {
        /// Bytes in the pattern.
        pattern: usize,
        /// Bytes in the mask.
        mask: usize,
    },
    /// A long operation was cancelled by its progress callback.
    #[error("{operation} cancelled at {at:#x}")]
    Cancelled {
        /// What was cancelled.
        operation: &'static str,
        /// The address (or other position) it had reached.
        at: u64,
    },
    /// A trace file that cannot be imported.
    #[error(transparent)]
    Trace(#[from] crate::vocab::trace::TraceError),
    /// `set_state(Known)`: KNOWN always comes with the bytes observed.
    #[error(
        "cannot set KNOWN at snap {snap} over [{first:#x}, {last:#x}]: KNOWN comes with the observed bytes, use put_bytes"
    )]
    KnownNeedsBytes {
        /// The snap given.
        snap: Snap,
        /// The first address of the range given.
        first: u64,
        /// The last address of the range given.
        last: u64,
    },
    /// A register name the register map does not define.
    #[error("unknown register '{register}'")]
    UnknownRegister {
        /// The name asked for.
        register: String,
    },
    /// A register definition the register map refuses: a bad name, size,
    /// bit range or parent.
    #[error("register '{register}': {reason}")]
    InvalidRegister {
        /// The register.
        register: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two top-level registers sharing bytes of the register space.
    #[error("register '{register}' overlaps register '{other}'; only a sub-register may share its parent's bytes")]
    RegisterOverlap {
        /// The register.
        register: String,
        /// The register it overlaps.
        other: String,
    },
    /// A sub-register whose bytes do not lie inside its parent's.
    #[error("register '{register}' does not lie inside its parent '{parent}'")]
    RegisterOutsideParent {
        /// The sub-register.
        register: String,
        /// Its parent.
        parent: String,
    },
    /// A value with bits set beyond the register's width.
    #[error("value {value:#x} is wider than register '{register}' ({bits} bits)")]
    ValueTooWide {
        /// The register.
        register: String,
        /// The value given.
        value: u128,
        /// The register's width in bits.
        bits: u32,
    },
    /// No region of that name is alive at that snap.
    #[error("no region '{region}' in space '{space}' at snap {snap}")]
    UnknownRegion {
        /// The region's name.
        region: String,
        /// The space.
        space: String,
        /// The snap asked for.
        snap: Snap,
    },
    /// A region that cannot be stored: an empty or too long name, or a
    /// reversed address range.
    #[error("region '{region}': {reason}")]
    InvalidRegion {
        /// The region's name.
        region: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A second region of one name alive at the same snap.
    #[error("a region '{region}' already exists in space '{space}' at snap {snap}")]
    RegionExists {
        /// The region's name.
        region: String,
        /// The space.
        space: String,
        /// The first snap both would be alive at.
        snap: Snap,
    },
    /// Two regions alive at a common snap sharing addresses.
    #[error("region '{region}' overlaps region '{other}' in space '{space}'")]
    RegionOverlap {
        /// The region added or changed.
        region: String,
        /// The region it overlaps.
        other: String,
        /// The space.
        space: String,
    },
}

impl Error {
    pub(crate) fn storage(context: &'static str, source: impl Into<redb::Error>) -> Error {
        Error::Storage {
            context,
            source: Box::new(source.into()),
        }
    }

    pub(crate) fn corrupt(place: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            place: place.into(),
            detail: detail.into(),
        }
    }
}

/// Attaches what tracemem was doing to a redb error.
pub(crate) trait StorageContext<T> {
    /// Converts the error into [`Error::Storage`] with `context`.
    fn context(self, context: &'static str) -> Result<T>;
}

impl<T, E: Into<redb::Error>> StorageContext<T> for std::result::Result<T, E> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|e| Error::storage(context, e))
    }
}
