//! Property tests: compiling never panics, matching agrees with extraction, and the fast
//! unstructured matcher agrees with a naive tokenizing oracle.

use logsight_query_lang::pattern::FilterPattern;
use proptest::prelude::*;

/// Characters that exercise every form of the grammar.
const GRAMMAR: &[char] = &[
    '{', '}', '[', ']', '(', ')', '$', '.', '%', '*', '=', '!', '<', '>', '&', '|', '?', '-', '"',
    '\'', '\\', ',', ' ', 'a', 'b', '1', 'e', 'I', 'S', 'N', 'O', 'T', 'x', '^', '+', '0', 'é',
];

fn grammar_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(GRAMMAR), 0..max)
        .prop_map(|cs| cs.into_iter().collect())
}

/// Near-valid patterns: a valid skeleton with random pieces spliced in.
fn near_valid() -> impl Strategy<Value = String> {
    let skeletons = prop::sample::select(vec![
        "{ $.a = 1 && $.b[0] != \"x*\" || ($.c > 1e3) }",
        "[a, b = 4*, ..., c > 10 || c = %x[0-9]+%]",
        "ERROR ?WARN -DEBUG \"exact phrase\" %ab{2,3}c%",
        "{ $.['k.k'][*] = %v.{2}% && $.n IS NULL || $.m NOT EXISTS }",
    ]);
    (skeletons, 0usize..60, grammar_string(6)).prop_map(|(s, at, junk)| {
        let mut at = at.min(s.len());
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        format!("{}{}{}", &s[..at], junk, &s[at..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compile_never_panics(pattern in any::<String>()) {
        let _ = FilterPattern::compile(&pattern);
    }

    #[test]
    fn grammar_soup_never_panics(pattern in grammar_string(40), message in grammar_string(40)) {
        check_total(&pattern, &message);
    }

    #[test]
    fn near_valid_never_panics(pattern in near_valid(), message in grammar_string(60)) {
        check_total(&pattern, &message);
    }
}

/// Compiling either succeeds, and then matching and extracting agree on any message, or fails
/// with an offset inside the pattern and a renderable error.
fn check_total(pattern: &str, message: &str) {
    match FilterPattern::compile(pattern) {
        Ok(p) => {
            for m in [message, "{\"a\":1,\"b\":[\"x\"],\"c\":2000,\"n\":null}", "a b 40 x 12"] {
                assert_eq!(p.matches(m), p.extract(m).is_some(), "{pattern:?} on {m:?}");
                assert!(!p.matches(m) || p.literal_hint().admits(m), "{pattern:?} hint on {m:?}");
            }
        }
        Err(e) => {
            assert!(
                e.offset <= pattern.chars().count(),
                "{pattern:?}: offset {} past the end",
                e.offset
            );
            let _ = e.render(pattern);
        }
    }
}

#[derive(Debug, Clone)]
enum Role {
    Plain,
    Optional,
    Excluded,
}

#[derive(Debug, Clone)]
enum Item {
    Word(String),
    Phrase(String),
}

fn item() -> impl Strategy<Value = (Role, Item)> {
    let role =
        prop_oneof![3 => Just(Role::Plain), 2 => Just(Role::Optional), 1 => Just(Role::Excluded)];
    let word = prop::sample::select(vec!["a", "b", "ab", "ba", "A", "1", "a1", "é", "ab1"])
        .prop_map(|w| Item::Word(w.to_owned()));
    let phrase = "[ab1 .é-]{1,4}"
        .prop_filter("blank phrases match everything", |p| !p.trim().is_empty())
        .prop_map(Item::Phrase);
    (role, prop_oneof![3 => word, 1 => phrase])
}

fn render(items: &[(Role, Item)]) -> String {
    items
        .iter()
        .map(|(role, item)| {
            let sign = match role {
                Role::Plain => "",
                Role::Optional => "?",
                Role::Excluded => "-",
            };
            match item {
                Item::Word(w) => format!("{sign}{w}"),
                Item::Phrase(p) => format!("{sign}\"{p}\""),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The naive reference: tokenize the message into maximal runs of letters and digits; a word
/// matches if it equals a token, a phrase if it is a substring.
fn oracle(items: &[(Role, Item)], message: &str) -> bool {
    let tokens: Vec<&str> =
        message.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
    let hit = |item: &Item| match item {
        Item::Word(w) => tokens.contains(&w.as_str()),
        Item::Phrase(p) => message.contains(p.as_str()),
    };
    let plain: Vec<&Item> =
        items.iter().filter(|(r, _)| matches!(r, Role::Plain)).map(|(_, i)| i).collect();
    let optional: Vec<&Item> =
        items.iter().filter(|(r, _)| matches!(r, Role::Optional)).map(|(_, i)| i).collect();
    let excluded = items.iter().filter(|(r, _)| matches!(r, Role::Excluded)).any(|(_, i)| hit(i));
    let included = if plain.is_empty() {
        optional.is_empty() || optional.iter().any(|i| hit(i))
    } else {
        plain.iter().all(|i| hit(i))
    };
    included && !excluded
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn terms_agree_with_oracle(
        items in prop::collection::vec(item(), 0..4),
        message in "[ab1Aé .\\-_\\[\\]]{0,24}",
    ) {
        let pattern = render(&items);
        let p = FilterPattern::compile(&pattern).unwrap();
        prop_assert_eq!(p.matches(&message), oracle(&items, &message), "pattern {:?} on {:?}", pattern, message);
        // The literal hint is a necessary condition: it admits every matching message.
        prop_assert!(!p.matches(&message) || p.literal_hint().admits(&message), "hint of {:?} on {:?}", pattern, message);
    }

    #[test]
    fn regex_hints_admit_every_match(
        re in "[ab1.|^$*+?]{1,6}|[ab]{1,3}\\[ab1\\]\\d?[ab]?|[ab]{1,2}\\{1,2\\}[b1]",
        plain in prop::option::of(prop::sample::select(vec!["a", "ab", "b1"])),
        message in "[ab1 .]{0,20}",
    ) {
        let pattern = match plain {
            Some(word) => format!("{word} %{re}%"),
            None => format!("%{re}%"),
        };
        if let Ok(p) = FilterPattern::compile(&pattern) {
            prop_assert!(!p.matches(&message) || p.literal_hint().admits(&message), "hint of {:?} on {:?}: {:?}", pattern, message, p.literal_hint());
        }
    }
}
