//! One block's set of keys as a Bloom filter (the `fastbloom` crate), keyed by xxh3 hashes.
//!
//! Keys are hashed here with a fixed seed, and the filter is given only the hash
//! (`insert_hash`/`contains_hash`), so what is stored depends on two pinned algorithms
//! (xxh3, and fastbloom's derivation of bit positions from a hash); both crates are pinned
//! exactly in Cargo.toml, and changing either means a new artifact version.

use fastbloom::BloomFilter;

use crate::error::IndexError;

/// The seed of the key hash (any fixed value; part of the artifact format).
const SEED: u64 = 0x6c6f_6773_6967_6874;

pub(crate) fn hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, SEED)
}

/// A block's keys: `None` when it has none (every lookup answers "absent").
#[derive(Debug, Clone)]
pub(crate) struct KeyFilter {
    bloom: Option<BloomFilter>,
}

impl KeyFilter {
    /// A filter of `hashes` (deduplicated first) with about `bits_per_key` bits for each.
    pub(crate) fn build(mut hashes: Vec<u64>, bits_per_key: u32) -> KeyFilter {
        hashes.sort_unstable();
        hashes.dedup();
        if hashes.is_empty() {
            return KeyFilter { bloom: None };
        }
        let bits = (hashes.len() * bits_per_key as usize).max(64);
        // The optimum for a Bloom filter: ln 2 hash functions per bit per key.
        // Capped: more than 16 probes buys nothing at any size this index uses.
        let k = ((f64::from(bits_per_key) * std::f64::consts::LN_2).round() as u32).clamp(1, 16);
        let mut bloom = BloomFilter::with_num_bits(bits).hashes(k);
        for h in hashes {
            bloom.insert_hash(h);
        }
        KeyFilter { bloom: Some(bloom) }
    }

    /// Whether the key may be in the set (no false negatives).
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.bloom.as_ref().is_some_and(|b| b.contains_hash(hash(key)))
    }

    /// Appends `hashes:u8 words:u32 words×u64` (0 words: empty).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match &self.bloom {
            None => {
                out.push(0);
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            Some(b) => {
                out.push(b.num_hashes() as u8);
                let words = b.as_slice();
                out.extend_from_slice(&(words.len() as u32).to_le_bytes());
                for w in words {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
    }

    /// Reads what [`KeyFilter::write`] wrote.
    pub(crate) fn read(hashes: u8, words: Vec<u64>) -> Result<KeyFilter, IndexError> {
        if words.is_empty() {
            return Ok(KeyFilter { bloom: None });
        }
        if hashes == 0 {
            return Err(IndexError::Corrupt("a filter with no hash functions".into()));
        }
        Ok(KeyFilter { bloom: Some(BloomFilter::from_vec(words).hashes(u32::from(hashes))) })
    }

    /// Bytes of filter bits.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bloom.as_ref().map_or(0, |b| b.as_slice().len() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_present_are_found_and_absent_ones_mostly_not() {
        let keys: Vec<Vec<u8>> = (0..2000).map(|i| format!("key{i}").into_bytes()).collect();
        let f = KeyFilter::build(keys.iter().map(|k| hash(k)).collect(), 8);
        assert!(keys.iter().all(|k| f.contains(k)));
        let fp = (0..10_000).filter(|i| f.contains(format!("other{i}").as_bytes())).count();
        // 8 bits per key: about 2% false positives.
        assert!(fp < 500, "{fp} false positives of 10,000");
        assert!(f.bytes() <= 2000 + 8, "{} bytes", f.bytes());
        let mut out = Vec::new();
        f.write(&mut out);
        let words = out[5..].chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()));
        let g = KeyFilter::read(out[0], words.collect()).unwrap();
        assert!(keys.iter().all(|k| g.contains(k)));
        let empty = KeyFilter::build(Vec::new(), 8);
        assert!(!empty.contains(b"key1"));
    }
}
