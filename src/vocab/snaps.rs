//! Snaps (points in time, M2) and per-snap metadata (M10): a description,
//! a timestamp and a schedule parent.

/// A point in time. Snaps `>= 0` form the timeline; negative snaps are scratch
/// snaps with no order relation to the timeline (M2).
pub type Snap = i64;

/// What is known about one snap besides its memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapMeta {
    /// A free-form label ("test start", "after reset"); empty for none.
    pub description: String,
    /// Wall time of the snap in nanoseconds since the Unix epoch, if recorded.
    pub timestamp_ns: Option<i64>,
    /// The snap this one was forked from in a schedule (M10), if any.
    pub fork_of: Option<Snap>,
}

impl SnapMeta {
    /// The parent snap `snap` is forked from, when that starts a new range
    /// of its viewport (M10): a parent just before the snap on its side of
    /// the timeline (`p == snap - 1`) forks nothing.
    pub fn fork_parent(&self, snap: Snap) -> Option<Snap> {
        let parent = self.fork_of?;
        // The timeline (snaps >= 0) and the scratch snaps are two sides.
        let notational = snap.checked_sub(1) == Some(parent) && (parent >= 0) == (snap >= 0);
        (!notational).then_some(parent)
    }
}
