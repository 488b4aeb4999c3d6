//! Filter patterns for FilterLogEvents and Tail: plain terms and quoted phrases.
//!
//! This is the interim subset of CloudWatch's filter-pattern language until the full language
//! lands in `logsight-query-lang`: a pattern is a list of terms, each a bare word or a
//! double-quoted phrase; an event matches when its message contains every term
//! (case-sensitive). An empty pattern matches everything. The API (`compile`, `matches`) is what
//! the full language will keep.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    terms: Vec<String>,
}

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Compiles a pattern.
pub fn compile(pattern: &str) -> Result<Matcher, PatternError> {
    let err = |reason: &str| PatternError { pattern: pattern.to_owned(), reason: reason.into() };
    let mut terms = Vec::new();
    let mut rest = pattern.trim_start();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').ok_or_else(|| err("unterminated quoted phrase"))?;
            if end > 0 {
                terms.push(after[..end].to_owned());
            }
            rest = &after[end + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            if word.starts_with(['{', '[', '%', '?', '-']) {
                return Err(err(
                    "only terms and quoted phrases are supported for now (JSON, space-delimited, regex, ? and - terms are not)",
                ));
            }
            terms.push(word.to_owned());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(Matcher { terms })
}

impl Matcher {
    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        self.terms.iter().all(|t| message.contains(t.as_str()))
    }

    /// Whether the pattern matches every message.
    pub fn matches_all(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_and_phrases() {
        let m = compile("ERROR \"user 42\"").unwrap();
        assert!(m.matches("x ERROR for user 42 y"));
        assert!(!m.matches("ERROR for user 4"));
        assert!(!m.matches("error for user 42"));
        assert!(compile("").unwrap().matches("anything"));
        assert!(compile("  ").unwrap().matches_all());
        assert!(compile("\"a b").is_err());
        assert!(compile("{ $.x = 1 }").unwrap_err().to_string().contains("only terms"));
    }
}
