//! Arguments from Python: what the database cannot hold (negative numbers,
//! numbers beyond 64 bits, widths outside 1..=8, ranges past the end of the
//! address space) is refused with an exception naming the argument and the
//! value, before anything is done.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use crate::errors::{bad_type, bad_value};

/// An unsigned 64-bit `argument` (an address, a value).
pub fn u64_arg(argument: &str, given: &Bound<'_, PyAny>) -> PyResult<u64> {
    if !given.is_instance_of::<PyInt>() || given.is_instance_of::<PyBool>() {
        return Err(bad_type(argument, "an int", given));
    }
    given.extract::<u64>().map_err(|_| {
        let shown = given.repr().map(|r| r.to_string()).unwrap_or_default();
        bad_value(argument, format!("{shown} is not in 0..=2**64-1"))
    })
}

/// An access width in bytes, `1..=8`.
pub fn width_arg(given: &Bound<'_, PyAny>) -> PyResult<u8> {
    let width = u64_arg("width", given)?;
    if !(1..=8).contains(&width) {
        return Err(bad_value("width", format!("{width} is not in 1..=8")));
    }
    Ok(width as u8)
}

/// Checks that `length` bytes at `address` stay within the address space.
pub fn span(address: u64, length: u64) -> PyResult<()> {
    if length > 0 && address.checked_add(length - 1).is_none() {
        return Err(bad_value(
            "address",
            format!("{length} bytes at {address:#x} run past the end of the address space (2**64-1)"),
        ));
    }
    Ok(())
}
