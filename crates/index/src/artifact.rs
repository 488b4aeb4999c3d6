//! The artifact's byte layout: every block's filters, in one checksummed blob.
//!
//! ```text
//! "LSIDX002" policy:u8 short_k:u8 long_k:u8 long_min:u8 blocks:u32
//! per block: flags:u8 (bit 0: a token longer than MAX_TOKEN), short filter, long filter
//!   a filter: hashes:u8 words:u32 words × u64 (0 words: the block has no such keys)
//! crc32c of everything before:u32
//! ```
//! A reader checks the CRC before it trusts a byte, so a damaged artifact is reported as such
//! (and rebuilt) instead of being served. An artifact of an earlier version (the tantivy
//! index, `LSIDX001`) is reported as outdated: dropped and rebuilt, never read.

use crate::error::IndexError;
use crate::filter::KeyFilter;
use crate::terms::TokenPolicy;

const MAGIC: &[u8; 8] = b"LSIDX002";
/// Magics of earlier versions: what they hold is valid, but not readable by this version.
const OUTDATED: &[&[u8; 8]] = &[b"LSIDX001"];

/// One block's keys.
#[derive(Debug, Clone)]
pub(crate) struct BlockKeys {
    /// Whether the block holds a token longer than [`crate::terms::MAX_TOKEN`] (not indexed).
    pub(crate) overlong: bool,
    /// Grams of every indexed token.
    pub(crate) short: KeyFilter,
    /// Grams of the indexed tokens of at least `long_min` bytes.
    pub(crate) long: KeyFilter,
}

/// An artifact, unpacked.
#[derive(Debug)]
pub(crate) struct Packed {
    pub(crate) policy: TokenPolicy,
    pub(crate) short_k: u8,
    pub(crate) long_k: u8,
    pub(crate) long_min: u8,
    pub(crate) blocks: Vec<BlockKeys>,
}

impl Packed {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(u8::from(self.policy.numbers));
        out.extend_from_slice(&[self.short_k, self.long_k, self.long_min]);
        let n = u32::try_from(self.blocks.len())
            .map_err(|_| IndexError::Build("over 2^32 blocks".into()))?;
        out.extend_from_slice(&n.to_le_bytes());
        for b in &self.blocks {
            out.push(u8::from(b.overlong));
            b.short.write(&mut out);
            b.long.write(&mut out);
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Packed, IndexError> {
        let bad = |why: &str| IndexError::Corrupt(why.to_string());
        if bytes.len() >= 8 && OUTDATED.iter().any(|m| &bytes[..8] == *m) {
            return Err(IndexError::Outdated);
        }
        if bytes.len() < MAGIC.len() + 8 + 4 || &bytes[..8] != MAGIC {
            return Err(bad("not an index artifact (bad magic or too short)"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_le_bytes(tail.try_into().expect("4 bytes")) {
            return Err(bad("checksum mismatch"));
        }
        let mut r = Reader { bytes: body, at: 8 };
        let policy = TokenPolicy { numbers: r.u8()? & 1 == 1 };
        let (short_k, long_k, long_min) = (r.u8()?, r.u8()?, r.u8()?);
        if short_k == 0 || long_k == 0 {
            return Err(bad("zero gram length"));
        }
        let n = r.u32()? as usize;
        let mut blocks = Vec::with_capacity(n.min(body.len()));
        for _ in 0..n {
            let overlong = r.u8()? & 1 == 1;
            let short = r.filter()?;
            let long = r.filter()?;
            blocks.push(BlockKeys { overlong, short, long });
        }
        if r.at != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(Packed { policy, short_k, long_k, long_min, blocks })
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

    fn filter(&mut self) -> Result<KeyFilter, IndexError> {
        let hashes = self.u8()?;
        let words = self.u32()? as usize;
        let bytes =
            self.take(words.checked_mul(8).ok_or_else(|| IndexError::Corrupt("size".into()))?)?;
        let words = bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8")));
        KeyFilter::read(hashes, words.collect())
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::hash;

    #[test]
    fn round_trips_and_every_flipped_byte_is_detected() {
        let keys = |ks: &[&str]| ks.iter().map(|k| hash(k.as_bytes())).collect::<Vec<_>>();
        let block = |overlong, ks: &[&str]| BlockKeys {
            overlong,
            short: KeyFilter::build(keys(ks), 4),
            long: KeyFilter::build(keys(&ks[..1]), 8),
        };
        let p = Packed {
            policy: TokenPolicy { numbers: true },
            short_k: 3,
            long_k: 8,
            long_min: 16,
            blocks: vec![block(false, &["abc", "def"]), block(true, &["xyz"])],
        };
        let bytes = p.to_bytes().unwrap();
        let q = Packed::from_bytes(&bytes).unwrap();
        assert_eq!((q.policy, q.short_k, q.long_k, q.long_min), (p.policy, 3, 8, 16));
        assert_eq!(q.blocks.len(), 2);
        assert!(q.blocks[1].overlong && !q.blocks[0].overlong);
        assert!(q.blocks[0].short.contains(b"def") && q.blocks[1].long.contains(b"xyz"));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(matches!(Packed::from_bytes(&b), Err(IndexError::Corrupt(_))), "byte {i}");
        }
        assert!(Packed::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn an_earlier_version_is_outdated_not_corrupt() {
        let mut old = b"LSIDX001".to_vec();
        old.extend_from_slice(&[0; 40]);
        assert!(matches!(Packed::from_bytes(&old), Err(IndexError::Outdated)));
    }
}
