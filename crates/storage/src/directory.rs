//! The file-access seam: where segment files and their derived artifacts live.
//!
//! Segments are immutable, written once and read many times, so the store needs only a few
//! operations from whatever holds them, the way tantivy's `Directory` does:
//!
//! - [`Directory::open_read`]: a file's whole contents as read-only bytes, cheap to clone and
//!   slice. On disk they are memory-mapped, so a read touches only the pages it needs.
//! - [`Directory::create`]: a streamed write that becomes visible under its name only when it
//!   is committed, atomically and durably (a crash leaves the old file or the new one, never a
//!   mix or a half). A writer dropped without committing leaves nothing behind.
//! - [`Directory::delete`] and [`Directory::list`], and [`Directory::set_aside`] for a file of
//!   unknown standing, which is moved out of the listing rather than deleted.
//!
//! Bytes handed out stay valid and unchanged while they are held, even if the file is
//! replaced or deleted meanwhile: a scan on a snapshot never sees a compaction's effects.
//!
//! [`MmapDirectory`] keeps files in a directory on disk; [`RamDirectory`] keeps them in
//! memory, for tests and tools. One contract suite (the tests below) runs on both. The WAL and
//! the catalog stay on local disk outside this seam: they need appends and in-place fsyncs,
//! and object storage (which this seam is shaped for) offers neither.
//!
//! Names are flat (no `/`) and may not end in `.tmp`, which on disk marks uncommitted writes.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::error::{IoContext, Result, StorageError};
use crate::fsutil::{self, Perms};

/// A file's contents: immutable, cheap to clone and slice.
pub type FileBytes = Bytes;

/// Where segment files and their artifacts are kept. See the module docs for the contract.
pub trait Directory: Send + Sync + fmt::Debug {
    /// The whole contents of `name`. A missing file is an error for which
    /// [`StorageError::is_not_found`] holds.
    fn open_read(&self, name: &str) -> Result<FileBytes>;

    /// Starts writing `name`; nothing is visible under that name until the writer commits.
    fn create(&self, name: &str) -> Result<Box<dyn FileWriter>>;

    /// Writes `name` whole, atomically and durably, replacing any file of that name.
    fn write_atomic(&self, name: &str, contents: &[u8]) -> Result<()> {
        let mut w = self.create(name)?;
        w.write_all(contents).context(|| format!("writing {}", self.location(name).display()))?;
        w.commit()
    }

    /// Deletes `name` durably. Deleting a file that does not exist is not an error, so a
    /// cleanup interrupted by a crash can simply run again.
    fn delete(&self, name: &str) -> Result<()>;

    /// The committed files' names, sorted.
    fn list(&self) -> Result<Vec<String>>;

    /// Moves `name` out of the listing to where an operator can look at it, and says where.
    /// For files that might hold acknowledged data, which are never deleted on a guess.
    fn set_aside(&self, name: &str) -> Result<PathBuf>;

    /// Where `name` is, for messages (a path on disk, or a pseudo-path).
    fn location(&self, name: &str) -> PathBuf;
}

/// A file being written by [`Directory::create`].
pub trait FileWriter: Write + Send {
    /// Makes the file durable and visible under its name, replacing any file of that name.
    fn commit(self: Box<Self>) -> Result<()>;
}

const TMP_SUFFIX: &str = ".tmp";

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name.ends_with(TMP_SUFFIX) || name.starts_with('.')
    {
        return Err(StorageError::InvalidArgument(format!(
            "{name:?} is not a valid file name in a storage directory"
        )));
    }
    Ok(())
}

/// Files in a directory on disk, read through memory maps.
#[derive(Debug, Clone)]
pub struct MmapDirectory {
    root: PathBuf,
    perms: Perms,
}

impl MmapDirectory {
    /// Opens (creating if needed, with `perms`) the directory at `root`, removing uncommitted
    /// writes left by a crash: a `.tmp` file was never renamed into place, so nothing
    /// acknowledged is in it. Files are created with `perms`; files set aside go to
    /// `lost+found` beside `root`.
    pub fn open(root: impl Into<PathBuf>, perms: Perms) -> Result<MmapDirectory> {
        let root = root.into();
        perms.create_dir_all(&root)?;
        for entry in fs::read_dir(&root).context(|| format!("listing {}", root.display()))? {
            let entry = entry.context(|| format!("listing {}", root.display()))?;
            if entry.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
                tracing::info!(file = %entry.path().display(), "removing an uncommitted write");
                fs::remove_file(entry.path())
                    .context(|| format!("removing {}", entry.path().display()))?;
            }
        }
        Ok(MmapDirectory { root, perms })
    }

    /// The directory on disk.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Directory for MmapDirectory {
    fn open_read(&self, name: &str) -> Result<FileBytes> {
        check_name(name)?;
        map_file(&self.root.join(name))
    }

    fn create(&self, name: &str) -> Result<Box<dyn FileWriter>> {
        check_name(name)?;
        let path = self.root.join(name);
        let tmp = self.root.join(format!("{name}{TMP_SUFFIX}"));
        let file = self.perms.create(&tmp)?;
        let w = Some(BufWriter::with_capacity(1 << 20, file));
        Ok(Box::new(DiskWriter { path, tmp, w }))
    }

    fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        let path = self.root.join(name);
        match fs::remove_file(&path) {
            Ok(()) => fsutil::sync_dir(&self.root),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(format!("removing {}", path.display()), e)),
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        let ctx = || format!("listing {}", self.root.display());
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root).context(ctx)? {
            let entry = entry.context(ctx)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(TMP_SUFFIX) && entry.file_type().context(ctx)?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn set_aside(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        let beside = self.root.parent().unwrap_or(&self.root);
        fsutil::set_aside(beside, &self.root.join(name), self.perms)
    }

    fn location(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// The whole contents of the file at `path`, memory-mapped (for tools that read one file).
pub(crate) fn map_file(path: &Path) -> Result<FileBytes> {
    let file = File::open(path).context(|| format!("opening {}", path.display()))?;
    let len = file.metadata().context(|| format!("reading {}", path.display()))?.len();
    if len == 0 {
        // Mapping zero bytes fails on some systems; there is nothing to map anyway.
        return Ok(Bytes::new());
    }
    let map = crate::mmap::map(&file).context(|| format!("mapping {}", path.display()))?;
    Ok(Bytes::from_owner(map))
}

struct DiskWriter {
    path: PathBuf,
    tmp: PathBuf,
    /// Taken by `commit`; present while writing.
    w: Option<BufWriter<File>>,
}

impl DiskWriter {
    fn writer(&mut self) -> &mut BufWriter<File> {
        self.w.as_mut().expect("a committed writer is consumed")
    }
}

impl Write for DiskWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

impl FileWriter for DiskWriter {
    fn commit(mut self: Box<Self>) -> Result<()> {
        let w = self.w.take().expect("committed once");
        let file = w.into_inner().map_err(|e| {
            StorageError::io(format!("writing {}", self.tmp.display()), e.into_error())
        })?;
        file.sync_all().context(|| format!("fsync of {}", self.tmp.display()))?;
        drop(file);
        fs::rename(&self.tmp, &self.path)
            .context(|| format!("renaming {} into place", self.tmp.display()))?;
        fsutil::sync_parent(&self.path)
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        if self.w.take().is_some() {
            // Abandoned: the file was never visible, so removing it loses nothing.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Files in memory. Cloning shares the same files.
#[derive(Debug, Clone, Default)]
pub struct RamDirectory {
    files: Arc<Mutex<BTreeMap<String, Bytes>>>,
    aside: Arc<Mutex<BTreeMap<String, Bytes>>>,
}

impl RamDirectory {
    /// An empty directory.
    pub fn new() -> RamDirectory {
        RamDirectory::default()
    }
}

impl Directory for RamDirectory {
    fn open_read(&self, name: &str) -> Result<FileBytes> {
        check_name(name)?;
        self.files.lock().get(name).cloned().ok_or_else(|| {
            StorageError::io(
                format!("opening {}", self.location(name).display()),
                io::ErrorKind::NotFound.into(),
            )
        })
    }

    fn create(&self, name: &str) -> Result<Box<dyn FileWriter>> {
        check_name(name)?;
        Ok(Box::new(RamWriter {
            files: self.files.clone(),
            name: name.to_owned(),
            buf: Vec::new(),
        }))
    }

    fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        self.files.lock().remove(name);
        Ok(())
    }

    fn list(&self) -> Result<Vec<String>> {
        Ok(self.files.lock().keys().cloned().collect())
    }

    fn set_aside(&self, name: &str) -> Result<PathBuf> {
        let bytes = self.open_read(name)?;
        self.files.lock().remove(name);
        self.aside.lock().insert(name.to_owned(), bytes);
        Ok(Path::new("ram:lost+found").join(name))
    }

    fn location(&self, name: &str) -> PathBuf {
        Path::new("ram:").join(name)
    }
}

struct RamWriter {
    files: Arc<Mutex<BTreeMap<String, Bytes>>>,
    name: String,
    buf: Vec<u8>,
}

impl Write for RamWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileWriter for RamWriter {
    fn commit(self: Box<Self>) -> Result<()> {
        let RamWriter { files, name, buf } = *self;
        files.lock().insert(name, Bytes::from(buf));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract every implementation keeps.
    fn contract(dir: &dyn Directory) {
        // A missing file is reported as missing.
        assert!(dir.open_read("a.seg").unwrap_err().is_not_found());
        assert!(dir.list().unwrap().is_empty());

        // Whole writes round-trip, and list is sorted.
        dir.write_atomic("b.seg", b"bravo").unwrap();
        dir.write_atomic("a.seg", b"alpha").unwrap();
        dir.write_atomic("empty", b"").unwrap();
        assert_eq!(&dir.open_read("a.seg").unwrap()[..], b"alpha");
        assert_eq!(&dir.open_read("empty").unwrap()[..], b"");
        assert_eq!(dir.list().unwrap(), ["a.seg", "b.seg", "empty"]);

        // A streamed write is invisible until committed.
        let mut w = dir.create("c.seg").unwrap();
        w.write_all(b"char").unwrap();
        assert!(dir.open_read("c.seg").unwrap_err().is_not_found());
        assert!(!dir.list().unwrap().contains(&"c.seg".to_owned()));
        w.write_all(b"lie").unwrap();
        w.commit().unwrap();
        assert_eq!(&dir.open_read("c.seg").unwrap()[..], b"charlie");

        // A dropped writer leaves nothing, not even under another name.
        let before = dir.list().unwrap();
        let mut w = dir.create("d.seg").unwrap();
        w.write_all(b"delta").unwrap();
        drop(w);
        assert_eq!(dir.list().unwrap(), before);

        // Bytes already handed out survive a replacement and a deletion unchanged.
        let old = dir.open_read("a.seg").unwrap();
        dir.write_atomic("a.seg", b"ALPHA, replaced").unwrap();
        assert_eq!(&old[..], b"alpha");
        assert_eq!(&dir.open_read("a.seg").unwrap()[..], b"ALPHA, replaced");
        let held = dir.open_read("b.seg").unwrap();
        dir.delete("b.seg").unwrap();
        assert_eq!(&held[..], b"bravo");
        assert!(dir.open_read("b.seg").unwrap_err().is_not_found());

        // Deleting twice is fine.
        dir.delete("b.seg").unwrap();
        assert_eq!(dir.list().unwrap(), ["a.seg", "c.seg", "empty"]);

        // A file set aside leaves the listing but is kept somewhere else.
        dir.set_aside("empty").unwrap();
        assert_eq!(dir.list().unwrap(), ["a.seg", "c.seg"]);
        assert!(dir.open_read("empty").unwrap_err().is_not_found());

        // Names that could escape the directory or collide with temporaries are refused.
        for bad in ["", "x/y", "../a.seg", "a.seg.tmp", ".hidden"] {
            assert!(
                matches!(dir.write_atomic(bad, b"x"), Err(StorageError::InvalidArgument(_))),
                "{bad:?}"
            );
            assert!(matches!(dir.open_read(bad), Err(StorageError::InvalidArgument(_))));
        }
    }

    #[test]
    fn mmap_directory_keeps_the_contract() {
        let tmp = tempfile::tempdir().unwrap();
        contract(&MmapDirectory::open(tmp.path().join("segments"), Perms::default()).unwrap());
        assert!(tmp.path().join("lost+found/empty").exists());
    }

    #[test]
    fn ram_directory_keeps_the_contract() {
        contract(&RamDirectory::new());
    }

    #[test]
    fn reopening_removes_uncommitted_writes_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = MmapDirectory::open(tmp.path(), Perms::default()).unwrap();
        dir.write_atomic("kept.seg", b"data").unwrap();
        let mut w = dir.create("crashed.seg").unwrap();
        w.write_all(b"half").unwrap();
        // A crash: the writer never commits and never runs its cleanup.
        std::mem::forget(w);
        assert!(tmp.path().join("crashed.seg.tmp").exists());
        let dir = MmapDirectory::open(tmp.path(), Perms::default()).unwrap();
        assert!(!tmp.path().join("crashed.seg.tmp").exists());
        assert_eq!(dir.list().unwrap(), ["kept.seg"]);
    }
}
