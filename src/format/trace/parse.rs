//! The strict importer of trace files: lines or one JSON array, every
//! problem reported with its file, line, event and field.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::vocab::trace::{DEFAULT_WIDTH, Location, MAX_LINE_BYTES, Op, Problem, TraceError, TraceEvent};

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

/// Longest excerpt of offending input quoted in an error message, in characters.
const EXCERPT_CHARS: usize = 40;

/// Imports the line layout: one event object per line.
pub(super) fn parse_lines(file: &str, text: &[u8]) -> Result<ParsedTrace, TraceError> {
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
pub(super) fn parse_array(file: &str, bytes: &[u8]) -> Result<ParsedTrace, TraceError> {
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

pub(super) fn is_json_whitespace(b: u8) -> bool {
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
