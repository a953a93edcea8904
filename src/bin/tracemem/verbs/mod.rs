//! The verbs, one module per group; no verb imports another. `run`
//! dispatches a parsed command to its verb.

mod annotate;
mod inspect;
mod log;
mod memory;
mod record;
mod registers;
mod search;
mod trace;

use std::io::Write;

use crate::args::{
    ChangesArgs, Command, DiffArgs, InfoArgs, LogArgs, ReadArgs, RegionsVerb, RegmapVerb, SnapsVerb, StatesArgs,
};
use crate::failure::{Failure, Outcome};
use crate::query::Flags;

/// Runs one verb, printing to `out`.
pub fn run(command: Command, out: &mut impl Write) -> Outcome {
    match command {
        Command::Demo { db, events, quiet } => record::demo(db, events, quiet, out),
        Command::Gen {
            out: path,
            events,
            seed,
            json,
            force,
        } => record::gen_trace(&path, events, seed, json, force, out),
        Command::Soak {
            db,
            events,
            flush,
            ack,
            capture,
            cache_mb,
            tracks,
            bounds,
            quiet,
        } => record::soak(
            &db,
            events,
            &flush,
            ack,
            capture,
            cache_mb,
            tracks,
            bounds.retention(),
            quiet,
            out,
        ),
        Command::Record {
            db,
            capture,
            flush,
            ack,
            commit_interval,
            tracks,
            bounds,
        } => record::record(
            &db,
            capture,
            &flush,
            ack,
            std::time::Duration::from_millis(commit_interval),
            tracks,
            bounds.retention(),
            out,
        ),
        Command::Track { db, quiet } => annotate::track(&db, quiet, out),
        Command::Info(InfoArgs { db, json }) => inspect::info(&db, json, out),
        Command::Find(args) => search::find(&args, out),
        Command::Diff(DiffArgs {
            db,
            space,
            a,
            b,
            range,
            seconds,
            capture,
            json,
        }) => {
            let when = |text: &str| -> Result<search::When, Failure> {
                if seconds {
                    let time = text
                        .parse::<f64>()
                        .map_err(|_| Failure::error("diff", format!("'{text}' is not a time in seconds")))?;
                    Ok(search::When::Time(time))
                } else {
                    Ok(search::When::Snap(
                        crate::args::parse_i64(text).map_err(|e| Failure::error("diff", e))?,
                    ))
                }
            };
            search::diff(&db, &space, when(&a)?, when(&b)?, capture.as_deref(), range, json, out)
        }
        Command::Pack { db, json, quiet } => search::pack(&db, json, quiet, out),
        Command::Index { db, json } => search::index(&db, json, out),
        Command::Spaces { db, json } => inspect::spaces(&db, json, out),
        Command::Captures { db, json } => inspect::captures(&db, json, out),
        Command::Snaps {
            verb:
                Some(SnapsVerb::Set {
                    db,
                    snap,
                    description,
                    fork_of,
                }),
            ..
        } => annotate::snaps_set(&db, snap, description, fork_of, out),
        Command::Snaps { db: Some(db), json, .. } => inspect::snaps(&db, json, out),
        Command::Snaps { db: None, .. } => Err(Failure::error("snaps", "name the database")),
        Command::Mark {
            db,
            text,
            snap,
            capture,
        } => annotate::mark(&db, capture, snap, &text, out),
        Command::Read(ReadArgs {
            db,
            space,
            addr,
            len,
            at,
            sources,
            view,
            word,
            endian,
            json,
        }) => memory::read(
            &db,
            &space,
            addr,
            len,
            &at,
            Flags { sources, view, json },
            memory::Layout {
                word: word.parse().unwrap_or(1),
                little: endian == "little",
            },
            out,
        ),
        Command::States(StatesArgs {
            db,
            space,
            addr,
            len,
            at,
            most_recent,
            view,
            json,
        }) => memory::states(
            &db,
            &space,
            addr,
            len,
            &at,
            Flags {
                sources: most_recent,
                view,
                json,
            },
            out,
        ),
        Command::Regs {
            db,
            thread,
            frame,
            snap,
            json,
        } => registers::regs(&db, &thread, frame, snap, json, out),
        Command::Regions {
            verb:
                Some(RegionsVerb::Add {
                    db,
                    space,
                    name,
                    range,
                    snaps,
                    flags,
                }),
            ..
        } => annotate::region_add(&db, &space, &name, range, snaps, &flags, out),
        Command::Regions {
            verb:
                Some(RegionsVerb::Remove {
                    db,
                    space,
                    name,
                    snap,
                    from,
                }),
            ..
        } => annotate::region_remove(&db, &space, &name, snap, from, out),
        Command::Regions {
            db: Some(db),
            snap,
            space,
            json,
            ..
        } => registers::regions(&db, snap, space.as_deref(), json, out),
        Command::Regions { db: None, .. } => Err(Failure::error("regions", "name the database")),
        Command::Regmap(RegmapVerb::Set { db, file, space }) => annotate::regmap_set(&db, &file, &space, out),
        Command::Regmap(RegmapVerb::Show { db, space, json }) => registers::regmap_show(&db, &space, json, out),
        Command::Import {
            db,
            file,
            capture,
            space,
            tracks,
            quiet,
        } => trace::import_either_order(&db, &file, capture, &space, tracks, quiet, out),
        Command::Export {
            db,
            capture,
            format,
            source,
            timescale,
            time,
            regmap,
            output,
            force,
            json,
            quiet,
        } => trace::export(
            &db,
            &trace::ExportRequest {
                capture,
                format: if json { Some("json".into()) } else { format },
                source,
                timescale,
                by_seq: time == "seq",
                regmap,
                output,
                force,
                quiet,
            },
            out,
        ),
        Command::Load {
            db,
            space,
            addr,
            file,
            snap,
        } => memory::load(&db, &space, addr, &file, snap, out),
        Command::Changes(ChangesArgs {
            db,
            space,
            from,
            to,
            json,
        }) => memory::changes(&db, &space, from, to, json, out),
        Command::Log(LogArgs {
            db,
            capture,
            regmap,
            snap,
            time,
            address,
            op,
            follow,
            until_idle,
            json,
        }) => {
            let filter = log::LogFilter {
                snaps: snap,
                times: time,
                addresses: address,
                op,
            };
            if follow {
                log::follow(
                    &db,
                    &capture,
                    regmap.as_deref(),
                    &filter,
                    until_idle,
                    json,
                    Default::default(),
                    out,
                )
            } else {
                log::log(&db, &capture, regmap.as_deref(), &filter, json, out)
            }
        }
        Command::History(args) => log::history(&args, out),
        Command::Check { db, repair } => inspect::check(&db, repair, out),
        Command::Recover { db } => inspect::recover(&db, out),
        Command::Upgrade { db, quiet } => inspect::upgrade(&db, quiet, out),
        Command::ReplayCheck {
            db,
            capture,
            file,
            loose,
            exact,
        } => trace::replay_check(&db, &capture, &file, loose, exact, out),
    }
}
