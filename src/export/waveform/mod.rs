//! Waveforms of a capture (one session) for viewers such as GTKWave and
//! Surfer: VCD ([`vcd`]) or FST ([`fst`]).
//!
//! A scope `bus` holds `addr` (64 bits), `data` (the value, 64 bits),
//! `width` (8 bits; 0 for an event recorded without one), the 1-bit strobes
//! `rd`, `wr` and `err`, high for one tick at each event of that kind, and
//! `mark`, the text of the capture's marks (VCD: a string; FST: ASCII in a
//! bit vector of 8 bits a character, since FST carries only bit vectors and
//! reals). A scope `regs` holds one signal per address the capture touched,
//! named from a register map where it names the address (else
//! `r_40000000`), as wide as its widest access: after each event at its
//! address, the event's value (reads observe, writes set; the low `width`
//! bytes), or `x` after a failed read.
//!
//! Time: each event's timestamp (seconds since the capture's start) in
//! ticks of [`WaveformOptions::tick`] (default 1 ns), rounded; an event whose
//! tick is not after the previous event's is moved to the tick after it
//! (ties are bumped one tick), so every event keeps its own time and order.
//! [`WaveformOptions::by_seq`] uses the event's index instead. The strobes
//! fall one tick after their event, unless the next event is then.

pub mod fst;
pub mod vcd;

use std::collections::BTreeMap;

use crate::db::ReadTransaction;
use crate::db::capture::CaptureInfo;
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::{Op, TraceEvent, width_mask};
use crate::vocab::types::Snap;

/// How many events a waveform export reads at a time.
const PAGE: u64 = 4096;

/// A tick: `10^exponent` seconds (from `1s` down to `1fs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The power of ten of a tick in seconds, `-15..=0`.
    pub exponent: i8,
}

impl Default for Tick {
    fn default() -> Self {
        Tick { exponent: -9 }
    }
}

impl Tick {
    /// A tick as written `1ns`, `10us`, `100ps`, `1s`, … (1, 10 or 100 of s,
    /// ms, us, ns, ps, fs).
    pub fn parse(text: &str) -> Result<Tick> {
        let bad = || Error::InvalidArgument {
            argument: "timescale",
            reason: format!("'{text}' is not 1, 10 or 100 of s, ms, us, ns, ps or fs (e.g. 1ns)"),
        };
        let trimmed = text.trim();
        let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
        let (number, unit) = trimmed.split_at(digits);
        let base: i8 = match unit.trim() {
            "s" => 0,
            "ms" => -3,
            "us" => -6,
            "ns" => -9,
            "ps" => -12,
            "fs" => -15,
            _ => return Err(bad()),
        };
        let up: i8 = match number {
            "1" | "" => 0,
            "10" => 1,
            "100" => 2,
            _ => return Err(bad()),
        };
        let exponent = base + up;
        if exponent > 0 {
            return Err(bad());
        }
        Ok(Tick { exponent })
    }

    /// Seconds per tick.
    pub fn seconds(self) -> f64 {
        10f64.powi(i32::from(self.exponent))
    }

    /// As VCD writes a timescale: a multiple (1, 10 or 100) and a unit
    /// exponent (0, -3, …, -15).
    pub fn vcd_parts(self) -> (u32, i8) {
        let unit = self.exponent.div_euclid(3) * 3;
        (10u32.pow(u32::from((self.exponent - unit).unsigned_abs())), unit)
    }
}

/// How a waveform is made.
#[derive(Clone, Debug, Default)]
pub struct WaveformOptions {
    /// The length of a tick (default 1 ns).
    pub tick: Tick,
    /// Time is the event's index in its capture, not its timestamp.
    pub by_seq: bool,
    /// Register names by address (the others are `r_<address>`); when
    /// empty, those of the bus register map stored for the capture's space
    /// ([`ReadTransaction::bus_map`]).
    pub names: BTreeMap<u64, String>,
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaveformReport {
    /// Events written.
    pub events: u64,
    /// Register signals.
    pub registers: usize,
    /// The last time written, in ticks.
    pub end: u64,
}

/// The signals of `bus`, in declaration order, with their widths.
pub const BUS_SIGNALS: [(&str, u32); 6] = [
    ("addr", 64),
    ("data", 64),
    ("width", 8),
    ("rd", 1),
    ("wr", 1),
    ("err", 1),
];

const ADDR: usize = 0;
const DATA: usize = 1;
const WIDTH: usize = 2;
const RD: usize = 3;
const WR: usize = 4;
const ERR: usize = 5;
// Signal 6 is `mark`, written through `Sink::mark`.
const FIRST_REGISTER: usize = 7;

/// Where a waveform goes: a format's writer. Signals are numbered in the
/// order of [`Sink::declare`]: the bus signals, `mark`, then the registers.
pub trait Sink {
    /// Declares the signals: the registers (name, bits) and the bits of the
    /// longest mark (8 a character, at least 8).
    fn declare(&mut self, registers: &[(String, u32)], mark_bits: u32) -> Result<()>;
    /// Moves time on to `tick`.
    fn time(&mut self, tick: u64) -> Result<()>;
    /// Sets signal `signal` of `bits` bits to `value`.
    fn value(&mut self, signal: usize, value: u64, bits: u32) -> Result<()>;
    /// Sets signal `signal` of `bits` bits to unknown (`x`).
    fn unknown(&mut self, signal: usize, bits: u32) -> Result<()>;
    /// Sets the mark to `text`.
    fn mark(&mut self, text: &str) -> Result<()>;
    /// Completes the file.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// How many pages of events are read ahead of the writer: the reading of the
/// second pass starts while the first runs.
const READ_AHEAD: usize = 32;

/// Starts a thread of `scope` that reads the events of `capture` in pages,
/// in order, ahead of the writer (at most [`READ_AHEAD`] pages wait); it
/// stops when the receiver is dropped.
fn read_ahead<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    read: &'scope ReadTransaction,
    capture: &'scope CaptureInfo,
) -> std::sync::mpsc::Receiver<Result<Vec<(Snap, TraceEvent)>>> {
    let (pages, received) = std::sync::mpsc::sync_channel::<Result<Vec<(Snap, TraceEvent)>>>(READ_AHEAD);
    scope.spawn(move || {
        let mut seq = capture.horizon;
        while seq < capture.events {
            let page = read.events_with_snaps(&capture.name, seq..(seq + PAGE).min(capture.events));
            let stop = page.as_ref().map_or(true, Vec::is_empty);
            seq += page.as_ref().map_or(0, |p| p.len() as u64);
            // A closed channel: the writer failed or is done.
            if pages.send(page).is_err() || stop {
                break;
            }
        }
    });
    received
}

/// The name of the register signal of `address`.
pub fn register_name(address: u64, names: &BTreeMap<u64, String>) -> String {
    match names.get(&address) {
        // Names of a map may hold spaces: a VCD reference may not.
        Some(name) => name.replace(char::is_whitespace, "_"),
        None => format!("r_{address:08x}"),
    }
}

/// Writes the waveform of capture `name` (one session) into `sink`.
pub fn write(
    read: &ReadTransaction,
    name: &str,
    options: &WaveformOptions,
    sink: Box<dyn Sink + '_>,
) -> Result<WaveformReport> {
    let capture = read.capture(name)?;
    std::thread::scope(|scope| write_in(scope, read, &capture, options, sink))
}

fn write_in<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    read: &'scope ReadTransaction,
    capture: &'scope CaptureInfo,
    options: &WaveformOptions,
    mut sink: Box<dyn Sink + '_>,
) -> Result<WaveformReport> {
    // The second pass's reading starts now, beside the first pass.
    let pages = read_ahead(scope, read, capture);
    // First pass, over the event log alone: the registers and how wide each
    // one is.
    let mut widths: BTreeMap<u64, u8> = BTreeMap::new();
    // From the capture's horizon: retention dropped what came before.
    let mut seq = capture.horizon;
    while seq < capture.events {
        let page = read.event_footprints(&capture.name, seq..(seq + 4 * PAGE).min(capture.events))?;
        if page.is_empty() {
            break;
        }
        for footprint in &page {
            let width = widths.entry(footprint.address).or_insert(0);
            *width = (*width).max(footprint.memory_width);
        }
        seq += page.len() as u64;
    }
    // Without names given, those of the bus register map stored for the
    // capture's space.
    let stored: BTreeMap<u64, String>;
    let names = match options.names.is_empty() {
        true => {
            stored = read
                .bus_map(&capture.space)?
                .iter()
                .map(|r| (r.address, r.name.clone()))
                .collect();
            &stored
        }
        false => &options.names,
    };
    let registers: Vec<(String, u32)> = widths
        .iter()
        .map(|(&address, &width)| (register_name(address, names), 8 * u32::from(width)))
        .collect();
    let index_of: BTreeMap<u64, usize> = widths
        .keys()
        .enumerate()
        .map(|(i, &a)| (a, FIRST_REGISTER + i))
        .collect();
    let marks = read.marks(capture)?;
    let mark_bits = 8 * marks.iter().map(|(_, text)| text.len()).max().unwrap_or(1).max(1) as u32;
    sink.declare(&registers, mark_bits)?;

    // Second pass: the changes, each signal written only when it changes.
    let mut last: Vec<Option<u64>> = vec![None; FIRST_REGISTER + registers.len()];
    let mut marks = marks.into_iter().peekable();
    let mut previous: Option<u64> = None;
    let tick = options.tick.seconds();
    let mut emit = |sink: &mut Box<dyn Sink + '_>, signal: usize, value: Option<u64>, bits: u32| -> Result<()> {
        if last[signal] != value {
            match value {
                Some(v) => sink.value(signal, v, bits)?,
                None => sink.unknown(signal, bits)?,
            }
            last[signal] = value;
        }
        Ok(())
    };
    let mut strobes_high = false;
    let mut first = true;
    let mut visit = |seq: u64, snap: Snap, event: &TraceEvent| -> Result<()> {
        let wanted = if options.by_seq {
            seq
        } else {
            let ticks = (event.timestamp / tick).round();
            if ticks.is_finite() && ticks > 0.0 {
                ticks as u64
            } else {
                0
            }
        };
        let at = match previous {
            Some(p) => wanted.max(p + 1),
            None => wanted,
        };
        if let Some(p) = previous
            && strobes_high
            && at > p + 1
        {
            sink.time(p + 1)?;
            for strobe in [RD, WR, ERR] {
                emit(&mut sink, strobe, Some(0), 1)?;
            }
            strobes_high = false;
        }
        sink.time(at)?;
        if first {
            // Every register starts unknown.
            for (i, (_, bits)) in registers.iter().enumerate() {
                sink.unknown(FIRST_REGISTER + i, *bits)?;
            }
            sink.mark("")?;
            first = false;
        }
        while let Some((mark_snap, text)) = marks.peek() {
            if *mark_snap > snap {
                break;
            }
            sink.mark(text)?;
            marks.next();
        }
        let failed = event.error.is_some();
        emit(&mut sink, ADDR, Some(event.address), 64)?;
        emit(&mut sink, DATA, Some(event.value), 64)?;
        emit(&mut sink, WIDTH, Some(u64::from(event.width.unwrap_or(0))), 8)?;
        emit(&mut sink, RD, Some(u64::from(event.op == Op::Read)), 1)?;
        emit(&mut sink, WR, Some(u64::from(event.op == Op::Write)), 1)?;
        emit(&mut sink, ERR, Some(u64::from(failed)), 1)?;
        strobes_high = true;
        let register = index_of[&event.address];
        let bits = registers[register - FIRST_REGISTER].1;
        match (event.op, failed) {
            (Op::Read, true) => emit(&mut sink, register, None, bits)?,
            (Op::Write, true) => {}
            _ => emit(
                &mut sink,
                register,
                Some(event.value & width_mask(event.memory_width())),
                bits,
            )?,
        }
        previous = Some(at);
        Ok(())
    };
    let mut seq = capture.horizon;
    for page in &pages {
        for (snap, event) in &page? {
            visit(seq, *snap, event)?;
            seq += 1;
        }
    }
    drop(pages);
    let mut end = previous.unwrap_or(0);
    if let Some(p) = previous {
        end = p + 1;
        sink.time(end)?;
        for strobe in [RD, WR, ERR] {
            emit(&mut sink, strobe, Some(0), 1)?;
        }
    }
    // Marks after the last event.
    for (_, text) in marks {
        sink.mark(&text)?;
    }
    sink.finish()?;
    Ok(WaveformReport {
        events: capture.events,
        registers: registers.len(),
        end,
    })
}
