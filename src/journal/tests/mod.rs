//! The journal's tests: the ring and its rules here, damaged files in
//! `damage`, kill -9 of a writing child process in `kill`.

mod damage;
mod kill;

use super::*;
use crate::journal::layout::*;
use crate::journal::writer::Record;
pub(super) use std::fs::File;
use std::io::{BufRead, BufReader};
pub(super) use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub(super) const CHILD_ENV: &str = "TRACEMEM_JOURNAL_KILL_CHILD";

/// xorshift64* — deterministic, dependency-free randomness for tests.
pub(super) struct Rng(u64);
impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `lo..=hi`.
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    pub(super) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub(super) fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}

pub(super) fn payload_for(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i * 7) as u8).collect()
}

pub(super) fn seqs(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

/// A fixed pseudo-random pool the kill-test payloads are cut from.
pub(super) fn pool() -> &'static [u8] {
    static POOL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| Rng::new(0x7261_6365).bytes(1 << 20))
}

/// A payload that proves its own integrity: `seq ‖ offset ‖ pool[offset..]`.
/// Building it is one memcpy (so a kill lands inside the journal's copy
/// more often than inside payload generation), and the checker compares
/// every byte against the pool, which is stronger than a checksum.
pub(super) fn self_checking(seq: u64, rng: &mut Rng, len: usize) -> Vec<u8> {
    let body = len.saturating_sub(16);
    let off = rng.range(0, (pool().len() - body) as u64);
    let mut p = Vec::with_capacity(16 + body);
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&off.to_le_bytes());
    p.extend_from_slice(&pool()[off as usize..off as usize + body]);
    p
}

pub(super) fn check_self(r: &Record) -> bool {
    let off = rd_u64(&r.payload, 8) as usize;
    r.payload.len() >= 16
        && rd_u64(&r.payload, 0) == r.seq
        && pool().get(off..off + r.payload.len() - 16) == Some(&r.payload[16..])
}

#[test]
fn round_trip_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.journal");
    let (mut j, recs) = Journal::open(&path, 1 << 16, 0).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.last_seq(), 0);
    assert_eq!(j.capacity(), 1 << 16);
    assert_eq!(j.path(), path.as_path());
    for i in 1..=100u64 {
        assert_eq!(j.append(&payload_for(i, (i as usize * 13) % 97)).unwrap(), i);
    }
    let batch: Vec<Vec<u8>> = (101..=105).map(|i| payload_for(i, 5)).collect();
    assert_eq!(j.append_batch(batch.iter().map(|v| v.as_slice())).unwrap(), 105);
    assert_eq!(j.append_batch(std::iter::empty()).unwrap(), 105);
    drop(j);

    let (j, recs) = Journal::open(&path, 1 << 16, 0).unwrap();
    assert_eq!(seqs(&recs), (1..=105).collect::<Vec<_>>());
    for r in &recs {
        let len = if r.seq <= 100 { (r.seq as usize * 13) % 97 } else { 5 };
        assert_eq!(r.payload, payload_for(r.seq, len));
    }
    assert_eq!(j.last_seq(), 105);
    drop(j);

    assert_eq!(
        seqs(&Journal::read_only(&path, 40).unwrap()),
        (41..=105).collect::<Vec<_>>()
    );
    let (mut j, recs) = Journal::open(&path, 1 << 16, 40).unwrap();
    assert_eq!(seqs(&recs), (41..=105).collect::<Vec<_>>());
    assert_eq!(j.append(b"next").unwrap(), 106);
    j.sync().unwrap();
    drop(j);
    let (_j, recs) = Journal::open(&path, 1 << 16, 105).unwrap();
    assert_eq!(
        recs,
        vec![Record {
            seq: 106,
            payload: b"next".to_vec()
        }]
    );
}

#[test]
fn folded_through_ahead_of_journal_restarts_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
    for i in 1..=3 {
        j.append(&payload_for(i, 10)).unwrap();
    }
    drop(j);
    let (mut j, recs) = Journal::open(&path, 1 << 14, 50).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.last_seq(), 50);
    assert_eq!(j.append(b"x").unwrap(), 51);
    drop(j);
    let (j, recs) = Journal::open(&path, 1 << 14, 50).unwrap();
    assert_eq!(seqs(&recs), vec![51]);
    assert_eq!(j.last_seq(), 51);
    drop(j);
    // A fresh journal next to a database that already folded 1000 events.
    let fresh = dir.path().join("fresh");
    let (mut j, recs) = Journal::open(&fresh, 1 << 14, 1000).unwrap();
    assert!(recs.is_empty());
    assert_eq!(j.append(b"y").unwrap(), 1001);
}

#[test]
fn folded_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
    j.folded(0).unwrap();
    assert!(matches!(
        j.folded(1),
        Err(JournalError::FoldBeyondEnd { seq: 1, last: 0, .. })
    ));
    for i in 1..=10 {
        j.append(&payload_for(i, 30)).unwrap();
    }
    let full = j.bytes_free();
    j.folded(4).unwrap();
    assert!(j.bytes_free() > full);
    j.folded(2).unwrap(); // below the mark: no-op
    drop(j);
    // The journal remembers its own fold mark even if the database's mark is older.
    assert_eq!(
        seqs(&Journal::read_only(&path, 0).unwrap()),
        (5..=10).collect::<Vec<_>>()
    );
}

#[test]
fn too_large_and_max_payload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
    assert_eq!(j.max_payload(), HEADER_SIZE - 16);
    let too_big = vec![1u8; j.max_payload() as usize + 1];
    assert!(matches!(j.append(&too_big), Err(JournalError::TooLarge { .. })));
    // Make head sit in the middle, fold everything, then a max-size record
    // still fits (the tail is relocated to the start of the area).
    j.append(&[7u8; 1000]).unwrap();
    assert!(matches!(
        j.append(&vec![2u8; j.max_payload() as usize]),
        Err(JournalError::Full { .. })
    ));
    j.folded(1).unwrap();
    let max = vec![3u8; j.max_payload() as usize];
    assert_eq!(j.append(&max).unwrap(), 2);
    assert_eq!(j.bytes_free(), 0);
    assert!(matches!(j.append(b""), Err(JournalError::Full { .. })));
    drop(j);
    let (_j, recs) = Journal::open(&path, MIN_CAPACITY, 1).unwrap();
    assert_eq!(recs, vec![Record { seq: 2, payload: max }]);
}

#[test]
fn invalid_capacity_and_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    for cap in [0, 4096, MIN_CAPACITY + 4] {
        assert!(
            matches!(Journal::open(&path, cap, 0), Err(JournalError::InvalidCapacity { .. })),
            "{cap}"
        );
    }
    let (j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
    match Journal::open(&path, MIN_CAPACITY, 0) {
        Err(JournalError::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    // Readers are not locked out.
    assert!(Journal::read_only(&path, 0).unwrap().is_empty());
    drop(j);
    Journal::open(&path, MIN_CAPACITY, 0).unwrap();
}

/// Offset of the record that the next append will write (for corrupting it).
fn next_pos(j: &Journal, size: u64) -> u64 {
    let mut ring = j.ring;
    ring.place(&j.geo, size).map(|p| p.pos).unwrap()
}

#[test]
fn torn_tail_variants() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let (mut j, _) = Journal::open(&pristine, 1 << 16, 0).unwrap();
    for i in 1..=9u64 {
        j.append(&payload_for(i, 40 + i as usize)).unwrap();
    }
    let last_len = 77usize;
    let pos = next_pos(&j, record_size(last_len as u64)) as usize;
    assert_eq!(j.append(&payload_for(10, last_len)).unwrap(), 10);
    drop(j);
    let good = std::fs::read(&pristine).unwrap();

    type Damage = fn(&mut [u8], usize, usize);
    let damages: Vec<(&str, Damage)> = vec![
        ("payload half copied", |f, p, n| f[p + 16 + n / 2..p + 16 + n].fill(0)),
        ("payload tail stale", |f, p, n| f[p + 16 + n - 3..p + 16 + n].fill(0xAA)),
        ("payload bit flip", |f, p, _| f[p + 20] ^= 0x10),
        ("commit word zeroed", |f, p, _| f[p..p + 8].fill(0)),
        ("header zeroed", |f, p, _| f[p..p + 16].fill(0)),
        ("crc bit flip", |f, p, _| f[p + 5] ^= 1),
        ("seq bit flip", |f, p, _| f[p + 8] ^= 4),
        ("len grown", |f, p, _| f[p] = f[p].wrapping_add(8)),
        ("len shrunk", |f, p, _| f[p] = f[p].wrapping_sub(1)),
        ("committed bit cleared", |f, p, _| f[p + 3] &= 0x7F),
        ("turned into wrap marker", |f, p, _| f[p..p + 4].fill(0xFF)),
    ];
    for (i, (name, damage)) in damages.into_iter().enumerate() {
        let path = dir.path().join(format!("torn{i}"));
        let mut bytes = good.clone();
        damage(&mut bytes, pos, last_len);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            seqs(&Journal::read_only(&path, 0).unwrap()),
            (1..=9).collect::<Vec<_>>(),
            "{name}"
        );
        let (mut j, recs) = Journal::open(&path, 1 << 16, 0).unwrap();
        assert_eq!(seqs(&recs), (1..=9).collect::<Vec<_>>(), "{name}");
        for r in &recs {
            assert_eq!(r.payload, payload_for(r.seq, 40 + r.seq as usize), "{name}");
        }
        assert_eq!(j.last_seq(), 9, "{name}");
        assert_eq!(j.append(b"replacement").unwrap(), 10, "{name}");
        assert_eq!(j.append(b"more").unwrap(), 11, "{name}");
        drop(j);
        let (_j, recs) = Journal::open(&path, 1 << 16, 8).unwrap();
        assert_eq!(seqs(&recs), vec![9, 10, 11], "{name}");
        assert_eq!(recs[1].payload, b"replacement", "{name}");
    }
}

/// Simulates a kill after every single byte store of the write protocol,
/// over the stale bytes of an older record at the same position: the new
/// record is accepted only once its last store (byte 3) was made.
#[test]
fn kill_at_every_store_of_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
    let mut n = 0;
    while j.append(&payload_for(n + 1, 100)).is_ok() {
        n += 1;
    }
    j.folded(n - 1).unwrap(); // keep record n unfolded: no relocation below
    assert_eq!(j.append(&payload_for(n + 1, 100)).unwrap(), n + 1); // wraps to the start
    let pos = j.ring.head as usize;
    let before = std::fs::read(&path).unwrap();
    assert_eq!(
        rd_u64(&before, pos + 8),
        2,
        "stale record 2 sits where the next record goes"
    );
    assert_eq!(j.append(&payload_for(n + 2, 100)).unwrap(), n + 2);
    drop(j);
    let after = std::fs::read(&path).unwrap();

    // The stores of `write_entry`, in program order: (offset, value).
    let mut ops: Vec<(usize, u8)> = (pos..pos + 8).map(|i| (i, 0)).collect();
    ops.extend((pos + 8..pos + 16 + 100).map(|i| (i, after[i])));
    ops.extend([0, 1, 2, 4, 5, 6, 7, 3].map(|k| (pos + k, after[pos + k])));
    let diff: Vec<usize> = (0..after.len()).filter(|&i| before[i] != after[i]).collect();
    assert!(
        diff.iter().all(|i| (pos..pos + 116).contains(i)),
        "only the new record changed"
    );

    let sim = dir.path().join("sim");
    for k in 0..=ops.len() {
        let mut bytes = before.clone();
        for &(i, v) in &ops[..k] {
            bytes[i] = v;
        }
        std::fs::write(&sim, &bytes).unwrap();
        let got = Journal::read_only(&sim, n - 1).unwrap();
        let want = if k == ops.len() {
            vec![n, n + 1, n + 2]
        } else {
            vec![n, n + 1]
        };
        assert_eq!(seqs(&got), want, "killed after {k} of {} stores", ops.len());
        if k + 1 >= ops.len() {
            let (mut j, recs) = Journal::open(&sim, MIN_CAPACITY, n - 1).unwrap();
            assert_eq!(seqs(&recs), want);
            assert_eq!(j.append(b"then").unwrap(), want[want.len() - 1] + 1);
        }
    }
}

/// Simulates a kill after every single byte store of a tail-slot update.
#[test]
fn kill_at_every_store_of_a_slot_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, 1 << 14, 0).unwrap();
    for i in 1..=10 {
        j.append(&payload_for(i, 60)).unwrap();
    }
    j.folded(3).unwrap(); // generation 2, slot at 512
    let before = std::fs::read(&path).unwrap();
    j.folded(7).unwrap(); // generation 3, slot at 1024
    drop(j);
    let after = std::fs::read(&path).unwrap();
    let at = SLOT_OFFSETS[1] as usize;
    let diff: Vec<usize> = (0..after.len()).filter(|&i| before[i] != after[i]).collect();
    assert!(diff.iter().all(|i| (at..at + SLOT_LEN).contains(i)), "{diff:?}");

    let mut ops = vec![(at + SLOT_SEALED_AT, 0u8)];
    ops.extend(
        (0..SLOT_LEN)
            .filter(|&k| k != SLOT_SEALED_AT)
            .map(|k| (at + k, after[at + k])),
    );
    ops.push((at + SLOT_SEALED_AT, after[at + SLOT_SEALED_AT]));
    let sim = dir.path().join("sim");
    for k in 0..=ops.len() {
        let mut bytes = before.clone();
        for &(i, v) in &ops[..k] {
            bytes[i] = v;
        }
        std::fs::write(&sim, &bytes).unwrap();
        let want: Vec<u64> = if k == ops.len() {
            (8..=10).collect()
        } else {
            (4..=10).collect()
        };
        assert_eq!(
            seqs(&Journal::read_only(&sim, 0).unwrap()),
            want,
            "killed after {k} stores"
        );
    }
}

#[test]
fn recycling_until_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
    let mut n = 0u64;
    loop {
        match j.append(&payload_for(n + 1, 100)) {
            Ok(s) => {
                n += 1;
                assert_eq!(s, n);
            }
            Err(JournalError::Full { needed, free, path: p }) => {
                assert_eq!(needed, record_size(100));
                assert!(free < needed);
                assert_eq!(p, path);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(n >= 30, "only {n} records fit");
    j.folded(n).unwrap();
    assert_eq!(j.bytes_free(), HEADER_SIZE);
    for k in 1..=5 {
        assert_eq!(j.append(&payload_for(n + k, 100)).unwrap(), n + k);
    }
    drop(j);
    let (j, recs) = Journal::open(&path, MIN_CAPACITY, n).unwrap();
    assert_eq!(seqs(&recs), (n + 1..=n + 5).collect::<Vec<_>>());
    assert!(recs.iter().all(|r| r.payload == payload_for(r.seq, 100)));
    assert_eq!(j.last_seq(), n + 5);
    drop(j);
    // A reader that passes an old mark still never sees stale records.
    assert_eq!(
        seqs(&Journal::read_only(&path, 0).unwrap()),
        (n + 1..=n + 5).collect::<Vec<_>>()
    );
}

#[test]
fn batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (mut j, _) = Journal::open(&path, MIN_CAPACITY, 0).unwrap();
    let big = vec![9u8; 1500];
    let r = j.append_batch([big.as_slice(), big.as_slice(), big.as_slice()]);
    assert!(matches!(r, Err(JournalError::Full { .. })), "{r:?}");
    assert_eq!(j.last_seq(), 0);
    assert_eq!(j.append_batch([big.as_slice(), big.as_slice()]).unwrap(), 2);
    drop(j);
    assert_eq!(seqs(&Journal::read_only(&path, 0).unwrap()), vec![1, 2]);
}

/// Random appends, batches, partial folds and reopens against a model.
#[test]
fn ring_model_randomized() {
    for round in 0..4u64 {
        let seed = time_seed() ^ round;
        let mut rng = Rng::new(seed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let cap = [MIN_CAPACITY, 12288, 20480, 65536][round as usize];
        let (mut j, _) = Journal::open(&path, cap, 0).unwrap();
        let mut model: std::collections::VecDeque<Record> = Default::default();
        let mut mark = 0u64; // the "database" fold mark
        let mut next = 1u64;
        for step in 0..3000 {
            let ctx = format!("seed {seed} cap {cap} step {step}");
            match rng.range(0, 99) {
                0..=64 => {
                    let len = rng.range(0, 1200) as usize;
                    let p = rng.bytes(len);
                    match j.append(&p) {
                        Ok(s) => {
                            assert_eq!(s, next, "{ctx}");
                            model.push_back(Record { seq: s, payload: p });
                            next += 1;
                        }
                        Err(JournalError::Full { .. }) => {
                            assert!(!model.is_empty(), "{ctx}: full while empty");
                        }
                        Err(e) => panic!("{ctx}: {e}"),
                    }
                }
                65..=74 => {
                    let k = rng.range(1, 4) as usize;
                    let ps: Vec<Vec<u8>> = (0..k)
                        .map(|_| {
                            let len = rng.range(0, 400) as usize;
                            rng.bytes(len)
                        })
                        .collect();
                    match j.append_batch(ps.iter().map(|p| p.as_slice())) {
                        Ok(s) => {
                            assert_eq!(s, next + k as u64 - 1, "{ctx}");
                            for p in ps {
                                model.push_back(Record { seq: next, payload: p });
                                next += 1;
                            }
                        }
                        Err(JournalError::Full { .. }) => assert!(!model.is_empty(), "{ctx}"),
                        Err(e) => panic!("{ctx}: {e}"),
                    }
                }
                75..=92 => {
                    let upto = rng.range(mark, next - 1);
                    j.folded(upto).unwrap();
                    mark = mark.max(upto);
                    while model.front().is_some_and(|r| r.seq <= mark) {
                        model.pop_front();
                    }
                }
                93..=96 => {
                    drop(j);
                    let (nj, recs) = Journal::open(&path, cap, mark).unwrap();
                    j = nj;
                    assert_eq!(recs, model.iter().cloned().collect::<Vec<_>>(), "{ctx}");
                    assert_eq!(j.last_seq(), next - 1, "{ctx}");
                }
                _ => {
                    // The database is ahead of what it told the journal.
                    let db_mark = rng.range(mark, next - 1);
                    let got = Journal::read_only(&path, db_mark).unwrap();
                    let want: Vec<Record> = model.iter().filter(|r| r.seq > db_mark).cloned().collect();
                    assert_eq!(got, want, "{ctx}");
                }
            }
            assert!(j.bytes_free() <= cap - HEADER_SIZE, "{ctx}");
        }
    }
}
