//! Property tests: printing then parsing gives back the tree, for generated trees; and no
//! input, however broken, makes the parser panic.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::functions::FUNCTIONS;
use super::*;

/// Names: mostly plain identifiers, sometimes keywords or text that needs backticks.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
        1 => "[0-9][a-z0-9]{0,2}",
        1 => select(vec!["and", "OR", "not", "in", "like", "with", "as", "by", "desc", "into", "for", "multi", "logfmt", "csv", "offset", "any"]).prop_map(String::from),
        1 => "[a-z@. :`é#|()-]{1,5}",
    ]
}

fn field() -> impl Strategy<Value = Field> {
    let first = prop_oneof![
        3 => segment(),
        1 => segment().prop_map(|s| format!("@{s}")),
        1 => Just("@".to_string()),
    ];
    (first, vec(segment(), 0..3)).prop_map(|(first, rest)| {
        let mut segments = vec![first];
        segments.extend(rest);
        Field(segments)
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 *=_.-]{0,8}",
        1 => vec(any::<char>(), 0..8).prop_map(String::from_iter),
        1 => select(vec!["\\", "\\d", "\\\\", "\"", "'", "\\'", "a\\", "\n\t\r"]).prop_map(String::from),
    ]
}

fn regex() -> impl Strategy<Value = Regex> {
    select(vec![
        "a",
        "(?i)Exception",
        "2\\d\\d",
        "^(?<user>\\w+)@(?<host>\\S+)$",
        "a\\/b",
        "x|y*",
        "é+",
    ])
    .prop_map(|p| Regex { pattern: p.to_string() })
}

fn period() -> impl Strategy<Value = Period> {
    (any::<u64>(), select(TimeUnit::ALL.to_vec()))
        .prop_map(|(amount, unit)| Period { amount, unit })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<u64>().prop_map(Literal::Int),
        (0u64..1000).prop_map(Literal::Int),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| Literal::Float(x.abs())),
        (0.0f64..100.0).prop_map(Literal::Float),
        text().prop_map(Literal::String),
        period().prop_map(Literal::Period),
    ]
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop_oneof![text().prop_map(Pattern::String), regex().prop_map(Pattern::Regex)]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    select(vec![
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::NotEq,
        BinaryOp::Lt,
        BinaryOp::LtEq,
        BinaryOp::Gt,
        BinaryOp::GtEq,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
        BinaryOp::Pow,
    ])
}

fn leaf_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![field().prop_map(Expr::Field), literal().prop_map(Expr::Literal)]
}

/// A small query to use as a subquery: commands without expressions, so the recursion
/// stays in [`expr`].
fn simple_query() -> impl Strategy<Value = Query> {
    vec(
        prop_oneof![
            vec(field(), 1..3).prop_map(Command::Display),
            field().prop_map(Command::Pattern),
            Just(Command::Unmask),
            (any::<bool>(), any::<u64>())
                .prop_map(|(any, rows)| Command::Limit(Limit { any, rows })),
        ],
        1..3,
    )
    .prop_map(|commands| Query { commands })
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf_expr().prop_recursive(4, 48, 4, |inner| {
        let call = select(FUNCTIONS.to_vec()).prop_flat_map({
            let inner = inner.clone();
            move |f| {
                let most = f.max_args.unwrap_or(f.min_args + 2).min(f.min_args + 2);
                vec(inner.clone(), f.min_args..=most)
                    .prop_map(move |args| Expr::Call(Call { name: f.name.to_string(), args }))
            }
        });
        let boxed = |e: Expr| Box::new(e);
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Expr::List),
            call,
            Just(Expr::Call(Call { name: "count".into(), args: vec![Expr::Star] })),
            (select(vec![UnaryOp::Neg, UnaryOp::Not]), inner.clone())
                .prop_map(move |(op, e)| Expr::Unary { op, expr: boxed(e) }),
            (binary_op(), inner.clone(), inner.clone()).prop_map(move |(op, l, r)| Expr::Binary {
                op,
                lhs: boxed(l),
                rhs: boxed(r)
            }),
            (
                inner.clone(),
                select(vec![MatchOp::Like, MatchOp::NotLike, MatchOp::RegexMatch]),
                pattern()
            )
                .prop_map(move |(e, op, pattern)| Expr::Match {
                    expr: boxed(e),
                    op,
                    pattern
                }),
            (inner.clone(), any::<bool>(), vec(inner.clone(), 0..3)).prop_map(
                move |(e, negated, items)| Expr::In {
                    expr: boxed(e),
                    negated,
                    set: InSet::List(items)
                }
            ),
            (inner.clone(), any::<bool>(), simple_query()).prop_map(move |(e, negated, q)| {
                Expr::In { expr: boxed(e), negated, set: InSet::Subquery(Box::new(q)) }
            }),
            (inner.clone(), segment())
                .prop_map(move |(base, key)| Expr::Member { base: boxed(base), key }),
            (inner.clone(), inner).prop_map(move |(base, index)| Expr::Index {
                base: boxed(base),
                index: boxed(index)
            }),
        ]
    })
}

fn projection() -> impl Strategy<Value = Projection> {
    (expr(), proptest::option::of(field())).prop_map(|(expr, alias)| Projection { expr, alias })
}

fn named_arg() -> impl Strategy<Value = NamedArg> {
    ("[a-zA-Z_][a-zA-Z0-9_]{0,6}", expr()).prop_map(|(name, value)| NamedArg { name, value })
}

fn parse_command() -> impl Strategy<Value = Command> {
    let glob = (vec(field(), 1..4), vec(text(), 4)).prop_map(|(aliases, texts)| {
        let glob: String =
            aliases.iter().zip(&texts).map(|(_, t)| format!("{}*", t.replace('*', ""))).collect();
        (ParsePattern::Glob(glob), aliases)
    });
    let other = (
        prop_oneof![
            regex().prop_map(ParsePattern::Regex),
            Just(ParsePattern::Logfmt),
            Just(ParsePattern::Csv)
        ],
        vec(field(), 0..3),
    );
    (field(), prop_oneof![glob, other], any::<bool>()).prop_map(
        |(field, (pattern, aliases), multi)| {
            Command::Parse(Parse { field, pattern, aliases, multi })
        },
    )
}

fn command() -> impl Strategy<Value = Command> {
    let order = proptest::option::of(select(vec![SortOrder::Asc, SortOrder::Desc]));
    let baseline = proptest::option::of(select(vec![
        DiffBaseline::PreviousDay,
        DiffBaseline::PreviousWeek,
        DiffBaseline::PreviousMonth,
    ]));
    let selector = prop_oneof![
        vec(named_arg(), 0..3).prop_map(SourceSelector::LogGroups),
        vec(text(), 1..3).prop_map(SourceSelector::Names),
    ];
    prop_oneof![
        vec(projection(), 1..3).prop_map(Command::Fields),
        vec(field(), 1..3).prop_map(Command::Display),
        expr().prop_map(Command::Filter),
        (vec(projection(), 1..3), vec(projection(), 0..3), proptest::option::of(period()))
            .prop_map(|(aggregations, by, offset)| Command::Stats(Stats {
                aggregations,
                by,
                offset
            })),
        vec((expr(), order).prop_map(|(expr, order)| SortKey { expr, order }), 1..3)
            .prop_map(Command::Sort),
        (any::<bool>(), any::<u64>()).prop_map(|(any, rows)| Command::Limit(Limit { any, rows })),
        parse_command(),
        vec(field(), 1..3).prop_map(Command::Dedup),
        (expr(), field()).prop_map(|(source, into)| Command::Unnest { source, into }),
        field().prop_map(Command::Expand),
        Just(Command::Unmask),
        field().prop_map(Command::Pattern),
        baseline.prop_map(Command::Diff),
        Just(Command::Anomaly),
        vec(
            (expr(), vec(field(), 1..3)).prop_map(|(value, fields)| FillRule { value, fields }),
            0..3
        )
        .prop_map(Command::FillMissing),
        expr().prop_map(Command::FilterIndex),
        (selector, vec(named_arg(), 0..3))
            .prop_map(|(selector, options)| Command::Source(Source { selector, options })),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    vec(command(), 0..4).prop_map(|commands| Query { commands })
}

/// Query-like fragments, so that random input gets past the first token often.
fn query_soup() -> impl Strategy<Value = String> {
    let token = select(vec![
        "fields",
        "filter",
        "stats",
        "sort",
        "limit",
        "parse",
        "SOURCE",
        "logGroups",
        "by",
        "as",
        "and",
        "or",
        "not",
        "in",
        "like",
        "=~",
        "=",
        "<",
        "+",
        "-",
        "*",
        "/",
        "^",
        "(",
        ")",
        "[",
        "]",
        ",",
        "|",
        ".",
        "@",
        "`",
        "\"",
        "'",
        "#",
        "\n",
        "x",
        "@message",
        "count",
        "bin",
        "5m",
        "1.5",
        "1e9",
        "/re/",
        "\"s\"",
        "multi",
        "logfmt",
        "with",
        "for",
        "into",
        "é",
    ]);
    (vec(token, 0..24), vec(any::<bool>(), 24)).prop_map(|(tokens, spaces)| {
        tokens
            .iter()
            .zip(spaces)
            .map(|(t, space)| if space { format!("{t} ") } else { t.to_string() })
            .collect()
    })
}

/// Checks what must hold for any input: errors are inside the text and render; what parses
/// prints to text that parses back to the same tree.
fn check_any_input(input: &str) -> Result<(), TestCaseError> {
    match parse(input) {
        Ok(query) => {
            let printed = query.to_string();
            prop_assert_eq!(parse(&printed), Ok(query), "canonical form {:?}", printed);
        }
        Err(e) => {
            let chars = input.chars().count();
            prop_assert!(e.start <= e.end && e.end <= chars, "{:?} for {:?}", e, input);
            prop_assert!(e.start < e.end || e.start == chars, "empty span {:?} for {:?}", e, input);
            e.render(input);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_trees_parse_back(query in query()) {
        let printed = query.to_string();
        match parse(&printed) {
            Ok(parsed) => prop_assert_eq!(parsed, query, "printed as {}", printed),
            Err(e) => prop_assert!(false, "{:?} fails:\n{}", printed, e.render(&printed)),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(input in any::<String>()) {
        check_any_input(&input)?;
    }

    #[test]
    fn query_like_text_never_panics(input in query_soup()) {
        check_any_input(&input)?;
    }
}
