//! The verbs that read and load memory: `read`, `states`, `changes` and
//! `load`.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracemem::{AddressRange, FilledRange, MemState, MemoryRead, MemoryView, Snap, SourcedStateRun};

use crate::args::At;
use crate::failure::{Failure, Outcome, begin_read, io, open};
use crate::output::{Cell, hexdump_line, print_json_array, range_text, word_line};

use crate::query::{Flags, open_or_create, resolve_snap};

/// How `read` lays out its lines: words of `word` bytes in a byte order.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Bytes per word (1: a plain hexdump).
    pub word: usize,
    /// Little-endian words.
    pub little: bool,
}

pub fn read(
    path: &Path,
    space: &str,
    addr: u64,
    len: u64,
    at: &At,
    flags: Flags,
    layout: Layout,
    out: &mut impl Write,
) -> Outcome {
    let Flags {
        sources,
        view,
        json: as_json,
    } = flags;
    let range = AddressRange::from_start_len(addr, len).map_err(|e| Failure::error("read", e))?;
    let db = open(path)?;
    let txn = begin_read(&db)?;
    let snap = resolve_snap(&txn, space, at)?;
    let newest = at.snap.is_none() && at.time.is_none();
    let shown_snap = if newest {
        "the newest snap".to_string()
    } else {
        format!("snap {snap}")
    };
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
            "nothing recorded in {} of '{space}' at {shown_snap}",
            range_text(range.min(), range.max())
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
        // The newest snap is `null`: no placeholder number.
        let doc = json!({
            "space": space, "snap": (!newest).then_some(snap), "address": addr, "length": len,
            "bytes": cells.iter().map(|c| match c { Cell::Known(b) => json!(b), Cell::Unknown => json!(null), Cell::Error => json!("error") }).collect::<Vec<_>>(),
            "sources": filled.iter().map(|r| json!({"first": r.range.min(), "last": r.range.max(), "snap": r.snap})).collect::<Vec<_>>(),
        });
        writeln!(out, "{doc}").map_err(io)?;
        return Ok(());
    }
    // As `xxd -a`: a run of lines never observed shows as one `*`.
    let mut skipping = false;
    for (line, chunk) in cells.chunks(16).enumerate() {
        let unobserved = chunk.iter().all(|c| *c == Cell::Unknown);
        let first_or_last = line == 0 || (line + 1) * 16 >= cells.len();
        if unobserved && !first_or_last {
            if !skipping {
                writeln!(out, "*").map_err(io)?;
                skipping = true;
            }
            continue;
        }
        skipping = false;
        let at = addr + 16 * line as u64;
        let text = if layout.word > 1 {
            word_line(at, chunk, layout.word, layout.little)
        } else {
            hexdump_line(at, chunk)
        };
        writeln!(out, "{text}").map_err(io)?;
    }
    if sources {
        for run in &filled {
            writeln!(
                out,
                "{} from snap {}",
                range_text(run.range.min(), run.range.max()),
                run.snap
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

pub fn states(path: &Path, space: &str, addr: u64, len: u64, at: &At, flags: Flags, out: &mut impl Write) -> Outcome {
    let Flags {
        sources: most_recent,
        view,
        json: as_json,
    } = flags;
    let range = AddressRange::from_start_len(addr, len).map_err(|e| Failure::error("states", e))?;
    if at.snap.is_none() && at.time.is_none() {
        return Err(Failure::error("states", "give the snap: --snap N or --time T"));
    }
    let db = open(path)?;
    let txn = begin_read(&db)?;
    let snap = resolve_snap(&txn, space, at)?;
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
    if as_json {
        let docs: Vec<_> = runs
            .iter()
            .map(|(range, state, source)| json!({"first": range.min(), "last": range.max(), "state": state.to_string(), "snap": source.unwrap_or(snap)}))
            .collect();
        print_json_array(out, &docs).map_err(io)?;
    } else {
        for (range, state, source) in &runs {
            let from = source.map(|s| format!(" (snap {s})")).unwrap_or_default();
            writeln!(out, "{} {state}{from}", range_text(range.min(), range.max())).map_err(io)?;
        }
    }
    if runs.is_empty() {
        return Err(Failure::NothingFound(format!(
            "nothing recorded in {} at snap {snap}",
            range_text(range.min(), range.max())
        )));
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
    if as_json {
        let docs: Vec<_> = set.iter().map(|r| json!({"first": r.min(), "last": r.max()})).collect();
        print_json_array(out, &docs).map_err(io)?;
    } else {
        for range in set.iter() {
            writeln!(out, "{}", range_text(range.min(), range.max())).map_err(io)?;
        }
    }
    if set.is_empty() {
        return Err(Failure::NothingFound(format!(
            "no changes in '{space}' after snap {from} up to {to}"
        )));
    }
    Ok(())
}

pub fn load(path: &Path, space: &str, addr: u64, file: &Path, snap: Snap, out: &mut impl Write) -> Outcome {
    // `-`: the image comes from standard input.
    let image = if file == Path::new("-") {
        let mut image = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut image)
            .map_err(|e| Failure::error("standard input", e))?;
        image
    } else {
        std::fs::read(file).map_err(|e| Failure::error(file.display().to_string(), e))?
    };
    crate::failure::refuse_while_recording(path, "load")?;
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
