//! Events read back equal the events appended: values come from memory (the
//! records at each event's snap, read a granule's chunk at a time), over
//! chunk boundaries, granule-crossing accesses, failures, both byte orders
//! and packed files.

use proptest::prelude::*;
use tracemem::record::{Op, TraceEvent};
use tracemem::{CaptureSpec, Database};

/// One event: addresses in a few granules and across their edges.
fn event() -> impl Strategy<Value = TraceEvent> {
    let address = prop_oneof![0u64..64, 250u64..262, 0x1f0u64..0x210, 0xffff_fffcu64..0x1_0000_0004];
    let width = prop_oneof![Just(None), Just(Some(1u8)), Just(Some(2)), Just(Some(4)), Just(Some(8))];
    let value = prop_oneof![0u64..4, any::<u64>()];
    let error = prop_oneof![8 => Just(None), 1 => Just(Some("bus timeout".to_string()))];
    (any::<bool>(), address, value, width, error).prop_map(|(write, address, value, width, error)| TraceEvent {
        op: if write { Op::Write } else { Op::Read },
        address,
        // The seed's rule: a value always fits its width unless given wider (R7).
        value,
        width,
        timestamp: 0.0,
        error,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn events_read_back_as_appended(
        events in proptest::collection::vec(event(), 1..400),
        batches in 1usize..5,
        big_endian in any::<bool>(),
        pack in any::<bool>(),
        from in 0u64..400,
    ) {
        let mut events = events;
        for (i, e) in events.iter_mut().enumerate() {
            e.timestamp = i as f64 * 1e-6;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tmdb");
        {
            let db = Database::create(&path).unwrap();
            let mut txn = db.begin_write().unwrap();
            let mut spec = CaptureSpec::new("c");
            spec.big_endian = big_endian;
            txn.create_capture(&spec).unwrap();
            txn.commit().unwrap();
            for batch in events.chunks(events.len().div_ceil(batches)) {
                let mut txn = db.begin_write().unwrap();
                txn.append_events("c", batch).unwrap();
                txn.commit().unwrap();
            }
        }
        if pack {
            tracemem::pack(&path, &mut |_| {}).unwrap();
        }
        let db = Database::open(&path).unwrap();
        let read = db.begin_read().unwrap();
        prop_assert_eq!(&read.events("c", 0..u64::MAX).unwrap(), &events);
        let from = from.min(events.len() as u64);
        prop_assert_eq!(&read.events("c", from..u64::MAX).unwrap()[..], &events[from as usize..]);
    }
}
