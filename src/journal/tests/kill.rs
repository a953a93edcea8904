//! kill -9 of a child process appending to the journal: every acknowledged
//! record is recovered.

use std::os::unix::fs::FileExt;

use super::*;
use crate::journal::layout::*;
use crate::journal::recovery::*;

/// The child side of `kill9_recovery`: does nothing unless started by it.
#[test]
fn kill9_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mark: u64 = std::env::var("JOURNAL_CHILD_MARK").unwrap().parse().unwrap();
    let seed: u64 = std::env::var("JOURNAL_CHILD_SEED").unwrap().parse().unwrap();
    let mut rng = Rng::new(seed);
    let (mut j, recs) = Journal::open(Path::new(&path), 1 << 20, mark).unwrap();
    println!("\n@@start {}", j.last_seq() + 1);
    let mut folded = mark;
    if let Some(last) = recs.last() {
        // "Replay into the database": the mark is durable before folded().
        println!("@@folded {}", last.seq);
        j.folded(last.seq).unwrap();
        folded = last.seq;
    }
    for _ in 0..1_000_000 {
        let next = j.last_seq() + 1;
        let r = if rng.range(0, 9) == 0 {
            let ps: Vec<Vec<u8>> = (0..rng.range(1, 5))
                .map(|k| {
                    let len = rng.range(16, 300) as usize;
                    self_checking(next + k, &mut rng, len)
                })
                .collect();
            println!("@@inflight {}", next + ps.len() as u64 - 1);
            j.append_batch(ps.iter().map(|p| p.as_slice()))
        } else {
            // Mostly small events, some large ones (a long copy is a wide kill window).
            let len = if rng.range(0, 3) == 0 {
                rng.range(16 << 10, 128 << 10)
            } else {
                rng.range(16, 1500)
            } as usize;
            println!("@@inflight {next}");
            j.append(&self_checking(next, &mut rng, len))
        };
        match r {
            Ok(s) => println!("@@acked {s}"),
            Err(JournalError::Full { .. }) => {
                let upto = j.last_seq();
                println!("@@folded {upto}");
                j.folded(upto).unwrap();
                folded = upto;
                continue;
            }
            Err(e) => panic!("{e}"),
        }
        if rng.range(0, 40) == 0 {
            let upto = rng.range(folded, j.last_seq());
            println!("@@folded {upto}");
            j.folded(upto).unwrap();
            folded = upto;
        }
    }
}

/// Whether the writer was killed in the middle of writing the record after
/// the chain's end (commit word invalidated, new `seq` already stored).
fn killed_mid_write(path: &Path) -> bool {
    let file = File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let hdr = read_header_bytes(&file, path, len).unwrap();
    let HeaderState::Valid(h) = parse_header(path, &hdr, len).unwrap() else {
        return false;
    };
    let geo = Geometry {
        start: HEADER_SIZE,
        end: h.capacity,
        salt: h.salt,
    };
    let mut src = FileSource {
        file: &file,
        path,
        limit: h.capacity,
        win: Vec::new(),
        win_off: 0,
    };
    let found = scan(&mut src, &geo, h.slot.tail_off, h.slot.tail_seq, u64::MAX).unwrap();
    let mut at_head = [0u8; 16];
    file.read_exact_at(&mut at_head, found.head).unwrap();
    rd_u64(&at_head, 0) == 0 && rd_u64(&at_head, 8) == found.next_seq
}

#[test]
fn kill9_recovery() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let kills: u64 = std::env::var("JOURNAL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed = time_seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.journal");
    let exe = std::env::current_exe().unwrap();
    let mut mark = 0u64;
    let mut expect_next = 1u64;
    let (mut total_acks, mut total_recovered, mut unacked_recovered) = (0u64, 0u64, 0u64);
    let mut torn_at_head = 0u64;
    for round in 0..kills {
        let ctx = format!("seed {seed} round {round}");
        let target = rng.range(1, 2000);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "journal::tests::kill::kill9_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env("JOURNAL_CHILD_MARK", mark.to_string())
            .env("JOURNAL_CHILD_SEED", rng.next().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut acks, mut last_acked, mut start) = (0u64, None::<u64>, None::<u64>);
        let mut inflight = 0u64;
        let mut killed = false;
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if !line.ends_with('\n') {
                continue; // cut off by the kill
            }
            let Some(at) = line.find("@@") else { continue };
            let mut it = line[at + 2..].split_whitespace();
            let (Some(what), Some(n)) = (it.next(), it.next().and_then(|n| n.parse::<u64>().ok())) else {
                continue;
            };
            match what {
                "start" => start = Some(n),
                "inflight" => inflight = inflight.max(n),
                "acked" => {
                    assert!(last_acked.is_none_or(|l| n > l), "{ctx}: acks out of order");
                    last_acked = Some(n);
                    acks += 1;
                }
                "folded" => {
                    assert!(n >= mark, "{ctx}: fold mark went back");
                    mark = n;
                }
                _ => {}
            }
            if acks == target && !killed {
                // A random extra moment, so the kill does not always land
                // at the same distance from the ack just printed.
                let spin = Instant::now();
                let delay = std::time::Duration::from_micros(rng.range(0, 400));
                while spin.elapsed() < delay {
                    std::hint::spin_loop();
                }
                child.kill().unwrap();
                killed = true;
            }
        }
        let status = child.wait().unwrap();
        assert!(killed, "{ctx}: child ended by itself: {status:?}");
        assert_eq!(start, Some(expect_next), "{ctx}: numbering did not continue");
        let last_acked = last_acked.unwrap();

        torn_at_head += u64::from(killed_mid_write(&path));
        let recs = Journal::read_only(&path, mark).unwrap();
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.seq, mark + 1 + i as u64, "{ctx}: gap");
            assert!(check_self(r), "{ctx}: record {} damaged", r.seq);
        }
        let last = recs.last().map_or(mark, |r| r.seq);
        assert!(
            last >= last_acked,
            "{ctx}: acked {last_acked} but recovered only up to {last} (mark {mark})"
        );
        // Only the append (or batch) in flight at the kill may show up unacknowledged.
        assert!(
            last <= inflight.max(mark),
            "{ctx}: recovered {last}, acked {last_acked}, in flight {inflight}"
        );
        expect_next = last.max(mark) + 1;
        total_acks += acks;
        total_recovered += recs.len() as u64;
        unacked_recovered += u64::from(last > last_acked && last > mark);
    }
    eprintln!(
        "kill9_recovery: seed {seed}, {kills} kills, {total_acks} acks read, {total_recovered} records replayed, \
         {unacked_recovered} kills caught an append after its copy but before its ack, \
         {torn_at_head} caught one mid-copy, final seq {}",
        expect_next - 1
    );
}

/// `cargo test --release -- --ignored bench_append --nocapture`
#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.journal");
    let payload = [0x5Au8; 32];
    let n = 1_000_000u64;
    // A 4 MiB ring that is folded whenever it fills (pages stay resident),
    // then a 64 MiB one whose first lap pays the first-touch page faults.
    let (mut j, _) = Journal::open(&dir.path().join("small.journal"), 4 << 20, 0).unwrap();
    for round in 0..2 {
        let t = Instant::now();
        let mut folds = 0;
        for _ in 0..n {
            if let Err(JournalError::Full { .. }) = j.append(&payload) {
                j.folded(j.last_seq()).unwrap();
                folds += 1;
                j.append(&payload).unwrap();
            }
        }
        let el = t.elapsed();
        println!(
            "4 MiB ring, round {round}: {n} appends of 32 bytes in {el:?}: {:.1} ns/append ({folds} folds included)",
            el.as_nanos() as f64 / n as f64
        );
    }
    drop(j);
    let (mut j, _) = Journal::open(&path, 64 << 20, 0).unwrap();
    for round in 0..3 {
        let t = Instant::now();
        let mut folds = 0;
        for _ in 0..n {
            match j.append(&payload) {
                Ok(_) => {}
                Err(JournalError::Full { .. }) => {
                    j.folded(j.last_seq()).unwrap();
                    folds += 1;
                    j.append(&payload).unwrap();
                }
                Err(e) => panic!("{e}"),
            }
        }
        let el = t.elapsed();
        println!(
            "64 MiB ring, round {round}: {n} appends of 32 bytes in {el:?}: {:.1} ns/append ({folds} folds)",
            el.as_nanos() as f64 / n as f64
        );
        j.folded(j.last_seq()).unwrap();
    }
    let t = Instant::now();
    let batch: Vec<&[u8]> = vec![&payload[..]; 100];
    for _ in 0..n / 100 {
        if j.append_batch(batch.iter().copied()).is_err() {
            j.folded(j.last_seq()).unwrap();
            j.append_batch(batch.iter().copied()).unwrap();
        }
    }
    println!(
        "append_batch(100): {:.1} ns/record",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    j.sync().unwrap();
    println!("sync: {:?}", t.elapsed());
}
