//! The command line's grammar (clap): verbs, arguments, and number parsing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A persistent, embedded database engine for time-travel memory traces.
#[derive(Parser, Debug)]
#[command(name = "tracemem", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Summarise a database: format, block size, spaces, captures, events, size.
    Info {
        /// The database file.
        db: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
    /// List the snaps that carry metadata (descriptions, marks, timestamps).
    Snaps {
        /// The database file.
        db: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
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
    Read {
        /// The database file.
        db: PathBuf,
        /// The space.
        space: String,
        /// The first address (hex with 0x, or decimal).
        #[arg(value_parser = parse_u64)]
        addr: u64,
        /// How many bytes.
        #[arg(value_parser = parse_u64)]
        len: u64,
        #[command(flatten)]
        at: At,
        /// Also show the snap each byte came from.
        #[arg(long)]
        sources: bool,
        /// Print JSON (bytes, states and sources per address run).
        #[arg(long)]
        json: bool,
    },
    /// Show the states recorded at exactly one snap, as runs.
    States {
        /// The database file.
        db: PathBuf,
        /// The space.
        space: String,
        /// The first address.
        #[arg(value_parser = parse_u64)]
        addr: u64,
        /// How many bytes.
        #[arg(value_parser = parse_u64)]
        len: u64,
        /// The snap.
        #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
        snap: i64,
        /// The most recent states at or before the snap instead.
        #[arg(long)]
        most_recent: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import a seed-format trace file (NDJSON, JSON array, or one event per
    /// line) as captures NAME, NAME#2, … (one per session).
    ///
    /// Example: tracemem import run.ndjson trace.tmdb --capture run
    Import {
        /// The trace file.
        file: PathBuf,
        /// The database file (created if missing).
        db: PathBuf,
        /// The capture name (default: the file's stem).
        #[arg(long)]
        capture: Option<String>,
        /// The space the events observe.
        #[arg(long, default_value = tracemem::DEFAULT_CAPTURE_SPACE)]
        space: String,
    },
    /// Export a capture (and its later sessions) byte for byte as the seed
    /// recorder writes it.
    ///
    /// Example: tracemem export trace.tmdb --capture run -o run.ndjson
    Export {
        /// The database file.
        db: PathBuf,
        /// The capture (default: the only one).
        #[arg(long)]
        capture: Option<String>,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// One JSON array (Python's `json.dumps(indent=2)`) instead of NDJSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay a trace file against a recorded capture; report the first
    /// mismatch with the seed's message (exit 1 on a mismatch).
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
    },
}

/// When to look: a snap, or a time in seconds since a capture's start.
#[derive(Args, Debug, Clone, Copy)]
#[group(multiple = false)]
pub struct At {
    /// The snap (default: the newest).
    #[arg(long, value_parser = parse_i64, allow_hyphen_values = true)]
    pub snap: Option<i64>,
    /// Seconds since the start of the capture of the space.
    #[arg(long)]
    pub time: Option<f64>,
}

/// A number in hex (`0x…`) or decimal.
pub fn parse_u64(text: &str) -> Result<u64, String> {
    let cleaned = text.replace('_', "");
    let parsed = match cleaned.strip_prefix("0x").or_else(|| cleaned.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => cleaned.parse(),
    };
    parsed.map_err(|_| format!("'{text}' is not a number (hex with 0x, or decimal, up to 2^64-1)"))
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
