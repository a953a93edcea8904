//! Folding recorded events into the database: batches handed over by the
//! recorder are committed in order, each commit also storing how far the
//! journal is folded, on a thread of their own (or inline, when asked).
//!
//! The recorder keeps every batch until the folder reports it committed, so
//! it can list it, and so that nothing is lost when a commit fails: the
//! folder then keeps the batch too, and at its next turn opens the database
//! again, finds out whether the failed commit landed after all, and commits
//! whatever did not.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::db::Database;
use crate::db::retention::Retention;
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::TraceEvent;

/// Events and marks handed over for one commit.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub events: Vec<TraceEvent>,
    /// Marks at the sequence numbers of the events whose snaps they label.
    pub marks: Vec<(u64, String)>,
    /// The journal's last sequence number when the batch was handed over:
    /// every record of the batch is at or below it.
    pub mark: u64,
}

/// What one turn of the folder did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// How many hand-overs the turn answers (batches, or `None`s asking
    /// for a retry): a turn takes every one waiting.
    pub handovers: usize,
    /// How many of the oldest batches not reported before are now committed.
    pub batches: usize,
    /// The journal mark the database now holds (meaningful when `batches > 0`).
    pub mark: u64,
    /// Why a commit (or the recovery from an earlier failed one) failed.
    pub error: Option<Error>,
    /// Under a size bound: the bytes of the file and its journals after a
    /// commit that found them past the bound (retention keeps them under it
    /// unless a reader holds pages from before the horizon).
    pub past_bound: Option<u64>,
}

/// The database, shared by the recorder (for reads) and the folder.
pub(crate) type SharedDatabase = Arc<Mutex<Database>>;

/// Locks the shared database; a panic elsewhere while it was held leaves it
/// usable (every storage call is guarded, so none is half done).
pub(crate) fn lock(db: &SharedDatabase) -> MutexGuard<'_, Database> {
    db.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bytes the database file at `path` and its journals take on disk (0
/// for a file that cannot be looked at: the bound is then not reported).
fn stored_bytes(path: &std::path::Path) -> u64 {
    let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    len(path)
        + crate::journal::journal_files(path)
            .iter()
            .map(|(_, journal)| len(journal))
            .sum::<u64>()
}

/// Commits batches of one capture in order.
pub(crate) struct Folder {
    db: SharedDatabase,
    capture: String,
    /// The capture's events in the database.
    folded: u64,
    /// The journal slot of its recorder.
    slot: u32,
    /// The journal mark of the last commit.
    committed_mark: u64,
    /// Batches taken and not committed yet (after a failed commit).
    waiting: VecDeque<Arc<Batch>>,
    /// After a failed commit: how many of `waiting` it held.
    failed: Option<usize>,
    /// The bounds each commit applies.
    retention: Retention,
}

impl Folder {
    /// A folder of capture `capture`, which holds `folded` events and the
    /// mark `committed_mark` of the journal of slot `slot` in the database.
    pub fn new(db: SharedDatabase, capture: String, folded: u64, slot: u32, committed_mark: u64) -> Folder {
        Folder {
            db,
            capture,
            folded,
            slot,
            committed_mark,
            waiting: VecDeque::new(),
            failed: None,
            retention: Retention::default(),
        }
    }

    /// The folder, applying `retention` with each commit.
    pub fn with_retention(mut self, retention: Retention) -> Folder {
        self.retention = retention;
        self
    }

    /// Takes `batch` (if any) to be committed at the next turn.
    pub fn take(&mut self, batch: Option<Arc<Batch>>) {
        self.waiting.extend(batch);
    }

    /// Takes `batch` (if any) and commits every batch waiting, in one
    /// transaction; after a failed commit, first finds out whether it
    /// landed.
    pub fn fold(&mut self, batch: Option<Arc<Batch>>) -> Report {
        self.take(batch);
        let mut report = Report {
            handovers: 1,
            mark: self.committed_mark,
            ..Report::default()
        };
        if let Err(e) = self.commit_waiting(&mut report) {
            report.error = Some(e);
        }
        report
    }

    fn commit_waiting(&mut self, report: &mut Report) -> Result<()> {
        let db = self.db.clone();
        let mut db = lock(&db);
        if let Some(attempted) = self.failed {
            self.recover(&mut db, attempted, report)?;
        }
        if self.waiting.is_empty() {
            return Ok(());
        }
        let n = self.waiting.len();
        let mark = self.waiting.iter().map(|b| b.mark).max().unwrap_or(self.committed_mark);
        let committed = (|| {
            let mut txn = db.begin_write()?;
            for batch in &self.waiting {
                if !batch.events.is_empty() {
                    txn.append_events(&self.capture, &batch.events)?;
                }
            }
            // Once the events are in: a mark labels its event's snap.
            for batch in &self.waiting {
                for (seq, text) in &batch.marks {
                    txn.add_mark_at_event(&self.capture, *seq, text)?;
                }
            }
            txn.set_journal_mark(self.slot, mark)?;
            txn.commit()?;
            // A retention step commits on its own, after the events: it
            // reuses the pages their commit freed, so a size bound need not
            // hold the new pages of both at once. A crash between the two
            // leaves the events in and the old horizon.
            if self.retention.is_bounded() {
                let mut txn = db.begin_write()?;
                match txn.retain(&self.capture, &self.retention)? {
                    Some(_) => txn.commit()?,
                    None => txn.abort()?,
                }
            }
            Ok(())
        })();
        match committed {
            Ok(()) => {
                self.confirm(n, report);
                if let Some(bound) = self.retention.max_size {
                    report.past_bound = Some(stored_bytes(db.path())).filter(|&bytes| bytes > bound);
                }
                Ok(())
            }
            Err(e) => {
                self.failed = Some(n);
                Err(e)
            }
        }
    }

    /// Opens the database again after a failed commit of the first
    /// `attempted` waiting batches, and finds out whether that commit landed
    /// after all (a failure after its commit record reached the file): then
    /// they are done rather than committed twice.
    fn recover(&mut self, db: &mut Database, attempted: usize, report: &mut Report) -> Result<()> {
        db.reopen()?;
        let txn = db.begin_write()?;
        let stored_mark = txn.journal_mark(self.slot)?;
        let stored = txn.capture_events(&self.capture)?;
        txn.abort()?;
        let attempted_events: u64 = self.waiting.iter().take(attempted).map(|b| b.events.len() as u64).sum();
        let landed = stored.saturating_sub(self.folded);
        if landed > attempted_events {
            return Err(Error::corrupt(
                db.path().display().to_string(),
                format!(
                    "capture '{}' holds {stored} events, more than the {} recorded",
                    self.capture,
                    self.folded + attempted_events
                ),
            ));
        }
        // A commit is atomic: the events it held, or a moved journal mark,
        // tell that all of it landed.
        if landed > 0 || stored_mark != self.committed_mark {
            self.confirm(attempted, report);
        }
        self.failed = None;
        Ok(())
    }

    /// The first `n` waiting batches are in the database.
    fn confirm(&mut self, n: usize, report: &mut Report) {
        for batch in self.waiting.drain(..n) {
            self.folded += batch.events.len() as u64;
            self.committed_mark = self.committed_mark.max(batch.mark);
        }
        report.batches += n;
        report.mark = self.committed_mark;
    }
}

/// Where the folder runs: on a thread of its own, or in the recorder's calls.
pub(crate) enum FoldWorker {
    Inline {
        folder: Folder,
        reports: VecDeque<Report>,
    },
    Thread {
        /// The capture it commits, for errors once it has stopped.
        capture: String,
        /// `None` once closing.
        batches: Option<SyncSender<Option<Arc<Batch>>>>,
        reports: Receiver<Report>,
        thread: Option<JoinHandle<()>>,
    },
}

impl FoldWorker {
    /// Runs `folder` on a thread of its own when `background`. At most two
    /// batches wait for it: handing over a third waits (backpressure). The
    /// thread commits the batch it takes with those that wait behind it, in
    /// one transaction.
    pub fn start(folder: Folder, background: bool) -> Result<FoldWorker> {
        if !background {
            return Ok(FoldWorker::Inline {
                folder,
                reports: VecDeque::new(),
            });
        }
        let (batches, taken) = sync_channel::<Option<Arc<Batch>>>(2);
        let (report, reports) = std::sync::mpsc::channel();
        let capture = folder.capture.clone();
        let mut folder = folder;
        let thread = std::thread::Builder::new()
            .name("tracemem-fold".into())
            .spawn(move || {
                while let Ok(batch) = taken.recv() {
                    // Batches handed over meanwhile join this commit: a
                    // folder that lags behind commits more at once, and
                    // syncs less often.
                    folder.take(batch);
                    let mut handovers = 1;
                    while let Ok(more) = taken.try_recv() {
                        folder.take(more);
                        handovers += 1;
                    }
                    let mut done = folder.fold(None);
                    done.handovers = handovers;
                    if report.send(done).is_err() {
                        return;
                    }
                }
            })
            .map_err(|source| Error::Io {
                path: "the folding thread".into(),
                source,
            })?;
        Ok(FoldWorker::Thread {
            capture,
            batches: Some(batches),
            reports,
            thread: Some(thread),
        })
    }

    /// Hands `batch` over (`None`: commit what waits, a retry); a report
    /// answers it (perhaps with others).
    pub fn send(&mut self, batch: Option<Arc<Batch>>) -> Result<()> {
        match self {
            FoldWorker::Inline { folder, reports } => {
                reports.push_back(folder.fold(batch));
                Ok(())
            }
            FoldWorker::Thread { batches, capture, .. } => batches
                .as_ref()
                .and_then(|b| b.send(batch).ok())
                .ok_or_else(|| stopped(capture)),
        }
    }

    /// The next report: waits for it when `wait`, else `None` if there is none yet.
    pub fn report(&mut self, wait: bool) -> Result<Option<Report>> {
        match self {
            FoldWorker::Inline { reports, .. } => Ok(reports.pop_front()),
            FoldWorker::Thread { reports, capture, .. } if wait => {
                reports.recv().map(Some).map_err(|_| stopped(capture))
            }
            FoldWorker::Thread { reports, capture, .. } => match reports.try_recv() {
                Ok(report) => Ok(Some(report)),
                Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(stopped(capture)),
            },
        }
    }

    /// Stops the folder's thread once it has taken what was handed over.
    pub fn stop(&mut self) {
        if let FoldWorker::Thread { batches, thread, .. } = self {
            batches.take();
            if let Some(thread) = thread.take() {
                // A panic in the folder has been reported as a stop already.
                let _ = thread.join();
            }
        }
    }
}

impl Drop for FoldWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stopped(capture: &str) -> Error {
    Error::FoldingStopped {
        capture: capture.to_string(),
    }
}
