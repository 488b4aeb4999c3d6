//! Segment descriptions: what a segment needs to say about itself for a lost catalog to be
//! rebuilt from the segments alone.
//!
//! ```text
//! trailer := body:bytes body_len:u32le crc32c(body):u32le magic:"LSSEGDSC"
//! body    := zstd(json)
//! ```
//! The trailer sits between a segment's last block and its directory, and footer flag bit 0
//! says it is there; it ends where the directory starts. The JSON names the groups the
//! segment's blocks belong to and the streams in their stream-id spans (names, creation times,
//! retention), the segment's rank and write time, and the WAL checkpoint as of its writing.
//! Blocks and log records refer to groups and streams by id only, so without it a rebuilt
//! catalog could only invent names. The JSON is zstd-compressed: stream names of a fleet repeat
//! their prefixes, and the trailer is paid for in every segment.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::{IoContext, Result, StorageError};
use crate::segment::GroupSpans;

/// Footer flag: the segment carries a description trailer.
pub(crate) const FLAG_DESCRIBED: u32 = 1;
const MAGIC: &[u8; 8] = b"LSSEGDSC";
const FOOTER_LEN: usize = 40;
/// Largest description accepted (uncompressed).
const MAX_JSON: usize = 256 << 20;

/// What a segment says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Description {
    /// Group id → the group as the catalog had it when the segment was written.
    pub groups: BTreeMap<u64, DescribedGroup>,
    /// The segment's rank (see the catalog's segment entries).
    pub rank: u64,
    /// When its newest data was written, epoch ms.
    pub created: i64,
    /// WAL files below this id were sealed when the segment was written.
    pub wal_checkpoint: u64,
    /// The LSN the first record of the checkpoint file has at least.
    pub next_lsn: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DescribedGroup {
    pub name: String,
    pub created: i64,
    pub retention_days: Option<u32>,
    /// Stream id → name. (Streams' creation times are left out: they cost more bytes in every
    /// segment than they are worth; a rebuilt stream takes its group's.)
    pub streams: BTreeMap<u64, String>,
}

impl Description {
    /// Describes a segment whose blocks cover `spans`, from catalog `cat`.
    pub(crate) fn of(cat: &Catalog, spans: &GroupSpans, rank: u64, created: i64) -> Description {
        let mut groups = BTreeMap::new();
        for (name, g) in &cat.groups {
            let Some(&(lo, hi)) = spans.get(&g.id) else { continue };
            let streams = g
                .streams
                .iter()
                .filter(|(_, s)| (lo..=hi).contains(&s.id))
                .map(|(n, s)| (s.id, n.clone()))
                .collect();
            let group = DescribedGroup {
                name: name.clone(),
                created: g.created,
                retention_days: g.retention_days,
                streams,
            };
            groups.insert(g.id, group);
        }
        Description {
            groups,
            rank,
            created,
            wal_checkpoint: cat.wal_checkpoint,
            next_lsn: cat.next_lsn,
        }
    }

    /// The description as a trailer body (compressed JSON).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("a description always serialises");
        zstd::bulk::compress(&json, 3).expect("compressing into memory does not fail")
    }
}

/// Frames a description's JSON as a trailer.
pub(crate) fn trailer(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 16);
    out.extend_from_slice(json);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(json).to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

/// Reads the description of the segment at `path`: `None` if it has none (written before
/// descriptions existed), an error if the trailer is damaged. The caller has opened the
/// segment (its footer is whole).
pub(crate) fn read(path: &Path) -> Result<Option<Description>> {
    let data = std::fs::read(path).context(|| format!("reading {}", path.display()))?;
    let bad = |at: usize, why: &str| StorageError::corrupt(path, at as u64, why);
    let Some(foot_at) = data.len().checked_sub(FOOTER_LEN) else {
        return Err(bad(0, "too short for a segment"));
    };
    let f = &data[foot_at..];
    let flags = u32::from_le_bytes(f[24..28].try_into().expect("4"));
    if flags & FLAG_DESCRIBED == 0 {
        return Ok(None);
    }
    let dir_off = u64::from_le_bytes(f[0..8].try_into().expect("8")) as usize;
    let head = dir_off
        .checked_sub(16)
        .and_then(|at| data.get(at..dir_off).map(|h| (at, h)))
        .filter(|(_, h)| &h[8..16] == MAGIC);
    let Some((at, h)) = head else {
        return Err(bad(dir_off, "description trailer missing"));
    };
    let len = u32::from_le_bytes(h[0..4].try_into().expect("4")) as usize;
    let crc = u32::from_le_bytes(h[4..8].try_into().expect("4"));
    let json = at.checked_sub(len).and_then(|start| data.get(start..at));
    let Some(json) = json.filter(|j| crc32c::crc32c(j) == crc) else {
        return Err(bad(at, "description checksum mismatch"));
    };
    let json = zstd::bulk::decompress(json, MAX_JSON).map_err(|e| bad(at, &e.to_string()))?;
    serde_json::from_slice(&json).map(Some).map_err(|e| bad(at, &format!("description: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{GroupEntry, StreamEntry};
    use crate::fsutil::Perms;

    fn catalog() -> Catalog {
        let mut cat = Catalog { wal_checkpoint: 4, next_lsn: 17, ..Catalog::default() };
        for (gid, gname, streams) in
            [(1, "app", &[(1, "web-1"), (2, "web-2")][..]), (2, "db", &[(3, "pg")])]
        {
            let streams = streams
                .iter()
                .map(|(id, n)| {
                    let e = StreamEntry {
                        id: *id,
                        created: 10 * *id as i64,
                        producers: BTreeMap::new(),
                    };
                    (n.to_string(), e)
                })
                .collect();
            let g = GroupEntry { id: gid, created: 5, retention_days: Some(7), streams };
            cat.groups.insert(gname.into(), g);
        }
        cat
    }

    #[test]
    fn describes_only_the_groups_and_streams_in_the_spans() {
        let spans: GroupSpans = [(1, (2, 2))].into();
        let d = Description::of(&catalog(), &spans, 9, 123);
        assert_eq!(d.groups.len(), 1);
        let g = &d.groups[&1];
        assert_eq!((g.name.as_str(), g.retention_days), ("app", Some(7)));
        assert_eq!(g.streams.keys().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(g.streams[&2], "web-2");
        assert_eq!((d.rank, d.created, d.wal_checkpoint, d.next_lsn), (9, 123, 4, 17));
    }

    /// A segment with a description round-trips it, still opens and decodes as before, and
    /// every flipped byte of the trailer is caught by its checksum or magic.
    #[test]
    fn trailer_round_trips_and_damage_is_detected() {
        use crate::block::RunInput;
        use crate::segment::{BlockInput, Segment, write};
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::directory::MmapDirectory::open(tmp.path(), Perms::default()).unwrap();
        let path = crate::directory::Directory::location(&dir, &crate::segment::file_name(1));
        let msgs = vec!["a".to_string(), "b".to_string()];
        let runs = [RunInput { stream_id: 3, count: 2, raw_bytes: 2 }];
        let input = BlockInput {
            group_id: 2,
            runs: &runs,
            timestamps: &[1, 2],
            ingestion_times: &[1, 2],
            messages: msgs.as_slice(),
        };
        let cat = catalog();
        let mut want = None;
        write(&dir, 1, &[input], |spans| {
            let d = Description::of(&cat, spans, 1, 2);
            want = Some(d.clone());
            d.encode()
        })
        .unwrap();
        let want = want.unwrap();
        assert_eq!(want.groups[&2].streams[&3], "pg");
        assert_eq!(read(&path).unwrap(), Some(want));
        let seg = Segment::open_file(1, &path).unwrap();
        let mut out = crate::block::DecodedBlock::default();
        seg.decode_block(0, &mut out).unwrap();
        assert_eq!(out.message(1), "b");
        let good = std::fs::read(&path).unwrap();
        let block_end = (seg.blocks()[0].offset + u64::from(seg.blocks()[0].len)) as usize;
        let dir_off = good.len() - FOOTER_LEN - (8 + 88);
        drop(seg);
        for pos in block_end..dir_off {
            let mut bad = good.clone();
            bad[pos] ^= 0x04;
            std::fs::write(&path, &bad).unwrap();
            assert!(
                matches!(read(&path), Err(StorageError::Corruption { .. })),
                "flip at {pos} not detected"
            );
        }
    }
}
