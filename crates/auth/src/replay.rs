//! A window of recently seen signatures. A signed request is valid for the whole clock-skew
//! window; a transport that must not accept the same request twice (gRPC calls signed by the
//! CLI, which carry a random nonce) remembers each signature until it would have expired.

use std::collections::{HashSet, VecDeque};

use crate::{AuthError, Result};

/// Signatures seen in the last `window_s` seconds, at most `capacity` of them.
#[derive(Debug)]
pub struct ReplayGuard {
    window_s: i64,
    capacity: usize,
    seen: HashSet<String>,
    /// (expiry, signature) in arrival order; expiries grow with arrival up to clock skew, so
    /// expiring from the front is close enough (a signature is kept at least `window_s`).
    order: VecDeque<(i64, String)>,
}

impl ReplayGuard {
    /// A guard remembering signatures for `window_s` seconds, refusing new ones (as
    /// [`AuthError::Replayed`] cannot be told apart from a flood) once `capacity` are held.
    pub fn new(window_s: i64, capacity: usize) -> Self {
        ReplayGuard { window_s, capacity, seen: HashSet::new(), order: VecDeque::new() }
    }

    /// Records `signature` seen at `now_s`; refuses it if it was seen within the window.
    pub fn check(&mut self, signature: &str, now_s: i64) -> Result<()> {
        while let Some((expiry, _)) = self.order.front() {
            if *expiry > now_s {
                break;
            }
            let (_, sig) = self.order.pop_front().expect("front exists");
            self.seen.remove(&sig);
        }
        if self.seen.contains(signature) {
            return Err(AuthError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(AuthError::Malformed(
                "too many signed requests in the replay window; retry shortly".into(),
            ));
        }
        self.seen.insert(signature.to_owned());
        self.order.push_back((now_s + self.window_s, signature.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_repeats_within_the_window_only() {
        let mut g = ReplayGuard::new(10, 100);
        g.check("a", 0).unwrap();
        g.check("b", 5).unwrap();
        assert_eq!(g.check("a", 9), Err(AuthError::Replayed));
        g.check("a", 10).unwrap(); // a expired at 10
        assert_eq!(g.check("b", 14), Err(AuthError::Replayed));
        g.check("b", 15).unwrap();
    }

    #[test]
    fn is_bounded() {
        let mut g = ReplayGuard::new(10, 2);
        g.check("a", 0).unwrap();
        g.check("b", 0).unwrap();
        assert!(matches!(g.check("c", 1), Err(AuthError::Malformed(_))));
        g.check("c", 10).unwrap();
    }
}
