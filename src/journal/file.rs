//! The journal file on disk: preallocation (never sparse), zero fill,
//! the exclusive lock, and the shared mapping.

use std::fs::{File, TryLockError};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::{MmapMut, MmapOptions};

use super::error::{JournalError, io_err};
use super::layout::*;

/// A fresh random salt.
pub(super) fn random_salt() -> u32 {
    let v = random_u64();
    (v ^ (v >> 32)) as u32
}

/// 64 random bits without unsafe code or a dependency: std's random hasher
/// keys (new ones each call), mixed with the time and the process id.
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

pub(super) fn check_capacity(path: &Path, capacity: u64) -> Result<(), JournalError> {
    let bad = |reason| {
        Err(JournalError::InvalidCapacity {
            path: path.to_path_buf(),
            capacity,
            reason,
        })
    };
    if capacity < MIN_CAPACITY {
        return bad("smaller than the minimum of 8192 bytes");
    }
    if !capacity.is_multiple_of(8) {
        return bad("not a multiple of 8");
    }
    if capacity > i64::MAX as u64 || usize::try_from(capacity).is_err() {
        return bad("too large to map");
    }
    Ok(())
}

/// How to fall back when `fallocate` is unsupported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fill {
    /// Write zeros over the range (it holds no journal data).
    Zeros,
    /// The range holds journal data: leave it as it is.
    Keep,
}

/// Allocates `[off, off + len)` of `file` for real (extending the file if needed).
pub(super) fn preallocate(file: &File, path: &Path, off: u64, len: u64, fill: Fill) -> Result<(), JournalError> {
    if len == 0 {
        return Ok(());
    }
    let (Ok(o), Ok(l)) = (libc::off_t::try_from(off), libc::off_t::try_from(len)) else {
        return Err(JournalError::InvalidCapacity {
            path: path.to_path_buf(),
            capacity: off.saturating_add(len),
            reason: "too large for off_t",
        });
    };
    loop {
        // SAFETY: `fallocate` only takes integers; the descriptor is owned by
        // `file`, which outlives this call. No memory is shared with the kernel.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, o, l) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                return Err(JournalError::NoSpace {
                    path: path.to_path_buf(),
                    bytes: len,
                    source: e,
                });
            }
            Some(libc::EOPNOTSUPP) => {
                return match fill {
                    Fill::Zeros => zero_fill(file, path, off, len),
                    Fill::Keep => Ok(()),
                };
            }
            _ => {
                return Err(JournalError::Io {
                    path: path.to_path_buf(),
                    op: "fallocate",
                    source: e,
                });
            }
        }
    }
}

/// Writes zeros over `[off, off + len)` (the fallback when `fallocate` is unsupported).
pub(super) fn zero_fill(file: &File, path: &Path, off: u64, len: u64) -> Result<(), JournalError> {
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(ZERO_CHUNK as u64) as usize;
        let chunk = zeros.get(..n).unwrap_or(&zeros);
        if let Err(e) = file.write_all_at(chunk, off + done) {
            if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
                return Err(JournalError::NoSpace {
                    path: path.to_path_buf(),
                    bytes: len,
                    source: e,
                });
            }
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                op: "write zeros",
                source: e,
            });
        }
        done += n as u64;
    }
    file.sync_data().map_err(io_err(path, "fsync"))
}

/// Takes the exclusive writer lock (`flock`).
///
/// A child process forked by another thread of this program holds a copy of
/// every descriptor until it calls `exec`, which keeps a just-released lock
/// alive for a moment; so a busy lock is retried for about half a second
/// before [`JournalError::Locked`] is reported.
pub(super) fn lock_exclusive(file: &File, path: &Path) -> Result<(), JournalError> {
    let mut wait_ms = 1;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if wait_ms <= 256 => {
                std::thread::sleep(std::time::Duration::from_millis(wait_ms));
                wait_ms *= 2;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(JournalError::Io {
                    path: path.to_path_buf(),
                    op: "flock",
                    source: e,
                });
            }
        }
    }
}

pub(super) fn map_file(file: &File, path: &Path, capacity: u64) -> Result<MmapMut, JournalError> {
    let len = usize::try_from(capacity).map_err(|_| JournalError::InvalidCapacity {
        path: path.to_path_buf(),
        capacity,
        reason: "too large to map",
    })?;
    // SAFETY: memmap2 requires that the mapped file is not truncated or
    // modified by others while mapped. The file is `flock`ed exclusively by
    // this journal (no other tracemem writer); it has at least `capacity`
    // bytes, all allocated, so no access can fault. Other programs changing
    // the file is documented as unsupported.
    unsafe { MmapOptions::new().len(len).map_mut(file) }.map_err(io_err(path, "mmap"))
}
