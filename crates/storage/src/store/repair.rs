//! Rebuilding a lost or damaged catalog from the segments' own directories and descriptions.
//!
//! Every block's directory entry names its group id and stream-id span, and its stream runs
//! name the exact stream ids; a segment's description trailer (see `describe`) names those
//! groups and streams and says which WAL files it had sealed. From these the catalog is
//! rebuilt: the groups and streams with their names, retention and creation times, the segment
//! list with ranks, and the WAL checkpoint. What no description names (segments written before
//! descriptions, or format 1 blocks, whose entries carry no group) gets a name saying so
//! (`recovered-group-<id>`, `recovered-stream-<id>`), so no event is dropped for lack of a
//! name. Streams that only the WAL holds are named too, since replay skips batches of streams
//! the catalog does not know. Segments that fail their checks are moved to `lost+found`;
//! nothing is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::{DirLock, SEGMENTS, WAL};
use crate::block::{Columns, DecodedBlock};
use crate::catalog::{self, Catalog, GroupEntry, SegmentEntry, StreamEntry};
use crate::describe;
use crate::error::{IoContext, Result, StorageError};
use crate::fsutil::{self, Perms};
use crate::segment::Segment;

/// What a repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Segments listed in the rebuilt catalog.
    pub segments: usize,
    /// Of them, those that carried a description.
    pub described_segments: usize,
    /// Groups in the rebuilt catalog.
    pub groups: usize,
    /// Groups no description named (called `recovered-group-<id>`).
    pub unnamed_groups: usize,
    /// Streams in the rebuilt catalog.
    pub streams: usize,
    /// Streams no description named (called `recovered-stream-<id>`).
    pub unnamed_streams: usize,
    /// The WAL checkpoint rebuilt: files from this id on are replayed.
    pub wal_checkpoint: u64,
    /// Files moved to `lost+found` (damaged segments, a damaged catalog).
    pub set_aside: Vec<PathBuf>,
    /// Blocks that failed their checks, kept in their segments (reads through them fail).
    pub damaged_blocks: Vec<String>,
}

/// Group id given to format 1 blocks, whose entries name no group, before they get one.
const NO_GROUP: u64 = 0;

/// What the segments say about one group.
#[derive(Default)]
struct Found {
    /// The newest description of the group, by segment id.
    described: Option<(u64, describe::DescribedGroup)>,
    streams: BTreeSet<u64>,
}

impl super::Store {
    /// Rebuilds `dir`'s catalog from its segments, for a directory whose `catalog.json` is
    /// missing or damaged (a damaged one is moved to `lost+found` first). Refuses a directory
    /// whose catalog is intact, and one in use.
    pub fn repair(dir: impl AsRef<Path>, perms: Perms) -> Result<RepairReport> {
        let dir = dir.as_ref();
        let _lock = DirLock::acquire(dir)?;
        let mut report = RepairReport::default();
        let cat_path = dir.join(catalog::FILE);
        if cat_path.exists() {
            match Catalog::load(dir) {
                Ok(_) => {
                    return Err(StorageError::InvalidArgument(format!(
                        "{} is present and intact: nothing to repair",
                        cat_path.display()
                    )));
                }
                Err(e) => {
                    let to = fsutil::set_aside(dir, &cat_path, perms)?;
                    tracing::warn!(error = %e, moved_to = %to.display(), "damaged catalog set aside");
                    report.set_aside.push(to);
                }
            }
        }
        let mut cat = Catalog::default();
        let mut groups: BTreeMap<u64, Found> = BTreeMap::new();
        let mut max_stream = 0;
        let mut decoded = DecodedBlock::default();
        let runs_only = Columns { timestamps: false, ingestion_times: false, messages: false };
        for (id, path) in segment_files(dir)? {
            let seg = match Segment::open_file(id, &path) {
                Ok(seg) => seg,
                Err(e) => {
                    let to = fsutil::set_aside(dir, &path, perms)?;
                    tracing::warn!(error = %e, moved_to = %to.display(), "damaged segment set aside");
                    report.set_aside.push(to);
                    continue;
                }
            };
            let description = describe::read(&path).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "segment description unreadable; names not recovered");
                None
            });
            for (i, b) in seg.blocks().iter().enumerate() {
                let found = groups.entry(b.group_id).or_default();
                match seg.decode_columns(i, runs_only, &mut decoded) {
                    Ok(()) => found.streams.extend(decoded.streams.iter().map(|r| r.stream_id)),
                    Err(e) => {
                        // The span's ends are streams the block surely holds.
                        found.streams.extend([b.min_stream, b.max_stream]);
                        report.damaged_blocks.push(e.to_string());
                    }
                }
                max_stream = max_stream.max(b.max_stream);
            }
            let (rank, created) = match &description {
                Some(d) => {
                    report.described_segments += 1;
                    cat.wal_checkpoint = cat.wal_checkpoint.max(d.wal_checkpoint);
                    cat.next_lsn = cat.next_lsn.max(d.next_lsn);
                    for (gid, g) in &d.groups {
                        let found = groups.entry(*gid).or_default();
                        // Each segment names the streams it holds: gather them all, the newer
                        // description winning for the group's own fields.
                        let mut g = g.clone();
                        match &mut found.described {
                            Some((at, known)) if *at > id => {
                                for (sid, s) in g.streams {
                                    known.streams.entry(sid).or_insert(s);
                                }
                            }
                            slot => {
                                if let Some((_, older)) = slot.take() {
                                    for (sid, s) in older.streams {
                                        g.streams.entry(sid).or_insert(s);
                                    }
                                }
                                *slot = Some((id, g));
                            }
                        }
                    }
                    (d.rank, d.created)
                }
                None => (id, 0),
            };
            let rank = (rank != id).then_some(rank);
            cat.segments.push(SegmentEntry {
                id,
                bytes: seg.file_len(),
                rank,
                created,
                artifacts: Default::default(),
            });
            cat.next_segment_id = cat.next_segment_id.max(id + 1);
        }
        // Streams whose events only the WAL holds.
        let in_segments: BTreeSet<u64> = groups.values().flat_map(|g| g.streams.clone()).collect();
        let wal_only: BTreeSet<u64> = crate::wal::stream_ids(&dir.join(WAL), cat.wal_checkpoint)?
            .into_iter()
            .filter(|s| !in_segments.contains(s))
            .collect();
        for s in wal_only {
            // A description may name the stream's group; else it joins the unknown group.
            let gid = groups
                .iter()
                .find(|(_, f)| {
                    f.described.as_ref().is_some_and(|(_, g)| g.streams.contains_key(&s))
                })
                .map_or(NO_GROUP, |(gid, _)| *gid);
            groups.entry(gid).or_default().streams.insert(s);
            max_stream = max_stream.max(s);
        }
        let max_group = groups.keys().copied().max().unwrap_or(0);
        cat.next_group_id = max_group + 1;
        cat.next_stream_id = max_stream + 1;
        // Format 1 blocks name no group: their streams are placed by a later segment if one
        // holds them, else they join one group of their own.
        if let Some(mut found) = groups.remove(&NO_GROUP) {
            let placed: BTreeSet<u64> = groups.values().flat_map(|g| g.streams.clone()).collect();
            found.streams.retain(|s| !placed.contains(s));
            if !found.streams.is_empty() {
                let id = cat.next_group_id;
                cat.next_group_id += 1;
                groups.insert(id, found);
            }
        }
        // Newer groups keep a contested name; an older one (deleted, its name reused) gets a
        // suffix, so both groups' events stay readable.
        for (gid, found) in groups.iter().rev() {
            let (name, created, retention_days, names) = match &found.described {
                Some((_, g)) => (g.name.clone(), g.created, g.retention_days, Some(&g.streams)),
                None => {
                    report.unnamed_groups += 1;
                    (format!("recovered-group-{gid}"), 0, None, None)
                }
            };
            let name = if cat.groups.contains_key(&name) {
                format!("{name}.recovered-{gid}")
            } else {
                name
            };
            let mut streams = BTreeMap::new();
            for sid in found.streams.iter().rev() {
                let (sname, created) = match names.and_then(|n| n.get(sid)) {
                    Some(s) => (s.clone(), created),
                    None => {
                        report.unnamed_streams += 1;
                        (format!("recovered-stream-{sid}"), 0)
                    }
                };
                let sname = if streams.contains_key(&sname) {
                    format!("{sname}.recovered-{sid}")
                } else {
                    sname
                };
                let entry = StreamEntry { id: *sid, created, producers: BTreeMap::new() };
                streams.insert(sname, entry);
            }
            report.streams += streams.len();
            cat.groups.insert(name, GroupEntry { id: *gid, created, retention_days, streams });
        }
        report.groups = cat.groups.len();
        report.segments = cat.segments.len();
        report.wal_checkpoint = cat.wal_checkpoint;
        cat.segments.sort_by_key(|s| s.id);
        cat.save(dir, perms)?;
        tracing::warn!(
            segments = report.segments,
            groups = report.groups,
            streams = report.streams,
            "catalog rebuilt from the segments"
        );
        Ok(report)
    }
}

/// The `<id:016x>.seg` files of `dir/segments`, by id.
fn segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let seg_dir = dir.join(SEGMENTS);
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(&seg_dir) else { return Ok(out) };
    for entry in entries {
        let entry = entry.context(|| format!("listing {}", seg_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = crate::segment::parse_file_name(&name) {
            out.push((id, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}
