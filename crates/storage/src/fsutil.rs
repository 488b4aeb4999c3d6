//! File-system steps that durability and privacy depend on.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{IoContext, Result};

/// The permission bits of what the store creates. The WAL and segments hold messages in clear,
/// so by default only the owner may read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    /// Mode of data files (WAL, segments, catalog).
    pub file: u32,
    /// Mode of directories (the data directory and its subdirectories).
    pub dir: u32,
}

impl Default for Perms {
    fn default() -> Self {
        Perms { file: 0o600, dir: 0o700 }
    }
}

impl Perms {
    /// Creates (or truncates) `path` for writing with the file mode.
    pub(crate) fn create(&self, path: &Path) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(self.file)
            .open(path)
            .context(|| format!("creating {}", path.display()))
    }

    /// Creates `dir` and its missing parents with the directory mode. A directory that exists
    /// already keeps its mode unless it is the data directory itself (see `Store::open`).
    pub(crate) fn create_dir_all(&self, dir: &Path) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(self.dir)
            .create(dir)
            .context(|| format!("creating {}", dir.display()))
    }

    /// Narrows `dir`'s mode to the directory mode if it is wider (a directory made before
    /// modes were configurable): the data directory guards everything below it.
    pub(crate) fn restrict_dir(&self, dir: &Path) -> Result<()> {
        let meta = fs::metadata(dir).context(|| format!("reading {}", dir.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & !self.dir != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode & self.dir))
                .context(|| format!("restricting the mode of {}", dir.display()))?;
        }
        Ok(())
    }
}

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
pub(crate) fn write_atomic(path: &Path, contents: &[u8], perms: Perms) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = perms.create(&tmp)?;
    f.write_all(contents).context(|| format!("writing {}", tmp.display()))?;
    f.sync_all().context(|| format!("fsync of {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, path).context(|| format!("renaming {} into place", tmp.display()))?;
    sync_parent(path)
}

/// Moves `path` into `<data dir>/lost+found`, keeping its name (with a numeric suffix if
/// taken), and returns where it went. Files that may hold acknowledged data are never deleted
/// on a guess: they are set aside for an operator to look at.
pub(crate) fn set_aside(data_dir: &Path, path: &Path, perms: Perms) -> Result<std::path::PathBuf> {
    let lost = data_dir.join(LOST_AND_FOUND);
    perms.create_dir_all(&lost)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut to = lost.join(&name);
    let mut n = 1;
    while to.exists() {
        to = lost.join(format!("{name}.{n}"));
        n += 1;
    }
    fs::rename(path, &to).context(|| format!("moving {} to {}", path.display(), to.display()))?;
    sync_dir(&lost)?;
    sync_parent(path)?;
    Ok(to)
}

/// Where files of unknown standing are set aside.
pub(crate) const LOST_AND_FOUND: &str = "lost+found";
