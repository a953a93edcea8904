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

/// Fills the fork index `forks` from every record of `snaps` (a file
/// written before the index, or a new file's copy of another's snaps).
pub(crate) fn build_fork_index(
    snaps: &impl redb::ReadableTable<i64, &'static [u8]>,
    forks: &mut redb::Table<'_, i64, i64>,
) -> Result<u64> {
    use crate::vocab::error::StorageContext;
    let mut n = 0;
    for entry in snaps.iter().context("indexing forks")? {
        let (key, value) = entry.context("indexing forks")?;
        let snap = key.value();
        if let Some(parent) = decode(snap, value.value())?.fork_parent(snap) {
            forks.insert(snap, parent).context("indexing forks")?;
            n += 1;
        }
    }
    Ok(n)
}

/// The most recent fork in `lo..=hi` from the fork index: `(snap, parent)`.
pub(crate) fn latest_fork_in(
    forks: &impl redb::ReadableTable<i64, i64>,
    lo: i64,
    hi: i64,
) -> Result<Option<(i64, i64)>> {
    use crate::vocab::error::StorageContext;
    match forks.range(lo..=hi).context("reading the fork index")?.next_back() {
        Some(entry) => {
            let (snap, parent) = entry.context("reading the fork index")?;
            Ok(Some((snap.value(), parent.value())))
        }
        None => Ok(None),
    }
}
