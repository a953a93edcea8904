//! Register spaces (M11): the register map (name -> offset, size, byte order,
//! parent register, bit range), how threads and frames map to register
//! spaces, and reading and writing register values by name.
//!
//! Registers live in ordinary memory spaces, one per thread (or per stack
//! frame), created on demand: `regs/<thread>`, and `regs/<thread>/<frame>`
//! for frames other than 0 when the database keeps registers per frame
//! ([`RegisterScope`](crate::RegisterScope)). A register is the bytes `[offset, offset + size - 1]`
//! of its space, so a sub-register (`r0l`, the low half of `r0`) is simply
//! some of its parent's bytes: writing it changes the parent, by offset. A
//! bit field (a register with a bit range, such as a flag) is read out of its
//! bytes, and written by a read-modify-write of the bytes that hold its bits.
//!
//! State stays byte-precise (M11): writing one bit makes the whole byte
//! holding it KNOWN at that snap; bits of that byte never observed before are
//! written as 0.
//!
//! Values are `u128`: registers are 1 to 16 bytes ([`MAX_REGISTER_SIZE`](crate::MAX_REGISTER_SIZE));
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

use crate::memory::views::MemoryView;
use crate::memory::{MemoryRead, MemorySpace, MemorySpaceMut};
use crate::store::StoreRead;
use crate::store::boundary::{Failable, guard, guard_write};
use crate::vocab::error::{Error, Result};
use crate::vocab::register::{RegisterDef, RegisterMap, RegisterState, mask};
use crate::vocab::types::{MemState, Snap};

/// The map stored in the database (empty if none was set), checked.
pub(crate) fn load_map(store: &dyn StoreRead) -> Result<RegisterMap> {
    let mut defs = Vec::new();
    for (name, record) in store.register_records()? {
        defs.push(crate::store::regmap::decode(&name, &record)?);
    }
    RegisterMap::new(defs).map_err(|e| Error::corrupt("register_map table", format!("an invalid map: {e}")))
}

mod private {
    /// Keeps [`super::RegisterRead`] implemented only here.
    pub trait Sealed {
        fn parts(
            &self,
        ) -> (
            &dyn crate::memory::MemoryRead,
            &crate::vocab::register::RegisterMap,
            &str,
        );
    }
}

use private::Sealed;

/// The registers of one thread (or frame) in a read transaction.
pub struct Registers<'a> {
    pub(crate) mem: MemorySpace<'a>,
    pub(crate) map: RegisterMap,
}

/// The registers of one thread (or frame) in a write transaction: writes, and
/// answers queries with the transaction's own writes visible.
pub struct RegistersMut<'a> {
    pub(crate) mem: MemorySpaceMut<'a>,
    pub(crate) map: RegisterMap,
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

impl Failable for RegistersMut<'_> {
    fn fail(&self, why: String) {
        self.mem.fail(why);
    }

    fn failure(&self) -> Option<Error> {
        self.mem.failure()
    }
}

impl RegistersMut<'_> {
    /// Records `value` in `register` at `snap`: its bytes become KNOWN at
    /// `snap` (M3). A sub-register writes its own bytes, which are its
    /// parent's; a bit field rewrites the bytes holding its bits, keeping
    /// their other bits as of `snap` (0 where never observed). A value with
    /// bits beyond the register's width is refused.
    pub fn set_value(&mut self, snap: Snap, register: &str, value: u128) -> Result<()> {
        guard_write(self, &|| "set_value".to_string(), |this| {
            let def = this.map.get(register)?.clone();
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
                    this.mem.get_bytes(snap, part.min(), &mut image[at..at + len])?;
                    let old = def.bytes_value(&image);
                    let field = mask(width) << lo;
                    def.value_to_bytes((old & !field) | (value << lo))
                }
            };
            this.mem.put_bytes(snap, part.min(), &bytes[at..at + len])?;
            Ok(())
        })
    }

    /// Records a failed read of `register` at `snap`: its value bytes
    /// become ERROR at `snap` (M5).
    pub fn set_error(&mut self, snap: Snap, register: &str) -> Result<()> {
        guard_write(self, &|| "set_error".to_string(), |this| {
            let part = this.map.get(register)?.value_bytes()?;
            this.mem.set_state(snap, part, MemState::Error)
        })
    }

    /// Deletes what `snap` recorded in the bytes of `register` (for a bit
    /// field, the whole bytes holding its bits); reads fall back to earlier
    /// snaps (M7).
    pub fn remove_value(&mut self, snap: Snap, register: &str) -> Result<()> {
        guard_write(self, &|| "remove_value".to_string(), |this| {
            let part = this.map.get(register)?.value_bytes()?;
            this.mem.remove_bytes(snap, part.min(), part.len() as u64)
        })
    }
}
