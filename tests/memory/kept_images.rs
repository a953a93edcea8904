//! Large reads and searches that a read transaction serves from the granule
//! images it kept (long runs of consecutive granules, each image valid over
//! some snaps only), checked against the in-memory model: matches across
//! the edges of kept runs, of unknown holes and of ERROR bytes, in both
//! directions, and reads at snaps where some kept images no longer hold.

use tracemem::workloads::Lcg;
use tracemem::{AddressRange, Database, Direction, MemState, MemoryRead, Snap};

use crate::model::ModelSpace;

const BASE: u64 = 0x10_000;
const LEN: u64 = 96 << 10;

#[test]
fn searches_and_reads_of_kept_images_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("kept.tmdb")).unwrap();
    let mut model = ModelSpace::default();
    let mut rng = Lcg::new(29);
    // Bytes from a small alphabet, so that patterns recur by chance.
    let random_bytes = |rng: &mut Lcg, n: usize| -> Vec<u8> { (0..n).map(|_| rng.below(4) as u8).collect() };
    let mut changed: Vec<(Snap, u64, u64)> = Vec::new();
    let mut txn = db.begin_write().unwrap();
    {
        let mut ram = txn.create_space("ram").unwrap();
        // Snap 0: all of it but two holes never written.
        let holes = [(40 << 10, 300), ((70 << 10) + 17, 1000)];
        let mut at = BASE;
        for (offset, len) in holes.into_iter().chain([(LEN, 0)]) {
            let data = random_bytes(&mut rng, (BASE + offset - at) as usize);
            ram.put_bytes(0, at, &data).unwrap();
            model.put_bytes(0, at, &data);
            at = BASE + offset + len;
        }
        // Later snaps change a few places, so that kept images hold at some
        // snaps only; one is an ERROR read.
        for snap in [5, 9] {
            for _ in 0..3 {
                let start = BASE + rng.below(LEN - 600);
                let n = 1 + rng.below(600) as usize;
                let data = random_bytes(&mut rng, n);
                ram.put_bytes(snap, start, &data).unwrap();
                model.put_bytes(snap, start, &data);
                changed.push((snap, start, start + n as u64));
            }
        }
        let error = AddressRange::from_start_len(BASE + (20 << 10) + 5, 40).unwrap();
        ram.set_state(9, error, MemState::Error).unwrap();
        model.set_error(9, error);
    }
    txn.commit().unwrap();

    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();
    let whole = AddressRange::from_start_len(BASE - 300, LEN + 600).unwrap();
    // Images kept as of snap 0, by the transaction's first bulk read.
    let mut buf = vec![0u8; LEN as usize];
    ram.get_bytes(0, BASE, &mut buf).unwrap();
    // At later snaps the kept images of the changed granules no longer
    // hold: long runs of kept images end there, beside images read anew.
    // Patterns of 12 bytes (unlikely to recur by chance) across those ends.
    for &(snap, start, end) in &changed {
        for edge in [start - start % 256, end - end % 256 + 256] {
            let range = AddressRange::new(
                edge.saturating_sub(24 << 10).max(BASE),
                (edge + (24 << 10)).min(BASE + LEN - 1),
            )
            .unwrap();
            // Across the edge, ending at it, starting at it, and at the ends of the range.
            let sources = [
                edge - 1,
                edge - 6,
                edge - 11,
                edge - 12,
                edge,
                range.min(),
                range.max() - 11,
            ];
            for source in sources {
                for backward in [false, true] {
                    let mut pattern = [0u8; 12];
                    model.get_bytes(snap, source, &mut pattern);
                    let direction = if backward {
                        Direction::Backward
                    } else {
                        Direction::Forward
                    };
                    assert_eq!(
                        ram.find_bytes(snap, range, &pattern, None, direction).unwrap(),
                        model.find_bytes(snap, range, &pattern, None, backward),
                        "find {pattern:x?} across {edge:#x} in {range} at snap {snap}, {direction:?}"
                    );
                }
            }
        }
    }
    for query in 0..120 {
        let snap: Snap = [0, 3, 5, 7, 9, 12][rng.below(6) as usize];
        if query % 10 == 0 {
            let mut got = vec![0x5a; (LEN + 600) as usize];
            let mut want = got.clone();
            assert_eq!(
                ram.get_bytes(snap, whole.min(), &mut got).unwrap(),
                model.get_bytes(snap, whole.min(), &mut want)
            );
            assert!(got == want, "get_bytes of the whole at snap {snap}");
        }
        // A pattern read at a random place (where the model knows it), a
        // mask on some queries, a range anywhere around the memory.
        let n = 1 + rng.below(12) as usize;
        let source = BASE + rng.below(LEN);
        let mut pattern = vec![0u8; n];
        model.get_bytes(snap, source, &mut pattern);
        let mask: Option<Vec<u8>> =
            (query % 3 == 0).then(|| (0..n).map(|_| [0xff, 0x03, 0x00][rng.below(3) as usize]).collect());
        let a = whole.min() + rng.below(LEN / 2);
        let b = (a + rng.below(LEN + 600)).min(whole.max());
        let range = AddressRange::new(a, b).unwrap();
        let backward = query % 2 == 1;
        let direction = if backward {
            Direction::Backward
        } else {
            Direction::Forward
        };
        assert_eq!(
            ram.find_bytes(snap, range, &pattern, mask.as_deref(), direction)
                .unwrap(),
            model.find_bytes(snap, range, &pattern, mask.as_deref(), backward),
            "query {query}: find {pattern:x?} mask {mask:x?} in {range} at snap {snap}, {direction:?}"
        );
    }
}

/// Memory that changes at most snaps, in histories of many short chunks (a
/// heap, scrubbed back and forth in time): one read transaction reads and
/// searches it at random snaps, each read finding images kept in runs,
/// images displaced from them by reads at other snaps, and none; every
/// answer checked against the model, before and after pack.
#[test]
fn scrubbing_memory_that_changes_all_along_matches_the_model() {
    const REGION: u64 = 24 * 256;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scrub.tmdb");
    let db = Database::builder().max_chunk_deltas(3).create(&path).unwrap();
    let mut model = ModelSpace::default();
    let mut rng = Lcg::new(41);
    // Snaps on both sides of the timeline: 0..=160 and -40..=-1.
    let snaps: Vec<Snap> = (0..=160).chain(-40..0).collect();
    let mut txn = db.begin_write().unwrap();
    {
        let mut ram = txn.create_space("ram").unwrap();
        for &snap in &snaps {
            for _ in 0..1 + rng.below(3) {
                let start = BASE + rng.below(REGION);
                // Mostly small writes; some cover several granules whole.
                let n = match rng.below(5) {
                    0 => 256 + rng.below(1024),
                    _ => 1 + rng.below(40),
                }
                .min(BASE + REGION - start);
                let data: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
                ram.put_bytes(snap, start, &data).unwrap();
                model.put_bytes(snap, start, &data);
            }
            if snap % 23 == 0 {
                let error = AddressRange::from_start_len(BASE + rng.below(REGION - 64), 1 + rng.below(64)).unwrap();
                ram.set_state(snap, error, MemState::Error).unwrap();
                model.set_error(snap, error);
            }
        }
    }
    txn.commit().unwrap();

    let mut check = |db: &Database, pass: &str| {
        let read = db.begin_read().unwrap();
        let ram = read.space("ram").unwrap();
        let probe_snaps: Vec<Snap> = (-45..=170).collect();
        for query in 0..600 {
            let snap = probe_snaps[rng.below(probe_snaps.len() as u64) as usize];
            // 5 to 24 granules, anywhere around the region.
            let len = (5 * 256 + rng.below(19 * 256)) as usize;
            let start = BASE - 512 + rng.below(REGION + 1024 - len as u64);
            let mut got = vec![0x5a; len];
            let mut want = got.clone();
            assert_eq!(
                ram.get_bytes(snap, start, &mut got).unwrap(),
                model.get_bytes(snap, start, &mut want),
                "{pass}, query {query}: get_bytes at {start:#x} of {len} at snap {snap}"
            );
            assert!(
                got == want,
                "{pass}, query {query}: get_bytes at {start:#x} of {len} at snap {snap}"
            );
            if query % 4 == 0 {
                let source = start + rng.below(len as u64 - 6);
                let mut pattern = [0u8; 6];
                model.get_bytes(snap, source, &mut pattern);
                let range = AddressRange::from_start_len(start, len as u64).unwrap();
                for backward in [false, true] {
                    let direction = if backward {
                        Direction::Backward
                    } else {
                        Direction::Forward
                    };
                    assert_eq!(
                        ram.find_bytes(
                            snap,
                            range,
                            &pattern,
                            Some(&[0xff, 0xff, 0x0f, 0xff, 0xff, 0xff]),
                            direction
                        )
                        .unwrap(),
                        model.find_bytes(
                            snap,
                            range,
                            &pattern,
                            Some(&[0xff, 0xff, 0x0f, 0xff, 0xff, 0xff]),
                            backward
                        ),
                        "{pass}, query {query}: find {pattern:x?} in {range} at snap {snap}, {direction:?}"
                    );
                }
            }
        }
    };
    check(&db, "unpacked");
    db.close().unwrap();
    tracemem::pack(&path, &mut |_| {}).unwrap();
    check(&Database::open(&path).unwrap(), "packed");
}
