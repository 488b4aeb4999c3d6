//! The typed syntax tree of a Logs Insights query.
//!
//! The tree holds what the user wrote, in canonical form: keywords, aliases such as `where`
//! and spellings of time units are resolved, the defaulted `parse` field is filled in, and
//! function names use the registry's spelling. It holds no spans, so two queries that differ
//! only in layout, comments or quoting compare equal. Meaning (does the field exist, is this
//! an aggregation, is a second `stats` allowed here) is checked later by the planner.

/// A whole query: commands separated by `|`. An empty query has no commands.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The pipeline, in order.
    pub commands: Vec<Command>,
}

/// One command of the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `fields a, b, expr as alias`.
    Fields(Vec<Projection>),
    /// `display a, b`.
    Display(Vec<Field>),
    /// `filter <expr>`, also spelled `where <expr>`.
    Filter(Expr),
    /// `stats agg(x) as a, ... by f, bin(5m) as t offset 1h`.
    Stats(Stats),
    /// `sort a desc, b`.
    Sort(Vec<SortKey>),
    /// `limit N` or `limit any N`.
    Limit(Limit),
    /// `parse <field> "glob*" as a`, `parse <field> /re/`, `logfmt`, `csv`.
    Parse(Parse),
    /// `dedup a, b`.
    Dedup(Vec<Field>),
    /// `unnest <expr> into <field>`.
    Unnest {
        /// The list to flatten.
        source: Expr,
        /// The field that receives each element.
        into: Field,
    },
    /// `expand <field>`.
    Expand(Field),
    /// `unmask`.
    Unmask,
    /// `pattern <field>`.
    Pattern(Field),
    /// `diff [previousDay|previousWeek|previousMonth]`.
    Diff(Option<DiffBaseline>),
    /// `anomaly`.
    Anomaly,
    /// `fillmissing [with <value> for f, g, with <value> for h]`.
    FillMissing(Vec<FillRule>),
    /// `filterIndex <expr>`.
    FilterIndex(Expr),
    /// `SOURCE logGroups(...)` or `SOURCE "group" start=-1d end=now`.
    Source(Source),
}

impl Command {
    /// Returns the command's keyword as written in canonical text.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::Fields(_) => "fields",
            Command::Display(_) => "display",
            Command::Filter(_) => "filter",
            Command::Stats(_) => "stats",
            Command::Sort(_) => "sort",
            Command::Limit(_) => "limit",
            Command::Parse(_) => "parse",
            Command::Dedup(_) => "dedup",
            Command::Unnest { .. } => "unnest",
            Command::Expand(_) => "expand",
            Command::Unmask => "unmask",
            Command::Pattern(_) => "pattern",
            Command::Diff(_) => "diff",
            Command::Anomaly => "anomaly",
            Command::FillMissing(_) => "fillmissing",
            Command::FilterIndex(_) => "filterIndex",
            Command::Source(_) => "SOURCE",
        }
    }
}

/// An expression with an optional `as` alias (`fields`, `stats` and `by` items).
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// The value.
    pub expr: Expr,
    /// The name given with `as`, if any.
    pub alias: Option<Field>,
}

/// The body of a `stats` command.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The aggregations (never empty when parsed).
    pub aggregations: Vec<Projection>,
    /// The `by` groups; empty when there is no `by`.
    pub by: Vec<Projection>,
    /// The `offset` that shifts `bin()` buckets.
    pub offset: Option<Period>,
}

/// One key of a `sort` command.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// The value to sort on.
    pub expr: Expr,
    /// `asc` or `desc`; `None` when not written (the engine picks the default).
    pub order: Option<SortOrder>,
}

/// A sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    /// `asc`.
    Asc,
    /// `desc`.
    Desc,
}

/// The body of a `limit` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// `limit any N`: stop scanning once N rows are found, in no order.
    pub any: bool,
    /// N.
    pub rows: u64,
}

/// The body of a `parse` command.
#[derive(Clone, Debug, PartialEq)]
pub struct Parse {
    /// The field to parse; `@message` when the query leaves it out.
    pub field: Field,
    /// How to parse it.
    pub pattern: ParsePattern,
    /// The names after `as`. A glob has exactly one per `*`.
    pub aliases: Vec<Field>,
    /// `multi`: one row per match.
    pub multi: bool,
}

/// The pattern of a `parse` command.
#[derive(Clone, Debug, PartialEq)]
pub enum ParsePattern {
    /// A quoted glob; each `*` captures into one alias.
    Glob(String),
    /// A `/regex/`; named groups become fields.
    Regex(Regex),
    /// `logfmt`: `key=value` pairs.
    Logfmt,
    /// `csv`: comma-separated values.
    Csv,
}

/// The baseline window of `diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffBaseline {
    /// `previousDay`.
    PreviousDay,
    /// `previousWeek`.
    PreviousWeek,
    /// `previousMonth`.
    PreviousMonth,
}

impl DiffBaseline {
    /// Returns the keyword as written in canonical text.
    pub fn keyword(self) -> &'static str {
        match self {
            DiffBaseline::PreviousDay => "previousDay",
            DiffBaseline::PreviousWeek => "previousWeek",
            DiffBaseline::PreviousMonth => "previousMonth",
        }
    }
}

/// `with <value> for f, g` in `fillmissing`.
#[derive(Clone, Debug, PartialEq)]
pub struct FillRule {
    /// The value written into empty buckets.
    pub value: Expr,
    /// The fields it fills (never empty when parsed).
    pub fields: Vec<Field>,
}

/// The body of a `SOURCE` command.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// Which log groups.
    pub selector: SourceSelector,
    /// `key=value` options after the selector, such as `start=-1d end=now`.
    pub options: Vec<NamedArg>,
}

/// How `SOURCE` selects log groups.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSelector {
    /// `logGroups(namePrefix: [...], accountIdentifiers: [...], class: [...])`.
    LogGroups(Vec<NamedArg>),
    /// Log groups by name: `SOURCE "a", "b"`. A bare name (`SOURCE lg`) is kept as its text.
    Names(Vec<String>),
}

/// A `name: value` argument of `logGroups(...)`, or a `name=value` option of `SOURCE`.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedArg {
    /// The argument's name (a plain identifier).
    pub name: String,
    /// Its value.
    pub value: Expr,
}

/// A field name: one or more segments joined by dots (`a.b.c`, ``m.`k.x` ``, `@timestamp`).
///
/// Segments are never empty. A system field keeps its `@` in the first segment (`@timestamp`,
/// or `@aws.tag:x` for ``@`aws.tag:x` ``). The engine decides whether a dotted name is a
/// flattened JSON field or map access; the tree only keeps how it was split, so that
/// `` `a.b` `` (one segment) and `a.b` (two) stay apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field(pub Vec<String>);

impl Field {
    /// Returns a field with one segment, such as `@message` or `status`.
    pub fn new(name: impl Into<String>) -> Field {
        Field(vec![name.into()])
    }

    /// Returns the name with segments joined by `.`, the form JSON flattening produces.
    pub fn flat_name(&self) -> String {
        self.0.join(".")
    }

    /// Returns true for `@` fields such as `@timestamp`.
    pub fn is_system(&self) -> bool {
        self.0.first().is_some_and(|s| s.starts_with('@'))
    }
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A field reference.
    Field(Field),
    /// A number, string or time period.
    Literal(Literal),
    /// `[a, b, c]`.
    List(Vec<Expr>),
    /// A function call; see [`super::functions`].
    Call(Call),
    /// `*`; only ever the sole argument of `count(*)`.
    Star,
    /// `-x`, `not x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `a + b`, `a and b`, `a = b`, ...
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `x like "s"`, `x not like /re/`, `x =~ /re/`.
    Match {
        /// The value tested.
        expr: Box<Expr>,
        /// Which operator.
        op: MatchOp,
        /// The string or regex.
        pattern: Pattern,
    },
    /// `x in [..]`, `x not in [..]`, `x in (subquery)`.
    In {
        /// The value tested.
        expr: Box<Expr>,
        /// `not in`.
        negated: bool,
        /// The list or subquery.
        set: InSet,
    },
    /// `base.key` where base is not a plain field name: `jsonParse(f).x`, `list[0].y`.
    Member {
        /// The map.
        base: Box<Expr>,
        /// The key.
        key: String,
    },
    /// `base[index]`.
    Index {
        /// The list.
        base: Box<Expr>,
        /// The position.
        index: Box<Expr>,
    },
}

/// A function call. `name` is the registry's spelling (`toMillis`, not `TOMILLIS`).
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Function name.
    pub name: String,
    /// Arguments; `count(*)` has the single argument [`Expr::Star`].
    pub args: Vec<Expr>,
}

/// A literal value. Numbers are never negative: `-1` is [`UnaryOp::Neg`] applied to `1`.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// An integer without fraction or exponent.
    Int(u64),
    /// A number with a fraction or an exponent; always finite and non-negative.
    Float(f64),
    /// A quoted string, escapes resolved.
    String(String),
    /// A time period such as `5m`.
    Period(Period),
}

/// A time period: an amount and a unit (`5m`, `1h`, `30s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    /// How many units.
    pub amount: u64,
    /// The unit.
    pub unit: TimeUnit,
}

/// A time unit of a [`Period`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// `ms`, `msec`, `millisecond`.
    Millisecond,
    /// `s`, `sec`, `second`.
    Second,
    /// `m`, `min`, `minute`.
    Minute,
    /// `h`, `hr`, `hour`.
    Hour,
    /// `d`, `day`.
    Day,
    /// `w`, `week`.
    Week,
    /// `mo`, `mon`, `month`.
    Month,
    /// `q`, `qtr`, `quarter`.
    Quarter,
    /// `y`, `yr`, `year`.
    Year,
}

impl TimeUnit {
    /// Every unit, shortest first.
    pub const ALL: [TimeUnit; 9] = [
        TimeUnit::Millisecond,
        TimeUnit::Second,
        TimeUnit::Minute,
        TimeUnit::Hour,
        TimeUnit::Day,
        TimeUnit::Week,
        TimeUnit::Month,
        TimeUnit::Quarter,
        TimeUnit::Year,
    ];

    /// Returns the canonical (shortest) spelling.
    pub fn suffix(self) -> &'static str {
        self.spellings()[0]
    }

    /// Returns every accepted spelling, canonical first. Multi-letter spellings other than
    /// `ms` and `mo` may also take a plural `s` (`hrs`, `mins`, `days`).
    pub fn spellings(self) -> &'static [&'static str] {
        match self {
            TimeUnit::Millisecond => &["ms", "msec", "millisecond"],
            TimeUnit::Second => &["s", "sec", "second"],
            TimeUnit::Minute => &["m", "min", "minute"],
            TimeUnit::Hour => &["h", "hr", "hour"],
            TimeUnit::Day => &["d", "day"],
            TimeUnit::Week => &["w", "week"],
            TimeUnit::Month => &["mo", "mon", "month"],
            TimeUnit::Quarter => &["q", "qtr", "quarter"],
            TimeUnit::Year => &["y", "yr", "year"],
        }
    }

    /// Looks a unit up by spelling, ignoring ASCII case.
    pub fn from_spelling(text: &str) -> Option<TimeUnit> {
        let lower = text.to_ascii_lowercase();
        let singular = match lower.strip_suffix('s') {
            Some(stem) if stem.len() > 1 => Some(stem),
            _ => None,
        };
        TimeUnit::ALL.into_iter().find(|unit| {
            unit.spellings().iter().any(|s| {
                *s == lower || (s.len() > 1 && *s != "ms" && *s != "mo" && singular == Some(*s))
            })
        })
    }
}

/// A prefix operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `not x`.
    Not,
}

/// An infix operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `or`.
    Or,
    /// `and`.
    And,
    /// `=`.
    Eq,
    /// `!=`.
    NotEq,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=`.
    GtEq,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%` (modulus).
    Mod,
    /// `^` (power, right-associative).
    Pow,
}

impl BinaryOp {
    /// Returns the operator as written in canonical text.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
        }
    }
}

/// A string-matching operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `like`: substring for a string, search for a regex.
    Like,
    /// `not like`.
    NotLike,
    /// `=~`: regex match.
    RegexMatch,
}

impl MatchOp {
    /// Returns the operator as written in canonical text.
    pub fn symbol(self) -> &'static str {
        match self {
            MatchOp::Like => "like",
            MatchOp::NotLike => "not like",
            MatchOp::RegexMatch => "=~",
        }
    }
}

/// The right side of `like` and `=~`.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// A quoted string.
    String(String),
    /// A `/regex/`.
    Regex(Regex),
}

/// A `/regex/` literal.
///
/// `pattern` is the text between the slashes exactly as written, so `\/` stays `\/` (a valid
/// escape for the `regex` crate too). It never contains an unescaped `/`. Flags are inline:
/// `/(?i)error/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regex {
    /// The regex source.
    pub pattern: String,
}

/// The right side of `in` / `not in`.
#[derive(Clone, Debug, PartialEq)]
pub enum InSet {
    /// `[a, b, c]`.
    List(Vec<Expr>),
    /// `(fields x | filter ...)`.
    Subquery(Box<Query>),
}
