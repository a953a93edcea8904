//! The verbs that show a capture's events: `log` (and `log --follow`) and
//! `history`. Both read the event log a page at a time: memory stays
//! bounded whatever the capture's length.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use tracemem::capture::family_of;
use tracemem::record::TraceEvent;
use tracemem::{CaptureInfo, Database, ReadTransaction};

use crate::args::HistoryArgs;
use crate::failure::{Failure, Outcome, begin_read, io, open};

use crate::query::{
    RegisterMap, chosen_captures, each_event, each_event_backward, event_json, event_line, load_regmap, note_retention,
    register_names,
};

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
    snap: i64,
    event: &TraceEvent,
    names: &RegisterMap,
    as_json: bool,
) -> Outcome {
    if as_json {
        writeln!(out, "{}", event_json(capture, seq, snap, event)).map_err(io)
    } else {
        writeln!(
            out,
            "{}\t{:.6}\t{}\t{}",
            snap,
            event.timestamp,
            capture.name,
            event_line(event, names)
        )
        .map_err(io)
    }
}

/// Prints the events of `capture` from `from` on that `filter` keeps, with
/// its marks as `# text` lines; returns how many events it went past.
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
    // Retention dropped the events before the capture's horizon.
    let from = from.max(capture.horizon);
    // A snap or time filter starts (and ends) the scan where it begins: the
    // events of a capture are in snap and time order.
    let mut start = from;
    let mut end = capture.events;
    let seq_at = |snap: i64| {
        read.seq_from_snap(capture, snap)
            .map_err(|e| Failure::error("--snap", e))
    };
    if let Some((lo, hi)) = filter.snaps {
        start = start.max(seq_at(lo)?);
        end = end.min(seq_at(hi.saturating_add(1))?);
    }
    if let Some((lo, _)) = filter.times {
        // The first event at or after `lo`: one past the last before it.
        let before = read
            .snap_at_time(capture, lo.next_down())
            .map_err(|e| Failure::error("--time", e))?;
        if let Some(snap) = before {
            start = start.max(seq_at(snap.saturating_add(1))?);
        }
    }
    if start >= end {
        return Ok(capture.events - from);
    }
    let from_snap = read
        .event_snap(capture, start)
        .map_err(|e| Failure::error("log", e))?
        .unwrap_or(capture.end_snap());
    let marks = read.marks(capture).map_err(|e| Failure::error("log", e))?;
    let mut marks = marks.into_iter().filter(|(snap, _)| *snap >= from_snap).peekable();
    each_event(read, capture, start, &mut |seq, snap, event| {
        if seq >= end || filter.times.is_some_and(|(_, hi)| event.timestamp > hi) {
            return Ok(false);
        }
        while let Some((mark_snap, text)) = marks.peek() {
            if *mark_snap > snap {
                break;
            }
            if !as_json {
                writeln!(out, "# {text}").map_err(io)?;
            }
            marks.next();
        }
        if filter.keeps(snap, event) {
            print_event(out, capture, seq, snap, event, names, as_json)?;
            *printed += 1;
        }
        Ok(true)
    })?;
    // Everything up to the capture's end counts as read (a follow goes on
    // from there).
    Ok(capture.events - from)
}

/// The captures `names` name, each with its later sessions (all captures
/// when none is named), in creation order.
fn named_captures(read: &ReadTransaction, names: &[String]) -> Result<Vec<CaptureInfo>, Failure> {
    if names.is_empty() {
        return chosen_captures(read, None);
    }
    let mut chosen = Vec::new();
    for name in names {
        chosen.extend(chosen_captures(read, Some(name))?);
    }
    chosen.sort_by_key(|c| c.first_snap);
    chosen.dedup_by(|a, b| a.name == b.name);
    Ok(chosen)
}

/// A capture's events being merged with others': the next ones read, a
/// page at a time, and its marks not printed yet.
struct Merging<'a> {
    capture: &'a CaptureInfo,
    next: u64,
    page: std::collections::VecDeque<(u64, i64, TraceEvent)>,
    marks: std::iter::Peekable<std::vec::IntoIter<(i64, String)>>,
}

/// Prints the events of `captures` that `filter` keeps merged in timestamp
/// order (a tie goes to the capture named first), each capture's marks as
/// `# text` lines before its first event at or after them.
fn print_merged(
    read: &ReadTransaction,
    captures: &[CaptureInfo],
    filter: &LogFilter,
    names: &RegisterMap,
    as_json: bool,
    out: &mut impl Write,
    printed: &mut u64,
) -> Outcome {
    let failed = |e: tracemem::Error| Failure::error("log", e);
    let mut merging = Vec::with_capacity(captures.len());
    for capture in captures {
        merging.push(Merging {
            capture,
            next: capture.horizon,
            page: Default::default(),
            marks: read.marks(capture).map_err(failed)?.into_iter().peekable(),
        });
    }
    loop {
        for m in &mut merging {
            if m.page.is_empty() && m.next < m.capture.events {
                let end = (m.next + 4096).min(m.capture.events);
                let page = read.events_with_snaps(&m.capture.name, m.next..end).map_err(failed)?;
                m.page
                    .extend((m.next..).zip(page).map(|(seq, (snap, event))| (seq, snap, event)));
                m.next = end;
            }
        }
        let Some(m) = merging
            .iter_mut()
            .filter(|m| !m.page.is_empty())
            .min_by(|a, b| a.page[0].2.timestamp.total_cmp(&b.page[0].2.timestamp))
        else {
            return Ok(());
        };
        let Some((seq, snap, event)) = m.page.pop_front() else {
            return Ok(());
        };
        while let Some((_, text)) = m.marks.next_if(|(mark, _)| *mark <= snap) {
            if !as_json {
                writeln!(out, "# {text}").map_err(io)?;
            }
        }
        if filter.keeps(snap, &event) {
            print_event(out, m.capture, seq, snap, &event, names, as_json)?;
            *printed += 1;
        }
    }
}

pub fn log(
    path: &Path,
    capture: &[String],
    regmap: Option<&Path>,
    filter: &LogFilter,
    as_json: bool,
    out: &mut impl Write,
) -> Outcome {
    let db = open(path)?;
    let read = begin_read(&db)?;
    let mut printed = 0u64;
    let captures = named_captures(&read, capture)?;
    let names = register_names(&read, captures.iter().map(|c| c.space.as_str()), regmap)?;
    note_retention("log", &captures);
    if capture.len() > 1 {
        print_merged(&read, &captures, filter, &names, as_json, out, &mut printed)?;
    } else {
        for capture in &captures {
            print_capture(&read, capture, 0, filter, &names, as_json, out, &mut printed)?;
        }
    }
    if printed == 0 {
        return Err(Failure::NothingFound("no events".into()));
    }
    Ok(())
}

/// How often a follow looks for new commits: a small part of the
/// recorders' commit interval (100 ms by default), so that a line appears
/// within about the interval of its event.
const FOLLOW_POLL: Duration = Duration::from_millis(20);

/// How long a follow retries a database that does not open (one being
/// created) when no recorder holds it, before it reports why.
const UNOPENED_GRACE: Duration = Duration::from_secs(2);

/// `log --follow`: prints each capture's events as they are committed
/// (from sequence number `start[capture]` on, 0 for a capture not in it),
/// reading the database read-only beside its recorders. It never ends on
/// its own, unless `until_idle` seconds pass with no new event and no
/// recorder running.
#[allow(clippy::too_many_arguments)]
pub fn follow(
    path: &Path,
    capture: &[String],
    regmap: Option<&Path>,
    filter: &LogFilter,
    until_idle: Option<f64>,
    as_json: bool,
    start: HashMap<String, u64>,
    out: &mut impl Write,
) -> Outcome {
    let file_names = regmap.map(|_| load_regmap(regmap)).transpose()?;
    let idle_limit = until_idle.map(Duration::from_secs_f64);
    let mut done = start;
    let mut last_news = Instant::now();
    let mut told_waiting = false;
    let mut printed = 0u64;
    let mut unopened: Option<Instant> = None;
    loop {
        let running = tracemem::record::recorder_running(path).map_err(|e| Failure::error("log --follow", e))?;
        let mut news = 0u64;
        // A database a recorder is just creating may not open yet: tried
        // again at the next poll, for a while.
        let opened = match path.exists() {
            true => match Database::builder().open_read_only(path) {
                Ok(db) => {
                    unopened = None;
                    Some(db)
                }
                Err(_) if running || unopened.get_or_insert_with(Instant::now).elapsed() < UNOPENED_GRACE => None,
                Err(e) => return Err(Failure::error("opening the database", e)),
            },
            false => None,
        };
        if let Some(db) = opened {
            let read = begin_read(&db)?;
            // A capture named may not have been created yet.
            let captures = named_captures(&read, capture).unwrap_or_default();
            // The stored register maps, read again: one may be set meanwhile.
            let names = match &file_names {
                Some(names) => names.clone(),
                None => register_names(&read, captures.iter().map(|c| c.space.as_str()), None)?,
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
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// `history --buckets`: the address's zoomed-out timeline in one capture.
fn timeline(
    read: &ReadTransaction,
    captures: &[CaptureInfo],
    address: u64,
    buckets: usize,
    args: &HistoryArgs,
    out: &mut impl Write,
) -> Outcome {
    // A named capture is read alone, not with its later sessions.
    let named: Vec<&CaptureInfo> = captures
        .iter()
        .filter(|c| args.capture.as_deref().is_none_or(|name| c.name == name))
        .collect();
    let [capture] = named.as_slice() else {
        let names: Vec<&str> = captures.iter().map(|c| c.name.as_str()).collect();
        return Err(Failure::error(
            "history",
            format!(
                "--buckets reads one capture; name one with --capture ({})",
                names.join(", ")
            ),
        ));
    };
    let failed = |e: tracemem::Error| Failure::error("history", e.to_string());
    let edge = |seq: u64| -> Result<Option<f64>, Failure> {
        Ok(read
            .events(&capture.name, seq..seq.saturating_add(1))
            .map_err(failed)?
            .first()
            .map(|e| e.timestamp))
    };
    let from = match args.from_time {
        Some(t) => t,
        None => edge(capture.horizon)?.unwrap_or(0.0),
    };
    let to = match args.to_time {
        Some(t) => t,
        None => edge(capture.events.saturating_sub(1))?.unwrap_or(from).max(from),
    };
    let timeline = read
        .timeline(&capture.name, address, from, to, buckets)
        .map_err(failed)?;
    let value = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:#x}"));
    for b in &timeline {
        if args.json {
            let doc = serde_json::json!({
                "capture": capture.name,
                "from_time": b.from_time,
                "to_time": b.to_time,
                "events": b.events,
                "first": b.first,
                "last": b.last,
                "min": b.min,
                "max": b.max,
            });
            writeln!(out, "{doc}").map_err(io)?;
        } else {
            writeln!(
                out,
                "{:.6}\t{:.6}\t{}\t{}\t{}\t{}\t{}",
                b.from_time,
                b.to_time,
                b.events,
                value(b.first),
                value(b.last),
                value(b.min),
                value(b.max)
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

pub fn history(args: &HistoryArgs, out: &mut impl Write) -> Outcome {
    // The address: a number, or a register name of --regmap or, once the
    // database is open, of the bus register map stored for its captures.
    let named = |names: &RegisterMap| {
        names
            .iter()
            .find(|(_, name)| **name == args.addr)
            .map(|(address, _)| *address)
    };
    let number = crate::args::parse_u64(&args.addr).map_err(|e| e.to_string());
    let not_found = || {
        let why = number.clone().err().unwrap_or_default();
        let map = match args.regmap {
            Some(_) => "--regmap",
            None => "the stored register map",
        };
        Failure::error("history", format!("{why}, nor a register of {map}"))
    };
    let early = number.clone().ok().or(named(&load_regmap(args.regmap.as_deref())?));
    let follow_address = |out: &mut _, address: u64, start: HashMap<String, u64>| {
        let filter = LogFilter {
            snaps: None,
            times: None,
            addresses: Some((address, address)),
            op: args.op.clone(),
        };
        follow(
            &args.db,
            args.capture.as_slice(),
            args.regmap.as_deref(),
            &filter,
            args.until_idle,
            args.json,
            start,
            out,
        )
    };
    // With --follow, a database that does not open yet (one a recorder is
    // creating) or holds no capture yet has no history: what its recorder
    // commits is followed.
    let no_history = |out: &mut _| match early {
        Some(address) => follow_address(out, address, HashMap::new()),
        None => Err(not_found()),
    };
    let db = match open(&args.db) {
        Ok(db) => db,
        Err(_) if args.follow => return no_history(out),
        Err(e) => return Err(e),
    };
    let read = begin_read(&db)?;
    let captures = match chosen_captures(&read, args.capture.as_deref()) {
        Ok(captures) => captures,
        Err(_) if args.follow => {
            drop(read);
            drop(db);
            return no_history(out);
        }
        Err(e) => return Err(e),
    };
    let names = register_names(&read, captures.iter().map(|c| c.space.as_str()), args.regmap.as_deref())?;
    let address = early.or(named(&names)).ok_or_else(not_found)?;
    let mut families: Vec<&str> = captures.iter().map(|c| family_of(&c.name)).collect();
    families.dedup();
    if families.len() > 1 {
        return Err(Failure::error(
            "history",
            format!("several captures; name one with --capture ({})", families.join(", ")),
        ));
    }
    note_retention("history", &captures);
    if let Some(buckets) = args.buckets {
        return timeline(&read, &captures, address, buckets, args, out);
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
    let mut found: Vec<(CaptureInfo, u64, i64, TraceEvent)> = Vec::new();
    // Takes a matching event; false once the limit is reached.
    let mut take = |capture: &CaptureInfo, seq: u64, snap: i64, event: &TraceEvent| {
        if keep(snap, event) {
            found.push((capture.clone(), seq, snap, event.clone()));
        }
        found.len() < limit
    };
    // The events are in snap order: newest first before a snap (read
    // backwards from it), else from the first snap the filters allow.
    let backward = args.before.is_some();
    let first = [args.after.map(|s| s.saturating_add(1)), args.from]
        .into_iter()
        .flatten()
        .max();
    let ordered: Vec<&CaptureInfo> = if backward {
        captures.iter().rev().collect()
    } else {
        captures.iter().collect()
    };
    for capture in ordered {
        let seq_of = |snap: i64| {
            read.seq_from_snap(capture, snap)
                .map_err(|e| Failure::error("history", e))
        };
        let mut more = true;
        let mut visit = |seq: u64, snap: i64, event: &TraceEvent| -> Result<bool, Failure> {
            if args.to.is_some_and(|to| snap > to) && !backward {
                return Ok(false);
            }
            more = take(capture, seq, snap, event);
            Ok(more)
        };
        match args.before {
            Some(before) => each_event_backward(&read, capture, seq_of(before)?, &mut visit)?,
            None => each_event(
                &read,
                capture,
                first.map_or(Ok(0), seq_of)?.max(capture.horizon),
                &mut visit,
            )?,
        }
        if !more {
            break;
        }
    }
    if found.is_empty() && !args.follow {
        return Err(Failure::NothingFound(format!("no events at {address:#x}")));
    }
    for (capture, seq, snap, event) in &found {
        if args.json {
            writeln!(out, "{}", event_json(capture, *seq, *snap, event)).map_err(io)?;
        } else {
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
    if args.follow {
        // From where this read ended: nothing committed since is missed.
        let start = captures.iter().map(|c| (c.name.clone(), c.events)).collect();
        drop(read);
        drop(db);
        return follow_address(out, address, start);
    }
    Ok(())
}
