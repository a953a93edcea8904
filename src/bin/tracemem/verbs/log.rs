//! The verbs that show a capture's events: `log` (and `log --follow`) and
//! `history`. Both read the event log a page at a time: memory stays
//! bounded whatever the capture's length.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use tracemem::record::TraceEvent;
use tracemem::{CaptureInfo, Database, Lifespan, ReadTransaction};

use crate::args::HistoryArgs;
use crate::failure::{Failure, Outcome, begin_read, io, open};

use crate::query::{RegisterMap, chosen_captures, each_event, event_json, event_line, family_of, load_regmap};

/// Which events `log` shows.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    /// Snaps, inclusive.
    pub snaps: Option<(i64, i64)>,
    /// Times in seconds on each capture's clock, inclusive.
    pub times: Option<(f64, f64)>,
    /// Addresses, inclusive.
    pub addresses: Option<(u64, u64)>,
    /// `read` or `write`.
    pub op: Option<String>,
}

impl LogFilter {
    fn keeps(&self, snap: i64, event: &TraceEvent) -> bool {
        self.snaps.is_none_or(|(lo, hi)| (lo..=hi).contains(&snap))
            && self
                .times
                .is_none_or(|(lo, hi)| lo <= event.timestamp && event.timestamp <= hi)
            && self.addresses.is_none_or(|(lo, hi)| (lo..=hi).contains(&event.address))
            && self.op.as_deref().is_none_or(|op| op == event.op.as_str())
    }
}

/// One event of `log`: a JSON object, or the trace's line after columns for
/// its snap, time and capture.
fn print_event(
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
        writeln!(
            out,
            "{}\t{:.6}\t{}\t{}",
            capture.snap_of(seq),
            event.timestamp,
            capture.name,
            event_line(event, names)
        )
        .map_err(io)
    }
}

/// Prints the events of `capture` from `from` on that `filter` keeps, with
/// its marks as `# text` lines; returns how many events it read.
fn print_capture(
    read: &ReadTransaction,
    capture: &CaptureInfo,
    from: u64,
    filter: &LogFilter,
    names: &RegisterMap,
    as_json: bool,
    out: &mut impl Write,
    printed: &mut u64,
) -> Result<u64, Failure> {
    if capture.events <= from {
        return Ok(0);
    }
    let marks = read
        .snaps_with_meta(
            Lifespan::new(capture.snap_of(from), capture.snap_of(capture.events - 1))
                .map_err(|e| Failure::error("log", e))?,
        )
        .map_err(|e| Failure::error("log", e))?;
    let mut marks = marks.into_iter().peekable();
    let mut seen = 0;
    each_event(read, capture, from, &mut |seq, event| {
        let snap = capture.snap_of(seq);
        while let Some((mark_snap, meta)) = marks.peek() {
            if *mark_snap > snap {
                break;
            }
            if !as_json && !meta.description.is_empty() {
                writeln!(out, "# {}", meta.description).map_err(io)?;
            }
            marks.next();
        }
        seen += 1;
        if filter.keeps(snap, event) {
            print_event(out, capture, seq, event, names, as_json)?;
            *printed += 1;
        }
        Ok(true)
    })?;
    Ok(seen)
}

pub fn log(
    path: &Path,
    capture: Option<String>,
    regmap: Option<&Path>,
    filter: &LogFilter,
    as_json: bool,
    out: &mut impl Write,
) -> Outcome {
    let names = load_regmap(regmap)?;
    let db = open(path)?;
    let read = begin_read(&db)?;
    let mut printed = 0u64;
    for capture in &chosen_captures(&read, capture.as_deref())? {
        print_capture(&read, capture, 0, filter, &names, as_json, out, &mut printed)?;
    }
    if printed == 0 {
        return Err(Failure::NothingFound("no events".into()));
    }
    Ok(())
}

/// `log --follow`: prints each capture's events as they are committed,
/// reading the database read-only beside its recorders. It never ends on
/// its own, unless `until_idle` seconds pass with no new event and no
/// recorder running.
pub fn follow(
    path: &Path,
    capture: Option<String>,
    regmap: Option<&Path>,
    filter: &LogFilter,
    until_idle: Option<f64>,
    as_json: bool,
    out: &mut impl Write,
) -> Outcome {
    let names = load_regmap(regmap)?;
    let idle_limit = until_idle.map(Duration::from_secs_f64);
    let mut done: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut last_news = Instant::now();
    let mut told_waiting = false;
    let mut printed = 0u64;
    loop {
        let running = tracemem::record::recorder_running(path).map_err(|e| Failure::error("log --follow", e))?;
        let mut news = 0u64;
        if path.exists() {
            let db = Database::builder()
                .open_read_only(path)
                .map_err(|e| Failure::error("opening the database", e))?;
            let read = begin_read(&db)?;
            let captures = match capture.as_deref() {
                // The capture may not have been created yet.
                Some(name) => chosen_captures(&read, Some(name)).unwrap_or_default(),
                None => read.captures().map_err(|e| Failure::error("log", e))?,
            };
            for capture in &captures {
                let from = done.get(&capture.name).copied().unwrap_or(0);
                let seen = print_capture(&read, capture, from, filter, &names, as_json, out, &mut printed)?;
                news += seen;
                done.insert(capture.name.clone(), from + seen);
            }
            out.flush().map_err(io)?;
        }
        if news > 0 || running {
            last_news = Instant::now();
        }
        if let Some(limit) = idle_limit
            && !running
            && last_news.elapsed() >= limit
        {
            if printed == 0 {
                return Err(Failure::NothingFound("no events".into()));
            }
            return Ok(());
        }
        if !running && news == 0 && !told_waiting && std::io::stderr().is_terminal() {
            eprintln!("waiting for a recorder…");
            told_waiting = true;
        }
        if running {
            told_waiting = false;
        }
        std::thread::sleep(Duration::from_millis(100));
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
    let captures = chosen_captures(&read, args.capture.as_deref())?;
    let mut families: Vec<&str> = captures.iter().map(|c| family_of(&c.name)).collect();
    families.dedup();
    if families.len() > 1 {
        return Err(Failure::error(
            "history",
            format!("several captures; name one with --capture ({})", families.join(", ")),
        ));
    }
    let keep = |snap: i64, event: &TraceEvent| {
        event.address == address
            && args.op.as_deref().is_none_or(|op| op == event.op.as_str())
            && args.from.is_none_or(|s| snap >= s)
            && args.to.is_none_or(|s| snap <= s)
            && args.from_time.is_none_or(|t| event.timestamp >= t)
            && args.to_time.is_none_or(|t| event.timestamp <= t)
            && args.before.is_none_or(|s| snap < s)
            && args.after.is_none_or(|s| snap > s)
    };
    let limit = args.limit.unwrap_or(usize::MAX);
    // Newest first before a snap: only the last `limit` matches are kept.
    let mut found: std::collections::VecDeque<(CaptureInfo, u64, TraceEvent)> = std::collections::VecDeque::new();
    'captures: for capture in &captures {
        let mut full = false;
        each_event(&read, capture, 0, &mut |seq, event| {
            let snap = capture.snap_of(seq);
            if args.before.is_some_and(|b| snap >= b) {
                return Ok(false);
            }
            if keep(snap, event) {
                found.push_back((capture.clone(), seq, event.clone()));
                if found.len() > limit {
                    if args.before.is_some() {
                        found.pop_front();
                    } else {
                        found.pop_back();
                        full = true;
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })?;
        if full {
            break 'captures;
        }
    }
    let mut found: Vec<_> = found.into_iter().collect();
    if args.before.is_some() {
        found.reverse();
    }
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
