//! What every protocol shares: the service, the ingest admission budget, access control, the
//! audit trail and the metrics. The gRPC adapter and the HTTP API (crate `logsight-http`) are
//! both thin front ends over one [`Shared`].

use std::sync::Arc;
use std::time::Instant;

use logsight_storage::{Clock, Store};

use crate::ServerError;
use crate::access::Access;
use crate::admission::Admission;
use crate::audit::{Auditor, Call, Failure, Protocol};
use crate::error::ServiceError;
use crate::metrics::{Gauges, Metrics};
use crate::service::Service;
use crate::tail::TailHub;

/// The state shared by the front ends.
#[derive(Debug)]
pub struct Shared {
    service: Arc<Service>,
    /// Metric filters, metrics and alarms (its threads stop in [`Shared::close`]).
    watch: Arc<logsight_watch::Watch>,
    admission: Admission,
    access: Access,
    auditor: Option<Auditor>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    /// Logs Insights queries (its coordinator threads stop when it is dropped).
    queries: Arc<logsight_queries::QueryManager>,
    /// Saved queries (`<data dir>/queries/`).
    query_definitions: Arc<logsight_queries::Definitions>,
    /// The builders of derived artifacts (JSON field columns, the full-text index); their
    /// threads stop in [`Shared::close`].
    derivations: parking_lot::Mutex<Vec<logsight_storage::Derivation>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

impl Shared {
    /// Builds the shared state over `store`; with `opts.audit`, creates the audit group and
    /// starts its writer. Call on a tokio runtime.
    pub fn start(
        store: Arc<Store>,
        opts: &crate::ServerOptions,
    ) -> Result<Arc<Shared>, ServerError> {
        let hub = Arc::new(TailHub::default());
        let auditor = if opts.audit {
            Some(
                Auditor::start(store.clone(), hub.clone())
                    .map_err(|e| ServerError::Audit(e.to_string()))?,
            )
        } else {
            None
        };
        let watch = {
            let dir = store.dir().join("watch");
            let log: Arc<dyn logsight_watch::CommittedLog> = store.clone();
            let sink: Arc<dyn logsight_watch::actions::AlarmEventSink> = store.clone();
            let (clock, options) = (opts.clock.clone(), opts.watch.clone());
            // Reads its state files once, at start.
            tokio::task::block_in_place(|| {
                logsight_watch::Watch::start(&dir, log, sink, clock, options)
            })
            .map_err(|e| ServerError::Watch(e.to_string()))?
        };
        let query_definitions = {
            let dir = store.dir().join("queries");
            tokio::task::block_in_place(|| logsight_queries::Definitions::open(&dir))
                .map_err(|e| ServerError::Queries(e.to_string()))?
        };
        let queries = logsight_queries::QueryManager::new(
            store.clone(),
            opts.clock.clone(),
            opts.queries.clone(),
        );
        // Builds the full-text index of every segment that lacks one, then of each new one,
        // on a thread of its own; queries scan what is not indexed yet.
        let indexer = store
            .derive(Arc::new(logsight_index::IndexDeriver::new()))
            .map_err(|source| ServerError::Deriver { kind: "index", source })?;
        let budget = crate::service::FilterBudget {
            time: opts.filter_scan_time,
            ..crate::service::FilterBudget::default()
        };
        // JSON field columns of every segment, built after seals and compactions on a
        // thread of their own (never on the ingest path).
        let columns = store
            .derive(Arc::new(logsight_columns::ColumnsDeriver::default()))
            .map_err(|source| ServerError::Deriver { kind: logsight_columns::KIND, source })?;
        let service = Arc::new(Service::new(
            store,
            opts.clock.clone(),
            hub,
            crate::token::TokenKey::random(),
            budget,
            queries.engine().clone(),
            queries.source().clone(),
        ));
        Ok(Arc::new(Shared {
            service,
            watch: Arc::new(watch),
            admission: Admission::new(opts.max_inflight_bytes, opts.admission_wait),
            access: Access::new(opts.principals.clone()),
            auditor,
            metrics: Metrics::default(),
            clock: opts.clock.clone(),
            queries: Arc::new(queries),
            query_definitions: Arc::new(query_definitions),
            derivations: parking_lot::Mutex::new(vec![columns, indexer]),
        }))
    }

    /// The service.
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// The Watch side.
    pub fn watch(&self) -> &Arc<logsight_watch::Watch> {
        &self.watch
    }

    /// The Logs Insights query manager.
    pub fn queries(&self) -> &Arc<logsight_queries::QueryManager> {
        &self.queries
    }

    /// The saved queries.
    pub fn query_definitions(&self) -> &Arc<logsight_queries::Definitions> {
        &self.query_definitions
    }

    /// The ingest admission budget.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Authentication and authorization.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Now, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs `f` on a blocking thread (storage calls never run on the runtime's workers).
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        crate::service::on_blocking_thread(self.service.clone(), f).await
    }

    /// Runs `f` over the whole shared state on a blocking thread: for calls that reach the
    /// Watch side or the query manager as well as the service (they lock, fsync, read storage).
    pub async fn on_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Shared) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        crate::service::on_blocking_thread(self.clone(), f).await
    }

    /// Metric filters on `group`, as DescribeLogGroups reports them.
    pub fn metric_filter_count(&self, group: &str) -> usize {
        self.watch.filters().count(group)
    }

    /// Ends a call: counts it and queues its audit record.
    pub async fn finish(&self, call: &Call, outcome: Result<(), &Failure>, started: Instant) {
        let proto = match call.protocol {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        };
        let code = outcome.err().map_or("ok", Failure::code);
        self.metrics.observe(proto, &call.operation, code, started.elapsed());
        if let Some(a) = &self.auditor {
            a.record(call, outcome, self.clock.now_ms()).await;
        }
    }

    /// The gauges of the metrics exposition, read now.
    pub fn gauges(&self) -> Gauges {
        let store = self.service.store();
        let stats = store.stats();
        let (mut g, a) = (Gauges::default(), self.auditor.as_ref());
        g.ingest_inflight_bytes = self.admission.inflight_bytes() as u64;
        if let Some(a) = a {
            use std::sync::atomic::Ordering::Relaxed;
            g.audit_queue_depth = a.queue_depth() as u64;
            g.audit_written = a.stats().written.load(Relaxed);
            g.audit_dropped = a.stats().dropped.load(Relaxed);
            g.audit_failed = a.stats().failed.load(Relaxed);
        }
        g.segments = stats.segments;
        g.blocks = stats.blocks;
        g.segment_bytes = stats.segment_bytes;
        g.wal_bytes = stats.wal_bytes;
        g.buffered_events = stats.buffered_events;
        g.damaged_segments = stats.damaged_segments.len() as u64;
        g.groups = store.groups().len() as u64;
        g.sealed_bytes = stats.sealed_bytes;
        g.compacted_bytes = stats.compacted_bytes;
        let load = self.queries.load();
        (g.queries_scheduled, g.queries_running) = (load.scheduled as u64, load.running as u64);
        g.metric_filters = self.watch.filters().snapshot().values().map(|f| f.len() as u64).sum();
        let consumer = self.watch.consumer_status();
        g.metric_filter_lag = consumer.lag();
        g.metric_filter_lost_batches = consumer.lost_batches;
        g.alarm_actions_dropped = self.watch.dropped_actions();
        g
    }

    /// After the front ends stopped: writes the queued audit records, then flushes the store.
    pub async fn close(&self) -> Result<(), ServerError> {
        if let Some(a) = &self.auditor {
            a.close().await;
        }
        self.queries.cancel_all();
        // The Watch threads stop first (the consumer records its position), then the store
        // flushes.
        let (watch, store) = (self.watch.clone(), self.service.store().clone());
        let derivations = std::mem::take(&mut *self.derivations.lock());
        tokio::task::spawn_blocking(move || {
            // Joins the builders after the artifact in hand, so nothing is written after the
            // flush.
            drop(derivations);
            watch.shutdown();
            store.flush()
        })
        .await
        .map_err(|e| ServerError::Flush(e.to_string()))?
        .map_err(|e| ServerError::Flush(e.to_string()))
    }
}

/// DeleteLogGroup on either front end: the group and its events, then its metric filters.
/// Blocking.
pub fn delete_log_group(
    service: &Service,
    watch: Option<&logsight_watch::Watch>,
    group: &str,
) -> Result<(), ServiceError> {
    service.delete_group(group)?;
    if let Some(w) = watch {
        w.filters().delete_group(group)?;
    }
    Ok(())
}
