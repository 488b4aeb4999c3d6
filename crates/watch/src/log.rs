//! The seam to the log store: durable batches in log-sequence-number order.
//!
//! The consumer needs only these four operations; [`MemoryLog`] implements them in memory for
//! tests and benchmarks; [`Store`] implements them for real.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

pub use logsight_storage::{CommittedBatch, CommittedEvent, Lsn};
use logsight_storage::{StorageError, Store};
use parking_lot::{Condvar, Mutex};

use crate::error::{Result, WatchError};

/// The operations the metric-filter consumer needs from the log store.
pub trait CommittedLog: Send + Sync {
    /// The highest LSN whose batch is durable ([`Lsn::ZERO`] for an empty log).
    fn committed_lsn(&self) -> Lsn;
    /// Durable batches with `lsn > after`, in LSN order, about `max_events` events at most (at
    /// least one batch if any); waits up to `wait` for one when there is none.
    /// [`WatchError::LsnUnavailable`] if batches after `after` are no longer retained.
    fn read_committed(
        &self,
        after: Lsn,
        max_events: usize,
        wait: Duration,
    ) -> Result<Vec<CommittedBatch>>;
    /// Keeps every batch after `position` readable until raised again or released.
    fn hold_committed(&self, consumer: &str, position: Lsn) -> Result<()>;
    /// Drops the consumer's hold.
    fn release_committed(&self, consumer: &str) -> Result<()>;
}

/// An in-memory [`CommittedLog`] that trims batches below the lowest hold.
#[derive(Debug, Default)]
pub struct MemoryLog {
    inner: Mutex<MemoryInner>,
    appended: Condvar,
}

#[derive(Debug, Default)]
struct MemoryInner {
    batches: VecDeque<CommittedBatch>,
    last: u64,
    holds: BTreeMap<String, Lsn>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// Appends a batch of `(timestamp, message)` events; returns its LSN.
    pub fn append(&self, group: &str, stream: &str, events: &[CommittedEvent]) -> Lsn {
        let mut inner = self.inner.lock();
        inner.last += 1;
        let lsn = Lsn::new(inner.last);
        let batch = CommittedBatch {
            lsn,
            group: group.into(),
            stream: stream.into(),
            events: events.to_vec(),
        };
        inner.batches.push_back(batch);
        self.appended.notify_all();
        lsn
    }

    /// Deletes batches at or below the lowest hold (all of them when none is held), as a store
    /// may.
    pub fn trim(&self) {
        let mut inner = self.inner.lock();
        let floor = inner.holds.values().min().copied().unwrap_or(Lsn::new(inner.last));
        while inner.batches.front().is_some_and(|b| b.lsn <= floor) {
            inner.batches.pop_front();
        }
    }

    /// The hold a consumer has, if any.
    pub fn hold_of(&self, consumer: &str) -> Option<Lsn> {
        self.inner.lock().holds.get(consumer).copied()
    }
}

impl CommittedLog for MemoryLog {
    fn committed_lsn(&self) -> Lsn {
        Lsn::new(self.inner.lock().last)
    }

    fn read_committed(
        &self,
        after: Lsn,
        max_events: usize,
        wait: Duration,
    ) -> Result<Vec<CommittedBatch>> {
        let deadline = Instant::now() + wait;
        let mut inner = self.inner.lock();
        while inner.last <= after.get() {
            if self.appended.wait_until(&mut inner, deadline).timed_out() {
                return Ok(Vec::new());
            }
        }
        let first = inner.batches.front().map_or(inner.last + 1, |b| b.lsn.get());
        if first > after.get() + 1 {
            return Err(WatchError::LsnUnavailable { after: after.get() });
        }
        let mut out = Vec::new();
        let mut events = 0;
        for b in inner.batches.iter().filter(|b| b.lsn > after) {
            if !out.is_empty() && events + b.events.len() > max_events {
                break;
            }
            events += b.events.len();
            out.push(b.clone());
        }
        Ok(out)
    }

    fn hold_committed(&self, consumer: &str, position: Lsn) -> Result<()> {
        self.inner.lock().holds.insert(consumer.to_owned(), position);
        Ok(())
    }

    fn release_committed(&self, consumer: &str) -> Result<()> {
        self.inner.lock().holds.remove(consumer);
        Ok(())
    }
}

impl CommittedLog for Store {
    fn committed_lsn(&self) -> Lsn {
        Store::committed_lsn(self)
    }

    fn read_committed(
        &self,
        after: Lsn,
        max_events: usize,
        wait: Duration,
    ) -> Result<Vec<CommittedBatch>> {
        Store::read_committed(self, after, max_events, wait).map_err(|e| match e {
            StorageError::LsnUnavailable { requested, .. } => {
                WatchError::LsnUnavailable { after: requested }
            }
            e => WatchError::Storage(e),
        })
    }

    fn hold_committed(&self, consumer: &str, position: Lsn) -> Result<()> {
        Ok(Store::hold_committed(self, consumer, position)?)
    }

    fn release_committed(&self, consumer: &str) -> Result<()> {
        Ok(Store::release_committed(self, consumer)?)
    }
}
