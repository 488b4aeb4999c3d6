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

proptest! {
    /// A pattern ending in its only `...` takes the one-scan path; the memoised backtracking
    /// search is the oracle, for matching and for the values bound.
    #[test]
    fn a_trailing_ellipsis_binds_as_the_backtracking_search_does(
        words in prop::collection::vec(
            prop::sample::select(vec!["INFO", "ERROR", "\"a b\"", "[x y]", "42", "7", "", "\t"]),
            0..7),
    ) {
        let message = words.join(" ");
        for pattern in ["[a, ...]", "[a, b, ...]", "[a=ERROR, b, c, ...]", "[a, b>10, ...]", "[...]"] {
            let p = FilterPattern::compile(pattern).unwrap();
            let Matcher::Delimited(d) = &p.inner.matcher else { unreachable!() };
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let got = d.run(&message, Some(&mut |i, v| fast.push((i, v))));
            let want = d.run_with_ellipsis(&message, Some(&mut |i, v| slow.push((i, v))));
            prop_assert_eq!(got, want, "{} on {:?}", pattern, message);
            prop_assert_eq!(fast, slow, "{} on {:?}", pattern, message);
        }
    }
}

#[test]
fn lent_fields_are_the_extracted_ones() {
    let p = FilterPattern::compile("[ip, user, ..., status=4*, bytes]").unwrap();
    assert_eq!(p.field_index("$status"), Some(3));
    assert_eq!(
        (p.field_index("$nope"), p.field_index("status"), p.field_index("$.ip")),
        (None, None, None)
    );
    let line = "1.2.3.4 bob x y 404 12";
    let mut lent = Vec::new();
    assert!(p.match_fields(line, &mut |i, v| lent.push((i, v.to_owned()))));
    let extracted = p.extract(line).unwrap();
    for (i, v) in &lent {
        let name = ["$ip", "$user", "", "$status", "$bytes"][*i];
        assert_eq!(extracted.get(name).as_deref(), Some(v.as_str()));
    }
    assert_eq!(lent.len(), extracted.len());
    assert!(!p.match_fields("1.2.3.4 bob 500 12", &mut |_, _| panic!("no match, nothing lent")));
    let json = FilterPattern::compile("{ $.a = 1 }").unwrap();
    assert_eq!(json.field_index("$a"), None);
    assert!(json.match_fields(r#"{"a": 1}"#, &mut |_, _| panic!("JSON lends nothing")));
}
