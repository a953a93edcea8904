//! The idle half of [`SyncPolicy`](super::SyncPolicy): a thread that forces
//! the journal to the disk once its interval has passed with journaled
//! events not synced, so that a recorder that goes quiet still keeps its
//! bound on power loss (the recording thread syncs on its own while events
//! come in).

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the recording thread and the idle syncer share.
#[derive(Default)]
pub(super) struct SyncState {
    /// How many of the capture's events are in the journal.
    journaled: AtomicU64,
    /// How many of them are known to be on the disk.
    synced: AtomicU64,
    /// Set to stop the thread; it waits on `wake` between syncs.
    stop: Mutex<bool>,
    wake: Condvar,
    /// The first failure of the thread's sync, for the recording to return;
    /// `failed` tells at a glance whether there is one.
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
}

impl SyncState {
    /// The first `events` of the capture are in the journal (written to its
    /// mapping before this call).
    pub fn journaled(&self, events: u64) {
        self.journaled.fetch_max(events, Ordering::Release);
    }

    /// The events journaled when this is called, before a sync of the
    /// journal that will cover them.
    pub fn to_sync(&self) -> u64 {
        self.journaled.load(Ordering::Acquire)
    }

    /// A sync covering the first `events` returned.
    pub fn synced(&self, events: u64) {
        self.synced.fetch_max(events, Ordering::Release);
    }

    /// How many events are known to be on the disk.
    pub fn synced_events(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// The thread's sync failure, once.
    pub fn take_failure(&self) -> Option<String> {
        // A plain load on the recording's every event; the swap only once
        // there is a failure.
        if !self.failed.load(Ordering::Relaxed) || !self.failed.swap(false, Ordering::Acquire) {
            return None;
        }
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The thread that syncs an idle journal.
pub(super) struct IdleSyncer {
    state: Arc<SyncState>,
    handle: Option<JoinHandle<()>>,
}

impl IdleSyncer {
    /// Starts syncing `file` (the journal's) every `interval` while events
    /// journaled in `state` are not synced.
    pub fn start(file: File, interval: Duration, state: Arc<SyncState>) -> std::io::Result<IdleSyncer> {
        let shared = state.clone();
        let handle = std::thread::Builder::new()
            .name("tracemem-sync".into())
            .spawn(move || {
                let mut stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    stop = shared
                        .wake
                        .wait_timeout(stop, interval)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    if *stop {
                        return;
                    }
                    let events = shared.to_sync();
                    if events <= shared.synced_events() {
                        continue;
                    }
                    match file.sync_data() {
                        Ok(()) => shared.synced(events),
                        Err(e) => {
                            let mut failure = shared.failure.lock().unwrap_or_else(PoisonError::into_inner);
                            failure.get_or_insert_with(|| format!("syncing the journal: {e}"));
                            shared.failed.store(true, Ordering::Release);
                        }
                    }
                }
            })?;
        Ok(IdleSyncer {
            state,
            handle: Some(handle),
        })
    }
}

impl Drop for IdleSyncer {
    fn drop(&mut self) {
        *self.state.stop.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.state.wake.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
