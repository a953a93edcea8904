//! What a journal record holds: one recorded event of a capture, or a mark.
//! The payload layout (all integers little-endian):
//!
//! - event: `1u8`, capture id u32, sequence number u64, op u8 (0 read,
//!   1 write), width u8 (0 when the event has none), address u64, value u64,
//!   timestamp f64 bits u64, failed u8 (0/1), then if failed the error text as
//!   LEB128 length and UTF-8;
//! - mark at a snap (written by builds before concurrent recorders, still
//!   replayed): `2u8`, snap i64, the text as LEB128 length and UTF-8;
//! - mark at an event: `3u8`, capture id u32, sequence number u64, the text
//!   as LEB128 length and UTF-8: the label of the snap that event `seq` of
//!   the capture gets (or of the snap after its last event, when the event
//!   never comes), which is known only once the event is committed, since
//!   recorders that record side by side take snaps from one counter.

use crate::format::varint;
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::{Op, TraceEvent};

const KIND_EVENT: u8 = 1;
const KIND_MARK: u8 = 2;
const KIND_MARK_AT_EVENT: u8 = 3;

/// One journal record, decoded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JournalEntry {
    /// Event `seq` of capture `capture`.
    Event { capture: u32, seq: u64, event: TraceEvent },
    /// A label for `snap`.
    Mark { snap: i64, text: String },
    /// A label for the snap of event `seq` of capture `capture`.
    MarkAtEvent { capture: u32, seq: u64, text: String },
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    varint::put(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

impl JournalEntry {
    /// Appends the payload of the entry to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            JournalEntry::Event { capture, seq, event } => JournalEntry::encode_event(out, *capture, *seq, event),
            JournalEntry::Mark { snap, text } => {
                out.push(KIND_MARK);
                out.extend_from_slice(&snap.to_le_bytes());
                put_text(out, text);
            }
            JournalEntry::MarkAtEvent { capture, seq, text } => {
                out.push(KIND_MARK_AT_EVENT);
                out.extend_from_slice(&capture.to_le_bytes());
                out.extend_from_slice(&seq.to_le_bytes());
                put_text(out, text);
            }
        }
    }

    /// Appends the payload of event `seq` of capture `capture` to `out`
    /// (what `encode` writes for a [`JournalEntry::Event`], without owning it).
    pub fn encode_event(out: &mut Vec<u8>, capture: u32, seq: u64, event: &TraceEvent) {
        out.push(KIND_EVENT);
        out.extend_from_slice(&capture.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.push(u8::from(event.op == Op::Write));
        out.push(event.width.unwrap_or(0));
        out.extend_from_slice(&event.address.to_le_bytes());
        out.extend_from_slice(&event.value.to_le_bytes());
        out.extend_from_slice(&event.timestamp.to_bits().to_le_bytes());
        match &event.error {
            Some(text) => {
                out.push(1);
                put_text(out, text);
            }
            None => out.push(0),
        }
    }

    /// Decodes a payload; `seq` names the record in errors.
    pub fn decode(payload: &[u8], place: &dyn Fn() -> String) -> Result<JournalEntry> {
        let bad = || Error::corrupt(place(), "undecodable journal record");
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8]> {
            let bytes = payload.get(at..at + n).ok_or_else(bad)?;
            at += n;
            Ok(bytes)
        };
        let u64_of = |b: &[u8]| -> Result<u64> { Ok(u64::from_le_bytes(b.try_into().map_err(|_| bad())?)) };
        let kind = take(1)?[0];
        let entry = match kind {
            KIND_EVENT => {
                let capture = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?);
                let seq = u64_of(take(8)?)?;
                let op = match take(1)?[0] {
                    0 => Op::Read,
                    1 => Op::Write,
                    _ => return Err(bad()),
                };
                let width = match take(1)?[0] {
                    0 => None,
                    w @ 1..=8 => Some(w),
                    _ => return Err(bad()),
                };
                let address = u64_of(take(8)?)?;
                let value = u64_of(take(8)?)?;
                let timestamp = f64::from_bits(u64_of(take(8)?)?);
                let failed = take(1)?[0];
                let error = match failed {
                    0 => None,
                    1 => {
                        let rest = payload.get(at..).ok_or_else(bad)?;
                        let mut pos = 0;
                        let len = varint::get(rest, &mut pos).ok_or_else(bad)? as usize;
                        let text = rest.get(pos..pos.saturating_add(len)).ok_or_else(bad)?;
                        Some(String::from_utf8(text.to_vec()).map_err(|_| bad())?)
                    }
                    _ => return Err(bad()),
                };
                JournalEntry::Event {
                    capture,
                    seq,
                    event: TraceEvent {
                        op,
                        address,
                        value,
                        width,
                        timestamp,
                        error,
                    },
                }
            }
            KIND_MARK => {
                let snap = i64::from_le_bytes(take(8)?.try_into().map_err(|_| bad())?);
                let rest = payload.get(at..).ok_or_else(bad)?;
                let mut pos = 0;
                let len = varint::get(rest, &mut pos).ok_or_else(bad)? as usize;
                let text = rest.get(pos..pos.saturating_add(len)).ok_or_else(bad)?;
                JournalEntry::Mark {
                    snap,
                    text: String::from_utf8(text.to_vec()).map_err(|_| bad())?,
                }
            }
            KIND_MARK_AT_EVENT => {
                let capture = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?);
                let seq = u64_of(take(8)?)?;
                let rest = payload.get(at..).ok_or_else(bad)?;
                let mut pos = 0;
                let len = varint::get(rest, &mut pos).ok_or_else(bad)? as usize;
                let text = rest.get(pos..pos.saturating_add(len)).ok_or_else(bad)?;
                JournalEntry::MarkAtEvent {
                    capture,
                    seq,
                    text: String::from_utf8(text.to_vec()).map_err(|_| bad())?,
                }
            }
            _ => return Err(bad()),
        };
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let entries = [
            JournalEntry::Event {
                capture: 3,
                seq: 99,
                event: TraceEvent {
                    op: Op::Write,
                    address: u64::MAX - 3,
                    value: 0x1234,
                    width: Some(4),
                    timestamp: 1.25e-5,
                    error: None,
                },
            },
            JournalEntry::Event {
                capture: 0,
                seq: 0,
                event: TraceEvent {
                    op: Op::Read,
                    address: 16,
                    value: 0,
                    width: None,
                    timestamp: 0.0,
                    error: Some("bus timeout".into()),
                },
            },
            JournalEntry::Mark {
                snap: -7,
                text: "test start \u{e9}".into(),
            },
            JournalEntry::MarkAtEvent {
                capture: 2,
                seq: 1 << 40,
                text: "phase \u{e9}".into(),
            },
        ];
        for entry in entries {
            let mut payload = Vec::new();
            entry.encode(&mut payload);
            assert_eq!(JournalEntry::decode(&payload, &|| "t".into()).unwrap(), entry);
            for cut in 0..payload.len() {
                assert!(JournalEntry::decode(&payload[..cut], &|| "t".into()).is_err());
            }
        }
    }
}
