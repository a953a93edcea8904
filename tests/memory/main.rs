//! The memory contract and the layers on it: the contract's exact cases, every operation against an in-memory model (property tests), views through forks, registers, regions, and kept images.
//!
//! One test binary; each module was a test file of its own.

#[path = "../common/model.rs"]
mod model;

mod chunk_index;
mod contract;
mod kept_images;
mod prop_memory;
mod prop_views;
mod regions;
mod registers;
mod views;
