//! The replayer (R6): a [`Master`] that answers from a recording, from a
//! capture in a database or a trace file. Strict mode checks each request
//! against the next recorded event; loose mode serves reads by address and
//! lets writes move the cursor, through a per-address index: a read costs
//! O(log n), a write looks only at the writes to its own address.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::db::ReadTransaction;
use crate::format::trace::parse_trace;
use crate::record::master::{BusError, Master};
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::{Op, TraceEvent};

/// How a replayer matches requests to the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    /// Each request must be the next recorded event.
    Strict,
    /// Reads are served by address; writes skip ahead to a matching write.
    Loose,
}

/// A request that did not match the recording (strict mode), with the seed
/// recorder's exact messages.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayMismatchError {
    /// The recorded event the request was checked against; `None` when the
    /// recording has no more events.
    pub expected: Option<TraceEvent>,
    /// The request: op, address, width, and the value of a write.
    pub actual: (Op, u64, u8, Option<u64>),
}

fn width_text(width: Option<u8>) -> String {
    width.map_or_else(|| "None".to_string(), |w| w.to_string())
}

impl fmt::Display for ReplayMismatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, address, width, _) = self.actual;
        match &self.expected {
            None => write!(
                f,
                "replay log exhausted: requested {op} @ 0x{address:x} width={width} but the recording has no more events"
            ),
            Some(e) => write!(
                f,
                "replay mismatch: expected {} @ 0x{:x} width={}, got {op} @ 0x{address:x} width={width}",
                e.op,
                e.address,
                width_text(e.width)
            ),
        }
    }
}

impl std::error::Error for ReplayMismatchError {}

/// Why a replayed request failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The request did not match the recording (strict mode).
    #[error(transparent)]
    Mismatch(#[from] ReplayMismatchError),
    /// The recorded event itself failed; replaying it fails the same way.
    #[error("{0}")]
    Recorded(BusError),
}

/// A master that replays a recording.
#[derive(Clone, Debug)]
pub struct ReplayMaster {
    events: Vec<TraceEvent>,
    mode: ReplayMode,
    cursor: usize,
    /// Loose mode: per address, the indices of its reads, ascending.
    reads: HashMap<u64, Vec<usize>>,
    /// Loose mode: per address, the indices of its writes, ascending.
    writes: HashMap<u64, Vec<usize>>,
}

impl ReplayMaster {
    /// Replays `events` in `mode`.
    pub fn new(events: Vec<TraceEvent>, mode: ReplayMode) -> ReplayMaster {
        let (mut reads, mut writes) = (HashMap::<u64, Vec<usize>>::new(), HashMap::<u64, Vec<usize>>::new());
        if mode == ReplayMode::Loose {
            for (i, e) in events.iter().enumerate() {
                match e.op {
                    Op::Read => reads.entry(e.address).or_default().push(i),
                    Op::Write => writes.entry(e.address).or_default().push(i),
                }
            }
        }
        ReplayMaster {
            events,
            mode,
            cursor: 0,
            reads,
            writes,
        }
    }

    /// Replays capture `name` (and its later sessions `name#2`, …).
    pub fn from_capture(read: &ReadTransaction, name: &str, mode: ReplayMode) -> Result<ReplayMaster> {
        Ok(ReplayMaster::new(
            crate::record::interchange::session_events(read, name)?,
            mode,
        ))
    }

    /// Replays a trace file, detected as R7 says; its sessions play in order.
    pub fn from_file(path: &Path, mode: ReplayMode) -> Result<ReplayMaster> {
        let text = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let parsed = parse_trace(&name, &text)?;
        Ok(ReplayMaster::new(parsed.sessions.into_iter().flatten().collect(), mode))
    }

    /// The index of the next recorded event.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// How many events the recording holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the recording is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn strict(&mut self, op: Op, address: u64, width: u8, value: Option<u64>) -> Result<&TraceEvent, ReplayError> {
        let actual = (op, address, width, value);
        let Some(expected) = self.events.get(self.cursor) else {
            return Err(ReplayMismatchError { expected: None, actual }.into());
        };
        let matches = expected.op == op
            && expected.address == address
            && expected.width.is_none_or(|w| w == width)
            && (op == Op::Read || Some(expected.value) == value);
        if !matches {
            return Err(ReplayMismatchError {
                expected: Some(expected.clone()),
                actual,
            }
            .into());
        }
        self.cursor += 1;
        match &expected.error {
            Some(text) => Err(ReplayError::Recorded(BusError::new(text.clone()))),
            None => Ok(expected),
        }
    }

    /// The first index in `indices` at or after `cursor`.
    fn at_or_after(indices: &[usize], cursor: usize) -> usize {
        indices.partition_point(|&i| i < cursor)
    }

    /// Replays a read of `width` bytes at `address`.
    pub fn replay_read(&mut self, address: u64, width: u8) -> Result<u64, ReplayError> {
        match self.mode {
            ReplayMode::Strict => self.strict(Op::Read, address, width, None).map(|e| e.value),
            ReplayMode::Loose => {
                let Some(indices) = self.reads.get(&address) else {
                    return Ok(0);
                };
                match indices.get(Self::at_or_after(indices, self.cursor)) {
                    Some(&i) => {
                        self.cursor = i + 1;
                        Ok(self.events[i].value)
                    }
                    None => Ok(0),
                }
            }
        }
    }

    /// Replays a write of `value` (`width` bytes) at `address`.
    pub fn replay_write(&mut self, address: u64, value: u64, width: u8) -> Result<(), ReplayError> {
        match self.mode {
            ReplayMode::Strict => self.strict(Op::Write, address, width, Some(value)).map(|_| ()),
            ReplayMode::Loose => {
                if let Some(indices) = self.writes.get(&address) {
                    let from = Self::at_or_after(indices, self.cursor);
                    if let Some(&i) = indices[from..].iter().find(|&&i| self.events[i].value == value) {
                        self.cursor = i + 1;
                    }
                }
                Ok(())
            }
        }
    }
}

impl Master for ReplayMaster {
    fn read(&mut self, address: u64, width: u8) -> Result<u64, BusError> {
        self.replay_read(address, width)
            .map_err(|e| BusError::new(e.to_string()))
    }

    fn write(&mut self, address: u64, value: u64, width: u8) -> Result<(), BusError> {
        self.replay_write(address, value, width)
            .map_err(|e| BusError::new(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Op, address: u64, value: u64, width: Option<u8>) -> TraceEvent {
        TraceEvent {
            op,
            address,
            value,
            width,
            timestamp: 0.0,
            error: None,
        }
    }

    fn recording() -> Vec<TraceEvent> {
        vec![
            ev(Op::Write, 0x40001000, 0x42, Some(4)),
            ev(Op::Read, 0x40001004, 7, Some(4)),
            ev(Op::Write, 0x40001008, 1, Some(4)),
            ev(Op::Read, 0x40001004, 9, None),
        ]
    }

    #[test]
    fn strict_replay_serves_reads_and_checks_each_request() {
        let mut m = ReplayMaster::new(recording(), ReplayMode::Strict);
        m.replay_write(0x40001000, 0x42, 4).unwrap();
        assert_eq!(m.replay_read(0x40001004, 4).unwrap(), 7);
        let wrong_address = m.replay_write(0x4000100c, 1, 4).unwrap_err();
        assert_eq!(
            wrong_address.to_string(),
            "replay mismatch: expected write @ 0x40001008 width=4, got write @ 0x4000100c width=4"
        );
        let swapped = m.replay_read(0x40001008, 4).unwrap_err();
        assert_eq!(
            swapped.to_string(),
            "replay mismatch: expected write @ 0x40001008 width=4, got read @ 0x40001008 width=4"
        );
        let other_value = m.replay_write(0x40001008, 2, 4).unwrap_err();
        assert!(matches!(
            other_value,
            ReplayError::Mismatch(ReplayMismatchError { expected: Some(_), .. })
        ));
        m.replay_write(0x40001008, 1, 4).unwrap();
        // A recorded event without width matches any width and prints None.
        let wrong = m.replay_write(0x40001004, 9, 2).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "replay mismatch: expected read @ 0x40001004 width=None, got write @ 0x40001004 width=2"
        );
        assert_eq!(m.replay_read(0x40001004, 2).unwrap(), 9);
        assert_eq!(
            m.replay_read(0x40001004, 4).unwrap_err().to_string(),
            "replay log exhausted: requested read @ 0x40001004 width=4 but the recording has no more events"
        );
    }

    #[test]
    fn loose_replay_serves_reads_by_address_and_skips_writes() {
        let mut m = ReplayMaster::new(recording(), ReplayMode::Loose);
        assert_eq!(m.replay_read(0x40001004, 1).unwrap(), 7);
        assert_eq!(m.cursor(), 2);
        m.replay_write(0x40001008, 5, 4).unwrap();
        assert_eq!(m.cursor(), 2, "no matching write: nothing happens");
        m.replay_write(0x40001008, 1, 4).unwrap();
        assert_eq!(m.cursor(), 3);
        assert_eq!(m.replay_read(0x40001004, 4).unwrap(), 9);
        assert_eq!(
            m.replay_read(0x40001004, 4).unwrap(),
            0,
            "no read left at or after the cursor"
        );
        assert_eq!(m.replay_read(0xdead, 4).unwrap(), 0, "an unknown address reads 0");
    }

    #[test]
    fn a_recorded_failure_replays_as_a_failure() {
        let mut failed = ev(Op::Read, 0x10, 0, Some(4));
        failed.error = Some("bus timeout".into());
        let mut m = ReplayMaster::new(vec![failed], ReplayMode::Strict);
        assert_eq!(m.read(0x10, 4).unwrap_err().message, "bus timeout");
    }
}
