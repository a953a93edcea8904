//! The idle half of the commit interval: a thread that, while recording
//! pauses, has what was recorded since the last commit committed once the
//! interval has passed, so that readers in other processes (`log --follow`)
//! see the last events of a bus that went quiet (the recording calls commit
//! on their own while events come in).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A thread calling a function every tick until stopped, or until the
/// function says its work is gone.
pub(super) struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Calls `tick` every `every` on a thread named `name` until
    /// [`Ticker::stop`] or until `tick` returns false.
    pub fn start(
        name: &str,
        every: Duration,
        mut tick: impl FnMut() -> bool + Send + 'static,
    ) -> std::io::Result<Ticker> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let shared = stop.clone();
        let handle = std::thread::Builder::new().name(name.into()).spawn(move || {
            let (flag, wake) = &*shared;
            let mut stopped = flag.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                stopped = wake
                    .wait_timeout(stopped, every)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                if *stopped {
                    return;
                }
                // Not holding the stop flag while it works: a stop waits
                // at most one tick.
                drop(stopped);
                if !tick() {
                    return;
                }
                stopped = flag.lock().unwrap_or_else(PoisonError::into_inner);
            }
        })?;
        Ok(Ticker {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}
