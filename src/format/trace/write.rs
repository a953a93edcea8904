//! The exporters' byte-exact writing: members in the seed's key order,
//! Python's float `repr` and `json.dumps`' string escapes.

use std::io::{self, Write};

use crate::format::pyfloat::PyFloat;
use crate::vocab::trace::TraceEvent;

/// Fails before anything is written when a timestamp cannot be written as JSON.
pub(super) fn check_timestamps(events: &[TraceEvent]) -> io::Result<()> {
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
pub(super) fn write_members(buf: &mut Vec<u8>, event: &TraceEvent, separator: &[u8]) -> io::Result<()> {
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
pub(super) fn write_json_string(buf: &mut Vec<u8>, s: &str) -> io::Result<()> {
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
