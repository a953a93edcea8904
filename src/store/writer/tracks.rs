//! The writer's side of register tracks (`store::tracks`): the switch that
//! keeps them, each capture's builder fed with the events appended, the
//! groups it completes stored with their marks, its tail stored with a
//! commit when due, and a builder resumed from a stored tail.

use crate::store::history::StoreRead;
use crate::store::schema::{EVENT_TRACKS, META_EVENT_TRACKS, TRACK_GROUPS, TRACK_TAILS};
use crate::store::tracks::{TRACK_GROUP, TailView, TrackRecord, TrackedEvent, encode_group, group_of};
use crate::vocab::error::{Result, StorageContext};

use super::WriteStore;

impl WriteStore {
    /// Passes appended events of capture `capture` from sequence number
    /// `first_seq` on to the capture's track builder, and stores the tracks
    /// of each group they complete.
    pub fn track_events(&mut self, capture: u32, first_seq: u64, events: &[TrackedEvent]) -> Result<()> {
        if !self.tracks_on()? {
            return Ok(());
        }
        let builders = self.track_builders.clone();
        let mut builders = builders.lock().unwrap_or_else(|e| e.into_inner());
        let builder = builders.entry(capture).or_default();
        let done = builder.feed(first_seq, events);
        drop(builders);
        self.tails_dirty.insert(capture);
        for (group, tracks) in done {
            self.put_tracked_group(capture, group, &tracks)?;
        }
        Ok(())
    }

    /// Before events of capture `capture` from `first_seq` on are tracked:
    /// when its builder does not go on from there (a new handle, an aborted
    /// transaction), resumes it from the stored tail of the group, and
    /// returns the events since the tail that it must be given first.
    pub fn track_catch_up(&mut self, capture: u32, first_seq: u64) -> Result<Option<std::ops::Range<u64>>> {
        if !self.tracks_on()? {
            return Ok(None);
        }
        let builders = self.track_builders.clone();
        let mut builders = builders.lock().unwrap_or_else(|e| e.into_inner());
        let builder = builders.entry(capture).or_default();
        if builder.next_seq() == first_seq {
            return Ok(None);
        }
        let place = || format!("track_tails table, capture {capture}");
        let mut from = None;
        self.track_tail(capture, &mut |bytes| {
            let tail = TailView::parse(bytes, &place)?;
            let end = tail.group + tail.events;
            if tail.group == group_of(first_seq) && end <= first_seq {
                builder.resume(&tail, &place)?;
                from = Some(end..first_seq);
            }
            Ok(())
        })?;
        Ok(from)
    }

    /// Whether the database keeps register tracks.
    pub fn tracks_on(&mut self) -> Result<bool> {
        if let Some(on) = self.tracks_known {
            return Ok(on);
        }
        let on = self.meta_value(META_EVENT_TRACKS)?.is_some();
        self.tracks_known = Some(on);
        Ok(on)
    }

    /// Makes the database keep register tracks from now on.
    pub fn turn_tracks_on(&mut self) -> Result<()> {
        self.set_meta_value(META_EVENT_TRACKS, &[1])?;
        self.tracks_known = Some(true);
        Ok(())
    }

    /// Stores the tracks of a group and marks it tracked.
    pub fn put_tracked_group(&mut self, capture: u32, group: u64, tracks: &[(u64, TrackRecord)]) -> Result<()> {
        let mut table = self.txn.open_table(EVENT_TRACKS).context("writing event tracks")?;
        for (address, track) in tracks {
            table
                .insert((capture, *address, group), track.encode().as_slice())
                .context("writing event tracks")?;
        }
        self.txn
            .open_table(TRACK_GROUPS)
            .context("writing track groups")?
            .insert((capture, group), encode_group(TRACK_GROUP).as_slice())
            .context("writing track groups")?;
        Ok(())
    }

    /// Stores the tails of the captures whose tracks this transaction
    /// extended (`store::tracks`), or removes a tail that no longer holds.
    pub(super) fn store_track_tails(&mut self) -> Result<()> {
        if self.tails_dirty.is_empty() {
            return Ok(());
        }
        let mut builders = self.track_builders.lock().unwrap_or_else(|e| e.into_inner());
        let mut table = self.txn.open_table(TRACK_TAILS).context("writing track tails")?;
        for capture in std::mem::take(&mut self.tails_dirty) {
            let Some(builder) = builders.get_mut(&capture) else {
                continue;
            };
            if builder.tail_due() {
                if let Some(tail) = builder.tail() {
                    table.insert(capture, tail.as_slice()).context("writing track tails")?;
                    builder.tail_stored();
                }
            } else if builder.tail().is_none() {
                // A group completed, or the builder cannot go on: no tail.
                table.remove(capture).context("writing track tails")?;
            }
        }
        Ok(())
    }
}
