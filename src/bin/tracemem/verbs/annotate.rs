//! The verbs that annotate a database after (or beside) its recording:
//! `regmap set` (a bus's register map), `mark` (a label on a finished
//! capture's snap), `snaps set` (a snap's description and fork) and
//! `regions add` and `remove` (the memory map). Each refuses while a
//! recorder records into the database, naming it.

use std::io::Write;
use std::path::Path;

use tracemem::{Lifespan, RegionFlags, Snap, SnapMeta};

use crate::failure::{Failure, Outcome, begin_read, io, open, open_writer, refuse_while_recording};
use crate::query::pick_capture;

/// `regmap set DB FILE --space S`.
pub fn regmap_set(path: &Path, file: &Path, space: &str, out: &mut impl Write) -> Outcome {
    let map = crate::query::read_bus_map(file)?;
    refuse_while_recording(path, "regmap set")?;
    let db = open_writer(path)?;
    let mut txn = db.begin_write().map_err(|e| Failure::error("regmap set", e))?;
    txn.set_bus_map(space, &map)
        .and_then(|()| txn.commit())
        .map_err(|e| Failure::error("regmap set", e))?;
    db.close().map_err(|e| Failure::error("closing the database", e))?;
    writeln!(
        out,
        "{}: {} registers stored for space '{space}'",
        path.display(),
        map.len()
    )
    .map_err(io)
}

/// `mark DB TEXT --snap S [--capture NAME]`.
pub fn mark(path: &Path, capture: Option<String>, snap: Snap, text: &str, out: &mut impl Write) -> Outcome {
    let name = {
        let db = open(path)?;
        pick_capture(&begin_read(&db)?, capture)?
    };
    refuse_while_recording(path, "mark")?;
    let db = open_writer(path)?;
    let mut txn = db.begin_write().map_err(|e| Failure::error("mark", e))?;
    txn.mark(&name, snap, text)
        .and_then(|()| txn.commit())
        .map_err(|e| Failure::error("mark", e))?;
    db.close().map_err(|e| Failure::error("closing the database", e))?;
    writeln!(out, "snap {snap} of capture '{name}' marked").map_err(io)
}

/// `snaps set DB SNAP [--description TEXT] [--fork-of S]`: what is not
/// given is kept; a fork that would lead back to `snap` is refused.
pub fn snaps_set(
    path: &Path,
    snap: Snap,
    description: Option<String>,
    fork_of: Option<Snap>,
    out: &mut impl Write,
) -> Outcome {
    if description.is_none() && fork_of.is_none() {
        return Err(Failure::error("snaps set", "give --description, --fork-of or both"));
    }
    refuse_while_recording(path, "snaps set")?;
    let db = open_writer(path)?;
    let mut txn = db.begin_write().map_err(|e| Failure::error("snaps set", e))?;
    let fail = |e| Failure::error("snaps set", e);
    let mut meta: SnapMeta = txn.snap_meta(snap).map_err(fail)?.unwrap_or_default();
    if let Some(parent) = fork_of {
        // Walk the parent's chain: reaching `snap` would close a cycle.
        let mut at = Some(parent);
        let mut steps = 0u64;
        while let Some(s) = at {
            if s == snap {
                return Err(Failure::error(
                    "snaps set",
                    format!("--fork-of {parent}: snap {snap} would fork from itself through {parent}'s forks"),
                ));
            }
            steps += 1;
            if steps > 1_000_000 {
                break;
            }
            at = txn.snap_meta(s).map_err(fail)?.and_then(|m| m.fork_of);
        }
        meta.fork_of = Some(parent);
    }
    if let Some(text) = description {
        meta.description = text;
    }
    txn.set_snap_meta(snap, &meta)
        .and_then(|()| txn.commit())
        .map_err(fail)?;
    db.close().map_err(|e| Failure::error("closing the database", e))?;
    writeln!(out, "snap {snap} set").map_err(io)
}

/// Region flags from letters of `rwxv`.
fn region_flags(letters: &str) -> Result<RegionFlags, Failure> {
    let mut flags = RegionFlags::NONE;
    for letter in letters.chars() {
        flags |= match letter {
            'r' => RegionFlags::READ,
            'w' => RegionFlags::WRITE,
            'x' => RegionFlags::EXECUTE,
            'v' => RegionFlags::VOLATILE,
            '-' => RegionFlags::NONE,
            other => {
                return Err(Failure::error("--flags", format!("'{other}' is not one of r, w, x, v")));
            }
        };
    }
    Ok(flags)
}

/// `regions add DB SPACE NAME LO:HI [--snaps A:B] [--flags rwxv]`.
pub fn region_add(
    path: &Path,
    space: &str,
    name: &str,
    (first, last): (u64, u64),
    snaps: Option<(Snap, Snap)>,
    flags: &str,
    out: &mut impl Write,
) -> Outcome {
    let flags = region_flags(flags)?;
    let (lo, hi) = snaps.unwrap_or((Snap::MIN, Snap::MAX));
    let lifespan = Lifespan::new(lo, hi).map_err(|e| Failure::error("--snaps", e))?;
    refuse_while_recording(path, "regions add")?;
    let db = open_writer(path)?;
    let mut txn = db.begin_write().map_err(|e| Failure::error("regions add", e))?;
    let region = txn
        .regions(space)
        .and_then(|mut regions| regions.add(name, lifespan, first, last, flags))
        .map_err(|e| Failure::error("regions add", e))?;
    txn.commit().map_err(|e| Failure::error("regions add", e))?;
    db.close().map_err(|e| Failure::error("closing the database", e))?;
    writeln!(
        out,
        "region '{}' of space '{space}' added: {}, snaps {}:{}, {}",
        region.name,
        crate::output::range_text(region.range.min(), region.range.max()),
        region.lifespan.min(),
        region.lifespan.max(),
        region.flags
    )
    .map_err(io)
}

/// `regions remove DB SPACE NAME --snap S [--from]`.
pub fn region_remove(path: &Path, space: &str, name: &str, snap: Snap, from: bool, out: &mut impl Write) -> Outcome {
    refuse_while_recording(path, "regions remove")?;
    let db = open_writer(path)?;
    let mut txn = db.begin_write().map_err(|e| Failure::error("regions remove", e))?;
    txn.regions(space)
        .and_then(|mut regions| match from {
            true => regions.delete_from(name, snap),
            false => regions.delete(name, snap),
        })
        .map_err(|e| Failure::error("regions remove", e))?;
    txn.commit().map_err(|e| Failure::error("regions remove", e))?;
    db.close().map_err(|e| Failure::error("closing the database", e))?;
    match from {
        true => writeln!(out, "region '{name}' of space '{space}' ends before snap {snap}"),
        false => writeln!(out, "region '{name}' of space '{space}' alive at snap {snap} removed"),
    }
    .map_err(io)
}

/// `track DB`: keep register tracks from now on, and build them for the
/// events recorded so far.
pub fn track(path: &Path, quiet: bool, out: &mut impl Write) -> Outcome {
    refuse_while_recording(path, "track")?;
    let db = open_writer(path)?;
    let bar = crate::output::progress_bar("{bar:40} {pos}/{len} groups of events tracked", quiet);
    let report = db
        .build_tracks(&mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(|e| Failure::error("track", e))?;
    bar.finish_and_clear();
    db.close().map_err(|e| Failure::error("closing the database", e))?;
    writeln!(
        out,
        "{}: tracks kept from now on; {} groups of 65536 events tracked now, {} before; {} events of unfinished groups read event by event",
        path.display(),
        report.built,
        report.tracked,
        report.untracked_events
    )
    .map_err(io)
}
