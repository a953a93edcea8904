//! The stored record of one register definition (M11), in explicit
//! little-endian bytes:
//!
//! ```text
//! u8  version (1)
//! u64 offset of the register's first byte in its space
//! u8  size in bytes (1..=16)
//! u8  flags: bit 0 big-endian, bit 1 has a bit range, bit 2 has a parent
//! u8  first bit, u8 last bit of the bit range (0, 0 without one)
//! ..  the parent's name, UTF-8, to the end (only with flag bit 2)
//! ```

use redb::ReadableTable;

use crate::store::history::StoreRead;
use crate::store::schema::META_REGISTER_SCOPE;
use crate::vocab::error::{Error, Result, StorageContext};
use crate::vocab::register::{RegisterDef, RegisterScope};

const VERSION: u8 = 1;
const BIG_ENDIAN: u8 = 1;
const HAS_BITS: u8 = 2;
const HAS_PARENT: u8 = 4;
const HEADER: usize = 1 + 8 + 1 + 1 + 2;

/// Encodes a register definition (already validated by its map).
pub(crate) fn encode(def: &RegisterDef) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + def.parent.as_ref().map_or(0, String::len));
    out.push(VERSION);
    out.extend_from_slice(&def.offset.to_le_bytes());
    // The map refuses sizes outside 1..=16, so the size fits a byte.
    out.push(def.size as u8);
    let mut flags = 0;
    if def.big_endian {
        flags |= BIG_ENDIAN;
    }
    if def.bits.is_some() {
        flags |= HAS_BITS;
    }
    if def.parent.is_some() {
        flags |= HAS_PARENT;
    }
    out.push(flags);
    let (lo, hi) = def.bits.unwrap_or((0, 0));
    out.push(lo);
    out.push(hi);
    if let Some(parent) = &def.parent {
        out.extend_from_slice(parent.as_bytes());
    }
    out
}

/// Decodes the definition of register `name`, checked (the map's own rules
/// are checked again when the map is built from its records).
pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<RegisterDef> {
    let corrupt = |detail: String| Error::corrupt(format!("register_map table, register '{name}'"), detail);
    let Some((header, parent)) = bytes.split_at_checked(HEADER) else {
        return Err(corrupt(format!(
            "a record of {} bytes, shorter than {HEADER}",
            bytes.len()
        )));
    };
    let [version, o0, o1, o2, o3, o4, o5, o6, o7, size, flags, lo, hi] = *header else {
        return Err(corrupt("a malformed header".into()));
    };
    if version != VERSION {
        return Err(corrupt(format!("record version {version}, not {VERSION}")));
    }
    if flags & !(BIG_ENDIAN | HAS_BITS | HAS_PARENT) != 0 {
        return Err(corrupt(format!("unknown flags {flags:#x}")));
    }
    let parent = if flags & HAS_PARENT != 0 {
        let text = std::str::from_utf8(parent).map_err(|_| corrupt("a parent name that is not UTF-8".into()))?;
        Some(text.to_string())
    } else if !parent.is_empty() {
        return Err(corrupt("bytes after the record".into()));
    } else {
        None
    };
    Ok(RegisterDef {
        name: name.to_string(),
        offset: u64::from_le_bytes([o0, o1, o2, o3, o4, o5, o6, o7]),
        size: u32::from(size),
        big_endian: flags & BIG_ENDIAN != 0,
        parent,
        bits: (flags & HAS_BITS != 0).then_some((lo, hi)),
    })
}

/// Every (name, record) of the register map table, in name order.
pub(crate) fn records_in(table: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in table.iter().context("reading the register map")? {
        let (key, value) = entry.context("reading the register map")?;
        out.push((key.value().to_string(), value.value().to_vec()));
    }
    Ok(out)
}

/// The scope stored in the database's metadata.
pub(crate) fn load_scope(store: &dyn StoreRead) -> Result<RegisterScope> {
    match store.meta_value(META_REGISTER_SCOPE)?.as_deref() {
        None | Some([0]) => Ok(RegisterScope::PerThread),
        Some([1]) => Ok(RegisterScope::PerFrame),
        Some(other) => Err(Error::corrupt(
            format!("meta table, '{META_REGISTER_SCOPE}'"),
            format!("unknown register scope {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_an_error() {
        let def = RegisterDef::new("zf", 0x1_0000_0040, 4)
            .big_endian()
            .parent("eflags")
            .bits(6, 6);
        let bytes = encode(&def);
        assert_eq!(bytes[..9], [1, 0x40, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(decode("zf", &bytes).unwrap(), def);
        let plain = RegisterDef::new("r0", 8, 8);
        assert_eq!(decode("r0", &encode(&plain)).unwrap(), plain);
        assert!(matches!(decode("r0", &bytes[..5]), Err(Error::Corrupt { .. })));
        let mut newer = bytes.clone();
        newer[0] = 2;
        assert!(matches!(decode("zf", &newer), Err(Error::Corrupt { .. })));
        let mut trailing = encode(&plain);
        trailing.push(b'x');
        assert!(matches!(decode("r0", &trailing), Err(Error::Corrupt { .. })));
    }
}
