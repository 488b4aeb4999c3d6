//! Internal properties; the reference tables live in `query-lang/tests/filter_pattern.rs`.

use proptest::prelude::*;
use serde_json::Value as Json;

use super::{FilterPattern, Matcher};

/// Small JSON documents over the keys and values the patterns below read.
fn json_doc() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-3i64..300).prop_map(Json::from),
        prop::sample::select(vec!["x", "v2", "503", "/api/a", ""]).prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "k.k", "n"]),
                inner,
                0..4
            )
            .prop_map(|m| Json::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

const PATTERNS: &[&str] = &[
    "{ $.a = x || $.b[1] > 2 }",
    "{ $.a.b NOT EXISTS && $.n IS NULL }",
    "{ $.a[*] = %v.% || $.a[0].b IS TRUE }",
    "{ $.['k.k'][2] NOT EXISTS || $.b.* != 503 }",
    "{ $.a.n = * && $.b = \"/api/*\" || $.a[3] IS FALSE }",
    "{ $.* = 503 || $.n[*].a >= 1e2 }",
    "{ $.a = x && $.b = \"/api/*\" }",
    "{ $.a = true && $.n = *v2 }",
];

proptest! {
    /// The projected parse decides every pattern exactly as the full document does.
    #[test]
    fn projection_agrees_with_full_parse(doc in json_doc()) {
        // Also with every `/` escaped, which JSON allows and the literal pre-filter must survive.
        for text in [doc.to_string(), doc.to_string().replace('/', "\\/")] {
        for pattern in PATTERNS {
            let p = FilterPattern::compile(pattern).unwrap();
            let Matcher::Json(j) = &p.inner.matcher else { unreachable!() };
            let full = doc.is_object() || doc.is_array();
            let expected = full && j.eval(&doc);
            prop_assert_eq!(p.matches(&text), expected, "{} on {}", pattern, text);
        }
        }
    }
}

#[test]
fn regexes_are_counted_in_every_form() {
    for (pattern, n) in [
        ("ERROR", 0),
        ("%ERR[0-9]% %WARN%", 2),
        ("{ $.a = %x% }", 1),
        ("[ip=%127\\.0%, user, bytes]", 1),
        ("[a, b]", 0),
    ] {
        assert_eq!(super::compile(pattern).unwrap().regex_count(), n, "{pattern}");
    }
}
