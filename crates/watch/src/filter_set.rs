//! A group's metric filters matched together. Most log lines match none of a group's
//! filters, and testing each filter's pattern separately scans every line once per filter.
//! Instead, the literals that the filters' patterns require ([`LiteralHint`]: words, phrases,
//! regex prefixes) go into one Aho-Corasick automaton; one pass over a line finds which of them
//! it contains, and only the filters whose every hint group is present (and the filters
//! without a hint, such as JSON and space-delimited patterns) run their full pattern.
//!
//! [`LiteralHint`]: logsight_query_lang::pattern::LiteralHint

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::filter::MetricFilter;

/// One filter's pre-filter: for each group, the ids of its literals (any one suffices).
#[derive(Debug, Clone)]
enum Gate {
    /// No hint: the pattern always runs.
    Open,
    /// Every group needs one of its literals in the line.
    Literals(Vec<Vec<usize>>),
}

/// The compiled filters of one log group.
#[derive(Debug)]
pub struct FilterSet {
    filters: Vec<Arc<MetricFilter>>,
    gates: Vec<Gate>,
    /// Over every distinct literal of every gate; `None` when no filter has a hint.
    searcher: Option<AhoCorasick>,
    literals: usize,
}

/// Reusable buffers for [`FilterSet::candidates`], so matching a line allocates nothing.
#[derive(Debug, Default)]
pub struct Scratch {
    present: Vec<bool>,
    candidates: Vec<usize>,
}

impl Scratch {
    /// The indexes (into [`FilterSet::filters`]) found by the last
    /// [`FilterSet::candidates`] call, ascending.
    pub fn candidates(&self) -> &[usize] {
        &self.candidates
    }
}

impl FilterSet {
    /// Compiles the pre-filter of `filters`.
    pub fn new(filters: Vec<Arc<MetricFilter>>) -> FilterSet {
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut texts: Vec<String> = Vec::new();
        let gates: Vec<Gate> = filters
            .iter()
            .map(|f| {
                let hint = f.pattern().literal_hint();
                if hint.is_empty() {
                    return Gate::Open;
                }
                let groups = hint.groups().iter().map(|group| {
                    group
                        .iter()
                        .map(|lit| {
                            *ids.entry(lit.clone()).or_insert_with(|| {
                                texts.push(lit.clone());
                                texts.len() - 1
                            })
                        })
                        .collect()
                });
                Gate::Literals(groups.collect())
            })
            .collect();
        let searcher = if texts.is_empty() {
            None
        } else {
            // Standard semantics, so overlapping search reports every literal present. A build
            // failure (only on absurd sizes) falls back to running every pattern.
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&texts)
                .or_else(|_| AhoCorasick::builder().match_kind(MatchKind::Standard).build(&texts))
                .ok()
        };
        let gates = match searcher {
            Some(_) => gates,
            None => vec![Gate::Open; filters.len()],
        };
        FilterSet { filters, gates, searcher, literals: texts.len() }
    }

    /// The filters, in the order given.
    pub fn filters(&self) -> &[Arc<MetricFilter>] {
        &self.filters
    }

    /// Finds the filters that may match `message` (a necessary condition: each still has to
    /// run its pattern), among those for which `active(index)` holds, into
    /// [`Scratch::candidates`].
    pub fn candidates(&self, message: &str, active: &[bool], scratch: &mut Scratch) {
        scratch.candidates.clear();
        let mut searched = false;
        for (i, gate) in self.gates.iter().enumerate() {
            if !active.get(i).copied().unwrap_or(false) {
                continue;
            }
            let pass = match gate {
                Gate::Open => true,
                Gate::Literals(groups) => {
                    if !searched {
                        self.search(message, &mut scratch.present);
                        searched = true;
                    }
                    groups.iter().all(|g| g.iter().any(|&id| scratch.present[id]))
                }
            };
            if pass {
                scratch.candidates.push(i);
            }
        }
    }

    /// Marks which literals occur in `message`.
    fn search(&self, message: &str, present: &mut Vec<bool>) {
        present.clear();
        present.resize(self.literals, false);
        if let Some(ac) = &self.searcher {
            for m in ac.find_overlapping_iter(message) {
                present[m.pattern().as_usize()] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::tests::spec;
    use crate::log::Lsn;

    fn set(patterns: &[&str]) -> FilterSet {
        let filters = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut s = spec(p, "1");
                s.name = format!("f{i}");
                Arc::new(MetricFilter::new(s, 0, Lsn::ZERO).unwrap())
            })
            .collect();
        FilterSet::new(filters)
    }

    const PATTERNS: &[&str] = &[
        "ERROR",
        "?WARN ?WARNING",
        "%Exception%",
        "\"Connection refused\" -DEBUG",
        "%authentication failure|Invalid user%",
        "[date, time, level, ...]",
        "{ $.level = \"error\" }",
        "%blk_-?[0-9]+%",
        "ERROR %timeout [0-9]+%",
        "",
    ];

    /// Every 5th line of the Loghub samples (`$LOGSIGHT_LOGHUB`, else the first
    /// `shared/datasets/loghub` above this crate); none when they are not there.
    fn loghub_sample() -> Vec<String> {
        let dir = std::env::var_os("LOGSIGHT_LOGHUB").map(std::path::PathBuf::from).or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join("shared/datasets/loghub"))
                .find(|d| d.is_dir())
        });
        let Some(dir) = dir else { return Vec::new() };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.path().to_string_lossy().ends_with("_2k.log")
                && let Ok(text) = std::fs::read_to_string(entry.path())
            {
                out.extend(text.lines().step_by(5).map(str::to_owned));
            }
        }
        out
    }

    /// The oracle: every filter's own pattern. The pre-filter may let through a filter that
    /// does not match, never hold back one that does.
    #[test]
    fn candidates_include_every_matching_filter() {
        let s = set(PATTERNS);
        let active = vec![true; PATTERNS.len()];
        let mut scratch = Scratch::default();
        let mut lines: Vec<String> = vec![
            "ERROR timeout 30 in blk_-123".into(),
            "WARNING: disk".into(),
            "java.lang.NullPointerException at x".into(),
            "DEBUG Connection refused".into(),
            "sshd: Invalid user admin".into(),
            r#"{"level":"error"}"#.into(),
            "nothing here".into(),
            "ERRORS only".into(),
            String::new(),
        ];
        lines.extend(loghub_sample());
        for line in &lines {
            s.candidates(line, &active, &mut scratch);
            for (i, f) in s.filters().iter().enumerate() {
                if f.pattern().matches(line) {
                    assert!(scratch.candidates().contains(&i), "{:?} on {line:?}", PATTERNS[i]);
                }
            }
        }
        s.candidates("nothing here", &active, &mut scratch);
        let names: Vec<&str> = scratch.candidates().iter().map(|&i| PATTERNS[i]).collect();
        assert_eq!(
            names,
            ["[date, time, level, ...]", "{ $.level = \"error\" }", ""],
            "filters without literal hints always run; the others are skipped"
        );
    }

    #[test]
    fn inactive_filters_are_never_candidates() {
        let s = set(&["ERROR", "INFO"]);
        let mut scratch = Scratch::default();
        s.candidates("ERROR and INFO", &[false, true], &mut scratch);
        assert_eq!(scratch.candidates(), [1]);
    }
}
