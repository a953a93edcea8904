//! The stored record of one region (M12), in explicit little-endian bytes;
//! the key `(space id, name, first snap)` holds the rest:
//!
//! ```text
//! u8  version (1)
//! i64 last snap of the lifespan (>= the key's first snap)
//! u64 first address, u64 last address (first <= last)
//! u8  flags: bit 0 read, 1 write, 2 execute, 3 volatile
//! ```

use redb::ReadableTable;

use crate::vocab::error::{Error, Result, StorageContext};
use crate::vocab::region::RegionFlags;
use crate::vocab::types::{AddressRange, Lifespan, Snap};

const VERSION: u8 = 1;
const LEN: usize = 1 + 8 + 8 + 8 + 1;

/// A region record without its name and space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegionRecord {
    pub lifespan: Lifespan,
    pub range: AddressRange,
    pub flags: RegionFlags,
}

/// Encodes a region record.
pub(crate) fn encode(record: &RegionRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN);
    out.push(VERSION);
    out.extend_from_slice(&record.lifespan.max().to_le_bytes());
    out.extend_from_slice(&record.range.min().to_le_bytes());
    out.extend_from_slice(&record.range.max().to_le_bytes());
    out.push(record.flags.bits());
    out
}

/// Decodes the record of region `name` of `space` starting at `first`, checked.
pub(crate) fn decode(space: u32, name: &str, first: Snap, bytes: &[u8]) -> Result<RegionRecord> {
    let corrupt = |detail: String| {
        Error::corrupt(
            format!("regions table, space {space}, region '{name}' from snap {first}"),
            detail,
        )
    };
    let Ok(array) = <[u8; LEN]>::try_from(bytes) else {
        return Err(corrupt(format!("a record of {} bytes, not {LEN}", bytes.len())));
    };
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&array[at..at + 8]);
        w
    };
    if array[0] != VERSION {
        return Err(corrupt(format!("record version {}, not {VERSION}", array[0])));
    }
    let last = i64::from_le_bytes(word(1));
    let lifespan = Lifespan::new(first, last).map_err(|_| corrupt(format!("a lifespan ending at {last}")))?;
    let (lo, hi) = (u64::from_le_bytes(word(9)), u64::from_le_bytes(word(17)));
    let range = AddressRange::new(lo, hi).map_err(|_| corrupt(format!("a reversed range [{lo:#x}, {hi:#x}]")))?;
    let flags = RegionFlags::from_bits(array[25]).ok_or_else(|| corrupt(format!("unknown flags {:#x}", array[25])))?;
    Ok(RegionRecord { lifespan, range, flags })
}

/// Every (name, first snap, record) of `space` in the regions table, in key order.
pub(crate) fn records_in(
    table: &impl ReadableTable<(u32, &'static str, i64), &'static [u8]>,
    space: u32,
) -> Result<Vec<(String, Snap, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in table.range((space, "", i64::MIN)..).context("reading regions")? {
        let (key, value) = entry.context("reading regions")?;
        let (key_space, name, first) = key.value();
        if key_space != space {
            break;
        }
        out.push((name.to_string(), first, value.value().to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_an_error() {
        let record = RegionRecord {
            lifespan: Lifespan::new(-3, 90).unwrap(),
            range: AddressRange::new(0x1000, 0x1fff).unwrap(),
            flags: RegionFlags::READ | RegionFlags::EXECUTE,
        };
        let bytes = encode(&record);
        assert_eq!(bytes.len(), LEN);
        assert_eq!(bytes[25], 0b101);
        assert_eq!(decode(0, "text", -3, &bytes).unwrap(), record);
        assert!(matches!(decode(0, "text", 91, &bytes), Err(Error::Corrupt { .. })));
        assert!(matches!(decode(0, "text", 0, &bytes[1..]), Err(Error::Corrupt { .. })));
        let mut flags = bytes.clone();
        flags[25] = 0x10;
        assert!(matches!(decode(0, "text", 0, &flags), Err(Error::Corrupt { .. })));
    }
}
