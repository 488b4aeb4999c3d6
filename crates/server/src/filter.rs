//! Filter patterns for FilterLogEvents and Tail, in CloudWatch's full syntax (terms, `?`/`-`
//! terms, quoted phrases, `%regex%`, `{ $.json }` and `[space, delimited]`), compiled once per
//! call by `logsight_query_lang::pattern` and shared by reference while events stream past.

use logsight_query_lang::pattern::FilterPattern;

use crate::error::shown;

/// The compiler's reason may quote the pattern; a reason is a sentence, so longer ones are cut.
fn cut_reason(reason: &str) -> String {
    match reason.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &reason[..i]),
        None => reason.to_owned(),
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Matcher(FilterPattern);

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern (cut to 80 characters).
    pub pattern: String,
    /// What is wrong with it, and where (quoted parts cut).
    pub reason: String,
}

/// Compiles a pattern.
pub fn compile(pattern: &str) -> Result<Matcher, PatternError> {
    FilterPattern::compile(pattern).map(Matcher).map_err(|e| PatternError {
        pattern: shown(pattern),
        reason: format!("{} (at character {})", cut_reason(&e.message), e.offset),
    })
}

impl Matcher {
    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        self.0.matches(message)
    }

    /// The compiled pattern.
    pub fn pattern(&self) -> &FilterPattern {
        &self.0
    }

    /// Whether every message matches (the empty pattern), so matching can be skipped.
    pub fn matches_all(&self) -> bool {
        self.0.matches_everything()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_language() {
        let m = compile(r#"ERROR "user 42""#).unwrap();
        assert!(m.matches("x ERROR for user 42 y"));
        assert!(!m.matches("error for user 42"));
        assert!(compile("").unwrap().matches_all());
        assert!(compile("{ $.latency > 100 }").unwrap().matches(r#"{"latency": 250}"#));
        assert!(compile("[ip, status = 5*]").unwrap().matches("10.0.0.1 503"));
        let err = compile("%(a)%").unwrap_err().to_string();
        assert!(
            err.contains("parentheses are not supported") && err.contains("at character"),
            "{err}"
        );
        let huge = format!("%{}(%", "a".repeat(100_000));
        let err = compile(&huge).unwrap_err().to_string();
        assert!(err.len() < 600, "{} bytes: {}", err.len(), &err[..600]);
    }
}
