//! M13: a committed write transaction survives a kill -9 of the process.
//!
//! The test re-runs its own binary as a child that commits one snap per
//! transaction and prints `committed <snap>` after each commit returns; the
//! parent kills it (SIGKILL) at a random moment, reopens the database and
//! checks every acknowledged snap. `TRACEMEM_CRASH_ROUNDS` sets the number of
//! kills (default 12).

use tracemem::{Database, MemoryRead};

use crate::child::{self, Xorshift};

const CHILD_ENV: &str = "TRACEMEM_CRASH_CHILD_DB";

fn address_of(snap: i64) -> u64 {
    (snap as u64 % 512) * 8
}

/// The child: commits forever until killed. Does nothing in a normal run.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Database::open(&path).unwrap();
    for snap in 0i64.. {
        let mut txn = db.begin_write().unwrap();
        txn.create_space("ram")
            .unwrap()
            .put_bytes(snap, address_of(snap), &snap.to_le_bytes())
            .unwrap();
        txn.commit().unwrap();
        println!("committed {snap}");
    }
}

#[test]
fn committed_transactions_survive_kill_9() {
    let rounds: u64 = std::env::var("TRACEMEM_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let dir = tempfile::tempdir().unwrap();
    let mut random = Xorshift(0x2545_f491_4f6c_dd1d);
    for round in 0..rounds {
        let path = dir.path().join(format!("crash-{round}.tmdb"));
        drop(Database::create(&path).unwrap());
        let (mut child, lines) = child::spawn("crash_commit::crash_child_writer", CHILD_ENV, &path);
        let kill_after = 1 + random.next() % 40;
        let mut acked: Option<i64> = None;
        let mut seen = 0;
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ") {
                acked = Some(n.parse().unwrap());
                seen += 1;
                if seen == kill_after {
                    child.kill().unwrap();
                }
            }
        }
        child.wait().unwrap();
        let acked = acked.expect("the child committed nothing");
        let db = Database::open(&path).unwrap();
        let read = db.begin_read().unwrap();
        let ram = read.space("ram").unwrap();
        // Every acknowledged commit is there, with its bytes.
        for snap in 0..=acked {
            let mut buf = [0u8; 8];
            assert_eq!(
                ram.get_bytes(snap, address_of(snap), &mut buf).unwrap(),
                8,
                "round {round}, snap {snap}"
            );
            assert_eq!(i64::from_le_bytes(buf), snap, "round {round}, snap {snap}");
            assert_eq!(ram.state(snap, address_of(snap)).unwrap(), tracemem::MemState::Known);
        }
        // At most the one commit whose acknowledgement the kill cut off follows.
        let last = ram.snap_of_most_recent_change_to_block(i64::MAX, 0).unwrap();
        let newest = (0..=acked + 1)
            .filter(|&s| ram.state(s, address_of(s)).unwrap() == tracemem::MemState::Known)
            .max();
        assert!(
            newest == Some(acked) || newest == Some(acked + 1),
            "round {round}: {newest:?} after {acked}"
        );
        assert!(last.is_some());
        // The database takes new commits after the crash.
        drop(read);
        let mut txn = db.begin_write().unwrap();
        txn.space("ram").unwrap().put_bytes(acked + 2, 0, &[1]).unwrap();
        txn.commit().unwrap();
    }
}
