//! The stored record of a snap's metadata (M10): an rkyv archive of a
//! description, a timestamp and the schedule parent.

use rkyv::{Archive, Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::snaps::SnapMeta;

#[derive(Archive, Serialize, Deserialize, Debug, Default, PartialEq)]
struct SnapRecord {
    description: String,
    timestamp_ns: Option<i64>,
    fork_of: Option<i64>,
}

/// Serializes the metadata of one snap.
pub(crate) fn encode(meta: &SnapMeta) -> Vec<u8> {
    let record = SnapRecord {
        description: meta.description.clone(),
        timestamp_ns: meta.timestamp_ns,
        fork_of: meta.fork_of,
    };
    match rkyv::to_bytes::<rkyv::rancor::Error>(&record) {
        Ok(bytes) => bytes.into_vec(),
        // Serializing a string and two integers into memory has no failure path.
        Err(e) => unreachable!("serializing snap metadata failed: {e}"),
    }
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
