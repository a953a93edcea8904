//! The deterministic benchmark workloads of `shared/workloads/WORKLOADS.md`,
//! generated in Rust so that benchmarks need not parse files: W1 (the
//! register-bus soak, identical to `gen_soak.py`) and W2 (memory over time).
//! All draw from the same 64-bit LCG as `gen_soak.py`.

use std::collections::{HashMap, VecDeque};

use crate::vocab::trace::{Op, TraceEvent};
use crate::vocab::types::Snap;

/// The workloads' random source: `state = 2*seed + 1`; each step
/// `state = state * 6364136223846793005 + 1442695040888963407 (mod 2^64)`,
/// output `state >> 32`.
#[derive(Clone, Debug)]
pub struct Lcg {
    state: u64,
}

impl Lcg {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Lcg {
        Lcg {
            state: seed.wrapping_mul(2).wrapping_add(1),
        }
    }

    /// The next 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.state >> 32) as u32
    }

    /// `next() % n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        u64::from(self.next_u32()) % n
    }

    /// Fills `buf` with generator bytes, four (little-endian) per output.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(4) {
            let word = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// W1's peripherals: (name, base address, registers).
const W1_PERIPHERALS: [(&str, u64, u64); 4] = [
    ("uart", 0x4000_0000, 64),
    ("timer", 0x4000_1000, 32),
    ("dma", 0x4001_0000, 256),
    ("gpio", 0x4002_0000, 16),
];

/// W1, the register-bus soak of `gen_soak.py`, as an endless iterator of
/// events: the same events, in the same order, with the same timestamps, as
/// `gen_soak.py N --seed S` writes (take the first N).
#[derive(Clone, Debug)]
pub struct W1 {
    rng: Lcg,
    regs: HashMap<u64, u64>,
    time: f64,
    pending: VecDeque<TraceEvent>,
}

impl W1 {
    /// The soak for `seed` (`gen_soak.py`'s default is 1).
    pub fn new(seed: u64) -> W1 {
        W1 {
            rng: Lcg::new(seed),
            regs: HashMap::new(),
            time: 0.0,
            pending: VecDeque::new(),
        }
    }

    /// One event; draws the timestamp step, then applies a write to (or
    /// reads) the register file, exactly as `gen_soak.py`'s `ev`.
    fn event(&mut self, op: Op, address: u64, value: u64, width: u8) {
        self.time += (1 + self.rng.below(50)) as f64 * 1e-6;
        let value = match op {
            Op::Write => {
                self.regs.insert(address, value & 0xffff_ffff);
                value
            }
            Op::Read => self.regs.get(&address).copied().unwrap_or(0),
        };
        self.pending.push_back(TraceEvent {
            op,
            address,
            value,
            width: Some(width),
            timestamp: self.time,
            error: None,
        });
    }

    /// One burst of the driver loop, drawing from the generator in the same
    /// order as `gen_soak.py`.
    fn burst(&mut self) {
        let (name, base, count) = W1_PERIPHERALS[self.rng.below(4) as usize];
        let kind = self.rng.below(10);
        if kind < 5 {
            // Poll a status register until it changes.
            let address = base + 4 * self.rng.below(4);
            for _ in 0..1 + self.rng.below(10) {
                if self.rng.below(8) == 0 {
                    let changed = u64::from(self.rng.next_u32());
                    self.regs.insert(address, changed);
                }
                self.event(Op::Read, address, 0, 4);
            }
        } else if kind < 7 {
            // Read-modify-write of a control register.
            let address = base + 4 * (4 + self.rng.below(8));
            self.event(Op::Read, address, 0, 4);
            let old = self.regs.get(&address).copied().unwrap_or(0);
            let value = old ^ (1 << self.rng.below(32));
            self.event(Op::Write, address, value, 4);
        } else if kind < 8 {
            // FIFO data pushes.
            let address = base + 4 * 12;
            for _ in 0..1 + self.rng.below(8) {
                let value = u64::from(self.rng.next_u32()) & 0xff;
                self.event(Op::Write, address, value, if name == "uart" { 1 } else { 4 });
            }
        } else if kind < 9 {
            // Descriptor block setup.
            let start = base + 4 * (16 + 8 * self.rng.below(((count - 16) / 8).max(1)));
            for i in 0..8 {
                let value = u64::from(self.rng.next_u32());
                self.event(Op::Write, start + 4 * i, value, 4);
            }
        } else {
            // Write-one-to-clear interrupt.
            let value = 1 << self.rng.below(8);
            self.event(Op::Write, base + 4 * 3, value, 4);
        }
    }
}

impl Iterator for W1 {
    type Item = TraceEvent;

    fn next(&mut self) -> Option<TraceEvent> {
        while self.pending.is_empty() {
            self.burst();
        }
        self.pending.pop_front()
    }
}

/// The sizes of a W2 run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct W2Config {
    /// Bytes of the image written at snap 0 (16 MiB standard, 1 MiB small).
    pub image_size: u64,
    /// The last snap (200,000 standard, 20,000 small, 2,000,000 scale).
    pub snaps: Snap,
    /// The generator seed.
    pub seed: u64,
}

impl W2Config {
    /// W2 standard: a 16 MiB image and 200,000 snaps.
    pub const STANDARD: W2Config = W2Config {
        image_size: 16 << 20,
        snaps: 200_000,
        seed: 1,
    };
    /// W2-small: a 1 MiB image and 20,000 snaps (for peers storing a row per byte).
    pub const SMALL: W2Config = W2Config {
        image_size: 1 << 20,
        snaps: 20_000,
        seed: 1,
    };
}

/// Where W2's image starts in `ram`.
pub const W2_IMAGE: u64 = 0x1000_0000;
/// Where W2's 1 MiB heap starts in `ram`.
pub const W2_HEAP: u64 = 0x2000_0000;
/// The size of W2's heap.
pub const W2_HEAP_SIZE: u64 = 1 << 20;
/// The lowest stack address of W2.
pub const W2_STACK_LOW: u64 = 0x7fff_0000;
/// The highest stack address of W2 (8-aligned).
pub const W2_STACK_HIGH: u64 = 0x7fff_fff8;
/// Where every 1000th snap records ERROR (256 bytes).
pub const W2_UNMAPPED: u64 = 0xdead_0000;

/// One recording step of W2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum W2Write {
    /// `put_bytes(space, snap, address, data)`.
    Put {
        /// `"ram"` or `"regs"`.
        space: &'static str,
        /// The snap.
        snap: Snap,
        /// The first address.
        address: u64,
        /// The observed bytes.
        data: Vec<u8>,
    },
    /// `set_state(ram, snap, [address, address + len - 1], Error)`.
    Error {
        /// The snap.
        snap: Snap,
        /// The first address.
        address: u64,
        /// The number of bytes.
        len: u64,
    },
}

/// Generates W2 (WORKLOADS.md): the image at snap 0, then per snap the
/// registers `pc` and `sp` in `regs` and 1..=3 writes in `ram` (70 % 8 bytes
/// at `sp`, 25 % 1..=64 bytes in the heap, 5 % a 4 KiB copy from the image
/// into the heap), and ERROR over 256 bytes every 1000th snap. The image's
/// bytes come from the generator, with every second 256-byte run zero.
pub fn w2(config: W2Config, mut f: impl FnMut(W2Write)) {
    let mut rng = Lcg::new(config.seed);
    let mut image = vec![0u8; config.image_size as usize];
    for (i, run) in image.chunks_mut(256).enumerate() {
        if i % 2 == 0 {
            rng.fill(run);
        }
    }
    f(W2Write::Put {
        space: "ram",
        snap: 0,
        address: W2_IMAGE,
        data: image.clone(),
    });
    let mut pc = W2_IMAGE;
    let mut sp = 0x7fff_8000u64;
    for snap in 1..=config.snaps {
        if snap % 16 == 0 {
            pc = W2_IMAGE + 4 * rng.below(config.image_size / 4);
        } else {
            pc += 4;
        }
        let step = 8 * (rng.below(17) as i64 - 8);
        sp = sp.saturating_add_signed(step).clamp(W2_STACK_LOW, W2_STACK_HIGH);
        f(W2Write::Put {
            space: "regs",
            snap,
            address: 0,
            data: pc.to_le_bytes().to_vec(),
        });
        f(W2Write::Put {
            space: "regs",
            snap,
            address: 8,
            data: sp.to_le_bytes().to_vec(),
        });
        for _ in 0..1 + rng.below(3) {
            let kind = rng.below(100);
            let (address, data) = if kind < 70 {
                let mut data = vec![0u8; 8];
                rng.fill(&mut data);
                (sp, data)
            } else if kind < 95 {
                let len = 1 + rng.below(64);
                let mut data = vec![0u8; len as usize];
                rng.fill(&mut data);
                (W2_HEAP + rng.below(W2_HEAP_SIZE - len + 1), data)
            } else {
                let from = rng.below(config.image_size - 4096 + 1) as usize;
                let to = W2_HEAP + rng.below(W2_HEAP_SIZE - 4096 + 1);
                (to, image[from..from + 4096].to_vec())
            };
            f(W2Write::Put {
                space: "ram",
                snap,
                address,
                data,
            });
        }
        if snap % 1000 == 0 {
            f(W2Write::Error {
                snap,
                address: W2_UNMAPPED,
                len: 256,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lcg_matches_gen_soak_py() {
        // gen_soak.py: Rng(1).next() three times.
        let mut rng = Lcg::new(1);
        let state = 3u64.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        assert_eq!(rng.next_u32(), (state >> 32) as u32);
    }

    /// The Rust W1 is byte for byte the file `gen_soak.py` writes.
    #[test]
    fn w1_matches_gen_soak_py() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/workloads/gen_soak.py");
        for (events, seed) in [(20_000usize, 1u64), (5_000, 7)] {
            let output = match std::process::Command::new("python3")
                .args([script, &events.to_string(), "--seed", &seed.to_string()])
                .output()
            {
                Ok(output) if output.status.success() => output.stdout,
                other => {
                    eprintln!("skipped: cannot run {script}: {other:?}");
                    return;
                }
            };
            let ours: Vec<TraceEvent> = W1::new(seed).take(events).collect();
            let mut written = Vec::new();
            crate::record::write_ndjson(&ours, &mut written).unwrap();
            assert!(written == output, "W1 differs from gen_soak.py at seed {seed}");
        }
    }

    #[test]
    fn w2_small_has_the_documented_shape() {
        let mut puts = 0usize;
        let mut errors = 0usize;
        let mut last_snap = 0;
        w2(W2Config::SMALL, |w| match w {
            W2Write::Put {
                snap, address, data, ..
            } => {
                puts += 1;
                last_snap = snap;
                if snap == 0 {
                    assert_eq!((address, data.len()), (W2_IMAGE, 1 << 20));
                    assert!(data[256..512].iter().all(|&b| b == 0));
                }
            }
            W2Write::Error { .. } => errors += 1,
        });
        assert_eq!(last_snap, 20_000);
        assert_eq!(errors, 20);
        assert!(puts > 20_000 * 3 && puts < 20_000 * 5 + 1);
    }
}
