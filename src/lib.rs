//! tracemem is a persistent, embedded database engine for time-travel memory
//! traces: it stores what a target's memory held over time and answers "what
//! were these bytes at snap T" with bounded work however long the trace.
//!
//! A [`Database`] holds named address *spaces* with 64-bit addresses. Each
//! write transaction records observations at *snaps* (points in time, `i64`;
//! negative snaps are scratch snaps beside the timeline). Queries return the
//! most recent observation at or before a snap, per byte, with its state:
//! KNOWN, ERROR (a failed read) or UNKNOWN.
//!
//! ```
//! use tracemem::{AddressRange, Database, MemState, MemoryRead};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("trace.tmdb");
//!
//! let db = Database::create(&path)?;
//! let mut txn = db.begin_write()?;
//! let mut ram = txn.create_space("ram")?;
//! ram.put_bytes(10, 0x1000, &[1, 2, 3, 4])?;
//! ram.put_bytes(20, 0x1002, &[0xaa])?;
//! ram.set_state(30, AddressRange::new(0x1000, 0x1003)?, MemState::Error)?;
//! txn.commit()?;
//!
//! let read = db.begin_read()?;
//! let ram = read.space("ram")?;
//! let mut buf = [0u8; 4];
//! assert_eq!(ram.get_bytes(15, 0x1000, &mut buf)?, 4);
//! assert_eq!(buf, [1, 2, 3, 4]);
//! ram.get_bytes(25, 0x1000, &mut buf)?;
//! assert_eq!(buf, [1, 2, 0xaa, 4]);
//! // A failed read at 30 leaves the last known bytes readable...
//! ram.get_bytes(30, 0x1000, &mut buf)?;
//! assert_eq!(buf, [1, 2, 0xaa, 4]);
//! // ...while the state says ERROR, and where it came from.
//! assert_eq!(ram.most_recent_state(35, 0x1002)?, Some((30, MemState::Error)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The module tree is the architecture (ARCHITECTURE.md), layers that only
//! look down: the vocabulary of the contract, the trace formats, the
//! recorder's journal and the sealed storage layer are private; on them sit
//! [`memory`] (the memory operations, with [`views`], [`registers`] and
//! [`regions`]), [`db`] (the database, its transactions, [`capture`]s and
//! [`pack`](mod@pack)) and [`record`] (the recorder and replayer). `FORMAT.md`
//! documents the file format.

#![deny(missing_docs)]

pub mod db;
pub mod export;
mod format;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod journal;
pub mod memory;
pub mod record;
mod store;
mod vocab;
#[cfg(feature = "workloads")]
pub mod workloads;

pub use db::capture::{CaptureInfo, CaptureSpec, DEFAULT_CAPTURE_SPACE, EventFootprint};
pub use db::chunk_index::IndexReport;
pub use db::pack::{PackPhase, PackProgress, PackReport, pack};
pub use db::retention::Retention;
pub use db::timeline::{MAX_TIMELINE_BUCKETS, TimelineBucket, TimelineEvent, TracksReport};
pub use db::upgrade::{UpgradeProgress, UpgradeReport, upgrade};
pub use db::{DEFAULT_BLOCK_SIZE, Database, DatabaseBuilder, ReadTransaction, TableUsage, WriteTransaction};
pub use db::{capture, pack, timeline, upgrade};
pub use memory::regions::{RegionRead, Regions, RegionsMut};
pub use memory::registers::{RegisterRead, Registers, RegistersMut};
pub use memory::views::MemoryView;
pub use memory::{MemoryRead, MemorySpace, MemorySpaceMut, regions, registers, views};
pub use store::RetentionReport;
pub use store::check::CheckReport;
pub use store::chunk_index::index_path as chunk_index_path;
pub use vocab::bus_map::{BusField, BusMap, BusRegister};
pub use vocab::error::{Error, Result};
pub use vocab::region::{Region, RegionFlags};
pub use vocab::register::{MAX_REGISTER_SIZE, RegisterDef, RegisterMap, RegisterScope, RegisterState};
pub use vocab::search::{Direction, FindProgress};
pub use vocab::snaps::SnapMeta;
pub use vocab::trace::{Op, TraceEvent};
pub use vocab::types::{
    AddressRange, FilledRange, Lifespan, MemState, RangeSet, Snap, SourcedStateRun, StatePredicate, StateRun,
};
pub use vocab::{error, snaps, types};

/// The file format version this build writes (see FORMAT.md).
pub const FORMAT_VERSION: u32 = store::schema::FORMAT_VERSION;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
