//! A bus's register map: the names of the registers at its addresses, as a
//! register-description tool (PeakRDL, SystemRDL) lays them out, which
//! `log`, `history` and the waveform exports name addresses by. One per
//! space a capture records; separate from the per-thread register map of
//! M11 ([`RegisterMap`](crate::RegisterMap)), which maps register *spaces*.

use std::collections::BTreeMap;

use crate::vocab::error::{Error, Result};

/// A bit field of a bus register: bits `lsb..=msb` of its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusField {
    /// Its name within the register.
    pub name: String,
    /// Its lowest bit.
    pub lsb: u8,
    /// Its highest bit.
    pub msb: u8,
}

/// A register at a bus address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusRegister {
    /// Its first byte's address.
    pub address: u64,
    /// Its name (a path such as `uart.ctrl`).
    pub name: String,
    /// Its width in bytes, 1 to 8.
    pub width: u8,
    /// Whether its value is big-endian on the bus.
    pub big_endian: bool,
    /// Its bit fields, lowest first.
    pub fields: Vec<BusField>,
}

impl BusRegister {
    /// A register of `width` bytes at `address`, little-endian, no fields.
    pub fn new(name: impl Into<String>, address: u64, width: u8) -> BusRegister {
        BusRegister {
            address,
            name: name.into(),
            width,
            big_endian: false,
            fields: Vec::new(),
        }
    }

    /// Its last byte's address (a valid register's does not overflow).
    pub fn last_address(&self) -> u64 {
        self.address.saturating_add(u64::from(self.width.max(1)) - 1)
    }

    /// Checks the register alone: a name, a width of 1 to 8 bytes within
    /// the address space, fields with names, inside its bits, apart.
    fn check(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidRegister {
            register: self.name.clone(),
            reason,
        };
        if self.name.is_empty() {
            return Err(Error::InvalidRegister {
                register: format!("{:#x}", self.address),
                reason: "a register needs a name".into(),
            });
        }
        if !(1..=8).contains(&self.width) {
            return Err(bad(format!("width {} is not 1 to 8 bytes", self.width)));
        }
        if self.address.checked_add(u64::from(self.width) - 1).is_none() {
            return Err(bad(format!(
                "{} bytes at {:#x} run past the end of the address space",
                self.width, self.address
            )));
        }
        let bits = 8 * self.width;
        let mut fields: Vec<&BusField> = self.fields.iter().collect();
        fields.sort_by_key(|f| f.lsb);
        for (i, field) in fields.iter().enumerate() {
            if field.name.is_empty() {
                return Err(bad(format!("the field at bit {} has no name", field.lsb)));
            }
            if field.lsb > field.msb || field.msb >= bits {
                return Err(bad(format!(
                    "field '{}' (bits {}:{}) is not inside its {bits} bits",
                    field.name, field.msb, field.lsb
                )));
            }
            if let Some(next) = fields.get(i + 1)
                && next.lsb <= field.msb
            {
                return Err(bad(format!("field '{}' overlaps field '{}'", next.name, field.name)));
            }
        }
        Ok(())
    }
}

/// A bus's register map: registers that share no byte, by address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusMap {
    registers: BTreeMap<u64, BusRegister>,
}

impl BusMap {
    /// Checks `registers` and makes a map of them; the error names the
    /// register at fault (and the one it overlaps).
    pub fn new(registers: impl IntoIterator<Item = BusRegister>) -> Result<BusMap> {
        let mut map = BTreeMap::new();
        let mut names = std::collections::HashSet::new();
        for mut register in registers {
            register.check()?;
            register.fields.sort_by_key(|f| f.lsb);
            if !names.insert(register.name.clone()) {
                return Err(Error::InvalidRegister {
                    register: register.name,
                    reason: "the name is given twice".into(),
                });
            }
            let name = register.name.clone();
            if let Some(other) = map.insert(register.address, register) {
                return Err(Error::RegisterOverlap {
                    register: name,
                    other: other.name,
                });
            }
        }
        let mut previous: Option<&BusRegister> = None;
        for register in map.values() {
            if let Some(before) = previous
                && before.last_address() >= register.address
            {
                return Err(Error::RegisterOverlap {
                    register: register.name.clone(),
                    other: before.name.clone(),
                });
            }
            previous = Some(register);
        }
        Ok(BusMap { registers: map })
    }

    /// The register whose first byte is at `address`.
    pub fn at(&self, address: u64) -> Option<&BusRegister> {
        self.registers.get(&address)
    }

    /// The register holding the byte at `address`.
    pub fn containing(&self, address: u64) -> Option<&BusRegister> {
        self.registers
            .range(..=address)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| r.last_address() >= address)
    }

    /// The register named `name`.
    pub fn named(&self, name: &str) -> Option<&BusRegister> {
        self.registers.values().find(|r| r.name == name)
    }

    /// Every register, by address.
    pub fn iter(&self) -> impl Iterator<Item = &BusRegister> + '_ {
        self.registers.values()
    }

    /// How many registers.
    pub fn len(&self) -> usize {
        self.registers.len()
    }

    /// Whether it has no register.
    pub fn is_empty(&self) -> bool {
        self.registers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, lsb: u8, msb: u8) -> BusField {
        BusField {
            name: name.into(),
            lsb,
            msb,
        }
    }

    #[test]
    fn a_map_refuses_what_a_bus_cannot_hold_naming_the_register() {
        let mut ctrl = BusRegister::new("uart.ctrl", 0x4000_0000, 4);
        ctrl.fields = vec![field("en", 0, 0), field("baud", 4, 7)];
        let status = BusRegister::new("uart.status", 0x4000_0004, 4);
        let map = BusMap::new([ctrl.clone(), status.clone()]).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map.containing(0x4000_0006).unwrap().name, "uart.status");
        assert_eq!(map.named("uart.ctrl"), Some(&ctrl));
        assert!(map.containing(0x4000_0008).is_none());

        let overlapping = BusRegister::new("uart.wide", 0x4000_0002, 4);
        let err = BusMap::new([ctrl.clone(), overlapping]).unwrap_err();
        assert!(
            err.to_string().contains("'uart.wide' overlaps register 'uart.ctrl'"),
            "{err}"
        );

        let mut bad = ctrl.clone();
        bad.fields.push(field("mode", 6, 9));
        let err = BusMap::new([bad]).unwrap_err();
        assert!(
            err.to_string().contains("uart.ctrl") && err.to_string().contains("'mode'"),
            "{err}"
        );

        let mut outside = ctrl.clone();
        outside.fields = vec![field("top", 30, 32)];
        let err = BusMap::new([outside]).unwrap_err();
        assert!(err.to_string().contains("not inside its 32 bits"), "{err}");

        for width in [0, 9] {
            let err = BusMap::new([BusRegister::new("r", 0, width)]).unwrap_err();
            assert!(err.to_string().contains("not 1 to 8 bytes"), "{err}");
        }
        let err = BusMap::new([BusRegister::new("end", u64::MAX - 1, 4)]).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        let err = BusMap::new([status.clone(), BusRegister::new("uart.status", 0x10, 4)]).unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
    }
}
