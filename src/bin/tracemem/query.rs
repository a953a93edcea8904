//! What several verbs share: the switches of `read` and `states`, resolving
//! `--snap`/`--time`, choosing captures, the `--regmap` file, and printing
//! events.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracemem::record::Op;
use tracemem::record::TraceEvent;
use tracemem::{CaptureInfo, Database, ReadTransaction, Snap};

use crate::args::At;
use crate::failure::{Failure, Outcome, io, open_writer};

/// The switches of `read` and `states`.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    /// `read --sources`, or `states --most-recent`.
    pub sources: bool,
    /// Through the fork chain (M10).
    pub view: bool,
    /// Print JSON.
    pub json: bool,
}

/// The snap a `--snap`/`--time` pair names for `space`: a snap as given; a
/// time, the snap of the last event at or before it in the first capture of
/// the space whose events reach it; neither, the newest.
pub fn resolve_snap(read: &ReadTransaction, space: &str, at: At) -> Result<Snap, Failure> {
    if let Some(snap) = at.snap {
        return Ok(snap);
    }
    let Some(time) = at.time else {
        return Ok(Snap::MAX);
    };
    let captures = read.captures().map_err(|e| Failure::error("--time", e))?;
    let mut best = None;
    for capture in captures.iter().filter(|c| c.space == space) {
        let events = read
            .events(&capture.name, 0..u64::MAX)
            .map_err(|e| Failure::error("--time", e))?;
        let count = events.partition_point(|e| e.timestamp <= time);
        if count > 0 {
            best = Some(capture.snap_of(count as u64 - 1));
            if count < events.len() {
                break;
            }
        }
    }
    best.ok_or_else(|| Failure::NothingFound(format!("no event of space '{space}' at or before {time} s")))
}

/// The capture a verb works on: as named, or the only first session.
pub fn pick_capture(read: &ReadTransaction, capture: Option<String>) -> Result<String, Failure> {
    if let Some(name) = capture {
        return Ok(name);
    }
    let names: Vec<String> = read
        .captures()
        .map_err(|e| Failure::error("captures", e))?
        .into_iter()
        .map(|c| c.name)
        .filter(|n| !n.contains('#'))
        .collect();
    match names.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(Failure::NothingFound("no captures".into())),
        many => Err(Failure::error("--capture", format!("name one of: {}", many.join(", ")))),
    }
}

pub fn open_or_create(path: &Path) -> Result<Database, Failure> {
    if path.exists() {
        open_writer(path)
    } else {
        Database::create(path).map_err(|e| Failure::error("creating the database", e))
    }
}

/// A register map: address -> register path.
pub type RegisterMap = std::collections::BTreeMap<u64, String>;

/// Reads a register map: a JSON object of register paths to objects with an
/// `address` (a number, or a string in hex or decimal); other keys ignored.
pub fn load_regmap(path: Option<&Path>) -> Result<RegisterMap, Failure> {
    let Some(path) = path else {
        return Ok(RegisterMap::new());
    };
    let what = || format!("--regmap {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| Failure::error(what(), e))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| Failure::error(what(), e))?;
    let object = doc
        .as_object()
        .ok_or_else(|| Failure::error(what(), "not a JSON object of register paths"))?;
    let mut map = RegisterMap::new();
    for (name, register) in object {
        let address = match register.get("address") {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(text)) => crate::args::parse_u64(text).ok(),
            _ => None,
        }
        .ok_or_else(|| Failure::error(what(), format!("register '{name}': no address that fits 64 bits")))?;
        map.entry(address).or_insert_with(|| name.clone());
    }
    Ok(map)
}

/// An event as the seed's trace prints it: `wr @0x40001000 0x00000042`, or
/// with a register map `wr uart.ctrl @0x40001000 0x00000042`.
pub fn event_line(event: &TraceEvent, names: &RegisterMap) -> String {
    let op = match event.op {
        Op::Read => "rd",
        Op::Write => "wr",
    };
    let digits = 2 * usize::from(event.width.unwrap_or(4));
    let name = names.get(&event.address).map(|n| format!("{n} ")).unwrap_or_default();
    let mut line = format!("{op} {name}@0x{:08x} 0x{:0digits$x}", event.address, event.value);
    if let Some(error) = &event.error {
        line.push_str(&format!(" FAILED: {error}"));
    }
    line
}

pub fn event_json(capture: &CaptureInfo, seq: u64, event: &TraceEvent) -> serde_json::Value {
    json!({
        "capture": capture.name, "seq": seq, "snap": capture.snap_of(seq), "op": event.op.as_str(),
        "address": event.address, "value": event.value, "width": event.width, "timestamp": event.timestamp,
        "error": event.error,
    })
}

/// One event of `log`: a JSON object, or the seed's trace line.
pub fn print_log_event(
    out: &mut impl Write,
    capture: &CaptureInfo,
    seq: u64,
    event: &TraceEvent,
    names: &RegisterMap,
    as_json: bool,
) -> Outcome {
    if as_json {
        writeln!(out, "{}", event_json(capture, seq, event)).map_err(io)
    } else {
        writeln!(out, "{}", event_line(event, names)).map_err(io)
    }
}

pub fn chosen_captures(read: &ReadTransaction, capture: Option<&str>) -> Result<Vec<CaptureInfo>, Failure> {
    let all = read.captures().map_err(|e| Failure::error("captures", e))?;
    let chosen: Vec<CaptureInfo> = match capture {
        Some(name) => {
            let base = all.iter().any(|c| c.name == name);
            if !base {
                return Err(Failure::error("--capture", format!("unknown capture '{name}'")));
            }
            all.into_iter()
                .filter(|c| c.name == name || c.name.strip_prefix(name).is_some_and(|rest| rest.starts_with('#')))
                .collect()
        }
        None => all,
    };
    Ok(chosen)
}
