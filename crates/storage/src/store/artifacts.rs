//! Derived artifacts: per-segment data built after sealing (a full-text index, extracted JSON
//! columns), kept beside the segment and registered with it in the catalog.
//!
//! An artifact is a file `<segment id:016x>.<kind>` in the segments' [`Directory`], listed in
//! the catalog under its segment. Because it lives and dies with its segment:
//! - open-time cleanup keeps it (an unlisted artifact file is derived data from a build that
//!   did not commit: deleted, since it can be rebuilt);
//! - a compaction or rewrite replaces the segment by a new one without artifacts, and
//!   [`SegmentChange::Added`] tells builders to make them again;
//! - retention and deletion delete it with its segment.
//!
//! Builders follow the segments through [`Store::watch_segments`] (the hook called after each
//! seal, compaction and rewrite commits) and catch up after a restart with
//! [`Store::segments_without`]; every artifact is rebuildable, so a crash loses only work.
//! Catalogs written by older versions have no artifacts, and older readers ignore them.

use std::fmt;

use crossbeam::channel::{self, Receiver, Sender};

use super::{Inner, Store};
use crate::catalog::CatalogChange;
use crate::directory::FileBytes;
use crate::error::{Result, StorageError};

/// The kind of a derived artifact: 1 to 32 of `a-z`, `0-9` and `-`, starting with a letter,
/// and not `seg` (the segment's own extension).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArtifactKind(String);

impl ArtifactKind {
    /// Checks a kind's name.
    pub fn new(kind: &str) -> Result<ArtifactKind> {
        let ok = (1..=32).contains(&kind.len())
            && kind.starts_with(|c: char| c.is_ascii_lowercase())
            && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && kind != "seg"
            && kind != "tmp";
        if !ok {
            return Err(StorageError::InvalidArgument(format!(
                "{kind:?} is not an artifact kind: 1 to 32 of a-z, 0-9 and '-', starting with \
                 a letter, and not \"seg\" or \"tmp\""
            )));
        }
        Ok(ArtifactKind(kind.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file name of segment `id`'s artifact of `kind`.
pub(crate) fn file_name(id: u64, kind: &str) -> String {
    format!("{id:016x}.{kind}")
}

/// A change to the live segments, sent after it is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentChange {
    /// A segment was sealed or written by a compaction or rewrite.
    Added(u64),
    /// A segment was merged away, rewritten or deleted, with its artifacts.
    Removed(u64),
}

/// The subscribers to segment changes.
#[derive(Debug, Default)]
pub(crate) struct Watchers(parking_lot::Mutex<Vec<Sender<SegmentChange>>>);

impl Watchers {
    fn subscribe(&self) -> Receiver<SegmentChange> {
        let (tx, rx) = channel::unbounded();
        self.0.lock().push(tx);
        rx
    }

    /// Sends `changes` to every subscriber still listening.
    pub(crate) fn send(&self, changes: &[SegmentChange]) {
        if changes.is_empty() {
            return;
        }
        self.0.lock().retain(|tx| changes.iter().all(|c| tx.send(*c).is_ok()));
    }
}

impl Inner {
    /// Deletes the artifact files of a segment the catalog no longer lists.
    pub(crate) fn delete_artifacts(&self, id: u64, kinds: impl IntoIterator<Item = String>) {
        for kind in kinds {
            if let Err(e) = self.segments.delete(&file_name(id, &kind)) {
                // Derived data: a leftover is deleted by the next open's cleanup.
                tracing::warn!(error = %e, segment = id, %kind, "artifact not deleted");
            }
        }
    }
}

impl Store {
    /// Segment changes from now on: a builder of artifacts listens here, after catching up
    /// with [`Store::segments_without`].
    pub fn watch_segments(&self) -> Receiver<SegmentChange> {
        self.inner.watchers.subscribe()
    }

    /// The live segments that have no artifact of `kind`, oldest first.
    pub fn segments_without(&self, kind: &ArtifactKind) -> Vec<u64> {
        let st = self.inner.state.read();
        let mut ids: Vec<u64> = st
            .catalog
            .segments
            .iter()
            .filter(|e| !e.artifacts.contains_key(kind.as_str()))
            .map(|e| e.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Stores `bytes` as segment `segment`'s artifact of `kind`, durably, replacing any
    /// earlier one. Returns `false`, keeping nothing, when the segment is no longer live (a
    /// compaction merged it meanwhile: its successor will be announced).
    pub fn put_artifact(&self, segment: u64, kind: &ArtifactKind, bytes: &[u8]) -> Result<bool> {
        let name = file_name(segment, kind.as_str());
        self.inner.segments.write_atomic(&name, bytes)?;
        // A logged catalog change, checked and applied under the catalog write lock, which a
        // compaction's or rewrite's commit also takes: the segment cannot go between the look
        // and the registration. (It was a rewrite of the whole catalog: 0.75 s at a million
        // streams, twice per seal, holding up stream creation meanwhile.) If the segment goes
        // later, its commit deletes the artifact with it.
        let change = CatalogChange::PutArtifact {
            segment,
            kind: kind.as_str().to_owned(),
            bytes: bytes.len() as u64,
        };
        match self.change_catalog(|_| change) {
            Ok(_) => Ok(true),
            Err(StorageError::SegmentGone(_)) => {
                self.inner.segments.delete(&name)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The live segments that have an artifact of `kind`, with its length in bytes (a
    /// reader holding an opened artifact can tell it was dropped or replaced since).
    pub fn artifact_lengths(&self, kind: &ArtifactKind) -> std::collections::HashMap<u64, u64> {
        let st = self.inner.state.read();
        st.catalog
            .segments
            .iter()
            .filter_map(|e| e.artifacts.get(kind.as_str()).map(|&len| (e.id, len)))
            .collect()
    }

    /// Segment `segment`'s artifact of `kind`, if it has one.
    pub fn artifact(&self, segment: u64, kind: &ArtifactKind) -> Result<Option<FileBytes>> {
        let listed = {
            let st = self.inner.state.read();
            st.catalog
                .segments
                .iter()
                .any(|e| e.id == segment && e.artifacts.contains_key(kind.as_str()))
        };
        if !listed {
            return Ok(None);
        }
        match self.inner.segments.open_read(&file_name(segment, kind.as_str())) {
            Ok(bytes) => Ok(Some(bytes)),
            // Deleted with its segment between the look and the read.
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_checked() {
        for good in ["index", "json-columns", "a1"] {
            assert_eq!(ArtifactKind::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "Index", "1index", "seg", "tmp", "a.b", "a/b", &"x".repeat(33)] {
            assert!(ArtifactKind::new(bad).is_err(), "{bad:?}");
        }
    }
}
