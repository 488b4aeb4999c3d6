//! Composite alarm rules: `ALARM(a) AND NOT OK(b)`, as CloudWatch's PutCompositeAlarm.
//!
//! Grammar: `expr := and (OR and)*`, `and := unary (AND unary)*`, `unary := NOT unary |
//! primary`, `primary := ( expr ) | TRUE | FALSE | STATE(name)` with STATE one of `ALARM`,
//! `OK`, `INSUFFICIENT_DATA` and the name bare or in double quotes. NOT binds tightest, then
//! AND, then OR. Keywords are upper case, as CloudWatch's.

use std::fmt;

use crate::error::AlarmError;
use crate::model::AlarmState;

/// At most this many characters in a rule, as CloudWatch.
pub const MAX_RULE_CHARS: usize = 10_240;

/// The states of other alarms, as a composite rule sees them.
pub trait StateLookup {
    /// The state of the alarm named `name`, if it exists.
    fn state(&self, name: &str) -> Option<AlarmState>;
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Const(bool),
    Is(AlarmState, String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed composite alarm rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRule {
    source: String,
    expr: Expr,
}

impl AlarmRule {
    /// Parses a rule.
    pub fn parse(source: &str) -> Result<AlarmRule, AlarmError> {
        if source.chars().count() > MAX_RULE_CHARS {
            return Err(AlarmError::Rule {
                offset: 0,
                message: format!("a rule is at most {MAX_RULE_CHARS} characters"),
            });
        }
        let mut p = Parser { s: source, i: 0 };
        let expr = p.or()?;
        p.skip_ws();
        if p.i != source.len() {
            return Err(p.err("expected AND, OR or the end of the rule"));
        }
        Ok(AlarmRule { source: source.to_owned(), expr })
    }

    /// Whether the rule holds; an alarm that does not exist is in no state.
    pub fn eval(&self, states: &dyn StateLookup) -> bool {
        fn go(e: &Expr, s: &dyn StateLookup) -> bool {
            match e {
                Expr::Const(b) => *b,
                Expr::Is(state, name) => s.state(name) == Some(*state),
                Expr::Not(e) => !go(e, s),
                Expr::And(a, b) => go(a, s) && go(b, s),
                Expr::Or(a, b) => go(a, s) || go(b, s),
            }
        }
        go(&self.expr, states)
    }

    /// The alarm names the rule mentions, in order of appearance, without repeats.
    pub fn alarm_names(&self) -> Vec<&str> {
        fn go<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
            match e {
                Expr::Const(_) => {}
                Expr::Is(_, n) => {
                    if !out.contains(&n.as_str()) {
                        out.push(n);
                    }
                }
                Expr::Not(e) => go(e, out),
                Expr::And(a, b) | Expr::Or(a, b) => {
                    go(a, out);
                    go(b, out);
                }
            }
        }
        let mut out = Vec::new();
        go(&self.expr, &mut out);
        out
    }

    /// The rule as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for AlarmRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, message: &str) -> AlarmError {
        AlarmError::Rule { offset: self.i, message: message.to_owned() }
    }

    fn skip_ws(&mut self) {
        let rest = &self.s[self.i..];
        self.i += rest.len() - rest.trim_start().len();
    }

    /// Consumes `word` if it comes next as a whole word.
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = &self.s[self.i..];
        let whole = rest.strip_prefix(word).is_some_and(|after| {
            !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        });
        if whole {
            self.i += word.len();
        }
        whole
    }

    fn or(&mut self) -> Result<Expr, AlarmError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, AlarmError> {
        let mut left = self.unary()?;
        while self.keyword("AND") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, AlarmError> {
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.skip_ws();
        if self.s[self.i..].starts_with('(') {
            self.i += 1;
            let e = self.or()?;
            self.skip_ws();
            if !self.s[self.i..].starts_with(')') {
                return Err(self.err("expected `)`"));
            }
            self.i += 1;
            return Ok(e);
        }
        if self.keyword("TRUE") {
            return Ok(Expr::Const(true));
        }
        if self.keyword("FALSE") {
            return Ok(Expr::Const(false));
        }
        for state in [AlarmState::Alarm, AlarmState::Ok, AlarmState::InsufficientData] {
            if self.keyword(state.as_str()) {
                return Ok(Expr::Is(state, self.name()?));
            }
        }
        Err(self.err(
            "expected ALARM(name), OK(name), INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or `(`",
        ))
    }

    /// `(name)` or `("name")`.
    fn name(&mut self) -> Result<String, AlarmError> {
        self.skip_ws();
        if !self.s[self.i..].starts_with('(') {
            return Err(self.err("expected `(` and an alarm name"));
        }
        self.i += 1;
        self.skip_ws();
        let rest = &self.s[self.i..];
        let (name, used) = if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').ok_or_else(|| self.err("unterminated quoted alarm name"))?;
            (q[..end].to_owned(), end + 2)
        } else {
            let end = rest.find(')').ok_or_else(|| self.err("expected `)`"))?;
            (rest[..end].trim_end().to_owned(), end)
        };
        if name.is_empty() {
            return Err(self.err("empty alarm name"));
        }
        self.i += used;
        self.skip_ws();
        if !self.s[self.i..].starts_with(')') {
            return Err(self.err("expected `)` after the alarm name"));
        }
        self.i += 1;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct States(HashMap<&'static str, AlarmState>);
    impl StateLookup for States {
        fn state(&self, name: &str) -> Option<AlarmState> {
            self.0.get(name).copied()
        }
    }

    #[test]
    fn rules_evaluate_with_precedence() {
        use AlarmState::*;
        let s = States(HashMap::from([("a", Alarm), ("b", Ok), ("c c", InsufficientData)]));
        let cases = [
            ("ALARM(a) AND NOT OK(b)", false),
            ("ALARM(a) AND NOT ALARM(b)", true),
            ("ALARM(a)", true),
            ("OK(a) OR ALARM(a) AND FALSE", false),
            ("(OK(a) OR ALARM(a)) AND TRUE", true),
            ("NOT ALARM(a) OR OK(b)", true),
            ("INSUFFICIENT_DATA(\"c c\")", true),
            ("INSUFFICIENT_DATA( c c )", true),
            ("ALARM(gone)", false),
            ("NOT ALARM(gone)", true),
            ("NOT NOT TRUE", true),
        ];
        for (rule, want) in cases {
            assert_eq!(AlarmRule::parse(rule).unwrap().eval(&s), want, "{rule}");
        }
    }

    #[test]
    fn bad_rules_are_rejected_with_an_offset() {
        for (rule, offset) in [
            ("ALARM(a) AND", 12),
            ("ALARM a", 6),
            ("alarm(a)", 0),
            ("ALARM(a) XOR OK(b)", 9),
            ("(ALARM(a)", 9),
            ("ALARM()", 6),
            ("ALARMS(a)", 0),
        ] {
            match AlarmRule::parse(rule) {
                Err(AlarmError::Rule { offset: o, .. }) => assert_eq!(o, offset, "{rule}"),
                other => panic!("{rule}: {other:?}"),
            }
        }
    }

    #[test]
    fn names_are_listed_once() {
        let r = AlarmRule::parse("ALARM(a) OR (OK(b) AND NOT ALARM(a))").unwrap();
        assert_eq!(r.alarm_names(), ["a", "b"]);
    }
}
