//! The line editor: reedline with the query language's highlighting, completion and
//! multi-line rule ([`super::lang`]), and a history file that survives sessions.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use nu_ansi_term::{Color, Style};
use reedline::{
    ColumnarMenu, Completer, Emacs, FileBackedHistory, Highlighter, KeyCode, KeyModifiers,
    MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch, PromptHistorySearchStatus, Reedline,
    ReedlineEvent, ReedlineMenu, Span, StyledText, Suggestion, ValidationResult, Validator,
    default_emacs_keybindings,
};

use super::lang::{self, Kind, Vocabulary};

/// The environment variable naming the history file (`--history`).
pub const HISTORY_ENV: &str = "LOGSIGHT_HISTORY";

/// Lines kept in the history file.
const HISTORY_LINES: usize = 10_000;

/// The history file: `explicit` if given, else `repl_history` in the user's data directory
/// (`$XDG_DATA_HOME/logsight` on Linux).
pub fn history_path(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let dirs = directories::ProjectDirs::from("", "", "logsight")
        .ok_or_else(|| anyhow!("no home directory for the REPL's history: give --history FILE"))?;
    Ok(dirs.data_dir().join("repl_history"))
}

/// A line editor with highlighting, completion from `vocab`, multi-line queries, Ctrl-R and
/// the history in `history`.
pub fn build(history: PathBuf, vocab: Arc<Mutex<Vocabulary>>) -> Result<Reedline> {
    if let Some(dir) = history.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the history directory {}", dir.display()))?;
    }
    let history = FileBackedHistory::with_file(HISTORY_LINES, history.clone())
        .with_context(|| format!("opening the history file {}", history.display()))?;
    let mut keys = default_emacs_keybindings();
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("completion_menu".to_string()),
            ReedlineEvent::MenuNext,
        ]),
    );
    let menu = ColumnarMenu::default().with_name("completion_menu");
    Ok(Reedline::create()
        .with_history(Box::new(history))
        .with_highlighter(Box::new(QueryHighlighter))
        .with_completer(Box::new(QueryCompleter { vocab }))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(menu)))
        .with_validator(Box::new(QueryValidator))
        .with_edit_mode(Box::new(Emacs::new(keys))))
}

struct QueryHighlighter;

impl Highlighter for QueryHighlighter {
    fn highlight(&self, line: &str, _cursor: usize) -> StyledText {
        let mut out = StyledText::new();
        for t in lang::tokenize(line) {
            let style = match t.kind {
                Kind::Command => Style::new().bold().fg(Color::Magenta),
                Kind::Function => Style::new().fg(Color::Blue),
                Kind::Keyword => Style::new().fg(Color::Yellow),
                Kind::Field => Style::new().fg(Color::Cyan),
                Kind::String => Style::new().fg(Color::Green),
                Kind::Number => Style::new().fg(Color::Purple),
                Kind::Comment => Style::new().dimmed(),
                Kind::Meta => Style::new().bold(),
                Kind::Other => Style::new(),
            };
            out.push((style, line[t.span].to_string()));
        }
        out
    }
}

struct QueryCompleter {
    vocab: Arc<Mutex<Vocabulary>>,
}

impl Completer for QueryCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> Vec<Suggestion> {
        // A poisoned lock still holds the last names; completion goes on with them.
        let vocab = self.vocab.lock().unwrap_or_else(|e| e.into_inner()).clone();
        lang::complete(line, pos, &vocab)
            .into_iter()
            .map(|c| Suggestion {
                // After a command or keyword a space comes next; after a function its `(`
                // (part of the value), after a field often `)` or `,`.
                append_whitespace: matches!(c.what, "command" | "keyword" | "log group"),
                value: c.value,
                description: Some(c.what.to_string()),
                span: Span::new(c.span.start, c.span.end),
                ..Default::default()
            })
            .collect()
    }
}

struct QueryValidator;

impl Validator for QueryValidator {
    fn validate(&self, line: &str) -> ValidationResult {
        if lang::is_complete(line) {
            ValidationResult::Complete
        } else {
            ValidationResult::Incomplete
        }
    }
}

/// `logsight> `, and `     | ` on the lines of a query that continues.
pub struct QueryPrompt;

impl Prompt for QueryPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed("logsight")
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("> ")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("       | ")
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failing = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "failing ",
        };
        Cow::Owned(format!("({failing}reverse-search: {}) ", search.term))
    }
}
