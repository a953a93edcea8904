//! Retention: bounding a database by dropping its oldest history while
//! recording goes on. [`WriteTransaction::drop_history_before`] moves the
//! database's horizon; what follows it answers exactly as before, and what
//! precedes it is an error naming the horizon ([`Error::BeforeHorizon`],
//! [`Error::EventBeforeHorizon`]), never silently wrong bytes. Snaps and
//! sequence numbers never renumber.

use std::time::Duration;

use crate::db::capture::{capture_of, event_snap, seq_from_snap, timeline_end};
use crate::db::{ReadTransaction, WriteTransaction};
use crate::store::RetentionReport;
use crate::store::StoreRead;
use crate::store::boundary::{guard, guard_write};
use crate::vocab::error::{Error, Result};
use crate::vocab::types::Snap;

impl WriteTransaction {
    /// Drops everything recorded before snap `horizon`: each space keeps its
    /// state as of `horizon` as a checkpoint (so every read at or after the
    /// horizon answers as before, source snaps included), each capture
    /// keeps its events from the first at or after the horizon (whole event
    /// chunks of 4096 before it go; the rest of that chunk is kept but
    /// reads as dropped), and reads before it fail naming it. The horizon
    /// only moves forward, at most to the end of the timeline; scratch
    /// snaps (negative) are never dropped.
    pub fn drop_history_before(&mut self, horizon: Snap) -> Result<RetentionReport> {
        guard_write(
            self,
            &|| format!("dropping the history before snap {horizon}"),
            |this| {
                let current = this.store.horizon()?;
                let end = timeline_end(&this.store)?;
                if horizon < 0 || horizon > end || current.is_some_and(|c| horizon < c) {
                    return Err(Error::InvalidArgument {
                        argument: "horizon",
                        reason: format!(
                            "snap {horizon} is not in {}..={end} (from the current horizon to the timeline's end)",
                            current.unwrap_or(0)
                        ),
                    });
                }
                if current == Some(horizon) {
                    return Ok(RetentionReport::default());
                }
                let mut kept = Vec::new();
                for (id, record) in this.store.captures()? {
                    kept.push((id, seq_from_snap(&this.store, id, &record, horizon)?));
                }
                this.store.drop_history_before(horizon, &kept)
            },
        )
    }
}

/// The fewest events a capture may keep: one event chunk, the unit
/// retention drops.
pub const MIN_KEEP_EVENTS: u64 = 4096;

/// The smallest size bound: the journal takes an eighth of the bound, and
/// the rest must hold a useful history.
pub const MIN_MAX_SIZE: u64 = 8 << 20;

/// How a recorder bounds its database: when a bound is passed, the oldest
/// history is dropped while recording goes on. Several bounds may be set;
/// the tightest one drops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// The most bytes the database file and its journal may take. Retention
    /// keeps the pages redb uses under a quarter of what the journal leaves,
    /// since redb grows a file by doubling it and a commit needs room for
    /// its new pages beside the old.
    pub max_size: Option<u64>,
    /// The most events the capture keeps (at least [`MIN_KEEP_EVENTS`]).
    pub keep_events: Option<u64>,
    /// How far back from its last event, on its own clock, the capture
    /// keeps events.
    pub keep_time: Option<Duration>,
}

impl Retention {
    /// Whether any bound is set.
    pub fn is_bounded(&self) -> bool {
        self.max_size.is_some() || self.keep_events.is_some() || self.keep_time.is_some()
    }

    /// Checks the bounds before recording starts: each must hold at least
    /// one unit of history.
    pub fn validate(&self) -> Result<()> {
        if let Some(n) = self.keep_events
            && n < MIN_KEEP_EVENTS
        {
            return Err(Error::InvalidArgument {
                argument: "keep-events",
                reason: format!(
                    "{n} events is less than one unit of retention ({MIN_KEEP_EVENTS} events, an event chunk)"
                ),
            });
        }
        if let Some(bytes) = self.max_size
            && bytes < MIN_MAX_SIZE
        {
            return Err(Error::InvalidArgument {
                argument: "max-size",
                reason: format!(
                    "{bytes} bytes cannot hold a journal (an eighth of the bound) and a history; the least is {MIN_MAX_SIZE} (8 MiB)"
                ),
            });
        }
        if self.keep_time.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidArgument {
                argument: "keep",
                reason: "a zero duration keeps nothing".into(),
            });
        }
        Ok(())
    }

    /// The journal capacity that fits the size bound: at most an eighth of it.
    pub fn journal_capacity(&self, wanted: u64) -> u64 {
        self.max_size.map_or(wanted, |bytes| wanted.min(bytes / 8))
    }
}

/// The `meta` key of the bounds capture `capture`'s recorder records under.
fn bounds_key(capture: u32) -> String {
    format!("retention.{capture}")
}

impl Retention {
    /// The stored form: max_size, keep_events and keep_time in nanoseconds,
    /// each u64 LE, 0 for none.
    fn to_bytes(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.max_size.unwrap_or(0).to_le_bytes());
        out[8..16].copy_from_slice(&self.keep_events.unwrap_or(0).to_le_bytes());
        let nanos = self
            .keep_time
            .map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        out[16..].copy_from_slice(&nanos.to_le_bytes());
        out
    }

    fn from_bytes(key: &str, bytes: &[u8]) -> Result<Retention> {
        let field = |i: usize| -> Result<Option<u64>> {
            let word: [u8; 8] = bytes
                .get(8 * i..8 * i + 8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| Error::corrupt(format!("meta table, '{key}'"), "not 24 bytes"))?;
            Ok(Some(u64::from_le_bytes(word)).filter(|&v| v != 0))
        };
        Ok(Retention {
            max_size: field(0)?,
            keep_events: field(1)?,
            keep_time: field(2)?.map(Duration::from_nanos),
        })
    }
}

impl WriteTransaction {
    /// Stores the bounds capture `capture` records under, so that replaying
    /// its journal after a crash applies them too.
    pub(crate) fn store_bounds(&mut self, capture: &str, retention: &Retention) -> Result<()> {
        let (id, _) = capture_of(&self.store, capture)?;
        self.store.set_meta_value(&bounds_key(id), &retention.to_bytes())
    }

    /// Applies the stored bounds of capture `id`, if its recorder had any:
    /// after its journal is replayed.
    pub(crate) fn retain_stored(&mut self, id: u32) -> Result<()> {
        let key = bounds_key(id);
        let Some(bytes) = self.store.meta_value(&key)? else {
            return Ok(());
        };
        let retention = Retention::from_bytes(&key, &bytes)?;
        let name = self.capture_name(id)?;
        self.retain(&name, &retention).map(|_| ())
    }

    /// One retention step for capture `capture` under `retention`, in this
    /// transaction (so a crash leaves the old horizon or the new one): when
    /// a bound is passed, drops the oldest history, in whole steps of an
    /// eighth of what the bound keeps (for the size bound, a quarter to
    /// three quarters of the kept events, the more the further past it),
    /// so that a step is rare. A recorder commits a step on its own, after
    /// the commit that appends events, so that it reuses the pages that
    /// commit freed. The new horizon is the snap of an event that starts an
    /// event chunk (a track group with register tracks), so the capture's
    /// events before it go whole. Returns what it dropped.
    pub fn retain(&mut self, capture: &str, retention: &Retention) -> Result<Option<RetentionReport>> {
        let (id, record) = capture_of(&self.store, capture)?;
        let first_kept = self.store.capture_horizon(id)?;
        let kept = record.events.saturating_sub(first_kept);
        let mut target = first_kept;
        if let Some(n) = retention.keep_events {
            let slack = (n / 8).max(MIN_KEEP_EVENTS);
            if kept > n + slack {
                target = target.max(record.events - n);
            }
        }
        if let Some(keep) = retention.keep_time
            && kept > 0
        {
            let read = |seq: u64| -> Result<f64> {
                let events = crate::db::capture::read_events(&self.store, capture, seq..seq + 1, None)?;
                Ok(events.first().map_or(0.0, |e| e.timestamp))
            };
            let last = read(record.events - 1)?;
            let oldest = read(first_kept)?;
            let keep = keep.as_secs_f64();
            if last - oldest > keep * 1.125 {
                // The first event within `keep` of the last: a binary search.
                let (mut lo, mut hi) = (first_kept, record.events - 1);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if last - read(mid)? > keep {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                target = target.max(lo);
            }
        }
        let mut over_size = false;
        if let Some(bytes) = retention.max_size {
            let budget = (bytes - retention.journal_capacity(bytes)) / 4;
            let allocated = self.store.allocated_bytes()?;
            if allocated > budget && kept >= 2 * MIN_KEEP_EVENTS {
                // The further past the budget, the more goes: a quarter of
                // the kept events at least, three quarters at most.
                let fraction = (2.0 * (allocated - budget) as f64 / allocated as f64).clamp(0.25, 0.75);
                target = target.max(first_kept + (kept as f64 * fraction) as u64);
                over_size = true;
            }
        }
        // The new first kept event starts a unit (an event chunk, or a track
        // group), so no event before the horizon shares one with a kept
        // event: rounded down, keeping at least what the bounds keep; up when
        // the size bound needs a step that rounding down would not make.
        let unit = self.store.retention_unit()?;
        let down = target - target % unit;
        let up = target.div_ceil(unit) * unit;
        target = if down > first_kept {
            down
        } else if over_size && up > first_kept && up < record.events {
            up
        } else {
            return Ok(None);
        };
        let Some(horizon) = event_snap(&self.store, id, &record, target)? else {
            return Ok(None);
        };
        self.drop_history_before(horizon).map(Some)
    }
}

impl ReadTransaction {
    /// The retention horizon: the first snap whose history is kept, once
    /// retention has dropped the history before it (`None`: nothing was
    /// ever dropped).
    pub fn horizon(&self) -> Result<Option<Snap>> {
        guard(&|| "the horizon".to_string(), || self.store.horizon())
    }
}
