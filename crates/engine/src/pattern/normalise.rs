//! From codec templates to the patterns `pattern` shows: pure functions, no I/O.
//!
//! The message codec's templates (`logsight_storage::Templates`) are too fine to show as
//! patterns. Its variables are the tokens with digits that *vary within a block*: a value
//! that is constant in one block (a port, an IP address, a user name) is folded back into the
//! template text, so the same kind of line has different templates in different blocks; and
//! words without digits (user names, host names) are always template text. Normalisation
//! maps each template to a [`Shape`] in two steps.
//!
//! # 1. Per template: [`normalise`] (cached per template by the caller)
//!
//! The template is cut into tokens: a whitespace run is one space (so `user  0101` and
//! `user 0101` agree); the characters `[ ] ( ) { } < > , ; = |` are literal separators; a
//! double-quoted span (`"..."`, closed in the same message, not empty) is a quote, a
//! variable, a quote; everything else is a word. A word's trailing `.` and `:` are
//! separators too (`port 22.`, `from 1.2.3.4:`), and so is a `:` between a digit and a
//! letter (`10.0.0.1:50010:Got` is a value, `:`, then `Got`). A word is a variable (`<*>`,
//! shown as `<Token-N>`) when it
//! - holds one of the codec's slots (it varied within its block), or
//! - holds a digit and no letter: numbers, IP addresses, `ip:port`, times, dates, or
//! - holds a run of 3 or more digits (`blk_-1608999687919862906`, `job_200811092030_0001`), or
//! - holds a digit and a `/` (paths with numbers, versions such as `HTTP/1.1`), or
//! - is hexadecimal with a digit: `0x` and hex digits, or 6 or more hex digits.
//!
//! Other words are literal, including words with one or two digits and letters (`ssh2`,
//! `test9`, `x86_64`): whether those are values is left to step 2. Variables separated by
//! single spaces are one variable (a date and a time; a list of block ids of any length).
//! Because a slot and a folded constant are classified alike whenever the constant looks
//! variable, a line gives the same shape whether its block folded the value or not.
//!
//! # 2. Over the whole result: [`merge_variants`]
//!
//! Words without digits can still be values (user names). Shapes that differ in one word
//! position only are merged, that position becoming a variable, when its words are
//! - 3 or more distinct words, or
//! - words beside a variable (the variable shows the position varies within a block), or
//! - 2 or more distinct words that were all values of a position merged before (`root` and
//!   `admin` once user names were seen to vary elsewhere).
//!
//! Repeated to a fixed point, position by position in a fixed order over shapes in sorted
//! order, so the result does not depend on how the scan was split. Guards keep distinct
//! events apart: two distinct words are not enough on their own (`Accepted password` vs
//! `Failed password`), a single word is never generalised (`check pass; user unknown` keeps
//! `user`), and a position whose words include a severity keyword is never merged (the level
//! decides `@severityLabel`).
//!
//! # `@severityLabel`
//!
//! The reference lists the field but not its derivation; this one is inferred: the first
//! literal word of the pattern that names a level decides: `ERROR`, `ERR`, `FATAL`,
//! `CRITICAL`, `SEVERE`, `EMERG`, `ALERT`, `PANIC` → `Error`; `WARN`, `WARNING` → `Warning`;
//! `INFO`, `NOTICE` → `Info`; `DEBUG`, `TRACE`, `FINE` → `Debug`; none → `Unknown`. `error`,
//! `fatal`, `warn(ing)`, `info` and `debug` count in any case (`error:` prefixes); the other
//! words only in capitals, since they are also English words.

use std::cmp::Ordering;
use std::fmt::Write as _;

use logsight_storage::Piece;

/// One token of a pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Tok {
    /// A literal word.
    Word(Box<str>),
    /// Literal whitespace or separators.
    Sep(Box<str>),
    /// A dynamic token.
    Var,
}

/// A normalised pattern: its tokens in order.
pub(crate) type Shape = Vec<Tok>;

/// One character of a template, or one of its slots.
#[derive(Clone, Copy, PartialEq)]
enum Item {
    Ch(char),
    Slot,
}

const SEPARATORS: &[char] = &['[', ']', '(', ')', '{', '}', '<', '>', ',', ';', '=', '|'];

/// The shape of one template (step 1 of the module docs).
pub(crate) fn normalise<'a>(pieces: impl Iterator<Item = Piece<'a>>) -> Shape {
    let mut items = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(t) => items.extend(String::from_utf8_lossy(t).chars().map(Item::Ch)),
            Piece::Number | Piece::Variable => items.push(Item::Slot),
        }
    }
    let mut out = Shape::new();
    let mut i = 0;
    while i < items.len() {
        match items[i] {
            Item::Ch(c) if c.is_whitespace() => {
                while matches!(items.get(i), Some(Item::Ch(c)) if c.is_whitespace()) {
                    i += 1;
                }
                push_sep(&mut out, " ");
            }
            Item::Ch('"') => {
                let close = items[i + 1..].iter().position(|&x| x == Item::Ch('"'));
                match close {
                    Some(n) if n > 0 => {
                        push_sep(&mut out, "\"");
                        out.push(Tok::Var);
                        push_sep(&mut out, "\"");
                        i += n + 2;
                    }
                    Some(_) => {
                        push_sep(&mut out, "\"\"");
                        i += 2;
                    }
                    None => {
                        push_sep(&mut out, "\"");
                        i += 1;
                    }
                }
            }
            Item::Ch(c) if SEPARATORS.contains(&c) => {
                push_sep(&mut out, &c.to_string());
                i += 1;
            }
            _ => {
                let start = i;
                let mut colon = false;
                while let Some(&x) = items.get(i) {
                    match x {
                        Item::Ch(c) if c.is_whitespace() || c == '"' || SEPARATORS.contains(&c) => {
                            break;
                        }
                        // `10.0.0.1:50010:Got`: a value, then a word.
                        Item::Ch(':')
                            if i > start && colon_splits(&items[i - 1], items.get(i + 1)) =>
                        {
                            colon = true;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                let word = &items[start..i];
                let core_len = word.len()
                    - word.iter().rev().take_while(|&&x| matches!(x, Item::Ch('.' | ':'))).count();
                let (core, tail) = word.split_at(core_len);
                if !core.is_empty() {
                    out.push(if is_variable(core) {
                        Tok::Var
                    } else {
                        Tok::Word(text(core).into())
                    });
                }
                if !tail.is_empty() {
                    push_sep(&mut out, &text(tail));
                }
                if colon {
                    push_sep(&mut out, ":");
                    i += 1;
                }
            }
        }
    }
    collapse(out)
}

/// Whether a `:` between `before` and `after` separates a value from a word.
fn colon_splits(before: &Item, after: Option<&Item>) -> bool {
    matches!(before, Item::Slot | Item::Ch('0'..='9'))
        && matches!(after, Some(Item::Ch(c)) if c.is_ascii_alphabetic())
}

/// Joins runs of dynamic tokens separated by single spaces into one (a date and a time, a
/// list of ids).
fn collapse(shape: Shape) -> Shape {
    let mut out = Shape::with_capacity(shape.len());
    for t in shape {
        if t == Tok::Var
            && let [.., Tok::Var, Tok::Sep(sp)] = out.as_slice()
            && &**sp == " "
        {
            out.pop();
            continue;
        }
        out.push(t);
    }
    out
}

/// Appends separator text, joining it to a separator just before.
fn push_sep(out: &mut Shape, s: &str) {
    if let Some(Tok::Sep(prev)) = out.last_mut() {
        let mut joined = prev.to_string();
        joined.push_str(s);
        *prev = joined.into();
    } else {
        out.push(Tok::Sep(s.into()));
    }
}

fn text(items: &[Item]) -> String {
    items
        .iter()
        .map(|x| match x {
            Item::Ch(c) => *c,
            Item::Slot => '\u{fffd}',
        })
        .collect()
}

/// Whether a word (no whitespace or separators) reads as a value (module docs, step 1).
fn is_variable(word: &[Item]) -> bool {
    if word.contains(&Item::Slot) {
        return true;
    }
    let s = text(word);
    let has_digit = s.chars().any(|c| c.is_ascii_digit());
    if !has_digit {
        return false;
    }
    if !s.chars().any(char::is_alphabetic) || s.contains('/') {
        return true;
    }
    let mut run = 0;
    for c in s.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 3 {
            return true;
        }
    }
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
    match hex {
        Some(h) => !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()),
        None => s.len() >= 6 && s.chars().all(|c| c.is_ascii_hexdigit()),
    }
}

/// The level a word names, if any (module docs).
fn level(word: &str) -> Option<&'static str> {
    let upper = word.to_ascii_uppercase();
    let any_case =
        matches!(upper.as_str(), "ERROR" | "FATAL" | "WARN" | "WARNING" | "INFO" | "DEBUG");
    if !any_case && word != upper {
        return None;
    }
    Some(match upper.as_str() {
        "ERROR" | "ERR" | "FATAL" | "CRITICAL" | "SEVERE" | "EMERG" | "ALERT" | "PANIC" => "Error",
        "WARN" | "WARNING" => "Warning",
        "INFO" | "NOTICE" => "Info",
        "DEBUG" | "TRACE" | "FINE" => "Debug",
        _ => return None,
    })
}

/// `@severityLabel` of a pattern.
pub(crate) fn severity(shape: &[Tok]) -> &'static str {
    shape
        .iter()
        .find_map(|t| match t {
            Tok::Word(w) => level(w),
            _ => None,
        })
        .unwrap_or("Unknown")
}

/// The pattern as `@pattern` shows it: dynamic tokens `<Token-1>`, `<Token-2>`, ... left to
/// right.
pub(crate) fn render(shape: &[Tok]) -> String {
    let mut out = String::new();
    let mut n = 0;
    for t in shape {
        match t {
            Tok::Word(w) | Tok::Sep(w) => out.push_str(w),
            Tok::Var => {
                n += 1;
                let _ = write!(out, "<Token-{n}>");
            }
        }
    }
    out
}

/// Orders shapes by everything but position `pos` (length first).
fn cmp_except(a: &[Tok], b: &[Tok], pos: usize) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        let ra = a.iter().enumerate().filter(|&(i, _)| i != pos).map(|(_, t)| t);
        let rb = b.iter().enumerate().filter(|&(i, _)| i != pos).map(|(_, t)| t);
        ra.cmp(rb)
    })
}

/// Merges shapes that differ in one word position only (step 2 of the module docs). The
/// result is sorted by shape; counts add up.
pub(crate) fn merge_variants(mut shapes: Vec<(Shape, u64)>) -> Vec<(Shape, u64)> {
    dedup(&mut shapes);
    // Words seen as values of a merged position: two of them at a position are enough.
    let mut values: std::collections::HashSet<Box<str>> = std::collections::HashSet::new();
    loop {
        let mut changed = false;
        let longest = shapes.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
        for pos in 0..longest {
            let eligible = |s: &Shape| matches!(s.get(pos), Some(Tok::Word(_) | Tok::Var));
            let mut idx: Vec<usize> =
                (0..shapes.len()).filter(|&i| eligible(&shapes[i].0)).collect();
            idx.sort_by(|&a, &b| cmp_except(&shapes[a].0, &shapes[b].0, pos));
            let mut merged_any = false;
            let mut start = 0;
            while start < idx.len() {
                let mut end = start + 1;
                while end < idx.len()
                    && cmp_except(&shapes[idx[start]].0, &shapes[idx[end]].0, pos).is_eq()
                {
                    end += 1;
                }
                let group = &idx[start..end];
                let mut words: Vec<Box<str>> = Vec::new();
                let mut has_var = false;
                for &g in group {
                    match &shapes[g].0[pos] {
                        Tok::Word(w) => words.push(w.clone()),
                        _ => has_var = true,
                    }
                }
                words.sort_unstable();
                words.dedup();
                let levels = words.iter().any(|w| level(w).is_some());
                let known = words.len() >= 2 && words.iter().all(|w| values.contains(w));
                if !levels && (words.len() >= 3 || (has_var && !words.is_empty()) || known) {
                    values.extend(words);
                    for &g in group {
                        shapes[g].0[pos] = Tok::Var;
                    }
                    merged_any = true;
                }
                start = end;
            }
            if merged_any {
                dedup(&mut shapes);
                changed = true;
            }
        }
        if !changed {
            for (s, _) in &mut shapes {
                *s = collapse(std::mem::take(s));
            }
            dedup(&mut shapes);
            return shapes;
        }
    }
}

/// Sorts by shape and adds up the counts of equal shapes.
fn dedup(shapes: &mut Vec<(Shape, u64)>) {
    shapes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Shape, u64)> = Vec::with_capacity(shapes.len());
    for (s, n) in shapes.drain(..) {
        match out.last_mut() {
            Some((last, m)) if *last == s => *m += n,
            _ => out.push((s, n)),
        }
    }
    *shapes = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of literal text (as a template with every variable folded).
    fn shape(text: &str) -> String {
        render(&normalise(std::iter::once(Piece::Text(text.as_bytes()))))
    }

    #[test]
    fn values_become_tokens() {
        let cases = [
            (
                "Failed password for root from 1.2.3.4 port 22 ssh2",
                "Failed password for root from <Token-1> port <Token-2> ssh2",
            ),
            (
                "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user test9 from 52.80.34.196",
                "Dec <Token-1> LabSZ sshd[<Token-2>]: Invalid user test9 from <Token-3>",
            ),
            (
                "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
                "Receiving block <Token-1> src: <Token-2> dest: <Token-3>",
            ),
            (
                "logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
                "logname= uid=<Token-1> euid=<Token-2> tty=ssh ruser= rhost=<Token-3> user=root",
            ),
            (
                "Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]",
                "Received disconnect from <Token-1>: <Token-2>: Bye Bye [preauth]",
            ),
            ("job /mnt/hadoop/system/job_200811092030_0001/job.jar. done", "job <Token-1>. done"),
            (
                "GET \"/a b\" at 0x1f and deadbeef01 or cafe",
                "GET \"<Token-1>\" at <Token-2> and <Token-3> or cafe",
            ),
            ("HTTP/1.1 and x86_64 and 2015-10-18", "<Token-1> and x86_64 and <Token-2>"),
            ("empty \"\" quote and \"open", "empty \"\" quote and \"open"),
            (
                "10.251.71.16:50010:Got exception while serving blk_7503483334202473044 to /10.2.3.4:",
                "<Token-1>:Got exception while serving <Token-2> to <Token-3>:",
            ),
            (
                "ask 1.2.3.4:50010 to delete  blk_123 blk_-4567 blk_890",
                "ask <Token-1> to delete <Token-2>",
            ),
            ("pam_unix(sshd:auth): x", "pam_unix(sshd:auth): x"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(shape(text), want, "{text}");
        }
    }

    #[test]
    fn slots_and_folded_values_give_one_shape() {
        let slotted = normalise(
            [
                Piece::Text(b"port "),
                Piece::Number,
                Piece::Text(b" from 10.0.0."),
                Piece::Number,
                Piece::Text(b" id "),
                Piece::Variable,
            ]
            .into_iter(),
        );
        assert_eq!(render(&slotted), "port <Token-1> from <Token-2> id <Token-3>");
        assert_eq!(
            slotted,
            normalise(std::iter::once(Piece::Text(b"port 22 from 10.0.0.7 id 1f2e3d4c")))
        );
        // A short word with a digit is literal when folded, a token when it varied.
        let varied = normalise([Piece::Text(b"user test"), Piece::Number].into_iter());
        assert_eq!(render(&varied), "user <Token-1>");
        assert_eq!(shape("user test9"), "user test9");
    }

    fn merged(lines: &[(&str, u64)]) -> Vec<(String, u64)> {
        let shapes = lines
            .iter()
            .map(|(l, n)| (normalise(std::iter::once(Piece::Text(l.as_bytes()))), *n))
            .collect();
        merge_variants(shapes).into_iter().map(|(s, n)| (render(&s), n)).collect()
    }

    #[test]
    fn words_that_vary_merge() {
        let got = merged(&[
            ("Invalid user admin from 1.2.3.4", 2),
            ("Invalid user oracle from 1.2.3.5", 1),
            ("Invalid user test9 from 1.2.3.6", 4),
            ("Accepted password for fztu from 1.2.3.4", 1),
            ("Failed password for fztu from 1.2.3.4", 3),
        ]);
        assert_eq!(
            got,
            [
                ("Accepted password for fztu from <Token-1>".to_string(), 1),
                ("Failed password for fztu from <Token-1>".to_string(), 3),
                ("Invalid user <Token-1> from <Token-2>".to_string(), 7),
            ]
        );
    }

    #[test]
    fn a_varied_position_absorbs_words_and_levels_stay_apart() {
        let mut shapes = vec![
            (
                normalise(
                    [Piece::Text(b"user "), Piece::Variable, Piece::Text(b" left")].into_iter(),
                ),
                5,
            ),
            (normalise(std::iter::once(Piece::Text(b"user bob left"))), 2),
        ];
        for level in ["INFO", "WARN", "ERROR", "DEBUG"] {
            let line = format!("{level} disk full");
            shapes.push((normalise(std::iter::once(Piece::Text(line.as_bytes()))), 1));
        }
        let got: Vec<(String, u64)> =
            merge_variants(shapes).into_iter().map(|(s, n)| (render(&s), n)).collect();
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got.contains(&("user <Token-1> left".to_string(), 7)));
        assert!(got.contains(&("ERROR disk full".to_string(), 1)));
    }

    #[test]
    fn merging_does_not_depend_on_input_order() {
        let lines = [
            ("a x 1 b", 1),
            ("a y 2 b", 1),
            ("a z 3 b", 1),
            ("a x c b", 2),
            ("q x", 1),
            ("q y", 1),
            ("q z", 1),
        ];
        let forward = merged(&lines);
        let mut reversed = lines.to_vec();
        reversed.reverse();
        assert_eq!(forward, merged(&reversed));
        assert_eq!(forward.iter().map(|(_, n)| n).sum::<u64>(), 8);
    }

    #[test]
    fn severity_from_level_words() {
        let label = |t: &str| severity(&normalise(std::iter::once(Piece::Text(t.as_bytes()))));
        assert_eq!(label("081109 203518 143 INFO dfs.DataNode: x"), "Info");
        assert_eq!(label("x WARN y ERROR"), "Warning");
        assert_eq!(label("error: Received disconnect"), "Error");
        assert_eq!(label("[error] [client 1.2.3.4] x"), "Error");
        assert_eq!(label("a fine day, notice it"), "Unknown");
        assert_eq!(label("NOTICE x"), "Info");
        assert_eq!(label("Failed password for root"), "Unknown");
    }
}
