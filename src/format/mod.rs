//! The trace formats that enter and leave tracemem as files and text: the
//! PeakRDL-pybind11 trace files (NDJSON or one JSON array, read strictly and
//! written byte for byte as the seed recorder writes them), Python's float
//! text, and the recorder's flush policies as the seed spells them.

pub mod policy;
pub mod pyfloat;
pub mod soak;
#[cfg(test)]
pub(crate) mod test_util;
pub mod trace;
pub(crate) mod varint;
