//! The `tracemem` command line: a thin layer over the library. Errors become
//! one line `tracemem: <what>: <why>` on standard error with exit status 2; a
//! query that finds nothing exits 1; a closed pipe ends quietly (`failure`).

mod args;
mod failure;
mod output;
mod output_file;
mod query;
mod verbs;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = verbs::run(cli.command, &mut stdout).and_then(|()| stdout.flush().map_err(failure::io));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
