//! Trace files of bus transactions: the event model, a strict importer and
//! exporters that write exactly what the Python seed recorder writes.
//!
//! The recorder writes either NDJSON (one `json.dumps(event)` per line) or one
//! `json.dumps(events, indent=2)` array. Each event is an object with the keys
//! `op`, `address`, `value`, `width` (absent in older traces), `timestamp` and,
//! for a failed transaction, `error`. A file may hold several sessions appended
//! one after the other; a timestamp that goes backwards starts a new one.

//!
//! The importer is in `parse`, the exporters' byte-exact writing in `write`.

mod parse;
#[cfg(test)]
mod tests;
mod write;

use std::io::{self, Write};

use crate::vocab::trace::{TraceError, TraceEvent};
pub use parse::{ParsedTrace, TraceFormat};
use parse::{is_json_whitespace, parse_array, parse_lines};
use write::{check_timestamps, write_members};

/// Exporters hand their buffer to the writer whenever it grows past this.
const WRITE_CHUNK: usize = 64 * 1024;

///
/// The layout is told by [`TraceFormat::detect`]. Every event must be an object
/// with exactly the keys `op` (`"read"` or `"write"`), `address` and `value`
/// (JSON integers in `0..=u64::MAX`), optionally `width` (a JSON integer in
/// `1..=8`), `timestamp` (a finite JSON number) and optionally `error` (a string).
/// In the line layout, blank lines are skipped and lines may end in `\r\n`.
///
/// A last line without a final newline that is a cut-off JSON object (what a
/// writer that crashed mid-line leaves) is dropped with a warning. Any other
/// problem fails the whole import with an error naming the file, the line (and,
/// in an array, the event), the field and what is wrong.
///
/// Memory and time are linear in the size of `text`: lines are limited to
/// [`MAX_LINE_BYTES`](crate::record::MAX_LINE_BYTES) and deeply nested JSON is rejected without recursion.
///
/// # Errors
///
/// [`TraceError::Empty`] when `text` is empty or only whitespace, and
/// [`TraceError::Malformed`] for the first problem found otherwise; nothing is
/// imported then.
pub fn parse_trace(name: &str, text: &[u8]) -> Result<ParsedTrace, TraceError> {
    if text.iter().all(|&b| is_json_whitespace(b)) {
        return Err(TraceError::Empty { file: name.to_owned() });
    }
    match TraceFormat::detect(name, text) {
        TraceFormat::Lines => parse_lines(name, text),
        TraceFormat::JsonArray => parse_array(name, text),
    }
}

/// Writes `events` as the recorder's NDJSON: one `json.dumps(event)` per line,
/// each line ending in `\n`.
///
/// Keys come in the order `op`, `address`, `value`, `width` (left out when
/// `None`), `timestamp`, `error` (only when present), with Python's separators
/// `", "` and `": "`; the timestamp is printed as Python's `repr` and the error
/// string escaped as `json.dumps` does (ASCII only). To export several sessions,
/// pass their events one after the other.
///
/// `out` gets a few large writes, so it need not be buffered.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`], before anything is written, when a timestamp
/// is not finite; otherwise any error of `out`.
pub fn write_ndjson(events: &[TraceEvent], out: &mut impl Write) -> io::Result<()> {
    check_timestamps(events)?;
    let mut buf = Vec::with_capacity(WRITE_CHUNK + 1024);
    for event in events {
        buf.push(b'{');
        write_members(&mut buf, event, b", ")?;
        buf.extend_from_slice(b"}\n");
        if buf.len() >= WRITE_CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)
}

/// Writes `events` exactly as Python's `json.dumps(events, indent=2)`: one key
/// per line, no newline after the closing `]`, and `[]` for no events.
///
/// Keys, numbers and strings are written as by [`write_ndjson`].
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`], before anything is written, when a timestamp
/// is not finite; otherwise any error of `out`.
pub fn write_json_array(events: &[TraceEvent], out: &mut impl Write) -> io::Result<()> {
    check_timestamps(events)?;
    if events.is_empty() {
        return out.write_all(b"[]");
    }
    let mut buf = Vec::with_capacity(WRITE_CHUNK + 1024);
    buf.extend_from_slice(b"[\n");
    for (index, event) in events.iter().enumerate() {
        buf.extend_from_slice(b"  {\n    ");
        write_members(&mut buf, event, b",\n    ")?;
        buf.extend_from_slice(b"\n  }");
        if index + 1 < events.len() {
            buf.push(b',');
        }
        buf.push(b'\n');
        if buf.len() >= WRITE_CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    buf.push(b']');
    out.write_all(&buf)
}
