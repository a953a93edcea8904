//! The verbs that read and load memory: `read`, `states`, `changes` and
//! `load`.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracemem::{AddressRange, FilledRange, MemState, MemoryRead, MemoryView, Snap, SourcedStateRun};

use crate::args::At;
use crate::failure::{Failure, Outcome, begin_read, io, open};
use crate::output::{Cell, hexdump_line};

use crate::query::{Flags, open_or_create, resolve_snap};

pub fn read(path: &Path, space: &str, addr: u64, len: u64, at: At, flags: Flags, out: &mut impl Write) -> Outcome {
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

pub fn states(
    path: &Path,
    space: &str,
    addr: u64,
    len: u64,
    snap: Snap,
    flags: Flags,
    out: &mut impl Write,
) -> Outcome {
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

pub fn changes(path: &Path, space: &str, from: Snap, to: Snap, as_json: bool, out: &mut impl Write) -> Outcome {
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

pub fn load(path: &Path, space: &str, addr: u64, file: &Path, snap: Snap, out: &mut impl Write) -> Outcome {
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
