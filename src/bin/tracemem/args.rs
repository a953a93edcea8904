//! The command line's grammar (clap): verbs, arguments, and number parsing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A persistent, embedded database engine for time-travel memory traces.
#[derive(Parser, Debug)]
#[command(
    name = "tracemem",
    version,
    about,
    long_about = None,
    after_help = "Exit status: 0 done (also when the output is a closed pipe); 1 nothing found, or a replay \
                  mismatch; 2 an error in the arguments or the input, or any other error; 3 a damaged file \
                  or not a database; 4 the database is locked by another process; 5 no space left; \
                  6 a database format newer or older than this tracemem's.\n\nNumbers: hex with 0x \
                  (0x40000000), else decimal: a bare 40000000 is decimal. Ranges: LO:HI, inclusive, in \
                  arguments, output and errors alike. The database comes first in every verb."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Record a register-bus soak (1,000,000 events) into a fresh database and tour it:
    /// values at three times, a change history, changes between two snaps,
    /// and the size against the same trace as NDJSON.
    ///
    /// Without DB, ./tracemem-demo.tmdb is created afresh; an existing DB
    /// gets a new capture.
    #[command(verbatim_doc_comment)]
    Demo {
        /// The database (default ./tracemem-demo.tmdb, recreated).
        db: Option<PathBuf>,
        /// How many events to record.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write the soak workload (the trace of the demo and of `soak`) as a
    /// PeakRDL-pybind11 trace file: NDJSON, or one JSON array with --json.
    Gen {
        /// The file to write (`-` for standard output).
        out: PathBuf,
        /// How many events.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write one JSON array (indent 2) instead of NDJSON.
        #[arg(long)]
        json: bool,
        /// Replace the output file if it exists.
        #[arg(long, alias = "overwrite")]
        force: bool,
    },
    /// Record the register-bus soak of the demo through the recorder.
    Soak {
        /// The database (created if missing).
        db: PathBuf,
        /// How many events.
        #[arg(long)]
        events: u64,
        /// The flush policy: event, never, or N.
        #[arg(long, default_value = "event", allow_hyphen_values = true)]
        flush: String,
        /// Print `acked <n>` whenever the first n events are durable.
        #[arg(long)]
        ack: bool,
        /// The capture name (default soak, soak-2, …).
        #[arg(long)]
        capture: Option<String>,
        /// The database's page cache, in MiB (default: the storage engine's).
        #[arg(long)]
        cache_mb: Option<usize>,
        /// Keep register tracks: per-address summaries that make `history
        /// --buckets` fast, at a cost in disk space (see `tracemem track`).
        #[arg(long)]
        tracks: bool,
        #[command(flatten)]
        bounds: Bounds,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Record PeakRDL-pybind11 trace events (NDJSON) read from standard input
    /// as a live capture; a line `#flush` flushes, a line `#mark TEXT` labels
    /// the snap of the next event. Readers in other processes (`log
    /// --follow`) see each event within the commit interval, also when the
    /// input goes quiet.
    ///
    /// A PeakRDL-pybind11 RecordingMaster(inner, file=FIFO) writing into a
    /// named pipe this reads needs no code at all:
    ///   mkfifo bus.fifo && tracemem record trace.tmdb < bus.fifo
    #[command(verbatim_doc_comment)]
    Record {
        /// The database (created if missing).
        db: PathBuf,
        /// The capture name (default: stdin, stdin-2, …).
        #[arg(long)]
        capture: Option<String>,
        /// The flush policy: event, never, or N.
        #[arg(long, default_value = "event", allow_hyphen_values = true)]
        flush: String,
        /// Print `acked <n>` whenever the first n events are durable.
        #[arg(long)]
        ack: bool,
        /// The longest time, in milliseconds, between an event and the
        /// commit that shows it to other processes.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        commit_interval: u64,
        /// Keep register tracks: per-address summaries that make `history
        /// --buckets` fast, at a cost in disk space (see `tracemem track`).
        #[arg(long)]
        tracks: bool,
        #[command(flatten)]
        bounds: Bounds,
    },
    /// Keep register tracks in a database from now on, and build them for
    /// the events recorded so far: per address, its events' times and
    /// values in blocks of 256 with their count, first, last, least and
    /// greatest value, which `history --buckets` reads instead of every
    /// event. They take disk space (on the soak workload about as much as
    /// the packed events). Refused while a recorder records into it.
    ///
    /// Example: tracemem track soak.tmdb && tracemem history soak.tmdb 0x40000000 --buckets 1000
    #[command(verbatim_doc_comment)]
    Track {
        /// The database file.
        db: PathBuf,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Repair a database a recorder left open (killed) and fold in its
    /// journal's acknowledged events; queries refuse such a file until then.
    Recover {
        /// The database file.
        db: PathBuf,
    },
    /// Convert a database of an older format to this tracemem's format: the
    /// converted file is written beside it and renamed over it, so an
    /// interrupted upgrade leaves the old file. No other verb converts.
    Upgrade {
        /// The database file.
        db: PathBuf,
        /// Print no progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Summarise a database: format, block size, spaces, captures, events, size.
    Info(InfoArgs),
    /// List the spaces of a database.
    Spaces {
        /// The database file.
        db: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the captures of a database.
    Captures {
        /// The database file.
        db: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the snaps that carry metadata (descriptions, marks, timestamps),
    /// or set a snap's: `tracemem snaps set DB SNAP --description TEXT
    /// --fork-of S`.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Snaps {
        /// Set a snap's metadata.
        #[command(subcommand)]
        verb: Option<SnapsVerb>,
        /// The database file.
        #[arg(required = true)]
        db: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Label a snap of a finished capture (a running recorder takes marks
    /// on its input: a line `#mark TEXT`).
    ///
    /// Example: tracemem mark soak.tmdb --snap 1200 "reset asserted"
    #[command(verbatim_doc_comment)]
    Mark {
        /// The database file.
        db: PathBuf,
        /// The label.
        text: String,
        /// The snap, from the capture's first event to just after its last.
        #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
        snap: i64,
        /// The capture (needed when the database holds several).
        #[arg(long)]
        capture: Option<String>,
    },
    /// Show memory at a point in time as a hexdump (xxd's layout).
    ///
    /// Bytes never observed show as `..`, bytes whose most recent state is
    /// ERROR as `!!`.
    ///
    /// Examples:
    ///   tracemem read trace.tmdb ram 0x1000 64 --snap 12
    ///   tracemem read trace.tmdb bus 0x40000000 16 --time 0.5 --sources
    #[command(verbatim_doc_comment)]
    Read(ReadArgs),
    /// Show the states recorded at exactly one snap, as runs.
    States(StatesArgs),
    /// Show the registers of a thread at a snap, by the database's register
    /// map: value and state (KNOWN at the snap, stale with the snap of the
    /// oldest byte, ERROR with the snap of the failed read, or UNKNOWN).
    ///
    /// Example: tracemem regs trace.tmdb 1 --snap 120
    #[command(verbatim_doc_comment)]
    Regs {
        /// The database file.
        db: PathBuf,
        /// The thread.
        thread: String,
        /// The stack frame (0 is the innermost).
        #[arg(long, default_value_t = 0)]
        frame: u32,
        /// The snap (default: the newest).
        #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
        snap: Option<i64>,
        /// Print JSON, one register per line.
        #[arg(long)]
        json: bool,
    },
    /// Store or show the register map of a bus (the names `log`, `history`
    /// and the waveform exports give its addresses without --regmap).
    #[command(subcommand)]
    Regmap(RegmapVerb),
    /// List the memory regions (name, range, lifespan, flags rwxv), or add
    /// and remove them (`regions add`, `regions remove`).
    ///
    /// Example: tracemem regions trace.tmdb --snap 120 --space ram
    #[command(
        verbatim_doc_comment,
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Regions {
        /// Add or remove a region.
        #[command(subcommand)]
        verb: Option<RegionsVerb>,
        /// The database file.
        #[arg(required = true)]
        db: Option<PathBuf>,
        /// Only the regions alive at this snap.
        #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
        snap: Option<i64>,
        /// Only the regions of this space.
        #[arg(long)]
        space: Option<String>,
        /// Print JSON, one region per line.
        #[arg(long)]
        json: bool,
    },
    /// Import a PeakRDL-pybind11 trace file (NDJSON, JSON array, or one
    /// event per line) as captures NAME, NAME#2, … (one per session).
    ///
    /// Example: tracemem import trace.tmdb run.ndjson --capture run
    ///
    /// The older order FILE DB still works, with a warning.
    #[command(verbatim_doc_comment)]
    Import {
        /// The database file (created if missing).
        db: PathBuf,
        /// The trace file (`-`: standard input).
        file: PathBuf,
        /// The capture name (default: the file's stem).
        #[arg(long)]
        capture: Option<String>,
        /// The space the events observe.
        #[arg(long, default_value = tracemem::DEFAULT_CAPTURE_SPACE)]
        space: String,
        /// Keep register tracks: per-address summaries that make `history
        /// --buckets` fast, at a cost in disk space (see `tracemem track`).
        #[arg(long)]
        tracks: bool,
        /// No progress bar (it is shown only when standard error is a terminal).
        #[arg(short, long)]
        quiet: bool,
    },
    /// Export a capture: as PeakRDL-pybind11's recorder writes it (NDJSON or
    /// a JSON array, the capture with its later sessions, byte for byte), or
    /// as a waveform for GTKWave and Surfer (VCD or FST, one session).
    ///
    /// The format comes from the output's extension (.ndjson, .jsonl, .json,
    /// .vcd, .fst, .parquet or an existing directory: a Parquet dataset of
    /// every capture; `-` or no -o: NDJSON on standard output) or --format.
    ///
    /// Examples:
    ///   tracemem export trace.tmdb --capture run -o run.ndjson
    ///   tracemem export trace.tmdb -o run.vcd --timescale 1us
    ///   tracemem export soak-0412.tmdb -o dataset.parquet   # Hive-partitioned by source
    #[command(verbatim_doc_comment)]
    Export {
        /// The database file.
        db: PathBuf,
        /// The capture (default: the only one; for a waveform, one session).
        #[arg(long)]
        capture: Option<String>,
        /// The format: ndjson, json, vcd, fst or parquet (default: from the
        /// output's extension; an existing directory is a Parquet dataset).
        #[arg(long)]
        format: Option<String>,
        /// A Parquet dataset's `source=` partition (default: the database's
        /// file name), so that many databases export into one dataset.
        #[arg(long)]
        source: Option<String>,
        /// A waveform's tick: 1, 10 or 100 of s, ms, us, ns, ps or fs.
        #[arg(long, default_value = "1ns")]
        timescale: String,
        /// A waveform's time: the events' timestamps (ties moved one tick
        /// later), or their index in the capture.
        #[arg(long, value_parser = ["timestamp", "seq"], default_value = "timestamp")]
        time: String,
        /// Name a waveform's register signals from a register map: a JSON
        /// object of register paths to `{"address": …}` (other keys ignored).
        #[arg(long)]
        regmap: Option<PathBuf>,
        /// Write here instead of standard output (`-`: standard output). The
        /// file is written beside and renamed into place when complete; the
        /// database itself is refused.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long, alias = "overwrite")]
        force: bool,
        /// One JSON array (Python's `json.dumps(indent=2)`): --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// No progress bar (it is shown only when standard error is a terminal).
        #[arg(short, long)]
        quiet: bool,
    },
    /// Load a raw memory image from a file into a space at a snap.
    ///
    /// Example: tracemem load trace.tmdb ram 0x10000000 firmware.bin --snap 0
    Load {
        /// The database file (created if missing).
        db: PathBuf,
        /// The space (created if missing).
        space: String,
        /// Where the image starts.
        #[arg(value_parser = parse_u64)]
        addr: u64,
        /// The image (`-`: standard input).
        file: PathBuf,
        /// The snap it was observed at.
        #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
        snap: i64,
    },
    /// List the address ranges with records at snaps in (FROM, TO].
    Changes(ChangesArgs),
    /// List a capture's events as a PeakRDL-pybind11 trace prints them
    /// (`wr @0x40001000 0x00000042`), with their snap, time and capture.
    Log(LogArgs),
    /// List the events at one address, e.g. the previous access before snap
    /// 1000: `tracemem history trace.tmdb 0x40001000 --before 1000 --limit 1`.
    History(HistoryArgs),
    /// Search memory as of a snap for a byte pattern (hex, `??` for any
    /// byte), matching only bytes whose most recent state is KNOWN; prints
    /// each match's address (exit 1 if none).
    ///
    /// Examples:
    ///   tracemem find trace.tmdb ram "de ad be ef" --snap 100
    ///   tracemem find trace.tmdb ram "7f 45 4c 46 ?? 01" --range 0x10000000:0x10ffffff --limit 10
    ///   tracemem find trace.tmdb ram 4000 --mask f00f --backward
    #[command(verbatim_doc_comment)]
    Find(FindArgs),
    /// List the address ranges whose most recent bytes or states differ
    /// between snaps A and B, with their first bytes at both (exit 1 if none).
    ///
    /// Example: tracemem diff trace.tmdb ram 100 2000 --range 0x20000000:0x200fffff
    #[command(verbatim_doc_comment)]
    Diff(DiffArgs),
    /// Compact a database offline: merge histories into fuller chunks and
    /// rewrite the file without its free pages; answers stay the same. The
    /// database must not be open elsewhere (a recording is refused).
    ///
    /// Example: tracemem pack soak.tmdb
    #[command(verbatim_doc_comment)]
    Pack {
        /// The database file.
        db: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// No progress bar (it is shown only when standard error is a terminal).
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write the chunk index of a finished capture beside its file
    /// (DB.chunk-index): reads then find each history chunk in the mapped
    /// index instead of descending the file's B-tree, until the next write.
    ///
    /// Example: tracemem pack soak.tmdb && tracemem index soak.tmdb
    #[command(verbatim_doc_comment)]
    Index {
        /// The database file.
        db: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify the file and every invariant tracemem relies on; exit 1 if
    /// anything is wrong. Read-only: it changes nothing.
    Check {
        /// The database file.
        db: PathBuf,
        /// Writes: first repair a file a writer left unclean and fold in a
        /// killed recorder's journal (as `recover`), then check.
        #[arg(long)]
        repair: bool,
    },
    /// Replay a trace file against a recorded capture; report the first
    /// mismatch with PeakRDL-pybind11's message (exit 1 on a mismatch).
    ReplayCheck {
        /// The database file.
        db: PathBuf,
        /// The recorded capture.
        #[arg(long)]
        capture: String,
        /// The trace of the new run.
        file: PathBuf,
        /// Loose matching (reads by address, writes skip ahead).
        #[arg(long)]
        loose: bool,
        /// Fail (exit 1) when the run requests fewer events than the
        /// capture holds; without it, a shorter run is reported and passes.
        #[arg(long)]
        exact: bool,
    },
}

/// The bounds of a recorded database (retention): past one, the oldest
/// history is dropped while recording goes on, and reads before the new
/// horizon fail naming it.
#[derive(Args, Debug, Clone, Default)]
pub struct Bounds {
    /// The most the database file and its journal may take: bytes, or with
    /// a unit (KiB, MiB, GiB; KB, MB, GB), e.g. 512MiB. At least 8 MiB.
    #[arg(long, value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// How far back from the newest event to keep, on the capture's clock:
    /// seconds, or with a unit (s, m, h, d), e.g. 7d.
    #[arg(long, value_parser = parse_duration)]
    pub keep: Option<std::time::Duration>,
    /// The most events to keep (at least 4096, an event chunk).
    #[arg(long, value_parser = parse_u64)]
    pub keep_events: Option<u64>,
}

/// A size in bytes: a number, or with a unit KiB, MiB, GiB (powers of 1024)
/// or KB, MB, GB (of 1000).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (use KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    number
        .replace('_', "")
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("'{text}' is not a size (a number with an optional unit, e.g. 512MiB)"))
}

/// A duration: seconds, or with a unit s, m, h or d.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("'{text}': unknown unit '{unit}' (use s, m, h or d)")),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(std::time::Duration::from_secs_f64(n * scale)),
        _ => Err(format!(
            "'{text}' is not a positive duration (a number with an optional unit, e.g. 7d)"
        )),
    }
}

impl Bounds {
    /// The library's form.
    pub fn retention(&self) -> tracemem::Retention {
        tracemem::Retention {
            max_size: self.max_size,
            keep_events: self.keep_events,
            keep_time: self.keep,
        }
    }
}

/// When to look: a snap, or a time in seconds on a capture's own clock.
#[derive(Args, Debug, Clone, Default)]
pub struct At {
    /// The snap (default: the newest).
    #[arg(long, value_parser = parse_i64, allow_hyphen_values = true, conflicts_with = "time")]
    pub snap: Option<i64>,
    /// A time in seconds on the capture's own clock (the timestamps it
    /// recorded; each session NAME#k has its own): the snap of its last
    /// event at or before that time.
    #[arg(long)]
    pub time: Option<f64>,
    /// The capture (one session) whose clock --time reads; needed when
    /// several captures record the space.
    #[arg(long, requires = "time")]
    pub capture: Option<String>,
}

/// A number in hex (`0x…`) or decimal: a bare `40000000` is decimal.
pub fn parse_u64(text: &str) -> Result<u64, String> {
    let cleaned = text.replace('_', "");
    let parsed = match cleaned.strip_prefix("0x").or_else(|| cleaned.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => cleaned.parse(),
    };
    parsed.map_err(|_| format!("'{text}' is not a number (hex with 0x, or decimal, up to 2^64-1)"))
}

/// An inclusive address range `LO:HI`, each in hex or decimal.
pub fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = text
        .split_once(':')
        .ok_or_else(|| format!("'{text}' is not a range LO:HI (inclusive, hex with 0x or decimal)"))?;
    let (lo, hi) = (parse_u64(lo.trim())?, parse_u64(hi.trim())?);
    if lo > hi {
        return Err(format!("'{text}': the range is reversed ({lo:#x} > {hi:#x})"));
    }
    Ok((lo, hi))
}

/// An inclusive address range `LO:HI`, or one address.
pub fn parse_range_or_one(text: &str) -> Result<(u64, u64), String> {
    if text.contains(':') {
        parse_range(text)
    } else {
        parse_u64(text).map(|a| (a, a))
    }
}

/// An inclusive snap range `LO:HI`, or one snap.
pub fn parse_snap_range(text: &str) -> Result<(i64, i64), String> {
    let (lo, hi) = match text.split_once(':') {
        Some((lo, hi)) => (parse_i64(lo.trim())?, parse_i64(hi.trim())?),
        None => {
            let snap = parse_i64(text)?;
            (snap, snap)
        }
    };
    if lo > hi {
        return Err(format!("'{text}': the range is reversed ({lo} > {hi})"));
    }
    Ok((lo, hi))
}

/// An inclusive time range `LO:HI` in seconds.
pub fn parse_time_range(text: &str) -> Result<(f64, f64), String> {
    let bad = || format!("'{text}' is not a time range LO:HI in seconds");
    let (lo, hi) = text.split_once(':').ok_or_else(bad)?;
    let (lo, hi): (f64, f64) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if lo
        .partial_cmp(&hi)
        .is_none_or(|order| order == std::cmp::Ordering::Greater)
    {
        return Err(format!("'{text}': the range is reversed or not a number"));
    }
    Ok((lo, hi))
}

/// A signed number in hex (`0x…`, `-0x…`) or decimal.
pub fn parse_i64(text: &str) -> Result<i64, String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude = parse_u64(rest).map_err(|_| format!("'{text}' is not a snap (a signed 64-bit number)"))?;
    let value = if negative {
        -i128::from(magnitude)
    } else {
        i128::from(magnitude)
    };
    i64::try_from(value).map_err(|_| format!("'{text}' is not a snap (a signed 64-bit number)"))
}

/// The arguments of `info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The database file.
    pub db: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `states`.
#[derive(Args, Debug)]
pub struct StatesArgs {
    /// The database file.
    pub db: PathBuf,
    /// The space.
    pub space: String,
    /// The first address.
    #[arg(value_parser = parse_u64)]
    pub addr: u64,
    /// How many bytes.
    #[arg(value_parser = parse_u64)]
    pub len: u64,
    #[command(flatten)]
    pub at: At,
    /// The most recent states at or before the snap instead.
    #[arg(long)]
    pub most_recent: bool,
    /// Through the fork chain of the snap: the states at the snap,
    /// else at the snap it forks from, and so on.
    #[arg(long)]
    pub view: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `changes`.
#[derive(Args, Debug)]
pub struct ChangesArgs {
    /// The database file.
    pub db: PathBuf,
    /// The space.
    pub space: String,
    /// Changes after this snap...
    #[arg(value_parser = parse_i64, allow_hyphen_values = true)]
    pub from: i64,
    /// ...up to and including this one.
    #[arg(value_parser = parse_i64, allow_hyphen_values = true)]
    pub to: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// The database file.
    pub db: PathBuf,
    /// The capture, with its later sessions (default: all, one after
    /// another); repeat it to read several merged by timestamp, as
    /// buses recorded side by side: --capture bus0 --capture bus1.
    #[arg(long)]
    pub capture: Vec<String>,
    /// Name addresses from a register map: a JSON object of register
    /// paths to `{"address": …, "width": …}` (other keys ignored).
    #[arg(long)]
    pub regmap: Option<PathBuf>,
    /// Only events at these snaps, `LO:HI` inclusive (or one snap).
    #[arg(long, value_parser = parse_snap_range, allow_hyphen_values = true)]
    pub snap: Option<(i64, i64)>,
    /// Only events at these times (seconds on each capture's own clock),
    /// `LO:HI` inclusive.
    #[arg(long, value_parser = parse_time_range)]
    pub time: Option<(f64, f64)>,
    /// Only events at these addresses, `LO:HI` inclusive (or one address).
    #[arg(long, value_parser = parse_range_or_one)]
    pub address: Option<(u64, u64)>,
    /// Only reads or only writes.
    #[arg(long, value_parser = ["read", "write"])]
    pub op: Option<String>,
    /// Keep printing events as recorders commit them (within their
    /// commit interval, 100 ms by default, also when the bus goes
    /// quiet); never ends on its own (Ctrl-C), unless --until-idle.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: end after this many seconds without a new event
    /// and without a recorder running.
    #[arg(long, requires = "follow")]
    pub until_idle: Option<f64>,
    /// Print one JSON object per event and line.
    #[arg(long, alias = "ndjson")]
    pub json: bool,
}

/// The arguments of `diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The database file.
    pub db: PathBuf,
    /// The space.
    pub space: String,
    /// One snap (or with --seconds a time).
    #[arg(allow_hyphen_values = true)]
    pub a: String,
    /// The other snap (or with --seconds a time).
    #[arg(allow_hyphen_values = true)]
    pub b: String,
    /// The addresses compared, `LO:HI` inclusive (default: all).
    #[arg(long, value_parser = parse_range, default_value = "0:0xffffffffffffffff")]
    pub range: (u64, u64),
    /// A and B are times in seconds on a capture's own clock (each the
    /// snap of its last event at or before that time), not snaps.
    #[arg(long)]
    pub seconds: bool,
    /// The capture (one session) whose clock --seconds reads; needed when
    /// several captures record the space.
    #[arg(long, requires = "seconds")]
    pub capture: Option<String>,
    /// Print JSON: one array of ranges.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `read`.
#[derive(Args, Debug)]
pub struct ReadArgs {
    /// The database file.
    pub db: PathBuf,
    /// The space.
    pub space: String,
    /// The first address (hex with 0x, or decimal).
    #[arg(value_parser = parse_u64)]
    pub addr: u64,
    /// How many bytes.
    #[arg(value_parser = parse_u64)]
    pub len: u64,
    #[command(flatten)]
    pub at: At,
    /// Also show the snap each byte came from.
    #[arg(long)]
    pub sources: bool,
    /// Read through the fork chain of the snap: what a forked
    /// (scratch) snap did not observe is read at the snap it forks from.
    #[arg(long)]
    pub view: bool,
    /// Show words of this many bytes (1, 2, 4 or 8) instead of bytes.
    #[arg(long, value_parser = ["1", "2", "4", "8"], default_value = "1")]
    pub word: String,
    /// The byte order of --word.
    #[arg(long, value_parser = ["little", "big"], default_value = "little")]
    pub endian: String,
    /// Print JSON (bytes, states and sources per address run).
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `find`.
#[derive(Args, Debug)]
pub struct FindArgs {
    /// The database file.
    pub db: PathBuf,
    /// The space.
    pub space: String,
    /// The pattern: hex bytes, spaces allowed, `??` for a byte that matches anything.
    pub pattern: String,
    /// A mask in hex, as long as the pattern: only the bits set must match.
    #[arg(long)]
    pub mask: Option<String>,
    #[command(flatten)]
    pub at: At,
    /// The addresses searched, `LO:HI` inclusive (default: all); a match
    /// lies wholly inside.
    #[arg(long, value_parser = parse_range, default_value = "0:0xffffffffffffffff")]
    pub range: (u64, u64),
    /// Search down from the top: the highest match first.
    #[arg(long)]
    pub backward: bool,
    /// The most matches to print.
    #[arg(long, default_value_t = 1, conflicts_with = "all")]
    pub limit: usize,
    /// Print every match.
    #[arg(long)]
    pub all: bool,
    /// Print JSON: one array of matches.
    #[arg(long)]
    pub json: bool,
    /// No progress bar (it is shown only when standard error is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

/// The arguments of `history`.
#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// The database file.
    pub db: PathBuf,
    /// The address (hex or decimal), or a register name of `--regmap`.
    pub addr: String,
    /// Name addresses from a register map: a JSON object of register paths
    /// to `{"address": …, "width": …}` (other keys ignored).
    #[arg(long)]
    pub regmap: Option<PathBuf>,
    /// Only this capture.
    #[arg(long)]
    pub capture: Option<String>,
    /// Only reads or only writes.
    #[arg(long, value_parser = ["read", "write"])]
    pub op: Option<String>,
    /// From this snap on.
    #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
    pub from: Option<i64>,
    /// Up to this snap.
    #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
    pub to: Option<i64>,
    /// From this many seconds into the capture on.
    #[arg(long)]
    pub from_time: Option<f64>,
    /// Up to this many seconds into the capture.
    #[arg(long)]
    pub to_time: Option<f64>,
    /// Only events before this snap, newest first.
    #[arg(long, value_parser = parse_i64, allow_hyphen_values = true, conflicts_with = "after")]
    pub before: Option<i64>,
    /// Only events after this snap.
    #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
    pub after: Option<i64>,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object per event and line.
    #[arg(long, alias = "ndjson")]
    pub json: bool,
    /// Then keep printing the address's new events as recorders commit
    /// them, as `log --follow` does; never ends on its own (Ctrl-C),
    /// unless --until-idle.
    #[arg(long, conflicts_with_all = ["before", "limit"])]
    pub follow: bool,
    /// With --follow: end after this many seconds without a new event and
    /// without a recorder running.
    #[arg(long, requires = "follow")]
    pub until_idle: Option<f64>,
    /// Zoom out: split the time window (--from-time to --to-time, by
    /// default the capture's first event's time to its last's) into this
    /// many equal buckets and print per bucket its start and end time, how
    /// many events fall in it and the first, last, least and greatest value
    /// (`-` where none); read from the address's stored summaries, not
    /// event by event.
    #[arg(long, conflicts_with_all = ["op", "from", "to", "before", "after", "limit", "follow"])]
    pub buckets: Option<usize>,
}

/// The verbs of `regmap`.
#[derive(Subcommand, Debug)]
pub enum RegmapVerb {
    /// Store a register map for the bus recorded into a space, replacing any
    /// earlier: a JSON object of register paths to objects with an
    /// `address`, and optionally a `width` in bytes (default 4), a
    /// `byte_order` (`little` or `big`) and `fields` (names to
    /// `{"lsb": N, "msb": N}`), the shape --regmap reads, extended.
    /// Refused while a recorder records into the database.
    ///
    /// Example: tracemem regmap set soak.tmdb map.json --space bus
    #[command(verbatim_doc_comment)]
    Set {
        /// The database file.
        db: PathBuf,
        /// The register map (JSON).
        file: PathBuf,
        /// The space the bus is recorded into.
        #[arg(long, default_value = "bus")]
        space: String,
    },
    /// Print the register map stored for a bus.
    Show {
        /// The database file.
        db: PathBuf,
        /// The space the bus is recorded into.
        #[arg(long, default_value = "bus")]
        space: String,
        /// Print JSON: an array of registers.
        #[arg(long)]
        json: bool,
    },
}

/// The verbs of `snaps`.
#[derive(Subcommand, Debug)]
pub enum SnapsVerb {
    /// Set a snap's description and the snap it forks from (its parent in
    /// a what-if schedule), keeping what is not given. Refused while a recorder
    /// records, and for a fork that would close a cycle.
    Set {
        /// The database file.
        db: PathBuf,
        /// The snap.
        #[arg(value_parser = parse_i64, allow_hyphen_values = true)]
        snap: i64,
        /// Its description.
        #[arg(long)]
        description: Option<String>,
        /// The snap it forks from.
        #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
        fork_of: Option<i64>,
    },
}

/// The verbs of `regions`.
#[derive(Subcommand, Debug)]
pub enum RegionsVerb {
    /// Add a region of a space: a named range of addresses alive over a
    /// range of snaps. Refused: an empty or reversed range, another region
    /// of that name or over those addresses alive at one of its snaps.
    ///
    /// Example: tracemem regions add trace.tmdb ram .heap 0x8000:0xffff --snaps 0:999 --flags rw
    #[command(verbatim_doc_comment)]
    Add {
        /// The database file.
        db: PathBuf,
        /// The space.
        space: String,
        /// The region's name.
        name: String,
        /// Its addresses, `LO:HI` inclusive.
        #[arg(value_parser = parse_range)]
        range: (u64, u64),
        /// The snaps it is alive at, `LO:HI` inclusive (default: all).
        #[arg(long, value_parser = parse_snap_range, allow_hyphen_values = true)]
        snaps: Option<(i64, i64)>,
        /// Its flags, letters of `rwxv` (read, write, execute, volatile).
        #[arg(long, default_value = "")]
        flags: String,
    },
    /// Remove the region of that name alive at a snap, over its whole
    /// lifespan (with --from: only from that snap on).
    Remove {
        /// The database file.
        db: PathBuf,
        /// The space.
        space: String,
        /// The region's name.
        name: String,
        /// A snap it is alive at.
        #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
        snap: i64,
        /// Keep it alive before --snap: end it there instead.
        #[arg(long)]
        from: bool,
    },
}
