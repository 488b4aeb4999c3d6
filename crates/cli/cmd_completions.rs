//! `logsight completions SHELL` and `logsight man`: generated from the command definition, so
//! they never drift from the flags.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `logsight completions bash > ~/.local/share/bash-completion/completions/logsight`.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Print the man page.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command (logsight.1, logsight-events-get.1, ...) into this
    /// directory instead of printing logsight.1.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "logsight", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the man page(s).
pub fn man(args: ManArgs, cmd: clap::Command) -> Result<ExitCode> {
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
