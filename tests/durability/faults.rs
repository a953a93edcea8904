//! Faults injected at the storage seam (`DatabaseBuilder::create_with_backend`
//! over `common::backend::MemStorage`): an I/O error at the n-th write or
//! sync, a crash point after which syncs stop making data durable, and a
//! full disk. The failing call returns a typed error (`Error::Storage` or
//! `Error::Io`, never a panic); reopening on what the storage holds — what
//! the process saw (`live`), or what a crash leaves (`durable`) — shows one
//! committed state, the last acknowledged one or the failing one (a failure
//! after its commit record reached the storage), and passes `check`; the
//! database then takes new commits.
//!
//! Fault points: every sync and crash point, and a spread of 48 write
//! points; `TRACEMEM_FAULT_POINTS=all` tries every write, a number `N`
//! tries N spread points of each kind.
//!
//! A full disk under the recorder is `RLIMIT_FSIZE` on a real file, in a
//! child process (this test binary, re-run): the recorder reports the
//! failure, every acknowledged event survives, and recording resumes once
//! the limit is lifted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::fuzz::backend::{FAULT_TEXT, MemStorage};
use tracemem::record::{FlushPolicy, Master, MockMaster, Op, RecorderOptions, RecordingMaster};
use tracemem::workloads::W1;
use tracemem::{AddressRange, CaptureSpec, Database, DatabaseBuilder, Error, MemState, MemoryRead, SnapMeta};

const STEPS: i64 = 10;
const SPAN: usize = 2400;

fn builder() -> DatabaseBuilder {
    let mut builder = Database::builder();
    builder.block_size(256).max_chunk_deltas(4);
    builder
}

/// Transaction `k` of the workload: a put over several granules, ERROR at
/// the snap before, a removal two snaps back, snap metadata; every
/// committed state answers differently.
fn step(db: &Database, k: i64) -> tracemem::Result<()> {
    let mut txn = db.begin_write()?;
    let mut ram = txn.create_space("ram")?;
    let len = 300 + 50 * k as usize;
    ram.put_bytes(k, (k as u64 * 331) % 2048, &vec![k as u8; len])?;
    if k > 1 {
        let at = k as u64 * 16;
        ram.set_state(k - 1, AddressRange::new(at, at + 20)?, MemState::Error)?;
    }
    if k > 2 {
        ram.remove_bytes(k - 2, ((k - 2) as u64 * 331) % 2048, 40)?;
    }
    txn.set_snap_meta(
        k,
        &SnapMeta {
            description: format!("step {k}"),
            ..SnapMeta::default()
        },
    )?;
    txn.commit()
}

/// What the database answers over the workload's range at every snap.
fn answers(db: &Database) -> tracemem::Result<String> {
    let read = db.begin_read()?;
    let mut out = String::new();
    match read.space("ram") {
        Ok(ram) => {
            for snap in 0..=STEPS + 1 {
                let mut buf = vec![0u8; SPAN];
                let sources = ram.get_bytes_with_sources(snap, 0, &mut buf)?;
                let states = ram.most_recent_states(snap, AddressRange::new(0, SPAN as u64 - 1)?)?;
                out.push_str(&format!(
                    "{snap}: {sources:?} {states:?} {}\n",
                    buf.iter().map(|&b| u64::from(b)).sum::<u64>()
                ));
            }
        }
        Err(Error::UnknownSpace { .. }) => out.push_str("empty\n"),
        Err(e) => return Err(e),
    }
    let metas = read.snaps_with_meta(tracemem::Lifespan::new(0, i64::MAX)?)?;
    out.push_str(&format!("{metas:?}\n"));
    Ok(out)
}

/// The fault-free run: the answers after each commit (index 0: the empty
/// database) and the storage's (writes, syncs) counts once it returned.
struct Reference {
    states: Vec<String>,
    counts: Vec<(u64, u64)>,
}

fn reference() -> Reference {
    let storage = MemStorage::new();
    let db = builder().create_with_backend(storage.clone(), "ref.tmdb").unwrap();
    let mut states = vec![answers(&db).unwrap()];
    let mut counts = vec![storage.counts()];
    for k in 1..=STEPS {
        step(&db, k).unwrap();
        states.push(answers(&db).unwrap());
        counts.push(storage.counts());
    }
    for pair in states.windows(2) {
        assert_ne!(pair[0], pair[1], "every commit must change the answers");
    }
    Reference { states, counts }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Writes fail from the n-th on.
    Write(u64),
    /// Syncs fail from the n-th on.
    Sync(u64),
    /// Syncs from the n-th on make nothing durable (and succeed).
    Freeze(u64),
    /// Writes past n bytes fail (a full disk).
    Full(u64),
}

/// A typed storage error carrying the injected fault (or redb's refusal
/// after it).
fn assert_storage_error(e: &Error, ctx: &str) {
    assert!(
        matches!(e, Error::Storage { .. } | Error::Io { .. }),
        "{ctx}: not a storage error: {e:?}"
    );
}

/// Tallies over the fault points of one kind, for the summary line.
#[derive(Default, Debug)]
struct Tally {
    points: u64,
    failed_calls: u64,
    reopened_at_last_ack: u64,
    reopened_at_failed_commit: u64,
    unopenable_before_first_commit: u64,
}

/// Runs the workload with `fault`, then reopens what the storage holds.
fn run_with(fault: Fault, reference: &Reference, tally: &mut Tally) {
    let storage = MemStorage::new();
    match fault {
        Fault::Write(n) => storage.fail_writes_from(n),
        Fault::Sync(n) => storage.fail_syncs_from(n),
        Fault::Freeze(n) => storage.freeze_from_sync(n),
        Fault::Full(n) => storage.limit_len(n),
    }
    tally.points += 1;
    let ctx = format!("{fault:?}");
    // Steps acknowledged (0: the creation), and whether one failed.
    let mut acked: Option<usize> = None;
    let mut failed = false;
    match builder().create_with_backend(storage.clone(), "faulty.tmdb") {
        Err(e) => {
            assert_storage_error(&e, &ctx);
            failed = true;
        }
        Ok(db) => {
            acked = Some(0);
            for k in 1..=STEPS {
                match step(&db, k) {
                    Ok(()) => acked = Some(k as usize),
                    Err(e) => {
                        assert_storage_error(&e, &format!("{ctx}, step {k}"));
                        failed = true;
                        // The storage now refuses everything: a typed error too.
                        if let Err(e) = step(&db, k + 1) {
                            assert_storage_error(&e, &format!("{ctx}, after step {k}"));
                        }
                        break;
                    }
                }
            }
            // Dropping closes, which may fail too (silently).
            drop(db);
        }
    }
    if failed {
        tally.failed_calls += 1;
        assert!(storage.faults() > 0, "{ctx}: an error without an injected fault");
    }
    let crash_point = match fault {
        Fault::Freeze(n) => Some(n),
        _ => None,
    };
    // What must be there: the last acknowledged commit, or for a crash
    // point the last one whose syncs all came before it.
    let must = match crash_point {
        Some(n) => reference.counts.iter().rposition(|&(_, syncs)| syncs < n),
        None => acked,
    };
    let images = [("live", storage.live_image()), ("durable", storage.durable_image())];
    for (which, image) in images {
        // A crash leaves only the durable image; without one, both count.
        if crash_point.is_some() && which == "live" {
            continue;
        }
        let ctx = format!("{ctx}, reopened from the {which} image");
        let db = match builder().open_with_backend(MemStorage::with_image(image), "reopened.tmdb") {
            Ok(db) => db,
            Err(e) => {
                // Only a storage that never held a complete database.
                assert!(must.is_none(), "{ctx}: {e}");
                tally.unopenable_before_first_commit += 1;
                continue;
            }
        };
        let got = answers(&db).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let at = reference
            .states
            .iter()
            .position(|s| *s == got)
            .unwrap_or_else(|| panic!("{ctx}: answers as no committed state did:\n{got}"));
        let low = must.unwrap_or(0);
        let high = match (crash_point, acked) {
            (Some(_), _) => STEPS as usize,
            (None, Some(a)) => a + 1,
            (None, None) => 0,
        };
        assert!((low..=high).contains(&at), "{ctx}: state {at}, expected {low}..={high}");
        if at == low {
            tally.reopened_at_last_ack += 1;
        } else {
            tally.reopened_at_failed_commit += 1;
        }
        let report = db.check().unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(report.problems.is_empty(), "{ctx}: {:?}", report.problems);
        // It takes new commits.
        step(&db, STEPS + 1).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_ne!(answers(&db).unwrap(), got, "{ctx}");
    }
}

/// The fault points to try out of `1..=total`: all of them if asked (or
/// if fewer than `default`), else `default` spread evenly.
fn points(total: u64, default: u64) -> Vec<u64> {
    let wanted = match std::env::var("TRACEMEM_FAULT_POINTS").ok().as_deref() {
        Some("all") => total,
        Some(n) => n.parse().unwrap_or(default),
        None => default,
    };
    if wanted >= total {
        return (1..=total).collect();
    }
    (0..wanted).map(|i| 1 + i * total / wanted).collect()
}

#[test]
fn a_failing_write_is_an_error_and_reopening_shows_a_committed_state() {
    let reference = reference();
    let (writes, _) = *reference.counts.last().unwrap();
    let mut tally = Tally::default();
    for n in points(writes + 2, 48) {
        run_with(Fault::Write(n), &reference, &mut tally);
    }
    eprintln!("write faults over {writes} writes: {tally:?}");
    assert!(tally.failed_calls > 0 && tally.reopened_at_last_ack > 0);
}

#[test]
fn a_failing_sync_is_an_error_and_reopening_shows_a_committed_state() {
    let reference = reference();
    let (_, syncs) = *reference.counts.last().unwrap();
    let mut tally = Tally::default();
    for n in points(syncs + 1, 1000) {
        run_with(Fault::Sync(n), &reference, &mut tally);
    }
    eprintln!("sync faults over {syncs} syncs: {tally:?}");
    assert!(tally.failed_calls > 0);
}

#[test]
fn a_crash_at_any_sync_leaves_a_committed_state_with_everything_synced() {
    let reference = reference();
    let (_, syncs) = *reference.counts.last().unwrap();
    let mut tally = Tally::default();
    for n in points(syncs + 1, 1000) {
        run_with(Fault::Freeze(n), &reference, &mut tally);
    }
    eprintln!("crash points over {syncs} syncs: {tally:?}");
    assert_eq!(tally.failed_calls, 0, "a crash point fails no call");
}

#[test]
fn a_full_disk_is_an_error_and_freeing_space_lets_writes_resume() {
    let reference = reference();
    // The sizes the storage went through.
    let storage = MemStorage::new();
    let db = builder().create_with_backend(storage.clone(), "size.tmdb").unwrap();
    let first = storage.live_image().len() as u64;
    for k in 1..=STEPS {
        step(&db, k).unwrap();
    }
    let last = storage.live_image().len() as u64;
    drop(db);
    let mut tally = Tally::default();
    for n in points(16, 16) {
        // Limits from below the empty database to past the last growth.
        run_with(
            Fault::Full(first / 2 + (last - first / 2) * n / 16),
            &reference,
            &mut tally,
        );
    }
    eprintln!("full disks between {first} and {last} bytes: {tally:?}");
    // The same storage, healed: the process goes on after reopening.
    let storage = MemStorage::new();
    let db = builder().create_with_backend(storage.clone(), "full.tmdb").unwrap();
    storage.limit_len(first);
    let mut acked = 0;
    for k in 1..=STEPS {
        match step(&db, k) {
            Ok(()) => acked = k,
            Err(e) => {
                assert_storage_error(&e, "full");
                assert!(
                    format!("{:?}", e).contains(FAULT_TEXT) || e.to_string().contains("previous I/O"),
                    "{e:?}"
                );
                break;
            }
        }
    }
    assert!(acked < STEPS, "the disk must fill up");
    drop(db);
    storage.heal();
    let db = builder().open_with_backend(storage.clone(), "full.tmdb").unwrap();
    let at = reference.states.iter().position(|s| *s == answers(&db).unwrap());
    assert!(
        matches!(at, Some(a) if a == acked as usize || a == acked as usize + 1),
        "{at:?} after {acked}"
    );
    for k in (acked + 1)..=STEPS {
        step(&db, k).unwrap();
    }
    assert_eq!(answers(&db).unwrap(), reference.states[STEPS as usize]);
}

// ---------------------------------------------------------------------------
// A full disk under the recorder: RLIMIT_FSIZE in a child process.

const CHILD_ENV: &str = "TRACEMEM_DISK_FULL_CHILD";

fn set_file_size_limit(bytes: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

/// The child: records W1 under a file-size limit of the database's size
/// plus `room` bytes until the recorder has failed `errors` times, printing
/// `acked <n>` for each event whose call returned and `error <n> <why>` for
/// each that failed; then, with `resume`, lifts the limit, records 3000
/// events more and closes (`closed <total>`); without, exits at once as
/// if killed.
#[test]
fn disk_full_child_recorder() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let mut parts = spec.split('|');
    let path = Path::new(parts.next().unwrap());
    let room: u64 = parts.next().unwrap().parse().unwrap();
    let resume = parts.next().unwrap() == "resume";
    // A write past the limit then fails with EFBIG instead of killing the
    // process with SIGXFSZ.
    // SAFETY: ignoring a signal.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let options = RecorderOptions {
        policy: FlushPolicy::Event,
        commit_interval: std::time::Duration::from_millis(2),
        max_pending: 500,
        journal_capacity: 64 << 10,
        ..RecorderOptions::default()
    };
    let mut bus = RecordingMaster::create(MockMaster::new(), path, &CaptureSpec::new("full"), options).unwrap();
    let size = std::fs::metadata(path).unwrap().len();
    set_file_size_limit(size + room);
    let mut events = W1::new(1);
    let mut n = 0u64;
    // Records the next event; whether its call returned.
    let mut record = |bus: &mut RecordingMaster<MockMaster>| -> bool {
        let event = events.next().unwrap();
        n += 1;
        let result = match event.op {
            Op::Read => bus.read(event.address, event.width.unwrap()).map(|_| ()),
            Op::Write => bus.write(event.address, event.value, event.width.unwrap()),
        };
        match &result {
            Ok(()) => println!("acked {n}"),
            Err(e) => println!("error {n} {}", e.message),
        }
        result.is_ok()
    };
    let mut errors = 0;
    let mut tries = 0;
    while errors < 5 {
        tries += 1;
        assert!(tries < 500_000, "the disk never filled up");
        if !record(&mut bus) {
            errors += 1;
        }
    }
    if !resume {
        // As if killed: no close, no drop.
        std::process::exit(0);
    }
    set_file_size_limit(u64::MAX);
    for _ in 0..3000 {
        assert!(record(&mut bus), "recording resumes once there is room");
    }
    bus.close().unwrap();
    println!("closed");
}

/// Runs the child with `room` bytes of room and checks what survived.
/// Returns (events acknowledged, failed calls, events held after reopening).
fn disk_full_round(dir: &Path, round: usize, room: u64, resume: bool) -> (u64, u64, u64) {
    let path = dir.join(format!("full-{round}.tmdb"));
    let ctx = format!("round {round}, room {room}, resume {resume}");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "faults::disk_full_child_recorder",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{room}|{}", path.display(), if resume { "resume" } else { "die" }),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let (mut failed, mut closed, mut attempted) = (0u64, false, 0u64);
    let mut first_error = String::new();
    let mut child = output;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            let n: u64 = n.parse().unwrap();
            acked.push(n);
            attempted = n;
        } else if let Some(rest) = line.strip_prefix("error ") {
            let (n, why) = rest.split_once(' ').unwrap();
            attempted = n.parse().unwrap();
            failed += 1;
            if first_error.is_empty() {
                first_error = why.to_string();
            }
        } else if line == "closed" {
            closed = true;
        }
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{ctx}: the child failed: {stderr}");
    assert!(failed >= 5, "{ctx}: {failed} failures");
    assert!(
        first_error.contains("File too large") || first_error.contains("storage"),
        "{ctx}: the recorder's error should name the failed write: {first_error}"
    );
    assert_eq!(closed, resume, "{ctx}");
    // Reopened without the limit (replaying the journal if it did not close).
    let db = Database::open(&path).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let read = db.begin_read().unwrap();
    let events = read.events("full", 0..u64::MAX).unwrap();
    let held = events.len() as u64;
    // Every acknowledged event is there, in order, intact: the W1 prefix as
    // the mock saw it (timestamps are the recorder's clock).
    let last_acked = acked.last().copied().unwrap_or(0);
    assert!(
        held >= last_acked,
        "{ctx}: {held} events held, event {last_acked} was acknowledged"
    );
    if resume {
        assert_eq!(held, attempted, "{ctx}: after a close every recorded event is there");
    }
    let mut mock = MockMaster::new();
    for (i, (got, mut want)) in events.iter().zip(W1::new(1)).enumerate() {
        let width = want.width.unwrap();
        match want.op {
            Op::Read => want.value = mock.read(want.address, width).unwrap(),
            Op::Write => mock.write(want.address, want.value, width).unwrap(),
        }
        assert_eq!(
            (got.op, got.address, got.value, got.width),
            (want.op, want.address, want.value, want.width),
            "{ctx}: event {i}"
        );
    }
    let report = db.check().unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert!(report.problems.is_empty(), "{ctx}: {:?}", report.problems);
    (acked.len() as u64, failed, held)
}

#[test]
fn a_full_disk_fails_the_recorder_loses_no_acknowledged_event_and_recording_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let rounds: usize = std::env::var("TRACEMEM_DISK_FULL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut totals = (0, 0, 0);
    for round in 0..rounds {
        // From no room at all to room for a few thousand events.
        let room = [0u64, 4096, 64 << 10, 300 << 10][round % 4] + 4096 * (round / 4) as u64;
        for resume in [true, false] {
            let (acked, failed, held) = disk_full_round(dir.path(), 2 * round + usize::from(resume), room, resume);
            totals = (totals.0 + acked, totals.1 + failed, totals.2 + held);
        }
    }
    eprintln!(
        "disk full: {} runs, {} events acknowledged, {} calls failed, {} events held after reopening, none lost",
        2 * rounds,
        totals.0,
        totals.1,
        totals.2
    );
}
