//! The `tracemem` command line: a thin layer over the library. Errors become
//! one line `tracemem: VERB: what: why` on standard error, with an exit
//! status by their kind; a query that finds nothing exits 1; a closed pipe
//! ends quietly (`failure`).

mod args;
mod failure;
mod lone_verb;
mod output;
mod output_file;
mod query;
mod verbs;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // A verb that can be parsed alone is (`lone_verb`); what it
    // refuses (help, a bad argument) goes to the whole grammar, which
    // answers as it always does.
    let lone = std::env::args_os()
        .nth(1)
        .and_then(|verb| verb.to_str().and_then(lone_verb::lone_verb))
        .and_then(|verb| verb.try_get_matches().ok());
    let matches = lone.unwrap_or_else(|| args::Cli::command().get_matches());
    let verb = matches.subcommand_name().unwrap_or("tracemem").to_string();
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let mut stdout = std::io::stdout().lock();
    let result = verbs::run(cli.command, &mut stdout).and_then(|()| stdout.flush().map_err(failure::io));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(&verb),
    }
}
