//! The transactions' view methods: the viewport of a snap (see
//! [`crate::views`]).

use crate::memory::views::viewport_in;
use crate::store::boundary::{guard, guard_in};
use crate::vocab::error::Result;
use crate::vocab::types::{Lifespan, Snap};

impl super::ReadTransaction {
    /// The viewport of `snap`: the snap ranges view reads at `snap` look
    /// through, newest first (see [`crate::memory::views`]).
    pub fn viewport(&self, snap: Snap) -> Result<Vec<Lifespan>> {
        guard(&|| "viewport".to_string(), || viewport_in(&self.store, snap))
    }
}

impl super::WriteTransaction {
    /// The viewport of `snap`, including this transaction's snap metadata
    /// (see [`crate::memory::views`]).
    pub fn viewport(&self, snap: Snap) -> Result<Vec<Lifespan>> {
        guard_in(Some(&self.store), &|| "viewport".to_string(), || {
            viewport_in(&self.store, snap)
        })
    }
}
