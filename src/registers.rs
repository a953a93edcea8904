//! Register spaces (M11): the register map (name -> offset, size, byte order,
//! parent register, bit range), how threads and frames map to register
//! spaces, and reading and writing register values by name.
//!
//! Registers live in ordinary memory spaces, one per thread (or per stack
//! frame), created on demand: `regs/<thread>`, and `regs/<thread>/<frame>`
//! for frames other than 0 when the database keeps registers per frame
//! ([`RegisterScope`]). A register is the bytes `[offset, offset + size - 1]`
//! of its space, so a sub-register (`r0l`, the low half of `r0`) is simply
//! some of its parent's bytes: writing it changes the parent, by offset. A
//! bit field (a register with a bit range, such as a flag) is read out of its
//! bytes, and written by a read-modify-write of the bytes that hold its bits.
//!
//! State stays byte-precise (M11): writing one bit makes the whole byte
//! holding it KNOWN at that snap; bits of that byte never observed before are
//! written as 0.
//!
//! Values are `u128`: registers are 1 to 16 bytes ([`MAX_REGISTER_SIZE`]);
//! a wider register (a vector register) is mapped as several parts. A
//! register's value is its bytes read in its byte order (little-endian unless
//! [`RegisterDef::big_endian`]), then shifted right by its first bit and
//! masked to its width if it has a bit range.
//!
//! ```
//! use tracemem::{Database, RegisterDef, RegisterMap, RegisterRead, RegisterState};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("trace.tmdb");
//! let db = Database::create(&path)?;
//! let mut txn = db.begin_write()?;
//! txn.set_register_map(&RegisterMap::new([
//!     RegisterDef::new("r0", 0, 8),
//!     RegisterDef::new("r0l", 0, 4).parent("r0"),
//!     RegisterDef::new("r0h", 4, 4).parent("r0"),
//!     RegisterDef::new("flags", 8, 4),
//!     RegisterDef::new("zf", 8, 4).parent("flags").bits(6, 6),
//! ])?)?;
//! let mut regs = txn.registers("1")?;             // space regs/1, created on demand
//! regs.set_value(0, "r0", 0x0123_4567_89ab_cdef)?;
//! regs.set_value(1, "r0h", 0x7654_3210)?;         // merges into r0
//! regs.set_value(1, "zf", 1)?;                    // the byte holding bit 6 becomes KNOWN
//! assert_eq!(regs.get_value(1, "r0")?, Some(0x7654_3210_89ab_cdef));
//! assert_eq!(regs.register_state(1, "r0h")?, RegisterState::Known);
//! assert_eq!(regs.register_state(1, "r0")?, RegisterState::Stale { snap: 0 }); // r0l is from snap 0
//! assert_eq!(regs.get_value(1, "flags")?, None);  // three of its bytes were never observed
//! txn.commit()?;
//!
//! let read = db.begin_read()?;
//! let regs = read.registers("1")?;
//! assert_eq!(regs.register_state(5, "r0l")?, RegisterState::Stale { snap: 0 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use crate::db::{ReadTransaction, WriteTransaction};
use crate::error::{Error, Result, guard};
use crate::memory::{MemoryRead, MemorySpace, MemorySpaceMut};
use crate::store::StoreRead;
use crate::store::schema::META_REGISTER_SCOPE;
use crate::types::{AddressRange, MemState, Snap};
use crate::views::MemoryView;

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

    fn to_byte(self) -> u8 {
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
    fn bytes_value(&self, bytes: &[u8]) -> u128 {
        let fold = |acc: u128, b: &u8| (acc << 8) | u128::from(*b);
        if self.big_endian {
            bytes.iter().fold(0, fold)
        } else {
            bytes.iter().rev().fold(0, fold)
        }
    }

    /// The register's `size` bytes holding `value`.
    fn value_to_bytes(&self, value: u128) -> Vec<u8> {
        let le = value.to_le_bytes();
        let mut bytes = le[..self.size as usize].to_vec();
        if self.big_endian {
            bytes.reverse();
        }
        bytes
    }

    /// The field of a bytes' value (the value itself without a bit range).
    fn field_of(&self, value: u128) -> u128 {
        match self.bits {
            Some((lo, _)) => (value >> lo) & mask(self.width()),
            None => value,
        }
    }
}

/// The low `bits` bits set.
fn mask(bits: u32) -> u128 {
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

    /// The map stored in the database (empty if none was set), checked.
    pub(crate) fn load(store: &dyn StoreRead) -> Result<RegisterMap> {
        let mut defs = Vec::new();
        for (name, record) in store.register_records()? {
            defs.push(crate::store::regmap::decode(&name, &record)?);
        }
        RegisterMap::new(defs).map_err(|e| Error::corrupt("register_map table", format!("an invalid map: {e}")))
    }
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

mod private {
    /// Keeps [`super::RegisterRead`] implemented only here.
    pub trait Sealed {
        fn parts(&self) -> (&dyn crate::memory::MemoryRead, &super::RegisterMap, &str);
    }
}

use private::Sealed;

/// The registers of one thread (or frame) in a read transaction.
pub struct Registers<'a> {
    mem: MemorySpace<'a>,
    map: RegisterMap,
}

/// The registers of one thread (or frame) in a write transaction: writes, and
/// answers queries with the transaction's own writes visible.
pub struct RegistersMut<'a> {
    mem: MemorySpaceMut<'a>,
    map: RegisterMap,
}

impl Sealed for Registers<'_> {
    fn parts(&self) -> (&dyn MemoryRead, &RegisterMap, &str) {
        (&self.mem, &self.map, self.mem.name())
    }
}

impl Sealed for RegistersMut<'_> {
    fn parts(&self) -> (&dyn MemoryRead, &RegisterMap, &str) {
        (&self.mem, &self.map, self.mem.name())
    }
}

/// Reads the register's value bytes into a full register image through
/// `read` (which fills what it knows and returns how many bytes); `None`
/// unless every value byte was filled.
fn read_value(def: &RegisterDef, read: &mut dyn FnMut(u64, &mut [u8]) -> Result<usize>) -> Result<Option<u128>> {
    let all = def.byte_range()?;
    let part = def.value_bytes()?;
    let mut image = vec![0u8; def.size as usize];
    let at = (part.min() - all.min()) as usize;
    let len = part.len() as usize;
    let filled = read(part.min(), &mut image[at..at + len])?;
    if filled != len {
        return Ok(None);
    }
    Ok(Some(def.field_of(def.bytes_value(&image))))
}

/// Queries of a register space by register name. Implemented by
/// [`Registers`] and [`RegistersMut`].
pub trait RegisterRead: Sealed {
    /// The register map the names refer to.
    fn map(&self) -> &RegisterMap {
        self.parts().1
    }

    /// The name of the register space (`regs/<thread>` or `regs/<thread>/<frame>`).
    fn space_name(&self) -> &str {
        self.parts().2
    }

    /// The register space as memory, for byte-level queries
    /// ([`MemoryRead`]) and view reads ([`MemoryView`]).
    fn memory(&self) -> &dyn MemoryRead {
        self.parts().0
    }

    /// The value of `register` as of `snap`, from the most recent KNOWN
    /// observation of each of its bytes (M4); `None` unless every byte has one.
    fn get_value(&self, snap: Snap, register: &str) -> Result<Option<u128>> {
        guard(&|| "get_value".to_string(), || {
            let (mem, map, _) = self.parts();
            let def = map.get(register)?;
            read_value(def, &mut |start, buf| mem.get_bytes(snap, start, buf))
        })
    }

    /// As [`RegisterRead::get_value`], through the fork chain of `snap`
    /// ([`MemoryView::view_bytes`], M10).
    fn view_value(&self, snap: Snap, register: &str) -> Result<Option<u128>> {
        guard(&|| "view_value".to_string(), || {
            let (mem, map, _) = self.parts();
            let def = map.get(register)?;
            read_value(def, &mut |start, buf| mem.view_bytes(snap, start, buf))
        })
    }

    /// What is known about `register` at `snap`: observed at this snap,
    /// stale, a failed read, or unknown (see [`RegisterState`]).
    fn register_state(&self, snap: Snap, register: &str) -> Result<RegisterState> {
        guard(&|| "register_state".to_string(), || {
            let (mem, map, _) = self.parts();
            let part = map.get(register)?.value_bytes()?;
            let runs = mem.most_recent_states(snap, part)?;
            if let Some(error) = runs.iter().filter(|r| r.state == MemState::Error).map(|r| r.snap).max() {
                return Ok(RegisterState::Error { snap: error });
            }
            let covered: u128 = runs.iter().map(|r| r.range.len()).sum();
            if covered < part.len() {
                return Ok(RegisterState::Unknown);
            }
            match runs.iter().map(|r| r.snap).min() {
                Some(oldest) if oldest < snap => Ok(RegisterState::Stale { snap: oldest }),
                _ => Ok(RegisterState::Known),
            }
        })
    }
}

impl RegisterRead for Registers<'_> {}
impl RegisterRead for RegistersMut<'_> {}

impl RegistersMut<'_> {
    /// Records `value` in `register` at `snap`: its bytes become KNOWN at
    /// `snap` (M3). A sub-register writes its own bytes, which are its
    /// parent's; a bit field rewrites the bytes holding its bits, keeping
    /// their other bits as of `snap` (0 where never observed). A value with
    /// bits beyond the register's width is refused.
    pub fn set_value(&mut self, snap: Snap, register: &str, value: u128) -> Result<()> {
        guard(&|| "set_value".to_string(), || {
            let def = self.map.get(register)?.clone();
            let width = def.width();
            if value & !mask(width) != 0 {
                return Err(Error::ValueTooWide {
                    register: register.to_string(),
                    value,
                    bits: width,
                });
            }
            let all = def.byte_range()?;
            let part = def.value_bytes()?;
            let at = (part.min() - all.min()) as usize;
            let len = part.len() as usize;
            let bytes = match def.bits {
                None => def.value_to_bytes(value),
                Some((lo, _)) => {
                    let mut image = vec![0u8; def.size as usize];
                    self.mem.get_bytes(snap, part.min(), &mut image[at..at + len])?;
                    let old = def.bytes_value(&image);
                    let field = mask(width) << lo;
                    def.value_to_bytes((old & !field) | (value << lo))
                }
            };
            self.mem.put_bytes(snap, part.min(), &bytes[at..at + len])?;
            Ok(())
        })
    }

    /// Records a failed read of `register` at `snap`: its value bytes
    /// become ERROR at `snap` (M5).
    pub fn set_error(&mut self, snap: Snap, register: &str) -> Result<()> {
        guard(&|| "set_error".to_string(), || {
            let part = self.map.get(register)?.value_bytes()?;
            self.mem.set_state(snap, part, MemState::Error)
        })
    }

    /// Deletes what `snap` recorded in the bytes of `register` (for a bit
    /// field, the whole bytes holding its bits); reads fall back to earlier
    /// snaps (M7).
    pub fn remove_value(&mut self, snap: Snap, register: &str) -> Result<()> {
        guard(&|| "remove_value".to_string(), || {
            let part = self.map.get(register)?.value_bytes()?;
            self.mem.remove_bytes(snap, part.min(), part.len() as u64)
        })
    }
}

impl ReadTransaction {
    /// The register map stored in the database (empty if none was set).
    pub fn register_map(&self) -> Result<RegisterMap> {
        guard(&|| "register_map".to_string(), || RegisterMap::load(&self.store))
    }

    /// How register spaces map to threads and frames.
    pub fn register_scope(&self) -> Result<RegisterScope> {
        guard(&|| "register_scope".to_string(), || load_scope(&self.store))
    }

    /// The registers of `thread` (its frame 0); an error if nothing was ever
    /// written to them.
    pub fn registers(&self, thread: &str) -> Result<Registers<'_>> {
        self.registers_in_frame(thread, 0)
    }

    /// The registers of `frame` of `thread` (see [`RegisterScope`]); an
    /// error if nothing was ever written to them.
    pub fn registers_in_frame(&self, thread: &str, frame: u32) -> Result<Registers<'_>> {
        let scope = self.register_scope()?;
        let name = scope.space_name(thread, frame)?;
        let map = self.register_map()?;
        Ok(Registers {
            mem: self.space(&name)?,
            map,
        })
    }
}

impl WriteTransaction {
    /// Stores `map` as the database's register map, replacing any earlier.
    /// Values already recorded stay where they are: registers are bytes of
    /// their spaces.
    pub fn set_register_map(&mut self, map: &RegisterMap) -> Result<()> {
        guard(&|| "set_register_map".to_string(), || {
            let records: Vec<(String, Vec<u8>)> = map
                .iter()
                .map(|def| (def.name.clone(), crate::store::regmap::encode(def)))
                .collect();
            self.store.replace_register_records(&records)
        })
    }

    /// The register map, including this transaction's changes.
    pub fn register_map(&self) -> Result<RegisterMap> {
        guard(&|| "register_map".to_string(), || RegisterMap::load(&self.store))
    }

    /// Sets how register spaces map to threads and frames from now on
    /// (spaces already written keep their names and contents).
    pub fn set_register_scope(&mut self, scope: RegisterScope) -> Result<()> {
        guard(&|| "set_register_scope".to_string(), || {
            self.store.set_meta_value(META_REGISTER_SCOPE, &[scope.to_byte()])
        })
    }

    /// How register spaces map to threads and frames, including this
    /// transaction's change.
    pub fn register_scope(&self) -> Result<RegisterScope> {
        guard(&|| "register_scope".to_string(), || load_scope(&self.store))
    }

    /// The registers of `thread` (its frame 0), their space created if needed.
    pub fn registers(&mut self, thread: &str) -> Result<RegistersMut<'_>> {
        self.registers_in_frame(thread, 0)
    }

    /// The registers of `frame` of `thread` (see [`RegisterScope`]), their
    /// space created if needed.
    pub fn registers_in_frame(&mut self, thread: &str, frame: u32) -> Result<RegistersMut<'_>> {
        let scope = self.register_scope()?;
        let name = scope.space_name(thread, frame)?;
        let map = self.register_map()?;
        Ok(RegistersMut {
            mem: self.create_space(&name)?,
            map,
        })
    }
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
