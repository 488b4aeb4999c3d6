//! A group's metric filters matched together. Most log lines match none of a group's
//! filters, and testing each filter's pattern separately scans every line once per filter.
//! Instead, the literals that the filters' patterns require ([`LiteralHint`]: words, phrases,
//! regex prefixes) are each searched at most once per line, only when a filter still needs
//! them, and only the filters whose every hint group is present (and the filters without a
//! hint, such as JSON and space-delimited patterns) run their full pattern.
//!
//! Up to [`MAX_SEPARATE_LITERALS`] literals are searched one by one with SIMD `memmem`
//! finders: on the Loghub lines (137 bytes on average) ten finders cost about 77 ns a line
//! against 328 ns for one overlapping Aho-Corasick DFA pass over the same ten literals, which
//! steps through every byte. Past that many literals one automaton pass is cheaper and is used.
//!
//! [`LiteralHint`]: logsight_query_lang::pattern::LiteralHint

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use memchr::memmem::Finder;

use crate::filter::MetricFilter;

/// One filter's pre-filter: for each group, the ids of its literals (any one suffices).
#[derive(Debug, Clone)]
enum Gate {
    /// No hint: the pattern always runs.
    Open,
    /// Every group needs one of its literals in the line.
    Literals(Vec<Vec<usize>>),
}

/// With at most this many distinct literals in a group they are searched one by one (lazily);
/// with more, in one Aho-Corasick pass.
pub const MAX_SEPARATE_LITERALS: usize = 32;

/// How a group's literals are looked for in a line.
#[derive(Debug)]
enum Searcher {
    /// No filter has a hint.
    None,
    /// One finder per literal, run when a gate first asks for it.
    Each(Vec<Finder<'static>>),
    /// One overlapping pass finds every literal at once.
    Automaton(AhoCorasick),
}

/// A group with more literals than this that share a prefix of at least
/// [`MIN_SHARED_PREFIX`] bytes is searched for that prefix alone.
const MAX_GROUP_LITERALS: usize = 4;
const MIN_SHARED_PREFIX: usize = 3;

/// Literals that admit every line `group` admits (a line with any literal of `group` contains
/// one of them), fewer of them to search: a literal that contains another of the group adds
/// nothing (`WARNING` beside `WARN`); many literals with a common prefix (a regex's prefixes
/// `blk_0` … `blk_-9`) give way to that prefix, a weaker but still sound gate.
fn fewer_literals(group: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for (i, lit) in group.iter().enumerate() {
        let redundant = group
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && lit.contains(other.as_str()) && (lit != other || j < i));
        if !redundant {
            kept.push(lit.clone());
        }
    }
    if kept.len() > MAX_GROUP_LITERALS {
        let first = &kept[0];
        let mut len = kept.iter().fold(first.len(), |len, l| {
            len.min(first.bytes().zip(l.bytes()).take_while(|(a, b)| a == b).count())
        });
        while !first.is_char_boundary(len) {
            len -= 1;
        }
        if len >= MIN_SHARED_PREFIX {
            return vec![first[..len].to_owned()];
        }
    }
    kept
}

/// The compiled filters of one log group.
#[derive(Debug)]
pub struct FilterSet {
    filters: Vec<Arc<MetricFilter>>,
    gates: Vec<Gate>,
    /// Over every distinct literal of every gate.
    searcher: Searcher,
    literals: usize,
}

/// Whether a literal was looked for in the current line, and if so whether it is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Unknown,
    Absent,
    Present,
}

/// Reusable buffers for [`FilterSet::candidates`], so matching a line allocates nothing.
#[derive(Debug, Default)]
pub struct Scratch {
    seen: Vec<Seen>,
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
                    fewer_literals(group)
                        .into_iter()
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
            Searcher::None
        } else if texts.len() <= MAX_SEPARATE_LITERALS {
            Searcher::Each(texts.iter().map(|t| Finder::new(t.as_bytes()).into_owned()).collect())
        } else {
            // Standard semantics, so overlapping search reports every literal present. A build
            // failure (only on absurd sizes) falls back to running every pattern.
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&texts)
                .or_else(|_| AhoCorasick::builder().match_kind(MatchKind::Standard).build(&texts))
                .map_or(Searcher::None, Searcher::Automaton)
        };
        let gates = match searcher {
            Searcher::None => vec![Gate::Open; filters.len()],
            _ => gates,
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
        scratch.seen.clear();
        scratch.seen.resize(self.literals, Seen::Unknown);
        for (i, gate) in self.gates.iter().enumerate() {
            if !active.get(i).copied().unwrap_or(false) {
                continue;
            }
            let pass = match gate {
                Gate::Open => true,
                Gate::Literals(groups) => groups
                    .iter()
                    .all(|g| g.iter().any(|&id| self.present(message, id, &mut scratch.seen))),
            };
            if pass {
                scratch.candidates.push(i);
            }
        }
    }

    /// Whether literal `id` occurs in `message`, searching for it (or, with an automaton, for
    /// every literal) the first time it is asked for.
    fn present(&self, message: &str, id: usize, seen: &mut [Seen]) -> bool {
        if seen[id] == Seen::Unknown {
            match &self.searcher {
                Searcher::Each(finders) => {
                    seen[id] = if finders[id].find(message.as_bytes()).is_some() {
                        Seen::Present
                    } else {
                        Seen::Absent
                    };
                }
                Searcher::Automaton(ac) => {
                    seen.fill(Seen::Absent);
                    for m in ac.find_overlapping_iter(message) {
                        seen[m.pattern().as_usize()] = Seen::Present;
                    }
                }
                Searcher::None => return true,
            }
        }
        seen[id] == Seen::Present
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
        assert!(matches!(set(PATTERNS).searcher, Searcher::Each(_)));
        check_candidates(PATTERNS);
    }

    /// The same with enough literals for the one-pass automaton.
    #[test]
    fn candidates_include_every_matching_filter_with_many_literals() {
        let words: Vec<String> = (0..MAX_SEPARATE_LITERALS).map(|i| format!("word{i}")).collect();
        let mut patterns: Vec<&str> = PATTERNS.to_vec();
        patterns.extend(words.iter().map(String::as_str));
        assert!(matches!(set(&patterns).searcher, Searcher::Automaton(_)));
        check_candidates(&patterns);
    }

    fn check_candidates(patterns: &[&str]) {
        let s = set(patterns);
        let active = vec![true; patterns.len()];
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
            "word3 and word17, word30".into(),
            String::new(),
        ];
        lines.extend(loghub_sample());
        for line in &lines {
            s.candidates(line, &active, &mut scratch);
            for (i, f) in s.filters().iter().enumerate() {
                if f.pattern().matches(line) {
                    assert!(scratch.candidates().contains(&i), "{:?} on {line:?}", patterns[i]);
                }
            }
        }
        s.candidates("nothing here", &active, &mut scratch);
        let names: Vec<&str> = scratch.candidates().iter().map(|&i| patterns[i]).collect();
        assert_eq!(
            names,
            ["[date, time, level, ...]", "{ $.level = \"error\" }", ""],
            "filters without literal hints always run; the others are skipped"
        );
    }

    #[test]
    fn groups_keep_fewer_literals_that_admit_as_much() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(fewer_literals(&strings(&["WARN", "WARNING"])), ["WARN"]);
        assert_eq!(fewer_literals(&strings(&["a", "a"])), ["a"]);
        let blk: Vec<String> =
            (0..10).flat_map(|d| [format!("blk_{d}"), format!("blk_-{d}")]).collect();
        assert_eq!(fewer_literals(&blk), ["blk_"]);
        let short = strings(&["ab1", "ab2", "ab3", "ab4", "ab5"]);
        assert_eq!(fewer_literals(&short), short, "a 2-byte prefix is not worth it");
        assert_eq!(
            fewer_literals(&strings(&["Connection refused", "INFO"])),
            ["Connection refused", "INFO"]
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
