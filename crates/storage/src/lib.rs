//! logsight's storage engine: durable appends, immutable compressed segments, ordered reads.
//!
//! Writes go to a write-ahead log with group commit (one fsync shared by every concurrent
//! appender) and into an in-memory buffer, where they are readable at once. A background
//! thread seals the buffer into an immutable, memory-mapped segment file of zstd-compressed,
//! per-group blocks, then drops the WAL files it covers. The catalog (groups, streams, the
//! segment list, the WAL checkpoint) is a file replaced atomically; replacing it is the commit
//! point of every seal, compaction and rewrite. Creating or deleting a group or stream is a WAL
//! record, applied in memory; the next seal checkpoints it into the file.
//!
//! The API is synchronous and does no async I/O: the server calls it from blocking threads.
//! Only this crate calls memmap2, zstd or fsync.
//!
//! # Layout
//! - [`store`]: [`Store`], the entry point: open and recovery, groups and streams, append,
//!   seal, retention, reads and scan planning.
//! - `wal`: the write-ahead log and its recovery rules.
//! - [`segment`]: the segment file format, writer and reader.
//! - [`directory`]: the file-access seam segments are read and written through (memory-mapped
//!   files on disk, or memory).
//! - `block` and [`msgcodec`]: how one block's columns are encoded.
//! - [`read`]: ordered, paged reads (a lazy k-way merge) and position tokens.
//! - [`scan`]: pruned, parallel block scans for the query engine.
//! - `catalog`: the persisted catalog.
//! - `producers`: idempotent producers (deduplicating resent batches), bounded by
//!   [`MAX_PRODUCERS_PER_STREAM`] per stream.
//!
//! ```
//! use logsight_model::{LogEvent, LogGroupName, LogStreamName};
//! use logsight_storage::{ReadOptions, Store, StoreOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
//! let (g, s) = (LogGroupName::new("app").unwrap(), LogStreamName::new("web-1").unwrap());
//! store.create_group(&g).unwrap();
//! store.create_stream(&g, &s).unwrap();
//! store.append("app", "web-1", &[LogEvent::new(1_000, 1_001, "GET /health 200").unwrap()]).unwrap();
//! let page = store.read_stream("app", "web-1", &ReadOptions::default()).unwrap();
//! assert_eq!(page.events[0].message, "GET /health 200");
//! ```

mod block;
mod catalog;
mod clock;
mod describe;
pub mod directory;
mod error;
mod fsutil;
mod layout;
mod memtable;
mod mmap;
pub mod msgcodec;
mod producers;
pub mod read;
pub mod scan;
pub mod segment;
mod stats;
pub mod store;
mod varint;
mod wal;

pub use block::{Columns, DecodedBlock, StreamRun};
pub use clock::{Clock, ManualClock, SystemClock};
pub use directory::{Directory, FileBytes, FileWriter, MmapDirectory, RamDirectory};
pub use error::{Result, StorageError};
pub use fsutil::Perms;
pub use msgcodec::{Piece, Template, Templates};
pub use producers::MAX_PRODUCERS_PER_STREAM;
pub use read::{Direction, Event, Page, Position, ReadOptions};
pub use scan::{ScanPlan, ScanUnit, StreamRows};
pub use store::{
    AppendOutcome, ArtifactKind, CommittedBatch, CommittedEvent, CompactionPolicy,
    CompactionReport, Derivation, DeriveError, DeriveReport, DeriveStats, Deriver, GroupInfo, Lsn,
    Producer, RepairReport, SegmentChange, SegmentInfo, Store, StoreOptions, StoreStats,
    StreamInfo, StreamPage, VerifyReport,
};
