//! What survives: kill -9 during commits, packs, chunk index writes and recording, injected storage faults and full disks, damaged files, the upgrade of older formats, and every input that once made a fuzz target fail.
//!
//! One test binary; each module was a test file of its own.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz;

mod child;
mod crash_commit;
mod crash_index;
mod crash_pack;
mod damaged;
mod faults;
mod fixtures;
mod format_upgrade;
mod fuzz_regressions;
