//! Trace files of bus transactions: the event model, a strict importer and
//! exporters that write exactly what the Python seed recorder writes.
//!
//! The recorder writes either NDJSON (one `json.dumps(event)` per line) or one
//! `json.dumps(events, indent=2)` array. Each event is an object with the keys
//! `op`, `address`, `value`, `width` (absent in older traces), `timestamp` and,
//! for a failed transaction, `error`. A file may hold several sessions appended
//! one after the other; a timestamp that goes backwards starts a new one.

use std::fmt;
use std::io::{self, Write};
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::record::pyfloat::PyFloat;

/// The longest line the line-oriented formats accept, in bytes, without its newline.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The access width, in bytes, assumed for an event without `width` when checking
/// that its last byte stays inside the 64-bit address space.
pub const DEFAULT_WIDTH: u8 = 4;

/// Longest excerpt of offending input quoted in an error message, in characters.
const EXCERPT_CHARS: usize = 40;

/// Exporters hand their buffer to the writer whenever it grows past this.
const WRITE_CHUNK: usize = 64 * 1024;

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

/// The events of an imported trace file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedTrace {
    /// The file's sessions in order, each non-empty and with non-decreasing
    /// timestamps; a timestamp smaller than the one before starts a new session.
    pub sessions: Vec<Vec<TraceEvent>>,
    /// What was tolerated, one message each, e.g. a torn last line that was dropped.
    pub warnings: Vec<String>,
}

impl ParsedTrace {
    /// All events of all sessions, in file order.
    pub fn events(&self) -> impl Iterator<Item = &TraceEvent> {
        self.sessions.iter().flatten()
    }
}

/// The two layouts of a trace file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceFormat {
    /// One JSON event object per line (NDJSON / JSON Lines, or a `.log` file).
    Lines,
    /// One JSON array of event objects.
    JsonArray,
}

impl TraceFormat {
    /// Tells the layout of the file `name` holding `text`: a name ending in
    /// `.ndjson` or `.jsonl` (in any case) is [`Lines`](Self::Lines); otherwise
    /// text whose first non-whitespace byte is `[` is a [`JsonArray`](Self::JsonArray)
    /// and any other text is [`Lines`](Self::Lines).
    #[must_use]
    pub fn detect(name: &str, text: &[u8]) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            return Self::Lines;
        }
        match text.iter().find(|&&b| !is_json_whitespace(b)) {
            Some(b'[') => Self::JsonArray,
            _ => Self::Lines,
        }
    }
}

/// Why a trace file could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The file is empty or holds only whitespace.
    #[error("{file}: empty trace")]
    Empty {
        /// The file name given to [`parse_trace`].
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
    /// The file name given to [`parse_trace`].
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
    /// A line is longer than [`MAX_LINE_BYTES`].
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
    /// (an event without `width` is taken as [`DEFAULT_WIDTH`] bytes wide).
    #[error("field 'address': a {width}-byte access at {address:#x} ends past 0xffffffffffffffff")]
    AddressOverflow {
        /// The start address.
        address: u64,
        /// The access width used for the check.
        width: u8,
    },
}

/// Imports the trace file `name` whose bytes are `text`.
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
/// [`MAX_LINE_BYTES`] and deeply nested JSON is rejected without recursion.
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

// ---------------------------------------------------------------------------
// Import

/// Imports the line layout: one event object per line.
fn parse_lines(file: &str, text: &[u8]) -> Result<ParsedTrace, TraceError> {
    let at = |line| Location {
        file: file.to_owned(),
        line: Some(line),
        event: None,
    };
    let mut sessions = SessionSplitter::default();
    let mut warnings = Vec::new();
    let mut rest = text;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        // Look for the newline no further than one byte past the longest line.
        let window = &rest[..rest.len().min(MAX_LINE_BYTES + 1)];
        let (line, terminated) = match window.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let (line, tail) = rest.split_at(end);
                rest = &tail[1..];
                (line, true)
            }
            None => (std::mem::take(&mut rest), false),
        };
        if line.len() > MAX_LINE_BYTES {
            return Err(TraceError::Malformed {
                at: at(number),
                problem: Problem::LineTooLong,
            });
        }
        if line.iter().all(|&b| is_json_whitespace(b)) {
            continue;
        }
        match parse_line(line) {
            Ok(event) => sessions.push(event),
            Err(problem) if !terminated && is_torn(line) => warnings.push(format!(
                "{}: dropped a torn last line (no final newline): {problem}",
                at(number)
            )),
            Err(problem) => {
                return Err(TraceError::Malformed {
                    at: at(number),
                    problem,
                });
            }
        }
    }
    Ok(ParsedTrace {
        sessions: sessions.finish(),
        warnings,
    })
}

/// Imports the array layout: one JSON array of event objects.
fn parse_array(file: &str, bytes: &[u8]) -> Result<ParsedTrace, TraceError> {
    let malformed = |line, event, problem| TraceError::Malformed {
        at: Location {
            file: file.to_owned(),
            line,
            event,
        },
        problem,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_and_column(bytes, e.valid_up_to());
        malformed(Some(line), None, Problem::InvalidUtf8 { column })
    })?;
    // Every element is kept as unparsed text; skipping over it needs no recursion.
    let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        malformed(
            Some(e.line()),
            None,
            non_finite_field(text, &e).unwrap_or_else(|| not_json(&e)),
        )
    })?;
    let mut sessions = SessionSplitter::default();
    for (index, element) in elements.iter().enumerate() {
        let event = parse_event(element.get()).map_err(|problem| {
            let line = offset_in(text, element.get()).map(|offset| line_and_column(bytes, offset).0);
            malformed(line, Some(index + 1), problem)
        })?;
        sessions.push(event);
    }
    Ok(ParsedTrace {
        sessions: sessions.finish(),
        warnings: Vec::new(),
    })
}

/// Parses one non-blank line of the line layout.
fn parse_line(line: &[u8]) -> Result<TraceEvent, Problem> {
    let text = std::str::from_utf8(line).map_err(|e| Problem::InvalidUtf8 {
        column: e.valid_up_to() + 1,
    })?;
    parse_event(text)
}

/// Whether an unparsable last line is a cut-off prefix of a JSON object, as a
/// crashed writer leaves it, rather than something else that is wrong.
fn is_torn(line: &[u8]) -> bool {
    match std::str::from_utf8(line) {
        Ok(text) => {
            text.trim_start_matches([' ', '\t', '\r']).starts_with('{')
                && serde_json::from_str::<IgnoredAny>(text).is_err_and(|e| e.classify() == Category::Eof)
        }
        // Cut inside a multi-byte character: look at what comes before it.
        Err(e) if e.error_len().is_none() => is_torn(&line[..e.valid_up_to()]),
        Err(_) => false,
    }
}

/// Parses the JSON text of one event.
fn parse_event(text: &str) -> Result<TraceEvent, Problem> {
    let members: Members<'_> = serde_json::from_str(text).map_err(|e| match e.classify() {
        Category::Data => Problem::NotAnObject { found: json_kind(text) },
        _ => non_finite_field(text, &e).unwrap_or_else(|| not_json(&e)),
    })?;
    members.into_event()
}

/// The members of one event object in file order, duplicates kept, values unparsed.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(6);
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Members(members))
    }
}

impl<'a> Members<'a> {
    /// Checks the keys and values and builds the event.
    fn into_event(self) -> Result<TraceEvent, Problem> {
        let mut op = None;
        let mut address = None;
        let mut value = None;
        let mut width = None;
        let mut timestamp = None;
        let mut error = None;
        for (key, raw) in self.0 {
            let slot: &mut Option<&'a RawValue> = match key.as_str() {
                "op" => &mut op,
                "address" => &mut address,
                "value" => &mut value,
                "width" => &mut width,
                "timestamp" => &mut timestamp,
                "error" => &mut error,
                _ => {
                    return Err(Problem::UnknownField {
                        field: excerpt(&key.escape_debug().to_string()),
                    });
                }
            };
            if slot.replace(raw).is_some() {
                return Err(Problem::DuplicateField { field: key });
            }
        }
        let required = |slot: Option<&'a RawValue>, field| slot.ok_or(Problem::MissingField { field });
        let event = TraceEvent {
            op: parse_op(required(op, "op")?)?,
            address: parse_integer("address", required(address, "address")?, 0..=u64::MAX)?,
            value: parse_integer("value", required(value, "value")?, 0..=u64::MAX)?,
            width: width.map(|raw| parse_integer("width", raw, 1..=8)).transpose()?,
            timestamp: parse_timestamp(required(timestamp, "timestamp")?)?,
            error: error.map(parse_error).transpose()?,
        };
        let access_width = event.width.unwrap_or(DEFAULT_WIDTH);
        if event
            .address
            .checked_add(u64::from(access_width).saturating_sub(1))
            .is_none()
        {
            return Err(Problem::AddressOverflow {
                address: event.address,
                width: access_width,
            });
        }
        Ok(event)
    }
}

fn parse_op(raw: &RawValue) -> Result<Op, Problem> {
    match decode_string(raw).and_then(Result::ok).as_deref() {
        Some("read") => Ok(Op::Read),
        Some("write") => Ok(Op::Write),
        _ => Err(bad_field(
            "op",
            format!(r#"expected "read" or "write", got {}"#, describe(raw)),
        )),
    }
}

/// Parses a JSON integer (no fraction, no exponent) in `range`.
fn parse_integer<T>(field: &'static str, raw: &RawValue, range: RangeInclusive<T>) -> Result<T, Problem>
where
    T: FromStr + PartialOrd + fmt::Display,
{
    let text = raw.get();
    if !is_json_number(text) || text.contains(['.', 'e', 'E']) {
        return Err(bad_field(field, format!("expected an integer, got {}", describe(raw))));
    }
    match text.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(bad_field(
            field,
            format!("{} is not in {}..={}", excerpt(text), range.start(), range.end()),
        )),
    }
}

fn parse_timestamp(raw: &RawValue) -> Result<f64, Problem> {
    let text = raw.get();
    if !is_json_number(text) {
        return Err(bad_field(
            "timestamp",
            format!("expected a number, got {}", describe(raw)),
        ));
    }
    // Rust's float parsing is correctly rounded, so a timestamp written with
    // Python's shortest repr reads back as the very same double.
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() => Ok(t),
        _ => Err(bad_field(
            "timestamp",
            format!("{} is out of range for a double", excerpt(text)),
        )),
    }
}

fn parse_error(raw: &RawValue) -> Result<String, Problem> {
    match decode_string(raw) {
        Some(Ok(message)) => Ok(message),
        Some(Err(e)) => Err(bad_field("error", format!("not a valid string: {}", json_message(&e)))),
        None => Err(bad_field("error", format!("expected a string, got {}", describe(raw)))),
    }
}

/// Decodes a JSON string; `None` when the value is not a string. Fails on a
/// string that Rust cannot hold, such as one with a lone surrogate escape.
fn decode_string(raw: &RawValue) -> Option<Result<String, serde_json::Error>> {
    raw.get().starts_with('"').then(|| serde_json::from_str(raw.get()))
}

fn bad_field(field: &'static str, reason: String) -> Problem {
    Problem::BadField { field, reason }
}

/// Appends events, starting a new session whenever the timestamp goes backwards.
#[derive(Default)]
struct SessionSplitter {
    sessions: Vec<Vec<TraceEvent>>,
}

impl SessionSplitter {
    fn push(&mut self, event: TraceEvent) {
        match self.sessions.last_mut() {
            Some(session) if session.last().is_some_and(|last| event.timestamp >= last.timestamp) => {
                session.push(event);
            }
            _ => self.sessions.push(vec![event]),
        }
    }

    fn finish(self) -> Vec<Vec<TraceEvent>> {
        self.sessions
    }
}

/// A bare `NaN`, `Infinity` or `-Infinity` where the parser of `text`
/// stopped with `error`, as the value of an event's field (Python's
/// `json.dumps` writes them for non-finite floats): that field's problem.
/// `None` for any other syntax error.
fn non_finite_field(text: &str, error: &serde_json::Error) -> Option<Problem> {
    if error.classify() != Category::Syntax {
        return None;
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(error.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let stop = line_start + error.column().saturating_sub(1);
    // The token around where the parser stopped (it may stop after a sign).
    let is_token = |c: char| c.is_ascii_alphabetic() || c == '-';
    let start = text.get(..stop)?.trim_end_matches(is_token).len();
    let end = start
        + text
            .get(start..)?
            .find(|c: char| !is_token(c))
            .unwrap_or(text.len() - start);
    let token = &text[start..end];
    if !matches!(token, "NaN" | "Infinity" | "-Infinity") {
        return None;
    }
    // The key before it: `"key" :`.
    let before = text[..start]
        .trim_end()
        .strip_suffix(':')?
        .trim_end()
        .strip_suffix('"')?;
    let key = &before[before.rfind('"')? + 1..];
    let field = ["address", "value", "width", "timestamp"]
        .into_iter()
        .find(|field| *field == key)?;
    Some(bad_field(field, format!("{token} is not a finite number")))
}

/// The parser's message of `error` with its position cut off, and the column.
fn not_json(error: &serde_json::Error) -> Problem {
    Problem::NotJson {
        message: json_message(error),
        column: error.column(),
    }
}

/// The message of a JSON error without `serde_json`'s position (" at line L column C").
fn json_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// "an array", "a string", …: the kind of the JSON value `text` starts with.
fn json_kind(text: &str) -> &'static str {
    match text.bytes().find(|&b| !is_json_whitespace(b)) {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// A JSON value as quoted in an error: strings and numbers as written (shortened
/// when long), other values by their kind or literal.
fn describe(raw: &RawValue) -> String {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{' | b'[') => json_kind(text).to_owned(),
        _ => excerpt(text),
    }
}

/// `text`, shortened to [`EXCERPT_CHARS`] characters and an ellipsis when longer.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Whether the text of a JSON value is a number.
fn is_json_number(text: &str) -> bool {
    text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The byte offset of `part` within `whole`, when it is a slice of it.
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let offset = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (offset + part.len() <= whole.len()).then_some(offset)
}

/// The 1-based line and byte column of byte `offset` of `text`.
fn line_and_column(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    (line, before.len() - line_start + 1)
}

// ---------------------------------------------------------------------------
// Export

/// Fails before anything is written when a timestamp cannot be written as JSON.
fn check_timestamps(events: &[TraceEvent]) -> io::Result<()> {
    match events.iter().position(|e| !e.timestamp.is_finite()) {
        Some(index) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "event {}: timestamp {} is not finite",
                index + 1,
                events[index].timestamp
            ),
        )),
        None => Ok(()),
    }
}

/// Writes the `"key": value` members of `event` joined by `separator`.
fn write_members(buf: &mut Vec<u8>, event: &TraceEvent, separator: &[u8]) -> io::Result<()> {
    write!(buf, r#""op": "{}""#, event.op.as_str())?;
    buf.extend_from_slice(separator);
    write!(buf, r#""address": {}"#, event.address)?;
    buf.extend_from_slice(separator);
    write!(buf, r#""value": {}"#, event.value)?;
    if let Some(width) = event.width {
        buf.extend_from_slice(separator);
        write!(buf, r#""width": {width}"#)?;
    }
    buf.extend_from_slice(separator);
    write!(buf, r#""timestamp": {}"#, PyFloat(event.timestamp))?;
    if let Some(error) = &event.error {
        buf.extend_from_slice(separator);
        buf.extend_from_slice(br#""error": "#);
        write_json_string(buf, error)?;
    }
    Ok(())
}

/// Writes `s` as Python's `json.dumps` does with `ensure_ascii=True`: `\"`, `\\`,
/// `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00XX` for every other character outside
/// `' '..='~'` (lowercase hex, astral characters as a surrogate pair).
fn write_json_string(buf: &mut Vec<u8>, s: &str) -> io::Result<()> {
    buf.push(b'"');
    for c in s.chars() {
        match c {
            '"' => buf.extend_from_slice(br#"\""#),
            '\\' => buf.extend_from_slice(br"\\"),
            '\u{8}' => buf.extend_from_slice(br"\b"),
            '\u{c}' => buf.extend_from_slice(br"\f"),
            '\n' => buf.extend_from_slice(br"\n"),
            '\r' => buf.extend_from_slice(br"\r"),
            '\t' => buf.extend_from_slice(br"\t"),
            ' '..='~' => buf.push(c as u8),
            _ => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(buf, "\\u{unit:04x}")?;
                }
            }
        }
    }
    buf.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_util::{TempDir, python3};

    const GEN_SOAK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/workloads/gen_soak.py");

    fn event(op: Op, address: u64, value: u64, width: Option<u8>, timestamp: f64) -> TraceEvent {
        TraceEvent {
            op,
            address,
            value,
            width,
            timestamp,
            error: None,
        }
    }

    fn ndjson(events: &[TraceEvent]) -> Vec<u8> {
        let mut out = Vec::new();
        write_ndjson(events, &mut out).expect("export to memory");
        out
    }

    fn json_array(events: &[TraceEvent]) -> Vec<u8> {
        let mut out = Vec::new();
        write_json_array(events, &mut out).expect("export to memory");
        out
    }

    fn all_events(trace: &ParsedTrace) -> Vec<TraceEvent> {
        trace.events().cloned().collect()
    }

    /// Runs the soak generator into `dir/file`; `None` when it cannot run here.
    fn generate(dir: &TempDir, file: &str, seed: u32, json: bool) -> Option<Vec<u8>> {
        if !std::path::Path::new(GEN_SOAK).exists() {
            eprintln!("skipped: {GEN_SOAK} is not there");
            return None;
        }
        let path = dir.path().join(file);
        let seed = seed.to_string();
        let out = path.to_string_lossy().into_owned();
        let mut args = vec![GEN_SOAK, "20000", "--seed", &seed, "--out", &out];
        if json {
            args.push("--json");
        }
        python3(&args)?;
        Some(std::fs::read(&path).expect("read the generated trace"))
    }

    #[test]
    fn soak_ndjson_round_trips_byte_for_byte() {
        let dir = TempDir::new("soak-ndjson");
        let Some(input) = generate(&dir, "soak.ndjson", 3, false) else {
            return;
        };
        let trace = parse_trace("soak.ndjson", &input).expect("import");
        assert!(trace.warnings.is_empty());
        assert_eq!(trace.sessions.len(), 1);
        assert_eq!(trace.sessions[0].len(), 20_000);
        assert_eq!(ndjson(&trace.sessions[0]), input);
    }

    #[test]
    fn soak_json_array_round_trips_byte_for_byte() {
        let dir = TempDir::new("soak-json");
        let Some(input) = generate(&dir, "soak.json", 3, true) else {
            return;
        };
        assert_eq!(TraceFormat::detect("soak.json", &input), TraceFormat::JsonArray);
        let trace = parse_trace("soak.json", &input).expect("import");
        assert!(trace.warnings.is_empty());
        assert_eq!(trace.sessions.len(), 1);
        assert_eq!(trace.sessions[0].len(), 20_000);
        assert_eq!(json_array(&trace.sessions[0]), input);
    }

    #[test]
    fn appended_sessions_split_and_round_trip() {
        let dir = TempDir::new("soak-sessions");
        let Some(first) = generate(&dir, "a.ndjson", 3, false) else {
            return;
        };
        let Some(second) = generate(&dir, "b.ndjson", 4, false) else {
            return;
        };
        let input = [first.as_slice(), second.as_slice()].concat();
        let trace = parse_trace("both.ndjson", &input).expect("import");
        assert_eq!(trace.sessions.len(), 2);
        assert_eq!(trace.sessions[0].len(), 20_000);
        assert_eq!(trace.sessions[1].len(), 20_000);
        assert_eq!(ndjson(&trace.sessions[0]), first);
        assert_eq!(ndjson(&all_events(&trace)), input);
    }

    #[test]
    fn soak_with_a_torn_last_line_keeps_the_rest() {
        let dir = TempDir::new("soak-torn");
        let Some(input) = generate(&dir, "soak.ndjson", 3, false) else {
            return;
        };
        let torn = &input[..input.len() - 30];
        let trace = parse_trace("run.ndjson", torn).expect("import");
        assert_eq!(trace.sessions[0].len(), 19_999);
        assert_eq!(trace.warnings.len(), 1);
        assert!(trace.warnings[0].starts_with("run.ndjson:20000: dropped a torn last line"));
        let kept = torn.iter().rposition(|&b| b == b'\n').expect("a newline") + 1;
        assert_eq!(ndjson(&trace.sessions[0]), &torn[..kept]);
    }

    const TRICKY: &[&str] = &[
        r#"he said "stop""#,
        r"C:\path\to\file",
        "line one\nline two",
        "tab\there",
        "\u{1}",
        "caf\u{e9}",
        "\u{1f600}",
        "\u{0}\u{8}\u{c}\r\u{1f}\u{7f}\u{80}",
        "\u{2028}\u{ffff}\u{10ffff}",
        "mixed \"\\ \u{e9}\u{1f600}\n\t",
        "",
    ];

    #[test]
    fn string_escaping_matches_python() {
        let dir = TempDir::new("escape");
        let input = dir.path().join("strings.txt");
        let hex: String = TRICKY
            .iter()
            .map(|s| s.bytes().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
            .collect();
        std::fs::write(&input, hex).expect("write the strings");
        let script = "import json, sys\n\
                      for line in open(sys.argv[1]):\n    \
                          s = bytes.fromhex(line.strip()).decode('utf-8')\n    \
                          print(json.dumps(s))\n    \
                          print(json.dumps({'op': 'read', 'address': 16, 'value': 255, \
                                            'width': 1, 'timestamp': 2.5e-06, 'error': s}))\n";
        let Some(stdout) = python3(&["-c", script, &input.to_string_lossy()]) else {
            return;
        };
        let mut expected = stdout.lines();
        for &s in TRICKY {
            let mut ours = Vec::new();
            write_json_string(&mut ours, s).expect("escape to memory");
            assert_eq!(String::from_utf8_lossy(&ours), expected.next().unwrap_or(""), "{s:?}");
            let failed = TraceEvent {
                error: Some(s.to_owned()),
                ..event(Op::Read, 16, 255, Some(1), 2.5e-6)
            };
            let line = ndjson(std::slice::from_ref(&failed));
            assert_eq!(
                String::from_utf8_lossy(&line),
                format!("{}\n", expected.next().unwrap_or(""))
            );
            let back = parse_trace("e.ndjson", &line).expect("import");
            assert_eq!(all_events(&back), [failed]);
        }
    }

    #[test]
    fn json_array_layout_matches_python_indent_2() {
        let events = [
            event(Op::Write, 0x4000_0000, 66, Some(4), 1.1e-5),
            TraceEvent {
                error: Some("bus \"timeout\"".into()),
                ..event(Op::Read, 8, 0, None, 2.0)
            },
        ];
        let expected = "[\n  {\n    \"op\": \"write\",\n    \"address\": 1073741824,\n    \
                        \"value\": 66,\n    \"width\": 4,\n    \"timestamp\": 1.1e-05\n  },\n  \
                        {\n    \"op\": \"read\",\n    \"address\": 8,\n    \"value\": 0,\n    \
                        \"timestamp\": 2.0,\n    \"error\": \"bus \\\"timeout\\\"\"\n  }\n]";
        assert_eq!(String::from_utf8_lossy(&json_array(&events)), expected);
        assert_eq!(json_array(&[]), b"[]");
        assert_eq!(ndjson(&[]), b"");
        let back = parse_trace("t.json", expected.as_bytes()).expect("import");
        assert_eq!(all_events(&back), events);
    }

    #[test]
    fn export_refuses_a_non_finite_timestamp_before_writing() {
        let events = [
            event(Op::Read, 0, 0, Some(4), 0.0),
            event(Op::Read, 0, 0, Some(4), f64::NAN),
        ];
        let mut out = Vec::new();
        let err = write_ndjson(&events, &mut out).expect_err("NaN timestamp");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("event 2"), "{err}");
        assert!(out.is_empty());
        assert!(write_json_array(&events, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn sessions_split_only_when_time_goes_backwards() {
        let text = b"{\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 1.0}\n\
                     {\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 1.0}\n\
                     {\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 0.5}\n\
                     {\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 7}\n";
        let trace = parse_trace("s.ndjson", text).expect("import");
        let lengths: Vec<usize> = trace.sessions.iter().map(Vec::len).collect();
        assert_eq!(lengths, [2, 2]);
        assert_eq!(trace.sessions[1][1].timestamp, 7.0);
    }

    #[test]
    fn line_layout_accepts_blank_lines_and_crlf() {
        let text = b"\r\n{\"op\": \"write\", \"address\": 4, \"value\": 9, \"width\": 2, \"timestamp\": 0.25}\r\n\
                     \n   \n{\"timestamp\": 0.5, \"value\": 1, \"address\": 8, \"op\": \"read\"}\r\n";
        let trace = parse_trace("run.log", text).expect("import");
        assert_eq!(
            all_events(&trace),
            [event(Op::Write, 4, 9, Some(2), 0.25), event(Op::Read, 8, 1, None, 0.5)]
        );
    }

    #[test]
    fn events_without_width_keep_none_and_export_without_it() {
        let text = "{\"op\": \"read\", \"address\": 16, \"value\": 3, \"timestamp\": 1e-06}\n\
                    {\"op\": \"write\", \"address\": 18446744073709551612, \"value\": 4294967296, \"timestamp\": 2e-06}\n";
        let trace = parse_trace("old.ndjson", text.as_bytes()).expect("import");
        let events = all_events(&trace);
        assert!(events.iter().all(|e| e.width.is_none()));
        assert_eq!(events[1].value, 1 << 32, "a value wider than the access is kept");
        assert_eq!(ndjson(&events), text.as_bytes());
    }

    #[test]
    fn array_errors_name_the_event_and_its_line() {
        let good = r#"{"op": "read", "address": 0, "value": 0, "width": 4, "timestamp": 0.0}"#;
        let text = format!("[\n  {good},\n  {{\n    \"op\": \"rd\"\n  }}\n]");
        let err = parse_trace("trace.json", text.as_bytes()).expect_err("bad op");
        assert_eq!(
            err.to_string(),
            r#"trace.json:3: event 2: field 'op': expected "read" or "write", got "rd""#
        );
        let err = parse_trace("trace.json", b"[\n  {},\n  {,}\n]").expect_err("syntax");
        assert_eq!(
            err.to_string(),
            "trace.json:3: not JSON: key must be a string at column 4"
        );
    }

    enum Expect {
        /// The import fails with a message containing this.
        Error(&'static str),
        /// The import succeeds with this many events and one warning containing this.
        Warning(&'static str, usize),
        /// The import succeeds with this many events and no warning.
        Events(usize),
    }

    const GOOD: &str = r#"{"op": "write", "address": 1073741824, "value": 66, "width": 4, "timestamp": 1.1e-05}"#;

    /// `GOOD` with the value of `key` replaced by `new`, or with `"key": new`
    /// appended when `GOOD` has no such key.
    fn with(key: &str, new: &str) -> String {
        let Some(at) = GOOD.find(&format!("\"{key}\": ")) else {
            return format!("{}, \"{key}\": {new}}}", &GOOD[..GOOD.len() - 1]);
        };
        let start = at + key.len() + 4;
        let end = start + GOOD[start..].find([',', '}']).expect("a value end");
        format!("{}{new}{}", &GOOD[..start], &GOOD[end..])
    }

    fn lines(lines: &[&str]) -> Vec<u8> {
        lines
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn bad_input_catalogue() {
        let torn = format!("{GOOD}\n{GOOD}\n{}", &GOOD[..40]);
        let long_line = format!("{GOOD}\n{{\"op\": \"{}\"}}\n", "x".repeat(2 << 20));
        let mut bad_utf8 = lines(&[GOOD]);
        bad_utf8.extend_from_slice(b"{\"op\": \"wr\xffite\"}\n");
        let mut torn_utf8 = lines(&[GOOD]);
        let accented = with("error", "\"caf\u{e9}\"");
        let cut = accented.find('\u{e9}').expect("an é") + 1;
        torn_utf8.extend_from_slice(&accented.as_bytes()[..cut]);
        let deep_open = "[".repeat(100_000);
        let deep_balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep_value = format!(r#"{{"op": {deep_balanced}}}"#);

        #[rustfmt::skip]
        let rows: Vec<(&str, Vec<u8>, Expect)> = vec![
            ("trace.ndjson", lines(&[&with("width", "0")]),
             Expect::Error("trace.ndjson:1: field 'width': 0 is not in 1..=8")),
            ("trace.ndjson", lines(&[GOOD, GOOD, &with("width", "9")]),
             Expect::Error("trace.ndjson:3: field 'width': 9 is not in 1..=8")),
            ("trace.ndjson", lines(&[&with("width", "256")]),
             Expect::Error("field 'width': 256 is not in 1..=8")),
            ("trace.ndjson", lines(&[&with("width", "4.0")]),
             Expect::Error("field 'width': expected an integer, got 4.0")),
            ("trace.ndjson", lines(&[&with("address", "-1")]),
             Expect::Error("field 'address': -1 is not in 0..=18446744073709551615")),
            ("trace.ndjson", lines(&[&with("address", "18446744073709551616")]),
             Expect::Error("field 'address': 18446744073709551616 is not in 0..=18446744073709551615")),
            ("trace.ndjson", lines(&[&with("address", "\"0x10\"")]),
             Expect::Error(r#"field 'address': expected an integer, got "0x10""#)),
            ("trace.ndjson", lines(&[&with("value", "1.5")]),
             Expect::Error("trace.ndjson:1: field 'value': expected an integer, got 1.5")),
            ("trace.ndjson", lines(&[&with("value", "1e3")]),
             Expect::Error("field 'value': expected an integer, got 1e3")),
            ("trace.ndjson", lines(&[&with("value", "true")]),
             Expect::Error("field 'value': expected an integer, got true")),
            ("trace.ndjson", lines(&[&with("value", "null")]),
             Expect::Error("field 'value': expected an integer, got null")),
            ("trace.ndjson", lines(&[GOOD, GOOD, GOOD, GOOD, &with("op", "\"rd\"")]),
             Expect::Error(r#"trace.ndjson:5: field 'op': expected "read" or "write", got "rd""#)),
            ("trace.ndjson", lines(&[&with("op", "[1]")]),
             Expect::Error(r#"field 'op': expected "read" or "write", got an array"#)),
            ("trace.ndjson", lines(&[&GOOD.replace(r#""op": "write", "#, "")]),
             Expect::Error("trace.ndjson:1: missing field 'op'")),
            ("trace.ndjson", lines(&[&GOOD.replace(r#", "timestamp": 1.1e-05"#, "")]),
             Expect::Error("missing field 'timestamp'")),
            ("trace.ndjson", lines(&[&with("timestamp", "NaN")]),
             Expect::Error("trace.ndjson:1: field 'timestamp': NaN is not a finite number")),
            ("trace.ndjson", lines(&[GOOD, &with("timestamp", "Infinity")]),
             Expect::Error("trace.ndjson:2: field 'timestamp': Infinity is not a finite number")),
            ("trace.ndjson", lines(&[&with("timestamp", "-Infinity")]),
             Expect::Error("trace.ndjson:1: field 'timestamp': -Infinity is not a finite number")),
            ("trace.json", format!("[\n{GOOD},\n{}\n]", with("timestamp", " NaN")).into_bytes(),
             Expect::Error("trace.json:3: field 'timestamp': NaN is not a finite number")),
            ("trace.ndjson", lines(&[&with("value", "NaN")]),
             Expect::Error("trace.ndjson:1: field 'value': NaN is not a finite number")),
            ("trace.ndjson", lines(&[&GOOD.replace("}", r#", "note": NaN}"#)]),
             Expect::Error("trace.ndjson:1: not JSON: expected value")),
            ("trace.ndjson", lines(&[&with("timestamp", "Nope")]),
             Expect::Error("trace.ndjson:1: not JSON: expected value")),
            ("trace.ndjson", lines(&[&with("timestamp", "\"1.0\"")]),
             Expect::Error(r#"field 'timestamp': expected a number, got "1.0""#)),
            ("trace.ndjson", lines(&[&with("timestamp", "1e999")]),
             Expect::Error("field 'timestamp': 1e999 is out of range for a double")),
            ("trace.ndjson", lines(&[&GOOD.replace(r#""width": 4"#, r#""width": 4, "op": "read""#)]),
             Expect::Error("trace.ndjson:1: duplicate field 'op'")),
            ("trace.ndjson", lines(&[&GOOD.replace(r#""width": 4"#, r#""size": 4"#)]),
             Expect::Error("trace.ndjson:1: unknown field 'size'")),
            ("trace.ndjson", lines(&[&with("error", "null")]),
             Expect::Error("field 'error': expected a string, got null")),
            ("trace.ndjson", lines(&[&with("error", r#""\ud800""#)]),
             Expect::Error("field 'error': not a valid string: ")),
            ("trace.ndjson", lines(&[&with("address", "18446744073709551615").replace(r#""width": 4"#, r#""width": 8"#)]),
             Expect::Error("field 'address': a 8-byte access at 0xffffffffffffffff ends past 0xffffffffffffffff")),
            ("trace.ndjson", lines(&[&with("address", "18446744073709551608").replace(r#""width": 4"#, r#""width": 8"#)]),
             Expect::Events(1)),
            ("trace.ndjson", lines(&[&with("address", "18446744073709551613").replace(r#", "width": 4"#, "")]),
             Expect::Error("a 4-byte access at 0xfffffffffffffffd ends past")),
            ("trace.ndjson", long_line.into_bytes(),
             Expect::Error("trace.ndjson:2: line longer than 1 MiB")),
            ("trace.ndjson", bad_utf8.clone(),
             Expect::Error("trace.ndjson:2: invalid UTF-8 at column 11")),
            ("trace.json", [b"[".as_slice(), &bad_utf8, b"]"].concat(),
             Expect::Error("trace.json:2: invalid UTF-8 at column 11")),
            ("trace.json", deep_open.clone().into_bytes(),
             Expect::Error("trace.json:1: not JSON: EOF while parsing")),
            ("trace.json", deep_balanced.into_bytes(),
             Expect::Error("trace.json:1: event 1: expected a JSON object, got an array")),
            ("trace.ndjson", deep_open.into_bytes(),
             Expect::Error("trace.ndjson:1: expected a JSON object, got an array")),
            ("trace.ndjson", deep_value.into_bytes(),
             Expect::Error(r#"field 'op': expected "read" or "write", got an array"#)),
            ("trace.ndjson", b"".to_vec(),
             Expect::Error("trace.ndjson: empty trace")),
            ("trace.json", b" \n\t\r\n ".to_vec(),
             Expect::Error("trace.json: empty trace")),
            ("trace.json", b"[]".to_vec(),
             Expect::Events(0)),
            ("run.log", b"hello world".to_vec(),
             Expect::Error("run.log:1: not JSON: expected value at column 1")),
            ("run.log", lines(&[GOOD, "42"]),
             Expect::Error("run.log:2: expected a JSON object, got a number")),
            ("run.log", lines(&[&format!("{GOOD} {{}}")]),
             Expect::Error("run.log:1: not JSON: trailing characters")),
            ("run.ndjson", torn.clone().into_bytes(),
             Expect::Warning("run.ndjson:3: dropped a torn last line (no final newline): not JSON: EOF while parsing", 2)),
            ("run.ndjson", format!("{torn}\n").into_bytes(),
             Expect::Error("run.ndjson:3: not JSON: EOF while parsing")),
            ("run.ndjson", torn_utf8,
             Expect::Warning("run.ndjson:2: dropped a torn last line", 1)),
            ("run.ndjson", GOOD.as_bytes()[..10].to_vec(),
             Expect::Warning("run.ndjson:1: dropped a torn last line", 0)),
            ("run.ndjson", format!("{GOOD}\n{}", with("op", "\"rd\"")).into_bytes(),
             Expect::Error(r#"run.ndjson:2: field 'op': expected "read" or "write", got "rd""#)),
            ("run.ndjson", format!("{GOOD}\n{GOOD}x").into_bytes(),
             Expect::Error("run.ndjson:2: not JSON: trailing characters")),
            ("old.ndjson", lines(&[&GOOD.replace(r#", "width": 4"#, "")]),
             Expect::Events(1)),
        ];

        let mut failures = Vec::new();
        for (index, (name, content, expect)) in rows.iter().enumerate() {
            let outcome = parse_trace(name, content);
            let ok = match (expect, &outcome) {
                (Expect::Error(want), Err(err)) => err.to_string().contains(want),
                (Expect::Warning(want, n), Ok(trace)) => {
                    trace.warnings.len() == 1 && trace.warnings[0].contains(want) && trace.events().count() == *n
                }
                (Expect::Events(n), Ok(trace)) => trace.warnings.is_empty() && trace.events().count() == *n,
                _ => false,
            };
            if !ok {
                let got = match &outcome {
                    Ok(trace) => format!("Ok: {} events, warnings {:?}", trace.events().count(), trace.warnings),
                    Err(err) => format!("Err: {err}"),
                };
                failures.push(format!(
                    "row {index} ({name}): {}",
                    got.chars().take(200).collect::<String>()
                ));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn errors_are_typed() {
        let err = parse_trace("t.ndjson", lines(&[&with("width", "9")]).as_slice()).expect_err("width 9");
        let TraceError::Malformed { at, problem } = err else {
            panic!("{err:?}")
        };
        assert_eq!((at.file.as_str(), at.line, at.event), ("t.ndjson", Some(1), None));
        assert_eq!(
            problem,
            Problem::BadField {
                field: "width",
                reason: "9 is not in 1..=8".into()
            }
        );
    }

    #[test]
    fn format_detection() {
        assert_eq!(TraceFormat::detect("a.NDJSON", b"[1]"), TraceFormat::Lines);
        assert_eq!(TraceFormat::detect("a.jsonl", b" [1]"), TraceFormat::Lines);
        assert_eq!(TraceFormat::detect("a.json", b"\n [1]"), TraceFormat::JsonArray);
        assert_eq!(TraceFormat::detect("run.log", b"[1]"), TraceFormat::JsonArray);
        assert_eq!(TraceFormat::detect("a.json", b"{}"), TraceFormat::Lines);
    }
}
