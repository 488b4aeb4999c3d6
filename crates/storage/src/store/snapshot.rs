//! Snapshots: a pinned, consistent view of some groups, on which reads and scans run.
//!
//! Taking one copies pointers only: the segment list, the buffer being sealed (immutable), and
//! the chunk lists of the groups' streams in the active buffer (chunks are immutable too). It
//! holds the buffer's lock for that copy and nothing else, so appenders are barely held up and
//! every read on the snapshot runs without locks. The buffer and the segment list are read
//! under both locks at once, in the order a seal takes them, so each event is in the view
//! exactly once: in the active buffer, in the one being sealed, or in its new segment. Later
//! appends, seals, compactions and deletions do not change what a snapshot sees (an open
//! segment stays mapped until the last snapshot holding it is dropped).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use logsight_model::TimeRange;

use super::{MemTable, Store};
use crate::error::{Result, StorageError};
use crate::memtable::Chunk;
use crate::read::{self, Page, ReadOptions, Source, SourceData, StreamNames};
use crate::scan::{ScanPlan, ScanUnit};
use crate::segment::Segment;

/// What a snapshot knows of one group.
#[derive(Debug, Clone)]
struct GroupView {
    id: u64,
    /// The oldest timestamp retention keeps, as of the snapshot.
    cutoff: Option<i64>,
    /// Stream name → id.
    streams: BTreeMap<String, u64>,
}

/// A consistent, immutable view of some log groups' events.
#[derive(Clone)]
pub struct Snapshot {
    groups: HashMap<String, GroupView>,
    names: HashMap<u64, Arc<str>>,
    segments: Vec<Arc<Segment>>,
    frozen: Option<Arc<MemTable>>,
    active: HashMap<u64, Vec<Chunk>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("groups", &self.groups.keys().collect::<Vec<_>>())
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Takes a snapshot of `groups` (each must exist).
    pub fn snapshot(&self, groups: &[&str]) -> Result<Snapshot> {
        let now = self.inner.opts.clock.now_ms();
        let active = self.inner.active.lock();
        let st = self.inner.state.read();
        let mut views = HashMap::new();
        let mut names = HashMap::new();
        let mut chunks = HashMap::new();
        for &name in groups {
            let g = st.catalog.group(name)?;
            let streams: BTreeMap<String, u64> =
                g.streams.iter().map(|(n, s)| (n.clone(), s.id)).collect();
            for id in streams.values() {
                if let Some((_, stream)) = st.names.get(id) {
                    names.insert(*id, stream.clone());
                }
                if let Some(buf) = active.streams.get(id) {
                    chunks.insert(*id, buf.chunks.clone());
                }
            }
            let view = GroupView { id: g.id, cutoff: g.retention_cutoff(now), streams };
            views.insert(name.to_owned(), view);
        }
        Ok(Snapshot {
            groups: views,
            names,
            segments: st.segments.values().cloned().collect(),
            frozen: st.frozen.clone(),
            active: chunks,
        })
    }
}

impl Snapshot {
    fn group(&self, group: &str) -> Result<&GroupView> {
        self.groups.get(group).ok_or_else(|| StorageError::GroupNotFound(group.to_owned()))
    }

    /// Reads one page of a stream's events.
    pub fn read_stream(&self, group: &str, stream: &str, opts: &ReadOptions) -> Result<Page> {
        let g = self.group(group)?;
        let id = *g.streams.get(stream).ok_or_else(|| StorageError::StreamNotFound {
            group: group.to_owned(),
            stream: stream.to_owned(),
        })?;
        let range = opts.range.clamp_start(g.cutoff);
        read::read_page(self.sources(g.id, &[id], range), &ReadOptions { range, ..opts.clone() })
    }

    /// Reads one page of a group's events across `streams` (all if `None`), merged in
    /// timestamp order. Unknown stream names match nothing.
    pub fn read_group(
        &self,
        group: &str,
        streams: Option<&[String]>,
        opts: &ReadOptions,
    ) -> Result<Page> {
        let g = self.group(group)?;
        let ids = stream_ids(g, streams);
        let range = opts.range.clamp_start(g.cutoff);
        read::read_page(self.sources(g.id, &ids, range), &ReadOptions { range, ..opts.clone() })
    }

    /// Plans a scan for the query engine: every block and buffered run of the chosen streams
    /// that may hold events in `range` (raised to the group's retention cutoff), found from
    /// segment directories alone (nothing is decompressed).
    pub fn plan_scan(
        &self,
        group: &str,
        streams: Option<&[String]>,
        range: TimeRange,
    ) -> Result<ScanPlan> {
        let g = self.group(group)?;
        let names = self.wanted(&stream_ids(g, streams));
        let range = range.clamp_start(g.cutoff);
        let total_blocks: usize = self.segments.iter().map(|s| s.blocks().len()).sum();
        let units: Vec<ScanUnit> =
            self.sources_of(g.id, &names, range).into_iter().map(ScanUnit::from).collect();
        let streams = names.iter().map(|(_, name)| name.clone()).collect();
        let ids = names.iter().map(|(id, _)| *id).collect();
        Ok(ScanPlan::new(units, range, total_blocks, streams, ids))
    }

    /// Every block and buffered run of the given streams of group `group_id` overlapping
    /// `range`.
    fn sources(&self, group_id: u64, ids: &[u64], range: TimeRange) -> Vec<Source> {
        self.sources_of(group_id, &self.wanted(ids), range)
    }

    /// The wanted streams that still have names, sorted by id.
    fn wanted(&self, ids: &[u64]) -> StreamNames {
        let mut named: Vec<(u64, Arc<str>)> =
            ids.iter().filter_map(|id| Some((*id, self.names.get(id)?.clone()))).collect();
        named.sort_unstable_by_key(|(id, _)| *id);
        named.into()
    }

    fn sources_of(&self, group_id: u64, names: &StreamNames, range: TimeRange) -> Vec<Source> {
        let live: Vec<u64> = names.iter().map(|(id, _)| *id).collect();
        let mut out = Vec::new();
        for seg in &self.segments {
            for (i, b) in seg.blocks().iter().enumerate() {
                if b.group_id == group_id
                    && range.overlaps(b.min_ts, b.max_ts)
                    && b.may_hold_any(&live)
                {
                    out.push(Source {
                        // Rank then block index orders blocks among equal timestamps: a
                        // stream's events are in consecutive blocks, later arrivals in
                        // higher-ranked segments.
                        rank: (seg.rank() << 24) | i as u64,
                        min_ts: b.min_ts,
                        max_ts: b.max_ts,
                        data: SourceData::Block {
                            seg: seg.clone(),
                            index: i,
                            streams: names.clone(),
                        },
                    });
                }
            }
        }
        // Buffered events rank after every segment, the buffer being sealed before the
        // active one, chunks in arrival order.
        for (index, (id, stream)) in names.iter().enumerate() {
            let frozen = self.frozen.as_ref().and_then(|f| f.streams.get(id));
            let frozen = frozen.map(|b| b.chunks.as_slice()).unwrap_or_default();
            let active = self.active.get(id).map(Vec::as_slice).unwrap_or_default();
            for (base, chunks) in [(FROZEN_RANK, frozen), (ACTIVE_RANK, active)] {
                for (j, chunk) in chunks.iter().enumerate() {
                    let rows = crate::memtable::rows_in(chunk, range);
                    if rows.is_empty() {
                        continue;
                    }
                    out.push(Source {
                        rank: base + j as u64,
                        min_ts: chunk[rows.start].timestamp,
                        max_ts: chunk[rows.end - 1].timestamp,
                        data: SourceData::Memory {
                            stream_id: *id,
                            index,
                            stream: stream.clone(),
                            events: chunk.clone(),
                            rows,
                        },
                    });
                }
            }
        }
        out
    }
}

/// Ranks of buffered chunks: above every segment's (ranks of segments are shifted by 24 bits
/// and stay far below 2^62).
const FROZEN_RANK: u64 = 1 << 62;
const ACTIVE_RANK: u64 = 1 << 63;

/// The ids of `names` in `g` (all its streams if `None`); unknown names match nothing.
fn stream_ids(g: &GroupView, names: Option<&[String]>) -> Vec<u64> {
    match names {
        None => g.streams.values().copied().collect(),
        Some(names) => names.iter().filter_map(|n| g.streams.get(n)).copied().collect(),
    }
}
