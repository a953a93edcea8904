//! Bus masters (R1): what a recorder wraps and a replayer stands in for, and
//! [`MockMaster`], a register file for tests, benchmarks and the demo.

use std::collections::{HashMap, HashSet};

use crate::vocab::trace::width_mask;

/// One bus transaction of a batched call: an address, a value (ignored by
/// reads) and a width in bytes (`1..=8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusOp {
    /// The byte address.
    pub address: u64,
    /// The value to write; ignored by `read_many`.
    pub value: u64,
    /// The width in bytes, `1..=8`.
    pub width: u8,
}

/// A failed bus transaction (a bus error, a timeout): the text a recorder
/// stores with the failed event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BusError {
    /// What went wrong, as the bus reported it.
    pub message: String,
}

impl BusError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> BusError {
        BusError {
            message: message.into(),
        }
    }
}

/// A bus master (R1). Widths are bytes (`1..=8`), values `u64`.
pub trait Master {
    /// Reads `width` bytes at `address`.
    fn read(&mut self, address: u64, width: u8) -> Result<u64, BusError>;

    /// Writes the low `width` bytes of `value` at `address`.
    fn write(&mut self, address: u64, value: u64, width: u8) -> Result<(), BusError>;

    /// Reads every op in order; the default calls [`Master::read`] per op.
    fn read_many(&mut self, ops: &[BusOp]) -> Result<Vec<u64>, BusError> {
        ops.iter().map(|op| self.read(op.address, op.width)).collect()
    }

    /// Writes every op in order; the default calls [`Master::write`] per op.
    fn write_many(&mut self, ops: &[BusOp]) -> Result<(), BusError> {
        ops.iter().try_for_each(|op| self.write(op.address, op.value, op.width))
    }
}

/// A register file: writes store the value masked to the width, reads return
/// the stored value masked to the width, and unwritten addresses read 0.
/// Addresses registered with [`MockMaster::fail_at`] fail with a bus error.
#[derive(Clone, Debug, Default)]
pub struct MockMaster {
    /// Register values by address (a fast hash: a register file answers
    /// in nanoseconds, like the bus it stands for).
    registers: HashMap<u64, u64, foldhash::fast::FixedState>,
    failing: HashSet<u64, foldhash::fast::FixedState>,
}

impl MockMaster {
    /// An empty register file.
    pub fn new() -> MockMaster {
        MockMaster::default()
    }

    /// Makes every access to `address` fail with a bus error from now on.
    pub fn fail_at(&mut self, address: u64) {
        self.failing.insert(address);
    }

    fn check(&self, address: u64) -> Result<(), BusError> {
        if self.failing.contains(&address) {
            return Err(BusError::new(format!("bus error at {address:#x}")));
        }
        Ok(())
    }
}

impl Master for MockMaster {
    fn read(&mut self, address: u64, width: u8) -> Result<u64, BusError> {
        self.check(address)?;
        Ok(self.registers.get(&address).copied().unwrap_or(0) & width_mask(width))
    }

    fn write(&mut self, address: u64, value: u64, width: u8) -> Result<(), BusError> {
        self.check(address)?;
        self.registers.insert(address, value & width_mask(width));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mock_masks_to_the_width_and_reads_unwritten_as_zero() {
        let mut bus = MockMaster::new();
        assert_eq!(bus.read(0x4000_0000, 4).unwrap(), 0);
        bus.write(0x4000_0000, 0x1_2345_6789, 4).unwrap();
        assert_eq!(bus.read(0x4000_0000, 4).unwrap(), 0x2345_6789);
        assert_eq!(bus.read(0x4000_0000, 1).unwrap(), 0x89);
        bus.write(0x10, u64::MAX, 8).unwrap();
        assert_eq!(bus.read(0x10, 8).unwrap(), u64::MAX);
        let ops = [
            BusOp {
                address: 0x20,
                value: 7,
                width: 2,
            },
            BusOp {
                address: 0x22,
                value: 0x1ffff,
                width: 2,
            },
        ];
        bus.write_many(&ops).unwrap();
        assert_eq!(bus.read_many(&ops).unwrap(), vec![7, 0xffff]);
        bus.fail_at(0x30);
        assert_eq!(bus.read(0x30, 4).unwrap_err().message, "bus error at 0x30");
    }
}
