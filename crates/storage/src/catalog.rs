//! The catalog: groups, streams and the live segment list.
//!
//! `catalog.json` holds one line of JSON and a second line with its CRC-32C in hex. It is
//! replaced whole (temp file, fsync, rename, fsync of the directory), so after a crash it is
//! either the old or the new version. Adding a segment and advancing the WAL checkpoint happen
//! in one write: that write is the commit point of a seal.
//!
//! **Changes to groups, streams and artifacts are logged, not rewritten.** Rewriting the file for each new
//! stream made creation cost grow with the fleet (a 1 MB file and 35 creations a second at
//! 20,000 streams). A [`CatalogChange`] is instead a WAL record (one shared fsync, whatever the
//! catalog's size), applied in memory in LSN order; the file is a checkpoint, written at seals
//! and compactions, that records the LSN of the last change it includes (`catalog_lsn`).
//! Recovery loads the file and applies the logged changes above that LSN, in order, with the
//! batches they precede: exactly the state before the crash, without relying on changes being
//! idempotent. Seals drop WAL files only once a checkpoint holds their changes.
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
use crate::fsutil::{self, Perms};
use crate::producers::ProducerMark;

pub(crate) const FILE: &str = "catalog.json";
/// Consumers' holds, rewritten at each change (see `Catalog::consumers`).
pub(crate) const HOLDS_FILE: &str = "holds.json";

/// Reads a `JSON line, CRC line` file (the form of both files here) into a `T`; `None` when the
/// file does not exist. A bad checksum or body is corruption of that file.
fn read_checked<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(format!("reading {}", path.display()), e)),
    };
    let bad = |why: String| StorageError::corrupt(path, 0, why);
    let (body, crc) = text.split_once('\n').ok_or_else(|| bad("missing checksum line".into()))?;
    let crc = u32::from_str_radix(crc.trim(), 16).map_err(|_| bad("bad checksum line".into()))?;
    if crc32c::crc32c(body.as_bytes()) != crc {
        return Err(bad("checksum mismatch".into()));
    }
    serde_json::from_str(body).map(Some).map_err(|e| bad(e.to_string()))
}

/// Writes `value` as a `JSON line, CRC line` file, atomically.
fn write_checked<T: Serialize>(path: &Path, value: &T, perms: Perms) -> Result<()> {
    let body = serde_json::to_string(value)
        .map_err(|e| StorageError::io(format!("encoding {}", path.display()), e.into()))?;
    let text = format!("{body}\n{:08x}\n", crc32c::crc32c(body.as_bytes()));
    fsutil::write_atomic(path, text.as_bytes(), perms)
}

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
    /// The LSN of the last batch (not catalog change) sealed: what consumers have to reach.
    /// Absent in catalogs written before catalog changes took LSNs, where it is
    /// `next_lsn - 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_batch_lsn: Option<u64>,
    /// The LSN of the last logged change this catalog includes (0: none).
    #[serde(default)]
    pub catalog_lsn: u64,
    /// Consumers of committed batches and the LSN each has persisted its state up to: WAL
    /// records above the lowest are kept for them. A hold changes often (a consumer raises it
    /// every second), so `holds.json` is rewritten at each change and, when present, is newer
    /// than this copy.
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// Derived artifacts built from the segment (kind → bytes), kept, rebuilt and deleted with
    /// it (see `store::artifacts`). Readers that do not know the field ignore it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, u64>,
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
            last_batch_lsn: None,
            catalog_lsn: 0,
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
        let Some(mut cat) = read_checked::<Catalog>(&path)? else {
            return Ok(Catalog::default());
        };
        if cat.version != VERSION {
            let why = format!("unsupported catalog version {}", cat.version);
            return Err(StorageError::corrupt(&path, 0, why));
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
    pub(crate) fn save(&self, dir: &Path, perms: Perms) -> Result<()> {
        write_checked(&dir.join(FILE), self, perms)
    }

    /// Loads the holds file of `dir` over the catalog's copy, if there is one.
    pub(crate) fn load_holds(&mut self, dir: &Path) -> Result<()> {
        if let Some(holds) = read_checked(&dir.join(HOLDS_FILE))? {
            self.consumers = holds;
        }
        Ok(())
    }

    /// Writes `holds` as the holds file, atomically.
    pub(crate) fn save_holds(
        dir: &Path,
        holds: &BTreeMap<String, u64>,
        perms: Perms,
    ) -> Result<()> {
        write_checked(&dir.join(HOLDS_FILE), holds, perms)
    }

    /// The lowest consumer position, which bounds what the WAL may drop.
    pub(crate) fn lowest_hold(&self) -> Option<u64> {
        self.consumers.values().copied().min()
    }

    /// Whether `change` can be applied now: what it creates is new, what it names exists.
    pub(crate) fn check(&self, change: &CatalogChange) -> Result<()> {
        match change {
            CatalogChange::CreateGroup { name, .. } => {
                if self.groups.contains_key(name) {
                    return Err(StorageError::GroupExists(name.clone()));
                }
            }
            CatalogChange::CreateStream { group, name, .. } => {
                if self.group(group)?.streams.contains_key(name) {
                    return Err(StorageError::StreamExists {
                        group: group.clone(),
                        stream: name.clone(),
                    });
                }
            }
            CatalogChange::SetRetention { group, .. }
            | CatalogChange::DeleteGroup { name: group } => {
                self.group(group)?;
            }
            CatalogChange::DeleteStream { group, name } => {
                self.stream(group, name)?;
            }
            CatalogChange::PutArtifact { segment, .. } => {
                if !self.segments.iter().any(|e| e.id == *segment) {
                    return Err(StorageError::SegmentGone(*segment));
                }
            }
        }
        Ok(())
    }

    /// Applies a logged change with LSN `lsn` (which [`Catalog::check`] accepted when it was
    /// logged) and says which streams it added and removed.
    pub(crate) fn apply(&mut self, lsn: u64, change: CatalogChange) -> Applied {
        self.catalog_lsn = self.catalog_lsn.max(lsn);
        let mut out = Applied::default();
        match change {
            CatalogChange::CreateGroup { name, id, created } => {
                self.next_group_id = self.next_group_id.max(id + 1);
                // Only a catalog rebuilt by `repair` (whose changes are not numbered) can know
                // the group already, from a segment described after the change: keep it whole.
                let entry =
                    GroupEntry { id, created, retention_days: None, streams: BTreeMap::new() };
                self.groups.entry(name).or_insert(entry);
            }
            CatalogChange::CreateStream { group, name, id, created } => {
                self.next_stream_id = self.next_stream_id.max(id + 1);
                // As for groups: a rebuilt catalog may know the stream already.
                if let Some(g) = self.groups.get_mut(&group)
                    && !g.streams.contains_key(&name)
                {
                    let entry = StreamEntry { id, created, producers: BTreeMap::new() };
                    g.streams.insert(name.clone(), entry);
                    out.added.push(AddedStream { id, group_id: g.id, group, name });
                }
            }
            CatalogChange::SetRetention { group, days } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.retention_days = days;
                }
            }
            CatalogChange::DeleteGroup { name } => {
                if let Some(g) = self.groups.remove(&name) {
                    out.removed.extend(g.streams.values().map(|s| s.id));
                }
            }
            CatalogChange::DeleteStream { group, name } => {
                if let Some(s) = self.groups.get_mut(&group).and_then(|g| g.streams.remove(&name)) {
                    out.removed.push(s.id);
                }
            }
            // Replayed after a checkpoint that no longer lists the segment (merged away since):
            // nothing to register.
            CatalogChange::PutArtifact { segment, kind, bytes } => {
                if let Some(e) = self.segments.iter_mut().find(|e| e.id == segment) {
                    e.artifacts.insert(kind, bytes);
                }
            }
        }
        out
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

/// A change to groups or streams, logged in the WAL as JSON (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CatalogChange {
    /// A group was created with this id.
    CreateGroup { name: String, id: u64, created: i64 },
    /// A stream was created with this id.
    CreateStream { group: String, name: String, id: u64, created: i64 },
    /// A group's retention was set or cleared.
    SetRetention { group: String, days: Option<u32> },
    /// A group and its streams were deleted.
    DeleteGroup { name: String },
    /// A stream was deleted.
    DeleteStream { group: String, name: String },
    /// A derived artifact of `kind`, `bytes` long, was written for live segment `segment`
    /// (replacing any earlier one of its kind).
    PutArtifact { segment: u64, kind: String, bytes: u64 },
}

impl CatalogChange {
    /// The id of the stream it creates, if it creates one.
    pub(crate) fn created_stream(&self) -> Option<u64> {
        match self {
            CatalogChange::CreateStream { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The change as a WAL record body.
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("catalog changes serialise")
    }

    /// Decodes a WAL record body.
    pub(crate) fn decode(body: &[u8]) -> std::result::Result<CatalogChange, String> {
        serde_json::from_slice(body).map_err(|e| format!("undecodable catalog change: {e}"))
    }
}

/// A stream a change added.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AddedStream {
    pub id: u64,
    pub group_id: u64,
    pub group: String,
    pub name: String,
}

/// What applying a change did to the set of streams.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Applied {
    pub added: Vec<AddedStream>,
    pub removed: Vec<u64>,
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
        cat.segments.push(SegmentEntry {
            id: 3,
            bytes: 100,
            rank: None,
            created: 4,
            artifacts: BTreeMap::from([("index".to_owned(), 7)]),
        });
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

    #[test]
    fn logged_changes_replay_to_the_same_catalog_from_any_checkpoint() {
        use CatalogChange::*;
        let changes = [
            CreateGroup { name: "g".into(), id: 1, created: 10 },
            CreateStream { group: "g".into(), name: "s".into(), id: 1, created: 11 },
            DeleteStream { group: "g".into(), name: "s".into() },
            // The same name again gets a new id.
            CreateStream { group: "g".into(), name: "s".into(), id: 2, created: 12 },
            SetRetention { group: "g".into(), days: Some(7) },
            CreateGroup { name: "h".into(), id: 2, created: 13 },
            CreateStream { group: "h".into(), name: "t".into(), id: 3, created: 14 },
            DeleteGroup { name: "h".into() },
        ];
        let mut live = Catalog::default();
        let mut checkpoints = vec![live.clone()];
        for (i, c) in changes.iter().enumerate() {
            live.check(c).unwrap();
            // Each change survives its encoding.
            let c = CatalogChange::decode(&c.encode()).unwrap();
            live.apply(i as u64 + 1, c);
            checkpoints.push(live.clone());
        }
        assert_eq!(live.stream("g", "s").unwrap().id, 2);
        assert_eq!(live.group("g").unwrap().retention_days, Some(7));
        assert!(live.group("h").is_err());
        assert_eq!((live.next_group_id, live.next_stream_id, live.catalog_lsn), (3, 4, 8));
        // Recovery: a checkpoint taken after any prefix, plus the changes above its LSN.
        for cp in checkpoints {
            let mut cat = cp.clone();
            for (i, c) in changes.iter().enumerate() {
                if i as u64 + 1 > cp.catalog_lsn {
                    cat.apply(i as u64 + 1, c.clone());
                }
            }
            assert_eq!(cat, live);
        }
    }

    #[test]
    fn checks_refuse_what_cannot_apply() {
        use CatalogChange::*;
        let mut cat = Catalog::default();
        cat.apply(1, CreateGroup { name: "g".into(), id: 1, created: 0 });
        let dup = CreateGroup { name: "g".into(), id: 2, created: 0 };
        assert!(matches!(cat.check(&dup), Err(StorageError::GroupExists(_))));
        let orphan = CreateStream { group: "x".into(), name: "s".into(), id: 1, created: 0 };
        assert!(matches!(cat.check(&orphan), Err(StorageError::GroupNotFound(_))));
        let missing = DeleteStream { group: "g".into(), name: "s".into() };
        assert!(matches!(cat.check(&missing), Err(StorageError::StreamNotFound { .. })));
        assert!(CatalogChange::decode(b"{\"drop_everything\":{}}").is_err());
    }
}
