//! Which keys a token puts in a block's filter, and which keys a [`TermMatch`] needs: the
//! pure core of the index, independent of the filter that holds the keys.
//!
//! ## Keys of a token
//!
//! With gram length `k`, a token `t` of `n` bytes has the keys
//! - `t` itself when `n <= k`;
//! - else its *aligned* grams `t[i..i+k]` for `i = 0, k, 2k, ...` with `i + k <= n`, and its
//!   *tail* gram `t[n-k..n]`.
//!
//! (A token of exactly `k` bytes is its own only aligned gram and its own tail: both rules
//! agree.) All keys of a block's tokens go into one set, so a key says "some token of the
//! block has this gram", not which token or where.
//!
//! ## Which keys a condition needs (soundness)
//!
//! For each condition on a token, [`Grams::may_match`] asks the set only for keys that every
//! token satisfying the condition must have put in it; so "a needed key is missing" proves
//! that no token of the block satisfies the condition (a filter's false positives can only
//! turn "missing" into "present", which keeps more blocks, never fewer). With `f` the
//! fragment and `m = |f|`:
//!
//! - **Exact** `t = f`: the keys of `f`, all of them (it is the token).
//! - **Prefix** `t[0..m] = f`, `n >= m`. If `m >= k` then `n > k` or `t = f`; either way each
//!   aligned gram `t[i..i+k]` with `i + k <= m` lies inside the prefix, so it equals
//!   `f[i..i+k]`: all are needed. If `m < k` the token may be stored whole (`n <= k`) or
//!   with grams longer than `f`: nothing is needed (may match).
//! - **Suffix** `t[n-m..n] = f`. If `m >= k` the tail gram `t[n-k..n] = f[m-k..m]` is needed
//!   (for `n = k`, `t = f` and it is the whole key); the infix rule below applies too.
//! - **Infix** `t[p..p+m] = f` for an unknown `p`. If `m <= k` nothing is needed (the token
//!   may be stored whole, or `f` may straddle two grams). Else `n > k`, so `t` is stored as
//!   grams, and every aligned position `i` with `p <= i` and `i + k <= p + m <= n` is the
//!   start of a stored gram lying inside the occurrence: `t[i..i+k] = f[i-p..i-p+k]`. The
//!   first such `i` is at offset `a = (k - p mod k) mod k` in `f`, then every `k` bytes. `p`
//!   is unknown, but `a` is one of `0..k`: the block may match iff for **some** `a` **all**
//!   grams `f[a+jk..a+jk+k]` (with `a + jk + k <= m`) are present. An `a` whose first gram
//!   does not fit (`a + k > m`) needs nothing, so the answer is "may match"; hence a
//!   fragment shorter than `2k - 1` never prunes, and from `2k - 1` bytes on every
//!   alignment needs at least one gram.

use crate::terms::TermMatch;

/// The gram length of an index tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grams {
    k: usize,
}

impl Grams {
    pub(crate) fn new(k: usize) -> Grams {
        assert!(k >= 1, "grams of at least one byte");
        Grams { k }
    }

    /// Calls `f` with each key of token `t` (possibly the same key twice).
    pub(crate) fn keys(&self, t: &[u8], mut f: impl FnMut(&[u8])) {
        let (n, k) = (t.len(), self.k);
        if n <= k {
            f(t);
            return;
        }
        let mut i = 0;
        while i + k <= n {
            f(&t[i..i + k]);
            i += k;
        }
        if n % k != 0 {
            f(&t[n - k..]);
        }
    }

    /// Whether a set for which `has` answers membership (no false negatives) may hold the
    /// keys of a token satisfying `m` (see the module doc).
    pub(crate) fn may_match(&self, m: &TermMatch, has: &mut impl FnMut(&[u8]) -> bool) -> bool {
        let k = self.k;
        let f = m.fragment();
        let len = f.len();
        match m {
            TermMatch::Exact(_) => {
                let mut all = true;
                self.keys(f, |key| all = all && has(key));
                all
            }
            TermMatch::Prefix(_) => {
                if len < k {
                    return true;
                }
                (0..=len - k).step_by(k).all(|i| has(&f[i..i + k]))
            }
            TermMatch::Suffix(_) => {
                if len < k {
                    return true;
                }
                has(&f[len - k..]) && self.infix(f, has)
            }
            TermMatch::Infix(_) => self.infix(f, has),
        }
    }

    fn infix(&self, f: &[u8], has: &mut impl FnMut(&[u8]) -> bool) -> bool {
        let (m, k) = (f.len(), self.k);
        if m <= k {
            return true;
        }
        (0..k).any(|a| a + k > m || (a..=m - k).step_by(k).all(|i| has(&f[i..i + k])))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn set(g: Grams, tokens: &[&[u8]]) -> HashSet<Vec<u8>> {
        let mut s = HashSet::new();
        for t in tokens {
            g.keys(t, |key| {
                s.insert(key.to_vec());
            });
        }
        s
    }

    fn may(g: Grams, s: &HashSet<Vec<u8>>, m: &TermMatch) -> bool {
        g.may_match(m, &mut |key| s.contains(key))
    }

    #[test]
    fn keys_are_aligned_grams_and_the_tail() {
        let mut got = Vec::new();
        Grams::new(3).keys(b"password", |k| got.push(String::from_utf8(k.to_vec()).unwrap()));
        assert_eq!(got, ["pas", "swo", "ord"]);
        got.clear();
        Grams::new(3).keys(b"abcdef", |k| got.push(String::from_utf8(k.to_vec()).unwrap()));
        assert_eq!(got, ["abc", "def"]);
        got.clear();
        Grams::new(3).keys(b"id", |k| got.push(String::from_utf8(k.to_vec()).unwrap()));
        assert_eq!(got, ["id"]);
    }

    #[test]
    fn conditions_find_their_token_and_rule_out_others() {
        let g = Grams::new(3);
        let s = set(g, &[b"password", b"id", b"9afb2e53f18d12ab"]);
        let yes = [
            TermMatch::Exact(b"password".to_vec()),
            TermMatch::Exact(b"id".to_vec()),
            TermMatch::Prefix(b"passw".to_vec()),
            TermMatch::Suffix(b"sword".to_vec()),
            TermMatch::Infix(b"assword".to_vec()),
            TermMatch::Infix(b"2e53f18d1".to_vec()),
            // Too short to rule anything out.
            TermMatch::Infix(b"zebr".to_vec()),
            TermMatch::Prefix(b"zz".to_vec()),
        ];
        for m in &yes {
            assert!(may(g, &s, m), "{m}");
        }
        let no = [
            TermMatch::Exact(b"passwort".to_vec()),
            TermMatch::Exact(b"ix".to_vec()),
            TermMatch::Prefix(b"zebra".to_vec()),
            TermMatch::Suffix(b"words".to_vec()),
            TermMatch::Infix(b"zebra".to_vec()),
            TermMatch::Infix(b"2e53f18e1".to_vec()),
        ];
        for m in &no {
            assert!(!may(g, &s, m), "{m}");
        }
    }

    fn token() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b'1')],
            1..24,
        )
    }

    proptest! {
        /// Every condition a token really satisfies is answered "may match", for every gram
        /// length, every position of a fragment inside the token (so every alignment), and
        /// any other tokens beside it.
        #[test]
        fn a_satisfied_condition_is_never_ruled_out(
            tokens in proptest::collection::vec(token(), 1..6),
            pick in any::<prop::sample::Index>(),
            start in any::<prop::sample::Index>(),
            len in any::<prop::sample::Index>(),
            k in 1usize..9,
        ) {
            let g = Grams::new(k);
            let refs: Vec<&[u8]> = tokens.iter().map(Vec::as_slice).collect();
            let s = set(g, &refs);
            let t = pick.get(&tokens);
            let p = start.index(t.len());
            let m = 1 + len.index(t.len() - p);
            let f = t[p..p + m].to_vec();
            prop_assert!(may(g, &s, &TermMatch::Infix(f.clone())));
            if p == 0 {
                prop_assert!(may(g, &s, &TermMatch::Prefix(f.clone())));
            }
            if p + m == t.len() {
                prop_assert!(may(g, &s, &TermMatch::Suffix(f.clone())));
            }
            if p == 0 && m == t.len() {
                prop_assert!(may(g, &s, &TermMatch::Exact(f)));
            }
        }
    }
}
