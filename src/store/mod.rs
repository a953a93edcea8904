//! Private storage layers: the redb schema, granule-history chunks, the change
//! index, snap metadata, register map and region records, and the read and
//! write stores over them. Nothing here calls up into the public layer (it
//! encodes the public layer's plain data types).

pub(crate) mod boundary;
mod bulk;
pub(crate) mod busmap;
pub(crate) mod cache;
pub(crate) mod changes;
pub(crate) mod check;
pub(crate) mod chunk;
pub(crate) mod chunk_index;
pub(crate) mod compact;
pub(crate) mod convert;
pub(crate) mod delta_cursor;
pub(crate) mod events;
mod history;
pub(crate) mod images;
pub(crate) mod ops;
pub(crate) mod packed;
mod reader;
pub(crate) mod regions;
pub(crate) mod regmap;
pub(crate) mod schema;
pub(crate) mod snaps;
pub(crate) mod tracks;
mod writer;

pub(crate) use chunk::Mask;
pub(crate) use history::StoreRead;
pub(crate) use reader::ReadStore;
pub use writer::RetentionReport;
pub(crate) use writer::{DEFAULT_MAX_CHUNK_DELTAS, Observation, TrackBuilders, WriteStore};
