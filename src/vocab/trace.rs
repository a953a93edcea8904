//! Bus events: the words of a trace (an operation, an event) and what can
//! be wrong in a trace file (a location and a problem there).

use std::fmt;

/// The longest line the line-oriented formats accept, in bytes, without its newline.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The access width, in bytes, assumed for an event without `width` when checking
/// that its last byte stays inside the 64-bit address space.
pub const DEFAULT_WIDTH: u8 = 4;

/// The direction of a bus transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A read; `value` is what the bus returned.
    Read,
    /// A write; `value` is what was written.
    Write,
}

impl Op {
    /// The name used in trace files: `"read"` or `"write"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One bus transaction of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// Read or write.
    pub op: Op,
    /// The byte address of the access.
    pub address: u64,
    /// The value read or written; kept as given, even when wider than `width`.
    pub value: u64,
    /// The access width in bytes, `1..=8`; `None` when the trace has no `width` key.
    pub width: Option<u8>,
    /// Seconds since the capture started; always finite.
    pub timestamp: f64,
    /// Why the transaction failed; `None` for a successful one (the seed recorder
    /// never writes it).
    pub error: Option<String>,
}

/// Why a trace file could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The file is empty or holds only whitespace.
    #[error("{file}: empty trace")]
    Empty {
        /// The file name given to [`parse_trace`](crate::record::parse_trace).
        file: String,
    },
    /// Something at `at` is malformed.
    #[error("{at}: {problem}")]
    Malformed {
        /// Where the problem is.
        at: Location,
        /// What is wrong there.
        problem: Problem,
    },
}

/// A place in a trace file, displayed as `file:line`, `file:line: event N` or
/// `file: event N`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// The file name given to [`parse_trace`](crate::record::parse_trace).
    pub file: String,
    /// The 1-based line (for an event of a JSON array, the line it starts on).
    pub line: Option<usize>,
    /// The 1-based index of the event in a JSON array.
    pub event: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(event) = self.event {
            write!(f, ": event {event}")?;
        }
        Ok(())
    }
}

/// What is wrong at a [`Location`] of a trace file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A line is longer than [`MAX_LINE_BYTES`](crate::record::MAX_LINE_BYTES).
    #[error("line longer than 1 MiB")]
    LineTooLong,
    /// The bytes are not UTF-8.
    #[error("invalid UTF-8 at column {column}")]
    InvalidUtf8 {
        /// The 1-based byte column of the first bad byte.
        column: usize,
    },
    /// The text is not JSON (this includes a truncated value; a bare `NaN` or
    /// `Infinity` as the value of a known field is that field's [`Problem::BadField`]).
    #[error("not JSON: {message} at column {column}")]
    NotJson {
        /// The JSON parser's message, without its position.
        message: String,
        /// The 1-based column where the parser stopped.
        column: usize,
    },
    /// The JSON value of an event is not an object.
    #[error("expected a JSON object, got {found}")]
    NotAnObject {
        /// What was found instead, e.g. `an array`.
        found: &'static str,
    },
    /// A required key is absent.
    #[error("missing field '{field}'")]
    MissingField {
        /// The absent key.
        field: &'static str,
    },
    /// A key that events do not have.
    #[error("unknown field '{field}'")]
    UnknownField {
        /// The key (shortened when long).
        field: String,
    },
    /// A key given twice.
    #[error("duplicate field '{field}'")]
    DuplicateField {
        /// The key.
        field: String,
    },
    /// A key whose value is of the wrong type or out of range.
    #[error("field '{field}': {reason}")]
    BadField {
        /// The key.
        field: &'static str,
        /// What is wrong with its value, quoting it.
        reason: String,
    },
    /// The last byte of the access, `address + width - 1`, is past `u64::MAX`
    /// (an event without `width` is taken as [`DEFAULT_WIDTH`](crate::record::DEFAULT_WIDTH) bytes wide).
    #[error("field 'address': a {width}-byte access at {address:#x} ends past 0xffffffffffffffff")]
    AddressOverflow {
        /// The start address.
        address: u64,
        /// The access width used for the check.
        width: u8,
    },
}

impl TraceEvent {
    /// The bytes of the event's memory observation: its width, or for an
    /// event without one (older traces) 4, or 8 if the value does not fit
    /// in 4 (R7).
    pub fn memory_width(&self) -> u8 {
        self.width.unwrap_or(if self.value > u64::from(u32::MAX) {
            8
        } else {
            DEFAULT_WIDTH
        })
    }
}

/// The mask of the low `width` bytes (`width` in `1..=8`).
pub(crate) fn width_mask(width: u8) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * u32::from(width))) - 1
    }
}
