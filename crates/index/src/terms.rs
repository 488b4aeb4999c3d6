//! Tokens, and what a query's literals require of them.
//!
//! A token is a maximal run of bytes that are ASCII letters, ASCII digits or part of a
//! non-ASCII UTF-8 character; every other byte (ASCII punctuation, spaces, control bytes)
//! separates tokens. Tokens are indexed ASCII-lowercased. Both rules are byte-local, which is
//! what makes pruning exact: if a message contains a literal `L` (as Insights' case-sensitive
//! `like` asks), then every token of `L` that has a separator (or `L`'s edge shared with a
//! separator) on each side is a whole token of the message, and a token touching `L`'s start
//! or end is a suffix, prefix or infix of one of the message's tokens. So a literal gives
//! a conjunction of [`TermMatch`]es that every matching message satisfies: the index may only
//! rule blocks out, never change what matches.
//!
//! Two kinds of tokens are not indexed, to keep the index small: tokens longer than
//! [`MAX_TOKEN`] bytes (a block holding one is flagged, and every partial match admits
//! it), and, when the policy says so, tokens of ASCII digits only (numbers are
//! the bulk of distinct tokens in logs, and rarely searched alone). A condition that could
//! only be answered by such a token rules nothing out.

use std::fmt;

/// Tokens longer than this many bytes are not indexed (a marker term stands for them).
pub const MAX_TOKEN: usize = 64;

/// Which tokens an index holds (stored in the artifact, so readers apply the same rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Whether tokens of ASCII digits only are indexed.
    pub numbers: bool,
}

impl TokenPolicy {
    /// Whether a whole token `t` (lowercased, at most [`MAX_TOKEN`] bytes) is indexed.
    pub(crate) fn indexes(&self, t: &[u8]) -> bool {
        t.len() <= MAX_TOKEN && (self.numbers || !t.iter().all(u8::is_ascii_digit))
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// The tokens of `text` as byte ranges, in order.
pub(crate) fn token_spans(text: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < text.len() && !is_token_byte(text[i]) {
            i += 1;
        }
        if i >= text.len() {
            return None;
        }
        let start = i;
        while i < text.len() && is_token_byte(text[i]) {
            i += 1;
        }
        Some((start, i))
    })
}

/// Calls `f` with each token of `text`, ASCII-lowercased into a reused buffer.
pub(crate) fn for_each_token(text: &[u8], buf: &mut Vec<u8>, mut f: impl FnMut(&[u8])) {
    for (s, e) in token_spans(text) {
        buf.clear();
        buf.extend(text[s..e].iter().map(u8::to_ascii_lowercase));
        f(buf);
    }
}

/// How a message token must relate to a query fragment (fragments are lowercased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TermMatch {
    /// The token is the fragment.
    Exact(Vec<u8>),
    /// The token starts with the fragment.
    Prefix(Vec<u8>),
    /// The token ends with the fragment.
    Suffix(Vec<u8>),
    /// The token contains the fragment.
    Infix(Vec<u8>),
}

impl TermMatch {
    pub(crate) fn fragment(&self) -> &[u8] {
        match self {
            TermMatch::Exact(f)
            | TermMatch::Prefix(f)
            | TermMatch::Suffix(f)
            | TermMatch::Infix(f) => f,
        }
    }

    /// Whether an index under `policy` can answer it at all (else it rules nothing out).
    pub(crate) fn answerable(&self, policy: TokenPolicy) -> bool {
        let f = self.fragment();
        if f.is_empty() || f.len() > MAX_TOKEN {
            return false;
        }
        // A digits-only fragment may sit in a digits-only token, which may not be indexed.
        policy.numbers || !f.iter().all(u8::is_ascii_digit)
    }

    /// A rough selectivity rank: longer and whole-token conditions first.
    fn strength(&self) -> (usize, u8) {
        let kind = match self {
            TermMatch::Exact(_) => 3,
            TermMatch::Prefix(_) => 2,
            TermMatch::Suffix(_) => 1,
            TermMatch::Infix(_) => 0,
        };
        (self.fragment().len(), kind)
    }
}

impl fmt::Display for TermMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = String::from_utf8_lossy(self.fragment());
        match self {
            TermMatch::Exact(_) => write!(f, "{s}"),
            TermMatch::Prefix(_) => write!(f, "{s}*"),
            TermMatch::Suffix(_) => write!(f, "*{s}"),
            TermMatch::Infix(_) => write!(f, "*{s}*"),
        }
    }
}

/// At least one of its matches holds in every matching message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    any: Vec<TermMatch>,
}

impl Clause {
    /// The alternatives.
    pub fn any(&self) -> &[TermMatch] {
        &self.any
    }
}

/// What every message a query can match contains: a conjunction of clauses. Empty: nothing
/// is required (the index rules nothing out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    clauses: Vec<Clause>,
}

impl Requirement {
    /// Nothing required.
    pub fn none() -> Requirement {
        Requirement::default()
    }

    /// What a message containing `literal` (case-sensitively, anywhere) must contain.
    pub fn substring(literal: &[u8]) -> Requirement {
        Requirement {
            clauses: literal_matches(literal)
                .into_iter()
                .map(|m| Clause { any: vec![m] })
                .collect(),
        }
    }

    /// What a message matching the regex `pattern` (the `regex` crate's syntax and default
    /// flags) must contain; nothing when the pattern does not parse or has no required
    /// literal.
    pub fn regex(pattern: &str) -> Requirement {
        let Ok(hir) = regex_syntax::Parser::new().parse(pattern) else {
            return Requirement::none();
        };
        let mut req = Requirement::none();
        for need in required(&hir) {
            match need {
                Need::All(lit) => req = req.and(Requirement::substring(&lit)),
                Need::Any(lits) => req = req.and(Requirement::any_of_substrings(&lits)),
            }
        }
        req
    }

    /// What a message containing at least one of `literals` must contain: one clause of each
    /// literal's strongest match, or nothing when a literal gives none.
    pub fn any_of_substrings(literals: &[Vec<u8>]) -> Requirement {
        let mut any = Vec::new();
        for lit in literals {
            match literal_matches(lit).into_iter().max_by_key(TermMatch::strength) {
                Some(m) => any.push(m),
                None => return Requirement::none(),
            }
        }
        if any.is_empty() {
            return Requirement::none();
        }
        any.sort();
        any.dedup();
        Requirement { clauses: vec![Clause { any }] }
    }

    /// Both requirements.
    pub fn and(mut self, other: Requirement) -> Requirement {
        for c in other.clauses {
            if !self.clauses.contains(&c) {
                self.clauses.push(c);
            }
        }
        self
    }

    /// Either requirement: the weaker condition that one clause of each holds (one clause of
    /// each side's strongest match), or nothing when a side requires nothing.
    pub fn or(self, other: Requirement) -> Requirement {
        let pick = |r: &Requirement| {
            r.clauses
                .iter()
                .filter(|c| c.any.len() == 1)
                .map(|c| c.any[0].clone())
                .max_by_key(TermMatch::strength)
        };
        match (pick(&self), pick(&other)) {
            (Some(a), Some(b)) => {
                let mut any = vec![a, b];
                any.sort();
                any.dedup();
                Requirement { clauses: vec![Clause { any }] }
            }
            _ => Requirement::none(),
        }
    }

    /// The clauses.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// Whether it requires nothing.
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clauses: Vec<String> = self
            .clauses
            .iter()
            .map(|c| c.any.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | "))
            .map(|s| if s.contains(" | ") { format!("({s})") } else { s })
            .collect();
        f.write_str(&clauses.join(" AND "))
    }
}

/// The token conditions a message containing `literal` satisfies (see the module doc).
fn literal_matches(literal: &[u8]) -> Vec<TermMatch> {
    let n = literal.len();
    let mut out = Vec::new();
    for (s, e) in token_spans(literal) {
        let frag: Vec<u8> = literal[s..e].iter().map(u8::to_ascii_lowercase).collect();
        let m = match (s == 0, e == n) {
            (false, false) => TermMatch::Exact(frag),
            (true, false) => TermMatch::Suffix(frag),
            (false, true) => TermMatch::Prefix(frag),
            (true, true) => TermMatch::Infix(frag),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// A literal a regex's matches must contain, or one of several.
enum Need {
    All(Vec<u8>),
    Any(Vec<Vec<u8>>),
}

/// The literals every match of `hir` contains (conservative: fewer is always correct).
fn required(hir: &regex_syntax::hir::Hir) -> Vec<Need> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Literal(lit) => vec![Need::All(lit.0.to_vec())],
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Concat(items) => {
            let mut out = Vec::new();
            let mut run: Vec<u8> = Vec::new();
            for item in items {
                if let HirKind::Literal(lit) = item.kind() {
                    run.extend_from_slice(&lit.0);
                    continue;
                }
                if !run.is_empty() {
                    out.push(Need::All(std::mem::take(&mut run)));
                }
                out.extend(required(item));
            }
            if !run.is_empty() {
                out.push(Need::All(run));
            }
            out
        }
        HirKind::Alternation(branches) => {
            let mut any = Vec::new();
            for b in branches {
                // One literal of each branch stands for it: the longest it must contain.
                let best = required(b)
                    .into_iter()
                    .filter_map(|n| match n {
                        Need::All(l) => Some(l),
                        Need::Any(_) => None,
                    })
                    .max_by_key(Vec::len);
                match best {
                    Some(l) => any.push(l),
                    None => return Vec::new(),
                }
            }
            vec![Need::Any(any)]
        }
        HirKind::Empty | HirKind::Class(_) | HirKind::Look(_) | HirKind::Repetition(_) => {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(r: &Requirement) -> String {
        r.to_string()
    }

    #[test]
    fn tokens_split_on_ascii_punctuation_and_keep_unicode() {
        let text = "GET /api/v1?id=42 Grüße, naïve_x".as_bytes();
        let mut got = Vec::new();
        let mut buf = Vec::new();
        for_each_token(text, &mut buf, |t| got.push(String::from_utf8(t.to_vec()).unwrap()));
        assert_eq!(got, ["get", "api", "v1", "id", "42", "grüße", "naïve", "x"]);
    }

    #[test]
    fn literals_require_whole_inner_tokens_and_partial_edges() {
        assert_eq!(shown(&Requirement::substring(b"error")), "*error*");
        assert_eq!(shown(&Requirement::substring(b" error ")), "error");
        assert_eq!(
            shown(&Requirement::substring(b"Failed password for")),
            "*failed AND password AND for*"
        );
        assert_eq!(shown(&Requirement::substring(b"id=42")), "*id AND 42*");
        assert!(Requirement::substring(b" :: ").is_empty());
        assert!(Requirement::substring(b"").is_empty());
    }

    #[test]
    fn regexes_give_their_required_literals() {
        assert_eq!(
            shown(&Requirement::regex("Failed password for [a-z]+ from")),
            "*failed AND password AND for AND from*"
        );
        assert_eq!(
            shown(&Requirement::regex("(timeout|refused) while")),
            "(*refused* | *timeout*) AND while*"
        );
        assert_eq!(shown(&Requirement::regex("a(bc)?d")), "*a* AND *d*");
        assert!(Requirement::regex("[0-9]+").is_empty());
        assert!(Requirement::regex("x*").is_empty());
        assert!(Requirement::regex("(?i)error").is_empty());
        assert!(Requirement::regex("(").is_empty());
        assert!(Requirement::regex("error|.*").is_empty());
    }

    #[test]
    fn or_keeps_one_alternative_per_side() {
        let r = Requirement::substring(b" disk full ").or(Requirement::substring(b"oom"));
        assert_eq!(shown(&r), "(full | *oom*)");
        assert!(Requirement::substring(b"x").or(Requirement::none()).is_empty());
    }

    #[test]
    fn numbers_and_long_fragments_are_unanswerable_when_not_indexed() {
        let policy = TokenPolicy { numbers: false };
        assert!(!TermMatch::Exact(b"123".to_vec()).answerable(policy));
        assert!(TermMatch::Exact(b"a123".to_vec()).answerable(policy));
        assert!(TermMatch::Exact(b"123".to_vec()).answerable(TokenPolicy { numbers: true }));
        assert!(!TermMatch::Infix(vec![b'a'; MAX_TOKEN + 1]).answerable(policy));
    }
}
