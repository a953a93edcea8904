//! Creates a database, records memory over snaps, and prints time-travel
//! answers. Run with `cargo run --release --example quickstart [DB]`.

use tracemem::{AddressRange, Database, Lifespan, MemState, MemoryRead, SnapMeta, StatePredicate};

fn main() -> Result<(), tracemem::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tracemem-quickstart.tmdb".into());
    let _ = std::fs::remove_file(&path);
    let db = Database::create(&path)?;

    // A tiny program run: a counter register polled and bumped, a buffer
    // written, and one failed read of unmapped memory.
    let mut txn = db.begin_write()?;
    let mut ram = txn.create_space("ram")?;
    ram.put_bytes(0, 0x2000_0000, b"hello, tracemem!")?;
    for snap in 1..=1000i64 {
        ram.put_bytes(snap, 0x4000_0000, &(snap as u32 * 3).to_le_bytes())?;
        if snap % 250 == 0 {
            ram.put_bytes(snap, 0x2000_0007, format!("snap{snap:04}").as_bytes())?;
        }
    }
    ram.set_state(500, AddressRange::new(0xdead_0000, 0xdead_00ff)?, MemState::Error)?;
    txn.set_snap_meta(
        500,
        &SnapMeta {
            description: "unmapped read".into(),
            ..SnapMeta::default()
        },
    )?;
    txn.commit()?;

    let read = db.begin_read()?;
    let ram = read.space("ram")?;
    for snap in [1, 499, 1000] {
        let mut counter = [0u8; 4];
        ram.get_bytes(snap, 0x4000_0000, &mut counter)?;
        println!("counter at snap {snap:>4}: {}", u32::from_le_bytes(counter));
    }
    for snap in [0, 250, 999] {
        let mut text = [b'.'; 16];
        let sources = ram.get_bytes_with_sources(snap, 0x2000_0000, &mut text)?;
        let from: Vec<String> = sources
            .iter()
            .map(|s| format!("{} from snap {}", s.range, s.snap))
            .collect();
        println!(
            "buffer at snap {snap:>4}: {:?}  ({})",
            String::from_utf8_lossy(&text),
            from.join(", ")
        );
    }
    println!(
        "state of 0xdead0000 at snap 700: {:?}",
        ram.most_recent_state(700, 0xdead_0000)?
    );
    println!(
        "last change to the counter's block at or before snap 777: {:?}",
        ram.snap_of_most_recent_change_to_block(777, 0x4000_0000)?
    );
    let errors = ram.addresses_with_state(Lifespan::new(0, 1000)?, StatePredicate::IsError)?;
    println!("addresses that failed to read: {:?}", errors.iter().collect::<Vec<_>>());
    println!("snap 500 is labelled {:?}", read.snap_meta(500)?.map(|m| m.description));
    println!(
        "database: {path} ({} bytes)",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
    );
    Ok(())
}
