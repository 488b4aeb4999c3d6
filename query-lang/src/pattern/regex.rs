//! CloudWatch's restricted regex (`%...%`), validated here and translated for the `regex` crate.
//!
//! CloudWatch accepts alphanumerics, space, the symbols `: _ # = @ / ; , -` and the operators
//! `^ $ ? [ ] { } | \ * + .`, with the classes `\d \D \s \S \w \W` and `\xhh`. There are no
//! groups, so parentheses (and with them backreferences and lookaround) are rejected, as are
//! multi-byte characters. Validating ourselves, rather than handing the text to the `regex`
//! crate, gives errors that point at the offending character and never accepts a construct
//! CloudWatch would reject. The `regex` crate then guarantees linear-time matching.
//!
//! Classes are translated to their ASCII meaning (`\d` is `[0-9]`) rather than the `regex`
//! crate's Unicode classes, and every literal is escaped, so the crate's own extensions (set
//! operations in classes, `(?flags)`, Unicode classes) can never be reached.

use std::fmt::Write as _;

use super::parse::{PResult, fail};

/// Upper bound on the compiled program, so a pattern like `a{1000}` repeated cannot take
/// unbounded memory.
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled `%regex%` with where it started, for the "at most 2 regexes" check.
#[derive(Debug, Clone)]
pub(crate) struct Re {
    pub(crate) regex: regex::Regex,
    /// Length of the remaining pattern at the opening `%` (its position, counted from the end).
    pub(crate) rest_len: usize,
}

/// At most this many literals are taken from one regex for a pre-filter; more would cost more
/// to search for than they save.
const MAX_LITERALS: usize = 64;

impl Re {
    /// Literals one of which starts every match (so every matching message contains one), as
    /// the `regex` crate's prefix extractor finds them; `None` when there is no finite,
    /// non-empty set of them.
    pub(crate) fn literals(&self) -> Option<Vec<String>> {
        let hir = regex_syntax::Parser::new().parse(self.regex.as_str()).ok()?;
        let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
        let literals = seq.literals()?;
        if literals.is_empty()
            || literals.len() > MAX_LITERALS
            || literals.iter().any(|l| l.as_bytes().is_empty())
        {
            return None;
        }
        literals.iter().map(|l| String::from_utf8(l.as_bytes().to_vec()).ok()).collect()
    }
}

/// Parses `%...%` at the start of `input` (which must start with `%`).
pub(crate) fn parse_regex(input: &str) -> PResult<'_, Re> {
    let body = &input[1..];
    let Some(end) = body.find('%') else {
        return fail(input, "expected `%` to close the regex");
    };
    let src = &body[..end];
    if src.is_empty() {
        return fail(input, "expected a regex between `%` and `%`");
    }
    let translated = match translate(src) {
        Ok(t) => t,
        Err((at, message)) => return fail(&body[at..], message),
    };
    match regex::RegexBuilder::new(&translated).size_limit(SIZE_LIMIT).build() {
        Ok(regex) => Ok((&body[end + 1..], Re { regex, rest_len: input.len() })),
        Err(regex::Error::CompiledTooBig(_)) => fail(input, "regex is too large"),
        Err(e) => fail(input, format!("invalid regex: {e}")),
    }
}

/// What the last emitted piece was, to validate quantifiers.
#[derive(Clone, Copy, PartialEq)]
enum Last {
    /// Start of the regex or of an alternative, or an anchor: nothing to repeat.
    Nothing,
    /// A character, class or `.`.
    Atom,
    /// A quantifier, which may take one `?` to make it lazy.
    Quantifier,
    /// A lazy quantifier: nothing more can follow.
    Lazy,
}

const ASCII_DIGIT: &str = "0-9";
const ASCII_WORD: &str = "0-9A-Za-z_";
const ASCII_SPACE: &str = "\\t\\n\\x0B\\x0C\\r ";

/// Translates the restricted syntax to `regex` crate syntax, or returns the byte offset (within
/// `src`) and message of the first problem.
pub(crate) fn translate(src: &str) -> Result<String, (usize, String)> {
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 8);
    let mut last = Last::Nothing;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        check_char(src, i)?;
        match c {
            b'^' | b'$' => {
                out.push(c as char);
                last = Last::Nothing;
                i += 1;
            }
            b'|' => {
                out.push('|');
                last = Last::Nothing;
                i += 1;
            }
            b'.' => {
                out.push('.');
                last = Last::Atom;
                i += 1;
            }
            b'*' | b'+' | b'?' => {
                last = match (last, c) {
                    (Last::Atom, _) => Last::Quantifier,
                    (Last::Quantifier, b'?') => Last::Lazy,
                    _ => {
                        return Err((
                            i,
                            format!("`{}` must follow a character, class or `.`", c as char),
                        ));
                    }
                };
                out.push(c as char);
                i += 1;
            }
            b'{' => {
                if last != Last::Atom {
                    return Err((i, "`{` must follow a character, class or `.`".to_owned()));
                }
                let (len, text) = repetition(&src[i..]).map_err(|(at, m)| (i + at, m))?;
                out.push_str(&text);
                last = Last::Quantifier;
                i += len;
            }
            b'}' => return Err((i, "`}` without a matching `{`".to_owned())),
            b']' => return Err((i, "`]` without a matching `[`".to_owned())),
            b'[' => {
                let len = class(src, i, &mut out)?;
                last = Last::Atom;
                i += len;
            }
            b'\\' => {
                let (len, piece) = escape(src, i, false)?;
                match piece {
                    Escaped::Char(ch) => push_literal(&mut out, ch),
                    Escaped::Class { set, negated } => {
                        let _ = write!(out, "[{}{}]", if negated { "^" } else { "" }, set);
                    }
                }
                last = Last::Atom;
                i += len;
            }
            _ => {
                push_literal(&mut out, c as char);
                last = Last::Atom;
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Rejects characters outside CloudWatch's allowed set, with a hint for the common ones.
fn check_char(src: &str, i: usize) -> Result<(), (usize, String)> {
    let c = src.as_bytes()[i];
    if c >= 0x80 {
        return Err((i, "multi-byte characters are not supported in a regex".to_owned()));
    }
    if c.is_ascii_alphanumeric() || b" :_#=@/;,-^$?[]{}|\\*+.".contains(&c) {
        return Ok(());
    }
    let c = c as char;
    Err(match c {
        '(' | ')' => (
            i,
            format!(
                "parentheses are not supported in a regex (match a literal `{c}` with `\\x{:02X}`)",
                c as u32
            ),
        ),
        _ if c.is_ascii_graphic() => {
            (i, format!("`{c}` is not allowed in a regex (match it with `\\x{:02X}`)", c as u32))
        }
        _ => (i, format!("character U+{:04X} is not allowed in a regex", c as u32)),
    })
}

/// Emits a literal character, escaped so the `regex` crate reads it literally.
fn push_literal(out: &mut String, c: char) {
    if regex_syntax::is_meta_character(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Parses `{n}`, `{n,}`, `{n,m}` or `{,m}`, returning its length and translation.
fn repetition(s: &str) -> Result<(usize, String), (usize, String)> {
    let Some(close) = s.find('}') else {
        return Err((0, "expected `}` to close the repetition".to_owned()));
    };
    let inner = &s[1..close];
    let bad = || {
        (0, format!("expected `{{n}}`, `{{n,}}` or `{{n,m}}` with numbers, found `{{{inner}}}`"))
    };
    let num = |t: &str| -> Result<Option<u32>, (usize, String)> {
        if t.is_empty() {
            return Ok(None);
        }
        if !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse::<u32>().map(Some).map_err(|_| (0, "repetition count is too large".to_owned()))
    };
    let text = match inner.split_once(',') {
        None => match num(inner)? {
            Some(n) => format!("{{{n}}}"),
            None => return Err(bad()),
        },
        Some((lo, hi)) => match (num(lo)?, num(hi)?) {
            (lo, Some(hi)) if lo.unwrap_or(0) > hi => {
                return Err((
                    0,
                    format!("repetition `{{{inner}}}` has its minimum above its maximum"),
                ));
            }
            (lo, Some(hi)) => format!("{{{},{hi}}}", lo.unwrap_or(0)),
            (Some(lo), None) => format!("{{{lo},}}"),
            (None, None) => return Err(bad()),
        },
    };
    Ok((close + 1, text))
}

enum Escaped {
    Char(char),
    Class { set: &'static str, negated: bool },
}

/// Parses the escape starting at `src[i] == '\\'`, returning its length.
fn escape(src: &str, i: usize, in_class: bool) -> Result<(usize, Escaped), (usize, String)> {
    let bytes = src.as_bytes();
    let Some(&next) = bytes.get(i + 1) else {
        return Err((i, "expected a character after `\\`".to_owned()));
    };
    check_char(src, i + 1)?;
    let class = |set, negated| Ok((2, Escaped::Class { set, negated }));
    match next {
        b'd' => class(ASCII_DIGIT, false),
        b'D' => class(ASCII_DIGIT, true),
        b'w' => class(ASCII_WORD, false),
        b'W' => class(ASCII_WORD, true),
        b's' => class(ASCII_SPACE, false),
        b'S' => class(ASCII_SPACE, true),
        b'x' => {
            let hex = src.get(i + 2..i + 4).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => Ok((4, Escaped::Char(b as char))),
                None => Err((i, "expected two hex digits after `\\x`".to_owned())),
            }
        }
        c if !c.is_ascii_alphanumeric() && c != b' ' => Ok((2, Escaped::Char(c as char))),
        c => Err((
            i,
            format!(
                "unsupported escape `\\{}`{}: use \\d \\D \\s \\S \\w \\W \\xhh or escape an operator",
                c as char,
                if in_class { " in a class" } else { "" }
            ),
        )),
    }
}

/// Parses the class starting at `src[start] == '['`, appends its translation and returns its
/// length. A `]` right after `[` or `[^` is a literal, as in POSIX.
fn class(src: &str, start: usize, out: &mut String) -> Result<usize, (usize, String)> {
    let bytes = src.as_bytes();
    let mut i = start + 1;
    let negated = bytes.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let first = i;
    let mut items = String::new();
    let mut any = false;
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err((start, "expected `]` to close the character class".to_owned()));
        };
        check_char(src, i)?;
        if c == b']' && i > first {
            break;
        }
        // One item: a single character (maybe escaped) or a class escape, then maybe a range.
        let (len, lo) = if c == b'\\' {
            let (len, e) = escape(src, i, true)?;
            match e {
                Escaped::Class { set, negated: false } => {
                    items.push_str(set);
                    i += len;
                    any = true;
                    continue;
                }
                Escaped::Class { set, negated: true } => {
                    // A nested negated class, which the `regex` crate supports inside a class.
                    let _ = write!(items, "[^{set}]");
                    i += len;
                    any = true;
                    continue;
                }
                Escaped::Char(ch) => (len, ch),
            }
        } else {
            (1, c as char)
        };
        i += len;
        let is_range = bytes.get(i) == Some(&b'-') && bytes.get(i + 1).is_some_and(|&b| b != b']');
        if is_range {
            let hi_at = i + 1;
            check_char(src, hi_at)?;
            let (hlen, hi) = if bytes[hi_at] == b'\\' {
                match escape(src, hi_at, true)? {
                    (l, Escaped::Char(ch)) => (l, ch),
                    _ => {
                        return Err((
                            hi_at,
                            "a range cannot end in a class such as `\\d`".to_owned(),
                        ));
                    }
                }
            } else {
                (1, bytes[hi_at] as char)
            };
            if lo > hi {
                return Err((i - len, format!("range `{lo}-{hi}` is out of order")));
            }
            push_literal(&mut items, lo);
            items.push('-');
            push_literal(&mut items, hi);
            i = hi_at + hlen;
        } else {
            push_literal(&mut items, lo);
        }
        any = true;
    }
    if !any {
        return Err((start, "empty character class".to_owned()));
    }
    let _ = write!(out, "[{}{}]", if negated { "^" } else { "" }, items);
    Ok(i + 1 - start)
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn re(src: &str) -> regex::Regex {
        regex::Regex::new(&translate(src).unwrap()).unwrap()
    }

    #[test]
    fn translates_classes_and_escapes() {
        assert!(re(r"\d{3}").is_match("a404"));
        assert!(!re(r"\d").is_match("٣"), "\\d is ASCII only");
        assert!(re(r"\x3A").is_match("a:b"));
        assert!(re(r"\x28").is_match("f(x)"));
        assert!(re(r"[\d\-]+x").is_match("1-2x"));
        assert!(re(r"[^\d]").is_match("1a"));
        assert!(!re(r"[^\d]").is_match("12"));
        assert!(re(r"[\D]").is_match("1a"));
        assert!(re(r"[]a]").is_match("]"));
        assert!(re(r"[x\-\-]").is_match("-"), "no class set operations");
        assert!(re(r"a{,2}b").is_match("b"));
        assert!(re(r"a*?b").is_match("aab"));
        assert!(re(r"#").is_match("#"), "`#` is literal, not a comment");
    }

    #[test]
    fn rejects_outside_the_restricted_syntax() {
        for (src, at) in [
            ("(a)", 0),
            ("a(?i)", 1),
            ("something!", 9),
            ("é", 0),
            ("a**", 2),
            ("*a", 0),
            ("a{x}", 1),
            ("a{3,1}", 1),
            ("[a", 0),
            ("a]", 1),
            ("[z-a]", 1),
            (r"\b", 0),
            (r"\1", 0),
            (r"\x4", 0),
            ("a\\", 1),
            ("^*", 1),
            ("[]", 0),
        ] {
            let err = translate(src).expect_err(src);
            assert_eq!(err.0, at, "{src}: {}", err.1);
        }
    }
}
