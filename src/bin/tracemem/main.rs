//! The `tracemem` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::Parser;

/// A persistent, embedded database engine for time-travel memory traces.
#[derive(Parser, Debug)]
#[command(name = "tracemem", version, about, long_about = None)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
