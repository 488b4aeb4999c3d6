//! Parsing a JSON message down to the paths a pattern reads.
//!
//! A JSON pattern only looks at a few selectors, so building a whole `serde_json::Value` (one
//! allocation per string, key and container) is wasted work. A [`Projection`] is the trie of
//! the pattern's selectors; deserialising through it keeps the values on those paths and
//! skips everything else with `serde::de::IgnoredAny`, which still validates the JSON, so a
//! malformed message fails exactly as with a full parse.
//!
//! The pruned tree is an ordinary `serde_json::Value` in which every selector resolves as it
//! would in the full document: objects keep only projected members, arrays keep their length
//! up to the last projected index (skipped elements become `null` placeholders, which no
//! selector reaches), scalars are kept,
//! and a container at the end of a selector is kept as an empty container of the same kind.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::json::Step;

/// The trie of selectors below one JSON node.
#[derive(Debug, Clone, Default)]
pub(crate) struct Projection {
    keys: Vec<(String, Projection)>,
    indexes: Vec<(usize, Projection)>,
    wildcard: Option<Box<Projection>>,
    /// Keep the whole subtree: set when a wildcard and named children meet at one node, where
    /// merging the tries is not worth the complexity.
    full: bool,
}

impl Projection {
    /// Adds the path of one selector.
    pub(crate) fn insert(&mut self, steps: &[Step]) {
        let Some((step, rest)) = steps.split_first() else { return };
        let child = match step {
            Step::Key(k) => match self.keys.iter().position(|(n, _)| n == k) {
                Some(i) => &mut self.keys[i].1,
                None => {
                    self.keys.push((k.clone(), Projection::default()));
                    &mut self.keys.last_mut().expect("just pushed").1
                }
            },
            Step::Index(i) => match self.indexes.iter().position(|(n, _)| n == i) {
                Some(p) => &mut self.indexes[p].1,
                None => {
                    self.indexes.push((*i, Projection::default()));
                    &mut self.indexes.last_mut().expect("just pushed").1
                }
            },
            Step::Wildcard => self.wildcard.get_or_insert_default(),
        };
        child.insert(rest);
        self.full = self.wildcard.is_some() && !(self.keys.is_empty() && self.indexes.is_empty());
    }

    /// Parses `message` keeping only the projected paths; `None` if it is not valid JSON.
    pub(crate) fn parse(&self, message: &str) -> Option<Json> {
        let mut de = serde_json::Deserializer::from_str(message);
        let doc = Pruned(self).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(doc)
    }

    fn key(&self, key: &str) -> Option<&Projection> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, p)| p).or(self.wildcard.as_deref())
    }

    fn index(&self, index: usize) -> Option<&Projection> {
        self.indexes.iter().find(|(i, _)| *i == index).map(|(_, p)| p).or(self.wildcard.as_deref())
    }
}

/// Deserialises one node through its projection.
struct Pruned<'p>(&'p Projection);

impl<'de> DeserializeSeed<'de> for Pruned<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        if self.0.full { serde::Deserialize::deserialize(d) } else { d.deserialize_any(self) }
    }
}

impl<'de> Visitor<'de> for Pruned<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        // Elements past the last projected index are skipped without a placeholder: no
        // selector can tell them apart from a shorter array.
        let keep = match self.0.wildcard {
            Some(_) => usize::MAX,
            None => self.0.indexes.iter().map(|(i, _)| i + 1).max().unwrap_or(0),
        };
        let mut items = Vec::new();
        loop {
            if items.len() >= keep {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Ok(Json::Array(items));
                }
                continue;
            }
            let item = match self.0.index(items.len()) {
                Some(p) => seq.next_element_seed(Pruned(p))?,
                None => seq.next_element::<IgnoredAny>()?.map(|_| Json::Null),
            };
            match item {
                Some(v) => items.push(v),
                None => return Ok(Json::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Some((name, p)) => {
                    let v = map.next_value_seed(Pruned(p))?;
                    members.insert(name, v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Json::Object(members))
    }
}

/// Reads an object key and decides, without allocating for skipped keys, whether its value
/// is projected.
struct KeySeed<'p>(&'p Projection);

impl<'de, 'p> DeserializeSeed<'de> for KeySeed<'p> {
    type Value = Option<(String, &'p Projection)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'p> Visitor<'_> for KeySeed<'p> {
    type Value = Option<(String, &'p Projection)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.key(v).map(|p| (v.to_owned(), p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::json::Selector;

    fn project(selectors: &[&str], message: &str) -> Option<Json> {
        let mut p = Projection::default();
        for s in selectors {
            p.insert(&Selector::parse_standalone(s).unwrap().steps);
        }
        p.parse(message)
    }

    #[test]
    fn keeps_only_projected_paths() {
        let msg =
            r#"{"a":{"b":1,"c":[1,2]},"d":[{"e":"x"},{"e":"y","f":true}],"g":"skip","h":null}"#;
        let doc = project(&["$.a.b", "$.d[1].e", "$.h", "$.a.c"], msg).unwrap();
        assert_eq!(doc, serde_json::json!({"a":{"b":1,"c":[]},"d":[null,{"e":"y"}],"h":null}));
        let doc = project(&["$.d[*].e"], msg).unwrap();
        assert_eq!(doc, serde_json::json!({"d":[{"e":"x"},{"e":"y"}]}));
        let doc = project(&["$.d[*].e", "$.d[0].f"], msg).unwrap();
        assert_eq!(doc["d"], serde_json::json!([{"e":"x"},{"e":"y","f":true}]));
        let doc = project(&["$.*"], r#"{"a":{"b":1},"c":2}"#).unwrap();
        assert_eq!(doc, serde_json::json!({"a":{},"c":2}));
    }

    #[test]
    fn rejects_invalid_json() {
        for msg in [r#"{"a":1"#, r#"{"a":1} x"#, r#"{"a":tru}"#, r#"{"g":"\x"}"#, "{'a':1}"] {
            assert_eq!(project(&["$.a"], msg), None, "{msg}");
        }
    }
}
