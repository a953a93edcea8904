//! The bodies of the fuzz targets, each a `run(data: &[u8])` (the files in
//! `fuzz_targets/` only hand libFuzzer's inputs to them), and what they
//! share: the in-memory model of the memory contract and the memory storage,
//! both taken from the integration tests (one copy of each), and the reads
//! that tell one committed state of a database from another.
//!
//! `tests/durability/fuzz_regressions.rs` includes this file as a module and replays
//! the seeds and every input that once failed through the same bodies.

#[path = "../../tests/common/model.rs"]
pub mod model;

#[path = "../../tests/common/backend.rs"]
pub mod backend;

#[path = "damaged.rs"]
pub mod damaged;
#[path = "import.rs"]
pub mod import;
#[path = "ops.rs"]
pub mod ops;
#[path = "records.rs"]
pub mod records;

use tracemem::{AddressRange, Database, MemoryRead, Snap};

/// Everything a few queries answer about `db`: the bytes with their source
/// snaps and the most recent states over `ranges` of `space` at `snaps`,
/// the captures with their events, and the snap metadata. Two committed
/// states answer differently; a damaged database either errs somewhere
/// (`Err`) or answers as one committed state does.
pub fn fingerprint(db: &Database, space: &str, ranges: &[(u64, usize)], snaps: &[Snap]) -> tracemem::Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let read = db.begin_read()?;
    match read.space(space) {
        Ok(ram) => {
            for &snap in snaps {
                for &(addr, len) in ranges {
                    let mut buf = vec![0u8; len];
                    let sources = ram.get_bytes_with_sources(snap, addr, &mut buf)?;
                    let last = addr.saturating_add(len as u64 - 1);
                    let states = ram.most_recent_states(snap, AddressRange::new(addr, last)?)?;
                    let _ = writeln!(out, "{snap} {addr:#x}: {buf:?} {sources:?} {states:?}");
                }
            }
        }
        Err(tracemem::Error::UnknownSpace { .. }) => out.push_str("no space\n"),
        Err(e) => return Err(e),
    }
    for capture in read.captures()? {
        let events = read.events(&capture.name, 0..u64::MAX)?;
        let _ = writeln!(out, "{capture:?} {events:?}");
    }
    let metas = read.snaps_with_meta(tracemem::Lifespan::new(Snap::MIN, Snap::MAX)?)?;
    let _ = writeln!(out, "{metas:?}");
    Ok(out)
}
