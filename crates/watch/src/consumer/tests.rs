use std::collections::BTreeMap;
use std::path::Path;

use logsight_metrics::MetricStoreOptions;

use super::*;
use crate::filter::FilterSpec;
use crate::log::{CommittedEvent, MemoryLog};

const T: i64 = 1_700_000_040_000;

fn ev(t: i64, m: &str) -> CommittedEvent {
    CommittedEvent { timestamp: t, ingestion_time: t, message: m.into() }
}

fn spec(name: &str, pattern: &str, value: &str) -> FilterSpec {
    FilterSpec {
        group: "app".into(),
        name: name.into(),
        pattern: pattern.into(),
        metric_name: name.into(),
        namespace: "App".into(),
        value: value.into(),
        default_value: None,
        dimensions: BTreeMap::new(),
        unit: None,
    }
}

struct Rig {
    log: Arc<MemoryLog>,
    filters: Arc<FilterRegistry>,
    metrics: Arc<MetricStore>,
}

impl Rig {
    fn open(log: Arc<MemoryLog>, dir: &Path) -> Rig {
        let filters = Arc::new(FilterRegistry::open(dir).unwrap());
        let metrics = Arc::new(
            MetricStore::open(&dir.join("metrics"), MetricStoreOptions::default()).unwrap(),
        );
        Rig { log, filters, metrics }
    }

    fn consumer(&self) -> Consumer {
        let log: Arc<dyn CommittedLog> = self.log.clone();
        Consumer::new(log, self.filters.clone(), self.metrics.clone()).unwrap()
    }

    fn put(&self, s: FilterSpec) {
        let f = MetricFilter::new(s, 0, self.log.committed_lsn()).unwrap();
        self.filters.put(f).unwrap();
    }

    fn sum(&self, name: &str, dims: &[(&str, &str)]) -> f64 {
        let dims = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let key = MetricKey::new("App", name, dims).unwrap();
        let stats = self.metrics.statistics(&key, T - 3_600_000, T + 3_600_000, 3_600_000).unwrap();
        stats.iter().map(|p| p.aggregate.sum()).sum()
    }
}

fn drain(c: &mut Consumer) {
    while c.step(Duration::ZERO).unwrap() > 0 {}
}

#[test]
fn filters_count_only_events_accepted_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::open(Arc::new(MemoryLog::new()), dir.path());
    let mut c = rig.consumer();
    rig.log.append("app", "s", &[ev(T, "ERROR early")]);
    rig.put(spec("Errors", "ERROR", "1"));
    rig.log.append("app", "s", &[ev(T, "ERROR a"), ev(T + 1, "INFO b"), ev(T + 2, "ERROR c")]);
    rig.log.append("other", "s", &[ev(T, "ERROR elsewhere")]);
    drain(&mut c);
    assert_eq!(rig.sum("Errors", &[]), 2.0);
    let status = *c.status().lock();
    assert_eq!(status.lag(), 0);
    // The step's one record covers every batch it read, the other group's too.
    assert_eq!(rig.log.hold_of(CONSUMER_NAME), Some(Lsn::new(3)));
}

#[test]
fn a_restart_neither_loses_nor_double_counts() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::new());
    let mut expected = 0.0;
    {
        let rig = Rig::open(log.clone(), dir.path());
        rig.put(spec("Errors", "ERROR", "1"));
        let mut c = rig.consumer();
        for i in 0..50 {
            let events: Vec<_> = (0..i % 7)
                .map(|j| ev(T + i * 1000 + j, if j % 2 == 0 { "ERROR x" } else { "ok" }))
                .collect();
            expected += events.iter().filter(|e| e.message.starts_with("ERROR")).count() as f64;
            log.append("app", "s", &events);
            if i % 10 == 0 {
                c.step(Duration::ZERO).unwrap();
            }
        }
        // Dropped mid-way: some batches applied, some not (a crash).
    }
    let rig = Rig::open(log.clone(), dir.path());
    let mut c = rig.consumer();
    drain(&mut c);
    assert_eq!(rig.sum("Errors", &[]), expected);
}

#[test]
fn a_torn_metric_record_is_read_again_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::new());
    {
        let rig = Rig::open(log.clone(), dir.path());
        rig.put(spec("Errors", "ERROR", "1"));
        let mut c = rig.consumer();
        log.append("app", "s", &[ev(T, "ERROR 1")]);
        c.step(Duration::ZERO).unwrap();
        log.append("app", "s", &[ev(T, "ERROR 2"), ev(T, "ERROR 3")]);
        c.step(Duration::ZERO).unwrap();
    }
    // Tear the last record of the metric log, as a crash during its write would.
    let metrics_dir = dir.path().join("metrics");
    let last_log = std::fs::read_dir(&metrics_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    let len = std::fs::metadata(&last_log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&last_log).unwrap().set_len(len - 2).unwrap();
    let rig = Rig::open(log.clone(), dir.path());
    assert_eq!(rig.sum("Errors", &[]), 1.0, "the torn record is gone");
    let mut c = rig.consumer();
    drain(&mut c);
    assert_eq!(rig.sum("Errors", &[]), 3.0);
}

#[test]
fn values_dimensions_and_default_values() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::open(Arc::new(MemoryLog::new()), dir.path());
    let mut bytes = spec("Bytes", "[ip, user, status, bytes]", "$bytes");
    bytes.dimensions.insert("Status".into(), "$status".into());
    rig.put(bytes);
    let mut errors = spec("Errors", "ERROR", "1");
    errors.default_value = Some(0.0);
    rig.put(errors);
    let mut c = rig.consumer();
    rig.log.append(
        "app",
        "s",
        &[
            ev(T, "1.1.1.1 bob 200 100"),
            ev(T + 1, "1.1.1.1 bob 404 7"),
            ev(T + 2, "1.1.1.1 ann 200 50"),
            ev(T + 60_000, "ERROR"),
        ],
    );
    drain(&mut c);
    assert_eq!(rig.sum("Bytes", &[("Status", "200")]), 150.0);
    assert_eq!(rig.sum("Bytes", &[("Status", "404")]), 7.0);
    let key = MetricKey::new("App", "Errors", BTreeMap::new()).unwrap();
    let minutes = rig.metrics.statistics(&key, T, T + 120_000, 60_000).unwrap();
    let got: Vec<_> = minutes
        .iter()
        .map(|p| (p.timestamp_ms - T, p.aggregate.sum(), p.aggregate.sample_count()))
        .collect();
    assert_eq!(
        got,
        vec![(0, 0.0, 1.0), (60_000, 1.0, 1.0)],
        "the minute without a match reports the default"
    );
}

#[test]
fn a_filter_over_its_dimension_budget_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::open(Arc::new(MemoryLog::new()), dir.path());
    let mut s = spec("Hits", "[user, n]", "1");
    s.dimensions.insert("User".into(), "$user".into());
    rig.put(s);
    let mut c = rig.consumer();
    let events: Vec<_> =
        (0..MAX_DIMENSION_COMBINATIONS_PER_HOUR + 5).map(|i| ev(T, &format!("u{i} 1"))).collect();
    rig.log.append("app", "s", &events);
    rig.log.append("app", "s", &[ev(T, "u0 1")]);
    drain(&mut c);
    let listed = rig.metrics.list(Some("App"), Some("Hits"), &BTreeMap::new());
    assert_eq!(listed.len(), MAX_DIMENSION_COMBINATIONS_PER_HOUR);
    assert_eq!(rig.sum("Hits", &[("User", "u0")]), 1.0, "nothing after the filter was disabled");
}

#[test]
fn a_disabled_filter_stays_disabled_across_a_restart_until_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::new());
    let hits = || {
        let mut s = spec("Hits", "[user, n]", "1");
        s.dimensions.insert("User".into(), "$user".into());
        s
    };
    let over_budget: Vec<_> =
        (0..MAX_DIMENSION_COMBINATIONS_PER_HOUR + 1).map(|i| ev(T, &format!("u{i} 1"))).collect();
    {
        let rig = Rig::open(log.clone(), dir.path());
        rig.put(hits());
        let mut c = rig.consumer();
        log.append("app", "s", &over_budget);
        drain(&mut c);
        assert_eq!(rig.sum("Hits", &[("User", "u0")]), 1.0);
        assert!(rig.filters.for_group("app")[0].is_disabled());
    }
    // A restart (new registry, metric store and consumer over the same files) starts with an
    // empty budget; without the saved switch the filter would count again.
    let rig = Rig::open(log.clone(), dir.path());
    assert!(rig.filters.for_group("app")[0].is_disabled(), "the disable was saved");
    let mut c = rig.consumer();
    log.append("app", "s", &[ev(T, "u0 1"), ev(T, "fresh 1")]);
    drain(&mut c);
    assert_eq!(rig.sum("Hits", &[("User", "u0")]), 1.0, "still disabled after the restart");
    assert_eq!(rig.sum("Hits", &[("User", "fresh")]), 0.0);
    // Replacing the filter starts it afresh.
    rig.put(hits());
    assert!(!rig.filters.for_group("app")[0].is_disabled());
    log.append("app", "s", &[ev(T, "u0 1")]);
    drain(&mut c);
    assert_eq!(rig.sum("Hits", &[("User", "u0")]), 2.0);
}

#[test]
fn batches_the_log_dropped_are_reported_as_lost() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::open(Arc::new(MemoryLog::new()), dir.path());
    let mut c = rig.consumer();
    rig.log.append("app", "s", &[ev(T, "x")]);
    rig.log.release_committed(CONSUMER_NAME).unwrap();
    rig.log.trim();
    rig.log.append("app", "s", &[ev(T, "y")]);
    c.step(Duration::ZERO).unwrap();
    assert_eq!(c.status().lock().lost_batches, 2);
    assert_eq!(c.status().lock().position, Lsn::new(2));
}

#[test]
fn the_real_store_feeds_the_consumer_exactly_once_across_reopening() {
    use logsight_model::{LogEvent, LogGroupName, LogStreamName};
    use logsight_storage::{Store, StoreOptions};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let watch = dir.path().join("watch");
    let append = |store: &Store, n: usize| {
        let events: Vec<_> = (0..n)
            .map(|i| {
                LogEvent::new(T + i as i64, T, if i % 3 == 0 { "ERROR x" } else { "INFO y" })
                    .unwrap()
            })
            .collect();
        store.append("app", "s", &events).unwrap();
    };
    let open_rig = |store: &Arc<Store>| {
        let filters = Arc::new(FilterRegistry::open(&watch).unwrap());
        let metrics = Arc::new(
            MetricStore::open(&watch.join("metrics"), MetricStoreOptions::default()).unwrap(),
        );
        let log: Arc<dyn CommittedLog> = store.clone();
        (filters.clone(), metrics.clone(), Consumer::new(log, filters, metrics).unwrap())
    };
    let sum = |metrics: &MetricStore| {
        let key = MetricKey::new("App", "Errors", BTreeMap::new()).unwrap();
        metrics
            .statistics(&key, T - 3_600_000, T + 3_600_000, 3_600_000)
            .unwrap()
            .iter()
            .map(|p| p.aggregate.sum())
            .sum::<f64>()
    };
    {
        let store = Arc::new(Store::open(&data, StoreOptions::default()).unwrap());
        store.create_group(&LogGroupName::new("app").unwrap()).unwrap();
        store
            .create_stream(&LogGroupName::new("app").unwrap(), &LogStreamName::new("s").unwrap())
            .unwrap();
        append(&store, 9); // before the filter: not counted
        let (filters, metrics, mut c) = open_rig(&store);
        filters
            .put(MetricFilter::new(spec("Errors", "ERROR", "1"), 0, store.committed_lsn()).unwrap())
            .unwrap();
        append(&store, 30); // 10 errors
        drain(&mut c);
        append(&store, 6); // 2 errors, not yet consumed
        assert_eq!(sum(&metrics), 10.0);
    }
    let store = Arc::new(Store::open(&data, StoreOptions::default()).unwrap());
    let (_filters, metrics, mut c) = open_rig(&store);
    drain(&mut c);
    assert_eq!(sum(&metrics), 12.0);
}
