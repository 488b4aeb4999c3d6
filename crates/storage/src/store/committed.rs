//! Committed batches in LSN order: how a consumer (metric filters) sees every accepted event
//! exactly once, across crashes.
//!
//! A consumer persists its own state together with the LSN it has applied up to, and on start
//! reads everything committed after that LSN. To make sure those batches are still there, it
//! *holds* its position in the store ([`Store::hold_committed`], persisted in the catalog):
//! the WAL keeps every file holding a record above the lowest hold, even after the records are
//! sealed into segments. A consumer raises its hold as its own state is persisted, so the WAL
//! it pins is only what it has not yet made durable itself.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Store;
use crate::catalog::Catalog;
use crate::error::{Result, StorageError};
use crate::wal::ReadError;

/// The log sequence number of a durable WAL record: grows with every record, across restarts.
/// Catalog changes are records too, so the LSNs of consecutive batches may skip numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(u64);

impl Lsn {
    /// Before the first batch.
    pub const ZERO: Lsn = Lsn(0);

    /// The LSN with this number.
    pub const fn new(n: u64) -> Lsn {
        Lsn(n)
    }

    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One event of a committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEvent {
    /// Event time, epoch ms.
    pub timestamp: i64,
    /// Arrival time, epoch ms.
    pub ingestion_time: i64,
    /// The message.
    pub message: Arc<str>,
}

/// A durable batch: the events one append stored in one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedBatch {
    /// Its LSN.
    pub lsn: Lsn,
    /// The log group.
    pub group: Arc<str>,
    /// The log stream.
    pub stream: Arc<str>,
    /// The events, in the order they were appended.
    pub events: Vec<CommittedEvent>,
}

impl Store {
    /// The LSN of the last durable batch ([`Lsn::ZERO`] before the first): a consumer that has
    /// read up to it has seen every batch.
    pub fn committed_lsn(&self) -> Lsn {
        Lsn(self.inner.wal.durable_batch_lsn())
    }

    /// Durable batches after `after`, in LSN order: at least one if there is any, then more
    /// while their events stay within `max_events`. When there is none it waits up to `wait`
    /// for one. Batches of streams deleted since are left out (their LSNs are still passed).
    /// Fails with [`StorageError::LsnUnavailable`] when batches after `after` are gone
    /// because no consumer held them.
    pub fn read_committed(
        &self,
        after: Lsn,
        max_events: usize,
        wait: Duration,
    ) -> Result<Vec<CommittedBatch>> {
        let wal = &self.inner.wal;
        let deadline = std::time::Instant::now() + wait;
        let mut from = after.0;
        loop {
            if wal.durable_lsn() <= from {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() || wal.wait_beyond(from, left) <= from {
                    return Ok(Vec::new());
                }
            }
            let (batches, reached) = wal.read_after(from, max_events).map_err(|e| match e {
                ReadError::Unavailable { oldest } => {
                    StorageError::LsnUnavailable { requested: from, oldest }
                }
                ReadError::Storage(e) => e,
            })?;
            let batches = self.named(batches);
            // Records that are not batches, or batches of deleted streams, are passed over
            // rather than answered with an empty page a caller would take for the end.
            if !batches.is_empty() || reached <= from {
                return Ok(batches);
            }
            from = reached;
        }
    }

    /// Names the batches' streams, leaving out those of deleted streams.
    fn named(&self, batches: Vec<crate::wal::WalBatch>) -> Vec<CommittedBatch> {
        let st = self.inner.state.read();
        batches
            .into_iter()
            .filter_map(|b| {
                let (group, stream) = st.names.get(&b.stream_id)?.clone();
                let events = b.events.into_iter().map(|e| CommittedEvent {
                    timestamp: e.timestamp,
                    ingestion_time: e.ingestion_time,
                    message: e.message.into(),
                });
                Some(CommittedBatch {
                    lsn: Lsn(b.lsn.expect("read_after returns only batches with LSNs")),
                    group,
                    stream,
                    events: events.collect(),
                })
            })
            .collect()
    }

    /// Keeps every batch after `position` readable by [`Store::read_committed`] for
    /// `consumer`, across restarts, until raised or released. A consumer calls it once its own
    /// state up to `position` is persisted. Fails with [`StorageError::LsnUnavailable`] if
    /// batches after `position` are gone already.
    pub fn hold_committed(&self, consumer: &str, position: Lsn) -> Result<()> {
        if consumer.is_empty() {
            return Err(StorageError::InvalidArgument("a consumer needs a name".into()));
        }
        let held = self.inner.state.read().catalog.consumers.get(consumer).copied();
        if held == Some(position.0) {
            return Ok(());
        }
        // A new or lowered hold must not point below what is still kept, and no seal may drop
        // WAL files between the check and the hold.
        let sealing_held =
            held.is_none_or(|h| position.0 < h).then(|| self.inner.maintenance.lock());
        if sealing_held.is_some() {
            self.inner.wal.read_after(position.0, 1).map_err(|e| match e {
                ReadError::Unavailable { oldest } => {
                    StorageError::LsnUnavailable { requested: position.0, oldest }
                }
                ReadError::Storage(e) => e,
            })?;
        }
        self.set_hold(consumer, Some(position.0))
    }

    /// Sets or removes (`None`) a consumer's hold: the holds file is the commit point.
    fn set_hold(&self, consumer: &str, position: Option<u64>) -> Result<()> {
        let _w = self.inner.catalog_writes.lock();
        let mut holds = self.inner.state.read().catalog.consumers.clone();
        match position {
            Some(p) => holds.insert(consumer.to_owned(), p),
            None => holds.remove(consumer),
        };
        Catalog::save_holds(&self.inner.dir, &holds, self.inner.opts.perms)?;
        self.inner.state.write().catalog.consumers = holds;
        Ok(())
    }

    /// Forgets `consumer`'s hold; the WAL it pinned goes at the next seal.
    pub fn release_committed(&self, consumer: &str) -> Result<()> {
        self.set_hold(consumer, None)
    }
}
