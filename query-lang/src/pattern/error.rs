//! The compile error and its caret rendering.

/// A filter pattern that does not compile.
///
/// `offset` counts characters (not bytes) from the start of the pattern, so it can be shown under
/// the pattern as typed; [`PatternError::render`] does exactly that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct PatternError {
    /// Character offset of the offending position in the pattern.
    pub offset: usize,
    /// What went wrong, phrased as what was expected (lowercase, no trailing period).
    pub message: String,
}

impl PatternError {
    /// Builds an error at a byte offset of `pattern`, converting it to a character offset.
    pub(crate) fn at_byte(pattern: &str, byte: usize, message: impl Into<String>) -> Self {
        let byte = byte.min(pattern.len());
        let offset = pattern.char_indices().take_while(|&(i, _)| i < byte).count();
        PatternError { offset, message: message.into() }
    }

    /// Returns a three-line report: the message, the pattern, and a caret under the offending
    /// character (or just past the end when the pattern ended too early).
    ///
    /// ```
    /// use logsight_query_lang::pattern::FilterPattern;
    /// let err = FilterPattern::compile("{ $.a = }").unwrap_err();
    /// assert_eq!(err.render("{ $.a = }"), "error: expected a value after `=` but found `}`\n  { $.a = }\n          ^");
    /// ```
    pub fn render(&self, pattern: &str) -> String {
        // Control characters would shift the caret, so they are shown as spaces.
        let shown: String = pattern.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        format!("error: {}\n  {}\n  {}^", self.message, shown, " ".repeat(self.offset))
    }
}
