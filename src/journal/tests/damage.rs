//! Damaged, short and full-disk journal files give typed errors, never a
//! panic; preallocation is real; capacity changes only when empty.

use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, MetadataExt};

use super::*;
use crate::journal::file::zero_fill;

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn damaged_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good_path = dir.path().join("good");
    let (mut j, _) = Journal::open(&good_path, 1 << 14, 0).unwrap();
    j.append(b"hello").unwrap();
    j.append(b"world").unwrap();
    j.folded(1).unwrap(); // both tail slots now valid (generations 1 and 2)
    drop(j);
    let good = std::fs::read(&good_path).unwrap();
    let mut rng = Rng::new(time_seed());

    let both = |p: &Path| -> (Result<Vec<Record>, JournalError>, Result<Vec<Record>, JournalError>) {
        let ro = Journal::read_only(p, 0);
        let rw = Journal::open(p, 1 << 14, 0).map(|(_, r)| r);
        (ro, rw)
    };

    let mut random = rng.bytes(1 << 14);
    random[0] = b'X';
    let p = write_file(dir.path(), "random", &random);
    for r in [both(&p).0, both(&p).1] {
        match r {
            Err(JournalError::BadMagic { path, found }) => {
                assert_eq!(path, p);
                assert_eq!(found[0], b'X');
            }
            other => panic!("{other:?}"),
        }
    }

    let p = write_file(dir.path(), "tiny", &good[..5]);
    let (ro, rw) = both(&p);
    assert!(
        matches!(ro, Err(JournalError::TruncatedHeader { len: 5, .. })),
        "{ro:?}"
    );
    assert!(
        matches!(rw, Err(JournalError::TruncatedHeader { len: 5, .. })),
        "{rw:?}"
    );

    let p = write_file(dir.path(), "short", &good[..1000]);
    let (ro, rw) = both(&p);
    assert!(
        matches!(ro, Err(JournalError::TruncatedHeader { len: 1000, .. })),
        "{ro:?}"
    );
    assert!(matches!(rw, Err(JournalError::TruncatedHeader { .. })), "{rw:?}");

    let mut bad = good.clone();
    bad[..8].copy_from_slice(b"SQLite f");
    let p = write_file(dir.path(), "magic", &bad);
    assert!(matches!(both(&p).0, Err(JournalError::BadMagic { .. })));
    assert!(matches!(both(&p).1, Err(JournalError::BadMagic { .. })));

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&2u32.to_le_bytes());
    let p = write_file(dir.path(), "newer", &newer);
    for r in [both(&p).0, both(&p).1] {
        assert!(
            matches!(
                r,
                Err(JournalError::NewerVersion {
                    found: 2,
                    supported: 1,
                    ..
                })
            ),
            "{r:?}"
        );
    }

    let mut v0 = good.clone();
    v0[8..12].copy_from_slice(&0u32.to_le_bytes());
    let p = write_file(dir.path(), "v0", &v0);
    assert!(matches!(both(&p).0, Err(JournalError::CorruptHeader { .. })));

    let mut cap = good.clone();
    cap[17] ^= 1;
    let p = write_file(dir.path(), "checksum", &cap);
    assert!(matches!(both(&p).0, Err(JournalError::HeaderChecksum { .. })));
    assert!(matches!(both(&p).1, Err(JournalError::HeaderChecksum { .. })));

    let p = write_file(dir.path(), "truncated", &good[..good.len() - 8]);
    assert!(matches!(both(&p).0, Err(JournalError::FileTooShort { .. })));
    assert!(matches!(both(&p).1, Err(JournalError::FileTooShort { .. })));

    let mut slots = good.clone();
    slots[512..512 + 32].fill(0x55);
    slots[1024..1024 + 32].fill(0x55);
    let p = write_file(dir.path(), "slots", &slots);
    assert!(matches!(both(&p).0, Err(JournalError::CorruptHeader { .. })));

    // One torn slot: the other one is used.
    let mut one = good.clone();
    one[1024 + 3] ^= 0xFF; // generation 1 (older)
    let p = write_file(dir.path(), "oneslot_old", &one);
    assert_eq!(seqs(&Journal::read_only(&p, 0).unwrap()), vec![2]);
    let mut one = good.clone();
    one[512] = 0; // generation 2 (newer) torn: falls back to generation 1
    one[512 + 1] = 0;
    let p = write_file(dir.path(), "oneslot_new", &one);
    assert_eq!(seqs(&Journal::read_only(&p, 0).unwrap()), vec![1, 2]);
    assert_eq!(seqs(&Journal::read_only(&p, 1).unwrap()), vec![2]);

    // A record area of random garbage: zero records, usable afterwards.
    let mut garbage = good.clone();
    let noise = rng.bytes(garbage.len() - HEADER_SIZE as usize);
    garbage[HEADER_SIZE as usize..].copy_from_slice(&noise);
    let p = write_file(dir.path(), "garbage", &garbage);
    assert!(Journal::read_only(&p, 0).unwrap().is_empty());
    let (mut j, recs) = Journal::open(&p, 1 << 14, 0).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.last_seq(), 1); // the tail slot says record 2 comes next
    assert_eq!(j.append(b"fresh").unwrap(), 2);
    drop(j);
    assert_eq!(seqs(&Journal::read_only(&p, 0).unwrap()), vec![2]);

    // All-zero or empty files are uninitialised: no records, initialised on open.
    let p = write_file(dir.path(), "zeros", &vec![0u8; 3 << 12]);
    assert!(Journal::read_only(&p, 0).unwrap().is_empty());
    let p = write_file(dir.path(), "empty", &[]);
    assert!(Journal::read_only(&p, 0).unwrap().is_empty());
    let (mut j, recs) = Journal::open(&p, 1 << 14, 7).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.append(b"a").unwrap(), 8);

    // Missing file for a reader.
    assert!(matches!(
        Journal::read_only(&dir.path().join("nope"), 0),
        Err(JournalError::Io { .. })
    ));
}

/// Random bit flips and truncations anywhere: never a panic.
#[test]
fn random_damage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good_path = dir.path().join("good");
    let (mut j, _) = Journal::open(&good_path, 1 << 14, 0).unwrap();
    let mut rng = Rng::new(time_seed());
    for i in 1..=400u64 {
        let p = payload_for(i, rng.range(0, 120) as usize);
        loop {
            match j.append(&p) {
                Ok(_) => break,
                Err(JournalError::Full { .. }) => {
                    let upto = j.last_seq().saturating_sub(rng.range(0, 3));
                    j.folded(upto).unwrap();
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    drop(j);
    let good = std::fs::read(&good_path).unwrap();
    let p = dir.path().join("damaged");
    for _ in 0..300 {
        let mut bytes = good.clone();
        for _ in 0..rng.range(1, 8) {
            let at = rng.range(0, bytes.len() as u64 - 1) as usize;
            bytes[at] = rng.next() as u8;
        }
        if rng.range(0, 9) == 0 {
            bytes.truncate(rng.range(0, bytes.len() as u64) as usize);
        }
        std::fs::write(&p, &bytes).unwrap();
        let _ = Journal::read_only(&p, rng.range(0, 500));
        if let Ok((mut j, _)) = Journal::open(&p, 1 << 14, rng.range(0, 500)) {
            let _ = j.append(b"after damage");
        }
    }
}

#[test]
fn preallocation_is_real() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let cap = 8 << 20;
    let (j, _) = Journal::open(&path, cap, 0).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), cap);
    assert!(meta.blocks() * 512 >= cap, "{} blocks", meta.blocks());
    drop(j);

    // The zero-writing fallback allocates too.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path().join("z"))
        .unwrap();
    zero_fill(&f, &dir.path().join("z"), 0, 1 << 20).unwrap();
    let meta = f.metadata().unwrap();
    assert_eq!(meta.len(), 1 << 20);
    assert!(meta.blocks() * 512 >= 1 << 20);

    // A sparse journal (e.g. copied with `cp --sparse`) gets its holes filled on open.
    let sparse = dir.path().join("sparse");
    let f = File::create(&sparse).unwrap();
    let good = std::fs::read(&path).unwrap();
    f.write_all_at(&good[..HEADER_SIZE as usize], 0).unwrap();
    f.set_len(cap).unwrap();
    drop(f);
    assert!(std::fs::metadata(&sparse).unwrap().blocks() * 512 < cap);
    let (_j, _) = Journal::open(&sparse, cap, 0).unwrap();
    assert!(std::fs::metadata(&sparse).unwrap().blocks() * 512 >= cap);
}

/// ENOSPC at open on a size-limited tmpfs (tmpfs refuses an oversized
/// `fallocate` up front, so this allocates nothing). Skipped elsewhere.
#[test]
fn no_space_is_a_typed_error_at_open() {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return;
    };
    let size = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) != Some(&"/dev/shm") || f.get(2) != Some(&"tmpfs") {
            return None;
        }
        let opt = f.get(3)?.split(',').find_map(|o| o.strip_prefix("size="))?;
        let (num, mul) = match opt.chars().last()? {
            'k' => (&opt[..opt.len() - 1], 1u64 << 10),
            'm' => (&opt[..opt.len() - 1], 1 << 20),
            'g' => (&opt[..opt.len() - 1], 1 << 30),
            _ => (opt, 1),
        };
        num.parse::<u64>().ok().map(|n| n * mul)
    });
    let Some(size) = size else {
        eprintln!("no size-limited tmpfs at /dev/shm; skipping");
        return;
    };
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let path = dir.path().join("j");
    let cap = (size + (1 << 30)) & !7;
    match Journal::open(&path, cap, 0) {
        Err(JournalError::NoSpace { path: p, bytes, .. }) => {
            assert_eq!(p, path);
            assert_eq!(bytes, cap);
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    // The failed file is uninitialised; a sane capacity works afterwards.
    let (mut j, _) = Journal::open(&path, 1 << 16, 0).unwrap();
    assert_eq!(j.append(b"ok").unwrap(), 1);
}

#[test]
fn capacity_changes_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
    for i in 1..=5 {
        j.append(&payload_for(i, 50)).unwrap();
    }
    drop(j);
    // Unfolded records: the stored capacity is kept.
    let (mut j, recs) = Journal::open(&path, 1 << 16, 2).unwrap();
    assert_eq!(seqs(&recs), vec![3, 4, 5]);
    assert_eq!(j.capacity(), 1 << 14);
    j.folded(5).unwrap();
    drop(j);
    // Nothing unfolded: grown.
    let (mut j, recs) = Journal::open(&path, 1 << 16, 5).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.capacity(), 1 << 16);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 1 << 16);
    assert!(meta.blocks() * 512 >= 1 << 16);
    assert_eq!(j.append(b"six").unwrap(), 6);
    drop(j);
    // Shrunk when empty again, numbering kept.
    let (mut j, recs) = Journal::open(&path, MIN_CAPACITY, 6).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.capacity(), MIN_CAPACITY);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), MIN_CAPACITY);
    assert_eq!(j.append(b"seven").unwrap(), 7);
    drop(j);
    assert_eq!(seqs(&Journal::read_only(&path, 0).unwrap()), vec![7]);

    // A resize killed after it zeroed the magic: the file is uninitialised
    // and the next open initialises it, continuing after the fold mark.
    let (j, _) = Journal::open(&path, MIN_CAPACITY, 7).unwrap();
    drop(j);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..8].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    assert!(Journal::read_only(&path, 7).unwrap().is_empty());
    let (mut j, recs) = Journal::open(&path, 1 << 15, 7).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.capacity(), 1 << 15);
    assert_eq!(j.append(b"eight").unwrap(), 8);
}
