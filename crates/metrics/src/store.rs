//! [`MetricStore`]: crash-safe writes, recovery, checkpoints and queries.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Resolution};
use crate::durable;
use crate::error::{MetricsError, Result, io};
use crate::key::MetricKey;
use crate::log;

const SNAPSHOT: &str = "snapshot.json";
const SNAPSHOT_VERSION: u32 = 1;

/// Samples of one series in one bucket, to be merged in.
#[derive(Debug, Clone)]
pub struct Delta {
    /// The series.
    pub key: MetricKey,
    /// Any time in the bucket, epoch ms (bucketed to 10 s).
    pub timestamp_ms: i64,
    /// The samples.
    pub aggregate: Aggregate,
    /// The unit (`Count`, `Seconds`, ...); the first one a series gets stays.
    pub unit: Option<String>,
}

/// One durable write: deltas and, optionally, the writer's new position in its source.
#[derive(Debug, Clone, Default)]
pub struct Write {
    /// The position to record with the deltas (e.g. the last LSN they cover).
    pub position: Option<u64>,
    /// The data.
    pub deltas: Vec<Delta>,
}

/// One period of a series.
#[derive(Debug, Clone)]
pub struct PeriodStats {
    /// Start of the period, epoch ms.
    pub timestamp_ms: i64,
    /// Its samples.
    pub aggregate: Aggregate,
}

#[derive(Serialize, Deserialize)]
struct Record {
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    deltas: Vec<RecordDelta>,
}

#[derive(Serialize, Deserialize)]
struct RecordDelta {
    key: MetricKey,
    t: i64,
    agg: Aggregate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
}

#[derive(Default, Clone, Serialize, Deserialize)]
struct Series {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    /// Per resolution (finest first): bucket start → aggregate.
    buckets: [BTreeMap<i64, Aggregate>; 4],
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    version: u32,
    /// The last record applied.
    seq: u64,
    /// The last position recorded.
    position: u64,
    series: Vec<(MetricKey, Series)>,
}

struct Data {
    seq: u64,
    position: u64,
    series: HashMap<MetricKey, Series>,
    /// Per resolution: buckets before this were pruned.
    horizon: [i64; 4],
}

impl Data {
    fn apply(&mut self, record: Record) {
        for d in record.deltas {
            let series = self.series.entry(d.key).or_default();
            if series.unit.is_none() {
                series.unit = d.unit;
            }
            for r in Resolution::ALL {
                let b = series.buckets[r.index()].entry(r.bucket_of(d.t)).or_default();
                b.merge(&d.agg);
            }
        }
        self.seq = record.seq;
        if let Some(p) = record.position {
            self.position = p;
        }
    }
}

struct Writer {
    file: File,
    path: PathBuf,
    bytes: u64,
}

/// Tuning of the metric store.
#[derive(Debug, Clone)]
pub struct MetricStoreOptions {
    /// A checkpoint starts once the log holds this many bytes.
    pub checkpoint_bytes: u64,
}

impl Default for MetricStoreOptions {
    fn default() -> Self {
        MetricStoreOptions { checkpoint_bytes: 64 << 20 }
    }
}

/// The metric store. Writes are serialized; reads run beside them.
pub struct MetricStore {
    dir: PathBuf,
    options: MetricStoreOptions,
    writer: Mutex<Writer>,
    data: RwLock<Data>,
    poisoned: AtomicBool,
}

impl std::fmt::Debug for MetricStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn log_name(first_seq: u64) -> String {
    format!("log-{first_seq:016x}.log")
}

impl MetricStore {
    /// Opens (or creates) the store in `dir`: loads the snapshot, replays the logs after it
    /// (cutting a torn last record), then checkpoints so that recovery starts clean.
    pub fn open(dir: &Path, options: MetricStoreOptions) -> Result<MetricStore> {
        fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let mut data = load_snapshot(&dir.join(SNAPSHOT))?;
        let mut logs: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(io(format!("listing {}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("log-") && n.ends_with(".log"))
            })
            .collect();
        logs.sort();
        let count = logs.len();
        for (i, path) in logs.iter().enumerate() {
            let (records, valid) = log::read_all(path)?;
            let len = fs::metadata(path).map_err(io(format!("stat {}", path.display())))?.len();
            if valid < len && i + 1 < count {
                return Err(MetricsError::Corruption {
                    file: path.clone(),
                    offset: valid,
                    message: "a record fails its checksum before the last log file".into(),
                });
            }
            for (n, payload) in records.into_iter().enumerate() {
                let record: Record =
                    serde_json::from_slice(&payload).map_err(|e| MetricsError::Corruption {
                        file: path.clone(),
                        offset: n as u64,
                        message: e.to_string(),
                    })?;
                if record.seq > data.seq {
                    data.apply(record);
                }
            }
            if valid < len {
                tracing::warn!(file = %path.display(), offset = valid, "cutting a torn metric log record");
            }
        }
        let path = dir.join(log_name(data.seq + 1));
        let file = File::create(&path).map_err(io(format!("creating {}", path.display())))?;
        let store = MetricStore {
            dir: dir.to_owned(),
            options,
            writer: Mutex::new(Writer { file, path, bytes: 0 }),
            data: RwLock::new(data),
            poisoned: AtomicBool::new(false),
        };
        store.checkpoint()?;
        Ok(store)
    }

    /// Makes `write` durable (one fsynced log record), then visible. Checkpoints when the log
    /// has grown past its limit.
    pub fn apply(&self, write: Write) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(MetricsError::Poisoned);
        }
        let mut writer = self.writer.lock();
        let seq = self.data.read().seq + 1;
        let record = Record {
            seq,
            position: write.position,
            deltas: write
                .deltas
                .into_iter()
                .map(|d| RecordDelta {
                    t: Resolution::TenSeconds.bucket_of(d.timestamp_ms),
                    key: d.key,
                    agg: d.aggregate,
                    unit: d.unit,
                })
                .collect(),
        };
        let payload = serde_json::to_vec(&record).expect("metric records serialize");
        let written = log::append(&mut writer.file, &payload).and_then(|n| {
            writer.file.sync_data()?;
            Ok(n)
        });
        match written {
            Ok(n) => writer.bytes += n as u64,
            Err(e) => {
                // The file may hold part of the record: nothing more may follow it.
                self.poisoned.store(true, Ordering::Release);
                return Err(io(format!("appending to {}", writer.path.display()))(e));
            }
        }
        self.data.write().apply(record);
        if writer.bytes >= self.options.checkpoint_bytes {
            self.checkpoint_locked(&mut writer)?;
        }
        Ok(())
    }

    /// Writes the whole state to the snapshot and starts a new log.
    pub fn checkpoint(&self) -> Result<()> {
        let mut writer = self.writer.lock();
        self.checkpoint_locked(&mut writer)
    }

    fn checkpoint_locked(&self, writer: &mut Writer) -> Result<()> {
        let seq = {
            let data = self.data.read();
            let state = State {
                version: SNAPSHOT_VERSION,
                seq: data.seq,
                position: data.position,
                series: data.series.iter().map(|(k, s)| (k.clone(), s.clone())).collect(),
            };
            durable::write_json(&self.dir.join(SNAPSHOT), &state)?;
            data.seq
        };
        // Every record up to `seq` is in the snapshot: older logs can go.
        let path = self.dir.join(log_name(seq + 1));
        if path != writer.path {
            let file = File::create(&path).map_err(io(format!("creating {}", path.display())))?;
            *writer = Writer { file, path, bytes: 0 };
        }
        for entry in fs::read_dir(&self.dir).map_err(io("listing the metric directory"))?.flatten()
        {
            let p = entry.path();
            let is_log =
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("log-"));
            if is_log && p != writer.path {
                fs::remove_file(&p).map_err(io(format!("removing {}", p.display())))?;
            }
        }
        durable::sync_dir(&self.dir)
    }

    /// Drops buckets older than each resolution's retention, as of `now_ms`.
    pub fn prune(&self, now_ms: i64) {
        let mut data = self.data.write();
        for r in Resolution::ALL {
            let cut = r.bucket_of(now_ms - r.retention_ms());
            data.horizon[r.index()] = data.horizon[r.index()].max(cut);
        }
        let horizon = data.horizon;
        data.series.retain(|_, s| {
            for r in Resolution::ALL {
                let b = &mut s.buckets[r.index()];
                *b = b.split_off(&horizon[r.index()]);
            }
            s.buckets.iter().any(|b| !b.is_empty())
        });
    }

    /// The last position recorded with a write (0 if none).
    pub fn position(&self) -> u64 {
        self.data.read().position
    }

    /// The unit a series was first written with.
    pub fn unit(&self, key: &MetricKey) -> Option<String> {
        self.data.read().series.get(key).and_then(|s| s.unit.clone())
    }

    /// The periods of `[start_ms, end_ms)` that hold samples of `key`, oldest first, each the
    /// merge of the buckets in it. `period_ms` must be a multiple of 10 s; the finest
    /// resolution that divides it and still covers `start_ms` is used.
    pub fn statistics(
        &self,
        key: &MetricKey,
        start_ms: i64,
        end_ms: i64,
        period_ms: i64,
    ) -> Result<Vec<PeriodStats>> {
        if period_ms <= 0 || period_ms % Resolution::TenSeconds.bucket_ms() != 0 {
            return Err(MetricsError::invalid(
                "Period",
                format!("{} s is not a multiple of 10 seconds", period_ms as f64 / 1000.0),
            ));
        }
        let data = self.data.read();
        let Some(series) = data.series.get(key) else { return Ok(Vec::new()) };
        let dividing = Resolution::ALL.into_iter().filter(|r| period_ms % r.bucket_ms() == 0);
        let resolution = dividing
            .clone()
            .find(|r| start_ms >= data.horizon[r.index()])
            .or_else(|| dividing.clone().next_back())
            .unwrap_or(Resolution::TenSeconds);
        let mut out: Vec<PeriodStats> = Vec::new();
        for (t, agg) in series.buckets[resolution.index()].range(start_ms..end_ms) {
            let period = t.div_euclid(period_ms) * period_ms;
            match out.last_mut() {
                Some(last) if last.timestamp_ms == period => last.aggregate.merge(agg),
                _ => out.push(PeriodStats { timestamp_ms: period, aggregate: agg.clone() }),
            }
        }
        Ok(out)
    }

    /// The series whose namespace and name match (when given) and that have every dimension
    /// in `dimensions` (with that value, when one is given), sorted.
    pub fn list(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        dimensions: &BTreeMap<String, Option<String>>,
    ) -> Vec<MetricKey> {
        let data = self.data.read();
        let mut keys: Vec<MetricKey> = data
            .series
            .keys()
            .filter(|k| namespace.is_none_or(|n| k.namespace() == n))
            .filter(|k| name.is_none_or(|n| k.name() == n))
            .filter(|k| {
                dimensions.iter().all(|(dn, dv)| match (k.dimensions().get(dn), dv) {
                    (Some(v), Some(want)) => v == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
            })
            .cloned()
            .collect();
        keys.sort();
        keys
    }
}

fn load_snapshot(path: &Path) -> Result<Data> {
    let state: State = match durable::read_json(path)? {
        Some(state) => state,
        None => State { version: SNAPSHOT_VERSION, ..State::default() },
    };
    if state.version != SNAPSHOT_VERSION {
        return Err(MetricsError::Corruption {
            file: path.to_owned(),
            offset: 0,
            message: format!("unknown snapshot version {}", state.version),
        });
    }
    Ok(Data {
        seq: state.seq,
        position: state.position,
        series: state.series.into_iter().collect(),
        horizon: [i64::MIN; 4],
    })
}

#[cfg(test)]
mod tests;
