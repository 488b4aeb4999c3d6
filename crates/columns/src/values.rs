//! A block's string values of one field, summarised for pruning: `f = "x"` and `f in [...]`
//! skip a block whose summary rules the value out, read from the directory without
//! decompressing the column.
//!
//! A value is keyed by its xxh3 hash (fixed seed). Few distinct strings: the sorted set of
//! their hashes (64 bits each; two strings collide with probability 2^-64). More: a Bloom
//! filter of the hashes (`fastbloom`, the same pinned crate and hash as the full-text
//! index). More than a cap: no summary, and a string test keeps the block. Either way a
//! string the block holds is always found (no false negatives); a string it lacks is found
//! only by a hash collision (exact sets) or the filter's false-positive rate (Bloom). Both
//! crates are pinned exactly: what is stored depends on xxh3 and on fastbloom's derivation
//! of bit positions, so a change of either is a new artifact version.
//!
//! The choice of sizes, with what they cost, is measured in the crate doc.

use fastbloom::BloomFilter;

use crate::error::ColumnsError;

/// The seed of the value hash (any fixed value; part of the artifact format).
const SEED: u64 = 0x7661_6c75_6573_6574;

const EXACT: u8 = 1;
const BLOOM: u8 = 2;

/// How blocks' string values are summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueSetPolicy {
    /// At most this many distinct strings: their exact hashes.
    pub exact_max: usize,
    /// Bits per distinct string of the Bloom filter above `exact_max` (0: no filter).
    pub bloom_bits: u32,
    /// More distinct strings than this: no summary at all.
    pub bloom_max: usize,
}

impl ValueSetPolicy {
    /// No summaries (the format's earlier behaviour, for measurements).
    pub const NONE: ValueSetPolicy = ValueSetPolicy { exact_max: 0, bloom_bits: 0, bloom_max: 0 };
}

impl Default for ValueSetPolicy {
    /// What the server builds (the crate doc has the measurements behind it).
    fn default() -> Self {
        ValueSetPolicy { exact_max: 32, bloom_bits: 10, bloom_max: 8192 }
    }
}

/// The key of a string value.
fn hash(value: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(value.as_bytes(), SEED)
}

/// The distinct strings of one field in one block, summarised: see the module doc.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueSet {
    repr: Repr,
}

#[derive(Debug, Clone, PartialEq)]
enum Repr {
    /// Sorted, distinct hashes.
    Exact(Vec<u64>),
    Bloom(BloomFilter),
}

impl ValueSet {
    /// The summary of a column's dictionary (distinct strings), or `None` under `policy`
    /// (no strings, or more than it summarises).
    pub(crate) fn build(dict: &[String], policy: ValueSetPolicy) -> Option<ValueSet> {
        let n = dict.len();
        if n == 0 {
            return None;
        }
        let mut hashes: Vec<u64> = dict.iter().map(|s| hash(s)).collect();
        if n <= policy.exact_max {
            hashes.sort_unstable();
            hashes.dedup();
            return Some(ValueSet { repr: Repr::Exact(hashes) });
        }
        if policy.bloom_bits == 0 || n > policy.bloom_max {
            return None;
        }
        let bits = (n * policy.bloom_bits as usize).max(64);
        // The optimum: ln 2 probes per bit per value (7 at 10 bits, about 0.8% false
        // positives), capped where more probes buy nothing.
        let k =
            ((f64::from(policy.bloom_bits) * std::f64::consts::LN_2).round() as u32).clamp(1, 16);
        let mut bloom = BloomFilter::with_num_bits(bits).hashes(k);
        for h in hashes {
            bloom.insert_hash(h);
        }
        Some(ValueSet { repr: Repr::Bloom(bloom) })
    }

    /// Whether some row of the block may hold exactly `value` (never false when one does).
    pub fn may_contain(&self, value: &str) -> bool {
        let h = hash(value);
        match &self.repr {
            Repr::Exact(hashes) => hashes.binary_search(&h).is_ok(),
            Repr::Bloom(bloom) => bloom.contains_hash(h),
        }
    }

    /// Bytes it takes in the directory.
    pub fn encoded_len(&self) -> usize {
        let mut out = Vec::new();
        self.write(&mut out);
        out.len()
    }

    /// Appends `EXACT n:varint hash:u64le*` or `BLOOM probes:u8 words:varint word:u64le*`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match &self.repr {
            Repr::Exact(hashes) => {
                out.push(EXACT);
                crate::format::put_varint(out, hashes.len() as u64);
                for h in hashes {
                    out.extend_from_slice(&h.to_le_bytes());
                }
            }
            Repr::Bloom(bloom) => {
                out.push(BLOOM);
                out.push(bloom.num_hashes() as u8);
                let words = bloom.as_slice();
                crate::format::put_varint(out, words.len() as u64);
                for w in words {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
    }

    /// Reads what [`ValueSet::write`] wrote.
    pub(crate) fn read(r: &mut crate::format::Reader<'_>) -> Result<ValueSet, ColumnsError> {
        let bad = |what: &str| ColumnsError::Corrupt(format!("value set: {what}"));
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        match r.take(1)?[0] {
            EXACT => {
                let n = r.varint()? as usize;
                let bytes = r.take(n.checked_mul(8).ok_or_else(|| bad("size"))?)?;
                let hashes: Vec<u64> = bytes.chunks_exact(8).map(word).collect();
                if hashes.is_empty() || hashes.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad("hashes not sorted"));
                }
                Ok(ValueSet { repr: Repr::Exact(hashes) })
            }
            BLOOM => {
                let k = r.take(1)?[0];
                let n = r.varint()? as usize;
                let bytes = r.take(n.checked_mul(8).ok_or_else(|| bad("size"))?)?;
                if k == 0 || n == 0 {
                    return Err(bad("empty filter"));
                }
                let words = bytes.chunks_exact(8).map(word).collect();
                Ok(ValueSet { repr: Repr::Bloom(BloomFilter::from_vec(words).hashes(k.into())) })
            }
            _ => Err(bad("unknown kind")),
        }
    }
}

/// Whether text may read as a number to a query (`"404" = 404`): its first character after
/// leading white space is an ASCII digit, a sign or a point. A superset of the engine's
/// number syntax (which then needs the whole trimmed text to parse), so a block without such
/// text holds no string that compares as a number.
pub fn may_read_as_number(text: &str) -> bool {
    text.trim_start()
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(n: usize, prefix: &str) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn round_trip(set: &ValueSet) -> ValueSet {
        let mut out = Vec::new();
        set.write(&mut out);
        assert_eq!(out.len(), set.encoded_len());
        let mut r = crate::format::Reader::new(&out);
        let back = ValueSet::read(&mut r).unwrap();
        assert!(r.at_end());
        back
    }

    #[test]
    fn few_values_are_an_exact_set_and_many_a_filter_up_to_the_cap() {
        let policy = ValueSetPolicy { exact_max: 4, bloom_bits: 10, bloom_max: 100 };
        let few = ValueSet::build(&strings(4, "v"), policy).unwrap();
        assert!(matches!(few.repr, Repr::Exact(ref h) if h.len() == 4));
        assert_eq!(few.encoded_len(), 1 + 1 + 4 * 8);
        let many = ValueSet::build(&strings(100, "v"), policy).unwrap();
        assert!(matches!(many.repr, Repr::Bloom(_)));
        // 100 values at 10 bits: 1,000 bits, 16 words.
        assert_eq!(many.encoded_len(), 1 + 1 + 1 + 16 * 8);
        assert!(ValueSet::build(&strings(101, "v"), policy).is_none());
        assert!(ValueSet::build(&[], policy).is_none());
        assert!(ValueSet::build(&strings(3, "v"), ValueSetPolicy::NONE).is_none());
        for set in [few, many] {
            assert_eq!(round_trip(&set), set);
        }
    }

    #[test]
    fn the_filter_false_positive_rate_is_about_one_percent() {
        let policy = ValueSetPolicy::default();
        for n in [policy.exact_max + 1, 1000, policy.bloom_max] {
            let set = ValueSet::build(&strings(n, "present-"), policy).unwrap();
            let trials = 100_000;
            let fp = (0..trials).filter(|i| set.may_contain(&format!("absent-{i}"))).count();
            let rate = fp as f64 / trials as f64;
            // 10 bits per value and 7 probes: 0.82% in theory.
            assert!(rate < 0.015, "{n} values: {rate:.4} false positives");
        }
        let exact = ValueSet::build(&strings(policy.exact_max, "present-"), policy).unwrap();
        assert!((0..100_000).all(|i| !exact.may_contain(&format!("absent-{i}"))));
    }

    #[test]
    fn damaged_encodings_are_errors() {
        for bytes in [
            &[EXACT, 0][..],
            &[EXACT, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            &[BLOOM, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            &[BLOOM, 7, 0],
            &[9],
            &[EXACT, 1, 0],
        ] {
            assert!(ValueSet::read(&mut crate::format::Reader::new(bytes)).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn number_like_text_is_a_superset_of_numbers() {
        // Flagged: numbers, and text that only starts like one ("12abc", "0x1f", "-").
        for t in ["1", " -2.5", "+3", ".5", "4e3", "\u{a0}7", "12abc", "0x1f", "-"] {
            assert!(may_read_as_number(t), "{t:?}");
        }
        for t in ["", " ", "abc", "e5", "ERROR", "inf", "NaN", "x1"] {
            assert!(!may_read_as_number(t), "{t:?}");
        }
    }

    proptest! {
        /// Whatever the strings and the policy, every one of them is found, after a round trip.
        #[test]
        fn no_false_negatives(
            values in proptest::collection::hash_set(".{0,12}", 1..300),
            exact_max in 0usize..64,
            bloom_bits in 1u32..16,
        ) {
            let dict: Vec<String> = values.into_iter().collect();
            let policy = ValueSetPolicy { exact_max, bloom_bits, bloom_max: usize::MAX };
            let set = round_trip(&ValueSet::build(&dict, policy).unwrap());
            for v in &dict {
                prop_assert!(set.may_contain(v), "{v:?} lost");
            }
        }
    }
}
