//! One segment's index: building it from the segment's blocks, and asking it which blocks
//! may hold a query's required terms.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use logsight_storage::DecodedBlock;
use logsight_storage::segment::Segment;
use tantivy::Directory;
use tantivy::directory::RamDirectory;
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{DocSet, Index, InvertedIndexReader, SegmentReader, TERMINATED, TantivyDocument};

use crate::artifact::{Granularity, Packed};
use crate::error::IndexError;
use crate::terms::{LONG_MARKER, MAX_TOKEN, Requirement, TermMatch, TokenPolicy, for_each_token};

/// The memory tantivy may use while building one segment's index.
const BUILD_MEMORY: usize = 64 << 20;

fn schema() -> (Schema, Field) {
    let mut b = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    let field = b.add_text_field("t", TextOptions::default().set_indexing_options(indexing));
    (b.build(), field)
}

/// How an index is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// What a document stands for.
    pub granularity: Granularity,
    /// Which tokens are indexed.
    pub policy: TokenPolicy,
}

impl Default for BuildOptions {
    /// What the server builds: one document per block, numbers not indexed (see the crate
    /// doc for the measurements behind this).
    fn default() -> Self {
        BuildOptions { granularity: Granularity::Block, policy: TokenPolicy { numbers: false } }
    }
}

/// Builds the index artifact of `segment` (every block decoded, checksums checked).
pub fn build(segment: &Segment, opts: BuildOptions) -> Result<Vec<u8>, IndexError> {
    let (schema, field) = schema();
    let index = Index::create_in_ram(schema);
    let mut writer =
        tantivy::SingleSegmentIndexWriter::<TantivyDocument>::new(index.clone(), BUILD_MEMORY)?;
    let mut block = DecodedBlock::default();
    let mut buf = Vec::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut block_docs = Vec::new();
    let mut docs: u32 = 0;
    for i in 0..segment.blocks().len() {
        segment.decode_block(i, &mut block)?;
        block_docs.push(docs);
        seen.clear();
        let mut long = false;
        for row in 0..block.len() {
            for_each_token(block.message(row).as_bytes(), &mut buf, |t| {
                if t.len() > MAX_TOKEN {
                    long = true;
                } else if opts.policy.indexes(t) && !seen.contains(t) {
                    seen.insert(t.to_vec());
                }
            });
            if opts.granularity == Granularity::Event {
                writer.add_document(document(field, &mut seen, &mut long))?;
                docs += 1;
            }
        }
        if opts.granularity == Granularity::Block {
            writer.add_document(document(field, &mut seen, &mut long))?;
            docs += 1;
        }
    }
    let index = writer.finalize()?;
    let dir = index.directory();
    let mut files = BTreeMap::new();
    let mut names: Vec<std::path::PathBuf> =
        index.searchable_segment_metas()?.iter().flat_map(|m| m.list_files()).collect();
    names.push("meta.json".into());
    for name in names {
        // A segment lists every file it could have; only those written exist.
        if dir.exists(&name).map_err(|e| IndexError::Build(e.to_string()))? {
            let bytes = dir.atomic_read(&name).map_err(|e| IndexError::Build(e.to_string()))?;
            files.insert(name, bytes);
        }
    }
    let granularity = opts.granularity;
    let block_docs = if granularity == Granularity::Event { block_docs } else { Vec::new() };
    let blocks = segment.blocks().len() as u32;
    Packed { granularity, policy: opts.policy, blocks, docs, block_docs, files }.to_bytes()
}

/// One document of the distinct tokens in `seen` (emptied), plus the long-token marker.
fn document(field: Field, seen: &mut HashSet<Vec<u8>>, long: &mut bool) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    for t in seen.drain() {
        // Tokens split only on ASCII bytes of valid UTF-8 text, so they are UTF-8.
        if let Ok(s) = std::str::from_utf8(&t) {
            doc.add_text(field, s);
        }
    }
    if std::mem::take(long) {
        doc.add_text(field, LONG_MARKER);
    }
    doc
}

/// An opened, checked index of one segment.
pub struct SegmentIndex {
    granularity: Granularity,
    policy: TokenPolicy,
    blocks: u32,
    docs: u32,
    block_docs: Vec<u32>,
    bytes: u64,
    // The reader is kept alive for the inverted index's file slices.
    _reader: SegmentReader,
    inverted: Arc<InvertedIndexReader>,
}

impl std::fmt::Debug for SegmentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentIndex")
            .field("granularity", &self.granularity)
            .field("blocks", &self.blocks)
            .field("docs", &self.docs)
            .finish_non_exhaustive()
    }
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

fn corrupt(e: impl std::fmt::Display) -> IndexError {
    IndexError::Corrupt(e.to_string())
}

impl SegmentIndex {
    /// Checks and opens an artifact's bytes.
    pub fn open(bytes: &[u8]) -> Result<SegmentIndex, IndexError> {
        let packed = Packed::from_bytes(bytes)?;
        let dir = RamDirectory::create();
        for (name, data) in &packed.files {
            dir.atomic_write(Path::new(name), data).map_err(corrupt)?;
        }
        let index = Index::open(dir).map_err(corrupt)?;
        let (_, field) = schema();
        let segments = index.searchable_segments().map_err(corrupt)?;
        let [segment] = segments.as_slice() else {
            return Err(IndexError::Corrupt(format!("{} tantivy segments, not 1", segments.len())));
        };
        let reader = SegmentReader::open(segment).map_err(corrupt)?;
        if reader.max_doc() != packed.docs {
            return Err(IndexError::Corrupt("document count mismatch".into()));
        }
        let inverted = reader.inverted_index(field).map_err(corrupt)?;
        Ok(SegmentIndex {
            granularity: packed.granularity,
            policy: packed.policy,
            blocks: packed.blocks,
            docs: packed.docs,
            block_docs: packed.block_docs,
            bytes: bytes.len() as u64,
            _reader: reader,
            inverted,
        })
    }

    /// Blocks in the segment it indexes.
    pub fn blocks(&self) -> usize {
        self.blocks as usize
    }

    /// The artifact's size in bytes.
    pub fn artifact_bytes(&self) -> u64 {
        self.bytes
    }

    /// What a document stands for.
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// The blocks that may hold a message satisfying `req`.
    pub fn candidates(&self, req: &Requirement) -> Result<Candidates, IndexError> {
        let mut blocks = vec![true; self.blocks as usize];
        for clause in req.clauses() {
            if clause.any().iter().any(|m| !m.answerable(self.policy)) {
                continue;
            }
            let mut hit = vec![false; self.blocks as usize];
            for m in clause.any() {
                self.mark(m, &mut hit)?;
            }
            for (b, h) in blocks.iter_mut().zip(hit) {
                *b &= h;
            }
        }
        Ok(Candidates { blocks })
    }

    /// Marks the blocks holding a token that satisfies `m` (and, for partial matches, the
    /// blocks with a token too long to be indexed).
    fn mark(&self, m: &TermMatch, hit: &mut [bool]) -> Result<(), IndexError> {
        let dict = self.inverted.terms();
        let frag = m.fragment();
        let mut infos = Vec::new();
        match m {
            TermMatch::Exact(f) => {
                if let Some(ti) = dict.get(f).map_err(corrupt)? {
                    infos.push(ti);
                }
            }
            TermMatch::Prefix(f) => {
                let mut s = dict.range().ge(f).into_stream().map_err(corrupt)?;
                while s.advance() {
                    if !s.key().starts_with(f) {
                        break;
                    }
                    infos.push(s.value().clone());
                }
            }
            TermMatch::Suffix(_) | TermMatch::Infix(_) => {
                let finder = memchr::memmem::Finder::new(frag);
                let suffix = matches!(m, TermMatch::Suffix(_));
                let mut s = dict.stream().map_err(corrupt)?;
                while s.advance() {
                    let k = s.key();
                    let ok = if suffix { k.ends_with(frag) } else { finder.find(k).is_some() };
                    if ok {
                        infos.push(s.value().clone());
                    }
                }
            }
        }
        if !matches!(m, TermMatch::Exact(_))
            && let Some(ti) = dict.get(LONG_MARKER.as_bytes()).map_err(corrupt)?
        {
            infos.push(ti);
        }
        for ti in infos {
            let mut postings = self
                .inverted
                .read_postings_from_terminfo(&ti, IndexRecordOption::Basic)
                .map_err(corrupt)?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                let block = self.block_of(doc)?;
                hit[block] = true;
                if self.granularity == Granularity::Event {
                    // The rest of this block's documents add nothing: skip past them.
                    let next = self.block_docs.get(block + 1).copied().unwrap_or(self.docs);
                    doc = if next >= self.docs { TERMINATED } else { postings.seek(next) };
                } else {
                    doc = postings.advance();
                }
            }
        }
        Ok(())
    }

    fn block_of(&self, doc: u32) -> Result<usize, IndexError> {
        let b = match self.granularity {
            Granularity::Block => doc as usize,
            Granularity::Event => self.block_docs.partition_point(|&d| d <= doc).saturating_sub(1),
        };
        if b >= self.blocks as usize {
            return Err(IndexError::Corrupt(format!("document {doc} past the last block")));
        }
        Ok(b)
    }
}
