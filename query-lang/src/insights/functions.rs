//! The function registry: every function of the Logs Insights language, with its arity.
//!
//! The parser uses it to reject unknown names (with a "did you mean" hint) and wrong argument
//! counts, and to give calls their canonical spelling; names match case-insensitively. The
//! planner uses [`Function::kind`] to tell aggregations from per-row functions.

use std::cmp::Ordering;

/// Whether a function works per row or over a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    /// Computed per row; allowed anywhere.
    Scalar,
    /// Computed over the rows of a `stats` group.
    Aggregate,
}

/// The documentation group a function belongs to (reference §1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionGroup {
    /// §1.5.1: `abs`, `round`, `toNumber`, ...
    Numeric,
    /// §1.5.2: `ispresent`, `coalesce`, `if`, ...
    General,
    /// §1.5.3: `concat`, `substr`, `regexReplace`, ...
    String,
    /// §1.5.4: `jsonParse`, `jsonStringify`, ...
    Json,
    /// §1.5.5: `bin`, `datefloor`, `fromMillis`, ...
    Datetime,
    /// §1.5.6: `isValidIp`, `isIpInSubnet`, ...
    Ip,
    /// §1.5.7: `md5`, `sha256`.
    Hashing,
    /// §1.5.8: `count`, `avg`, `pct`, `earliest`, ...
    Aggregation,
    /// §1.5.8 (time series): `rate`, `histogram`, ...
    TimeSeries,
}

/// One entry of the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// Canonical spelling.
    pub name: &'static str,
    /// Per row or per group.
    pub kind: FunctionKind,
    /// Documentation group.
    pub group: FunctionGroup,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments; `None` for variadic functions.
    pub max_args: Option<usize>,
}

impl Function {
    /// Returns true if `*` may be the sole argument (`count(*)`).
    pub fn accepts_star(&self) -> bool {
        self.name == "count"
    }

    /// Returns true if `n` arguments are allowed.
    pub fn accepts_arity(&self, n: usize) -> bool {
        n >= self.min_args && self.max_args.is_none_or(|max| n <= max)
    }

    /// Describes the allowed argument counts: "1 argument", "1 or 2 arguments", ...
    pub fn arity_text(&self) -> String {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        match (self.min_args, self.max_args) {
            (0, Some(0)) => "no arguments".to_string(),
            (min, Some(max)) if min == max => format!("{min} {}", plural(min)),
            (min, Some(max)) if min + 1 == max => format!("{min} or {max} arguments"),
            (min, Some(max)) => format!("{min} to {max} arguments"),
            (min, None) => format!("at least {min} {}", plural(min)),
        }
    }
}

const fn f(
    name: &'static str,
    kind: FunctionKind,
    group: FunctionGroup,
    min_args: usize,
    max_args: Option<usize>,
) -> Function {
    Function { name, kind, group, min_args, max_args }
}

const fn scalar(name: &'static str, group: FunctionGroup, min: usize, max: usize) -> Function {
    f(name, FunctionKind::Scalar, group, min, Some(max))
}

const fn variadic(name: &'static str, group: FunctionGroup, min: usize) -> Function {
    f(name, FunctionKind::Scalar, group, min, None)
}

const fn agg(name: &'static str, group: FunctionGroup, min: usize, max: usize) -> Function {
    f(name, FunctionKind::Aggregate, group, min, Some(max))
}

use FunctionGroup::{
    Aggregation, Datetime, General, Hashing, Ip, Json, Numeric, String as Str, TimeSeries,
};

/// Every function, sorted by lowercase name (a unit test checks the order).
pub static FUNCTIONS: &[Function] = &[
    scalar("abs", Numeric, 1, 1),
    agg("avg", Aggregation, 1, 1),
    scalar("base64decode", Str, 1, 1),
    scalar("base64encode", Str, 1, 1),
    scalar("bin", Datetime, 1, 1),
    // At most 10 condition/value pairs plus a default.
    scalar("case", General, 2, 21),
    scalar("ceil", Numeric, 1, 1),
    variadic("coalesce", General, 1),
    variadic("concat", Str, 1),
    // `count()`, `count(*)` and `count(field)`.
    agg("count", Aggregation, 0, 1),
    agg("count_distinct", Aggregation, 1, 1),
    // The English reference spells the time-series functions in snake case, the others in
    // camel case: both are accepted.
    agg("count_over_time", TimeSeries, 1, 1),
    agg("countOverTime", TimeSeries, 1, 1),
    scalar("dateceil", Datetime, 2, 2),
    scalar("datefloor", Datetime, 2, 2),
    scalar("decToHex", Str, 1, 1),
    agg("earliest", Aggregation, 1, 1),
    scalar("endsWith", Str, 2, 2),
    scalar("floor", Numeric, 1, 1),
    scalar("formatDate", Datetime, 2, 3),
    scalar("fromMillis", Datetime, 1, 1),
    variadic("greatest", Numeric, 1),
    scalar("haversine", Numeric, 4, 4),
    scalar("hexToAscii", Str, 1, 1),
    scalar("hexToDec", Str, 1, 1),
    agg("histogram", TimeSeries, 2, 2),
    scalar("if", General, 3, 3),
    scalar("ipv4ToNumber", Ip, 1, 1),
    scalar("isblank", Str, 1, 1),
    scalar("isempty", Str, 1, 1),
    scalar("isIpInSubnet", Ip, 2, 2),
    scalar("isIpv4InSubnet", Ip, 2, 2),
    scalar("isIpv6InSubnet", Ip, 2, 2),
    scalar("isNumeric", General, 1, 1),
    scalar("ispresent", General, 1, 1),
    scalar("isPrivateIP", Ip, 1, 1),
    scalar("isPublicIP", Ip, 1, 1),
    scalar("isReservedIP", Ip, 1, 1),
    scalar("isValidIp", Ip, 1, 1),
    scalar("isValidIpV4", Ip, 1, 1),
    scalar("isValidIpV6", Ip, 1, 1),
    scalar("jsonArrayContains", Json, 2, 2),
    scalar("jsonArraySize", Json, 1, 1),
    scalar("jsonParse", Json, 1, 1),
    scalar("jsonStringify", Json, 1, 1),
    agg("latest", Aggregation, 1, 1),
    variadic("least", Numeric, 1),
    scalar("log", Numeric, 1, 1),
    scalar("ltrim", Str, 1, 2),
    agg("max", Aggregation, 1, 1),
    scalar("md5", Hashing, 1, 1),
    scalar("messageSize", General, 1, 1),
    agg("min", Aggregation, 1, 1),
    scalar("now", Datetime, 0, 0),
    scalar("parseDate", Datetime, 2, 3),
    agg("pct", Aggregation, 2, 2),
    scalar("queryEndTime", General, 0, 0),
    scalar("queryStartTime", General, 0, 0),
    scalar("queryTimeRange", General, 0, 0),
    agg("rate", TimeSeries, 1, 2),
    scalar("regexReplace", Str, 3, 3),
    scalar("replace", Str, 3, 3),
    scalar("round", Numeric, 1, 2),
    scalar("rtrim", Str, 1, 2),
    scalar("sha256", Hashing, 1, 1),
    agg("sortsFirst", Aggregation, 1, 1),
    agg("sortsLast", Aggregation, 1, 1),
    scalar("split", Str, 2, 2),
    scalar("sqrt", Numeric, 1, 1),
    scalar("startsWith", Str, 2, 2),
    agg("stddev", Aggregation, 1, 1),
    scalar("strcontains", Str, 2, 3),
    // Alias of `formatDate`.
    scalar("strftime", Datetime, 2, 3),
    scalar("strlen", Str, 1, 1),
    scalar("substr", Str, 2, 3),
    agg("sum", Aggregation, 1, 1),
    agg("sum_over_time", TimeSeries, 1, 1),
    agg("sumOverTime", TimeSeries, 1, 1),
    scalar("toDouble", Numeric, 1, 1),
    scalar("toInt", Numeric, 1, 1),
    scalar("toLong", Numeric, 1, 1),
    scalar("tolower", Str, 1, 1),
    scalar("toMillis", Datetime, 1, 1),
    scalar("toNumber", Numeric, 1, 1),
    scalar("toupper", Str, 1, 1),
    scalar("trim", Str, 1, 2),
    scalar("urldecode", Str, 1, 1),
    scalar("urlencode", Str, 1, 1),
];

fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Looks a function up by name, ignoring ASCII case.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|entry| cmp_ignore_case(entry.name, name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

/// Returns the known function whose name is closest to `name`, if one is close enough to be
/// a plausible typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    closest(name, FUNCTIONS.iter().map(|entry| entry.name))
}

/// Returns the candidate closest to `name` by edit distance (ignoring case), if the distance
/// is small for the word's length: 1 for words of up to 4 letters, else 2.
pub(crate) fn closest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let name = name.to_ascii_lowercase();
    let limit = if name.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so `coutn`
/// is one edit away from `count`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for transpositions), previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_sorted_and_unique() {
        for pair in FUNCTIONS.windows(2) {
            assert_eq!(cmp_ignore_case(pair[0].name, pair[1].name), Ordering::Less, "{pair:?}");
        }
    }

    #[test]
    fn every_entry_is_found_by_any_case() {
        for entry in FUNCTIONS {
            assert_eq!(lookup(entry.name), Some(entry));
            assert_eq!(lookup(&entry.name.to_uppercase()), Some(entry));
        }
        assert_eq!(lookup("nosuch"), None);
    }

    #[test]
    fn edit_distances() {
        let cases = [
            ("", "", 0),
            ("count", "count", 0),
            ("coutn", "count", 1),
            ("cont", "count", 1),
            ("abc", "", 3),
            ("kitten", "sitting", 3),
        ];
        for (a, b, d) in cases {
            assert_eq!(edit_distance(a, b), d, "{a} / {b}");
        }
    }

    #[test]
    fn suggestions() {
        let cases = [
            ("coutn", Some("count")),
            ("COUTN", Some("count")),
            ("tomilis", Some("toMillis")),
            ("jsonparse", Some("jsonParse")),
            ("avgg", Some("avg")),
            ("frobnicate", None),
            ("xy", None),
        ];
        for (name, expected) in cases {
            assert_eq!(suggest(name), expected, "{name}");
        }
    }

    #[test]
    fn arity_texts() {
        let text = |name| lookup(name).map(Function::arity_text);
        assert_eq!(text("now").as_deref(), Some("no arguments"));
        assert_eq!(text("abs").as_deref(), Some("1 argument"));
        assert_eq!(text("round").as_deref(), Some("1 or 2 arguments"));
        assert_eq!(text("case").as_deref(), Some("2 to 21 arguments"));
        assert_eq!(text("concat").as_deref(), Some("at least 1 argument"));
    }
}
