//! One segment's index: building it from the segment's blocks, and asking it which blocks
//! may hold a query's required terms.

use std::collections::HashSet;

use logsight_storage::DecodedBlock;
use logsight_storage::segment::Segment;

use crate::artifact::{BlockKeys, Packed};
use crate::error::IndexError;
use crate::filter::{KeyFilter, hash};
use crate::grams::Grams;
use crate::terms::{MAX_TOKEN, Requirement, TermMatch, TokenPolicy, for_each_token};

/// How an index is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Which tokens are indexed.
    pub policy: TokenPolicy,
    /// Bits per key of the filter of every token's short grams.
    pub short_bits: u32,
    /// Bits per key of the filter of long tokens' long grams.
    pub long_bits: u32,
}

/// Gram length of the filter of every token.
const SHORT_K: u8 = 3;
/// Gram length of the filter of long tokens, and the length from which a token is long.
const LONG_K: u8 = 8;
const LONG_MIN: u8 = 16;

impl Default for BuildOptions {
    /// What the server builds (see the crate doc for the measurements behind it).
    fn default() -> Self {
        BuildOptions { policy: TokenPolicy { numbers: false }, short_bits: 3, long_bits: 8 }
    }
}

/// Builds the index artifact of `segment` (every block decoded, checksums checked).
pub fn build(segment: &Segment, opts: BuildOptions) -> Result<Vec<u8>, IndexError> {
    let (short_g, long_g) = (Grams::new(SHORT_K.into()), Grams::new(LONG_K.into()));
    let mut block = DecodedBlock::default();
    let mut buf = Vec::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut blocks = Vec::with_capacity(segment.blocks().len());
    for i in 0..segment.blocks().len() {
        segment.decode_block(i, &mut block)?;
        seen.clear();
        let mut overlong = false;
        for row in 0..block.len() {
            for_each_token(block.message(row).as_bytes(), &mut buf, |t| {
                if t.len() > MAX_TOKEN {
                    overlong = true;
                } else if opts.policy.indexes(t) && !seen.contains(t) {
                    seen.insert(t.to_vec());
                }
            });
        }
        let (mut short, mut long) = (Vec::new(), Vec::new());
        for t in &seen {
            short_g.keys(t, |key| short.push(hash(key)));
            if t.len() >= usize::from(LONG_MIN) {
                long_g.keys(t, |key| long.push(hash(key)));
            }
        }
        blocks.push(BlockKeys {
            overlong,
            short: KeyFilter::build(short, opts.short_bits),
            long: KeyFilter::build(long, opts.long_bits),
        });
    }
    Packed { policy: opts.policy, short_k: SHORT_K, long_k: LONG_K, long_min: LONG_MIN, blocks }
        .to_bytes()
}

/// An opened, checked index of one segment.
#[derive(Debug)]
pub struct SegmentIndex {
    policy: TokenPolicy,
    short: Grams,
    long: Grams,
    long_min: usize,
    blocks: Vec<BlockKeys>,
    bytes: u64,
}

/// The blocks of a segment that may hold a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    blocks: Vec<bool>,
}

impl Candidates {
    /// Whether block `i` may hold a match.
    pub fn contains(&self, i: usize) -> bool {
        self.blocks.get(i).copied().unwrap_or(true)
    }

    /// How many blocks may hold a match.
    pub fn count(&self) -> usize {
        self.blocks.iter().filter(|b| **b).count()
    }
}

impl SegmentIndex {
    /// Checks and opens an artifact's bytes.
    pub fn open(bytes: &[u8]) -> Result<SegmentIndex, IndexError> {
        let p = Packed::from_bytes(bytes)?;
        Ok(SegmentIndex {
            policy: p.policy,
            short: Grams::new(p.short_k.into()),
            long: Grams::new(p.long_k.into()),
            long_min: p.long_min.into(),
            blocks: p.blocks,
            bytes: bytes.len() as u64,
        })
    }

    /// Blocks in the segment it indexes.
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// The artifact's size in bytes.
    pub fn artifact_bytes(&self) -> u64 {
        self.bytes
    }

    /// The blocks that may hold a message satisfying `req`.
    pub fn candidates(&self, req: &Requirement) -> Result<Candidates, IndexError> {
        let mut blocks = vec![true; self.blocks.len()];
        for clause in req.clauses() {
            if clause.any().iter().any(|m| !m.answerable(self.policy)) {
                continue;
            }
            for (keep, b) in blocks.iter_mut().zip(&self.blocks) {
                *keep = *keep && clause.any().iter().any(|m| self.may_match(b, m));
            }
        }
        Ok(Candidates { blocks })
    }

    /// Whether block `b` may hold a token satisfying `m`: its short grams must allow it, and,
    /// when only a long token can satisfy `m`, so must its long grams. A partial match may
    /// also sit in a token too long to be indexed.
    fn may_match(&self, b: &BlockKeys, m: &TermMatch) -> bool {
        if b.overlong && !matches!(m, TermMatch::Exact(_)) {
            return true;
        }
        // The long grams first: where they apply they are the more selective.
        (m.fragment().len() < self.long_min
            || self.long.may_match(m, &mut |key| b.long.contains(key)))
            && self.short.may_match(m, &mut |key| b.short.contains(key))
    }
}
