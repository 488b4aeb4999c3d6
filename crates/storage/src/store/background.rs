//! The store's two threads: the sealer (seals, retention) and the compactor (merges).

use super::*;

/// Merges segments while the policy wants it, then waits a while; a failed merge is logged
/// and retried later (its outputs were discarded, its inputs are untouched).
pub(super) fn compaction_loop(inner: &Inner, stopped: &Receiver<()>) {
    let idle = (inner.opts.seal_age / 2).clamp(Duration::from_millis(50), Duration::from_secs(30));
    loop {
        let wait = match compact::compact_step(inner, false) {
            Ok(Some(_)) => Duration::ZERO,
            Ok(None) => idle,
            Err(e) => {
                tracing::error!(error = %e, "background compaction failed");
                idle
            }
        };
        crossbeam::select! {
            recv(stopped) -> _ => return,
            default(wait) => {}
        }
    }
}

pub(super) fn background_loop(inner: &Inner, kicked: &Receiver<()>, stopped: &Receiver<()>) {
    let tick = (inner.opts.seal_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut last_retention = std::time::Instant::now();
    loop {
        crossbeam::select! {
            recv(kicked) -> _ => {}
            recv(stopped) -> _ => return,
            default(tick) => {}
        }
        let due = {
            let active = inner.active.lock();
            let changes = inner.unsaved_changes.load(Ordering::Relaxed);
            (!active.is_empty()
                && (active.raw_bytes >= inner.opts.seal_bytes
                    || active.created.elapsed() >= inner.opts.seal_age))
                || changes >= CHECKPOINT_CHANGES
                || (changes > 0 && inner.last_seal.lock().elapsed() >= inner.opts.seal_age)
        };
        // After a failure (a full disk), retry until space returns.
        let due = due || inner.wal.is_poisoned() || inner.unsealed.lock().is_some();
        if due && let Err(e) = seal(inner) {
            tracing::error!(error = %e, "background seal failed");
        }
        if last_retention.elapsed() >= Duration::from_secs(60) {
            last_retention = std::time::Instant::now();
            if let Err(e) = rewrite_segments(inner) {
                tracing::error!(error = %e, "retention pass failed");
            }
        }
    }
}
