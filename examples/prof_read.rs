// Scratch profiling harness (not committed).
#[path = "../benches/common/mod.rs"]
mod common;
use tracemem::workloads::{W2_HEAP, W2_IMAGE, W2Config};
use tracemem::{Database, MemoryRead};
fn main() {
    let path = std::path::Path::new("/work/scratch/w2std.tmdb");
    if !path.exists() {
        let db = Database::create(path).unwrap();
        common::load_tracemem(&db, &common::w2_writes(W2Config::STANDARD), 1000);
    }
    let what = std::env::args().nth(1).unwrap_or_default();
    let db = Database::open(path).unwrap();
    let read = db.begin_read().unwrap();
    let ram = read.space("ram").unwrap();
    let t = std::time::Instant::now();
    let mut n = 0u64;
    if what == "find" {
        let r = tracemem::AddressRange::new(W2_IMAGE, W2_IMAGE + (16 << 20) - 1).unwrap();
        let pat = [0x13u8, 0x57, 0x9b, 0xdf, 0x02, 0x46, 0x8a, 0xce];
        let mask = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
        for i in 0..40 {
            assert!(
                ram.find_bytes(i * 5000, r, &pat, Some(&mask), tracemem::Direction::Forward)
                    .unwrap()
                    .is_none()
            );
            n += 16 << 20;
        }
    } else if what == "image" {
        let mut buf = vec![0u8; 16 << 20];
        for i in 0..40 {
            n += ram.get_bytes(i * 5000, W2_IMAGE, &mut buf).unwrap() as u64;
        }
    } else {
        let mut buf = vec![0u8; 64 << 10];
        for i in 0..2000 {
            n += ram
                .get_bytes(i * 100, W2_HEAP + (i as u64 * 4099) % (960 << 10), &mut buf)
                .unwrap() as u64;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!("{what}: {n} bytes in {s:.3}s = {:.1} MB/s", n as f64 / s / 1e6);
}
