//! The redb schema: table definitions, key layouts, the stored format
//! version, and the checks made when a file is opened.
//!
//! Keys are redb tuples of fixed-width integers, which redb encodes
//! little-endian and orders numerically (negative `i64` first), but for the
//! history chunks' [`ChunkKey`], whose bytes compare as the numbers do, so
//! that "the chunk at or before snap `s`" is one reverse seek within one
//! leaf. `store::convert` brings a file of an older format to this one.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use crate::vocab::error::{Error, Result, StorageContext};

/// The format this build writes. Bump on every incompatible change.
pub(crate) const FORMAT_VERSION: u32 = 3;

/// Format 1's history chunks: the same records under little-endian tuple
/// keys, in a table of that name; an upgrade moves them to [`CHUNKS`].
pub(crate) const CHUNKS_FORMAT_1: TableDefinition<(u32, u64, i64), &[u8]> = TableDefinition::new("granule_chunks");

/// The magic value stored under [`META_MAGIC`].
pub(crate) const MAGIC: &[u8] = b"tracemem";

/// Key of the magic value in [`META`].
pub(crate) const META_MAGIC: &str = "magic";
/// Key of the format version (u32 LE) in [`META`].
pub(crate) const META_FORMAT: &str = "format_version";
/// Key of the block size (u32 LE) in [`META`].
pub(crate) const META_BLOCK_SIZE: &str = "block_size";

/// Key of the journal's folded-through mark (u64 LE) in [`META`]: every
/// journal record up to it is in the database.
pub(crate) const META_JOURNAL_MARK: &str = "journal_folded";

/// Database-wide settings: name -> value bytes.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Space name -> space id.
pub(crate) const SPACE_IDS: TableDefinition<&str, u32> = TableDefinition::new("space_ids");
/// Space id -> space name.
pub(crate) const SPACE_NAMES: TableDefinition<u32, &str> = TableDefinition::new("space_names");
/// (space id, granule number, first snap) -> history chunk (see `chunk.rs`).
/// Since format 2; format 1 kept them in [`CHUNKS_FORMAT_1`].
pub(crate) const CHUNKS: TableDefinition<ChunkKey, &[u8]> = TableDefinition::new(CHUNKS_TABLE);

/// The key of the history chunks' table ([`CHUNKS_TABLE`]): (space id,
/// granule number, first snap), stored as 20 big-endian bytes that order as
/// the tuple does when compared as bytes (the snap with its sign bit
/// flipped). Between two leaves redb's branches
/// keep the greatest key before the right leaf's first, so the reverse seek
/// of a point read ("the chunk at or before snap `s`") lands in the leaf
/// that holds its answer and never steps back into the one before.
#[derive(Debug)]
pub struct ChunkKey;

/// The name of the history chunks' table.
pub const CHUNKS_TABLE: &str = "history_chunks";

/// Bytes of a [`ChunkKey`].
const CHUNK_KEY_BYTES: usize = 20;

impl redb::Value for ChunkKey {
    type SelfType<'a> = (u32, u64, i64);
    type AsBytes<'a> = [u8; CHUNK_KEY_BYTES];

    fn fixed_width() -> Option<usize> {
        Some(CHUNK_KEY_BYTES)
    }

    fn from_bytes<'a>(data: &'a [u8]) -> (u32, u64, i64)
    where
        Self: 'a,
    {
        // redb hands out only keys of the fixed width; any other reads as the
        // least key rather than panicking (and fails the range checks).
        let (space, granule, snap) = key_words(data).unwrap_or((0, 0, 0));
        (space, granule, (snap ^ SIGN_BIT) as i64)
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a (u32, u64, i64)) -> [u8; CHUNK_KEY_BYTES]
    where
        Self: 'b,
    {
        let mut bytes = [0u8; CHUNK_KEY_BYTES];
        bytes[..4].copy_from_slice(&value.0.to_be_bytes());
        bytes[4..12].copy_from_slice(&value.1.to_be_bytes());
        bytes[12..].copy_from_slice(&((value.2 as u64) ^ SIGN_BIT).to_be_bytes());
        bytes
    }

    fn type_name() -> redb::TypeName {
        redb::TypeName::new("tracemem::ChunkKey")
    }
}

/// A stored [`ChunkKey`] as three big-endian words, ordered as its bytes.
#[inline]
fn key_words(data: &[u8]) -> Option<(u32, u64, u64)> {
    let bytes: &[u8; CHUNK_KEY_BYTES] = data.try_into().ok()?;
    let (space, rest) = bytes.split_first_chunk::<4>()?;
    let (granule, snap) = rest.split_first_chunk::<8>()?;
    Some((
        u32::from_be_bytes(*space),
        u64::from_be_bytes(*granule),
        u64::from_be_bytes(snap.first_chunk::<8>().copied()?),
    ))
}

/// Flipping it orders an `i64`'s big-endian bytes as the number.
const SIGN_BIT: u64 = 1 << 63;

impl redb::Key for ChunkKey {
    fn compare(data1: &[u8], data2: &[u8]) -> std::cmp::Ordering {
        // As big-endian numbers, which is how the bytes compare: three loads
        // instead of a call to `memcmp`.
        match (key_words(data1), key_words(data2)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => data1.cmp(data2),
        }
    }

    /// The greatest key before `right`: a seek for any key below the right
    /// leaf's first goes to the left leaf (redb's default, `left`, sends the
    /// keys between the two leaves right).
    fn separator<'a>(left: &'a [u8], right: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let mut key = right.to_vec();
        // `right` is greater than `left`, so not all zeros: the borrow stops.
        for byte in key.iter_mut().rev() {
            let (less, borrowed) = byte.overflowing_sub(1);
            *byte = less;
            if !borrowed {
                break;
            }
        }
        if key.len() != left.len() || key.as_slice() < left {
            return std::borrow::Cow::Borrowed(left);
        }
        std::borrow::Cow::Owned(key)
    }
}
/// (space id, snap bucket) -> what changed at each snap of the bucket (see `changes.rs`).
pub(crate) const CHANGES: TableDefinition<(u32, i64), &[u8]> = TableDefinition::new("changes");
/// snap -> snapshot metadata (see `snaps.rs`).
pub(crate) const SNAPS: TableDefinition<i64, &[u8]> = TableDefinition::new("snaps");
/// Optional (added within format 3): the index of forks, snap -> the snap it
/// is forked from, for each snap whose metadata forks it
/// (`SnapMeta::fork_parent`). A file without it is read by scanning `snaps`.
pub(crate) const SNAP_FORKS: TableDefinition<i64, i64> = TableDefinition::new("snap_forks");
/// Capture name -> capture id.
pub(crate) const CAPTURE_IDS: TableDefinition<&str, u32> = TableDefinition::new("capture_ids");
/// Capture id -> capture record (see `events.rs`).
pub(crate) const CAPTURES: TableDefinition<u32, &[u8]> = TableDefinition::new("captures");
/// (capture id, first sequence number) -> event chunk (see `events.rs`).
pub(crate) const EVENTS: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("events");

/// Key of the retention horizon in [`META`] (i64 LE): the first snap whose
/// history is kept, once retention has dropped the history before it.
pub(crate) const META_HORIZON: &str = "horizon";

/// The key in [`META`] of capture `capture`'s horizon (u64 LE): the sequence
/// number of its first event kept.
pub(crate) fn capture_horizon_key(capture: u32) -> String {
    format!("{META_HORIZON}.{capture}")
}

/// Decodes a horizon stored under `key` (8 bytes, little-endian).
pub(crate) fn decode_horizon(key: &str, value: Option<Vec<u8>>) -> Result<Option<[u8; 8]>> {
    value
        .map(|bytes| {
            <[u8; 8]>::try_from(bytes.as_slice())
                .map_err(|_| Error::corrupt(format!("meta table, '{key}'"), "not 8 bytes"))
        })
        .transpose()
}

/// Key of the register-tracks switch in [`META`]: present (one byte, 1)
/// when the writer keeps register tracks (`store::tracks`).
pub(crate) const META_EVENT_TRACKS: &str = "event_tracks";
/// Key of the register scope (one byte: 0 per thread, 1 per frame) in
/// [`META`]; absent means per thread.
pub(crate) const META_REGISTER_SCOPE: &str = "register_scope";
/// Register name -> register definition (see `regmap.rs`). Optional: a file
/// without it has no register map.
pub(crate) const REGISTER_MAP: TableDefinition<&str, &[u8]> = TableDefinition::new("register_map");
/// Optional (added within format 3): a bus's register map, (space id,
/// address) -> a register record (`store::busmap`).
pub(crate) const BUS_REGISTERS: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("bus_registers");
/// Optional (added within format 3): register tracks, (capture id, address,
/// first sequence number of a group of events) -> a track record
/// (`store::tracks`).
pub(crate) const EVENT_TRACKS: TableDefinition<(u32, u64, u64), &[u8]> = TableDefinition::new("event_tracks");
/// Optional (added within format 3): capture id -> the tracks of the events
/// of its last, unfinished group so far (`store::tracks`).
pub(crate) const TRACK_TAILS: TableDefinition<u32, &[u8]> = TableDefinition::new("track_tails");
/// Optional (added within format 3): the tracked groups of events, (capture
/// id, first sequence number of the group) -> a group mark (`store::tracks`).
pub(crate) const TRACK_GROUPS: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("track_groups");
/// (space id, region name, first snap) -> region record (see `regions.rs`).
/// Optional: a file without it has no regions.
pub(crate) const REGIONS: TableDefinition<(u32, &str, i64), &[u8]> = TableDefinition::new("regions");

/// Whether the file of write transaction `txn` has table `name`.
pub(crate) fn has_write_table(txn: &redb::WriteTransaction, name: &str) -> Result<bool> {
    Ok(txn
        .list_tables()
        .context("listing tables")?
        .any(|t| TableHandle::name(&t) == name))
}

/// Smallest and largest block sizes a database may be created with.
pub(crate) const MIN_BLOCK_SIZE: u32 = 256;
pub(crate) const MAX_BLOCK_SIZE: u32 = 65536;

/// Writes the metadata of a new database and creates every table.
pub(crate) fn initialize(txn: &redb::WriteTransaction, block_size: u32) -> Result<()> {
    let mut meta = txn.open_table(META).context("creating tables")?;
    meta.insert(META_MAGIC, MAGIC).context("writing metadata")?;
    meta.insert(META_FORMAT, FORMAT_VERSION.to_le_bytes().as_slice())
        .context("writing metadata")?;
    meta.insert(META_BLOCK_SIZE, block_size.to_le_bytes().as_slice())
        .context("writing metadata")?;
    txn.open_table(SPACE_IDS).context("creating tables")?;
    txn.open_table(SPACE_NAMES).context("creating tables")?;
    txn.open_table(CHUNKS).context("creating tables")?;
    txn.open_table(CHANGES).context("creating tables")?;
    txn.open_table(SNAPS).context("creating tables")?;
    txn.open_table(CAPTURE_IDS).context("creating tables")?;
    txn.open_table(CAPTURES).context("creating tables")?;
    txn.open_table(EVENTS).context("creating tables")?;
    txn.open_table(REGISTER_MAP).context("creating tables")?;
    txn.open_table(REGIONS).context("creating tables")?;
    txn.open_table(BUS_REGISTERS).context("creating tables")?;
    Ok(())
}

/// What [`validate`] found in a file's metadata.
pub(crate) struct Validated {
    pub block_size: u32,
    /// The stored format version (at most [`FORMAT_VERSION`]).
    pub format: u32,
}

/// The `meta` key of the journal mark of journal slot `slot`:
/// `journal_folded` for slot 0, `journal_folded.<slot>` for the others.
pub(crate) fn journal_mark_key(slot: u32) -> String {
    match slot {
        0 => META_JOURNAL_MARK.to_string(),
        _ => format!("{META_JOURNAL_MARK}.{slot}"),
    }
}

/// The journal sequence number the database has folded the journal of slot
/// `slot` through (0: none), read from its metadata (little-endian u64).
pub(crate) fn journal_mark(db: &impl ReadableDatabase, slot: u32) -> Result<u64> {
    let txn = db.begin_read().context("reading metadata")?;
    let meta = txn.open_table(META).context("reading metadata")?;
    let key = journal_mark_key(slot);
    let value = meta.get(key.as_str()).context("reading metadata")?;
    decode_journal_mark(&key, value.as_ref().map(|v| v.value()))
}

/// The journal mark stored under `key` as `value` (none: 0), checked.
pub(crate) fn decode_journal_mark(key: &str, value: Option<&[u8]>) -> Result<u64> {
    match value {
        None => Ok(0),
        Some(bytes) => {
            let arr: [u8; 8] = bytes
                .try_into()
                .map_err(|_| Error::corrupt(format!("meta table, '{key}'"), "not 8 bytes"))?;
            Ok(u64::from_le_bytes(arr))
        }
    }
}

/// Checks that an opened redb file is a tracemem database this build reads
/// (of an older format only if `upgradable`: the source of an upgrade), and
/// returns its block size and format.
pub(crate) fn validate(db: &impl ReadableDatabase, path: &Path, upgradable: bool) -> Result<Validated> {
    validate_metadata(db, path, upgradable).map_err(|e| damage_on_open(path, e))
}

/// A metadata read that runs past the end of the file or finds its pages
/// inconsistent is damage (a truncated or overwritten file), named by the
/// file: [`Error::Corrupt`], not a storage failure.
fn damage_on_open(path: &Path, error: Error) -> Error {
    let Error::Storage { context, source } = &error else {
        return error;
    };
    let damaged = match source.as_ref() {
        redb::Error::Io(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        redb::Error::Corrupted(_) => true,
        _ => false,
    };
    if damaged {
        Error::corrupt(path.display().to_string(), format!("{context}: {source}"))
    } else {
        error
    }
}

fn validate_metadata(db: &impl ReadableDatabase, path: &Path, upgradable: bool) -> Result<Validated> {
    let not_ours = |detail: &str| Error::NotADatabase {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    let txn = db.begin_read().context("reading metadata")?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Err(not_ours("a redb file without tracemem's metadata table"));
        }
        Err(redb::TableError::TableTypeMismatch { .. }) => {
            return Err(not_ours("a redb file whose 'meta' table is of another type"));
        }
        Err(e) => return Err(Error::storage("reading metadata", e)),
    };
    let get = |key: &str| -> Result<Option<Vec<u8>>> {
        Ok(meta.get(key).context("reading metadata")?.map(|v| v.value().to_vec()))
    };
    if get(META_MAGIC)?.as_deref() != Some(MAGIC) {
        return Err(not_ours("no tracemem magic in its metadata"));
    }
    let u32_field = |key: &str| -> Result<u32> {
        let bytes = get(key)?
            .ok_or_else(|| Error::corrupt(path.display().to_string(), format!("metadata '{key}' is missing")))?;
        let arr: [u8; 4] = bytes.as_slice().try_into().map_err(|_| {
            Error::corrupt(
                path.display().to_string(),
                format!("metadata '{key}' is {} bytes, not 4", bytes.len()),
            )
        })?;
        Ok(u32::from_le_bytes(arr))
    };
    let found = u32_field(META_FORMAT)?;
    if found < FORMAT_VERSION && !upgradable {
        return Err(Error::OlderFormat {
            path: path.to_path_buf(),
            found,
            current: FORMAT_VERSION,
        });
    }
    if found > FORMAT_VERSION {
        return Err(Error::NewerFormat {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    if found == 0 {
        return Err(Error::corrupt(path.display().to_string(), "format version 0"));
    }
    let block_size = u32_field(META_BLOCK_SIZE)?;
    if !valid_block_size(u64::from(block_size)) {
        return Err(Error::corrupt(
            path.display().to_string(),
            format!("stored block size {block_size} is not a power of two from 256 to 65536"),
        ));
    }
    let chunks = match found {
        1 => CHUNKS_FORMAT_1.name(),
        _ => CHUNKS.name(),
    };
    for table in [
        SPACE_IDS.name(),
        SPACE_NAMES.name(),
        chunks,
        CHANGES.name(),
        SNAPS.name(),
        CAPTURE_IDS.name(),
        CAPTURES.name(),
        EVENTS.name(),
    ] {
        let exists = txn
            .list_tables()
            .context("listing tables")?
            .any(|t| TableHandle::name(&t) == table);
        if !exists {
            return Err(Error::corrupt(
                path.display().to_string(),
                format!("table '{table}' is missing"),
            ));
        }
    }
    Ok(Validated {
        block_size,
        format: found,
    })
}

/// Whether `value` is an allowed block size.
pub(crate) fn valid_block_size(value: u64) -> bool {
    value.is_power_of_two() && (u64::from(MIN_BLOCK_SIZE)..=u64::from(MAX_BLOCK_SIZE)).contains(&value)
}

/// Reads every (id, name) of the spaces table.
pub(crate) fn list_spaces(table: &impl ReadableTable<u32, &'static str>) -> Result<Vec<(u32, String)>> {
    let mut out = Vec::new();
    for entry in table.iter().context("listing spaces")? {
        let (id, name) = entry.context("listing spaces")?;
        out.push((id.value(), name.value().to_string()));
    }
    Ok(out)
}

/// How much of the file one table takes ([`Database::table_usage`](crate::Database::table_usage)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableUsage {
    /// The table's name (FORMAT.md).
    pub name: String,
    /// Its entries.
    pub entries: u64,
    /// Bytes of its keys and values.
    pub stored_bytes: u64,
    /// Bytes of B-tree structure and of unused space in its pages.
    pub overhead_bytes: u64,
    /// Pages of its B-tree.
    pub pages: u64,
}

/// Entries, stored bytes and pages of every table of `txn`.
pub(crate) fn table_usage(txn: &redb::ReadTransaction) -> Result<Vec<TableUsage>> {
    use redb::ReadableTableMetadata;
    let mut out = Vec::new();
    for handle in txn.list_tables().context("listing tables")? {
        let name = handle.name().to_string();
        let table = txn.open_untyped_table(handle).context("opening a table")?;
        let stats = table.stats().context("reading table statistics")?;
        out.push(TableUsage {
            entries: table.len().context("reading table statistics")?,
            stored_bytes: stats.stored_bytes(),
            overhead_bytes: stats.metadata_bytes() + stats.fragmented_bytes(),
            pages: stats.leaf_pages() + stats.branch_pages(),
            name,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use redb::{Key, Value};

    use super::ChunkKey;

    /// Keys spread over the edges that matter: equal fields, negative snaps, the extremes.
    fn key() -> impl Strategy<Value = (u32, u64, i64)> {
        (
            prop_oneof![Just(0u32), Just(1), Just(u32::MAX), any::<u32>()],
            prop_oneof![Just(0u64), Just(7), Just(u64::MAX), any::<u64>()],
            prop_oneof![Just(0i64), Just(-1), Just(i64::MIN), Just(i64::MAX), any::<i64>()],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The stored bytes round-trip and order as the tuple does.
        #[test]
        fn chunk_keys_order_as_their_tuples(a in key(), b in key()) {
            let (x, y) = (ChunkKey::as_bytes(&a), ChunkKey::as_bytes(&b));
            prop_assert_eq!(ChunkKey::from_bytes(&x), a);
            prop_assert_eq!(ChunkKey::compare(&x, &y), a.cmp(&b));
            prop_assert_eq!(x.as_slice().cmp(y.as_slice()), a.cmp(&b));
        }

        /// A separator lies in `[left, right)`, and is the greatest key there.
        #[test]
        fn chunk_key_separators_are_the_greatest_key_before_the_right(a in key(), b in key()) {
            prop_assume!(a != b);
            let (left, right) = if a < b { (a, b) } else { (b, a) };
            let (l, r) = (ChunkKey::as_bytes(&left), ChunkKey::as_bytes(&right));
            let separator = ChunkKey::separator(&l, &r);
            prop_assert!(ChunkKey::compare(&separator, &l).is_ge());
            prop_assert!(ChunkKey::compare(&separator, &r).is_lt());
            // Nothing lies between it and `right`: it is `right`'s predecessor.
            let s = ChunkKey::from_bytes(&separator);
            let next = match s.2.checked_add(1) {
                Some(snap) => (s.0, s.1, snap),
                None => match s.1.checked_add(1) {
                    Some(granule) => (s.0, granule, i64::MIN),
                    None => (s.0 + 1, 0, i64::MIN),
                },
            };
            prop_assert_eq!(next, right);
        }
    }
}
