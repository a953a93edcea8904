//! Retention: bounding a database by dropping its oldest history while
//! recording goes on. [`WriteTransaction::drop_history_before`] moves the
//! database's horizon; what follows it answers exactly as before, and what
//! precedes it is an error naming the horizon ([`Error::BeforeHorizon`],
//! [`Error::EventBeforeHorizon`]), never silently wrong bytes. Snaps and
//! sequence numbers never renumber.

use crate::db::capture::seq_from_snap;
use crate::db::{ReadTransaction, WriteTransaction};
use crate::store::RetentionReport;
use crate::store::StoreRead;
use crate::store::boundary::{guard, guard_write};
use crate::vocab::error::{Error, Result};
use crate::vocab::types::Snap;

/// The end of the timeline as captures and stored history know it.
fn timeline_end(store: &dyn StoreRead) -> Result<Snap> {
    let mut end: Snap = 0;
    for (_, capture) in store.captures()? {
        end = end.max(capture.last_snap.saturating_add(1));
    }
    for (space, _) in store.spaces()? {
        if let Some(last) = store.last_timeline_change(space)? {
            end = end.max(last.saturating_add(1));
        }
    }
    Ok(end)
}

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

impl ReadTransaction {
    /// The retention horizon: the first snap whose history is kept, once
    /// retention has dropped the history before it (`None`: nothing was
    /// ever dropped).
    pub fn horizon(&self) -> Result<Option<Snap>> {
        guard(&|| "the horizon".to_string(), || self.store.horizon())
    }
}
