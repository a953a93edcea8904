//! The benchmark workloads, generated in Rust so that benchmarks and tests
//! need not parse files: W1 (the register-bus soak, [`SoakTrace`] under its
//! benchmark name) and W2 (memory over time), both from the same 64-bit LCG
//! as the reference generator `tests/data/gen_soak.py`. Behind the
//! `workloads` feature: the benchmarks and the tests use it, the library's
//! users need not.

pub use crate::format::soak::{Lcg, SoakTrace as W1};
#[cfg(doc)]
use crate::record::SoakTrace;
use crate::vocab::types::Snap;

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
