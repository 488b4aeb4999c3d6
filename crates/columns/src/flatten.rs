//! CloudWatch's JSON flattening (reference §1.6), the one copy: the engine's discovery and the
//! column builder both walk a message through it, so the two can never disagree.

use serde_json::{Map, Value};

/// At most this many fields are extracted from one JSON event (§1.6).
pub const MAX_JSON_FIELDS: usize = 200;

/// The message's top-level JSON object, when it is one (leading whitespace allowed).
pub fn parse_object(message: &str) -> Option<Map<String, Value>> {
    let text = message.trim_start();
    if !text.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Calls `visit(name, leaf)` for each leaf of `object`, in the map's key order, at most
/// [`MAX_JSON_FIELDS`] times: nested keys joined with `.`, array elements as index segments
/// (`items.0.id`), and a top-level key starting with `@` shown with a second `@`. Empty objects
/// and arrays have no leaves; a string holding JSON is a leaf.
pub fn flatten<'a>(object: &'a Map<String, Value>, mut visit: impl FnMut(&str, &'a Value)) {
    let mut path = String::new();
    let mut extracted = 0;
    for (k, v) in object {
        path.clear();
        if k.starts_with('@') {
            path.push('@');
        }
        path.push_str(k);
        walk(v, &mut path, &mut extracted, &mut visit);
    }
}

fn walk<'a>(
    v: &'a Value,
    path: &mut String,
    extracted: &mut usize,
    visit: &mut impl FnMut(&str, &'a Value),
) {
    if *extracted >= MAX_JSON_FIELDS {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                walk(child, path, extracted, visit);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = path.len();
                path.push('.');
                path.push_str(&i.to_string());
                walk(child, path, extracted, visit);
                path.truncate(len);
            }
        }
        leaf => {
            *extracted += 1;
            visit(path, leaf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(message: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(obj) = parse_object(message) {
            flatten(&obj, |k, v| out.push((k.to_owned(), v.to_string())));
        }
        out.sort();
        out
    }

    #[test]
    fn dots_arrays_and_at_keys() {
        let got = leaves(r#"  {"a":{"b":1,"c":[true,{"d":null}]},"@x":"s","e":{},"f":[]}"#);
        let want = [("@@x", "\"s\""), ("a.b", "1"), ("a.c.0", "true"), ("a.c.1.d", "null")];
        let want: Vec<(String, String)> =
            want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn json_strings_are_leaves_and_non_objects_have_none() {
        assert_eq!(leaves(r#"{"j":"{\"k\":1}"}"#), [("j".to_string(), r#""{\"k\":1}""#.into())]);
        for text in ["[1,2]", "plain text", "{broken", "", "\"s\""] {
            assert!(leaves(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn at_most_200_fields() {
        let body: Vec<String> = (0..250).map(|i| format!("\"k{i}\":{i}")).collect();
        let got = leaves(&format!("{{{}}}", body.join(",")));
        assert_eq!(got.len(), MAX_JSON_FIELDS);
        // Nested leaves count too, and the cut holds across levels.
        let nested: Vec<String> = (0..150).map(|i| format!("\"n{i}\":[{i},{i}]")).collect();
        let got = leaves(&format!("{{{}}}", nested.join(",")));
        assert_eq!(got.len(), MAX_JSON_FIELDS);
        // Both elements of an array are kept or cut together only at the 200th leaf.
        assert!(got.iter().all(|(k, _)| k.starts_with('n') && k.contains('.')));
    }
}
