//! The verbs that record: `demo`, `soak` and `record`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracemem::record::SoakTrace as W1;
use tracemem::record::{
    ExportFormat, FlushPolicy, Master, MockMaster, Op, RecorderOptions, RecordingMaster, TraceEvent, export_trace,
    journal_path, parse_trace, write_json_array, write_ndjson,
};
use tracemem::{AddressRange, CaptureSpec, Database, Direction, MemoryRead};

use crate::failure::{Failure, Outcome, io};
use crate::output_file;

/// A capture name not taken yet: `base`, `base#2`, …
fn free_capture_name(path: &Path, base: &str) -> Result<String, Failure> {
    if !path.exists() {
        return Ok(base.to_string());
    }
    let db = Database::builder()
        .open(path)
        .map_err(|e| crate::failure::opening(path, e))?;
    let taken: Vec<String> = db
        .begin_read()
        .and_then(|r| r.captures())
        .map_err(|e| Failure::error("captures", e))?
        .into_iter()
        .map(|c| c.name)
        .collect();
    Ok((1..)
        .map(|i| {
            // Separate recordings are never a family (NAME#k is a later
            // session of one imported file): NAME-2, NAME-3, …
            if i == 1 {
                base.to_string()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| base.to_string()))
}

fn progress(total: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events, {per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Reports on standard error, once, a database grown past its `--max-size`:
/// retention keeps it under the bound, so only a reader holding pages from
/// before the horizon can have made it grow.
struct PastBound<'a> {
    path: &'a Path,
    bound: Option<u64>,
    reported: bool,
}

impl<'a> PastBound<'a> {
    fn new(path: &'a Path, bound: Option<u64>) -> PastBound<'a> {
        PastBound {
            path,
            bound,
            reported: false,
        }
    }

    fn check(&mut self, bus: &RecordingMaster<MockMaster>) {
        let (Some(bound), false) = (self.bound, self.reported) else {
            return;
        };
        if let Some(bytes) = bus.past_bound() {
            self.reported = true;
            eprintln!(
                "tracemem: warning: {} takes {bytes} bytes with its journal, past --max-size {bound}; retention keeps it \
                 under the bound unless a reader holds pages from before the horizon (a read transaction left open), \
                 and the file keeps the size it grew to",
                self.path.display()
            );
        }
    }
}

/// Records `events` W1 events into capture `name`, then closes the recorder.
fn record_w1(
    path: &Path,
    name: &str,
    events: u64,
    options: RecorderOptions,
    ack: bool,
    quiet: bool,
    out: &mut impl Write,
) -> Outcome {
    let mut bound = PastBound::new(path, options.retention.max_size);
    let mut bus = RecordingMaster::create(MockMaster::new(), path, &CaptureSpec::new(name), options)
        .map_err(|e| crate::failure::starting(path, e))?;
    let bar = progress(events, quiet);
    let mut acked = 0;
    for (i, event) in W1::new(1).take(events as usize).enumerate() {
        let width = event.width.unwrap_or(4);
        let result = match event.op {
            Op::Read => bus.read(event.address, width).map(|_| ()),
            Op::Write => bus.write(event.address, event.value, width),
        };
        result.map_err(|e| Failure::error("recording", e))?;
        if ack && bus.durable() > acked {
            acked = bus.durable();
            writeln!(out, "acked {acked}").map_err(io)?;
            out.flush().map_err(io)?;
        }
        if i % 4096 == 0 {
            bar.set_position(i as u64);
            bound.check(&bus);
        }
    }
    bound.check(&bus);
    bar.finish_and_clear();
    bus.close().map_err(|e| Failure::error("closing the recorder", e))?;
    if ack {
        writeln!(out, "acked {events}").map_err(io)?;
    }
    Ok(())
}

pub fn soak(
    path: &Path,
    events: u64,
    flush: &str,
    ack: bool,
    capture: Option<String>,
    cache_mb: Option<usize>,
    tracks: bool,
    retention: tracemem::Retention,
    quiet: bool,
    out: &mut impl Write,
) -> Outcome {
    retention.validate().map_err(|e| Failure::error("soak", e))?;
    let policy = FlushPolicy::parse(flush).map_err(|e| Failure::error("--flush", e))?;
    let name = match capture {
        Some(name) => name,
        None => free_capture_name(path, "soak")?,
    };
    let options = RecorderOptions {
        policy,
        cache_size: cache_mb.map(|mb| mb << 20),
        tracks,
        retention,
        ..RecorderOptions::default()
    };
    record_w1(path, &name, events, options, ack, quiet, out)
}

pub fn record(
    path: &Path,
    capture: Option<String>,
    flush: &str,
    ack: bool,
    commit_interval: std::time::Duration,
    tracks: bool,
    retention: tracemem::Retention,
    out: &mut impl Write,
) -> Outcome {
    retention.validate().map_err(|e| Failure::error("record", e))?;
    let policy = FlushPolicy::parse(flush).map_err(|e| Failure::error("--flush", e))?;
    let name = match capture {
        Some(name) => name,
        None => free_capture_name(path, "stdin")?,
    };
    let mut bound = PastBound::new(path, retention.max_size);
    let options = RecorderOptions {
        policy,
        commit_interval,
        tracks,
        retention,
        ..RecorderOptions::default()
    };
    let mut bus = RecordingMaster::create(MockMaster::new(), path, &CaptureSpec::new(&name), options)
        .map_err(|e| crate::failure::starting(path, e))?;
    let stdin = std::io::stdin();
    let mut acked = 0;
    for (number, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| Failure::error("standard input", e))?;
        if line.trim() == "#flush" {
            bus.flush().map_err(|e| Failure::error("flushing", e))?;
        } else if let Some(text) = line.trim_start().strip_prefix("#mark ") {
            bus.mark(text.trim_end())
                .map_err(|e| Failure::error(format!("stdin:{}: marking", number + 1), e))?;
        } else if !line.trim().is_empty() {
            // One line, parsed as the trace format says, named by its line.
            let mut text = line.into_bytes();
            text.push(b'\n');
            let parsed =
                parse_trace(&format!("stdin:{}", number + 1), &text).map_err(|e| Failure::error("record", e))?;
            for event in parsed.sessions.into_iter().flatten() {
                bus.record_event(event).map_err(|e| Failure::error("recording", e))?;
            }
        }
        if ack && bus.durable() > acked {
            acked = bus.durable();
            writeln!(out, "acked {acked}").map_err(io)?;
            out.flush().map_err(io)?;
        }
        if number % 1024 == 0 {
            bound.check(&bus);
        }
    }
    bound.check(&bus);
    let total = bus.len();
    bus.close().map_err(|e| Failure::error("closing the recorder", e))?;
    if ack && total > acked {
        writeln!(out, "acked {total}").map_err(io)?;
    }
    Ok(())
}

/// Counts the bytes written through it.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Refuses to replace `path` unless it is a database that the demo made:
/// one whose captures are all the demo's (`demo`, `demo#2`, …).
fn refuse_unless_made_by_demo(path: &Path) -> Outcome {
    let refuse = |why: &str| {
        Failure::error(
            path.display().to_string(),
            format!("{why}; the demo replaces only a database it made (name another DB, or remove it)"),
        )
    };
    let db = Database::builder()
        .open_read_only(path)
        .map_err(|_| refuse("not a tracemem database the demo can open"))?;
    let captures = db
        .begin_read()
        .and_then(|r| r.captures())
        .map_err(|_| refuse("its captures cannot be read"))?;
    let ours = |name: &str| name == "demo" || name.strip_prefix("demo#").is_some_and(|k| k.parse::<u32>().is_ok());
    if captures.is_empty() || !captures.iter().all(|c| ours(&c.name)) {
        return Err(refuse("it holds captures the demo did not make"));
    }
    Ok(())
}

pub fn demo(db: Option<PathBuf>, events: u64, quiet: bool, out: &mut impl Write) -> Outcome {
    let path = match db {
        Some(path) => path,
        None => {
            let path = PathBuf::from("tracemem-demo.tmdb");
            if path.exists() {
                refuse_unless_made_by_demo(&path)?;
            }
            for stale in [path.clone(), journal_path(&path)] {
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(|e| Failure::error(stale.display().to_string(), e))?;
                }
            }
            path
        }
    };
    let name = free_capture_name(&path, "demo")?;
    writeln!(
        out,
        "recording {events} W1 events into {} (capture '{name}')...",
        path.display()
    )
    .map_err(io)?;
    let started = Instant::now();
    record_w1(&path, &name, events, RecorderOptions::default(), false, quiet, out)?;
    let seconds = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "recorded in {seconds:.2} s: {:.0} events/s, every event durable when its call returned",
        events as f64 / seconds
    )
    .map_err(io)?;

    let db = Database::open(&path).map_err(|e| Failure::error("opening the database", e))?;
    let read = db.begin_read().map_err(|e| Failure::error("reading", e))?;
    let capture = read.capture(&name).map_err(|e| Failure::error("reading", e))?;
    let bus = read.space(&capture.space).map_err(|e| Failure::error("reading", e))?;
    let snap_of = |seq: u64| -> Result<i64, Failure> {
        Ok(read
            .event_snap(&capture, seq)
            .map_err(|e| Failure::error("reading", e))?
            .unwrap_or(capture.end_snap()))
    };
    // Tour the register the driver wrote most (status registers stay 0 on
    // the mock bus: W1's hardware changes never cross it).
    let events_at = read
        .events(&name, 0..capture.events.min(200_000))
        .map_err(|e| Failure::error("reading", e))?;
    // Per address: how often it was written, and its widest access. The
    // tour reads a 4-byte register with its own width, so that the values
    // shown are what `tracemem read` shows at those snaps.
    let mut writes = std::collections::HashMap::<u64, (u64, u8)>::new();
    for event in &events_at {
        let entry = writes.entry(event.address).or_default();
        entry.1 = entry.1.max(event.width.unwrap_or(4));
        if event.op == Op::Write {
            entry.0 += 1;
        }
    }
    let register = writes
        .iter()
        .filter(|(_, (_, width))| *width == 4)
        .max_by_key(|(a, (n, _))| (*n, std::cmp::Reverse(**a)))
        .map_or(0x4000_0010, |(a, _)| *a);
    writeln!(out, "\nregister {register:#x} (4 bytes) at three times:").map_err(io)?;
    for fraction in [0.1, 0.5, 0.9] {
        let seq = (capture.events as f64 * fraction) as u64;
        let snap = snap_of(seq)?;
        let mut buf = [0u8; 4];
        let filled = bus
            .get_bytes(snap, register, &mut buf)
            .map_err(|e| Failure::error("reading", e))?;
        let value = if filled == 4 {
            format!("{:#010x}", u32::from_le_bytes(buf))
        } else {
            "never observed".into()
        };
        writeln!(
            out,
            "  snap {snap:>8}: {value}   (tracemem read {} {} {register:#x} 4 --snap {snap})",
            path.display(),
            capture.space
        )
        .map_err(io)?;
    }
    writeln!(out, "\nits change history (the first changes of value):").map_err(io)?;
    let mut last = None;
    let mut shown = 0;
    for (seq, event) in events_at.iter().enumerate() {
        if event.address == register && last != Some(event.value) {
            writeln!(
                out,
                "  snap {:>8}  t={:.6} s  {} {:#010x}",
                snap_of(seq as u64)?,
                event.timestamp,
                event.op,
                event.value
            )
            .map_err(io)?;
            last = Some(event.value);
            shown += 1;
            if shown == 5 {
                break;
            }
        }
    }
    let (a, b) = (snap_of(capture.events / 2)?, snap_of(capture.events / 2 + 50)?);
    let everything = AddressRange::new(0, u64::MAX).map_err(|e| Failure::error("diff", e))?;
    let differ = bus.diff(a, b, everything).map_err(|e| Failure::error("diff", e))?;
    writeln!(
        out,
        "\nwhat differs between snaps {a} and {b} (diff): {} ranges",
        differ.range_count()
    )
    .map_err(io)?;
    for range in differ.iter().take(5) {
        let mut before = vec![0u8; range.len().min(8) as usize];
        let mut after = before.clone();
        bus.get_bytes(a, range.min(), &mut before)
            .and_then(|_| bus.get_bytes(b, range.min(), &mut after))
            .map_err(|e| Failure::error("diff", e))?;
        writeln!(out, "  {range}  {} -> {}", hex(&before), hex(&after)).map_err(io)?;
    }
    // A masked search: the register's value at the last of the three
    // times, its high byte a wildcard, anywhere on the bus.
    let snap = snap_of((capture.events as f64 * 0.9) as u64)?;
    let mut value = [0u8; 4];
    if bus
        .get_bytes(snap, register, &mut value)
        .map_err(|e| Failure::error("find", e))?
        == 4
    {
        let mask = [0xff, 0xff, 0xff, 0x00];
        let mut search = everything;
        let mut hits = Vec::new();
        while hits.len() < 3 {
            match bus
                .find_bytes(snap, search, &value, Some(&mask), Direction::Forward)
                .map_err(|e| Failure::error("find", e))?
            {
                Some(at) => {
                    hits.push(format!("{at:#x}"));
                    match at.checked_add(1).map(|lo| AddressRange::new(lo, u64::MAX)) {
                        Some(Ok(next)) => search = next,
                        _ => break,
                    }
                }
                None => break,
            }
        }
        writeln!(
            out,
            "\nwhere \"{} ??\" is in memory at snap {snap} (find, masked): {}",
            hex(&value[..3]),
            if hits.is_empty() {
                "nowhere".to_string()
            } else {
                hits.join(", ")
            }
        )
        .map_err(io)?;
    }
    let mut ndjson = Counter(0);
    export_trace(&read, &name, ExportFormat::Ndjson, &mut ndjson).map_err(|e| Failure::error("export", e))?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    writeln!(
        out,
        "\nsize: {size} bytes in the database = {:.1} bytes/event; the same trace as NDJSON: {:.1} bytes/event",
        size as f64 / events as f64,
        ndjson.0 as f64 / events as f64
    )
    .map_err(io)?;
    writeln!(
        out,
        "\nnext: tracemem read {0} bus {register:#x} 16 --snap {a} --sources\n      tracemem pack {0}   (then tracemem info {0})",
        path.display()
    )
    .map_err(io)?;
    Ok(())
}

/// Bytes as hex pairs separated by spaces.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// `tracemem gen`: the soak workload as a trace file, byte for byte what the
/// reference generator (`tests/data/gen_soak.py N --seed S`) writes. The
/// file is written beside and renamed into place; an existing one is kept
/// unless `force`.
pub fn gen_trace(path: &Path, events: u64, seed: u64, json: bool, force: bool, out: &mut impl Write) -> Outcome {
    match output_file::create("gen", path, &[], force)? {
        Some(mut file) => {
            write_soak(file.writer(), events, seed, json)?;
            file.finish("gen")
        }
        None => {
            write_soak(out, events, seed, json)?;
            out.flush().map_err(io)
        }
    }
}

/// Writes the first `events` events of the soak for `seed` to `sink`.
fn write_soak(mut sink: &mut dyn Write, events: u64, seed: u64, json: bool) -> Outcome {
    let mut w1 = W1::new(seed);
    if json {
        let all: Vec<TraceEvent> = w1.by_ref().take(events as usize).collect();
        return write_json_array(&all, &mut sink).map_err(io);
    }
    let mut left = events;
    while left > 0 {
        let batch: Vec<TraceEvent> = w1.by_ref().take(left.min(65_536) as usize).collect();
        write_ndjson(&batch, &mut sink).map_err(io)?;
        left -= batch.len() as u64;
    }
    Ok(())
}
