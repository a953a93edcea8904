//! Zoomed-out timelines: one address's events of a capture over a time
//! window, summarized per bucket (count, first, last, least and greatest
//! value) from the address's register tracks (`store::tracks`), so that a
//! viewer draws millions of events on a thousand pixels without reading
//! them. A block of the track that falls in one bucket is taken whole from
//! its summary; only a block that straddles a bucket's edge or the window's
//! is decoded, from its own compact stream, never from memory. A capture
//! group of events without tracks (see `store::tracks`) is answered from its
//! events, exactly, and slower.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::FixedState;

use crate::db::capture::{capture_of, read_events};
use crate::db::{Database, ReadTransaction, WriteTransaction};
use crate::store::StoreRead;
use crate::store::boundary::{guard, guard_write};
use crate::store::tracks::{Summary, TRACK_GROUP, TailView, TrackRecord, TrackView, track_place};
use crate::vocab::error::{Error, Result};

/// The most buckets a timeline may ask for.
pub const MAX_TIMELINE_BUCKETS: usize = 1 << 20;

/// One bucket of a zoomed-out timeline: the events of one address whose
/// timestamps fall in it. Values are the events' values as
/// [`ReadTransaction::events`] gives them; a failed event counts, but has no
/// value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelineBucket {
    /// Where the bucket starts (seconds, inclusive).
    pub from_time: f64,
    /// Where it ends (exclusive, but inclusive for the last bucket).
    pub to_time: f64,
    /// How many events fall in it.
    pub events: u64,
    /// The value of the first event in it that did not fail, in event order.
    pub first: Option<u64>,
    /// The value of the last event in it that did not fail.
    pub last: Option<u64>,
    /// The least value.
    pub min: Option<u64>,
    /// The greatest value.
    pub max: Option<u64>,
}

/// The window split into equal buckets.
#[derive(Clone, Copy, Debug)]
struct Buckets {
    from: f64,
    to: f64,
    width: f64,
    count: usize,
}

impl Buckets {
    fn new(from: f64, to: f64, count: usize) -> Result<Buckets> {
        let bad = |reason: String| Error::InvalidArgument {
            argument: "timeline",
            reason,
        };
        if !from.is_finite() || !to.is_finite() || from > to {
            return Err(bad(format!(
                "the window {from}..{to} is not a finite, ordered time range"
            )));
        }
        if count == 0 || count > MAX_TIMELINE_BUCKETS {
            return Err(bad(format!("{count} buckets; ask for 1 to {MAX_TIMELINE_BUCKETS}")));
        }
        Ok(Buckets {
            from,
            to,
            width: (to - from) / count as f64,
            count,
        })
    }

    /// The bucket of time `t`, if it is in the window. Monotone in `t`, so
    /// every time between two of one bucket is in that bucket too.
    fn of(&self, t: f64) -> Option<usize> {
        if !(self.from..=self.to).contains(&t) {
            return None;
        }
        if self.width <= 0.0 {
            return Some(0);
        }
        let i = ((t - self.from) / self.width).floor();
        Some((i as usize).min(self.count - 1))
    }
}

/// Bucket summaries being gathered.
struct Gathered {
    buckets: Buckets,
    summaries: Vec<Summary>,
}

impl Gathered {
    fn add(&mut self, time: f64, value: Option<u64>) {
        if let Some(i) = self.buckets.of(time) {
            self.summaries[i].add(time, value);
        }
    }

    fn finish(self) -> Vec<TimelineBucket> {
        let b = self.buckets;
        self.summaries
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let valued = |v: u64| (s.valued > 0).then_some(v);
                TimelineBucket {
                    from_time: b.from + i as f64 * b.width,
                    to_time: if i + 1 == b.count {
                        b.to
                    } else {
                        b.from + (i + 1) as f64 * b.width
                    },
                    events: s.count,
                    first: valued(s.first),
                    last: valued(s.last),
                    min: valued(s.min),
                    max: valued(s.max),
                }
            })
            .collect()
    }
}

/// One event of an address, as a timeline reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelineEvent {
    /// Its timestamp (seconds on its capture's clock).
    pub time: f64,
    /// Its value, or `None` if it failed.
    pub value: Option<u64>,
}

impl ReadTransaction {
    /// The events of `capture` at `address` with timestamps in
    /// `from_time..=to_time`, summarized in `buckets` equal buckets of time:
    /// what a viewer needs to draw a register's whole history. Event `t`
    /// falls in bucket `floor((t - from_time) / ((to_time - from_time) /
    /// buckets))`, the last bucket taking `to_time`. Exact: each bucket says
    /// what a scan of the events would.
    pub fn timeline(
        &self,
        capture: &str,
        address: u64,
        from_time: f64,
        to_time: f64,
        buckets: usize,
    ) -> Result<Vec<TimelineBucket>> {
        let gathered = Gathered {
            buckets: Buckets::new(from_time, to_time, buckets)?,
            summaries: vec![Summary::default(); buckets],
        };
        let b = gathered.buckets;
        let gathered = std::cell::RefCell::new(gathered);
        self.walk_address(
            capture,
            address,
            (from_time, to_time),
            &mut |s| match (b.of(s.min_time), b.of(s.max_time)) {
                (Some(i), Some(j)) if i == j => {
                    gathered.borrow_mut().summaries[i].merge(s);
                    true
                }
                _ => false,
            },
            &mut |time, value| gathered.borrow_mut().add(time, value),
        )?;
        Ok(gathered.into_inner().finish())
    }

    /// The events of `capture` at `address` with timestamps in
    /// `from_time..=to_time`, in event order: the zoomed-in counterpart of
    /// [`ReadTransaction::timeline`], read from the address's tracks where
    /// the database keeps them, so it decodes that address's events only.
    pub fn timeline_events(
        &self,
        capture: &str,
        address: u64,
        from_time: f64,
        to_time: f64,
    ) -> Result<Vec<TimelineEvent>> {
        Buckets::new(from_time, to_time, 1)?;
        let mut out = Vec::new();
        self.walk_address(
            capture,
            address,
            (from_time, to_time),
            &mut |_| false,
            &mut |time, value| {
                if (from_time..=to_time).contains(&time) {
                    out.push(TimelineEvent { time, value });
                }
            },
        )?;
        Ok(out)
    }

    /// Walks the events of `capture` at `address` that may fall in
    /// `window`, in event order: each block of a track goes to `whole`,
    /// which says whether it took the block whole; the events of a block it
    /// did not take, and of untracked groups, go to `each`.
    fn walk_address(
        &self,
        capture: &str,
        address: u64,
        window: (f64, f64),
        whole: &mut dyn FnMut(&Summary) -> bool,
        each: &mut dyn FnMut(f64, Option<u64>),
    ) -> Result<()> {
        guard(&|| format!("timeline of {address:#x} in capture '{capture}'"), || {
            let (id, record) = capture_of(&self.store, capture)?;
            let marked: BTreeSet<u64> = self.store.tracked_groups(id)?.into_iter().collect();
            // Group by group, in event order: a tracked group from its
            // address's track (none if the address has no event in it), the
            // last from the stored tail and the events since it, any other
            // from its events.
            // Retention dropped the events before the capture's horizon: a
            // window that starts before its first kept event is refused.
            let first_kept = self.store.capture_horizon(id)?;
            if first_kept > 0 {
                let kept_from = read_events(&self.store, capture, first_kept..first_kept + 1, None)?
                    .first()
                    .map_or(f64::INFINITY, |e| e.timestamp);
                if window.0 < kept_from {
                    return Err(Error::EventBeforeHorizon {
                        capture: capture.to_string(),
                        seq: first_kept - 1,
                        first_kept,
                    });
                }
            }
            let first_group = first_kept - first_kept % TRACK_GROUP;
            for group in (first_group..record.events).step_by(TRACK_GROUP as usize) {
                // The events of an untracked group still to read from the log.
                let mut from = group.max(first_kept);
                if !marked.contains(&group) && record.events - group < TRACK_GROUP {
                    let place = || format!("track_tails table, capture {id}");
                    self.store.track_tail(id, &mut |bytes| {
                        let tail = TailView::parse(bytes, &place)?;
                        let end = tail.group + tail.events;
                        if tail.group == group && end <= record.events {
                            from = end;
                            if let Some(track) = tail.track(address) {
                                walk_track(&TrackView::parse(track, &place)?, &place, window, whole, each)?;
                            }
                        }
                        Ok(())
                    })?;
                }
                if !marked.contains(&group) {
                    let end = group.saturating_add(TRACK_GROUP).min(record.events);
                    for event in self.events(capture, from..end)? {
                        if event.address == address {
                            each(event.timestamp, event.error.is_none().then_some(event.value));
                        }
                    }
                    continue;
                }
                self.store.address_track(id, address, group, &mut |bytes| {
                    let place = || track_place(id, address, group);
                    walk_track(&TrackView::parse(bytes, &place)?, &place, window, whole, each)
                })?;
            }
            Ok(())
        })
    }
}

/// Walks one track's blocks that may fall in `window` (see
/// `walk_address`).
fn walk_track(
    track: &TrackView<'_>,
    place: &dyn Fn() -> String,
    window: (f64, f64),
    whole: &mut dyn FnMut(&Summary) -> bool,
    each: &mut dyn FnMut(f64, Option<u64>),
) -> Result<()> {
    for (i, (s, _)) in track.blocks.iter().enumerate() {
        if s.max_time < window.0 || s.min_time > window.1 || whole(s) {
            continue;
        }
        track.block_events(i, place, each)?;
    }
    Ok(())
}

/// What [`Database::build_tracks`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracksReport {
    /// Groups of events whose tracks it built.
    pub built: u64,
    /// Groups that had tracks already.
    pub tracked: u64,
    /// Events in the captures' last, incomplete groups: read event by event
    /// by timelines until their group completes while tracks are kept.
    pub untracked_events: u64,
}

impl WriteTransaction {
    /// Makes the database keep register tracks from now on: each capture's
    /// events of each address, summarized per block, stored as each group
    /// of 65,536 events completes, so [`ReadTransaction::timeline`] reads
    /// summaries instead of events. They cost disk space (about as much as
    /// the events' compressed values; see BENCHMARKS.md), so they are off
    /// unless asked for. Groups already under way are tracked by
    /// [`Database::build_tracks`].
    pub fn keep_tracks(&mut self) -> Result<()> {
        guard_write(self, &|| "keeping tracks".to_string(), |this| {
            this.store.turn_tracks_on()
        })
    }
}

impl Database {
    /// Keeps register tracks from now on ([`WriteTransaction::keep_tracks`])
    /// and builds them for every complete group of events of every capture
    /// that has none, one group (65,536 events) per write transaction, so
    /// memory stays bounded. `progress(done, total)` counts groups.
    pub fn build_tracks(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<TracksReport> {
        let mut txn = self.begin_write()?;
        txn.keep_tracks()?;
        let captures = txn.store.captures()?;
        txn.commit()?;
        let mut report = TracksReport::default();
        let mut todo = Vec::new();
        for (id, record) in &captures {
            let marked: BTreeSet<u64> = self.begin_read()?.store.tracked_groups(*id)?.into_iter().collect();
            let complete = record.events - record.events % TRACK_GROUP;
            report.untracked_events += record.events - complete;
            // Groups retention cut into stay untracked (their events before
            // the capture's horizon are gone).
            let first_whole = self
                .begin_read()?
                .store
                .capture_horizon(*id)?
                .next_multiple_of(TRACK_GROUP);
            for group in (first_whole..complete).step_by(TRACK_GROUP as usize) {
                if marked.contains(&group) {
                    report.tracked += 1;
                } else {
                    todo.push((*id, record.name.clone(), group));
                }
            }
        }
        let total = todo.len() as u64;
        for (id, name, group) in todo {
            let mut txn = self.begin_write()?;
            guard_write(
                &mut txn,
                &|| format!("tracking capture '{name}' from event {group}"),
                |this| {
                    let mut tracks: HashMap<u64, TrackRecord, FixedState> = HashMap::default();
                    for event in read_events(&this.store, &name, group..group + TRACK_GROUP, None)? {
                        tracks
                            .entry(event.address)
                            .or_default()
                            .push(event.timestamp, event.error.is_none().then_some(event.value));
                    }
                    let mut tracks: Vec<(u64, TrackRecord)> = tracks.into_iter().collect();
                    tracks.sort_unstable_by_key(|t| t.0);
                    this.store.put_tracked_group(id, group, &tracks)
                },
            )?;
            txn.commit()?;
            report.built += 1;
            progress(report.built, total);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_the_window_and_keep_its_ends() {
        let b = Buckets::new(1.0, 2.0, 4).unwrap();
        assert_eq!(b.of(0.999), None);
        assert_eq!(b.of(1.0), Some(0));
        assert_eq!(b.of(1.25), Some(1));
        assert_eq!(b.of(2.0), Some(3));
        assert_eq!(b.of(2.0001), None);
        let point = Buckets::new(3.0, 3.0, 10).unwrap();
        assert_eq!(point.of(3.0), Some(0));
        assert!(Buckets::new(2.0, 1.0, 4).is_err());
        assert!(Buckets::new(1.0, f64::NAN, 4).is_err());
        assert!(Buckets::new(1.0, 2.0, 0).is_err());
    }
}
