//! The grammar of one verb alone (`lone_verb`), for a process that asks one
//! question: parsing its command line without building clap's whole tree
//! of verbs, which costs a process about as much as a point read
//! (BENCHMARKS.md, "Point reads through chunk index version 3").

use clap::Args;

use crate::args::{ChangesArgs, DiffArgs, FindArgs, HistoryArgs, InfoArgs, LogArgs, ReadArgs, StatesArgs};

/// The grammar of the verb `name` alone, for the verbs whose arguments are
/// a struct of their own (`read`, `states`, `find`, `history`, `log`,
/// `changes`, `diff`, `info`): building clap's whole tree costs a process
/// about 0.4 ms and 116 page faults, as much as the query itself. It
/// parses into the same [`Cli`](crate::args::Cli); help, versions and
/// errors come from the whole tree (`main`).
pub fn lone_verb(name: &str) -> Option<clap::Command> {
    let verb = match name {
        "read" => ReadArgs::augment_args(clap::Command::new("read")),
        "info" => InfoArgs::augment_args(clap::Command::new("info")),
        "states" => StatesArgs::augment_args(clap::Command::new("states")),
        "changes" => ChangesArgs::augment_args(clap::Command::new("changes")),
        "log" => LogArgs::augment_args(clap::Command::new("log")),
        "diff" => DiffArgs::augment_args(clap::Command::new("diff")),
        "find" => FindArgs::augment_args(clap::Command::new("find")),
        "history" => HistoryArgs::augment_args(clap::Command::new("history")),
        _ => return None,
    };
    Some(
        clap::Command::new("tracemem")
            .subcommand_required(true)
            .subcommand(verb),
    )
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;
    use crate::args::Cli;

    /// Parsed alone or by the whole grammar, a command line gives the same
    /// [`Cli`].
    #[test]
    fn a_lone_verb_parses_as_the_whole_grammar_does() {
        let lines: &[&[&str]] = &[
            &["read", "t.tmdb", "bus", "0x4000000c", "4", "--snap", "25"],
            &[
                "read",
                "t.tmdb",
                "ram",
                "4096",
                "64",
                "--time",
                "0.5",
                "--sources",
                "--json",
            ],
            &[
                "read", "t.tmdb", "ram", "0x10", "8", "--snap", "3", "--word", "4", "--endian", "big", "--view",
            ],
            &[
                "find",
                "t.tmdb",
                "ram",
                "de ad",
                "--snap",
                "100",
                "--backward",
                "--limit",
                "2",
            ],
            &["history", "t.tmdb", "0x40001000", "--before", "1000", "--limit", "1"],
            &["info", "t.tmdb", "--json"],
            &[
                "states",
                "t.tmdb",
                "ram",
                "0x1000",
                "64",
                "--snap",
                "3",
                "--most-recent",
            ],
            &["changes", "t.tmdb", "ram", "-5", "0x10", "--json"],
            &[
                "log",
                "t.tmdb",
                "--snap",
                "10:20",
                "--address",
                "0x40000000",
                "--op",
                "write",
                "--ndjson",
            ],
            &[
                "diff",
                "t.tmdb",
                "ram",
                "1",
                "2",
                "--range",
                "0:0xff",
                "--seconds",
                "--capture",
                "c",
            ],
        ];
        for line in lines {
            let argv = std::iter::once("tracemem").chain(line.iter().copied());
            let whole = Cli::try_parse_from(argv.clone()).unwrap();
            let matches = lone_verb(line[0]).unwrap().try_get_matches_from(argv).unwrap();
            let lone = Cli::from_arg_matches(&matches).unwrap();
            assert_eq!(format!("{lone:?}"), format!("{whole:?}"), "{line:?}");
        }
    }

    /// Each lone verb has the arguments the whole grammar gives it, and
    /// the others are not lone verbs.
    #[test]
    fn lone_verbs_keep_the_whole_grammars_arguments() {
        let whole = Cli::command();
        let mut lone = 0;
        for verb in whole.get_subcommands() {
            let Some(alone) = lone_verb(verb.get_name()) else {
                continue;
            };
            lone += 1;
            let ids = |c: &clap::Command| c.get_arguments().map(|a| a.get_id().to_string()).collect::<Vec<_>>();
            let alone = alone.find_subcommand(verb.get_name()).unwrap().clone();
            assert_eq!(ids(&alone), ids(verb), "{}", verb.get_name());
        }
        assert_eq!(lone, 8);
        assert!(lone_verb("import").is_none() && lone_verb("--help").is_none());
    }
}
