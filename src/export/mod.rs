//! Exports of captures in the formats other tools read: waveforms for
//! viewers ([`waveform`]: VCD and FST, one session a file) and a Parquet
//! dataset for SQL engines (`parquet`, feature `parquet`), streaming from a
//! read transaction a page of events at a time (bounded memory whatever the
//! capture's length). The trace formats PeakRDL-pybind11 reads (NDJSON and
//! a JSON array) are [`crate::record::interchange`]'s.

#[cfg(feature = "parquet")]
pub mod parquet;
pub mod waveform;

use std::path::Path;

use crate::vocab::error::{Error, Result};

/// A file format an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// One event per line, as PeakRDL-pybind11's recorder writes it.
    Ndjson,
    /// One JSON array (`json.dumps(events, indent=2)`).
    Json,
    /// A Value Change Dump waveform (IEEE 1364).
    Vcd,
    /// A Fast Signal Trace waveform (GTKWave's compressed format).
    Fst,
    /// A Hive-partitioned Parquet dataset (a directory; feature `parquet`).
    Parquet,
}

impl Format {
    /// The format a name gives (`ndjson`, `jsonl`, `json`, `vcd`, `fst`,
    /// `parquet`).
    pub fn parse(name: &str) -> Result<Format> {
        match name.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            "vcd" => Ok(Format::Vcd),
            "fst" => Ok(Format::Fst),
            "parquet" if cfg!(feature = "parquet") => Ok(Format::Parquet),
            "parquet" => Err(Error::InvalidArgument {
                argument: "format",
                reason: "this tracemem was built without Parquet (cargo feature `parquet`)".into(),
            }),
            other => Err(Error::InvalidArgument {
                argument: "format",
                reason: format!("'{other}' is not one of ndjson, json, vcd, fst, parquet"),
            }),
        }
    }

    /// The format `path`'s extension names (`-`: standard output, NDJSON;
    /// an existing directory: a Parquet dataset); any other extension
    /// (`.log` too) needs the format named.
    pub fn of_path(path: &Path) -> Result<Format> {
        if path.as_os_str() == "-" {
            return Ok(Format::Ndjson);
        }
        if path.is_dir() {
            return Format::parse("parquet");
        }
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        Format::parse(&extension).map_err(|_| Error::InvalidArgument {
            argument: "output",
            reason: format!(
                "{}: the extension '.{extension}' names no format; give --format (ndjson, json, vcd, fst, parquet)",
                path.display()
            ),
        })
    }
}
