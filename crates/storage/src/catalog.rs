//! The catalog: groups, streams and the live segment list, persisted atomically.
//!
//! `catalog.json` holds one line of JSON and a second line with its CRC-32C in hex. It is
//! replaced whole (temp file, fsync, rename, fsync of the directory), so after a crash it is
//! either the old or the new version. Adding a segment and advancing the WAL checkpoint happen
//! in one write: that write is the commit point of a seal.
//!
//! Each stream also keeps its idempotent producers' marks (see `producers`) as of the WAL
//! checkpoint: the WAL records past the checkpoint carry the rest. The field is optional in
//! the JSON, so catalogs written before it existed load unchanged.
//!
//! Streams get ids that are never reused, and blocks and log records refer to streams by id, so
//! the data of a deleted stream can never reappear under a new stream of the same name.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::producers::ProducerMark;

pub(crate) const FILE: &str = "catalog.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Catalog {
    pub version: u32,
    pub next_stream_id: u64,
    /// Group ids are numbered like stream ids; catalogs older than them get ids on load.
    #[serde(default)]
    pub next_group_id: u64,
    pub next_segment_id: u64,
    /// WAL files with lower ids are sealed into segments.
    pub wal_checkpoint: u64,
    /// At least the LSN the next WAL record gets (replay raises it past what it finds).
    #[serde(default)]
    pub next_lsn: u64,
    /// Consumers of committed batches and the LSN each has persisted its state up to: WAL
    /// records above the lowest are kept for them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consumers: BTreeMap<String, u64>,
    pub groups: BTreeMap<String, GroupEntry>,
    pub segments: Vec<SegmentEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct GroupEntry {
    /// Never reused, so blocks of a deleted group cannot reappear under a new one.
    #[serde(default)]
    pub id: u64,
    pub created: i64,
    pub retention_days: Option<u32>,
    pub streams: BTreeMap<String, StreamEntry>,
}

impl GroupEntry {
    /// The oldest timestamp the group's retention keeps at `now` (epoch ms), if it has one.
    pub fn retention_cutoff(&self, now: i64) -> Option<i64> {
        self.retention_days.map(|d| now - i64::from(d) * 86_400_000)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct StreamEntry {
    pub id: u64,
    pub created: i64,
    /// Idempotent producers by id, as of the WAL checkpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub producers: BTreeMap<String, ProducerMark>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub(crate) struct SegmentEntry {
    pub id: u64,
    pub bytes: u64,
    /// Orders the segment's events among equal timestamps: its id when sealed, and the
    /// lowest rank of its inputs when a compaction or rewrite made it (absent: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u64>,
    /// When its newest data was written (epoch ms by the store's clock; 0 when unknown), which
    /// tells compaction whether its day still receives data.
    #[serde(default)]
    pub created: i64,
}

impl SegmentEntry {
    pub(crate) fn rank(&self) -> u64 {
        self.rank.unwrap_or(self.id)
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            version: VERSION,
            next_stream_id: 1,
            next_group_id: 1,
            next_segment_id: 1,
            wal_checkpoint: 0,
            next_lsn: 1,
            consumers: BTreeMap::new(),
            groups: BTreeMap::new(),
            segments: Vec::new(),
        }
    }
}

impl Catalog {
    /// Loads the catalog of `dir`, or an empty one if there is none yet.
    pub(crate) fn load(dir: &Path) -> Result<Catalog> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Catalog::default()),
            Err(e) => return Err(StorageError::io(format!("reading {}", path.display()), e)),
        };
        let bad = |why: String| StorageError::corrupt(&path, 0, why);
        let (body, crc) =
            text.split_once('\n').ok_or_else(|| bad("missing checksum line".into()))?;
        let crc =
            u32::from_str_radix(crc.trim(), 16).map_err(|_| bad("bad checksum line".into()))?;
        if crc32c::crc32c(body.as_bytes()) != crc {
            return Err(bad("catalog checksum mismatch".into()));
        }
        let mut cat: Catalog = serde_json::from_str(body).map_err(|e| bad(e.to_string()))?;
        if cat.version != VERSION {
            return Err(bad(format!("unsupported catalog version {}", cat.version)));
        }
        cat.number_groups();
        Ok(cat)
    }

    /// Gives groups loaded from a catalog older than group ids their ids, in name order.
    fn number_groups(&mut self) {
        self.next_group_id = self.next_group_id.max(1);
        for g in self.groups.values_mut().filter(|g| g.id == 0) {
            g.id = self.next_group_id;
            self.next_group_id += 1;
        }
    }

    /// Writes the catalog atomically.
    pub(crate) fn save(&self, dir: &Path, perms: crate::fsutil::Perms) -> Result<()> {
        let body = serde_json::to_string(self)
            .map_err(|e| StorageError::io("encoding catalog", std::io::Error::other(e)))?;
        let text = format!("{body}\n{:08x}\n", crc32c::crc32c(body.as_bytes()));
        fsutil::write_atomic(&dir.join(FILE), text.as_bytes(), perms)
    }

    /// The lowest consumer position, which bounds what the WAL may drop.
    pub(crate) fn lowest_hold(&self) -> Option<u64> {
        self.consumers.values().copied().min()
    }

    /// Finds a group.
    pub(crate) fn group(&self, name: &str) -> Result<&GroupEntry> {
        self.groups.get(name).ok_or_else(|| StorageError::GroupNotFound(name.to_owned()))
    }

    /// Finds a stream.
    pub(crate) fn stream(&self, group: &str, stream: &str) -> Result<&StreamEntry> {
        self.group(group)?.streams.get(stream).ok_or_else(|| StorageError::StreamNotFound {
            group: group.to_owned(),
            stream: stream.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_detect_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), Catalog::default());
        let mut cat = Catalog::default();
        cat.groups.insert(
            "g".into(),
            GroupEntry { id: 1, created: 5, retention_days: Some(7), streams: BTreeMap::new() },
        );
        let mut producers = BTreeMap::new();
        producers.insert("p-1".to_owned(), ProducerMark { sequence: 42, updated: 9 });
        let stream = StreamEntry { id: 1, created: 5, producers };
        cat.groups.get_mut("g").unwrap().streams.insert("s".into(), stream);
        cat.segments.push(SegmentEntry { id: 3, bytes: 100, rank: None, created: 4 });
        cat.save(dir.path(), crate::fsutil::Perms::default()).unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), cat);
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(Catalog::load(dir.path()), Err(StorageError::Corruption { .. })));
    }

    #[test]
    fn catalogs_without_producers_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let body = r#"{"version":1,"next_stream_id":2,"next_segment_id":1,"wal_checkpoint":0,"groups":{"g":{"created":1,"retention_days":null,"streams":{"s":{"id":1,"created":2}}}},"segments":[]}"#;
        let text = format!("{body}\n{:08x}\n", crc32c::crc32c(body.as_bytes()));
        std::fs::write(dir.path().join(FILE), text).unwrap();
        let cat = Catalog::load(dir.path()).unwrap();
        assert!(cat.stream("g", "s").unwrap().producers.is_empty());
        assert_eq!((cat.group("g").unwrap().id, cat.next_group_id), (1, 2));
        // Streams without producers are written as before.
        assert!(!serde_json::to_string(&cat).unwrap().contains("producers"));
    }
}
