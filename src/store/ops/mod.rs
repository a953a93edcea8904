//! The store's address-level operations: what the layers above ask of a
//! space (read, write, state runs, find, diff, changes) in addresses and
//! snaps. Granules, chunks and images stay below this line.

pub(crate) mod diff;
pub(crate) mod event_log;
pub(crate) mod find;
pub(crate) mod read;
pub(crate) mod states;
pub(crate) mod write;
