//! Probe: one database holding a block written 10 times and a block written
//! N times; point reads of each. `cargo run --release --example history_probe N`
use tracemem::{Database, MemoryRead, workloads::Lcg};

const HOT: u64 = 0;
const COLD: u64 = 0x100_0000;

fn main() {
    let writes: i64 = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let path = "/tmp/hprobe.tmdb";
    let _ = std::fs::remove_file(path);
    let db = Database::create(path).unwrap();
    let t = std::time::Instant::now();
    let mut snap = 0;
    while snap < writes {
        let mut txn = db.begin_write().unwrap();
        let mut regs = txn.create_space("regs").unwrap();
        for s in snap..(snap + 100_000).min(writes) {
            regs.put_bytes(s, HOT + (s as u64 % 512) * 8, &s.to_le_bytes()).unwrap();
            if s < 10 {
                regs.put_bytes(s, COLD + (s as u64 % 512) * 8, &s.to_le_bytes())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
        snap += 100_000;
    }
    eprintln!(
        "ingest {:?} size {}",
        t.elapsed(),
        std::fs::metadata(path).unwrap().len()
    );
    let read = db.begin_read().unwrap();
    let regs = read.space("regs").unwrap();
    for (name, base, span) in [("cold (10 writes)", COLD, 10u64), ("hot", HOT, writes as u64)] {
        let mut rng = Lcg::new(17);
        let n = 1_000_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let snap = rng.below(writes as u64) as i64;
            let mut buf = [0u8; 8];
            regs.get_bytes(snap, base + rng.below(span.min(512)) * 8, &mut buf)
                .unwrap();
        }
        eprintln!("{name}: read {:?}/op", t.elapsed() / n);
    }
}
