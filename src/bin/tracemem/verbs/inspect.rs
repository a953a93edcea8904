//! The verbs that describe a database: `info`, `spaces`, `captures`, `snaps`
//! and `check`.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracemem::{Database, Lifespan, Snap};

use crate::failure::{Failure, Outcome, begin_read, io, open, opening};
use crate::output::print_json_array;
use tracemem::capture::family_of;

pub fn info(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
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
    let horizon = read.horizon().map_err(|e| Failure::error("info", e))?;
    let index_in_use = read.uses_chunk_index();
    let index_bytes = std::fs::metadata(tracemem::chunk_index_path(path))
        .map(|m| m.len())
        .ok();
    if as_json {
        let doc = json!({
            "path": path.display().to_string(),
            "format_version": tracemem::FORMAT_VERSION,
            "block_size": db.block_size(),
            "spaces": spaces,
            "captures": captures.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            "events": events,
            "horizon": horizon,
            "capture_horizons": captures.iter().map(|c| json!({"capture": c.name, "first_kept_event": c.horizon})).collect::<Vec<_>>(),
            "snaps_with_metadata": snaps,
            "bytes": size,
            "bytes_per_event": per_event,
            "chunk_index": {"in_use": index_in_use, "bytes": index_bytes},
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
    if let Some(horizon) = horizon {
        // Retention dropped what came before: sequence numbers stay absolute.
        writeln!(
            out,
            "horizon       snap {horizon} (history before it dropped by retention)"
        )
        .map_err(io)?;
        for c in captures.iter().filter(|c| c.horizon > 0) {
            writeln!(
                out,
                "  {}: events {}.. kept ({} of {})",
                c.name,
                c.horizon,
                c.events - c.horizon,
                c.events
            )
            .map_err(io)?;
        }
    }
    writeln!(out, "snaps w/ meta {snaps}").map_err(io)?;
    writeln!(out, "size          {size} bytes").map_err(io)?;
    if let Some(per_event) = per_event {
        writeln!(out, "bytes/event   {per_event:.1}").map_err(io)?;
    }
    let index = match (index_in_use, index_bytes) {
        (true, Some(bytes)) => format!("in use, {bytes} bytes"),
        (false, Some(_)) => "not used: written for another state (run `tracemem index` again)".to_string(),
        (_, None) => "none (`tracemem index` writes one)".to_string(),
    };
    writeln!(out, "chunk index   {index}").map_err(io)?;
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

pub fn spaces(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let names = begin_read(&db)?.spaces().map_err(|e| Failure::error("spaces", e))?;
    if as_json {
        writeln!(out, "{}", json!(names)).map_err(io)?;
    }
    if names.is_empty() {
        return Err(Failure::NothingFound("no spaces".into()));
    }
    if !as_json {
        for name in names {
            writeln!(out, "{name}").map_err(io)?;
        }
    }
    Ok(())
}

pub fn captures(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let captures = begin_read(&db)?.captures().map_err(|e| Failure::error("captures", e))?;
    let mut docs = Vec::new();
    for c in &captures {
        // The sessions of one imported file form a family: NAME, NAME#2, …
        let family = family_of(&c.name);
        if as_json {
            docs.push(json!({
                "name": c.name, "family": family, "space": c.space, "first_snap": c.first_snap, "events": c.events,
                "first_kept_event": c.horizon,
                "policy": c.policy.to_string(), "big_endian": c.big_endian, "start_wall_ns": c.start_wall_ns,
            }));
        } else {
            let snaps = if c.events == 0 {
                "no snaps".to_string()
            } else {
                format!("snaps {}..={}", c.first_snap, c.last_snap)
            };
            writeln!(
                out,
                "{}\tfamily {family}\tspace {}\t{snaps}\t{} events\tflush {}\t{}",
                c.name,
                c.space,
                c.events,
                c.policy,
                if c.big_endian { "big-endian" } else { "little-endian" }
            )
            .map_err(io)?;
        }
    }
    if as_json {
        print_json_array(out, &docs).map_err(io)?;
    }
    if captures.is_empty() {
        return Err(Failure::NothingFound("no captures".into()));
    }
    Ok(())
}

pub fn snaps(path: &Path, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let all = Lifespan::new(Snap::MIN, Snap::MAX).map_err(|e| Failure::error("snaps", e))?;
    let snaps = begin_read(&db)?
        .snaps_with_meta(all)
        .map_err(|e| Failure::error("snaps", e))?;
    let mut docs = Vec::new();
    for (snap, meta) in &snaps {
        if as_json {
            docs.push(json!({"snap": snap, "description": meta.description, "timestamp_ns": meta.timestamp_ns, "fork_of": meta.fork_of}));
        } else {
            let fork = meta.fork_of.map(|p| format!("\t(fork of {p})")).unwrap_or_default();
            writeln!(out, "{snap}\t{}{fork}", meta.description).map_err(io)?;
        }
    }
    if as_json {
        print_json_array(out, &docs).map_err(io)?;
    }
    if snaps.is_empty() {
        return Err(Failure::NothingFound("no snaps carry metadata".into()));
    }
    Ok(())
}

/// `check DB`: read-only, it never changes the database it checks. With
/// `--repair` it opens the file for writing first, which repairs a file a
/// writer left unclean and folds in a killed recorder's journal, then checks.
pub fn check(path: &Path, repair: bool, out: &mut impl Write) -> Outcome {
    let mut builder = tracemem::DatabaseBuilder::default();
    builder.verify_on_open(true);
    let db = if repair {
        builder.open(path)
    } else {
        builder.open_read_only(path)
    }
    .map_err(|e| opening(path, e))?;
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

/// `tracemem recover DB`: opens the database for writing once, which
/// repairs a file a recorder left unclean and folds its journal's
/// acknowledged events in, then closes it.
pub fn recover(path: &Path, out: &mut impl Write) -> Outcome {
    let db = Database::builder().open(path).map_err(|e| opening(path, e))?;
    let captures = db
        .begin_read()
        .and_then(|r| r.captures())
        .map_err(|e| Failure::error("captures", e))?;
    db.close().map_err(|e| Failure::error("closing", e))?;
    let events: u64 = captures.iter().map(|c| c.events).sum();
    writeln!(
        out,
        "{}: recovered; {} captures, {events} events",
        path.display(),
        captures.len()
    )
    .map_err(io)
}

/// `tracemem upgrade DB`: converts a database of an older format to this
/// tracemem's, the only verb that does.
pub fn upgrade(path: &Path, quiet: bool, out: &mut impl Write) -> Outcome {
    let progress = crate::output::progress_bar("{bar:40} {pos}/{len} chunks converted", quiet);
    let report = tracemem::upgrade(path, &mut |p| {
        progress.set_length(p.total);
        progress.set_position(p.done);
    })
    .map_err(|e| opening(path, e))?;
    progress.finish_and_clear();
    if report.from == report.to {
        writeln!(out, "{}: already format {}", path.display(), report.to).map_err(io)
    } else {
        writeln!(
            out,
            "{}: upgraded from format {} to {}; {} -> {} bytes",
            path.display(),
            report.from,
            report.to,
            report.bytes_before,
            report.bytes_after
        )
        .map_err(io)
    }
}
