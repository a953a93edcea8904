//! Register definitions: the register map (name -> offset, size, byte order,
//! parent register, bit range), how threads and frames map to register
//! spaces, and what is known about a register at a snap. Plain data: the
//! operations on register spaces are in `memory::registers`.

use std::collections::BTreeMap;

use crate::vocab::error::{Error, Result};
use crate::vocab::types::{AddressRange, Snap};

/// The largest register, in bytes: values are `u128`.
pub const MAX_REGISTER_SIZE: u32 = 16;

/// The longest register name, in bytes.
const MAX_NAME_LEN: usize = 256;

/// How register spaces map to threads and stack frames; a database-wide
/// setting (stored in its metadata, default [`RegisterScope::PerThread`]).
///
/// As in Ghidra, frame 0 (the innermost) always uses the thread's own space
/// `regs/<thread>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RegisterScope {
    /// One register space per thread, `regs/<thread>`, which every frame
    /// of the thread shares.
    #[default]
    PerThread,
    /// Frame 0 uses `regs/<thread>`; every other frame `f` has its own
    /// space `regs/<thread>/<f>` (registers recovered by unwinding).
    PerFrame,
}

impl RegisterScope {
    /// The name of the register space of `frame` of `thread`. Thread names
    /// are non-empty and contain no `/`.
    pub fn space_name(self, thread: &str, frame: u32) -> Result<String> {
        if thread.is_empty() || thread.contains('/') || thread.len() > 1000 {
            return Err(Error::InvalidSpaceName {
                name: format!("regs/{thread}"),
                reason: "thread names are 1 to 1000 bytes without '/'",
            });
        }
        Ok(match self {
            RegisterScope::PerFrame if frame != 0 => format!("regs/{thread}/{frame}"),
            _ => format!("regs/{thread}"),
        })
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            RegisterScope::PerThread => 0,
            RegisterScope::PerFrame => 1,
        }
    }
}

/// One register of a [`RegisterMap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterDef {
    /// Its name, 1 to 256 bytes, unique in the map.
    pub name: String,
    /// The address of its first byte in the register space.
    pub offset: u64,
    /// Its size in bytes, 1 to [`MAX_REGISTER_SIZE`].
    pub size: u32,
    /// Whether its bytes hold the value most significant byte first.
    pub big_endian: bool,
    /// The register it is part of, if any: its bytes must lie inside the
    /// parent's. Only registers without a parent must not overlap.
    pub parent: Option<String>,
    /// The bits of its bytes' value it is, `(first, last)` inclusive, bit 0
    /// the least significant; `None` for all of them.
    pub bits: Option<(u8, u8)>,
}

impl RegisterDef {
    /// A little-endian register of `size` bytes at `offset`, without parent
    /// or bit range.
    pub fn new(name: impl Into<String>, offset: u64, size: u32) -> RegisterDef {
        RegisterDef {
            name: name.into(),
            offset,
            size,
            big_endian: false,
            parent: None,
            bits: None,
        }
    }

    /// The same register, big-endian.
    pub fn big_endian(mut self) -> RegisterDef {
        self.big_endian = true;
        self
    }

    /// The same register, as a part of `parent`.
    pub fn parent(mut self, parent: impl Into<String>) -> RegisterDef {
        self.parent = Some(parent.into());
        self
    }

    /// The same register, as bits `first..=last` of its bytes' value.
    pub fn bits(mut self, first: u8, last: u8) -> RegisterDef {
        self.bits = Some((first, last));
        self
    }

    /// The width of its value in bits.
    pub fn width(&self) -> u32 {
        match self.bits {
            Some((lo, hi)) => u32::from(hi.saturating_sub(lo)) + 1,
            None => 8 * self.size,
        }
    }

    /// The bytes of the register space it occupies.
    pub fn byte_range(&self) -> Result<AddressRange> {
        let invalid = |reason: String| Error::InvalidRegister {
            register: self.name.clone(),
            reason,
        };
        if !(1..=MAX_REGISTER_SIZE).contains(&self.size) {
            return Err(invalid(format!(
                "size {} bytes; registers are 1 to {MAX_REGISTER_SIZE} bytes",
                self.size
            )));
        }
        let last = self
            .offset
            .checked_add(u64::from(self.size) - 1)
            .ok_or_else(|| invalid("runs past the end of the register space".into()))?;
        AddressRange::new(self.offset, last)
    }

    /// The bytes its value is read from and written to: all of them, or for
    /// a bit field those holding its bits.
    pub fn value_bytes(&self) -> Result<AddressRange> {
        let all = self.byte_range()?;
        let Some((lo, hi)) = self.bits else {
            return Ok(all);
        };
        if lo > hi || u32::from(hi) >= 8 * self.size {
            return Err(Error::InvalidRegister {
                register: self.name.clone(),
                reason: format!("bit range {lo}..={hi} is not inside its {} bits", 8 * self.size),
            });
        }
        let (first, last) = (u64::from(lo / 8), u64::from(hi / 8));
        let size = u64::from(self.size);
        if self.big_endian {
            AddressRange::new(self.offset + (size - 1 - last), self.offset + (size - 1 - first))
        } else {
            AddressRange::new(self.offset + first, self.offset + last)
        }
    }

    /// The value of the register's bytes `bytes` (all `size` of them).
    pub(crate) fn bytes_value(&self, bytes: &[u8]) -> u128 {
        let fold = |acc: u128, b: &u8| (acc << 8) | u128::from(*b);
        if self.big_endian {
            bytes.iter().fold(0, fold)
        } else {
            bytes.iter().rev().fold(0, fold)
        }
    }

    /// The register's `size` bytes holding `value`.
    pub(crate) fn value_to_bytes(&self, value: u128) -> Vec<u8> {
        let le = value.to_le_bytes();
        let mut bytes = le[..self.size as usize].to_vec();
        if self.big_endian {
            bytes.reverse();
        }
        bytes
    }

    /// The field of a bytes' value (the value itself without a bit range).
    pub(crate) fn field_of(&self, value: u128) -> u128 {
        match self.bits {
            Some((lo, _)) => (value >> lo) & mask(self.width()),
            None => value,
        }
    }
}

/// The low `bits` bits set.
pub(crate) fn mask(bits: u32) -> u128 {
    if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 }
}

/// The registers of a target, by name: given by the user, stored in the
/// database (one map per database) so that tools can show registers later.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterMap {
    defs: BTreeMap<String, RegisterDef>,
}

impl RegisterMap {
    /// A map of `defs`, checked: names are 1 to 256 bytes and unique; sizes
    /// 1 to 16 bytes; bit ranges inside their bits; parents exist, form no
    /// loop, and contain their sub-registers' bytes; registers without a
    /// parent do not overlap.
    pub fn new(defs: impl IntoIterator<Item = RegisterDef>) -> Result<RegisterMap> {
        let mut map = BTreeMap::new();
        for def in defs {
            if def.name.is_empty() || def.name.len() > MAX_NAME_LEN {
                return Err(Error::InvalidRegister {
                    register: def.name,
                    reason: format!("names are 1 to {MAX_NAME_LEN} bytes"),
                });
            }
            def.value_bytes()?;
            if map.contains_key(&def.name) {
                return Err(Error::InvalidRegister {
                    register: def.name,
                    reason: "defined twice".into(),
                });
            }
            map.insert(def.name.clone(), def);
        }
        let mut tops: Vec<(AddressRange, &str)> = Vec::new();
        for def in map.values() {
            let range = def.byte_range()?;
            let Some(parent_name) = &def.parent else {
                tops.push((range, &def.name));
                continue;
            };
            let parent = map.get(parent_name).ok_or_else(|| Error::InvalidRegister {
                register: def.name.clone(),
                reason: format!("its parent '{parent_name}' is not defined"),
            })?;
            let parent_range = parent.byte_range()?;
            if parent_range.intersect(&range) != Some(range) {
                return Err(Error::RegisterOutsideParent {
                    register: def.name.clone(),
                    parent: parent_name.clone(),
                });
            }
            // Every ancestor is at most `map.len()` steps up.
            let mut up = parent;
            for _ in 0..=map.len() {
                match up.parent.as_ref().and_then(|p| map.get(p)) {
                    Some(next) => up = next,
                    None => break,
                }
                if up.name == def.name {
                    return Err(Error::InvalidRegister {
                        register: def.name.clone(),
                        reason: "its chain of parents loops".into(),
                    });
                }
            }
        }
        tops.sort_by_key(|(range, _)| range.min());
        let mut widest: Option<(AddressRange, &str)> = None;
        for (range, name) in tops {
            if let Some((prev, prev_name)) = widest
                && prev.max() >= range.min()
            {
                return Err(Error::RegisterOverlap {
                    register: name.to_string(),
                    other: prev_name.to_string(),
                });
            }
            if widest.is_none_or(|(prev, _)| range.max() > prev.max()) {
                widest = Some((range, name));
            }
        }
        Ok(RegisterMap { defs: map })
    }

    /// The register named `name`.
    pub fn get(&self, name: &str) -> Result<&RegisterDef> {
        self.defs.get(name).ok_or_else(|| Error::UnknownRegister {
            register: name.to_string(),
        })
    }

    /// Every register, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &RegisterDef> + '_ {
        self.defs.values()
    }

    /// Every register in layout order: by offset, a register before the
    /// registers inside it (wider first), then by name.
    pub fn in_layout_order(&self) -> Vec<&RegisterDef> {
        let mut defs: Vec<&RegisterDef> = self.defs.values().collect();
        defs.sort_by(|a, b| {
            (a.offset, std::cmp::Reverse(a.size), a.bits.is_some(), &a.name).cmp(&(
                b.offset,
                std::cmp::Reverse(b.size),
                b.bits.is_some(),
                &b.name,
            ))
        });
        defs
    }

    /// The number of registers.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether the map defines no register.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

/// What is known about a register at a snap, byte-precise over the bytes
/// its value lives in (for a bit field, the bytes holding its bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterState {
    /// Every byte was observed at exactly this snap.
    Known,
    /// Every byte has a value, but not every one was observed at this snap:
    /// `snap` is the oldest snap any of them was observed at.
    Stale {
        /// The oldest observation among its bytes.
        snap: Snap,
    },
    /// The most recent record of some byte is ERROR (a failed read at
    /// `snap`, the latest such); the value, if any, is older.
    Error {
        /// The snap of the latest failed read.
        snap: Snap,
    },
    /// Some byte was never observed at or before this snap.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_fields_find_their_bytes_in_either_byte_order() {
        let le = RegisterDef::new("f", 0x10, 8).bits(12, 20);
        assert_eq!(le.value_bytes().unwrap(), AddressRange::new(0x11, 0x12).unwrap());
        let be = RegisterDef::new("f", 0x10, 8).big_endian().bits(12, 20);
        assert_eq!(be.value_bytes().unwrap(), AddressRange::new(0x15, 0x16).unwrap());
        assert_eq!(be.width(), 9);
        let bytes = be.value_to_bytes(0x0102_0304_0506_0708);
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(be.bytes_value(&bytes), 0x0102_0304_0506_0708);
        assert_eq!(le.bytes_value(&bytes), 0x0807_0605_0403_0201);
        assert_eq!(be.field_of(0xfff_f000), 0x1ff);
        assert_eq!(mask(128), u128::MAX);
    }

    #[test]
    fn scopes_name_spaces() {
        assert_eq!(RegisterScope::PerThread.space_name("7", 3).unwrap(), "regs/7");
        assert_eq!(RegisterScope::PerFrame.space_name("7", 0).unwrap(), "regs/7");
        assert_eq!(RegisterScope::PerFrame.space_name("7", 3).unwrap(), "regs/7/3");
        assert!(RegisterScope::PerThread.space_name("a/b", 0).is_err());
        assert!(RegisterScope::PerThread.space_name("", 0).is_err());
    }
}
