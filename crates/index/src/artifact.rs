//! The artifact's byte layout: tantivy's files packed into one checksummed blob.
//!
//! ```text
//! "LSIDX001" granularity:u8 flags:u8 reserved:u16 blocks:u32 docs:u32 files:u32
//! per block (event granularity only): first doc:u32
//! per file: name_len:u16 name len:u32
//! file bytes, in the same order
//! crc32c of everything before:u32
//! ```
//! A reader checks the CRC before it trusts a byte, so a damaged artifact is reported as such
//! (and rebuilt) instead of being served.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::IndexError;
use crate::terms::TokenPolicy;

const MAGIC: &[u8; 8] = b"LSIDX001";

/// What one tantivy document stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One document per block: postings point at blocks.
    Block,
    /// One document per event: postings point at rows.
    Event,
}

/// An artifact, unpacked.
#[derive(Debug)]
pub(crate) struct Packed {
    pub(crate) granularity: Granularity,
    pub(crate) policy: TokenPolicy,
    pub(crate) blocks: u32,
    pub(crate) docs: u32,
    /// First document of each block (event granularity), else empty.
    pub(crate) block_docs: Vec<u32>,
    pub(crate) files: BTreeMap<PathBuf, Vec<u8>>,
}

impl Packed {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(match self.granularity {
            Granularity::Block => 0,
            Granularity::Event => 1,
        });
        out.push(u8::from(self.policy.numbers));
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.blocks.to_le_bytes());
        out.extend_from_slice(&self.docs.to_le_bytes());
        out.extend_from_slice(&(self.files.len() as u32).to_le_bytes());
        for d in &self.block_docs {
            out.extend_from_slice(&d.to_le_bytes());
        }
        for (name, bytes) in &self.files {
            let name =
                name.to_str().ok_or_else(|| IndexError::Build(format!("file name {name:?}")))?;
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            let len = u32::try_from(bytes.len())
                .map_err(|_| IndexError::Build(format!("{name} is over 4 GiB")))?;
            out.extend_from_slice(&len.to_le_bytes());
        }
        for bytes in self.files.values() {
            out.extend_from_slice(bytes);
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Packed, IndexError> {
        let bad = |why: &str| IndexError::Corrupt(why.to_string());
        if bytes.len() < MAGIC.len() + 20 + 4 || &bytes[..8] != MAGIC {
            return Err(bad("not an index artifact (bad magic or too short)"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_le_bytes(tail.try_into().expect("4 bytes")) {
            return Err(bad("checksum mismatch"));
        }
        let mut r = Reader { bytes: body, at: 8 };
        let granularity = match r.u8()? {
            0 => Granularity::Block,
            1 => Granularity::Event,
            g => return Err(bad(&format!("unknown granularity {g}"))),
        };
        let policy = TokenPolicy { numbers: r.u8()? & 1 == 1 };
        r.take(2)?;
        let blocks = r.u32()?;
        let docs = r.u32()?;
        let nfiles = r.u32()?;
        let block_docs = match granularity {
            Granularity::Block => Vec::new(),
            Granularity::Event => (0..blocks).map(|_| r.u32()).collect::<Result<_, _>>()?,
        };
        let mut names = Vec::new();
        for _ in 0..nfiles {
            let n = usize::from(r.u16()?);
            let name = std::str::from_utf8(r.take(n)?).map_err(|_| bad("file name not UTF-8"))?;
            names.push((PathBuf::from(name), r.u32()? as usize));
        }
        let mut files = BTreeMap::new();
        for (name, len) in names {
            files.insert(name, r.take(len)?.to_vec());
        }
        if r.at != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(Packed { granularity, policy, blocks, docs, block_docs, files })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| IndexError::Corrupt("truncated".into()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, IndexError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, IndexError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_every_flipped_byte_is_detected() {
        let mut files = BTreeMap::new();
        files.insert(PathBuf::from("meta.json"), b"{}".to_vec());
        files.insert(PathBuf::from("a.idx"), vec![1, 2, 3]);
        let p = Packed {
            granularity: Granularity::Event,
            policy: TokenPolicy { numbers: true },
            blocks: 2,
            docs: 5,
            block_docs: vec![0, 3],
            files,
        };
        let bytes = p.to_bytes().unwrap();
        let q = Packed::from_bytes(&bytes).unwrap();
        assert_eq!((q.granularity, q.policy, q.blocks, q.docs), (p.granularity, p.policy, 2, 5));
        assert_eq!((q.block_docs, q.files), (p.block_docs, p.files));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(matches!(Packed::from_bytes(&b), Err(IndexError::Corrupt(_))), "byte {i}");
        }
        assert!(Packed::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
