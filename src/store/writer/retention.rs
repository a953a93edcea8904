//! The writer's side of retention: dropping the history before a horizon
//! snap. Each granule's state as of the snap before the horizon becomes the
//! checkpoint of a chunk starting at the horizon (with the deltas at and
//! after it), and every chunk before goes, so a read at or after the
//! horizon answers exactly as before, source snaps included. Change buckets
//! wholly before the horizon go; so do the captures' event chunks, register
//! tracks and group marks wholly before each capture's first kept event;
//! so do the marks (snap metadata) of the snaps before the horizon.
//! Scratch snaps (negative) are never dropped.

use redb::{ReadableTable, TableHandle};

use crate::store::changes::bucket_of;
use crate::store::chunk::{CheckpointRecord, ChunkRecord};
use crate::store::events::EVENTS_PER_CHUNK;
use crate::store::history::{StoreRead, checked_key, chunk_place};
use crate::store::schema::{self, CHANGES, CHUNKS, EVENT_TRACKS, EVENTS, SNAP_FORKS, SNAPS, TRACK_GROUPS};
use crate::store::tracks::TRACK_GROUP;
use crate::vocab::error::{Result, StorageContext};
use crate::vocab::types::Snap;

use super::{WriteStore, stored_chunk};

/// What a retention step dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// History chunks deleted (each granule's chunk at the horizon is
    /// rewritten, not counted).
    pub chunks: u64,
    /// Granules whose state at the horizon became a new checkpoint.
    pub checkpoints: u64,
    /// Event chunks deleted.
    pub event_chunks: u64,
}

impl WriteStore {
    /// Drops the history before snap `horizon` (`>= 0`) in every space, and
    /// each capture's events before its first kept one (`kept`: capture id,
    /// the sequence number of its first event at or after the horizon),
    /// whole event chunks at a time; then stores the horizons.
    pub fn drop_history_before(&mut self, horizon: Snap, kept: &[(u32, u64)]) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        // The tables hold every edit from here on; the cached tails may name
        // chunks that go.
        self.flush_overlay()?;
        self.tails.clear();
        for (space, _) in self.spaces()? {
            self.drop_space_history(space, horizon, &mut report)?;
            // Timeline buckets only: scratch snaps are never dropped.
            self.txn
                .open_table(CHANGES)
                .context("retention")?
                .retain_in((space, 0)..(space, bucket_of(horizon)), |_, _| false)
                .context("retention")?;
        }
        for &(capture, first_kept) in kept {
            report.event_chunks += self.drop_events_before(capture, first_kept)?;
            self.set_meta_value(&schema::capture_horizon_key(capture), &first_kept.to_le_bytes())?;
        }
        // Marks and other snap metadata of dropped snaps go too, with their
        // entries in the fork index.
        self.txn
            .open_table(SNAPS)
            .context("retention")?
            .retain_in(0..horizon, |_, _| false)
            .context("retention")?;
        if schema::has_write_table(&self.txn, SNAP_FORKS.name())? {
            self.txn
                .open_table(SNAP_FORKS)
                .context("retention")?
                .retain_in(0..horizon, |_, _| false)
                .context("retention")?;
        }
        self.set_meta_value(schema::META_HORIZON, &horizon.to_le_bytes())?;
        Ok(report)
    }

    /// One space's chunks before `horizon`, granule by granule (a seek each).
    fn drop_space_history(&mut self, space: u32, horizon: Snap, report: &mut RetentionReport) -> Result<()> {
        let mut from = 0u64;
        loop {
            // The next granule with a chunk, and its chunks in [0, horizon].
            let (granule, firsts) = {
                let table = self.txn.open_table(CHUNKS).context("retention")?;
                let lo = (space, from, i64::MIN);
                let hi = (space, u64::MAX, i64::MAX);
                let Some(entry) = table.range(lo..=hi).context("retention")?.next() else {
                    return Ok(());
                };
                let granule = checked_key(entry.context("retention")?.0.value(), lo, hi)?.1;
                let lo = (space, granule, 0);
                let hi = (space, granule, horizon);
                let mut firsts = Vec::new();
                for entry in table.range(lo..=hi).context("retention")? {
                    firsts.push(checked_key(entry.context("retention")?.0.value(), lo, hi)?.2);
                }
                (granule, firsts)
            };
            if let Some(&host) = firsts.last() {
                let place = chunk_place(space, granule, host);
                let record = stored_chunk(&self.txn, (space, granule, host))?;
                let view = record.view();
                // A chunk holds at least one delta: the new one starts at the
                // horizon when the host has deltas there or after, else at
                // the host's last delta (a snap before the horizon kept).
                let kept_from = view.deltas_through(horizon - 1);
                let start = if kept_from < view.delta_count() {
                    horizon
                } else {
                    match kept_from.checked_sub(1) {
                        Some(last) => view.delta_snap(last),
                        None => host,
                    }
                };
                let mut deleted: Vec<Snap> = firsts[..firsts.len() - 1].to_vec();
                if start > host {
                    let image = view.image(start - 1, &place)?;
                    let later = view.owned_deltas(view.deltas_through(start - 1), &place)?;
                    let mut rewritten = ChunkRecord::new(start, CheckpointRecord::from_image(&image));
                    for delta in &later {
                        rewritten.push_delta(delta.snap, &delta.runs);
                    }
                    self.chunks.insert((space, granule, start), Some(rewritten));
                    deleted.push(host);
                    report.checkpoints += 1;
                }
                for &first in &deleted {
                    self.chunks.insert((space, granule, first), None);
                }
                report.chunks += deleted.len() as u64;
                self.maybe_flush()?;
            }
            match granule.checked_add(1) {
                Some(next) => from = next,
                None => return Ok(()),
            }
        }
    }

    /// The events retention drops together: an event chunk, or with
    /// register tracks a whole group of them, so that every track kept
    /// covers events kept.
    pub fn retention_unit(&mut self) -> Result<u64> {
        Ok(if self.tracks_on()? {
            TRACK_GROUP
        } else {
            EVENTS_PER_CHUNK as u64
        })
    }

    /// Capture `capture`'s event chunks, tracks and group marks wholly before
    /// event `first_kept`; returns how many event chunks went.
    fn drop_events_before(&mut self, capture: u32, first_kept: u64) -> Result<u64> {
        let unit = self.retention_unit()?;
        let whole = first_kept - first_kept % unit;
        let mut dropped = 0u64;
        self.txn
            .open_table(EVENTS)
            .context("retention")?
            .retain_in((capture, 0)..(capture, whole), |_, _| {
                dropped += 1;
                false
            })
            .context("retention")?;
        let groups_before = whole - whole % TRACK_GROUP;
        if schema::has_write_table(&self.txn, TRACK_GROUPS.name())? {
            self.txn
                .open_table(TRACK_GROUPS)
                .context("retention")?
                .retain_in((capture, 0)..(capture, groups_before), |_, _| false)
                .context("retention")?;
        }
        if schema::has_write_table(&self.txn, EVENT_TRACKS.name())? {
            self.txn
                .open_table(EVENT_TRACKS)
                .context("retention")?
                .retain_in((capture, 0, 0)..=(capture, u64::MAX, u64::MAX), |(_, _, group), _| {
                    group >= groups_before
                })
                .context("retention")?;
        }
        Ok(dropped)
    }
}
