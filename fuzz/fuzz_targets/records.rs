//! The decoders of on-disk records fed arbitrary bytes: the first byte
//! picks the record kind, the rest is its value (FORMAT.md). Each decodes
//! and walks everything a reader could reach, and compares its decoders
//! (and encoders) with each other: an error or agreement, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracemem::fuzzing;

/// The largest record tried; stored records stay under a few KiB.
const MAX_RECORD: usize = 64 << 10;

fn run(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else { return };
    if bytes.len() > MAX_RECORD {
        return;
    }
    let decoded = match kind % 8 {
        0 => fuzzing::decode_chunk(bytes),
        1 => fuzzing::decode_event_chunk(bytes),
        2 => {
            // The bucket number comes first: what the key holds.
            let Some((key, value)) = bytes.split_at_checked(8) else { return };
            let bucket = i64::from_le_bytes(key.try_into().unwrap());
            fuzzing::decode_change_bucket(bucket, value)
        }
        3 => fuzzing::decode_snap_meta(bytes),
        4 => fuzzing::decode_capture(bytes),
        5 => fuzzing::decode_journal_payload(bytes),
        6 => {
            let Some((key, value)) = bytes.split_at_checked(8) else { return };
            let first = i64::from_le_bytes(key.try_into().unwrap());
            fuzzing::decode_region(first, ".text", value)
        }
        _ => fuzzing::decode_register("r0", bytes),
    };
    if let Ok(decoded) = decoded {
        assert!(decoded.disagreements.is_empty(), "{:#?}", decoded.disagreements);
    }
}

fuzz_target!(|data: &[u8]| run(data));
