//! The verbs that show a capture's events: `log` (and `log --follow`) and
//! `history`.

use std::io::Write;
use std::path::Path;

use tracemem::record::TraceEvent;
use tracemem::{CaptureInfo, Database, Lifespan};

use crate::args::HistoryArgs;
use crate::failure::{Failure, Outcome, begin_read, io, open};

use crate::query::{chosen_captures, event_json, event_line, load_regmap, print_log_event};

pub fn log(
    path: &Path,
    capture: Option<String>,
    regmap: Option<&Path>,
    as_json: bool,
    out: &mut impl Write,
) -> Outcome {
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

/// `log --follow`: prints each capture's events as they are committed,
/// reading the database read-only beside its recorder (R5), until no
/// recorder runs (its journal is gone) and nothing new arrived.
pub fn follow(
    path: &Path,
    capture: Option<String>,
    regmap: Option<&Path>,
    as_json: bool,
    out: &mut impl Write,
) -> Outcome {
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

pub fn history(args: &HistoryArgs, out: &mut impl Write) -> Outcome {
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
