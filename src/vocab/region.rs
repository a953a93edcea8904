//! Region definitions: a named range of a space alive over a lifespan, with
//! its access flags. Plain data: the memory map over time is in
//! `memory::regions`.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use crate::vocab::types::{AddressRange, Lifespan};

/// The access flags of a region, combined with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegionFlags(u8);

impl RegionFlags {
    /// No flag.
    pub const NONE: RegionFlags = RegionFlags(0);
    /// Readable.
    pub const READ: RegionFlags = RegionFlags(1);
    /// Writable.
    pub const WRITE: RegionFlags = RegionFlags(2);
    /// Executable.
    pub const EXECUTE: RegionFlags = RegionFlags(4);
    /// Volatile: its contents may change without a write (device memory).
    pub const VOLATILE: RegionFlags = RegionFlags(8);
    const ALL: u8 = 15;

    /// The flags of both.
    pub const fn union(self, other: RegionFlags) -> RegionFlags {
        RegionFlags(self.0 | other.0)
    }

    /// Whether every flag of `other` is set here.
    pub fn contains(self, other: RegionFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags as bits: 1 read, 2 write, 4 execute, 8 volatile.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The flags of `bits`; `None` if an unknown bit is set.
    pub fn from_bits(bits: u8) -> Option<RegionFlags> {
        (bits & !Self::ALL == 0).then_some(RegionFlags(bits))
    }
}

impl BitOr for RegionFlags {
    type Output = RegionFlags;

    fn bitor(self, rhs: RegionFlags) -> RegionFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for RegionFlags {
    fn bitor_assign(&mut self, rhs: RegionFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for RegionFlags {
    /// `rwxv`, with `-` for each flag not set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (flag, letter) in [
            (RegionFlags::READ, 'r'),
            (RegionFlags::WRITE, 'w'),
            (RegionFlags::EXECUTE, 'x'),
            (RegionFlags::VOLATILE, 'v'),
        ] {
            write!(f, "{}", if self.contains(flag) { letter } else { '-' })?;
        }
        Ok(())
    }
}

/// One region record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// Its name, unique among the regions of its space alive at any one snap.
    pub name: String,
    /// The space it belongs to.
    pub space: String,
    /// The snaps it is alive at.
    pub lifespan: Lifespan,
    /// Its addresses.
    pub range: AddressRange,
    /// Its access flags.
    pub flags: RegionFlags,
}
