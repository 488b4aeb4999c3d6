//! Building derived artifacts: the one loop every kind of derived data (a full-text index,
//! JSON field columns) runs through.
//!
//! A [`Deriver`] turns one sealed [`Segment`] into the bytes of its artifact; it is pure (no
//! I/O beyond reading the segment it is given) and knows nothing of threads or the catalog.
//! [`Store::derive_missing`] builds every live segment's missing artifact of that kind, in
//! segment order, and [`Store::derive`] runs it on a thread of its own (CPU work never runs on
//! an async runtime), woken by [`Store::watch_segments`] and by a periodic tick, so a segment
//! whose artifact was dropped ([`Store::drop_artifacts`], a corrupt one found by a reader) is
//! rebuilt without a restart.
//!
//! Exactly-once does not need bookkeeping here: an artifact is registered with its segment
//! (see `artifacts`), so "missing" is read from the catalog each round, a crash loses only
//! work, and a segment merged away while its artifact was built is refused by
//! [`Store::put_artifact`] and its successor built instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender};
use parking_lot::Mutex;

use super::{ArtifactKind, SegmentChange, Store};
use crate::error::Result;
use crate::segment::Segment;

/// Why a deriver could not build an artifact (its own error type, boxed at this seam).
pub type DeriveError = Box<dyn std::error::Error + Send + Sync>;

/// Builds one kind of derived artifact from a sealed segment.
pub trait Deriver: Send + Sync + 'static {
    /// The artifact kind it builds.
    fn kind(&self) -> &ArtifactKind;

    /// The artifact's bytes for `segment` (every block of every group it holds).
    fn build(&self, segment: &Segment) -> std::result::Result<Vec<u8>, DeriveError>;
}

/// What a round of building did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeriveReport {
    /// Artifacts built and registered.
    pub built: u64,
    /// Artifact bytes written.
    pub bytes: u64,
    /// Segments whose build failed (left without an artifact; readers fall back to the
    /// segment itself).
    pub failed: Vec<u64>,
}

/// Counters of a running builder, readable while it runs.
#[derive(Debug, Default)]
pub struct DeriveStats {
    built: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl DeriveStats {
    /// Artifacts built since the builder started.
    pub fn built(&self) -> u64 {
        self.built.load(Ordering::Relaxed)
    }

    /// Artifact bytes written since the builder started.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Builds that failed since the builder started.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The last build failure, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }
}

/// A builder running on its own thread; dropping it stops the thread after the artifact in
/// hand.
pub struct Derivation {
    kind: ArtifactKind,
    stats: Arc<DeriveStats>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Derivation {
    /// The kind it builds.
    pub fn kind(&self) -> &ArtifactKind {
        &self.kind
    }

    /// Its counters.
    pub fn stats(&self) -> &Arc<DeriveStats> {
        &self.stats
    }
}

impl std::fmt::Debug for Derivation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Derivation").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Drop for Derivation {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often a running builder looks for missing artifacts without being told of a change.
const TICK: Duration = Duration::from_secs(30);

impl Store {
    /// The live segment `id`, if it is live.
    pub fn segment(&self, id: u64) -> Option<Arc<Segment>> {
        self.inner.state.read().segments.get(&id).cloned()
    }

    /// Builds every live segment's missing artifact of `deriver`'s kind, oldest segment first,
    /// and returns what it did. A failed build is reported and skipped (logged), never fatal;
    /// only a failure to store an artifact is an error.
    pub fn derive_missing(&self, deriver: &dyn Deriver) -> Result<DeriveReport> {
        self.derive_missing_until(deriver, &|| false, &DeriveStats::default())
    }

    fn derive_missing_until(
        &self,
        deriver: &dyn Deriver,
        stop: &dyn Fn() -> bool,
        stats: &DeriveStats,
    ) -> Result<DeriveReport> {
        let kind = deriver.kind();
        let mut report = DeriveReport::default();
        for id in self.segments_without(kind) {
            if stop() {
                break;
            }
            // Merged away since the list was read: its successor is in a later round.
            let Some(segment) = self.segment(id) else { continue };
            match deriver.build(&segment) {
                Ok(bytes) => {
                    if self.put_artifact(id, kind, &bytes)? {
                        report.built += 1;
                        report.bytes += bytes.len() as u64;
                        stats.built.fetch_add(1, Ordering::Relaxed);
                        stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    tracing::warn!(segment = id, %kind, error = %e, "artifact not built");
                    report.failed.push(id);
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    *stats.last_error.lock() = Some(format!("segment {id:016x}: {e}"));
                }
            }
        }
        Ok(report)
    }

    /// Unregisters and deletes every artifact of `kind` (all segments, or only `segment`), so
    /// the builders make them again; returns how many were dropped. Queries fall back to the
    /// segments meanwhile.
    pub fn drop_artifacts(&self, kind: &ArtifactKind, segment: Option<u64>) -> Result<u64> {
        let dropped = {
            let _m = self.inner.maintenance.lock();
            let _w = self.inner.catalog_writes.lock();
            let mut cat = self.inner.state.read().catalog.clone();
            let mut dropped = Vec::new();
            for entry in cat.segments.iter_mut() {
                if segment.is_none_or(|s| s == entry.id)
                    && entry.artifacts.remove(kind.as_str()).is_some()
                {
                    dropped.push(entry.id);
                }
            }
            if !dropped.is_empty() {
                self.inner.save_catalog(&mut cat)?;
                self.inner.state.write().catalog = cat;
            }
            dropped
        };
        for &id in &dropped {
            self.inner.delete_artifacts(id, [kind.as_str().to_owned()]);
        }
        if !dropped.is_empty() {
            // Wakes the builders: to them a segment without its artifact is as good as new.
            let wake: Vec<SegmentChange> =
                dropped.iter().map(|&id| SegmentChange::Added(id)).collect();
            self.inner.watchers.send(&wake);
        }
        Ok(dropped.len() as u64)
    }

    /// Runs `deriver` on a thread of its own for as long as the returned handle lives: it
    /// catches up with the segments that lack its artifact, then builds each new one after
    /// its seal, compaction or rewrite commits.
    pub fn derive(self: &Arc<Self>, deriver: Arc<dyn Deriver>) -> std::io::Result<Derivation> {
        let kind = deriver.kind().clone();
        let stats = Arc::new(DeriveStats::default());
        // Subscribe before the first round, so no change falls between the two.
        let changes = self.watch_segments();
        let (stop_tx, stop_rx) = channel::bounded::<()>(0);
        let store = Arc::downgrade(self);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("derive-{kind}"))
            .spawn(move || run(store, deriver, changes, stop_rx, thread_stats))?;
        Ok(Derivation { kind, stats, stop: Some(stop_tx), thread: Some(thread) })
    }
}

fn run(
    store: std::sync::Weak<Store>,
    deriver: Arc<dyn Deriver>,
    changes: Receiver<SegmentChange>,
    stop: Receiver<()>,
    stats: Arc<DeriveStats>,
) {
    let stopped = || matches!(stop.try_recv(), Err(channel::TryRecvError::Disconnected));
    loop {
        {
            // A weak handle: a builder never keeps a closed store open.
            let Some(store) = store.upgrade() else { return };
            if let Err(e) = store.derive_missing_until(deriver.as_ref(), &stopped, &stats) {
                tracing::warn!(kind = %deriver.kind(), error = %e, "artifacts not stored");
                *stats.last_error.lock() = Some(e.to_string());
            }
        }
        channel::select! {
            recv(stop) -> _ => return,
            recv(changes) -> change => {
                if change.is_err() {
                    return;
                }
                // Coalesce a burst (a compaction announces several) into one round.
                while changes.try_recv().is_ok() {}
            }
            default(TICK) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsight_model::{LogEvent, LogGroupName, LogStreamName};

    use crate::StoreOptions;

    /// Counts each block's events: enough to see which segments were built, and how often.
    struct Counting {
        kind: ArtifactKind,
        fail: Option<u64>,
    }

    impl Deriver for Counting {
        fn kind(&self) -> &ArtifactKind {
            &self.kind
        }

        fn build(&self, segment: &Segment) -> std::result::Result<Vec<u8>, DeriveError> {
            if self.fail == Some(segment.id()) {
                return Err("refused by the test".into());
            }
            let n: u64 = segment.blocks().iter().map(|b| u64::from(b.count)).sum();
            Ok(n.to_le_bytes().to_vec())
        }
    }

    fn store_with_segments(dir: &std::path::Path, seals: usize) -> Arc<Store> {
        let opts = StoreOptions { background: false, sync: false, ..Default::default() };
        let store = Arc::new(Store::open(dir, opts).unwrap());
        let group = LogGroupName::new("g").unwrap();
        store.create_group(&group).unwrap();
        store.create_stream(&group, &LogStreamName::new("s").unwrap()).unwrap();
        for i in 0..seals {
            append(&store, i as i64 * 10, i + 1);
        }
        store
    }

    /// Appends `n` events from `ts` on and seals them into a segment.
    fn append(store: &Store, ts: i64, n: usize) {
        let events: Vec<LogEvent> =
            (0..n).map(|j| LogEvent::new(ts + j as i64, 1, format!("e{j}")).unwrap()).collect();
        store.append("g", "s", &events).unwrap();
        store.flush().unwrap();
    }

    fn counted(store: &Store, kind: &ArtifactKind, id: u64) -> Option<u64> {
        let bytes = store.artifact(id, kind).unwrap()?;
        Some(u64::from_le_bytes(bytes[..8].try_into().unwrap()))
    }

    #[test]
    fn builds_what_is_missing_once_and_reports_failures() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store_with_segments(tmp.path(), 3);
        let ids: Vec<u64> = store.segments().iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), 3);
        let kind = ArtifactKind::new("count").unwrap();
        let deriver = Counting { kind: kind.clone(), fail: Some(ids[1]) };
        let report = store.derive_missing(&deriver).unwrap();
        assert_eq!(report.built, 2);
        assert_eq!(report.failed, [ids[1]]);
        assert_eq!(counted(&store, &kind, ids[0]), Some(1));
        assert_eq!(counted(&store, &kind, ids[1]), None);
        assert_eq!(counted(&store, &kind, ids[2]), Some(3));
        // Nothing left to build but the failed one.
        assert_eq!(store.segments_without(&kind), [ids[1]]);
        let again = Counting { kind: kind.clone(), fail: None };
        assert_eq!(store.derive_missing(&again).unwrap().built, 1);
        assert_eq!(store.derive_missing(&again).unwrap(), DeriveReport::default());
        // Dropping one brings it back into the next round, and only it.
        assert_eq!(store.drop_artifacts(&kind, Some(ids[2])).unwrap(), 1);
        assert_eq!(store.segments_without(&kind), [ids[2]]);
        assert_eq!(store.derive_missing(&again).unwrap().built, 1);
        assert_eq!(store.drop_artifacts(&kind, None).unwrap(), 3);
        assert_eq!(store.segments_without(&kind), ids);
    }

    #[test]
    fn a_running_builder_follows_seals_and_drops() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store_with_segments(tmp.path(), 1);
        let kind = ArtifactKind::new("count").unwrap();
        let derivation =
            store.derive(Arc::new(Counting { kind: kind.clone(), fail: None })).unwrap();
        let wait_built = |n: u64| {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while derivation.stats().built() < n {
                assert!(std::time::Instant::now() < deadline, "builder stuck at {n}");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        wait_built(1);
        append(&store, 5_000, 2);
        wait_built(2);
        let last = store.segments().last().unwrap().id;
        assert_eq!(counted(&store, &kind, last), Some(2));
        store.drop_artifacts(&kind, Some(last)).unwrap();
        wait_built(3);
        assert_eq!(counted(&store, &kind, last), Some(2));
        assert!(store.segments_without(&kind).is_empty());
        drop(derivation);
    }
}
