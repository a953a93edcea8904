//! The stored record of a snap's metadata (M10): an rkyv archive of a
//! description, a timestamp and the schedule parent.

use rkyv::{Archive, Deserialize, Serialize};

use crate::vocab::error::{Error, Result};
use crate::vocab::snaps::SnapMeta;

#[derive(Archive, Serialize, Deserialize, Debug, Default, PartialEq)]
struct SnapRecord {
    description: String,
    timestamp_ns: Option<i64>,
    fork_of: Option<i64>,
}

/// Serializes the metadata of one snap.
pub(crate) fn encode(meta: &SnapMeta) -> Result<Vec<u8>> {
    let record = SnapRecord {
        description: meta.description.clone(),
        timestamp_ns: meta.timestamp_ns,
        fork_of: meta.fork_of,
    };
    // The only failure is a description past the format's 32-bit lengths.
    rkyv::to_bytes::<rkyv::rancor::Error>(&record)
        .map(|bytes| bytes.into_vec())
        .map_err(|_| Error::TooLarge {
            what: "a snap description",
            len: meta.description.len() as u64,
        })
}

/// Deserializes the metadata of `snap`, checked.
pub(crate) fn decode(snap: i64, bytes: &[u8]) -> Result<SnapMeta> {
    let record = rkyv::from_bytes::<SnapRecord, rkyv::rancor::Error>(bytes).map_err(|e| {
        Error::corrupt(
            format!("snaps table, snap {snap}"),
            format!("undecodable metadata: {e}"),
        )
    })?;
    Ok(SnapMeta {
        description: record.description,
        timestamp_ns: record.timestamp_ns,
        fork_of: record.fork_of,
    })
}
