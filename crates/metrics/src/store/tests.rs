use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

const T: i64 = 1_700_000_040_000; // a minute (and 10-second) boundary

fn key(name: &str) -> MetricKey {
    MetricKey::new("App", name, BTreeMap::new()).unwrap()
}

fn delta(name: &str, t: i64, values: &[f64]) -> Delta {
    let mut aggregate = Aggregate::default();
    values.iter().for_each(|v| aggregate.add(*v));
    Delta { key: key(name), timestamp_ms: t, aggregate, unit: Some("Count".into()) }
}

fn open(dir: &Path) -> MetricStore {
    MetricStore::open(dir, MetricStoreOptions::default()).unwrap()
}

fn sums(store: &MetricStore, name: &str, period_ms: i64) -> Vec<(i64, f64, f64)> {
    store
        .statistics(&key(name), T - 3_600_000, T + 3_600_000, period_ms)
        .unwrap()
        .into_iter()
        .map(|p| (p.timestamp_ms - T, p.aggregate.sum(), p.aggregate.sample_count()))
        .collect()
}

#[test]
fn writes_are_bucketed_and_survive_reopening_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(Write { position: Some(7), deltas: vec![delta("E", T + 1_000, &[1.0, 1.0])] })
        .unwrap();
    store.apply(Write { position: Some(9), deltas: vec![delta("E", T + 15_000, &[3.0])] }).unwrap();
    store.apply(Write { position: None, deltas: vec![delta("E", T + 61_000, &[4.0])] }).unwrap();
    let want10 = vec![(0, 2.0, 2.0), (10_000, 3.0, 1.0), (60_000, 4.0, 1.0)];
    let want60 = vec![(0, 5.0, 3.0), (60_000, 4.0, 1.0)];
    assert_eq!(sums(&store, "E", 10_000), want10);
    assert_eq!(sums(&store, "E", 60_000), want60);
    assert_eq!(store.position(), 9);
    drop(store);
    let store = open(dir.path());
    assert_eq!(sums(&store, "E", 10_000), want10);
    assert_eq!(sums(&store, "E", 60_000), want60);
    assert_eq!(store.position(), 9);
    assert_eq!(store.unit(&key("E")).as_deref(), Some("Count"));
}

#[test]
fn a_torn_last_record_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.apply(Write { position: Some(1), deltas: vec![delta("E", T, &[1.0])] }).unwrap();
        store.apply(Write { position: Some(2), deltas: vec![delta("E", T, &[1.0])] }).unwrap();
    }
    // Reopening checkpointed; write again and tear the last record.
    let log_path = {
        let store = open(dir.path());
        store.apply(Write { position: Some(3), deltas: vec![delta("E", T, &[1.0])] }).unwrap();
        store.apply(Write { position: Some(4), deltas: vec![delta("E", T, &[1.0])] }).unwrap();
        store.writer.lock().path.clone()
    };
    let len = fs::metadata(&log_path).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&log_path).unwrap();
    file.set_len(len - 3).unwrap();
    let store = open(dir.path());
    assert_eq!(sums(&store, "E", 60_000), vec![(0, 3.0, 3.0)]);
    assert_eq!(store.position(), 3);
}

#[test]
fn a_log_left_behind_by_a_checkpoint_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.apply(Write { position: Some(1), deltas: vec![delta("E", T, &[1.0])] }).unwrap();
    let log_path = store.writer.lock().path.clone();
    let saved = fs::read(&log_path).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    // A crash after the snapshot's rename but before the old log's unlink.
    fs::write(&log_path, saved).unwrap();
    let store = open(dir.path());
    assert_eq!(sums(&store, "E", 60_000), vec![(0, 1.0, 1.0)]);
}

#[test]
fn a_damaged_snapshot_is_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.apply(Write { position: Some(1), deltas: vec![delta("E", T, &[1.0])] }).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let path = dir.path().join(SNAPSHOT);
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 0x20;
    fs::write(&path, bytes).unwrap();
    match MetricStore::open(dir.path(), MetricStoreOptions::default()) {
        Err(MetricsError::Corruption { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn retention_drops_fine_buckets_first_and_queries_fall_back_to_coarser_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.apply(Write { position: None, deltas: vec![delta("E", T + 10_000, &[2.0])] }).unwrap();
    store.prune(T + 4 * 3_600_000);
    // 10-second buckets are gone, the minute one answers a 60 s query.
    assert_eq!(sums(&store, "E", 60_000), vec![(0, 2.0, 1.0)]);
    assert!(store.statistics(&key("E"), T, T + 60_000, 10_000).unwrap().is_empty());
    store.prune(T + 500 * 86_400_000);
    assert!(store.list(None, None, &BTreeMap::new()).is_empty());
}

#[test]
fn periods_must_be_multiples_of_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.statistics(&key("E"), T, T + 1, 15_000).is_err());
}

#[test]
fn list_filters_by_namespace_name_and_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let dims = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let k1 = MetricKey::new("App", "Latency", dims(&[("host", "a")])).unwrap();
    let k2 = MetricKey::new("App", "Latency", dims(&[("host", "b")])).unwrap();
    let k3 = MetricKey::new("Other", "Errors", BTreeMap::new()).unwrap();
    let deltas = [&k1, &k2, &k3]
        .into_iter()
        .map(|k| Delta {
            key: k.clone(),
            timestamp_ms: T,
            aggregate: Aggregate::of(1.0),
            unit: None,
        })
        .collect();
    store.apply(Write { position: None, deltas }).unwrap();
    let all = BTreeMap::new();
    assert_eq!(store.list(None, None, &all), vec![k1.clone(), k2.clone(), k3.clone()]);
    assert_eq!(store.list(Some("App"), None, &all), vec![k1.clone(), k2.clone()]);
    let host_b = BTreeMap::from([("host".to_owned(), Some("b".to_owned()))]);
    assert_eq!(store.list(None, Some("Latency"), &host_b), vec![k2]);
    let any_host = BTreeMap::from([("host".to_owned(), None)]);
    assert_eq!(store.list(None, None, &any_host).len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Sums, counts, minima and maxima per period equal a naive fold over the raw samples,
    /// before and after a reopen.
    #[test]
    fn periods_match_a_naive_oracle(
        samples in proptest::collection::vec((0i64..7_200_000, -1000i32..1000), 1..200),
        period_idx in 0usize..4,
    ) {
        let period_ms = [10_000, 60_000, 300_000, 3_600_000][period_idx];
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for chunk in samples.chunks(17) {
            let deltas = chunk.iter().map(|(t, v)| delta("P", T + t, &[f64::from(*v)])).collect();
            store.apply(Write { position: None, deltas }).unwrap();
        }
        let mut oracle: BTreeMap<i64, (f64, f64, f64, f64)> = BTreeMap::new();
        for (t, v) in &samples {
            let v = f64::from(*v);
            let e = oracle.entry((T + t).div_euclid(period_ms) * period_ms).or_insert((0.0, 0.0, f64::MAX, f64::MIN));
            *e = (e.0 + 1.0, e.1 + v, e.2.min(v), e.3.max(v));
        }
        for s in [store, open(dir.path())] {
            let got: BTreeMap<i64, (f64, f64, f64, f64)> = s
                .statistics(&key("P"), T, T + 7_200_000, period_ms)
                .unwrap()
                .into_iter()
                .map(|p| {
                    let a = &p.aggregate;
                    (p.timestamp_ms, (a.sample_count(), a.sum(), a.minimum().unwrap(), a.maximum().unwrap()))
                })
                .collect();
            prop_assert_eq!(&got, &oracle);
        }
    }
}
