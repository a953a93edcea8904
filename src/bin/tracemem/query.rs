//! What several verbs share: the switches of `read` and `states`, resolving
//! `--snap`/`--time`, choosing captures, the `--regmap` file, and printing
//! events.

use std::path::Path;

use serde_json::json;
use tracemem::capture::in_family;
use tracemem::record::Op;
use tracemem::record::TraceEvent;
use tracemem::{CaptureInfo, Database, ReadTransaction, Snap};

use crate::args::At;
use crate::failure::{Failure, open_writer};

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
/// time, the snap of the last event at or before it on the clock of the
/// capture recording the space (`--capture`, needed when several do);
/// neither, the newest.
pub fn resolve_snap(read: &ReadTransaction, space: &str, at: &At) -> Result<Snap, Failure> {
    if let Some(snap) = at.snap {
        return Ok(snap);
    }
    let Some(time) = at.time else {
        return Ok(Snap::MAX);
    };
    let capture = capture_for_time(read, space, at.capture.as_deref())?;
    read.snap_at_time(&capture, time)
        .map_err(|e| Failure::error("--time", e))?
        .ok_or_else(|| Failure::NothingFound(format!("capture '{}' has no event at or before {time} s", capture.name)))
}

/// The capture whose clock a `--time` reads: as named (one session), or
/// the only one recording `space`; never a guess between several.
fn capture_for_time(read: &ReadTransaction, space: &str, name: Option<&str>) -> Result<CaptureInfo, Failure> {
    if let Some(name) = name {
        let capture = read.capture(name).map_err(|e| Failure::error("--capture", e))?;
        if capture.space != space {
            return Err(Failure::error(
                "--capture",
                format!("capture '{name}' records space '{}', not '{space}'", capture.space),
            ));
        }
        return Ok(capture);
    }
    let captures = read.captures().map_err(|e| Failure::error("--time", e))?;
    let of_space: Vec<&CaptureInfo> = captures.iter().filter(|c| c.space == space).collect();
    match of_space.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(Failure::error("--time", format!("no capture records space '{space}'"))),
        many => Err(Failure::error(
            "--time",
            format!(
                "several captures record space '{space}'; name one with --capture ({})",
                many.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// How many events a query reads from the event log at a time: bounded
/// memory whatever the capture's length.
pub const EVENT_PAGE: u64 = 4096;

/// Calls `visit` with each event of `capture` from `from` on, in order, a
/// page at a time; `visit` returns false to stop.
pub fn each_event(
    read: &ReadTransaction,
    capture: &CaptureInfo,
    from: u64,
    visit: &mut dyn FnMut(u64, i64, &TraceEvent) -> Result<bool, Failure>,
) -> Result<(), Failure> {
    let mut seq = from;
    while seq < capture.events {
        let page = read
            .events_with_snaps(&capture.name, seq..(seq + EVENT_PAGE).min(capture.events))
            .map_err(|e| Failure::error("events", e))?;
        if page.is_empty() {
            break;
        }
        for (snap, event) in &page {
            if !visit(seq, *snap, event)? {
                return Ok(());
            }
            seq += 1;
        }
    }
    Ok(())
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
        Database::builder()
            .shared(true)
            .create(path)
            .map_err(|e| Failure::error("creating the database", e))
    }
}

/// A register map: address -> register path.
pub type RegisterMap = std::collections::BTreeMap<u64, String>;

/// A register map file's JSON object of register paths; `what` names it.
fn regmap_object(
    path: &Path,
    what: &dyn Fn() -> String,
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::error(what(), e))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| Failure::error(what(), e))?;
    match doc {
        serde_json::Value::Object(object) => Ok(object),
        _ => Err(Failure::error(what(), "not a JSON object of register paths")),
    }
}

/// A number of a register map: a JSON number, or a string in hex or decimal.
fn regmap_number(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(text) => crate::args::parse_u64(text).ok(),
        _ => None,
    }
}

/// Reads a register map: a JSON object of register paths to objects with an
/// `address` (a number, or a string in hex or decimal); other keys ignored.
pub fn load_regmap(path: Option<&Path>) -> Result<RegisterMap, Failure> {
    let Some(path) = path else {
        return Ok(RegisterMap::new());
    };
    let what = || format!("--regmap {}", path.display());
    let mut map = RegisterMap::new();
    for (name, register) in regmap_object(path, &what)? {
        let address = register
            .get("address")
            .and_then(regmap_number)
            .ok_or_else(|| Failure::error(what(), format!("register '{name}': no address that fits 64 bits")))?;
        map.entry(address).or_insert(name);
    }
    Ok(map)
}

/// Reads a bus register map for `regmap set`: the shape `--regmap` reads,
/// each register's object with an `address` and, optionally, a `width` in
/// bytes (default 4), a `byte_order` (`little`, the default, or `big`) and
/// `fields`, an object of field names to `{"lsb": N, "msb": N}`. Checked
/// whole: an error names the file and the register.
pub fn read_bus_map(path: &Path) -> Result<tracemem::BusMap, Failure> {
    let what = || path.display().to_string();
    let object = regmap_object(path, &what)?;
    let mut registers = Vec::new();
    for (name, entry) in object {
        let bad = |why: String| Failure::error(what(), format!("register '{name}': {why}"));
        let address = entry
            .get("address")
            .and_then(regmap_number)
            .ok_or_else(|| bad("no address that fits 64 bits".into()))?;
        let width = match entry.get("width") {
            None => 4,
            Some(value) => regmap_number(value)
                .and_then(|w| u8::try_from(w).ok())
                .ok_or_else(|| bad(format!("width {value} is not a number of bytes")))?,
        };
        let big_endian = match entry.get("byte_order").and_then(|v| v.as_str()) {
            None | Some("little") => false,
            Some("big") => true,
            Some(other) => return Err(bad(format!("byte_order '{other}' is neither 'little' nor 'big'"))),
        };
        let mut register = tracemem::BusRegister::new(name.clone(), address, width);
        register.big_endian = big_endian;
        if let Some(fields) = entry.get("fields") {
            let fields = fields
                .as_object()
                .ok_or_else(|| bad("fields is not an object of field names".into()))?;
            for (field, bits) in fields {
                let bit = |key: &str| {
                    bits.get(key)
                        .and_then(regmap_number)
                        .and_then(|b| u8::try_from(b).ok())
                        .ok_or_else(|| bad(format!("field '{field}': no {key} bit number")))
                };
                register.fields.push(tracemem::BusField {
                    name: field.clone(),
                    lsb: bit("lsb")?,
                    msb: bit("msb")?,
                });
            }
        }
        registers.push(register);
    }
    tracemem::BusMap::new(registers).map_err(|e| Failure::error(what(), e))
}

/// The register names of the captures' spaces: from `regmap` when given,
/// else from the bus register maps stored for those spaces.
pub fn register_names<'a>(
    read: &ReadTransaction,
    spaces: impl IntoIterator<Item = &'a str>,
    regmap: Option<&Path>,
) -> Result<RegisterMap, Failure> {
    if regmap.is_some() {
        return load_regmap(regmap);
    }
    let mut names = RegisterMap::new();
    for space in spaces {
        let map = read
            .bus_map(space)
            .map_err(|e| Failure::error("the bus register map", e))?;
        for register in map.iter() {
            names.entry(register.address).or_insert_with(|| register.name.clone());
        }
    }
    Ok(names)
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

pub fn event_json(capture: &CaptureInfo, seq: u64, snap: i64, event: &TraceEvent) -> serde_json::Value {
    json!({
        "capture": capture.name, "seq": seq, "snap": snap, "op": event.op.as_str(),
        "address": event.address, "value": event.value, "width": event.width, "timestamp": event.timestamp,
        "error": event.error,
    })
}

/// Calls `visit` with each event of `capture` before `until` (a sequence
/// number), newest first, a page at a time; `visit` returns false to stop.
/// What `history --before N --limit K` reads: the pages just before N.
pub fn each_event_backward(
    read: &ReadTransaction,
    capture: &CaptureInfo,
    until: u64,
    visit: &mut dyn FnMut(u64, i64, &TraceEvent) -> Result<bool, Failure>,
) -> Result<(), Failure> {
    let mut end = until.min(capture.events);
    // Retention dropped the events before the capture's horizon.
    while end > capture.horizon {
        let start = end.saturating_sub(EVENT_PAGE).max(capture.horizon);
        let page = read
            .events_with_snaps(&capture.name, start..end)
            .map_err(|e| Failure::error("events", e))?;
        for (i, (snap, event)) in page.iter().enumerate().rev() {
            if !visit(start + i as u64, *snap, event)? {
                return Ok(());
            }
        }
        end = start;
    }
    Ok(())
}

/// Says on standard error, for each of `captures` whose first events
/// retention dropped, where reading starts: sequence numbers stay absolute.
pub fn note_retention<'a>(verb: &str, captures: impl IntoIterator<Item = &'a CaptureInfo>) {
    for c in captures {
        if c.horizon > 0 {
            eprintln!(
                "tracemem: {verb}: capture '{}': events before {} were dropped by retention; starting at event {}",
                c.name, c.horizon, c.horizon
            );
        }
    }
}

/// The captures a verb reads: `NAME` and its later sessions `NAME#k` for
/// `--capture NAME`, one session for `--capture NAME#k`, else every one.
pub fn chosen_captures(read: &ReadTransaction, capture: Option<&str>) -> Result<Vec<CaptureInfo>, Failure> {
    let all = read.captures().map_err(|e| Failure::error("captures", e))?;
    let chosen: Vec<CaptureInfo> = match capture {
        Some(name) => {
            let base = all.iter().any(|c| c.name == name);
            if !base {
                return Err(Failure::error("--capture", format!("unknown capture '{name}'")));
            }
            all.into_iter().filter(|c| in_family(&c.name, name)).collect()
        }
        None => all,
    };
    Ok(chosen)
}
