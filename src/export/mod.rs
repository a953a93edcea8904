//! Exports of a capture in the formats other tools read: waveforms for
//! viewers ([`waveform`]: VCD and FST, one session a file), streaming from a
//! read transaction a page of events at a time (bounded memory whatever the
//! capture's length). The trace formats PeakRDL-pybind11 reads (NDJSON and
//! a JSON array) are [`crate::record::interchange`]'s.

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
}

impl Format {
    /// The format a name gives (`ndjson`, `jsonl`, `json`, `vcd`, `fst`).
    pub fn parse(name: &str) -> Result<Format> {
        match name.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            "vcd" => Ok(Format::Vcd),
            "fst" => Ok(Format::Fst),
            other => Err(Error::InvalidArgument {
                argument: "format",
                reason: format!("'{other}' is not one of ndjson, json, vcd, fst"),
            }),
        }
    }

    /// The format `path`'s extension names (`-`: standard output, NDJSON);
    /// any other extension (`.log` too) needs the format named.
    pub fn of_path(path: &Path) -> Result<Format> {
        if path.as_os_str() == "-" {
            return Ok(Format::Ndjson);
        }
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        Format::parse(&extension).map_err(|_| Error::InvalidArgument {
            argument: "output",
            reason: format!(
                "{}: the extension '.{extension}' names no format; give --format (ndjson, json, vcd, fst)",
                path.display()
            ),
        })
    }
}
