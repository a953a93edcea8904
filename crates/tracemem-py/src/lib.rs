//! The native module `tracemem._tracemem` of the Python package `tracemem`
//! (`python/tracemem/`): the database and its snapshots for queries
//! ([`database`], [`snapshot`]), and the recorder's native half
//! ([`recorder`]). Arguments are checked in [`args`]; the library's errors
//! become Python exceptions in [`errors`].

mod args;
mod database;
mod errors;
mod recorder;
mod snapshot;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _tracemem(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<database::Database>()?;
    m.add_class::<snapshot::Snapshot>()?;
    m.add_class::<snapshot::Capture>()?;
    m.add_class::<snapshot::EventIterator>()?;
    m.add_class::<snapshot::Registers>()?;
    m.add_class::<recorder::CaptureRecorder>()?;
    m.add("FORMAT_VERSION", tracemem::FORMAT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
