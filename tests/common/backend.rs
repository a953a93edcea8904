//! A storage in memory for `DatabaseBuilder::create_with_backend`, shared by
//! its clones (so a test can read what it holds after the database is gone),
//! that can inject faults: an I/O error at the n-th write or sync, and a
//! crash point after which syncs stop making data durable (as redb's own
//! `tests/crash_consistency.rs` does). It keeps two images: `live`, what
//! the process sees, and `durable`, what the last completed sync made
//! durable — what a power loss or a kernel crash would leave.

use std::io::{Error, ErrorKind};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

#[derive(Debug, Default)]
struct State {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Writes and length changes so far.
    writes: u64,
    syncs: u64,
    /// The first write (1-based) that fails, and every later one.
    fail_write_from: Option<u64>,
    /// The first sync (1-based) that fails, and every later one.
    fail_sync_from: Option<u64>,
    /// From this sync (1-based) on, syncs return success without making
    /// anything durable: the crash point.
    freeze_from_sync: Option<u64>,
    /// Fail writes that would make the storage longer than this (a full disk).
    max_len: Option<u64>,
    /// Faults returned so far.
    faults: u64,
}

/// The storage; clones share it.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    state: Arc<Mutex<State>>,
}

/// The error every injected fault returns.
pub const FAULT_TEXT: &str = "injected fault";

impl MemStorage {
    /// An empty storage without faults.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// A storage holding `image`, durable, without faults.
    pub fn with_image(image: Vec<u8>) -> MemStorage {
        let storage = MemStorage::default();
        {
            let mut state = storage.lock();
            state.durable = image.clone();
            state.live = image;
        }
        storage
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the images half
        // written in a way that matters to a test that is failing anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the process sees now.
    pub fn live_image(&self) -> Vec<u8> {
        self.lock().live.clone()
    }

    /// What survives a crash now.
    pub fn durable_image(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// Writes (and length changes) and syncs so far.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.lock();
        (state.writes, state.syncs)
    }

    /// Faults returned so far.
    pub fn faults(&self) -> u64 {
        self.lock().faults
    }

    /// The `n`-th write from now on (1 = the next) and every later one fail.
    pub fn fail_writes_from(&self, n: u64) {
        let mut state = self.lock();
        state.fail_write_from = Some(state.writes + n);
    }

    /// The `n`-th sync from now on (1 = the next) and every later one fail.
    pub fn fail_syncs_from(&self, n: u64) {
        let mut state = self.lock();
        state.fail_sync_from = Some(state.syncs + n);
    }

    /// From the `n`-th sync from now on (1 = the next), syncs succeed but
    /// make nothing durable.
    pub fn freeze_from_sync(&self, n: u64) {
        let mut state = self.lock();
        state.freeze_from_sync = Some(state.syncs + n);
    }

    /// Writes past `len` bytes fail, as on a full disk.
    pub fn limit_len(&self, len: u64) {
        self.lock().max_len = Some(len);
    }

    /// No more faults (the disk has room again); durability resumes.
    pub fn heal(&self) {
        let mut state = self.lock();
        state.fail_write_from = None;
        state.fail_sync_from = None;
        state.freeze_from_sync = None;
        state.max_len = None;
    }
}

fn fault(state: &mut State, kind: ErrorKind) -> Error {
    state.faults += 1;
    Error::new(kind, FAULT_TEXT)
}

fn index(offset: u64, len: usize) -> Result<(usize, usize), Error> {
    let start = usize::try_from(offset).map_err(|_| Error::from(ErrorKind::InvalidInput))?;
    let end = start
        .checked_add(len)
        .ok_or_else(|| Error::from(ErrorKind::InvalidInput))?;
    Ok((start, end))
}

impl StorageBackend for MemStorage {
    fn len(&self) -> Result<u64, Error> {
        Ok(self.lock().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        let state = self.lock();
        let (start, end) = index(offset, out.len())?;
        let bytes = state
            .live
            .get(start..end)
            .ok_or_else(|| Error::from(ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), Error> {
        let mut state = self.lock();
        state.writes += 1;
        if state.fail_write_from.is_some_and(|n| state.writes >= n) {
            return Err(fault(&mut state, ErrorKind::Other));
        }
        if state.max_len.is_some_and(|max| len > max) {
            return Err(fault(&mut state, ErrorKind::StorageFull));
        }
        let len = usize::try_from(len).map_err(|_| Error::from(ErrorKind::InvalidInput))?;
        state.live.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), Error> {
        let mut state = self.lock();
        state.syncs += 1;
        if state.fail_sync_from.is_some_and(|n| state.syncs >= n) {
            return Err(fault(&mut state, ErrorKind::Other));
        }
        if state.freeze_from_sync.is_none_or(|n| state.syncs < n) {
            state.durable = state.live.clone();
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        let mut state = self.lock();
        state.writes += 1;
        if state.fail_write_from.is_some_and(|n| state.writes >= n) {
            return Err(fault(&mut state, ErrorKind::Other));
        }
        let (start, end) = index(offset, data.len())?;
        if state.max_len.is_some_and(|max| end as u64 > max) {
            return Err(fault(&mut state, ErrorKind::StorageFull));
        }
        if end > state.live.len() {
            state.live.resize(end, 0);
        }
        state.live[start..end].copy_from_slice(data);
        Ok(())
    }
}
