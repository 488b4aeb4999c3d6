//! The metric filters of every group, persisted in `filters.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logsight_metrics::durable;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{Result, WatchError};
use crate::filter::{FilterSpec, MetricFilter};
use crate::filter_set::FilterSet;
use crate::log::Lsn;

/// At most this many metric filters per log group, as CloudWatch.
pub const MAX_FILTERS_PER_GROUP: usize = 100;
/// At most this many filters with a `%regex%` per log group, as CloudWatch.
pub const MAX_REGEX_FILTERS_PER_GROUP: usize = 5;

#[derive(Serialize, Deserialize)]
struct Stored {
    spec: FilterSpec,
    created_ms: i64,
    created_after: u64,
    /// Absent in files written before filters could be disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
}

/// DescribeMetricFilters' criteria.
#[derive(Debug, Clone, Default)]
pub struct FilterQuery {
    /// Only this group's.
    pub group: Option<String>,
    /// Only names starting with this.
    pub name_prefix: Option<String>,
    /// Only filters writing this metric name.
    pub metric_name: Option<String>,
    /// Only filters writing to this namespace.
    pub namespace: Option<String>,
}

type ByGroup = BTreeMap<String, BTreeMap<String, Arc<MetricFilter>>>;

/// Each group's filters compiled together for matching, shared with the consumer.
pub type FilterSets = Arc<BTreeMap<String, Arc<FilterSet>>>;

/// The filters by group and name. Reads take a snapshot (`Arc`s), so the consumer never holds
/// the lock while it matches.
#[derive(Debug)]
pub struct FilterRegistry {
    path: PathBuf,
    by_group: RwLock<ByGroup>,
    /// Rebuilt for a group whenever its filters change, under `by_group`'s write lock.
    sets: RwLock<FilterSets>,
}

impl FilterRegistry {
    /// Loads `dir/filters.json` (or starts empty).
    pub fn open(dir: &Path) -> Result<FilterRegistry> {
        let path = dir.join("filters.json");
        let stored: Vec<Stored> = durable::read_json(&path)?.unwrap_or_default();
        let mut by_group: BTreeMap<String, BTreeMap<String, Arc<MetricFilter>>> = BTreeMap::new();
        for s in stored {
            let mut f = MetricFilter::new(s.spec, s.created_ms, Lsn::new(s.created_after))?;
            if s.disabled {
                f = f.into_disabled();
            }
            by_group
                .entry(f.spec().group.clone())
                .or_default()
                .insert(f.spec().name.clone(), Arc::new(f));
        }
        let sets = RwLock::new(Arc::new(
            by_group.iter().map(|(g, fs)| (g.clone(), compile(fs))).collect(),
        ));
        Ok(FilterRegistry { path, by_group: RwLock::new(by_group), sets })
    }

    /// Each group's filters, compiled for matching together (cheap: one `Arc`).
    pub fn sets(&self) -> FilterSets {
        Arc::clone(&self.sets.read())
    }

    /// Saves `next` and makes it current, recompiling `group`'s set.
    fn commit(&self, all: &mut ByGroup, next: ByGroup, group: &str) -> Result<()> {
        self.save(&next)?;
        let mut sets = BTreeMap::clone(&self.sets.read());
        match next.get(group) {
            Some(fs) => sets.insert(group.to_owned(), compile(fs)),
            None => sets.remove(group),
        };
        *all = next;
        *self.sets.write() = Arc::new(sets);
        Ok(())
    }

    /// Creates or replaces a filter (a replaced one starts over: it applies after `created_after`).
    pub fn put(&self, filter: MetricFilter) -> Result<()> {
        let mut all = self.by_group.write();
        let (group, name) = (filter.spec().group.clone(), filter.spec().name.clone());
        let existing = all.get(&group);
        let others =
            existing.into_iter().flat_map(|g| g.values()).filter(|f| f.spec().name != name);
        let (count, regexes) = others
            .fold((0, 0), |(c, r), f| (c + 1, r + usize::from(f.pattern().regex_count() > 0)));
        if count >= MAX_FILTERS_PER_GROUP {
            return Err(WatchError::LimitExceeded(format!(
                "log group {group} already has {MAX_FILTERS_PER_GROUP} metric filters"
            )));
        }
        if filter.pattern().regex_count() > 0 && regexes >= MAX_REGEX_FILTERS_PER_GROUP {
            return Err(WatchError::LimitExceeded(format!(
                "log group {group} already has {MAX_REGEX_FILTERS_PER_GROUP} filters with a regular expression"
            )));
        }
        let mut next = all.clone();
        next.entry(group.clone()).or_default().insert(name, Arc::new(filter));
        self.commit(&mut all, next, &group)
    }

    /// Switches off the filter `group`/`name` if it is still the one created after
    /// `created_after` (a replacement starts afresh), durably. Returns whether it did.
    pub fn disable(&self, group: &str, name: &str, created_after: Lsn) -> Result<bool> {
        let mut all = self.by_group.write();
        let Some(current) = all.get(group).and_then(|g| g.get(name)) else { return Ok(false) };
        if current.created_after() != created_after || current.is_disabled() {
            return Ok(false);
        }
        let disabled = Arc::new(MetricFilter::clone(current).into_disabled());
        let mut next = all.clone();
        next.entry(group.to_owned()).or_default().insert(name.to_owned(), disabled);
        self.commit(&mut all, next, group)?;
        Ok(true)
    }

    /// Deletes a filter.
    pub fn delete(&self, group: &str, name: &str) -> Result<()> {
        let mut all = self.by_group.write();
        if !all.get(group).is_some_and(|g| g.contains_key(name)) {
            return Err(WatchError::NotFound(format!(
                "The specified metric filter {name} does not exist in log group {group}."
            )));
        }
        let mut next = all.clone();
        if let Some(g) = next.get_mut(group) {
            g.remove(name);
            if g.is_empty() {
                next.remove(group);
            }
        }
        self.commit(&mut all, next, group)
    }

    /// Deletes every filter of a group (the group was deleted).
    pub fn delete_group(&self, group: &str) -> Result<()> {
        let mut all = self.by_group.write();
        if !all.contains_key(group) {
            return Ok(());
        }
        let mut next = all.clone();
        next.remove(group);
        self.commit(&mut all, next, group)
    }

    /// The filters matching `q`, sorted by group, then name (ASCII).
    pub fn describe(&self, q: &FilterQuery) -> Vec<Arc<MetricFilter>> {
        let all = self.by_group.read();
        all.iter()
            .filter(|(g, _)| q.group.as_ref().is_none_or(|want| *g == want))
            .flat_map(|(_, fs)| fs.values())
            .filter(|f| {
                q.name_prefix.as_ref().is_none_or(|p| f.spec().name.starts_with(p.as_str()))
            })
            .filter(|f| q.metric_name.as_ref().is_none_or(|m| f.spec().metric_name == *m))
            .filter(|f| q.namespace.as_ref().is_none_or(|n| f.spec().namespace == *n))
            .cloned()
            .collect()
    }

    /// The filters of a group.
    pub fn for_group(&self, group: &str) -> Vec<Arc<MetricFilter>> {
        self.by_group.read().get(group).map(|g| g.values().cloned().collect()).unwrap_or_default()
    }

    /// Every filter, by group.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<Arc<MetricFilter>>> {
        self.by_group
            .read()
            .iter()
            .map(|(g, fs)| (g.clone(), fs.values().cloned().collect()))
            .collect()
    }

    /// How many filters a group has.
    pub fn count(&self, group: &str) -> usize {
        self.by_group.read().get(group).map_or(0, BTreeMap::len)
    }

    /// The lowest `created_after` of all filters, if any.
    pub fn earliest_created_after(&self) -> Option<Lsn> {
        self.by_group.read().values().flat_map(|g| g.values()).map(|f| f.created_after()).min()
    }

    fn save(&self, all: &BTreeMap<String, BTreeMap<String, Arc<MetricFilter>>>) -> Result<()> {
        let stored: Vec<Stored> = all
            .values()
            .flat_map(|g| g.values())
            .map(|f| Stored {
                spec: f.spec().clone(),
                created_ms: f.created_ms(),
                created_after: f.created_after().get(),
                disabled: f.is_disabled(),
            })
            .collect();
        Ok(durable::write_json(&self.path, &stored)?)
    }
}

fn compile(filters: &BTreeMap<String, Arc<MetricFilter>>) -> Arc<FilterSet> {
    Arc::new(FilterSet::new(filters.values().cloned().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::tests::spec;

    fn filter(name: &str, pattern: &str) -> MetricFilter {
        let mut s = spec(pattern, "1");
        s.name = name.into();
        MetricFilter::new(s, 5, Lsn::new(3)).unwrap()
    }

    #[test]
    fn filters_persist_and_are_described_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let r = FilterRegistry::open(dir.path()).unwrap();
        for n in ["b", "a", "c"] {
            r.put(filter(n, "ERROR")).unwrap();
        }
        r.delete("app", "c").unwrap();
        assert!(matches!(r.delete("app", "c"), Err(WatchError::NotFound(_))));
        let r = FilterRegistry::open(dir.path()).unwrap();
        let names: Vec<_> =
            r.describe(&FilterQuery::default()).iter().map(|f| f.spec().name.clone()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(r.count("app"), 2);
        assert_eq!(r.for_group("app")[0].created_after(), Lsn::new(3));
        let q = FilterQuery { name_prefix: Some("b".into()), ..Default::default() };
        assert_eq!(r.describe(&q).len(), 1);
    }

    #[test]
    fn group_limits_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let r = FilterRegistry::open(dir.path()).unwrap();
        for i in 0..MAX_REGEX_FILTERS_PER_GROUP {
            r.put(filter(&format!("re{i}"), "%ERR%")).unwrap();
        }
        assert!(matches!(r.put(filter("re-more", "%WARN%")), Err(WatchError::LimitExceeded(_))));
        r.put(filter("re0", "%ERR2%")).unwrap(); // replacing one is fine
        for i in MAX_REGEX_FILTERS_PER_GROUP..MAX_FILTERS_PER_GROUP {
            r.put(filter(&format!("f{i:03}"), "ERROR")).unwrap();
        }
        assert!(matches!(r.put(filter("one-more", "ERROR")), Err(WatchError::LimitExceeded(_))));
        assert_eq!(r.count("app"), MAX_FILTERS_PER_GROUP);
    }
}
