//! Paging tokens of GetLogEvents and FilterLogEvents, bound to the request that issued them.
//!
//! A token carries a storage [`Position`] and an HMAC-SHA256 tag over that position and the
//! token's [`Scope`]: the operation, the group and the streams read. A token presented with a
//! different operation, group or stream selection, or edited by hand, fails the tag check and
//! is refused, so one group's token can never read another group's events from that position.
//! The key is drawn at random per server process: after a restart old tokens are refused with
//! a clear message and the client starts its paging again (CloudWatch's tokens expire too).

use hmac::{Hmac, Mac};
use logsight_storage::{Direction, Position};
use sha2::Sha256;

use crate::error::{ServiceError, shown};

/// The bytes of the tag kept in a token (128 bits).
const TAG_BYTES: usize = 16;
/// The token format's version, first in every token.
const VERSION: &str = "v2";

/// What a token is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    parts: Vec<String>,
}

/// Which streams of its group a FilterLogEvents call reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streams<'a> {
    /// Every stream.
    All,
    /// Streams with these names (order and repeats do not matter).
    Names(&'a [String]),
    /// Streams whose names start with this prefix.
    Prefix(&'a str),
}

impl Scope {
    /// GetLogEvents on one stream.
    pub fn get_events(group: &str, stream: &str) -> Self {
        Scope { parts: vec!["GetLogEvents".into(), group.into(), stream.into()] }
    }

    /// FilterLogEvents on a group's streams.
    pub fn filter_events(group: &str, streams: Streams<'_>) -> Self {
        let mut parts = vec!["FilterLogEvents".to_owned(), group.to_owned()];
        match streams {
            Streams::All => parts.push("all".into()),
            Streams::Prefix(p) => parts.extend(["prefix".into(), p.to_owned()]),
            Streams::Names(names) => {
                let mut names = names.to_vec();
                names.sort();
                names.dedup();
                parts.push("names".into());
                parts.extend(names);
            }
        }
        Scope { parts }
    }
}

/// Issues and checks tokens with one key.
pub struct TokenKey {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key drawn from the operating system's random source.
    pub fn random() -> Self {
        TokenKey { key: rand::random() }
    }

    /// A fixed key, for tests.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        TokenKey { key }
    }

    fn tag(&self, scope: &Scope, body: &str) -> [u8; TAG_BYTES] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key size");
        // Length-prefixed, so no two scopes encode alike.
        for part in scope.parts.iter().map(String::as_str).chain([body]) {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_BYTES];
        tag.copy_from_slice(&full[..TAG_BYTES]);
        tag
    }

    /// The token for continuing at `pos` within `scope`.
    pub fn issue(&self, scope: &Scope, pos: Position) -> String {
        let d = match pos.direction {
            Direction::Forward => 'f',
            Direction::Backward => 'b',
        };
        let body = format!("{VERSION}.{d}.{}.{}.{}", pos.timestamp, pos.stream, pos.ordinal);
        let tag: String = self.tag(scope, &body).iter().map(|b| format!("{b:02x}")).collect();
        format!("{body}.{tag}")
    }

    /// The position in `token`, if this key issued it for `scope`.
    pub fn open(&self, scope: &Scope, token: &str) -> Result<Position, ServiceError> {
        let malformed = || ServiceError::invalid(format!("invalid next_token {:?}", shown(token)));
        let (body, tag) = token.rsplit_once('.').ok_or_else(malformed)?;
        let tag = parse_hex(tag).ok_or_else(malformed)?;
        let mut fields = body.split('.');
        let (Some(VERSION), Some(d), Some(ts), Some(stream), Some(ordinal), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(malformed());
        };
        let direction = match d {
            "f" => Direction::Forward,
            "b" => Direction::Backward,
            _ => return Err(malformed()),
        };
        let timestamp = ts.parse().map_err(|_| malformed())?;
        let stream = stream.parse().map_err(|_| malformed())?;
        let ordinal = ordinal.parse().map_err(|_| malformed())?;
        if !constant_time_eq(&self.tag(scope, body), &tag) {
            return Err(ServiceError::invalid(format!(
                "invalid next_token {:?}: it was not issued for this operation, log group and \
                 streams, or by this server process (tokens do not survive a restart)",
                shown(token)
            )));
        }
        Ok(Position { direction, timestamp, stream, ordinal })
    }
}

fn parse_hex(s: &str) -> Option<[u8; TAG_BYTES]> {
    if s.len() != TAG_BYTES * 2 || !s.is_ascii() {
        return None;
    }
    let mut out = [0; TAG_BYTES];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8; TAG_BYTES], b: &[u8; TAG_BYTES]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(d: Direction, timestamp: i64, ordinal: u64) -> Position {
        Position { direction: d, timestamp, stream: 4, ordinal }
    }

    #[test]
    fn a_token_opens_only_in_its_scope() {
        let key = TokenKey::from_bytes([7; 32]);
        let here = Scope::get_events("g", "s");
        let p = pos(Direction::Backward, -5, 3);
        let t = key.issue(&here, p);
        assert!(t.starts_with("v2.b.-5.4.3."), "{t}");
        assert_eq!(key.open(&here, &t), Ok(p));
        let others = [
            Scope::get_events("g2", "s"),
            Scope::get_events("g", "s2"),
            Scope::filter_events("g", Streams::All),
            Scope::filter_events("g", Streams::Names(&["s".into()])),
            // Concatenation can not make two scopes alike.
            Scope::get_events("gs", ""),
        ];
        for other in &others {
            let e = key.open(other, &t).unwrap_err();
            assert!(e.to_string().contains("not issued for this operation"), "{e}");
        }
        // Another process's key refuses it too.
        assert!(TokenKey::from_bytes([8; 32]).open(&here, &t).is_err());
    }

    #[test]
    fn stream_names_bind_as_a_set() {
        let key = TokenKey::from_bytes([1; 32]);
        let ab = ["a".to_owned(), "b".to_owned()];
        let ba = ["b".to_owned(), "a".to_owned(), "a".to_owned()];
        let t = key
            .issue(&Scope::filter_events("g", Streams::Names(&ab)), pos(Direction::Forward, 1, 1));
        assert!(key.open(&Scope::filter_events("g", Streams::Names(&ba)), &t).is_ok());
        assert!(key.open(&Scope::filter_events("g", Streams::Prefix("a")), &t).is_err());
        assert!(key.open(&Scope::filter_events("g", Streams::Names(&ab[..1])), &t).is_err());
    }

    #[test]
    fn an_edited_token_is_refused() {
        let key = TokenKey::from_bytes([2; 32]);
        let scope = Scope::filter_events("g", Streams::All);
        let t = key.issue(&scope, pos(Direction::Forward, 100, 0));
        let moved = t.replacen("v2.f.100.", "v2.f.99.", 1);
        assert!(key.open(&scope, &moved).is_err());
        let old = ["v1.f.1.2.00", "v2.f.1.2", "v2.x.1.2.3.00", "v2.f.a.2.3.00"];
        for junk in ["", "f/1/2/3", &t[..t.len() - 1]].into_iter().chain(old) {
            let e = key.open(&scope, junk).unwrap_err();
            assert!(e.to_string().starts_with("invalid next_token"), "{junk}: {e}");
        }
    }

    #[test]
    fn a_huge_token_is_not_echoed() {
        let key = TokenKey::from_bytes([3; 32]);
        let huge = "x".repeat(1 << 20);
        let e = key.open(&Scope::get_events("g", "s"), &huge).unwrap_err().to_string();
        assert!(e.len() < 200, "{} bytes", e.len());
    }
}
