//! Sealing: the active buffer becomes a segment, committed by a catalog checkpoint that moves
//! the WAL checkpoint past the buffer's files; and the recovery of a seal or WAL write that
//! failed (a full disk).

use super::*;

/// Seals the active buffer into a new segment. The catalog write that adds the segment and
/// moves the WAL checkpoint past the buffer's files is the commit point.
///
/// After a failure (a full disk) nothing is lost and nothing needs a restart: a failed seal
/// keeps its frozen buffer readable and is retried first by the next seal, and a WAL that
/// failed a write is re-opened here (see `recover_wal`). The background thread calls this
/// every tick while either is pending.
pub(super) fn seal(inner: &Inner) -> Result<()> {
    let _m = inner.maintenance.lock();
    retry_unsealed(inner)?;
    let (frozen, closed_wal, marks) = {
        let _gate = inner.gate.write();
        recover_wal(inner)?;
        let mut active = inner.active.lock();
        if active.is_empty() && inner.unsaved_changes.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let closed = inner.wal.rotate()?;
        // Every record up to here is in the closed files.
        let next_lsn = inner.wal.queued_lsn() + 1;
        let last_batch_lsn = inner.wal.durable_batch_lsn();
        // No append is in flight, so the marks are exactly those of the closed WAL files:
        // the catalog must hold them once those files are gone.
        let marks = inner.producers.lock().snapshot();
        let mt = Arc::new(std::mem::take(&mut *active));
        inner.state.write().frozen = Some(mt.clone());
        (mt, Checkpoint { wal_file: closed + 1, next_lsn, last_batch_lsn }, marks)
    };
    inner.room.notify_all();
    let unsealed = UnsealedBuffer { frozen, checkpoint: closed_wal, marks };
    *inner.unsealed.lock() = Some(unsealed);
    retry_unsealed(inner)
}

/// Writes the pending frozen buffer, if any, into a segment. On failure it stays pending (and
/// readable, and in the WAL, whose checkpoint did not move).
pub(super) fn retry_unsealed(inner: &Inner) -> Result<()> {
    let Some(u) = inner.unsealed.lock().take() else { return Ok(()) };
    match write_frozen(inner, &u.frozen, u.checkpoint, u.marks.clone()) {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "sealing failed; it is retried until it succeeds");
            *inner.unsealed.lock() = Some(u);
            Err(e)
        }
    }
}

/// Re-opens the WAL after a failed write, if the disk lets it, and rebuilds the producers'
/// marks from what is durable (a failed record may have raised one). The caller holds the
/// seal gate, so no append is in flight.
pub(super) fn recover_wal(inner: &Inner) -> Result<()> {
    let mut producers = inner.producers.lock();
    if !inner.wal.recover()? {
        return Ok(());
    }
    let st = inner.state.read();
    let mut rebuilt = Producers::default();
    for s in st.catalog.groups.values().flat_map(|g| g.streams.values()) {
        rebuilt.load(s.id, &s.producers);
    }
    let recovery = wal::Recovery {
        checkpoint: st.catalog.wal_checkpoint,
        read_only: true,
        ..Default::default()
    };
    wal::replay(&inner.dir.join(WAL), &recovery, |r| {
        let WalRecord::Batch(b) = r else { return };
        if let Some(p) = b.producer.filter(|_| st.names.contains_key(&b.stream_id)) {
            rebuilt.record(b.stream_id, &p.id, p.sequence, p.updated, 0);
        }
    })?;
    *producers = rebuilt;
    Ok(())
}

/// Where a seal moves the WAL checkpoint: the first WAL file not sealed, and the LSN its
/// first record has at least.
#[derive(Debug, Clone, Copy)]
pub(super) struct Checkpoint {
    pub(super) wal_file: u64,
    pub(super) next_lsn: u64,
    pub(super) last_batch_lsn: u64,
}

pub(super) fn write_frozen(
    inner: &Inner,
    mt: &MemTable,
    checkpoint: Checkpoint,
    mut marks: HashMap<u64, BTreeMap<String, ProducerMark>>,
) -> Result<()> {
    #[cfg(test)]
    if inner.fail_seals.load(Ordering::Relaxed) > 0 {
        inner.fail_seals.fetch_sub(1, Ordering::Relaxed);
        return Err(StorageError::io("writing a segment", std::io::Error::from_raw_os_error(28)));
    }
    // Streams deleted after this look leave rows that reads skip and compaction drops.
    let mut streams: Vec<(u64, u64, &crate::memtable::StreamBuf)> = {
        let st = inner.state.read();
        mt.streams.iter().filter_map(|(id, buf)| Some((*st.group_of.get(id)?, *id, buf))).collect()
    };
    // Rows in (group, stream, time) order, cut into blocks of about `block_bytes`, one
    // segment per UTC day: a segment spanning days would belong to no day's compaction
    // partition, and could be merged with its days' segments only all at once (late events
    // of yesterday arrive with today's whenever a fleet catches up).
    streams.sort_unstable_by_key(|(gid, sid, _)| (*gid, *sid));
    let mut days: BTreeMap<i64, BlockBuilder<MemEvent>> = BTreeMap::new();
    for (gid, sid, buf) in streams {
        for e in buf.sorted() {
            let day = e.timestamp.div_euclid(segment::DAY_MS);
            let builder =
                days.entry(day).or_insert_with(|| BlockBuilder::new(inner.opts.block_bytes));
            builder.push(gid, sid, e.timestamp, e.ingestion_time, e);
        }
    }
    let created = inner.opts.clock.now_ms();
    // Ids in day order, so the day parts' ranks keep their days in order (they never share a
    // timestamp, so their relative order is otherwise free).
    let mut segs = Vec::new();
    for builder in days.into_values() {
        let blocks = builder.finish();
        let inputs: Vec<BlockInput<'_, MemEvent>> = blocks.iter().map(OwnedBlock::input).collect();
        if inputs.is_empty() {
            continue;
        }
        let id = inner.alloc_segment_id();
        // The description reads the names under the state lock; copying the whole catalog
        // for it would cost a million-stream store a copy per seal.
        let describe = |spans: &segment::GroupSpans| {
            let mut d = Description::of(&inner.state.read().catalog, spans, id, created);
            (d.wal_checkpoint, d.next_lsn) = (checkpoint.wal_file, checkpoint.next_lsn);
            d.encode()
        };
        // A failure leaves the parts written so far as orphans, deleted by the next open.
        let (bytes, _) = segment::write(&*inner.segments, id, &inputs, describe)?;
        segs.push((id, Segment::open(&*inner.segments, id)?, bytes));
    }
    inner.sealed_bytes.fetch_add(segs.iter().map(|s| s.2).sum::<u64>(), Ordering::Relaxed);
    // The commit point: a checkpoint of the catalog as it is now (every change logged in the
    // closed WAL files is applied, see `change_catalog`) with the new segment.
    let _w = inner.catalog_writes.lock();
    let mut cat = inner.state.read().catalog.clone();
    cat.wal_checkpoint = checkpoint.wal_file;
    cat.next_lsn = checkpoint.next_lsn;
    cat.last_batch_lsn = Some(checkpoint.last_batch_lsn);
    for s in cat.groups.values_mut().flat_map(|g| g.streams.values_mut()) {
        s.producers = marks.remove(&s.id).unwrap_or_default();
    }
    for (id, _, bytes) in &segs {
        cat.segments.push(SegmentEntry {
            id: *id,
            bytes: *bytes,
            rank: None,
            created,
            artifacts: Default::default(),
        });
    }
    inner.save_catalog(&mut cat)?;
    inner.unsaved_changes.store(0, Ordering::Relaxed);
    *inner.last_seal.lock() = std::time::Instant::now();
    let hold = cat.lowest_hold();
    let added: Vec<SegmentChange> = segs.iter().map(|(id, ..)| SegmentChange::Added(*id)).collect();
    {
        let mut st = inner.state.write();
        st.catalog = cat;
        for (id, seg, _) in segs {
            st.segments.insert(id, Arc::new(seg));
        }
        st.frozen = None;
    }
    if !added.is_empty() {
        inner.watchers.send(&added);
    }
    inner.wal.remove_below(checkpoint.wal_file, hold)?;
    tracing::debug!(segments = added.len(), events = mt.events, "sealed");
    Ok(())
}
