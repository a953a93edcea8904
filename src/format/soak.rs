//! The soak workload: a deterministic register-bus trace of four
//! peripherals (polls, read-modify-writes, FIFO pushes, descriptor set-up,
//! interrupt clears), identical to the reference generator
//! `tests/data/gen_soak.py`. `tracemem demo`, `soak` and `gen` use it.

use std::collections::{HashMap, VecDeque};

use crate::vocab::trace::{Op, TraceEvent};

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

    /// Fills `buf` with generator bytes (for W2, the memory workload), four (little-endian) per output.
    #[cfg(any(test, feature = "workloads"))]
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(4) {
            let word = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// The soak's peripherals: (name, base address, registers).
const W1_PERIPHERALS: [(&str, u64, u64); 4] = [
    ("uart", 0x4000_0000, 64),
    ("timer", 0x4000_1000, 32),
    ("dma", 0x4001_0000, 256),
    ("gpio", 0x4002_0000, 16),
];

/// The register-bus soak workload (the trace of `tracemem demo`, `soak` and
/// `gen`) as an endless iterator of events: the same events, in the same
/// order, with the same timestamps, as the reference generator
/// `tests/data/gen_soak.py N --seed S` writes (take the first N).
#[derive(Clone, Debug)]
pub struct SoakTrace {
    rng: Lcg,
    regs: HashMap<u64, u64>,
    time: f64,
    pending: VecDeque<TraceEvent>,
}

impl SoakTrace {
    /// The soak for `seed` (the reference generator's default is 1).
    pub fn new(seed: u64) -> SoakTrace {
        SoakTrace {
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

impl Iterator for SoakTrace {
    type Item = TraceEvent;

    fn next(&mut self) -> Option<TraceEvent> {
        while self.pending.is_empty() {
            self.burst();
        }
        self.pending.pop_front()
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

    /// The soak is byte for byte the file `gen_soak.py` writes.
    #[test]
    fn w1_matches_gen_soak_py() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gen_soak.py");
        for (events, seed) in [(20_000usize, 1u64), (5_000, 7)] {
            let output = crate::format::test_util::python3(&[script, &events.to_string(), "--seed", &seed.to_string()]);
            let ours: Vec<TraceEvent> = SoakTrace::new(seed).take(events).collect();
            let mut written = Vec::new();
            crate::format::trace::write_ndjson(&ours, &mut written).unwrap();
            assert!(
                written == output.as_bytes(),
                "the soak differs from gen_soak.py at seed {seed}"
            );
        }
    }
}
