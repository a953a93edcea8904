//! The vocabulary of the contract: snaps, address ranges, states, events,
//! register and region definitions, search words and errors. Plain data and
//! its rules; no I/O and nothing that knows how it is stored.

pub mod bus_map;
pub mod error;
pub mod region;
pub mod register;
pub mod search;
pub mod snaps;
pub mod trace;
pub mod types;
