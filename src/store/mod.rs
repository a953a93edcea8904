//! Private storage layers: the redb schema, granule-history chunks, the change
//! index, snap metadata, register map and region records, and the read and
//! write stores over them. Nothing here calls up into the public layer (it
//! encodes the public layer's plain data types).

mod bulk;
pub(crate) mod cache;
pub(crate) mod changes;
pub(crate) mod check;
pub(crate) mod chunk;
pub(crate) mod compact;
pub(crate) mod diff;
pub(crate) mod events;
pub(crate) mod find;
mod history;
pub(crate) mod images;
pub(crate) mod packed;
mod reader;
pub(crate) mod regions;
pub(crate) mod regmap;
pub(crate) mod schema;
pub(crate) mod snaps;
mod writer;

pub(crate) use bulk::{for_each_image_span, granule_image};
pub(crate) use chunk::{Edit, FULL_MASK, GRANULE, GranuleImage, ImageSpan, Mask, Need, for_each_piece, mask_has};
pub(crate) use history::{StoreRead, delta_at, last_change_in_block, read_range};
pub(crate) use reader::ReadStore;
pub(crate) use writer::{DEFAULT_MAX_CHUNK_DELTAS, Observation, WriteStore};
