//! The FST writer of a waveform, through the `fst-writer` crate.

use std::io::{Seek, Write};

use fst_writer::{
    FstBodyWriter, FstFileType, FstHeaderWriter, FstInfo, FstScopeType, FstSignalId, FstSignalType, FstVarDirection,
    FstVarType,
};

use super::{BUS_SIGNALS, Sink, Tick};
use crate::vocab::error::{Error, Result};

/// Value changes buffered before they are written out: bounded memory.
const FLUSH_BYTES: usize = 64 << 20;

enum Stage<W: Write + Seek> {
    Header(FstHeaderWriter<W>),
    Body(FstBodyWriter<W>),
    Done,
}

/// Writes a waveform as FST to `out`.
pub struct FstSink<W: Write + Seek> {
    stage: Stage<W>,
    ids: Vec<FstSignalId>,
    mark: Option<(FstSignalId, usize)>,
    place: String,
    text: Vec<u8>,
}

impl<W: Write + Seek> FstSink<W> {
    /// A writer into `out` (named `place` in errors) with ticks of `tick`.
    pub fn new(out: W, tick: Tick, place: impl Into<String>) -> Result<FstSink<W>> {
        let place = place.into();
        let info = FstInfo {
            start_time: 0,
            timescale_exponent: tick.exponent,
            version: concat!("tracemem ", env!("CARGO_PKG_VERSION")).to_string(),
            date: String::new(),
            file_type: FstFileType::Verilog,
        };
        let header = FstHeaderWriter::new(out, &info).map_err(|e| fst_error(&place, e))?;
        Ok(FstSink {
            stage: Stage::Header(header),
            ids: Vec::new(),
            mark: None,
            place,
            text: Vec::with_capacity(64),
        })
    }

    fn body(&mut self) -> Result<&mut FstBodyWriter<W>> {
        match &mut self.stage {
            Stage::Body(body) => Ok(body),
            _ => Err(Error::InvalidArgument {
                argument: "waveform",
                reason: "a value change before the signals were declared".into(),
            }),
        }
    }

    fn change(&mut self, signal: FstSignalId) -> Result<()> {
        let place = self.place.clone();
        let text = std::mem::take(&mut self.text);
        let body = self.body()?;
        let result = body.signal_change(signal, &text).map_err(|e| fst_error(&place, e));
        self.text = text;
        result
    }
}

fn fst_error(place: &str, error: fst_writer::FstWriteError) -> Error {
    let source = match error {
        fst_writer::FstWriteError::Io(source) => source,
        other => std::io::Error::other(other.to_string()),
    };
    Error::Io {
        path: place.into(),
        source,
    }
}

impl<W: Write + Seek> Sink for FstSink<W> {
    fn declare(&mut self, registers: &[(String, u32)], mark_bits: u32) -> Result<()> {
        let Stage::Header(mut header) = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Err(Error::InvalidArgument {
                argument: "waveform",
                reason: "the signals are declared once".into(),
            });
        };
        let place = self.place.clone();
        let e = |error| fst_error(&place, error);
        header.scope("bus", "", FstScopeType::Module).map_err(e)?;
        for (name, bits) in BUS_SIGNALS {
            let id = header
                .var(
                    name,
                    FstSignalType::bit_vec(bits),
                    FstVarType::Wire,
                    FstVarDirection::Implicit,
                    None,
                )
                .map_err(e)?;
            self.ids.push(id);
        }
        let mark = header
            .var(
                "mark",
                FstSignalType::bit_vec(mark_bits),
                FstVarType::Wire,
                FstVarDirection::Implicit,
                None,
            )
            .map_err(e)?;
        self.ids.push(mark);
        self.mark = Some((mark, mark_bits as usize / 8));
        header.up_scope().map_err(e)?;
        header.scope("regs", "", FstScopeType::Module).map_err(e)?;
        for (name, bits) in registers {
            let id = header
                .var(
                    name,
                    FstSignalType::bit_vec(*bits),
                    FstVarType::Wire,
                    FstVarDirection::Implicit,
                    None,
                )
                .map_err(e)?;
            self.ids.push(id);
        }
        header.up_scope().map_err(e)?;
        self.stage = Stage::Body(header.finish().map_err(e)?);
        Ok(())
    }

    fn time(&mut self, tick: u64) -> Result<()> {
        let place = self.place.clone();
        let body = self.body()?;
        if body.size() > FLUSH_BYTES {
            body.flush().map_err(|e| fst_error(&place, e))?;
        }
        body.time_change(tick).map_err(|e| fst_error(&place, e))
    }

    fn value(&mut self, signal: usize, value: u64, bits: u32) -> Result<()> {
        self.text.clear();
        self.text.extend(
            (0..bits)
                .rev()
                .map(|i| if i < 64 && value >> i & 1 == 1 { b'1' } else { b'0' }),
        );
        self.change(self.ids[signal])
    }

    fn unknown(&mut self, signal: usize, bits: u32) -> Result<()> {
        self.text.clear();
        self.text.resize(bits as usize, b'x');
        self.change(self.ids[signal])
    }

    fn mark(&mut self, text: &str) -> Result<()> {
        let Some((id, chars)) = self.mark else { return Ok(()) };
        // ASCII, 8 bits a character, padded with NULs to the longest mark.
        self.text.clear();
        let bytes = text.bytes().chain(std::iter::repeat(0)).take(chars);
        for byte in bytes {
            self.text
                .extend((0..8).rev().map(|i| if byte >> i & 1 == 1 { b'1' } else { b'0' }));
        }
        self.change(id)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        match self.stage {
            Stage::Body(body) => {
                let mut out = body.finish().map_err(|e| fst_error(&self.place, e))?;
                out.flush().map_err(|source| Error::Io {
                    path: self.place.clone().into(),
                    source,
                })
            }
            _ => Ok(()),
        }
    }
}
