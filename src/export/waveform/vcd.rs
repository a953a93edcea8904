//! The VCD writer of a waveform, through the `vcd` crate.

use std::io::Write;

use vcd::{IdCode, ScopeType, TimescaleUnit, Value, VarType, Writer};

use super::{BUS_SIGNALS, Sink, Tick};
use crate::vocab::error::{Error, Result};

/// Writes a waveform as VCD text to `out`.
pub struct VcdSink<W: Write> {
    writer: Writer<W>,
    ids: Vec<IdCode>,
    mark: Option<IdCode>,
    tick: Tick,
    /// Names the output in errors.
    place: String,
}

impl<W: Write> VcdSink<W> {
    /// A writer into `out` (named `place` in errors) with ticks of `tick`.
    pub fn new(out: W, tick: Tick, place: impl Into<String>) -> VcdSink<W> {
        VcdSink {
            writer: Writer::new(out),
            ids: Vec::new(),
            mark: None,
            tick,
            place: place.into(),
        }
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.place.clone().into(),
            source,
        }
    }
}

fn unit(exponent: i8) -> TimescaleUnit {
    match exponent {
        0 => TimescaleUnit::S,
        -3 => TimescaleUnit::MS,
        -6 => TimescaleUnit::US,
        -9 => TimescaleUnit::NS,
        -12 => TimescaleUnit::PS,
        _ => TimescaleUnit::FS,
    }
}

impl<W: Write> Sink for VcdSink<W> {
    fn declare(&mut self, registers: &[(String, u32)], _mark_bits: u32) -> Result<()> {
        let (multiple, exponent) = self.tick.vcd_parts();
        let w = &mut self.writer;
        let declared = (|| -> std::io::Result<(Vec<IdCode>, IdCode)> {
            w.version(concat!("tracemem ", env!("CARGO_PKG_VERSION")))?;
            w.timescale(multiple, unit(exponent))?;
            w.scope_def(ScopeType::Module, "bus")?;
            let mut ids = Vec::new();
            for (name, bits) in BUS_SIGNALS {
                ids.push(w.add_var(VarType::Wire, bits, name, None)?);
            }
            let mark = w.add_var(VarType::String, 1, "mark", None)?;
            ids.push(mark);
            w.upscope()?;
            w.scope_def(ScopeType::Module, "regs")?;
            for (name, bits) in registers {
                ids.push(w.add_var(VarType::Wire, *bits, name, None)?);
            }
            w.upscope()?;
            w.enddefinitions()?;
            Ok((ids, mark))
        })();
        let (ids, mark) = declared.map_err(|e| self.io(e))?;
        self.ids = ids;
        self.mark = Some(mark);
        Ok(())
    }

    fn time(&mut self, tick: u64) -> Result<()> {
        self.writer.timestamp(tick).map_err(|e| self.io(e))
    }

    fn value(&mut self, signal: usize, value: u64, bits: u32) -> Result<()> {
        let id = self.ids[signal];
        let written = if bits == 1 {
            self.writer
                .change_scalar(id, if value & 1 == 1 { Value::V1 } else { Value::V0 })
        } else {
            // Written straight, leading zeros left out as the standard
            // allows (the crate's vector writer formats a bit at a time).
            let masked = if bits >= 64 {
                value
            } else {
                value & ((1u64 << bits) - 1)
            };
            writeln!(self.writer.writer(), "b{masked:b} {id}")
        };
        written.map_err(|e| self.io(e))
    }

    fn unknown(&mut self, signal: usize, bits: u32) -> Result<()> {
        let id = self.ids[signal];
        let written = if bits == 1 {
            self.writer.change_scalar(id, Value::X)
        } else {
            self.writer
                .change_vector(id, std::iter::repeat_n(Value::X, bits as usize))
        };
        written.map_err(|e| self.io(e))
    }

    fn mark(&mut self, text: &str) -> Result<()> {
        let Some(id) = self.mark else { return Ok(()) };
        // A VCD string value ends at whitespace: spaces become underscores.
        let shown: String = if text.is_empty() {
            "-".to_string()
        } else {
            text.replace(char::is_whitespace, "_")
        };
        self.writer.change_string(id, &shown).map_err(|e| self.io(e))
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.writer.flush().map_err(|e| self.io(e))
    }
}
