//! The exports, read back by the readers other tools use: waveforms by
//! wellen (the library behind the Surfer viewer), the Parquet dataset by the
//! parquet crate's reader (DuckDB and pyarrow read it in the Python suite).

#[cfg(feature = "parquet")]
mod dataset;
mod waveforms;
