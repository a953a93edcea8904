//! The decoders of on-disk records fed arbitrary bytes: the first byte
//! picks the record kind, the rest is its value (FORMAT.md; see
//! `tracemem::fuzzing::decode_record`). Each decodes and walks everything a
//! reader could reach and compares its decoders (and encoders) with each
//! other: an error or agreement, never a panic.

/// The largest record tried; stored records stay under a few KiB.
const MAX_RECORD: usize = 64 << 10;

/// Decodes `data` as a record.
pub fn run(data: &[u8]) {
    if data.len() > MAX_RECORD {
        return;
    }
    if let Ok(decoded) = tracemem::fuzzing::decode_record(data) {
        assert!(decoded.disagreements.is_empty(), "{:#?}", decoded.disagreements);
    }
}
