//! One writer appending W1 while reader threads query throughout (M13, R5):
//! every reader sees a consistent prefix of the events — in order, without
//! gaps, never shrinking — and memory that agrees with that prefix. (A reader
//! *process* beside a running recorder is `tests/recording/live_readers.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracemem::record::TraceEvent;
use tracemem::workloads::{Lcg, W1};
use tracemem::{CaptureSpec, Database, MemoryRead};

const EVENTS: usize = 60_000;
const BATCH: usize = 500;
const READERS: u64 = 3;

#[test]
fn readers_see_consistent_prefixes_while_a_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Database::create(dir.path().join("c.tmdb")).unwrap());
    let events: Arc<Vec<TraceEvent>> = Arc::new(W1::new(9).take(EVENTS).collect());
    let mut txn = db.begin_write().unwrap();
    txn.create_capture(&CaptureSpec::new("w1")).unwrap();
    txn.commit().unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (db, events, done) = (db.clone(), events.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Lcg::new(r + 1);
                let (mut last, mut looks, mut growing) = (0u64, 0u32, 0u32);
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let read = db.begin_read().unwrap();
                    let capture = read.capture("w1").unwrap();
                    let n = capture.events;
                    assert!(n >= last, "reader {r}: the prefix shrank from {last} to {n}");
                    assert_eq!(
                        n % BATCH as u64,
                        0,
                        "reader {r}: a transaction seen in part ({n} events)"
                    );
                    if n > last && n < EVENTS as u64 {
                        growing += 1;
                    }
                    last = n;
                    // The newest events of the snapshot, exactly as appended.
                    let from = n.saturating_sub(2 * BATCH as u64);
                    let seen = read.events("w1", from..n).unwrap();
                    assert_eq!(seen.as_slice(), &events[from as usize..n as usize], "reader {r} at {n}");
                    // Memory at random snaps of the prefix agrees with its events.
                    let bus = read.space("bus").ok();
                    for _ in 0..if n > 0 { 20 } else { 0 } {
                        let Some(bus) = &bus else { break };
                        let seq = rng.below(n);
                        let event = &events[seq as usize];
                        let width = usize::from(event.width.unwrap_or(4));
                        let mut buf = [0u8; 8];
                        let filled = bus
                            .get_bytes(
                                read.event_snap(&capture, seq).unwrap().unwrap(),
                                event.address,
                                &mut buf[..width],
                            )
                            .unwrap();
                        assert_eq!(filled, width, "reader {r}: event {seq}");
                        let mask = if width == 8 {
                            u64::MAX
                        } else {
                            (1u64 << (8 * width)) - 1
                        };
                        assert_eq!(u64::from_le_bytes(buf), event.value & mask, "reader {r}: event {seq}");
                    }
                    // Nothing past the prefix is visible.
                    assert!(read.events("w1", n..n + 1).unwrap().is_empty());
                    looks += 1;
                    if finished {
                        return (last, looks, growing);
                    }
                }
            })
        })
        .collect();

    for batch in events.chunks(BATCH) {
        let mut txn = db.begin_write().unwrap();
        txn.append_events("w1", batch).unwrap();
        txn.commit().unwrap();
    }
    done.store(true, Ordering::Release);
    for (r, reader) in readers.into_iter().enumerate() {
        let (last, looks, growing) = reader.join().unwrap();
        assert_eq!(last, EVENTS as u64, "reader {r} saw the end");
        assert!(
            growing >= 2,
            "reader {r} looked {looks} times and saw the capture grow {growing} times"
        );
    }
}
