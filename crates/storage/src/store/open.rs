//! Opening a store: locking the directory, loading the catalog checkpoint, setting aside
//! unknown segment files, opening segments and replaying the WAL (see ARCHITECTURE's
//! "Recovery").

use super::*;

impl Store {
    /// Opens (creating if needed) the store in `dir`, recovering from the WAL.
    ///
    /// Refuses ([`StorageError::CatalogMissing`]) a directory whose catalog is gone while
    /// segments or log records are there: starting empty would drop them. `Store::repair`
    /// rebuilds the catalog.
    pub fn open(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_owned();
        let perms = opts.perms;
        perms.create_dir_all(&dir)?;
        perms.restrict_dir(&dir)?;
        let lock = DirLock::acquire(&dir)?;
        let has_catalog = dir.join(crate::catalog::FILE).exists();
        if !has_catalog {
            let files = data_files(&dir)?;
            if !files.is_empty() {
                return Err(StorageError::CatalogMissing { dir, files });
            }
            // A new store: its catalog exists from the start, so one that only logged catalog
            // changes so far is never taken for a store whose catalog was lost.
            Catalog::default().save(&dir, perms)?;
        }
        let wal_gone = has_catalog && !dir.join(WAL).exists();
        perms.create_dir_all(&dir.join(WAL))?;
        let mut catalog = Catalog::load(&dir)?;
        catalog.load_holds(&dir)?;
        let mut state = State {
            catalog,
            names: HashMap::new(),
            group_of: HashMap::new(),
            segments: BTreeMap::new(),
            frozen: None,
            damaged: Vec::new(),
            wal_losses: Vec::new(),
        };
        state.rebuild_names();
        let segments: Arc<dyn Directory> = match &opts.segments {
            Some(d) => d.clone(),
            None => Arc::new(MmapDirectory::open(dir.join(SEGMENTS), perms)?),
        };
        set_aside_unknown_segments(&*segments, &state.catalog)?;
        for entry in state.catalog.segments.clone() {
            match Segment::open(&*segments, entry.id) {
                Ok(mut seg) => {
                    seg.assign_groups(|stream| state.group_of.get(&stream).copied());
                    state.segments.insert(entry.id, Arc::new(seg.with_rank(entry.rank())));
                }
                Err(e) => {
                    tracing::error!(error = %e, "segment is damaged; its events are not served");
                    state.damaged.push(e.to_string());
                }
            }
        }
        if wal_gone {
            let why = format!(
                "the write-ahead log directory {} is missing: events acknowledged since the last \
                 seal (records from LSN {} on, in files from {:016x}.wal on) are lost, if there \
                 were any",
                dir.join(WAL).display(),
                state.catalog.next_lsn,
                state.catalog.wal_checkpoint
            );
            tracing::error!("{why}");
            state.wal_losses.push(why);
        }
        let mut producers = Producers::default();
        for g in state.catalog.groups.values() {
            for s in g.streams.values() {
                producers.load(s.id, &s.producers);
            }
        }
        let mut active = MemTable::default();
        let recovery = wal::Recovery {
            checkpoint: state.catalog.wal_checkpoint,
            hold: state.catalog.lowest_hold(),
            // Reported already when the whole directory is gone.
            next_lsn: if wal_gone { 0 } else { state.catalog.next_lsn },
            perms,
            read_only: false,
        };
        let mut bad_change = None;
        let mut unsaved = 0;
        let replay = wal::replay(&dir.join(WAL), &recovery, |record| {
            let batch = match record {
                WalRecord::Batch(batch) => batch,
                WalRecord::Catalog { lsn, change } => {
                    if lsn <= state.catalog.catalog_lsn {
                        return; // the checkpoint includes it
                    }
                    match CatalogChange::decode(&change) {
                        Ok(change) => {
                            let removed = state.apply_change(lsn, change);
                            removed.iter().for_each(|id| active.remove_stream(*id));
                            producers.forget(&removed);
                            unsaved += 1;
                        }
                        Err(why) => {
                            bad_change.get_or_insert((lsn, why));
                        }
                    }
                    return;
                }
            };
            if !state.names.contains_key(&batch.stream_id) {
                return; // the stream was deleted after this batch was logged
            }
            if let Some(p) = &batch.producer {
                producers.record(batch.stream_id, &p.id, p.sequence, p.updated, 0);
            }
            let events = batch.events.into_iter().map(|e| MemEvent {
                timestamp: e.timestamp,
                ingestion_time: e.ingestion_time,
                message: e.message.into(),
            });
            active.insert(batch.stream_id, events);
        })?;
        if let Some((lsn, why)) = bad_change {
            // Its checksum held, so it is what was written: a newer binary's change, or a bug.
            // Going on without it would serve a catalog that differs from the acknowledged one.
            return Err(StorageError::corrupt(dir.join(WAL), lsn, why));
        }
        remove_unlisted_artifacts(&*segments, &state.catalog)?;
        tracing::info!(
            records = replay.records,
            buffered = active.events,
            "write-ahead log replayed"
        );
        state.wal_losses.extend(replay.damage.iter().map(ToString::to_string));
        state.wal_losses.extend(replay.missing.iter().map(ToString::to_string));
        if replay.damage.is_empty() {
            // Damage found by an earlier start: its bytes are still kept aside.
            for f in wal::set_aside_files(&dir.join(WAL)) {
                state.wal_losses.push(format!("damaged bytes set aside earlier: {}", f.display()));
            }
        }
        let wal_id = replay
            .reusable
            .unwrap_or_else(|| (replay.last_id + 1).max(state.catalog.wal_checkpoint));
        let last_lsn = replay.last_lsn.max(state.catalog.next_lsn.saturating_sub(1));
        let sealed_batch = state.catalog.last_batch_lsn.unwrap_or(last_lsn);
        let last =
            wal::LastLsns { record: last_lsn, batch: replay.last_batch_lsn.max(sealed_batch) };
        let wal = Wal::create(&dir.join(WAL), wal_id, opts.sync, last, replay.first_lsns, perms)?;
        let background = opts.background;
        let next_segment = state.catalog.next_segment_id;
        let inner = Arc::new(Inner {
            dir,
            opts,
            segments,
            wal,
            gate: RwLock::new(()),
            active: Mutex::new(active),
            room: Condvar::new(),
            producers: Mutex::new(producers),
            state: RwLock::new(state),
            maintenance: Mutex::new(()),
            catalog_writes: Mutex::new(()),
            unsaved_changes: AtomicU64::new(unsaved),
            last_seal: Mutex::new(std::time::Instant::now()),
            watchers: artifacts::Watchers::default(),
            next_segment: AtomicU64::new(next_segment),
            sealed_bytes: AtomicU64::new(0),
            compacted_bytes: AtomicU64::new(0),
            unsealed: Mutex::new(None),
            #[cfg(test)]
            fail_seals: AtomicU64::new(0),
            _lock: lock,
        });
        let (kick, kicked) = channel::bounded(1);
        let (stop, stopped) = channel::bounded(1);
        let worker = background.then(|| {
            let inner = inner.clone();
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name("logsight-sealer".into())
                .spawn(move || background_loop(&inner, &kicked, &stopped))
                .expect("spawning the sealer thread")
        });
        // Merges run on their own thread, so a long one never delays a seal.
        let compactor = (background && inner.opts.background_compaction).then(|| {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("logsight-compactor".into())
                .spawn(move || compaction_loop(&inner, &stopped))
                .expect("spawning the compactor thread")
        });
        let store = Store { inner, stop: Some(stop), kick, worker, compactor };
        store.enforce_retention()?;
        Ok(store)
    }
}

/// Handles segment files the catalog does not list (unfinished writes are removed when the
/// directory is opened). Any other file is moved to `lost+found` with a warning, never deleted: it is most
/// likely the output of a seal or merge interrupted before its commit (its events then are in
/// the WAL or the merge's inputs too), or one removed by a rewrite whose unlink did not happen,
/// but with a catalog restored from elsewhere it may hold acknowledged events found nowhere
/// else.
fn set_aside_unknown_segments(dir: &dyn Directory, cat: &Catalog) -> Result<()> {
    let live: HashSet<String> = cat.segments.iter().map(|s| segment::file_name(s.id)).collect();
    for name in dir.list()?.into_iter().filter(|n| n.ends_with(".seg") && !live.contains(n)) {
        let to = dir.set_aside(&name)?;
        tracing::warn!(file = %name, moved_to = %to.display(),
            "segment file not in the catalog set aside (most likely from a seal or merge \
             interrupted before its commit, whose events are also kept elsewhere)");
    }
    Ok(())
}

/// Deletes artifact files the catalog does not list: derived data whose registration did not
/// commit, rebuildable, so not kept. After the WAL replay, which registers artifacts too.
fn remove_unlisted_artifacts(dir: &dyn Directory, cat: &Catalog) -> Result<()> {
    let mut live: HashSet<String> = HashSet::new();
    for s in &cat.segments {
        live.insert(segment::file_name(s.id));
        live.extend(s.artifacts.keys().map(|kind| artifacts::file_name(s.id, kind)));
    }
    for name in dir.list()?.into_iter().filter(|n| !n.ends_with(".seg") && !live.contains(n)) {
        tracing::info!(file = %name, "removing an artifact the catalog does not list");
        dir.delete(&name)?;
    }
    Ok(())
}

/// The segment files and non-empty WAL files in `dir`: what a directory without a catalog
/// must not be opened empty over.
fn data_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (sub, ext) in [(SEGMENTS, "seg"), (WAL, "wal")] {
        let sub = dir.join(sub);
        let Ok(entries) = fs::read_dir(&sub) else { continue };
        for entry in entries {
            let path = entry.context(|| format!("listing {}", sub.display()))?.path();
            let len = fs::metadata(&path).map_or(0, |m| m.len());
            // An empty log file (its 8-byte header alone) holds nothing.
            if path.extension().is_some_and(|e| e == ext) && (ext == "seg" || len > 8) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// An exclusive lock on the data directory itself (`flock` on the directory), held while the
/// store is open. Locking the directory rather than a file in it means deleting a file cannot
/// let a second process in, and the kernel drops the lock when the process dies.
pub(super) struct DirLock(#[allow(dead_code)] File);

impl DirLock {
    pub(super) fn acquire(dir: &Path) -> Result<DirLock> {
        let f = File::open(dir).context(|| format!("opening {}", dir.display()))?;
        match f.try_lock() {
            Ok(()) => Ok(DirLock(f)),
            Err(std::fs::TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_owned())),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(StorageError::io(format!("locking {}", dir.display()), e))
            }
        }
    }
}
