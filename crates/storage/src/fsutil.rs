//! File-system steps that durability depends on.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Fsyncs the directory holding `path`, so a create, rename or unlink in it is durable.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    sync_dir(dir)
}

/// Fsyncs a directory.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context(|| format!("fsync of directory {}", dir.display()))
}

/// Replaces `path` with `contents` atomically: temp file, fsync, rename, fsync of the directory.
/// After a crash the file holds either the old or the new contents, never a mix.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).context(|| format!("creating {}", tmp.display()))?;
    f.write_all(contents).context(|| format!("writing {}", tmp.display()))?;
    f.sync_all().context(|| format!("fsync of {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, path).context(|| format!("renaming {} into place", tmp.display()))?;
    sync_parent(path)
}
