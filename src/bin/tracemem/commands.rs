//! One function per verb: open the database, call the library, print.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracemem::record::TraceEvent;
use tracemem::record::{
    ExportFormat, Op, ReplayError, ReplayMaster, ReplayMode, export_trace, import_trace_with_progress, parse_trace,
};
use tracemem::{
    AddressRange, CaptureInfo, Database, FilledRange, Lifespan, MemState, MemoryRead, MemoryView, ReadTransaction,
    Snap, SourcedStateRun,
};

use crate::args::{At, Command, HistoryArgs};
use crate::failure::{Failure, begin_read, io, open};
use crate::output::{Cell, hexdump_line, json_string, progress_bar};

type Outcome = Result<(), Failure>;

/// Runs one verb, printing to `out`.
pub fn run(command: Command, out: &mut impl Write) -> Outcome {
    match command {
        Command::Demo { db, events, quiet } => crate::recording::demo(db, events, quiet, out),
        Command::Gen {
            out: path,
            events,
            seed,
            json,
        } => crate::recording::gen_trace(&path, events, seed, json, out),
        Command::Soak {
            db,
            events,
            flush,
            ack,
            capture,
            cache_mb,
            quiet,
        } => crate::recording::soak(&db, events, &flush, ack, capture, cache_mb, quiet, out),
        Command::Record {
            db,
            capture,
            flush,
            ack,
        } => crate::recording::record(&db, capture, &flush, ack, out),
        Command::Info { db, json } => info(&db, json, out),
        Command::Find(args) => crate::search::find(&args, out),
        Command::Diff {
            db,
            space,
            a,
            b,
            range,
            json,
        } => crate::search::diff(&db, &space, a, b, range, json, out),
        Command::Pack { db, json, quiet } => crate::search::pack(&db, json, quiet, out),
        Command::Spaces { db, json } => spaces(&db, json, out),
        Command::Captures { db, json } => captures(&db, json, out),
        Command::Snaps { db, json } => snaps(&db, json, out),
        Command::Read {
            db,
            space,
            addr,
            len,
            at,
            sources,
            view,
            json,
        } => read(&db, &space, addr, len, at, Flags { sources, view, json }, out),
        Command::States {
            db,
            space,
            addr,
            len,
            snap,
            most_recent,
            view,
            json,
        } => states(
            &db,
            &space,
            addr,
            len,
            snap,
            Flags {
                sources: most_recent,
                view,
                json,
            },
            out,
        ),
        Command::Regs {
            db,
            thread,
            frame,
            snap,
            json,
        } => crate::registers::regs(&db, &thread, frame, snap.unwrap_or(Snap::MAX), json, out),
        Command::Regions { db, snap, space, json } => crate::registers::regions(&db, snap, space.as_deref(), json, out),
        Command::Import {
            file,
            db,
            capture,
            space,
            quiet,
        } => import(&file, &db, capture, &space, quiet, out),
        Command::Export {
            db,
            capture,
            output,
            json,
            quiet,
        } => export(&db, capture, output.as_deref(), json, quiet, out),
        Command::Load {
            db,
            space,
            addr,
            file,
            snap,
        } => load(&db, &space, addr, &file, snap, out),
        Command::Changes {
            db,
            space,
            from,
            to,
            json,
        } => changes(&db, &space, from, to, json, out),
        Command::Log {
            db,
            capture,
            regmap,
            follow: false,
            json,
        } => log(&db, capture, regmap.as_deref(), json, out),
        Command::Log {
            db,
            capture,
            regmap,
            follow: true,
            json,
        } => follow(&db, capture, regmap.as_deref(), json, out),
        Command::History(args) => history(&args, out),
        Command::Check { db } => check(&db, out),
        Command::ReplayCheck {
            db,
            capture,
            file,
            loose,
        } => replay_check(&db, &capture, &file, loose, out),
    }
}

/// The switches of `read` and `states`.
#[derive(Clone, Copy, Debug)]
struct Flags {
    /// `read --sources`, or `states --most-recent`.
    sources: bool,
    /// Through the fork chain (M10).
    view: bool,
    /// Print JSON.
    json: bool,
}

fn info(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let read = begin_read(&db)?;
    let spaces = read.spaces().map_err(|e| Failure::error("info", e))?;
    let captures = read.captures().map_err(|e| Failure::error("info", e))?;
    let events: u64 = captures.iter().map(|c| c.events).sum();
    let snaps = read
        .snaps_with_meta(Lifespan::new(Snap::MIN, Snap::MAX).map_err(|e| Failure::error("info", e))?)
        .map_err(|e| Failure::error("info", e))?
        .len();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let per_event = (events > 0).then(|| size as f64 / events as f64);
    let tables = db.table_usage().map_err(|e| Failure::error("info", e))?;
    if as_json {
        let doc = json!({
            "path": path.display().to_string(),
            "format_version": tracemem::FORMAT_VERSION,
            "block_size": db.block_size(),
            "spaces": spaces,
            "captures": captures.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            "events": events,
            "snaps_with_metadata": snaps,
            "bytes": size,
            "bytes_per_event": per_event,
            "tables": tables.iter().map(|t| json!({
                "name": t.name,
                "entries": t.entries,
                "stored_bytes": t.stored_bytes,
                "overhead_bytes": t.overhead_bytes,
                "pages": t.pages,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}").map_err(io)?;
        return Ok(());
    }
    writeln!(out, "database      {}", path.display()).map_err(io)?;
    writeln!(out, "format        {}", tracemem::FORMAT_VERSION).map_err(io)?;
    writeln!(out, "block size    {}", db.block_size()).map_err(io)?;
    writeln!(out, "spaces        {} ({})", spaces.len(), spaces.join(", ")).map_err(io)?;
    writeln!(out, "captures      {}", captures.len()).map_err(io)?;
    writeln!(out, "events        {events}").map_err(io)?;
    writeln!(out, "snaps w/ meta {snaps}").map_err(io)?;
    writeln!(out, "size          {size} bytes").map_err(io)?;
    if let Some(per_event) = per_event {
        writeln!(out, "bytes/event   {per_event:.1}").map_err(io)?;
    }
    writeln!(out, "tables        entries  stored bytes  overhead bytes  pages").map_err(io)?;
    for t in tables.iter().filter(|t| t.entries > 0) {
        writeln!(
            out,
            "  {:<14} {:>9} {:>13} {:>15} {:>6}",
            t.name, t.entries, t.stored_bytes, t.overhead_bytes, t.pages
        )
        .map_err(io)?;
    }
    Ok(())
}

fn spaces(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let names = begin_read(&db)?.spaces().map_err(|e| Failure::error("spaces", e))?;
    if names.is_empty() {
        return Err(Failure::NothingFound("no spaces".into()));
    }
    if as_json {
        writeln!(out, "{}", json!(names)).map_err(io)?;
    } else {
        for name in names {
            writeln!(out, "{name}").map_err(io)?;
        }
    }
    Ok(())
}

fn captures(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let captures = begin_read(&db)?.captures().map_err(|e| Failure::error("captures", e))?;
    if captures.is_empty() {
        return Err(Failure::NothingFound("no captures".into()));
    }
    for c in &captures {
        if as_json {
            let doc = json!({
                "name": c.name, "space": c.space, "first_snap": c.first_snap, "events": c.events,
                "policy": c.policy.to_string(), "big_endian": c.big_endian, "start_wall_ns": c.start_wall_ns,
            });
            writeln!(out, "{doc}").map_err(io)?;
        } else {
            writeln!(
                out,
                "{}\tspace {}\tsnaps {}..={}\t{} events\tflush {}\t{}",
                c.name,
                c.space,
                c.first_snap,
                c.first_snap + c.events as i64 - 1,
                c.events,
                c.policy,
                if c.big_endian { "big-endian" } else { "little-endian" }
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

fn snaps(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let all = Lifespan::new(Snap::MIN, Snap::MAX).map_err(|e| Failure::error("snaps", e))?;
    let snaps = begin_read(&db)?
        .snaps_with_meta(all)
        .map_err(|e| Failure::error("snaps", e))?;
    if snaps.is_empty() {
        return Err(Failure::NothingFound("no snaps carry metadata".into()));
    }
    for (snap, meta) in snaps {
        if as_json {
            let doc = json!({"snap": snap, "description": meta.description, "timestamp_ns": meta.timestamp_ns, "fork_of": meta.fork_of});
            writeln!(out, "{doc}").map_err(io)?;
        } else {
            let fork = meta.fork_of.map(|p| format!("\t(fork of {p})")).unwrap_or_default();
            writeln!(out, "{snap}\t{}{fork}", meta.description).map_err(io)?;
        }
    }
    Ok(())
}

/// The snap a `--snap`/`--time` pair names for `space`: a snap as given; a
/// time, the snap of the last event at or before it in the first capture of
/// the space whose events reach it; neither, the newest.
fn resolve_snap(read: &ReadTransaction, space: &str, at: At) -> Result<Snap, Failure> {
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

fn read(path: &Path, space: &str, addr: u64, len: u64, at: At, flags: Flags, out: &mut impl Write) -> Outcome {
    let Flags {
        sources,
        view,
        json: as_json,
    } = flags;
    let range = AddressRange::from_start_len(addr, len).map_err(|e| Failure::error("read", e))?;
    let db = open(path)?;
    let txn = begin_read(&db)?;
    let snap = resolve_snap(&txn, space, at)?;
    let mem = txn.space(space).map_err(|e| Failure::error("read", e))?;
    let size = usize::try_from(len).map_err(|_| Failure::error("read", "the length does not fit in memory"))?;
    let mut bytes = vec![0u8; size];
    let (filled, states): (Vec<FilledRange>, Vec<SourcedStateRun>) = if view {
        (
            mem.view_bytes_with_sources(snap, addr, &mut bytes)
                .map_err(|e| Failure::error("read", e))?,
            mem.view_most_recent_states(snap, range)
                .map_err(|e| Failure::error("read", e))?,
        )
    } else {
        (
            mem.get_bytes_with_sources(snap, addr, &mut bytes)
                .map_err(|e| Failure::error("read", e))?,
            mem.most_recent_states(snap, range)
                .map_err(|e| Failure::error("read", e))?,
        )
    };
    if filled.is_empty() && states.is_empty() {
        return Err(Failure::NothingFound(format!(
            "nothing recorded in {range} of '{space}' at snap {snap}"
        )));
    }
    let mut cells = vec![Cell::Unknown; size];
    for run in &filled {
        for a in run.range.min()..=run.range.max() {
            let i = (a - addr) as usize;
            cells[i] = Cell::Known(bytes[i]);
        }
    }
    for run in states.iter().filter(|r| r.state == MemState::Error) {
        for a in run.range.min()..=run.range.max() {
            cells[(a - addr) as usize] = Cell::Error;
        }
    }
    if as_json {
        let doc = json!({
            "space": space, "snap": snap, "address": addr, "length": len,
            "bytes": cells.iter().map(|c| match c { Cell::Known(b) => json!(b), Cell::Unknown => json!(null), Cell::Error => json!("error") }).collect::<Vec<_>>(),
            "sources": filled.iter().map(|r| json!({"first": r.range.min(), "last": r.range.max(), "snap": r.snap})).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}").map_err(io)?;
        return Ok(());
    }
    for (line, chunk) in cells.chunks(16).enumerate() {
        writeln!(out, "{}", hexdump_line(addr + 16 * line as u64, chunk)).map_err(io)?;
    }
    if sources {
        for run in &filled {
            writeln!(
                out,
                "{:#x}..={:#x} from snap {}",
                run.range.min(),
                run.range.max(),
                run.snap
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

fn states(path: &Path, space: &str, addr: u64, len: u64, snap: Snap, flags: Flags, out: &mut impl Write) -> Outcome {
    let Flags {
        sources: most_recent,
        view,
        json: as_json,
    } = flags;
    let range = AddressRange::from_start_len(addr, len).map_err(|e| Failure::error("states", e))?;
    let db = open(path)?;
    let txn = begin_read(&db)?;
    let mem = txn.space(space).map_err(|e| Failure::error("states", e))?;
    let sourced = |runs: Vec<SourcedStateRun>| -> Vec<(AddressRange, MemState, Option<Snap>)> {
        runs.into_iter().map(|r| (r.range, r.state, Some(r.snap))).collect()
    };
    let runs: Vec<(AddressRange, MemState, Option<Snap>)> = if view && most_recent {
        sourced(
            mem.view_most_recent_states(snap, range)
                .map_err(|e| Failure::error("states", e))?,
        )
    } else if view {
        sourced(mem.view_states(snap, range).map_err(|e| Failure::error("states", e))?)
    } else if most_recent {
        sourced(
            mem.most_recent_states(snap, range)
                .map_err(|e| Failure::error("states", e))?,
        )
    } else {
        mem.states(snap, range)
            .map_err(|e| Failure::error("states", e))?
            .into_iter()
            .map(|r| (r.range, r.state, None))
            .collect()
    };
    if runs.is_empty() {
        return Err(Failure::NothingFound(format!(
            "nothing recorded in {range} at snap {snap}"
        )));
    }
    for (range, state, source) in runs {
        if as_json {
            let doc = json!({"first": range.min(), "last": range.max(), "state": state.to_string(), "snap": source.unwrap_or(snap)});
            writeln!(out, "{doc}").map_err(io)?;
        } else {
            let from = source.map(|s| format!(" (snap {s})")).unwrap_or_default();
            writeln!(out, "{:#x}..={:#x} {state}{from}", range.min(), range.max()).map_err(io)?;
        }
    }
    Ok(())
}

fn import(
    file: &Path,
    path: &Path,
    capture: Option<String>,
    space: &str,
    quiet: bool,
    out: &mut impl Write,
) -> Outcome {
    let name = match capture {
        Some(name) => name,
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| Failure::error("import", format!("{}: name the capture with --capture", file.display())))?,
    };
    let db = if path.exists() {
        open(path)?
    } else {
        Database::create(path).map_err(|e| Failure::error("creating the database", e))?
    };
    let bar = progress_bar("{bar:40} {pos}/{len} events stored, {per_sec}", quiet);
    let report = import_trace_with_progress(&db, file, &name, space, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .map_err(|e| Failure::error("import", e))?;
    bar.finish_and_clear();
    for warning in &report.warnings {
        eprintln!("tracemem: warning: {warning}");
    }
    writeln!(
        out,
        "imported {} events into {}",
        report.events,
        report.captures.join(", ")
    )
    .map_err(io)?;
    Ok(())
}

/// The capture a verb works on: as named, or the only first session.
fn pick_capture(read: &ReadTransaction, capture: Option<String>) -> Result<String, Failure> {
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

fn export(
    path: &Path,
    capture: Option<String>,
    output: Option<&Path>,
    array: bool,
    quiet: bool,
    out: &mut impl Write,
) -> Outcome {
    let db = open(path)?;
    let read = begin_read(&db)?;
    let name = pick_capture(&read, capture)?;
    let format = if array {
        ExportFormat::JsonArray
    } else {
        ExportFormat::Ndjson
    };
    let bar = progress_bar("{spinner} {bytes} written, {bytes_per_sec}", quiet);
    match output {
        Some(file) => {
            let file_out = std::fs::File::create(file).map_err(|e| Failure::error(file.display().to_string(), e))?;
            let mut writer = std::io::BufWriter::new(bar.wrap_write(file_out));
            export_trace(&read, &name, format, &mut writer).map_err(|e| Failure::error("export", e))?;
            writer
                .flush()
                .map_err(|e| Failure::error(file.display().to_string(), e))?;
        }
        None => {
            export_trace(&read, &name, format, &mut bar.wrap_write(out)).map_err(|e| Failure::error("export", e))?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

fn replay_check(path: &Path, capture: &str, file: &Path, loose: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let read = begin_read(&db)?;
    let mode = if loose { ReplayMode::Loose } else { ReplayMode::Strict };
    let mut replay = ReplayMaster::from_capture(&read, capture, mode).map_err(|e| Failure::error("replay-check", e))?;
    let text = std::fs::read(file).map_err(|e| Failure::error(file.display().to_string(), e))?;
    let shown = file
        .file_name()
        .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let run = parse_trace(&shown, &text).map_err(|e| Failure::error("replay-check", e))?;
    let mut checked = 0u64;
    for event in run.sessions.iter().flatten() {
        let width = event.width.unwrap_or(4);
        let result = match event.op {
            Op::Read => replay.replay_read(event.address, width).map(|_| ()),
            Op::Write => replay.replay_write(event.address, event.value, width),
        };
        match result {
            Ok(()) | Err(ReplayError::Recorded(_)) => checked += 1,
            Err(e) => {
                writeln!(out, "event {checked}: {e}").map_err(io)?;
                return Err(Failure::Mismatch);
            }
        }
    }
    writeln!(
        out,
        "{checked} events replayed against {} without a mismatch",
        json_string(capture)
    )
    .map_err(io)?;
    Ok(())
}

fn open_or_create(path: &Path) -> Result<Database, Failure> {
    if path.exists() {
        open(path)
    } else {
        Database::create(path).map_err(|e| Failure::error("creating the database", e))
    }
}

fn load(path: &Path, space: &str, addr: u64, file: &Path, snap: Snap, out: &mut impl Write) -> Outcome {
    let image = std::fs::read(file).map_err(|e| Failure::error(file.display().to_string(), e))?;
    let db = open_or_create(path)?;
    let mut txn = db.begin_write().map_err(|e| Failure::error("load", e))?;
    let written = txn
        .create_space(space)
        .and_then(|mut s| s.put_bytes(snap, addr, &image))
        .map_err(|e| Failure::error("load", e))?;
    txn.commit().map_err(|e| Failure::error("load", e))?;
    writeln!(out, "loaded {written} bytes into '{space}' at {addr:#x}, snap {snap}").map_err(io)?;
    Ok(())
}

fn changes(path: &Path, space: &str, from: Snap, to: Snap, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let txn = begin_read(&db)?;
    let set = txn
        .space(space)
        .and_then(|s| s.changes(from, to))
        .map_err(|e| Failure::error("changes", e))?;
    if set.is_empty() {
        return Err(Failure::NothingFound(format!(
            "no changes in '{space}' after snap {from} up to {to}"
        )));
    }
    for range in set.iter() {
        if as_json {
            writeln!(out, "{}", json!({"first": range.min(), "last": range.max()})).map_err(io)?;
        } else {
            writeln!(out, "{:#x}..={:#x}", range.min(), range.max()).map_err(io)?;
        }
    }
    Ok(())
}

/// A register map: address -> register path.
type RegisterMap = std::collections::BTreeMap<u64, String>;

/// Reads a register map: a JSON object of register paths to objects with an
/// `address` (a number, or a string in hex or decimal); other keys ignored.
fn load_regmap(path: Option<&Path>) -> Result<RegisterMap, Failure> {
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
fn event_line(event: &TraceEvent, names: &RegisterMap) -> String {
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

fn event_json(capture: &CaptureInfo, seq: u64, event: &TraceEvent) -> serde_json::Value {
    json!({
        "capture": capture.name, "seq": seq, "snap": capture.snap_of(seq), "op": event.op.as_str(),
        "address": event.address, "value": event.value, "width": event.width, "timestamp": event.timestamp,
        "error": event.error,
    })
}

/// One event of `log`: a JSON object, or the seed's trace line.
fn print_log_event(
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

fn chosen_captures(read: &ReadTransaction, capture: Option<&str>) -> Result<Vec<CaptureInfo>, Failure> {
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

fn log(path: &Path, capture: Option<String>, regmap: Option<&Path>, as_json: bool, out: &mut impl Write) -> Outcome {
    let names = load_regmap(regmap)?;
    let db = open(path)?;
    let read = begin_read(&db)?;
    let captures = chosen_captures(&read, capture.as_deref())?;
    let mut printed = 0u64;
    for capture in &captures {
        let events = read
            .events(&capture.name, 0..u64::MAX)
            .map_err(|e| Failure::error("log", e))?;
        let marks = read
            .snaps_with_meta(
                Lifespan::new(capture.first_snap, capture.snap_of(capture.events.max(1) - 1))
                    .map_err(|e| Failure::error("log", e))?,
            )
            .map_err(|e| Failure::error("log", e))?;
        let mut marks = marks.into_iter().peekable();
        for (seq, event) in events.iter().enumerate() {
            let snap = capture.snap_of(seq as u64);
            while let Some((mark_snap, meta)) = marks.peek() {
                if *mark_snap > snap {
                    break;
                }
                if !as_json && !meta.description.is_empty() {
                    writeln!(out, "# {}", meta.description).map_err(io)?;
                }
                marks.next();
            }
            print_log_event(out, capture, seq as u64, event, &names, as_json)?;
            printed += 1;
        }
    }
    if printed == 0 {
        return Err(Failure::NothingFound("no events".into()));
    }
    Ok(())
}

fn history(args: &HistoryArgs, out: &mut impl Write) -> Outcome {
    let names = load_regmap(args.regmap.as_deref())?;
    let address = match crate::args::parse_u64(&args.addr) {
        Ok(address) => address,
        Err(not_a_number) => names
            .iter()
            .find(|(_, name)| **name == args.addr)
            .map(|(address, _)| *address)
            .ok_or_else(|| Failure::error("history", format!("{not_a_number}, nor a register of --regmap")))?,
    };
    let db = open(&args.db)?;
    let read = begin_read(&db)?;
    let mut found: Vec<(CaptureInfo, u64, TraceEvent)> = Vec::new();
    for capture in chosen_captures(&read, args.capture.as_deref())? {
        let events = read
            .events(&capture.name, 0..u64::MAX)
            .map_err(|e| Failure::error("history", e))?;
        for (seq, event) in events.into_iter().enumerate() {
            let snap = capture.snap_of(seq as u64);
            let keep = event.address == address
                && args.op.as_deref().is_none_or(|op| op == event.op.as_str())
                && args.from.is_none_or(|s| snap >= s)
                && args.to.is_none_or(|s| snap <= s)
                && args.from_time.is_none_or(|t| event.timestamp >= t)
                && args.to_time.is_none_or(|t| event.timestamp <= t)
                && args.before.is_none_or(|s| snap < s)
                && args.after.is_none_or(|s| snap > s);
            if keep {
                found.push((capture.clone(), seq as u64, event));
            }
        }
    }
    if args.before.is_some() {
        found.reverse();
    }
    found.truncate(args.limit.unwrap_or(usize::MAX));
    if found.is_empty() {
        return Err(Failure::NothingFound(format!("no events at {address:#x}")));
    }
    for (capture, seq, event) in &found {
        if args.json {
            writeln!(out, "{}", event_json(capture, *seq, event)).map_err(io)?;
        } else {
            let snap = capture.snap_of(*seq);
            writeln!(
                out,
                "snap {snap}\t{}\t{:.6} s\t{}",
                capture.name,
                event.timestamp,
                event_line(event, &names)
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

fn check(path: &Path, out: &mut impl Write) -> Outcome {
    let db = tracemem::DatabaseBuilder::default()
        .verify_on_open(true)
        .open(path)
        .map_err(|e| Failure::error("check", e))?;
    let report = db.check().map_err(|e| Failure::error("check", e))?;
    for problem in &report.problems {
        writeln!(out, "problem: {problem}").map_err(io)?;
    }
    writeln!(
        out,
        "checked {} history chunks, {} change buckets, {} events: {}",
        report.chunks,
        report.change_buckets,
        report.events,
        if report.problems.is_empty() {
            "ok".to_string()
        } else {
            format!("{} problems", report.problems.len())
        }
    )
    .map_err(io)?;
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Mismatch)
    }
}

/// `log --follow`: prints each capture's events as they are committed,
/// reading the database read-only beside its recorder (R5), until no
/// recorder runs (its journal is gone) and nothing new arrived.
fn follow(path: &Path, capture: Option<String>, regmap: Option<&Path>, as_json: bool, out: &mut impl Write) -> Outcome {
    let names = load_regmap(regmap)?;
    let journal = tracemem::record::journal_path(path);
    if !path.exists() && !journal.exists() {
        return Err(Failure::error(
            "log --follow",
            format!("{}: no such database, and no recorder writing it", path.display()),
        ));
    }
    let mut printed: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    loop {
        let recording = journal.exists();
        let mut new_events = 0u64;
        if path.exists() {
            let db = Database::builder()
                .open_read_only(path)
                .map_err(|e| Failure::error("opening the database", e))?;
            let read = begin_read(&db)?;
            let captures = match capture.as_deref() {
                Some(name) => match chosen_captures(&read, Some(name)) {
                    Ok(found) => found,
                    // The capture may not have been created yet.
                    Err(_) if recording => Vec::new(),
                    Err(e) => return Err(e),
                },
                None => read.captures().map_err(|e| Failure::error("log", e))?,
            };
            for capture in &captures {
                let from = printed.get(&capture.name).copied().unwrap_or(0);
                let events = read
                    .events(&capture.name, from..u64::MAX)
                    .map_err(|e| Failure::error("log", e))?;
                for (i, event) in events.iter().enumerate() {
                    print_log_event(out, capture, from + i as u64, event, &names, as_json)?;
                }
                new_events += events.len() as u64;
                printed.insert(capture.name.clone(), from + events.len() as u64);
            }
            out.flush().map_err(io)?;
        }
        if !recording && new_events == 0 && path.exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
