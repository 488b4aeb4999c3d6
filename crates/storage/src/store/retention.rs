//! Retention and deletion: dropping expired blocks and blocks of deleted streams, by deleting
//! whole segments or rewriting them from their live blocks (no recompression).

use super::*;

/// What retention and deletion keep: per live group, its retention cutoff and its live
/// stream ids (sorted).
pub(super) struct LiveGroups(HashMap<u64, (Option<i64>, Vec<u64>)>);

impl LiveGroups {
    pub(super) fn new(cat: &Catalog, now: i64) -> Self {
        let groups = cat.groups.values().map(|g| {
            let mut ids: Vec<u64> = g.streams.values().map(|s| s.id).collect();
            ids.sort_unstable();
            (g.id, (g.retention_cutoff(now), ids))
        });
        LiveGroups(groups.collect())
    }

    /// Whether a block may hold an event still kept: of a live group, not wholly expired, and
    /// with a live stream in its range. (A kept block may still hold some dead rows; reads skip
    /// them and compaction drops them.)
    pub(super) fn holds(&self, b: &BlockMeta) -> bool {
        self.0.get(&b.group_id).is_some_and(|(cutoff, ids)| {
            cutoff.is_none_or(|c| b.max_ts >= c) && b.may_hold_any(ids)
        })
    }

    /// Whether one row is still kept.
    pub(super) fn keeps(&self, group_id: u64, stream_id: u64, ts: i64) -> bool {
        self.0.get(&group_id).is_some_and(|(cutoff, ids)| {
            cutoff.is_none_or(|c| ts >= c) && ids.binary_search(&stream_id).is_ok()
        })
    }
}

/// Drops expired blocks and blocks of deleted streams: whole segments are deleted, partly
/// dead ones are rewritten by copying their live blocks (no recompression).
pub(super) fn rewrite_segments(inner: &Inner) -> Result<()> {
    let _m = inner.maintenance.lock();
    let now = inner.opts.clock.now_ms();
    let (segments, groups) = {
        let st = inner.state.read();
        (st.segments.values().cloned().collect::<Vec<_>>(), LiveGroups::new(&st.catalog, now))
    };
    let live = |b: &BlockMeta| groups.holds(b);
    for seg in segments {
        let keep: Vec<usize> =
            (0..seg.blocks().len()).filter(|&i| live(&seg.blocks()[i])).collect();
        if keep.len() == seg.blocks().len() {
            continue;
        }
        let replacement = if keep.is_empty() {
            None
        } else {
            let id = inner.alloc_segment_id();
            let raw: Result<Vec<_>> =
                keep.iter().map(|&i| Ok((seg.blocks()[i], seg.block_bytes(i)?))).collect();
            let raw = match raw {
                Ok(raw) => raw,
                Err(e) => {
                    // A damaged block it would keep: leave the segment whole (its expired part
                    // stays hidden by reads) rather than fail the open or drop the block.
                    tracing::error!(error = %e, "segment not rewritten: it has a damaged block");
                    continue;
                }
            };
            let describe = |spans: &segment::GroupSpans| {
                let st = inner.state.read();
                let entry = st.catalog.segments.iter().find(|s| s.id == seg.id());
                let created = entry.map_or(0, |s| s.created);
                Description::of(&st.catalog, spans, seg.rank(), created).encode()
            };
            let bytes = segment::write_raw(&*inner.segments, id, &raw, describe)?;
            Some((Segment::open(&*inner.segments, id)?.with_rank(seg.rank()), bytes))
        };
        let w = inner.catalog_writes.lock();
        let mut cat = inner.state.read().catalog.clone();
        let old = cat.segments.iter().find(|s| s.id == seg.id());
        let created = old.map_or(0, |s| s.created);
        let old_artifacts: Vec<String> =
            old.map(|s| s.artifacts.keys().cloned().collect()).unwrap_or_default();
        cat.segments.retain(|s| s.id != seg.id());
        if let Some((new, bytes)) = &replacement {
            let rank = Some(seg.rank());
            cat.segments.push(SegmentEntry {
                id: new.id(),
                bytes: *bytes,
                rank,
                created,
                artifacts: Default::default(),
            });
        }
        inner.save_catalog(&mut cat)?;
        let replacement_id = replacement.as_ref().map(|(new, _)| new.id());
        {
            let mut st = inner.state.write();
            st.catalog = cat;
            st.segments.remove(&seg.id());
            if let Some((new, _)) = replacement {
                st.segments.insert(new.id(), Arc::new(new));
            }
        }
        drop(w);
        inner.segments.delete(&segment::file_name(seg.id()))?;
        inner.delete_artifacts(seg.id(), old_artifacts);
        let mut changes = vec![SegmentChange::Removed(seg.id())];
        changes.extend(replacement_id.map(SegmentChange::Added));
        inner.watchers.send(&changes);
        tracing::info!(
            segment = seg.id(),
            kept_blocks = keep.len(),
            "segment rewritten by retention or deletion"
        );
    }
    Ok(())
}
