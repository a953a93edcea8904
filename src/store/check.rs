//! The consistency check: every record decodes and every invariant the
//! readers rely on holds. Used by `Database::check` and the `check` verb.

use std::collections::HashMap;

use redb::{ReadableTable, TableHandle};

use crate::store::changes::decode_bucket;
use crate::store::chunk::ChunkRecord;
use crate::store::compact::has_table;
use crate::store::events::{CaptureRecord, EVENTS_PER_CHUNK, EventChunkRecord};
use crate::store::history::chunk_place;
use crate::store::schema::{self as schema_keys, META};
use crate::store::schema::{
    BUS_REGISTERS, CAPTURES, CHANGES, CHUNKS, EVENT_TRACKS, EVENTS, REGIONS, REGISTER_MAP, SNAP_FORKS, SNAPS,
    TRACK_GROUPS, TRACK_TAILS,
};
use crate::store::tracks::{TRACK_GROUP, TailView, TrackView, group_of, groups_in, track_place};
use crate::store::{busmap, regions, regmap};
use crate::vocab::error::{Result, StorageContext};

/// What a check looked at and what it found wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// History chunks checked.
    pub chunks: u64,
    /// Change-index buckets checked.
    pub change_buckets: u64,
    /// Events checked.
    pub events: u64,
    /// Each problem found, naming where.
    pub problems: Vec<String>,
}

/// Checks the tracks of capture `id` against what its event log holds:
/// each stream against its summaries, and each tracked group's records
/// against the log's events of their address in the group (how many, and
/// their times).
/// The key under which `check` counts the events a stored tail holds (no
/// group starts there).
const TAILED: u64 = u64::MAX;

/// The events the stored tail of capture `id` holds, if it has a readable
/// one (a damaged one is reported by `check_tracks`).
fn tail_range(txn: &redb::ReadTransaction, id: u32) -> Result<Option<std::ops::Range<u64>>> {
    if !has_table(txn, TRACK_TAILS.name())? {
        return Ok(None);
    }
    let tails = txn.open_table(TRACK_TAILS).context("checking track tails")?;
    let Some(bytes) = tails.get(id).context("checking track tails")? else {
        return Ok(None);
    };
    Ok(TailView::parse(bytes.value(), &String::new)
        .ok()
        .map(|t| t.group..t.group + t.events))
}

fn check_tracks(
    txn: &redb::ReadTransaction,
    id: u32,
    events: u64,
    mut expected: HashMap<(u64, u64), (u64, u64)>,
    report: &mut CheckReport,
) -> Result<()> {
    if !has_table(txn, TRACK_GROUPS.name())? || !has_table(txn, EVENT_TRACKS.name())? {
        return Ok(());
    }
    let groups = match groups_in(&txn.open_table(TRACK_GROUPS).context("checking track groups")?, id) {
        Ok(groups) => groups,
        Err(e) => {
            report.problems.push(e.to_string());
            return Ok(());
        }
    };
    let marked: std::collections::BTreeSet<u64> = groups.into_iter().collect();
    if let Some(&beyond) = marked.iter().find(|&&g| g + TRACK_GROUP > events) {
        report.problems.push(format!(
            "track_groups table, capture {id}: marks the group from {beyond}, which the event log does not complete"
        ));
    }
    // Each record against the log: how many events, and their times.
    let mut compare =
        |place: &dyn Fn() -> String, key: (u64, u64), bytes: &[u8], report: &mut CheckReport| match TrackView::parse(
            bytes, place,
        )
        .and_then(|r| r.check(place))
        {
            Ok(found) => {
                let sum = found.iter().fold(0u64, |s, e| s.wrapping_add(e.0.to_bits()));
                match expected.remove(&key) {
                    Some(want) if want == (found.len() as u64, sum) => {}
                    want => report.problems.push(format!(
                        "{}: holds {} events of {:#x}, the event log {} (or at other times)",
                        place(),
                        found.len(),
                        key.0,
                        want.map_or(0, |w| w.0)
                    )),
                }
            }
            Err(e) => report.problems.push(e.to_string()),
        };
    if has_table(txn, TRACK_TAILS.name())?
        && let Some(bytes) = txn
            .open_table(TRACK_TAILS)
            .context("checking track tails")?
            .get(id)
            .context("checking track tails")?
    {
        let place = || format!("track_tails table, capture {id}");
        match TailView::parse(bytes.value(), &place) {
            Ok(tail)
                if tail.group + tail.events <= events
                    && events - tail.group <= TRACK_GROUP
                    && !marked.contains(&tail.group) =>
            {
                for (address, track) in &tail.tracks {
                    compare(&place, (*address, TAILED), track, report);
                }
            }
            Ok(tail) => report.problems.push(format!(
                "{}: holds {} events from {}, not a part of the event log's last group (it ends at {events})",
                place(),
                tail.events,
                tail.group
            )),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    let tracks = txn.open_table(EVENT_TRACKS).context("checking event tracks")?;
    for entry in tracks
        .range((id, 0, 0)..=(id, u64::MAX, u64::MAX))
        .context("checking event tracks")?
    {
        let (key, value) = entry.context("checking event tracks")?;
        let (_, address, group) = key.value();
        let place = || track_place(id, address, group);
        if !marked.contains(&group) {
            report
                .problems
                .push(format!("{}: a track of a group not marked tracked", place()));
            continue;
        }
        compare(&place, (address, group), value.value(), report);
    }
    if let Some(((address, _), _)) = expected.iter().find(|((_, g), _)| *g == TAILED) {
        report.problems.push(format!(
            "track_tails table, capture {id}: no track of {address:#x}, which has events in it"
        ));
    }
    expected.retain(|(_, group), _| *group != TAILED && marked.contains(group));
    if let Some(&(address, group)) = expected.keys().min() {
        report.problems.push(format!(
            "{}: missing from a tracked group ({} tracks missing)",
            track_place(id, address, group),
            expected.len()
        ));
    }
    Ok(())
}

/// Checks the fork index against the snap metadata it indexes.
fn check_fork_index(txn: &redb::ReadTransaction, report: &mut CheckReport) -> Result<()> {
    if !has_table(txn, SNAP_FORKS.name())? {
        return Ok(());
    }
    let mut expected = std::collections::BTreeMap::new();
    for entry in txn
        .open_table(SNAPS)
        .context("checking snaps")?
        .iter()
        .context("checking snaps")?
    {
        let (key, value) = entry.context("checking snaps")?;
        let snap = key.value();
        match crate::store::snaps::decode(snap, value.value()) {
            Ok(meta) => {
                if let Some(parent) = meta.fork_parent(snap) {
                    expected.insert(snap, parent);
                }
            }
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    let forks = txn.open_table(SNAP_FORKS).context("checking the fork index")?;
    for entry in forks.iter().context("checking the fork index")? {
        let (snap, parent) = entry.context("checking the fork index")?;
        let (snap, parent) = (snap.value(), parent.value());
        if expected.remove(&snap) != Some(parent) {
            report.problems.push(format!(
                "snap_forks table, snap {snap}: indexed as forked from {parent}, which its metadata does not say"
            ));
        }
    }
    if let Some((snap, parent)) = expected.first_key_value() {
        report.problems.push(format!(
            "snap_forks table: snap {snap}, forked from {parent}, is missing ({} missing)",
            expected.len()
        ));
    }
    Ok(())
}

/// Checks every history chunk, change bucket, event chunk, register
/// definition and region record of `txn`.
pub(crate) fn check(txn: &redb::ReadTransaction) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let chunks = txn.open_table(CHUNKS).context("checking chunks")?;
    for entry in chunks.iter().context("checking chunks")? {
        let (key, value) = entry.context("checking chunks")?;
        let (space, granule, first) = key.value();
        report.chunks += 1;
        let place = chunk_place(space, granule, first);
        let result = (|| -> Result<()> {
            let record = ChunkRecord::from_stored(value.value(), &place)?;
            let view = record.view();
            if view.first_snap != first {
                return Err(crate::vocab::error::Error::corrupt(
                    place(),
                    format!("says it starts at snap {}", view.first_snap),
                ));
            }
            if view.delta_count() == 0 {
                return Err(crate::vocab::error::Error::corrupt(place(), "a chunk without deltas"));
            }
            for i in 0..view.delta_count() {
                let delta = view.delta(i, &place)?;
                if i > 0 && delta.snap <= view.delta_snap(i - 1) {
                    return Err(crate::vocab::error::Error::corrupt(place(), "delta snaps out of order"));
                }
                if (first < 0) != (delta.snap < 0) {
                    return Err(crate::vocab::error::Error::corrupt(
                        place(),
                        "a chunk spanning the scratch/timeline boundary",
                    ));
                }
            }
            view.checkpoint(&place)?.to_image(&place)?;
            Ok(())
        })();
        if let Err(e) = result {
            report.problems.push(e.to_string());
        }
    }
    let changes = txn.open_table(CHANGES).context("checking changes")?;
    for entry in changes.iter().context("checking changes")? {
        let (key, value) = entry.context("checking changes")?;
        let (space, bucket) = key.value();
        report.change_buckets += 1;
        if let Err(e) = decode_bucket(bucket, value.value(), &|| {
            format!("changes table, space {space}, bucket {bucket}")
        }) {
            report.problems.push(e.to_string());
        }
    }
    let captures = txn.open_table(CAPTURES).context("checking captures")?;
    let events = txn.open_table(EVENTS).context("checking events")?;
    for entry in captures.iter().context("checking captures")? {
        let (key, value) = entry.context("checking captures")?;
        let id = key.value();
        let place = || format!("captures table, capture {id}");
        let capture = match CaptureRecord::from_bytes(value.value(), &place) {
            Ok(capture) => capture,
            Err(e) => {
                report.problems.push(e.to_string());
                continue;
            }
        };
        // After retention the log starts at the whole chunk (or group)
        // holding the capture's first kept event.
        let first_kept = match txn
            .open_table(META)
            .context("checking captures")?
            .get(schema_keys::capture_horizon_key(id).as_str())
            .context("checking captures")?
        {
            Some(v) => schema_keys::decode_horizon("horizon", Some(v.value().to_vec()))?.map_or(0, u64::from_le_bytes),
            None => 0,
        };
        let mut counted = first_kept - first_kept % EVENTS_PER_CHUNK as u64;
        if first_kept > 0
            && let Some(entry) = events
                .range((id, 0)..=(id, u64::MAX))
                .context("checking events")?
                .next()
        {
            counted = counted.min(entry.context("checking events")?.0.value().1);
        }
        let mut previous_snap: Option<i64> = None;
        // Past retention the first stored event is at or after the first snap.
        let mut dropped_before = first_kept > 0;
        // Per (address, track group): how many events and their times' sum;
        // the events the stored tail holds also under (address, TAILED).
        let mut tracked: HashMap<(u64, u64), (u64, u64)> = HashMap::new();
        let tail = tail_range(txn, id)?;
        for chunk in events.range((id, 0)..=(id, u64::MAX)).context("checking events")? {
            let (key, value) = chunk.context("checking events")?;
            let first = key.value().1;
            let place = || format!("events table, capture {id}, chunk at event {first}");
            if first != counted {
                report
                    .problems
                    .push(format!("{}: starts at event {first}, expected {counted}", place()));
            }
            match EventChunkRecord::from_bytes(value.value(), &place).and_then(|c| c.decode(&place)) {
                Ok(decoded) => {
                    // A capture's events take increasing snaps from its
                    // first (consecutive ones while it records alone).
                    let mut expected_after = previous_snap;
                    for (seq, event) in (first..).zip(&decoded) {
                        let wrong = match expected_after {
                            None if dropped_before => event.snap < capture.first_snap,
                            None => event.snap != capture.first_snap,
                            Some(before) => event.snap <= before,
                        };
                        dropped_before = false;
                        if wrong {
                            report.problems.push(format!(
                                "{}: event {seq} is at snap {}, {}",
                                place(),
                                event.snap,
                                match expected_after {
                                    None => format!("expected the capture's first, {}", capture.first_snap),
                                    Some(before) => format!("not after the snap {before} of the event before it"),
                                }
                            ));
                            break;
                        }
                        expected_after = Some(event.snap);
                    }
                    previous_snap = decoded.last().map(|e| e.snap).or(previous_snap);
                    for (seq, event) in (first..).zip(&decoded) {
                        let mut count = |group| {
                            let entry: &mut (u64, u64) = tracked.entry((event.address, group)).or_default();
                            entry.0 += 1;
                            entry.1 = entry.1.wrapping_add(event.timestamp.to_bits());
                        };
                        count(group_of(seq));
                        if tail.as_ref().is_some_and(|t| t.contains(&seq)) {
                            count(TAILED);
                        }
                    }
                    counted = first + decoded.len() as u64;
                }
                Err(e) => report.problems.push(e.to_string()),
            }
        }
        let last = previous_snap.unwrap_or(capture.first_snap - 1);
        if capture.last_snap != last {
            report.problems.push(format!(
                "{}: '{}' says its last event is at snap {}, its log ends at {last}",
                place(),
                capture.name,
                capture.last_snap
            ));
        }
        if counted != capture.events {
            report.problems.push(format!(
                "{}: '{}' says {} events, its log holds {counted}",
                place(),
                capture.name,
                capture.events
            ));
        }
        report.events += counted;
        check_tracks(txn, id, counted, tracked, &mut report)?;
    }
    check_registers_and_regions(txn, &mut report)?;
    check_fork_index(txn, &mut report)?;
    Ok(report)
}

/// Checks the optional register map and region tables: every record
/// decodes, the map obeys its rules, and no two records of one region name
/// in one space are alive at a common snap.
fn check_registers_and_regions(txn: &redb::ReadTransaction, report: &mut CheckReport) -> Result<()> {
    match txn.open_table(REGISTER_MAP) {
        Ok(table) => {
            let mut defs = Vec::new();
            for (name, record) in regmap::records_in(&table)? {
                match regmap::decode(&name, &record) {
                    Ok(def) => defs.push(def),
                    Err(e) => report.problems.push(e.to_string()),
                }
            }
            if let Err(e) = crate::vocab::register::RegisterMap::new(defs) {
                report.problems.push(format!("register_map table: an invalid map: {e}"));
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(crate::vocab::error::Error::storage("checking the register map", e)),
    }
    match txn.open_table(REGIONS) {
        Ok(table) => {
            let mut last: Option<(u32, String, i64)> = None;
            for entry in table.iter().context("checking regions")? {
                let (key, value) = entry.context("checking regions")?;
                let (space, name, first) = key.value();
                match regions::decode(space, name, first, value.value()) {
                    Ok(record) => {
                        if let Some((s, n, end)) = &last
                            && *s == space
                            && n == name
                            && *end >= first
                        {
                            report.problems.push(format!(
                                "regions table, space {space}: two records of region '{name}' alive at snap {first}"
                            ));
                        }
                        last = Some((space, name.to_string(), record.lifespan.max()));
                    }
                    Err(e) => report.problems.push(e.to_string()),
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(crate::vocab::error::Error::storage("checking regions", e)),
    }
    match txn.open_table(BUS_REGISTERS) {
        Ok(table) => {
            // Per space: every record decodes, and together they make a map.
            let mut spaces: std::collections::BTreeMap<u32, Vec<_>> = Default::default();
            for entry in table.iter().context("checking the bus register map")? {
                let (key, value) = entry.context("checking the bus register map")?;
                let (space, address) = key.value();
                match busmap::decode(space, address, value.value()) {
                    Ok(register) => spaces.entry(space).or_default().push(register),
                    Err(e) => report.problems.push(e.to_string()),
                }
            }
            for (space, registers) in spaces {
                if let Err(e) = crate::vocab::bus_map::BusMap::new(registers) {
                    report
                        .problems
                        .push(format!("bus_registers table, space {space}: an invalid map: {e}"));
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(crate::vocab::error::Error::storage("checking the bus register map", e)),
    }
    Ok(())
}
