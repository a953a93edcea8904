//! The verbs that search and compare memory and compact the file: `find`
//! (M8), `diff` (M9), `pack` (M14) and `index` (the chunk index), with
//! progress bars on standard error for the long ones (shown only on a
//! terminal).

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracemem::{AddressRange, Direction, MemoryRead, PackPhase, Snap};

use crate::args::FindArgs;
use crate::failure::{Failure, Outcome, begin_read, io, open, open_writer, refuse_while_recording};
use crate::output::{print_json_array, progress_bar, range_text};
use crate::query::resolve_snap;

/// A pattern in hex, bytes separated by spaces or not, `??` for a byte
/// that matches anything: its bytes, and a mask if it has wildcards.
pub fn parse_pattern(text: &str) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let bad = || format!("'{text}' is not a hex byte pattern (two hex digits or ?? per byte)");
    let (mut bytes, mut mask) = (Vec::new(), Vec::new());
    for token in text.split_whitespace() {
        let token = token.strip_prefix("0x").unwrap_or(token).replace('_', "");
        if token.is_empty() || token.len() % 2 != 0 {
            return Err(bad());
        }
        for pair in token.as_bytes().chunks(2) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            if pair == "??" {
                bytes.push(0);
                mask.push(0);
            } else {
                bytes.push(u8::from_str_radix(pair, 16).map_err(|_| {
                    format!(
                        "'{text}': byte {} ('{pair}') is not two hex digits or ??",
                        bytes.len() + 1
                    )
                })?);
                mask.push(0xff);
            }
        }
    }
    if bytes.is_empty() {
        return Err(bad());
    }
    let wild = mask.iter().any(|&m| m != 0xff);
    Ok((bytes, wild.then_some(mask)))
}

pub fn find(args: &FindArgs, out: &mut impl Write) -> Outcome {
    let (pattern, wildcards) = parse_pattern(&args.pattern).map_err(|e| Failure::error("find", e))?;
    let mask = match &args.mask {
        Some(text) => {
            let (mask, wild) = parse_pattern(text).map_err(|e| Failure::error("find --mask", e))?;
            if wild.is_some() {
                return Err(Failure::error("find --mask", "a mask has no ?? bytes"));
            }
            Some(mask)
        }
        None => wildcards,
    };
    let range = AddressRange::new(args.range.0, args.range.1).map_err(|e| Failure::error("find", e))?;
    let db = open(&args.db)?;
    let txn = begin_read(&db)?;
    let space = txn.space(&args.space).map_err(|e| Failure::error("find", e))?;
    let snap = resolve_snap(&txn, &args.space, &args.at)?;
    let newest = args.at.snap.is_none() && args.at.time.is_none();
    let limit = if args.all { usize::MAX } else { args.limit };
    let direction = if args.backward {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let progress = progress_bar("{spinner} searched {bytes} of known memory, at {msg}", args.quiet);
    let mut found = Vec::new();
    let mut search = range;
    while found.len() < limit {
        let hit = space
            .find_bytes_with_progress(snap, search, &pattern, mask.as_deref(), direction, &mut |p| {
                progress.set_position(p.searched);
                progress.set_message(format!("{:#x}", p.at));
                true
            })
            .map_err(|e| Failure::error("find", e))?;
        let Some(at) = hit else { break };
        found.push(at);
        // The next match starts past (or ends before) this one.
        let next = match direction {
            Direction::Forward => at
                .checked_add(1)
                .and_then(|lo| AddressRange::new(lo, search.max()).ok()),
            Direction::Backward => at
                .checked_add(pattern.len() as u64 - 1)
                .and_then(|end| end.checked_sub(1))
                .and_then(|hi| AddressRange::new(search.min(), hi).ok()),
        };
        match next {
            Some(next) => search = next,
            None => break,
        }
    }
    progress.finish_and_clear();
    if args.json {
        // The newest snap is `null`: no placeholder number.
        let shown = (!newest).then_some(snap);
        let docs: Vec<_> = found.iter().map(|at| json!({"address": at, "snap": shown})).collect();
        print_json_array(out, &docs).map_err(io)?;
    } else {
        for at in &found {
            writeln!(out, "{at:#x}").map_err(io)?;
        }
    }
    if found.is_empty() {
        let when = if newest {
            "the newest snap".to_string()
        } else {
            format!("snap {snap}")
        };
        return Err(Failure::NothingFound(format!(
            "no match for {} in {} of '{}' at {when}",
            args.pattern,
            range_text(range.min(), range.max()),
            args.space
        )));
    }
    Ok(())
}

/// A point `diff` compares: a snap, or a time on a capture's clock.
#[derive(Clone, Copy, Debug)]
pub enum When {
    /// A snap.
    Snap(Snap),
    /// Seconds on the clock of the capture recording the space.
    Time(f64),
}

pub fn diff(
    path: &Path,
    space: &str,
    a: When,
    b: When,
    capture: Option<&str>,
    range: (u64, u64),
    as_json: bool,
    out: &mut impl Write,
) -> Outcome {
    let range = AddressRange::new(range.0, range.1).map_err(|e| Failure::error("diff", e))?;
    let db = open(path)?;
    let txn = begin_read(&db)?;
    let snap_of = |when: When| -> Result<Snap, Failure> {
        match when {
            When::Snap(snap) => Ok(snap),
            When::Time(time) => resolve_snap(
                &txn,
                space,
                &crate::args::At {
                    snap: None,
                    time: Some(time),
                    capture: capture.map(str::to_string),
                },
            ),
        }
    };
    let (a, b) = (snap_of(a)?, snap_of(b)?);
    let mem = txn.space(space).map_err(|e| Failure::error("diff", e))?;
    let set = mem.diff(a, b, range).map_err(|e| Failure::error("diff", e))?;
    if set.is_empty() {
        if as_json {
            print_json_array(out, &[]).map_err(io)?;
        }
        return Err(Failure::NothingFound(format!(
            "'{space}' is the same in {} at snaps {a} and {b}",
            range_text(range.min(), range.max())
        )));
    }
    let mut docs = Vec::new();
    // Each range with (up to 16 of) its bytes at both snaps; `..` where a
    // byte is unknown.
    for r in set.iter() {
        let shown = (r.len().min(16)) as usize;
        let bytes_at = |snap: Snap| -> Result<String, Failure> {
            let mut buf = vec![0u8; shown];
            let sources = mem
                .get_bytes_with_sources(snap, r.min(), &mut buf)
                .map_err(|e| Failure::error("diff", e))?;
            let known = |addr: u64| sources.iter().any(|s| s.range.contains(addr));
            Ok((0..shown)
                .map(|i| {
                    if known(r.min() + i as u64) {
                        format!("{:02x}", buf[i])
                    } else {
                        "..".into()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "))
        };
        let (left, right) = (bytes_at(a)?, bytes_at(b)?);
        let more = if r.len() > 16 { " …" } else { "" };
        if as_json {
            docs.push(json!({"first": r.min(), "last": r.max(), "a": left, "b": right}));
        } else {
            writeln!(
                out,
                "{}  {a}: {left}{more}  {b}: {right}{more}",
                range_text(r.min(), r.max())
            )
            .map_err(io)?;
        }
    }
    if as_json {
        print_json_array(out, &docs).map_err(io)?;
    }
    Ok(())
}

pub fn pack(path: &Path, as_json: bool, quiet: bool, out: &mut impl Write) -> Outcome {
    let progress = progress_bar("{bar:40} {pos}/{len} history chunks {msg}", quiet);
    let report = tracemem::pack(path, &mut |p| {
        progress.set_length(p.total);
        progress.set_position(p.done);
        progress.set_message(match p.phase {
            PackPhase::Rewriting => "rewriting",
            PackPhase::Compacting => "compacting",
            _ => "replacing the file",
        });
    })
    .map_err(|e| Failure::error(format!("packing {}", path.display()), e))?;
    progress.finish_and_clear();
    if as_json {
        let line = json!({
            "bytes_before": report.bytes_before,
            "bytes_after": report.bytes_after,
            "chunks_before": report.chunks_before,
            "chunks_after": report.chunks_after,
        });
        writeln!(out, "{line}").map_err(io)?;
    } else {
        writeln!(
            out,
            "packed {}: {} -> {} bytes ({:.1}%), {} -> {} history chunks",
            path.display(),
            report.bytes_before,
            report.bytes_after,
            100.0 * report.bytes_after as f64 / report.bytes_before.max(1) as f64,
            report.chunks_before,
            report.chunks_after
        )
        .map_err(io)?;
    }
    Ok(())
}

/// `tracemem index DB`: writes the chunk index of the database's state.
pub fn index(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    refuse_while_recording(path, "index")?;
    let db = open_writer(path)?;
    let report = db
        .write_chunk_index()
        .map_err(|e| Failure::error(format!("indexing {}", path.display()), e))?;
    db.close()
        .map_err(|e| Failure::error(format!("closing {}", path.display()), e))?;
    if as_json {
        let line = json!({
            "granules": report.granules,
            "chunks": report.chunks,
            "stretch_images": report.stretch_images,
            "bytes": report.bytes,
            "seconds": report.seconds,
        });
        writeln!(out, "{line}").map_err(io)?;
    } else {
        writeln!(
            out,
            "indexed {}: {} history chunks of {} granules, {} stretch images, {} bytes, in {:.2} s",
            path.display(),
            report.chunks,
            report.granules,
            report.stretch_images,
            report.bytes,
            report.seconds
        )
        .map_err(io)?;
    }
    Ok(())
}
