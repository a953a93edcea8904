//! M14: a kill -9 at any moment of `pack` leaves a database that opens with
//! the old or the new contents and answers every query identically, and
//! pack changes no answer of a capture (events, replay, memory).
//!
//! The test re-runs its own binary as a child that packs a copy of one
//! database; the parent kills it (SIGKILL) after a random delay within the
//! time a pack takes, reopens the copy and compares a digest of answers
//! with the original's. `TRACEMEM_PACK_KILLS` sets the number of kills
//! (default 30).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use tracemem::record::{Op, ReplayMaster, ReplayMode};
use tracemem::workloads::{W1, W2Config, W2Write, w2};
use tracemem::{AddressRange, CaptureSpec, Database, Direction, Lifespan, MemState, MemoryRead, StatePredicate};

use crate::child::{self, Xorshift};

const CHILD_ENV: &str = "TRACEMEM_PACK_CHILD_DB";
const CONFIG: W2Config = W2Config {
    image_size: 1 << 16,
    snaps: 3_000,
    seed: 3,
};

/// A database with W2 memory (small image, 3,000 snaps) and a W1 capture.
pub(crate) fn build(path: &Path) {
    let db = Database::builder().max_chunk_deltas(8).create(path).unwrap();
    let mut txn = db.begin_write().unwrap();
    w2(CONFIG, |w| match w {
        W2Write::Put {
            space,
            snap,
            address,
            data,
        } => {
            txn.create_space(space)
                .unwrap()
                .put_bytes(snap, address, &data)
                .unwrap();
        }
        W2Write::Error { snap, address, len } => {
            let range = AddressRange::from_start_len(address, len).unwrap();
            txn.create_space("ram")
                .unwrap()
                .set_state(snap, range, MemState::Error)
                .unwrap();
        }
    });
    txn.commit().unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.create_capture(&CaptureSpec::new("w1")).unwrap();
    let events: Vec<_> = W1::new(4).take(20_000).collect();
    txn.append_events("w1", &events).unwrap();
    txn.commit().unwrap();
    db.close().unwrap();
}

/// A hash of many answers: bytes, states, searches, diffs and changes of
/// every space at many snaps, and the capture's events.
pub(crate) fn digest(db: &Database) -> u64 {
    let mut h = DefaultHasher::new();
    let read = db.begin_read().unwrap();
    for name in read.spaces().unwrap() {
        let space = read.space(&name).unwrap();
        for snap in (0..=CONFIG.snaps).step_by(97).chain([CONFIG.snaps + 25_000, -1]) {
            for (start, len) in [
                (0x1000_0000u64, 1usize << 16),
                (0x2000_0000, 1 << 16),
                (0x7fff_f000, 4096),
                (0, 4096),
            ] {
                let mut buf = vec![0u8; len];
                let filled = space.get_bytes(snap, start, &mut buf).unwrap();
                (filled, &buf).hash(&mut h);
                let range = AddressRange::from_start_len(start, len as u64).unwrap();
                format!("{:?}", space.most_recent_states(snap, range).unwrap()).hash(&mut h);
                space
                    .find_bytes(snap, range, &[0, 0, 0, 1], None, Direction::Forward)
                    .unwrap()
                    .hash(&mut h);
                format!("{:?}", space.diff(snap, snap / 2, range).unwrap()).hash(&mut h);
            }
            space
                .snap_of_most_recent_change_to_block(snap, 0x2000_0000)
                .unwrap()
                .hash(&mut h);
        }
        format!("{:?}", space.changes(100, 2_000).unwrap()).hash(&mut h);
        let all = Lifespan::new(i64::MIN, i64::MAX).unwrap();
        format!(
            "{:?}",
            space.addresses_with_state(all, StatePredicate::IsError).unwrap()
        )
        .hash(&mut h);
    }
    format!("{:?}", read.events("w1", 0..20_000).unwrap()).hash(&mut h);
    h.finish()
}

/// Replays the capture loosely and strictly from the database: every read
/// answers as recorded.
fn replay_all(db: &Database) {
    let read = db.begin_read().unwrap();
    let events = read.events("w1", 0..20_000).unwrap();
    let mut replay = ReplayMaster::from_capture(&read, "w1", ReplayMode::Strict).unwrap();
    assert_eq!(replay.len(), 20_000);
    for event in &events {
        let width = event.width.unwrap_or(4);
        match event.op {
            Op::Read => assert_eq!(replay.replay_read(event.address, width).unwrap(), event.value),
            Op::Write => replay.replay_write(event.address, event.value, width).unwrap(),
        }
    }
}

/// The child: packs the database named in its environment. Does nothing in
/// a normal run.
#[test]
fn crash_child_packer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    println!("packing");
    tracemem::pack(&path, &mut |_| {}).unwrap();
    println!("packed");
}

/// The child of the full-disk test: packs under a file size limit, with
/// SIGXFSZ ignored so that writes past it fail with EFBIG, as on a full disk.
#[test]
fn full_disk_child_packer() {
    let (Ok(path), Ok(limit)) = (std::env::var(CHILD_ENV), std::env::var("TRACEMEM_PACK_FSIZE")) else {
        return;
    };
    let limit: u64 = limit.parse().unwrap();
    // SAFETY: plain libc calls on this process's own limits and signals.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit), 0);
    }
    match tracemem::pack(&path, &mut |_| {}) {
        Ok(_) => println!("packed"),
        Err(e) => println!("refused: {e}"),
    }
}

#[test]
fn pack_on_a_full_disk_fails_cleanly_and_keeps_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.tmdb");
    build(&path);
    let want = digest(&Database::open(&path).unwrap());
    // Room for a little of the new file only.
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_pack::full_disk_child_packer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .env("TRACEMEM_PACK_FSIZE", (256 * 1024).to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("refused: ") || l.ends_with("packed"));
    let line = line.unwrap_or_else(|| panic!("the child said nothing: {stdout}"));
    assert!(line.contains("refused: "), "{line}");
    assert!(line.contains("File too large") || line.contains("too large"), "{line}");
    assert!(
        !tracemem::pack::packing_path(&path).exists(),
        "the partial new file stayed"
    );
    // The database answers as before (opening it rewrites redb's header, so
    // its bytes are not compared).
    let db = Database::open(&path).unwrap();
    assert_eq!(digest(&db), want, "the database changed");
    assert!(db.check().unwrap().problems.is_empty());
    drop(db);
    // With room again, the pack goes through.
    tracemem::pack(&path, &mut |_| {}).unwrap();
    assert_eq!(digest(&Database::open(&path).unwrap()), want);
}

#[test]
fn pack_changes_no_answer_and_survives_kill_9() {
    let kills: u64 = std::env::var("TRACEMEM_PACK_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.tmdb");
    build(&base);
    let want = digest(&Database::open(&base).unwrap());

    // Packed in this process: the same answers, a smaller file, replay intact.
    let packed = dir.path().join("packed.tmdb");
    std::fs::copy(&base, &packed).unwrap();
    let started = Instant::now();
    let mut phases = Vec::new();
    let report = tracemem::pack(&packed, &mut |p| phases.push(p.phase)).unwrap();
    let pack_time = started.elapsed();
    assert!(report.bytes_after < report.bytes_before, "{report:?}");
    assert!(report.chunks_after < report.chunks_before, "{report:?}");
    assert_eq!(phases.last(), Some(&tracemem::PackPhase::Replacing));
    let db = Database::open(&packed).unwrap();
    assert_eq!(digest(&db), want);
    assert!(db.check().unwrap().problems.is_empty());
    replay_all(&db);
    drop(db);
    // Packing a packed database changes nothing either.
    tracemem::pack(&packed, &mut |_| {}).unwrap();
    assert_eq!(digest(&Database::open(&packed).unwrap()), want);
    // A packed capture (its full event chunks cut to fit a page) takes
    // more events, and reads back all of them.
    let db = Database::open(&packed).unwrap();
    let all: Vec<_> = W1::new(4).take(30_000).collect();
    let mut txn = db.begin_write().unwrap();
    txn.append_events("w1", &all[20_000..]).unwrap();
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(read.events("w1", 0..30_000).unwrap(), all);
    assert!(db.check().unwrap().problems.is_empty());
    drop(read);
    drop(db);

    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    let (mut old, mut new) = (0, 0);
    for round in 0..kills {
        let path = dir.path().join(format!("kill-{round}.tmdb"));
        std::fs::copy(&base, &path).unwrap();
        let (child, lines) = child::spawn("crash_pack::crash_child_packer", CHILD_ENV, &path);
        let delay = random.delay_within(pack_time);
        child::kill_after(child, lines, "packing", delay);
        let db = Database::open(&path).unwrap();
        assert_eq!(digest(&db), want, "round {round}, killed after {delay:?}");
        let report = db.check().unwrap();
        assert!(report.problems.is_empty(), "round {round}: {report:?}");
        drop(db);
        if std::fs::metadata(&path).unwrap().len() < std::fs::metadata(&base).unwrap().len() {
            new += 1;
        } else {
            old += 1;
        }
        // A later pack finishes the job, whatever the kill left behind.
        tracemem::pack(&path, &mut |_| {}).unwrap();
        assert_eq!(
            digest(&Database::open(&path).unwrap()),
            want,
            "round {round}, packed again"
        );
        std::fs::remove_file(&path).unwrap();
    }
    eprintln!("{kills} kills during pack: {old} left the old file, {new} the new one");
}

#[test]
fn pack_of_a_database_held_by_a_recorder_is_refused_and_touches_nothing() {
    use tracemem::record::{Master, MockMaster, RecorderOptions, RecordingMaster};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.tmdb");
    let mut recorder = RecordingMaster::create(
        MockMaster::new(),
        &path,
        &CaptureSpec::new("live"),
        RecorderOptions::default(),
    )
    .unwrap();
    recorder.write(0x4000_0000, 7, 4).unwrap();
    recorder.flush().unwrap();
    let before = std::fs::read(&path).unwrap();
    let refused = tracemem::pack(&path, &mut |_| {});
    assert!(matches!(refused, Err(tracemem::Error::Busy { .. })), "{refused:?}");
    assert!(!tracemem::pack::packing_path(&path).exists());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // The recording goes on, and once it is closed the pack goes through.
    recorder.write(0x4000_0004, 8, 4).unwrap();
    recorder.close().unwrap();
    tracemem::pack(&path, &mut |_| {}).unwrap();
    let db = Database::open(&path).unwrap();
    assert_eq!(db.begin_read().unwrap().capture("live").unwrap().events, 2);
}
