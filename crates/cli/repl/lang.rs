//! What the line editor knows of the query language: a light tokenizer that classifies the
//! words of a line (for highlighting and completion), when a line is a complete query, and the
//! completions at the cursor. Names of commands and functions come from the query-lang crate,
//! so there is one list of each. Pure: no terminal here.

use std::ops::Range;

use logsight_query_lang::insights::{self, COMMANDS, functions};

/// Keywords inside commands.
pub const KEYWORDS: [&str; 12] =
    ["by", "as", "and", "or", "not", "in", "like", "asc", "desc", "offset", "into", "any"];

/// What a piece of a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A command (`filter`, `stats`).
    Command,
    /// A function name followed by `(`.
    Function,
    /// A keyword (`by`, `as`, `desc`).
    Keyword,
    /// A field name (`@message`, `status`, `` `a b` ``).
    Field,
    /// A quoted string.
    String,
    /// A number or a time period (`5m`).
    Number,
    /// A `#` comment.
    Comment,
    /// A meta command's name (`.range`).
    Meta,
    /// Anything else: punctuation, operators, spaces.
    Other,
}

/// One classified piece of a line (byte range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Where it is, in bytes.
    pub span: Range<usize>,
    /// A string, quoted name or regex that the line ends inside of.
    pub open: bool,
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@' || c == '$'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '@' | '.' | '$' | '-')
}

/// Whether `word` is a command when it starts a pipeline stage.
fn is_command(word: &str) -> bool {
    COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(word))
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Classifies every piece of `line`; the spans cover it whole, in order.
pub fn tokenize(line: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let push = |out: &mut Vec<Token>, kind: Kind, span: Range<usize>| {
        // Neighbouring pieces of one kind merge, so the output stays short.
        if let Some(last) = out.last_mut()
            && last.kind == kind
            && kind == Kind::Other
        {
            last.span.end = span.end;
        } else {
            out.push(Token { kind, span, open: false });
        }
    };
    if line.trim_start().starts_with('.') {
        let start = line.len() - line.trim_start().len();
        let end = line[start..].find(char::is_whitespace).map_or(line.len(), |e| start + e);
        push(&mut out, Kind::Other, 0..start);
        out.push(Token { kind: Kind::Meta, span: start..end, open: false });
        if end < line.len() {
            out.push(Token { kind: Kind::Other, span: end..line.len(), open: false });
        }
        out.retain(|t| !t.span.is_empty());
        return out;
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(line.len(), |c| c.0);
    // A command may start here: at the beginning or right after `|` (spaces aside).
    let mut stage_start = true;
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            '#' => {
                let end = line[pos..].find('\n').map_or(line.len(), |e| pos + e);
                push(&mut out, Kind::Comment, pos..end);
                while i < chars.len() && chars[i].0 < end {
                    i += 1;
                }
            }
            c if c == '"' || c == '\'' || c == '`' || (c == '/' && regex_here(line, &out)) => {
                let mut j = i + 1;
                while j < chars.len() && chars[j].1 != c {
                    if chars[j].1 == '\\' && c != '`' {
                        j += 1;
                    }
                    j += 1;
                }
                let end = at((j + 1).min(chars.len()));
                let kind = if c == '`' { Kind::Field } else { Kind::String };
                push(&mut out, kind, pos..end);
                if j >= chars.len()
                    && let Some(last) = out.last_mut()
                {
                    last.open = true;
                }
                stage_start = false;
                i = j + 1;
            }
            c if c.is_ascii_digit() => {
                let mut j = i;
                while j < chars.len() && (chars[j].1.is_ascii_alphanumeric() || chars[j].1 == '.') {
                    j += 1;
                }
                push(&mut out, Kind::Number, pos..at(j));
                stage_start = false;
                i = j;
            }
            c if is_word_start(c) => {
                let mut j = i;
                while j < chars.len() && is_word_char(chars[j].1) {
                    j += 1;
                }
                let word = &line[pos..at(j)];
                let next = chars[j..].iter().find(|c| !c.1.is_whitespace()).map(|c| c.1);
                let kind = if stage_start && is_command(word) {
                    Kind::Command
                } else if next == Some('(') && functions::lookup(word).is_some() {
                    Kind::Function
                } else if is_keyword(word) {
                    Kind::Keyword
                } else {
                    Kind::Field
                };
                push(&mut out, kind, pos..at(j));
                stage_start = false;
                i = j;
            }
            _ => {
                if c == '|' {
                    stage_start = true;
                } else if !c.is_whitespace() {
                    stage_start = false;
                }
                push(&mut out, Kind::Other, pos..at(i + 1));
                i += 1;
            }
        }
    }
    out
}

/// Whether a `/` here starts a regex rather than dividing: after `parse FIELD`, or
/// where no value stands before it (after an operator, `(`, `,`, a keyword or nothing).
fn regex_here(line: &str, before: &[Token]) -> bool {
    let mut significant = before.iter().rev().filter(|t| !line[t.span.clone()].trim().is_empty());
    let Some(prev) = significant.next() else { return true };
    let prev_text = line[prev.span.clone()].trim_end();
    match prev.kind {
        Kind::Keyword | Kind::Command => true,
        Kind::Field => significant.next().is_some_and(|t| {
            t.kind == Kind::Command && line[t.span.clone()].eq_ignore_ascii_case("parse")
        }),
        Kind::Other => !prev_text.ends_with([')', ']']),
        _ => false,
    }
}

/// Whether `text` ends inside a string, a quoted name or a regex.
fn ends_open(text: &str) -> bool {
    tokenize(text).last().is_some_and(|t| t.open)
}

/// Whether pressing Enter on `text` should run it (true) or start a new line (false). A query
/// continues while its last line ends with `|`, or while the parser stops at its very end
/// (an open bracket, quote or regex, a dangling operator): it wants more. A query that
/// fails earlier is complete, so that Enter shows its error. Meta commands and blank input
/// are always complete.
pub fn is_complete(text: &str) -> bool {
    let text = text.trim_end();
    if text.is_empty() || text.trim_start().starts_with('.') {
        return true;
    }
    // `|` as the last thing written (not inside a string or a comment).
    let last = tokenize(text).into_iter().rev().find(|t| !text[t.span.clone()].trim().is_empty());
    if last.is_some_and(|t| t.kind == Kind::Other && text[t.span].trim_end().ends_with('|')) {
        return false;
    }
    match insights::parse(text) {
        Ok(_) => true,
        Err(e) => e.start < text.chars().count() && !ends_open(text),
    }
}

/// One completion: the text to put in place of `span`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The replacement.
    pub value: String,
    /// A word on what it is (`function`, `field`, ...).
    pub what: &'static str,
    /// The bytes it replaces.
    pub span: Range<usize>,
}

/// Names the completer offers besides the language's own: the selected groups' fields and the
/// store's log groups, refreshed by the session.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Discovered field names (`GetLogGroupFields`).
    pub fields: Vec<String>,
    /// Log group names.
    pub groups: Vec<String>,
}

/// The completions of the word that ends at byte `pos` of `line`.
pub fn complete(line: &str, pos: usize, vocab: &Vocabulary) -> Vec<Completion> {
    let pos = pos.min(line.len());
    let before = &line[..pos];
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !is_word_char(*c) && *c != '`')
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let span = start..pos;
    let starts = |cand: &str| {
        cand.len() >= word.len() && cand[..word.len()].eq_ignore_ascii_case(word) && cand != word
    };
    let mut out = Vec::new();
    let mut offer = |value: String, what: &'static str| {
        if starts(&value) && !out.iter().any(|c: &Completion| c.value == value) {
            out.push(Completion { value, what, span: span.clone() });
        }
    };
    if meta_context(line) {
        let head_end = line
            .trim_start()
            .find(char::is_whitespace)
            .map(|e| e + line.len() - line.trim_start().len());
        match head_end {
            // Still typing the command's name: the word includes the dot.
            None => {
                let dot = line.len() - line.trim_start().len();
                let word = &before[dot..];
                return crate::repl::meta::COMMANDS
                    .iter()
                    .filter(|(n, _)| n.starts_with(word) && *n != word)
                    .map(|(n, _)| Completion {
                        value: n.to_string(),
                        what: "command",
                        span: dot..pos,
                    })
                    .collect();
            }
            Some(_) => {
                let head = line.split_whitespace().next().unwrap_or("");
                match head {
                    ".groups" => vocab.groups.iter().for_each(|g| offer(g.clone(), "log group")),
                    ".explain" => {}
                    _ => return out,
                }
                if head == ".groups" {
                    return out;
                }
            }
        }
    }
    if word.is_empty() {
        return out;
    }
    let at_stage_start = before[..start].trim_end().is_empty()
        || before[..start].trim_end().ends_with('|')
        || (meta_context(line) && before[..start].split_whitespace().count() == 1);
    if at_stage_start {
        COMMANDS.iter().for_each(|c| offer(c.to_string(), "command"));
    } else {
        for f in functions::FUNCTIONS {
            offer(format!("{}(", f.name), "function");
        }
        KEYWORDS.iter().for_each(|k| offer(k.to_string(), "keyword"));
        vocab.fields.iter().for_each(|f| offer(f.clone(), "field"));
    }
    out
}

fn meta_context(line: &str) -> bool {
    line.trim_start().starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<(Kind, &str)> {
        tokenize(line)
            .into_iter()
            .filter(|t| t.kind != Kind::Other)
            .map(|t| (t.kind, &line[t.span]))
            .collect()
    }

    #[test]
    fn words_are_classified_by_the_language() {
        assert_eq!(
            kinds(
                r#"filter status = "5xx" and @message like /x/ | stats count(*) as n by bin(5m)"#
            ),
            vec![
                (Kind::Command, "filter"),
                (Kind::Field, "status"),
                (Kind::String, "\"5xx\""),
                (Kind::Keyword, "and"),
                (Kind::Field, "@message"),
                (Kind::Keyword, "like"),
                (Kind::String, "/x/"),
                (Kind::Command, "stats"),
                (Kind::Function, "count"),
                (Kind::Keyword, "as"),
                (Kind::Field, "n"),
                (Kind::Keyword, "by"),
                (Kind::Function, "bin"),
                (Kind::Number, "5m"),
            ]
        );
        // A command name in the middle of a stage is a field; a function name without `(` too.
        assert_eq!(
            kinds("fields limit, count # the end"),
            vec![
                (Kind::Command, "fields"),
                (Kind::Field, "limit"),
                (Kind::Field, "count"),
                (Kind::Comment, "# the end"),
            ]
        );
        assert_eq!(
            kinds("fields `a b`, 'it''s'"),
            vec![
                (Kind::Command, "fields"),
                (Kind::Field, "`a b`"),
                (Kind::String, "'it'"),
                (Kind::String, "'s'"),
            ]
        );
        assert_eq!(kinds(" .range 15m"), vec![(Kind::Meta, ".range")]);
        // A regex after `parse FIELD`, `like` or `(`; a slash after a value divides.
        assert_eq!(
            kinds(r#"parse @message /"p":"(?<p>[^"]*)"/ | filter a / 2 > 1 or b like /x"/"#),
            vec![
                (Kind::Command, "parse"),
                (Kind::Field, "@message"),
                (Kind::String, r#"/"p":"(?<p>[^"]*)"/"#),
                (Kind::Command, "filter"),
                (Kind::Field, "a"),
                (Kind::Number, "2"),
                (Kind::Number, "1"),
                (Kind::Keyword, "or"),
                (Kind::Field, "b"),
                (Kind::Keyword, "like"),
                (Kind::String, r#"/x"/"#),
            ]
        );
    }

    #[test]
    fn spans_cover_the_line_in_order() {
        for line in [
            "fields a | filter b = 'é\\'x' # ü",
            "stats avg(x) by bin(5m)",
            "\"open",
            ".groups a b",
            "é (",
            "",
        ] {
            let toks = tokenize(line);
            let mut at = 0;
            for t in &toks {
                assert_eq!(t.span.start, at, "{line:?}: {toks:?}");
                at = t.span.end;
            }
            assert_eq!(at, line.len(), "{line:?}: {toks:?}");
        }
    }

    #[test]
    fn a_query_continues_after_a_pipe_or_an_open_bracket_or_quote() {
        for complete in [
            "",
            "fields @message",
            "fields @message\n| limit 5",
            "filter x = \"a|\"",
            "stats count(*) by bin(5m) # trailing |",
            ".groups a |",
            "filter x in [1, 2]",
            r#"parse @message /"path":"(?<p>[^"]*)"/ | stats count(*) by p"#,
            // Wrong before its end: Enter shows the error.
            "stats coutn(*)",
            "limit abc",
        ] {
            assert!(is_complete(complete), "{complete:?}");
        }
        for open in [
            "fields @message |",
            "fields @message |  ",
            "fields @message\n| filter x = 1 |\n",
            "stats count(*) by bin(5m",
            "filter x = \"abc",
            "filter x in [1,",
            "filter x = 'it\\'s",
            "parse @message /abc",
            "filter x =",
        ] {
            assert!(!is_complete(open), "{open:?}");
        }
    }

    fn values(line: &str, vocab: &Vocabulary) -> Vec<String> {
        complete(line, line.len(), vocab).into_iter().map(|c| c.value).collect()
    }

    #[test]
    fn completion_offers_what_fits_where_the_cursor_is() {
        let vocab = Vocabulary {
            fields: vec!["latency_ms".into(), "level".into(), "@message".into()],
            groups: vec!["app".into(), "api".into(), "web".into()],
        };
        assert_eq!(values("sta", &vocab), vec!["stats"]);
        assert_eq!(values("fields x | fil", &vocab), vec!["filter", "fillmissing", "filterIndex"]);
        assert_eq!(values("stats count_dist", &vocab), vec!["count_distinct("]);
        assert_eq!(values("stats avg(lat", &vocab), vec!["latest(", "latency_ms"]);
        assert_eq!(values("filter le", &vocab), vec!["least(", "level"]);
        assert_eq!(values("fields @me", &vocab), vec!["@message"]);
        assert_eq!(values("stats count(*) bi", &vocab), vec!["bin("]);
        assert_eq!(values("stats count(*) b", &vocab).len(), 4);
        assert_eq!(values(".gr", &vocab), vec![".groups"]);
        assert_eq!(values(".groups a", &vocab), vec!["app", "api"]);
        assert_eq!(values(".explain sta", &vocab), vec!["stats"]);
        assert!(values("fields ", &vocab).is_empty());
        // The replaced span is the word under the cursor.
        let c = complete("filter lat > 1", 10, &vocab);
        assert_eq!(c[0].span, 7..10);
    }
}
