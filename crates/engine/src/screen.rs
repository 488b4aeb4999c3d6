//! Template screening: a scan whose first filter requires `@message like /re/` (or
//! `like "text"`) decodes only the messages whose stored template could match, and never
//! builds a row for the others.
//!
//! A sealed block stored as templates holds each message as its template's text with every
//! slot filled: a number slot by a run of digits, a variable slot by a run of word bytes
//! (`[0-9A-Za-z_]` and bytes of non-ASCII characters) holding a digit (the codec's
//! tokenizer; storage's tests check every message is such an instance of its template).
//! So the messages of template `T` all lie in the language `L(T)`: `T`'s text with each
//! number slot read as `[0-9]+` and each variable slot as `[0-9A-Za-z_\x80-\xFF]+`.
//!
//! The regex is compiled a second time, into a dense DFA over bytes with the same pattern
//! and syntax options as the `regex::Regex` the row filter runs (so it has a match in
//! exactly the messages that regex matches), searching unanchored from the start of a
//! message. Walking the DFA over `L(T)` keeps the *set* of states some prefix of a string of
//! `L(T)` can reach: text pieces move every state along their bytes; a slot replaces the
//! set by every state reachable by one or more bytes of its class (a fixpoint). If no state
//! of any set is a match state, and none is after the end of input, no string of `L(T)`
//! holds a match: no message of `T` can pass the filter, and it is not even written. Any
//! doubt (a quit state, a DFA too large to build) keeps the messages. Look-around needs no
//! special case: the DFA's states carry the context its assertions read, and the walk feeds
//! it whole messages from their start, as `is_match` sees them.
//!
//! The kept rows still run every operation, the regex included, so screening only ever
//! removes rows the filter would have dropped. Buffered events and blocks of a plain
//! variant have no templates and are decoded whole.

use std::collections::HashMap;
use std::sync::Arc;

use logsight_storage::{Piece, Template};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};

use crate::bind::RowOp;
use crate::expr::CExpr;
use crate::plan::Plan;
use crate::row::{Symbols, SystemField};

/// Bytes a screening DFA may take; a larger one is not built (the scan decodes every row).
const DFA_LIMIT: usize = 4 << 20;
/// Bytes of template text a worker's verdict memo holds; beyond it, the memo starts over.
const MEMO_BYTES: usize = 4 << 20;
/// States a template's walk may track at once; beyond it, the template is kept.
const MAX_SET: usize = 256;
/// States a worker's slot reach sets hold in all; beyond it, they start over.
const REACH_STATES: usize = 1 << 20;

/// The conditions a scan's templates are screened by: a template is kept only if every
/// one could match.
#[derive(Debug)]
pub(crate) struct Screen {
    tests: Vec<Test>,
}

/// One `@message` condition compiled for screening.
#[derive(Debug)]
struct Test {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
    /// One byte of each of the DFA's byte classes met in a number slot, and in a
    /// variable slot.
    digits: Vec<u8>,
    words: Vec<u8>,
    /// As the query wrote it, for `--explain`.
    text: String,
}

impl Screen {
    /// The screen of a plan, when its scan qualifies: messages are decoded as text (not
    /// templates, not JSON field columns), and the first operation on the workers is a
    /// filter with an `and`-ed `@message like /re/` or `like "text"` (not negated) whose DFA
    /// can be built.
    pub(crate) fn for_plan(plan: &Plan) -> Option<Screen> {
        if plan.columns.templates || plan.columns.json {
            return None;
        }
        Screen::compile(&plan.scan_ops, &plan.bound.symbols)
    }

    fn compile(scan_ops: &[RowOp], symbols: &Symbols) -> Option<Screen> {
        let Some(RowOp::Filter(e)) = scan_ops.first() else { return None };
        let mut parts = Vec::new();
        conjuncts(e, &mut parts);
        let is_message = |e: &CExpr| {
            matches!(e, CExpr::Field { id, path: None }
                if symbols.system(*id) == Some(SystemField::Message))
        };
        let tests: Vec<Test> = parts
            .into_iter()
            .filter_map(|part| match part {
                CExpr::Regex { expr, re, negated: false } if is_message(expr) => {
                    Test::new(re.as_str(), format!("/{}/", re.as_str()))
                }
                CExpr::Contains { expr, needle, negated: false } if is_message(expr) => {
                    let text = std::str::from_utf8(needle.needle()).ok()?;
                    Test::new(&regex::escape(text), format!("{text:?}"))
                }
                _ => None,
            })
            .collect();
        (!tests.is_empty()).then_some(Screen { tests })
    }

    /// What `--explain` says of it.
    pub(crate) fn describe(&self) -> String {
        let texts: Vec<&str> = self.tests.iter().map(|t| t.text.as_str()).collect();
        format!(
            "message templates screened by @message like {}: sealed blocks write only the \
             messages of templates that could match; rows of the others are never built",
            texts.join(" and ")
        )
    }
}

impl Test {
    fn new(pattern: &str, text: String) -> Option<Test> {
        let config = dense::Config::new()
            .start_kind(StartKind::Unanchored)
            .match_kind(MatchKind::All)
            .minimize(false)
            // `\b` is Unicode-aware: the DFA then quits at non-ASCII bytes, which keeps.
            .unicode_word_boundary(true)
            .dfa_size_limit(Some(DFA_LIMIT))
            .determinize_size_limit(Some(DFA_LIMIT));
        // The syntax options are the defaults, as `regex::Regex::new` uses them; flags
        // written in the pattern apply to both alike.
        let dfa = dense::Builder::new().configure(config).build(pattern).ok()?;
        // A message is searched from its start: the start state of a haystack's start.
        let start = dfa.start_state(&start::Config::new().anchored(Anchored::No)).ok()?;
        let classes = |pick: &dyn Fn(u8) -> bool| {
            let mut seen = [false; 256];
            (0..=255u8)
                .filter(|&b| pick(b))
                .filter(|&b| {
                    !std::mem::replace(&mut seen[dfa.byte_classes().get(b) as usize], true)
                })
                .collect::<Vec<u8>>()
        };
        let digits = classes(&|b| b.is_ascii_digit());
        let words = classes(&|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80);
        Some(Test { dfa, start, digits, words, text })
    }

    /// Whether some message of template `t` could match (false: none can).
    fn may_match(&self, t: Template<'_>, work: &mut Work) -> bool {
        let dfa = &self.dfa;
        let Work { set, next, reach, held } = work;
        set.clear();
        set.push(self.start);
        for piece in t.pieces() {
            match piece {
                Piece::Text(bytes) => {
                    for &b in bytes {
                        for s in set.iter_mut() {
                            *s = dfa.next_state(*s, b);
                        }
                        if self.settle(set) {
                            return true;
                        }
                    }
                }
                Piece::Number | Piece::Variable => {
                    if *held > REACH_STATES {
                        reach.iter_mut().for_each(HashMap::clear);
                        *held = 0;
                    }
                    let (bytes, reach) = match piece {
                        Piece::Number => (&self.digits, &mut reach[0]),
                        _ => (&self.words, &mut reach[1]),
                    };
                    next.clear();
                    for &s in set.iter() {
                        let r = reach.entry(s).or_insert_with(|| {
                            let r = self.closure(s, bytes);
                            *held += r.as_ref().map_or(1, |r| r.len() + 1);
                            r
                        });
                        match r {
                            Some(states) => next.extend_from_slice(states),
                            None => return true,
                        }
                    }
                    std::mem::swap(set, next);
                    set.sort_unstable();
                    set.dedup();
                    if set.len() > MAX_SET {
                        // Walking so many states could cost more than decoding: keep.
                        return true;
                    }
                }
            }
            if set.is_empty() {
                return false;
            }
        }
        set.iter().any(|&s| dfa.is_match_state(dfa.next_eoi_state(s)))
    }

    /// Drops dead states and duplicates; true when a state is a match (a match ended) or
    /// a quit state (the DFA cannot tell).
    fn settle(&self, set: &mut Vec<StateID>) -> bool {
        let dfa = &self.dfa;
        if set.iter().any(|&s| dfa.is_match_state(s) || dfa.is_quit_state(s)) {
            return true;
        }
        if set.len() > 1 {
            set.retain(|&s| !dfa.is_dead_state(s));
            set.sort_unstable();
            set.dedup();
        } else if set.first().is_some_and(|&s| dfa.is_dead_state(s)) {
            set.clear();
        }
        false
    }

    /// The live states reachable from `from` by one or more of `bytes`' classes, sorted;
    /// `None` when one is a match or quit state (see [`Test::settle`]).
    fn closure(&self, from: StateID, bytes: &[u8]) -> Option<Box<[StateID]>> {
        let dfa = &self.dfa;
        let mut reach: Vec<StateID> = Vec::new();
        let mut frontier = vec![from];
        let mut next = Vec::new();
        while !frontier.is_empty() {
            next.clear();
            for &s in &frontier {
                next.extend(bytes.iter().map(|&b| dfa.next_state(s, b)));
            }
            if self.settle(&mut next) {
                return None;
            }
            next.retain(|s| reach.binary_search(s).is_err());
            reach.extend_from_slice(&next);
            reach.sort_unstable();
            std::mem::swap(&mut frontier, &mut next);
        }
        Some(reach.into_boxed_slice())
    }
}

/// A worker's buffers for [`Test::may_match`], and per slot kind (number, variable) the
/// states each DFA state reaches through a slot (`None`: a match).
#[derive(Default)]
struct Work {
    set: Vec<StateID>,
    next: Vec<StateID>,
    reach: [HashMap<StateID, Option<Box<[StateID]>>>; 2],
    /// States held in `reach`, both kinds.
    held: usize,
}

/// A worker's use of a [`Screen`]: its verdicts per template, remembered across blocks.
pub(crate) struct Screener {
    screen: Arc<Screen>,
    memo: HashMap<Vec<u8>, bool>,
    /// Template bytes in `memo`.
    memo_bytes: usize,
    /// Per test.
    work: Vec<Work>,
}

impl Screener {
    pub(crate) fn new(screen: Arc<Screen>) -> Screener {
        let work = screen.tests.iter().map(|_| Work::default()).collect();
        Screener { screen, memo: HashMap::new(), memo_bytes: 0, work }
    }

    /// Whether the messages of `t` must be decoded (some could match).
    pub(crate) fn keep(&mut self, t: Template<'_>) -> bool {
        if let Some(&v) = self.memo.get(t.key()) {
            return v;
        }
        let v = self.screen.tests.iter().zip(&mut self.work).all(|(test, w)| test.may_match(t, w));
        if self.memo_bytes > MEMO_BYTES {
            self.memo.clear();
            self.memo_bytes = 0;
        }
        self.memo_bytes += t.key().len() + 32;
        self.memo.insert(t.key().to_vec(), v);
        v
    }
}

/// The `and`-ed parts of a condition.
fn conjuncts<'e>(e: &'e CExpr, out: &mut Vec<&'e CExpr>) {
    match e {
        CExpr::Binary(logsight_query_lang::insights::BinaryOp::And, a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsight_storage::Templates;
    use proptest::prelude::*;

    fn screener(pattern: &str) -> Screener {
        let test = Test::new(pattern, pattern.to_string()).expect("builds");
        Screener::new(Arc::new(Screen { tests: vec![test] }))
    }

    /// Every message the regex matches has its template kept (soundness); returns how many
    /// messages were screened out.
    fn check(pattern: &str, messages: &[String]) -> usize {
        let re = regex::Regex::new(pattern).expect("valid");
        let mut s = screener(pattern);
        let mut templates = Templates::default();
        Templates::build(messages, &mut templates);
        let mut out = 0;
        for (m, &t) in messages.iter().zip(templates.ids()) {
            let kept = s.keep(templates.get(t as usize));
            assert!(
                kept || !re.is_match(m),
                "/{pattern}/ matches {m:?} but its template is dropped"
            );
            out += usize::from(!kept);
        }
        out
    }

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn templates_that_cannot_match_are_dropped() {
        let msgs = lines(&[
            "conn from 10.0.0.1:8080 ok",
            "conn from 10.0.0.2:8081 ok",
            "at 12:30:01 user 7 logged in",
            "at 12:31:07 user 9 logged in",
            "version 1.2 build 3",
        ]);
        // The IP and port template stays; the clock and version ones cannot hold the match.
        assert_eq!(check(r"\d+\.\d+\.\d+\.\d+:\d{4,5}", &msgs), 3);
        assert_eq!(check(r"(?i)LOGGED", &msgs), 3);
        assert_eq!(check(r"^conn", &msgs), 3);
        assert_eq!(check(r"ok$", &msgs), 3);
        assert_eq!(check(r"user \d+ logged", &msgs), 3);
        // Number slots hold digits only; variable slots word bytes only.
        assert_eq!(check(r"user [a-z]+ logged", &msgs), 5);
        assert_eq!(check(r"zzz", &msgs), 5);
        // Empty matches match everything; nothing can be dropped.
        assert_eq!(check(r"x*", &msgs), 0);
        assert_eq!(check(r"\d", &msgs), 0);
    }

    #[test]
    fn messages_are_screened_alone_never_across_their_neighbours() {
        let msgs = lines(&["xa", " b", "ends 12", "34 starts", "two\nlines 5", "a\tb"]);
        assert_eq!(check(r"a\s+b", &msgs), 5);
        assert_eq!(check(r"1234", &msgs), 6);
        assert_eq!(check(r"(?m)^lines \d$", &msgs), 5);
        assert_eq!(check(r"two.lines", &msgs), 6);
        assert_eq!(check(r"(?s)two.lines", &msgs), 5);
        assert_eq!(check(r"\bb\b", &msgs), 4);
    }

    #[test]
    fn loghub_templates_keep_every_match() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared/datasets/loghub"))
            .find(|p| p.is_dir())
            .expect("the Loghub samples are in shared/datasets/loghub");
        let patterns = [
            r"\d+\.\d+\.\d+\.\d+:\d{4,5}",
            r"(?i)error|fail",
            r"^\d{6} \d{6}",
            r"blk_-?\d+$",
            r"[A-Z][a-z]+Exception",
            r"user=\w+",
            r"(?m)^\s*at ",
            r"port \d{2}\b",
        ];
        let mut dropped = 0;
        for name in ["HDFS_2k.log", "OpenSSH_2k.log", "Hadoop_2k.log", "Linux_2k.log", "Mac_2k.log"]
        {
            let text = std::fs::read_to_string(dir.join(name)).expect("sample");
            let msgs: Vec<String> = text.lines().map(str::to_string).collect();
            for chunk in msgs.chunks(700) {
                for p in patterns {
                    dropped += check(p, chunk);
                }
            }
        }
        assert!(dropped > 10_000, "screening drops most templates ({dropped})");
    }

    /// Log-like messages over a small alphabet, so random regexes match some of them.
    fn message() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[ab]{1,3}",
            "[0-9]{1,4}",
            "0[0-9]{1,3}",
            "[a-f0-9]{2,6}",
            "[ .:_\\-\\n]{1,2}",
            "[éß日]{1,2}",
            "x[0-9]{1,2}",
        ];
        prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
    }

    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just(r"\d".to_string()),
            Just(r"\d+".to_string()),
            Just(r"\d{2,3}".to_string()),
            Just(r"\.".to_string()),
            Just(":".to_string()),
            Just(r"\s".to_string()),
            Just(r"\w".to_string()),
            Just("[a-c]".to_string()),
            Just("é".to_string()),
            Just(".".to_string()),
            Just("x".to_string()),
            Just("0".to_string()),
        ];
        let flags = prop_oneof![Just(""), Just("(?i)"), Just("(?m)"), Just("(?s)")];
        let start = prop_oneof![Just(""), Just("^"), Just(r"\b")];
        let end = prop_oneof![Just(""), Just("$"), Just(r"\b")];
        let reps = prop_oneof![Just(""), Just("+"), Just("*"), Just("?")];
        (flags, start, prop::collection::vec((atom, reps), 1..5), end).prop_map(
            |(f, s, atoms, e)| {
                let body: String = atoms.into_iter().map(|(a, r)| format!("{a}{r}")).collect();
                format!("{f}{s}{body}{e}")
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn screening_never_drops_a_match(
            messages in prop::collection::vec(message(), 1..30),
            pattern in pattern(),
        ) {
            if regex::Regex::new(&pattern).is_ok() && Test::new(&pattern, String::new()).is_some() {
                check(&pattern, &messages);
            }
        }
    }
}
