//! Ingest admission: a budget of request bytes in flight, shared by every protocol, so that
//! ingest beyond it waits a little and is then refused with a retry hint instead of piling up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ServiceError;

/// The budget: one permit per KiB of batches in flight.
#[derive(Debug, Clone)]
pub struct Admission {
    sem: Arc<Semaphore>,
    total: usize,
    wait: Duration,
}

impl Admission {
    /// A budget of `max_inflight_bytes`; a batch waits up to `wait` for room.
    pub fn new(max_inflight_bytes: usize, wait: Duration) -> Self {
        let total =
            (max_inflight_bytes / 1024).clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Admission { sem: Arc::new(Semaphore::new(total)), total, wait }
    }

    /// Bytes of ingest in flight now.
    pub fn inflight_bytes(&self) -> usize {
        (self.total - self.sem.available_permits()) * 1024
    }

    /// Waits for room for `bytes` of ingest; refuses with a retry hint when the server stays
    /// full. The permit returns the room when dropped.
    pub async fn admit(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ServiceError> {
        // A batch larger than the whole budget waits for all of it rather than forever.
        let want = bytes.div_ceil(1024).clamp(1, self.total);
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        match tokio::time::timeout(self.wait, self.sem.clone().acquire_many_owned(want)).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(ServiceError::Unavailable {
                message: format!(
                    "the server is overloaded: ingest in flight is at its limit; retry after {} ms",
                    200
                ),
                retry_after_ms: 200,
            }),
        }
    }
}
