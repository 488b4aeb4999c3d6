//! [`Watch`]: the running Watch side. It owns the filter registry, the metric store, the alarm
//! registry, and three threads: the metric-filter consumer, the alarm evaluator (reading an
//! injected clock every `tick`), and the action dispatcher.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use logsight_alarms::AlarmState;
use logsight_metrics::{
    Aggregate, Delta, MetricKey, MetricStore, MetricStoreOptions, StatisticSet, Write,
};
use logsight_storage::Clock;
use parking_lot::Mutex;

use crate::actions::{ActionOptions, AlarmEventSink, Dispatcher};
use crate::alarm_book::AlarmRegistry;
use crate::consumer::{Consumer, ConsumerStatus};
use crate::error::{Result, WatchError};
use crate::filter::{FilterSpec, MetricFilter};
use crate::filters::FilterRegistry;
use crate::log::CommittedLog;

/// Tuning of the Watch side.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often the evaluator reads the clock (alarms are due every 10 s or every minute of
    /// that clock).
    pub tick: Duration,
    /// Actions.
    pub actions: ActionOptions,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions { tick: Duration::from_secs(1), actions: ActionOptions::default() }
    }
}

/// One PutMetricData datum.
#[derive(Debug, Clone)]
pub struct MetricDatum {
    /// The series.
    pub key: MetricKey,
    /// When, epoch ms.
    pub timestamp_ms: i64,
    /// The values (each one sample).
    pub values: Vec<f64>,
    /// Samples as a statistic set (CloudWatch's `StatisticValues`), instead of `values`.
    pub statistic_values: Option<StatisticSet>,
    /// The unit.
    pub unit: Option<String>,
}

/// The running Watch side.
pub struct Watch {
    filters: Arc<FilterRegistry>,
    metrics: Arc<MetricStore>,
    alarms: Arc<AlarmRegistry>,
    log: Arc<dyn CommittedLog>,
    clock: Arc<dyn Clock>,
    dispatcher: Arc<Mutex<Dispatcher>>,
    consumer_status: Arc<Mutex<ConsumerStatus>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// Opens the state in `dir` (filters, `metrics/`, alarms) and starts the threads.
    pub fn start(
        dir: &Path,
        log: Arc<dyn CommittedLog>,
        sink: Arc<dyn AlarmEventSink>,
        clock: Arc<dyn Clock>,
        options: WatchOptions,
    ) -> Result<Watch> {
        std::fs::create_dir_all(dir).map_err(|e| {
            WatchError::Metrics(logsight_metrics::MetricsError::Io {
                context: format!("creating {}", dir.display()),
                source: e,
            })
        })?;
        let filters = Arc::new(FilterRegistry::open(dir)?);
        let metrics =
            Arc::new(MetricStore::open(&dir.join("metrics"), MetricStoreOptions::default())?);
        let alarms = Arc::new(AlarmRegistry::open(dir)?);
        let consumer = Consumer::new(log.clone(), filters.clone(), metrics.clone())?;
        let consumer_status = consumer.status();
        let dispatcher = Arc::new(Mutex::new(Dispatcher::start(
            sink,
            alarms.clone(),
            clock.clone(),
            options.actions.clone(),
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let s = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("metric-filters".into())
                .spawn(move || consumer.run(s))
                .expect("spawning the consumer"),
        );
        let (s, m, a, c, d) =
            (stop.clone(), metrics.clone(), alarms.clone(), clock.clone(), dispatcher.clone());
        let tick = options.tick;
        threads.push(
            std::thread::Builder::new()
                .name("alarm-evaluator".into())
                .spawn(move || evaluator(&s, &m, &a, &*c, &d, tick))
                .expect("spawning the evaluator"),
        );
        Ok(Watch {
            filters,
            metrics,
            alarms,
            log,
            clock,
            dispatcher,
            consumer_status,
            stop,
            threads: Mutex::new(threads),
        })
    }

    /// The metric filters.
    pub fn filters(&self) -> &FilterRegistry {
        &self.filters
    }

    /// The metric store.
    pub fn metrics(&self) -> &MetricStore {
        &self.metrics
    }

    /// The alarms.
    pub fn alarms(&self) -> &AlarmRegistry {
        &self.alarms
    }

    /// The clock alarms run on.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The consumer's progress and lag.
    pub fn consumer_status(&self) -> ConsumerStatus {
        let mut s = *self.consumer_status.lock();
        s.committed = self.log.committed_lsn();
        s
    }

    /// PutMetricFilter: the filter applies to events accepted from now on.
    pub fn put_metric_filter(&self, spec: FilterSpec) -> Result<()> {
        let filter = MetricFilter::new(spec, self.clock.now_ms(), self.log.committed_lsn())?;
        self.filters.put(filter)
    }

    /// PutMetricData: one durable write of every datum.
    pub fn put_metric_data(&self, data: Vec<MetricDatum>) -> Result<()> {
        let mut deltas = Vec::with_capacity(data.len());
        for d in data {
            let mut aggregate = Aggregate::default();
            match (d.values.is_empty(), d.statistic_values) {
                (true, None) => {
                    return Err(WatchError::invalid(
                        "Value",
                        "a datum needs a Value, Values or StatisticValues",
                    ));
                }
                (false, Some(_)) => {
                    return Err(WatchError::invalid(
                        "StatisticValues",
                        "a datum takes either Value/Values or StatisticValues, not both",
                    ));
                }
                (true, Some(set)) => aggregate.add_set(set),
                (false, None) => {}
            }
            for v in &d.values {
                if !v.is_finite() {
                    return Err(WatchError::invalid(
                        "Value",
                        format!("{v} is not a finite number"),
                    ));
                }
                aggregate.add(*v);
            }
            deltas.push(Delta {
                key: d.key,
                timestamp_ms: d.timestamp_ms,
                aggregate,
                unit: d.unit,
            });
        }
        Ok(self.metrics.apply(Write { position: None, deltas })?)
    }

    /// SetAlarmState: forces a state and runs its actions.
    pub fn set_alarm_state(
        &self,
        name: &str,
        value: AlarmState,
        reason: &str,
        reason_data: &str,
    ) -> Result<()> {
        if let Some(t) =
            self.alarms.set_state(name, value, reason, reason_data, self.clock.now_ms())?
        {
            self.dispatcher.lock().submit(t);
        }
        Ok(())
    }

    /// Alarm state changes whose actions were dropped because the queue was full.
    pub fn dropped_actions(&self) -> u64 {
        self.dispatcher.lock().dropped()
    }

    /// Stops the threads (the consumer records its position; queued actions finish).
    /// Idempotent: a second call finds nothing left to stop.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
        self.dispatcher.lock().shutdown();
        if let Err(e) = self.metrics.checkpoint() {
            tracing::warn!(error = %e, "checkpointing the metric store at shutdown");
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn evaluator(
    stop: &AtomicBool,
    metrics: &MetricStore,
    alarms: &AlarmRegistry,
    clock: &dyn Clock,
    dispatcher: &Mutex<Dispatcher>,
    tick: Duration,
) {
    let mut last_prune = i64::MIN;
    while !stop.load(Ordering::Acquire) {
        let now = clock.now_ms();
        match alarms.evaluate_due(metrics, now) {
            Ok(ts) => {
                let d = dispatcher.lock();
                for t in ts {
                    d.submit(t);
                }
            }
            Err(e) => tracing::error!(error = %e, "alarm evaluation failed"),
        }
        if now.saturating_sub(last_prune) > 3_600_000 {
            metrics.prune(now);
            last_prune = now;
        }
        std::thread::sleep(tick);
    }
}
