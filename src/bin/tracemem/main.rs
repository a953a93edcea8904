//! The `tracemem` command line: a thin layer over the library. Errors become
//! one line `tracemem: <what>: <why>` on standard error with exit status 2; a
//! query that finds nothing exits 1; a closed pipe ends quietly.

mod args;
mod commands;
mod output;
mod recording;
mod registers;
mod search;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// How a command ended, besides success.
#[derive(Debug)]
pub enum Failure {
    /// The query found nothing (exit 1), with what to say on standard error.
    NothingFound(String),
    /// A mismatch found by `replay-check` (exit 1), already printed.
    Mismatch,
    /// An error: `tracemem: <what>: <why>` (exit 2).
    Error { what: String, why: String },
}

impl Failure {
    /// An error about `what`.
    pub fn error(what: impl Into<String>, why: impl std::fmt::Display) -> Failure {
        Failure::Error {
            what: what.into(),
            why: why.to_string(),
        }
    }
}

fn is_broken_pipe(failure: &Failure) -> bool {
    matches!(failure, Failure::Error { why, .. } if why.contains("Broken pipe"))
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = commands::run(cli.command, &mut stdout);
    let flushed = stdout.flush();
    match result {
        Ok(()) if flushed.is_ok() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if is_broken_pipe(&failure) => ExitCode::SUCCESS,
        Err(Failure::NothingFound(message)) => {
            if !message.is_empty() {
                eprintln!("tracemem: {message}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Mismatch) => ExitCode::from(1),
        Err(Failure::Error { what, why }) => {
            eprintln!("tracemem: {what}: {why}");
            ExitCode::from(2)
        }
    }
}
