//! The stored records of a bus's register map (table `bus_registers`,
//! keyed by (space id, address)), in explicit little-endian bytes:
//!
//! ```text
//! u8      version (1)
//! u8      width in bytes (1..=8)
//! u8      flags: bit 0 big-endian; others 0
//! varint  length of the name, then the name, UTF-8
//! varint  number of fields, then per field:
//!   u8 lsb, u8 msb, varint length of its name, its name (UTF-8)
//! ```
//!
//! Varints are LEB128.

use redb::ReadableTable;

use crate::format::varint;
use crate::vocab::bus_map::{BusField, BusRegister};
use crate::vocab::error::{Error, Result, StorageContext};

const VERSION: u8 = 1;
const BIG_ENDIAN: u8 = 1;

/// Encodes a register (already checked by its map).
pub(crate) fn encode(register: &BusRegister) -> Vec<u8> {
    let mut out = vec![
        VERSION,
        register.width,
        if register.big_endian { BIG_ENDIAN } else { 0 },
    ];
    put_text(&mut out, &register.name);
    varint::put(&mut out, register.fields.len() as u64);
    for field in &register.fields {
        out.push(field.lsb);
        out.push(field.msb);
        put_text(&mut out, &field.name);
    }
    out
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    varint::put(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Decodes the record of the register at `address` of space `space`,
/// checked field by field (the map's rules are checked again when the map
/// is built from its records).
pub(crate) fn decode(space: u32, address: u64, bytes: &[u8]) -> Result<BusRegister> {
    let corrupt = |detail: &str| {
        Error::corrupt(
            format!("bus_registers table, space {space}, address {address:#x}"),
            detail,
        )
    };
    let [version, width, flags, ..] = *bytes else {
        return Err(corrupt("a record shorter than its header"));
    };
    if version != VERSION {
        return Err(corrupt(&format!("record version {version}, not {VERSION}")));
    }
    if flags & !BIG_ENDIAN != 0 {
        return Err(corrupt(&format!("unknown flags {flags:#x}")));
    }
    let mut at = 3;
    let text = |at: &mut usize| -> Result<String> {
        let len = varint::get(bytes, at).ok_or_else(|| corrupt("a truncated name"))?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| at.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| corrupt("a name past the end of the record"))?;
        let name = std::str::from_utf8(&bytes[*at..end]).map_err(|_| corrupt("a name that is not UTF-8"))?;
        *at = end;
        Ok(name.to_string())
    };
    let name = text(&mut at)?;
    let count = varint::get(bytes, &mut at).ok_or_else(|| corrupt("a truncated field count"))?;
    let mut fields = Vec::new();
    for _ in 0..count {
        let [lsb, msb] = bytes
            .get(at..at + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .ok_or_else(|| corrupt("a truncated field"))?;
        at += 2;
        fields.push(BusField {
            name: text(&mut at)?,
            lsb,
            msb,
        });
    }
    if at != bytes.len() {
        return Err(corrupt("bytes after the record"));
    }
    Ok(BusRegister {
        address,
        name,
        width,
        big_endian: flags & BIG_ENDIAN != 0,
        fields,
    })
}

/// Every (address, record) of space `space` in the table, in address order.
pub(crate) fn records_in(
    table: &impl ReadableTable<(u32, u64), &'static [u8]>,
    space: u32,
) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in table
        .range((space, 0)..=(space, u64::MAX))
        .context("reading the bus register map")?
    {
        let (key, value) = entry.context("reading the bus register map")?;
        out.push((key.value().1, value.value().to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_an_error() {
        let register = BusRegister {
            address: 0x4000_0010,
            name: "uart.ctrl \u{e9}".into(),
            width: 4,
            big_endian: true,
            fields: vec![
                BusField {
                    name: "en".into(),
                    lsb: 0,
                    msb: 0,
                },
                BusField {
                    name: "baud".into(),
                    lsb: 4,
                    msb: 11,
                },
            ],
        };
        let bytes = encode(&register);
        assert_eq!(decode(1, register.address, &bytes).unwrap(), register);
        for cut in 0..bytes.len() {
            assert!(decode(1, register.address, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(1, register.address, &longer).is_err());
        let mut flagged = bytes;
        flagged[2] = 0x80;
        let err = decode(1, register.address, &flagged).unwrap_err();
        assert!(err.to_string().contains("0x40000010"), "{err}");
    }
}
