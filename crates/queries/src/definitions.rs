//! Saved queries (`PutQueryDefinition`, `DescribeQueryDefinitions`, `DeleteQueryDefinition`),
//! kept in `<data dir>/queries/definitions.json`: line 1 the JSON, line 2 its CRC-32C in hex
//! (a damaged file is reported, never half-read). Every change rewrites the file atomically
//! (temporary file, fsync, rename, fsync of the directory) before it is acknowledged.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use logsight_model::LogGroupName;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};
use crate::manager::MAX_QUERY_CHARS;

/// Most saved queries (CloudWatch: 1,000 per region).
pub const MAX_DEFINITIONS: usize = 1_000;

/// Longest name of a saved query (CloudWatch: 255 characters).
pub const MAX_NAME_CHARS: usize = 255;

/// A saved query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryDefinition {
    /// Its id (a UUID, given at creation).
    pub id: String,
    /// Its name, 1 to 255 characters.
    pub name: String,
    /// The query text.
    pub query: String,
    /// Log groups it runs on by default.
    pub log_group_names: Vec<String>,
    /// When it was last written, epoch ms.
    pub last_modified_ms: i64,
}

/// A checked PutQueryDefinition request.
#[derive(Debug, Clone)]
pub struct PutDefinition {
    id: Option<String>,
    name: String,
    query: String,
    log_group_names: Vec<String>,
}

impl PutDefinition {
    /// Checks a request as CloudWatch does: name 1 to 255 characters, query 1 to 10,000,
    /// valid log group names (at most 50). With `id`, the definition is replaced whole.
    pub fn new(
        id: Option<String>,
        name: impl Into<String>,
        query: impl Into<String>,
        log_group_names: Vec<String>,
    ) -> Result<PutDefinition> {
        let (name, query) = (name.into(), query.into());
        let bad = |m: String| Err(QueryError::InvalidParameter(m));
        let n = name.chars().count();
        if n == 0 || n > MAX_NAME_CHARS {
            return bad(format!("name must be 1 to {MAX_NAME_CHARS} characters, found {n}"));
        }
        let q = query.chars().count();
        if query.trim().is_empty() || q > MAX_QUERY_CHARS {
            return bad(format!(
                "queryString must be 1 to {MAX_QUERY_CHARS} characters, found {q}"
            ));
        }
        if log_group_names.len() > logsight_engine::MAX_GROUPS {
            return bad(format!(
                "logGroupNames may hold at most {} names, found {}",
                logsight_engine::MAX_GROUPS,
                log_group_names.len()
            ));
        }
        for g in &log_group_names {
            LogGroupName::new(g.clone())
                .map_err(|e| QueryError::InvalidParameter(format!("logGroupNames: {e}")))?;
        }
        if let Some(id) = &id
            && (id.is_empty() || id.len() > 256)
        {
            return bad("queryDefinitionId must be 1 to 256 characters".into());
        }
        Ok(PutDefinition { id: id.filter(|i| !i.is_empty()), name, query, log_group_names })
    }
}

/// One page of `DescribeQueryDefinitions`.
#[derive(Debug, Clone)]
pub struct DefinitionList {
    /// The definitions, by name then id.
    pub definitions: Vec<QueryDefinition>,
    /// Resumes after this page when more remain.
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    definitions: Vec<QueryDefinition>,
}

/// The saved queries of a data directory.
#[derive(Debug)]
pub struct Definitions {
    path: PathBuf,
    all: Mutex<BTreeMap<String, QueryDefinition>>,
}

impl Definitions {
    /// Loads the saved queries of `dir` (`<data dir>/queries`), creating the directory.
    pub fn open(dir: &Path) -> Result<Definitions> {
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let path = dir.join("definitions.json");
        let mut all = BTreeMap::new();
        match fs::read_to_string(&path) {
            Ok(text) => {
                for d in decode(&text, &path)?.definitions {
                    all.insert(d.id.clone(), d);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
        Ok(Definitions { path, all: Mutex::new(all) })
    }

    /// Creates or (with an id) replaces a saved query; returns its id once it is durable.
    pub fn put(&self, put: PutDefinition, now_ms: i64) -> Result<String> {
        let mut all = self.all.lock();
        let id = match &put.id {
            Some(id) if !all.contains_key(id) => {
                return Err(QueryError::NotFound(format!(
                    "query definition {id:?} does not exist"
                )));
            }
            Some(id) => id.clone(),
            None if all.len() >= MAX_DEFINITIONS => {
                return Err(QueryError::LimitExceeded(format!(
                    "at most {MAX_DEFINITIONS} query definitions may be saved"
                )));
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let def = QueryDefinition {
            id: id.clone(),
            name: put.name,
            query: put.query,
            log_group_names: put.log_group_names,
            last_modified_ms: now_ms,
        };
        let mut next = all.clone();
        next.insert(id.clone(), def);
        self.save(&next)?;
        *all = next;
        Ok(id)
    }

    /// Deletes a saved query once the deletion is durable.
    pub fn delete(&self, id: &str) -> Result<()> {
        let mut all = self.all.lock();
        if !all.contains_key(id) {
            return Err(QueryError::NotFound(format!("query definition {id:?} does not exist")));
        }
        let mut next = all.clone();
        next.remove(id);
        self.save(&next)?;
        *all = next;
        Ok(())
    }

    /// The saved queries whose name starts with `prefix`, by name; a page of at most
    /// `max_results` (1 to 1,000, default 1,000) after `token`.
    pub fn describe(
        &self,
        prefix: Option<&str>,
        max_results: Option<usize>,
        token: Option<&str>,
    ) -> Result<DefinitionList> {
        let max = max_results.unwrap_or(MAX_DEFINITIONS);
        if max == 0 || max > MAX_DEFINITIONS {
            return Err(QueryError::InvalidParameter(format!(
                "maxResults must be between 1 and {MAX_DEFINITIONS}, found {max}"
            )));
        }
        let mut list: Vec<QueryDefinition> = self
            .all
            .lock()
            .values()
            .filter(|d| prefix.is_none_or(|p| d.name.starts_with(p)))
            .cloned()
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let from = match token {
            None | Some("") => 0,
            Some(t) => {
                t.parse::<usize>().ok().filter(|n| *n <= list.len()).ok_or_else(|| {
                    QueryError::InvalidParameter(format!("invalid nextToken {t:?}"))
                })?
            }
        };
        let to = (from + max).min(list.len());
        let next_token = (to < list.len()).then(|| to.to_string());
        Ok(DefinitionList { definitions: list.drain(from..to).collect(), next_token })
    }

    fn save(&self, all: &BTreeMap<String, QueryDefinition>) -> Result<()> {
        let file = File { definitions: all.values().cloned().collect() };
        let json = serde_json::to_string(&file)
            .map_err(|e| QueryError::Storage(format!("encoding query definitions: {e}")))?;
        let text = format!("{json}\n{:08x}\n", crc32c::crc32c(json.as_bytes()));
        write_atomic(&self.path, text.as_bytes())
    }
}

fn decode(text: &str, path: &Path) -> Result<File> {
    let corrupt = |what: &str| {
        QueryError::Storage(format!("{} is damaged ({what}); it was not read", path.display()))
    };
    let mut lines = text.lines();
    let (Some(json), Some(crc)) = (lines.next(), lines.next()) else {
        return Err(corrupt("truncated"));
    };
    let want = u32::from_str_radix(crc.trim(), 16).map_err(|_| corrupt("bad checksum line"))?;
    if crc32c::crc32c(json.as_bytes()) != want {
        return Err(corrupt("checksum mismatch"));
    }
    serde_json::from_str(json).map_err(|_| corrupt("not the expected JSON"))
}

fn io(path: &Path, e: std::io::Error) -> QueryError {
    QueryError::Storage(format!("{}: {e}", path.display()))
}

/// Replaces `path` with `contents` so that a crash leaves the old or the new file whole:
/// temporary file, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("json.tmp");
    let mut f = fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(contents).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(name: &str) -> PutDefinition {
        PutDefinition::new(None, name, "fields @message", vec!["app".into()]).unwrap()
    }

    #[test]
    fn survive_reopen_and_update_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::open(dir.path()).unwrap();
        let a = defs.put(put("errors"), 1).unwrap();
        let b = defs.put(put("all"), 2).unwrap();
        let upd =
            PutDefinition::new(Some(a.clone()), "errors-v2", "filter @message like /E/", vec![])
                .unwrap();
        assert_eq!(defs.put(upd, 3).unwrap(), a);
        defs.delete(&b).unwrap();
        drop(defs);
        let again = Definitions::open(dir.path()).unwrap();
        let list = again.describe(None, None, None).unwrap();
        assert_eq!(list.definitions.len(), 1);
        let d = &list.definitions[0];
        assert_eq!((d.id.as_str(), d.name.as_str()), (a.as_str(), "errors-v2"));
        assert_eq!(d.query, "filter @message like /E/");
        assert!(d.log_group_names.is_empty());
        assert_eq!(d.last_modified_ms, 3);
    }

    #[test]
    fn validation_as_cloudwatch() {
        let long = "x".repeat(256);
        let bad_group = vec!["bad group name!".to_string()];
        let cases: Vec<(Option<String>, &str, &str, Vec<String>)> = vec![
            (None, "", "fields @message", vec![]),
            (None, &long, "fields @message", vec![]),
            (None, "n", "  ", vec![]),
            (None, "n", "fields @message", bad_group),
            (None, "n", "fields @message", (0..51).map(|i| format!("g{i}")).collect()),
        ];
        for (id, name, query, groups) in cases {
            assert!(
                matches!(
                    PutDefinition::new(id, name, query, groups),
                    Err(QueryError::InvalidParameter(_))
                ),
                "{name:?} {query:?}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::open(dir.path()).unwrap();
        let unknown = PutDefinition::new(Some("nope".into()), "n", "fields a", vec![]).unwrap();
        assert!(matches!(defs.put(unknown, 1), Err(QueryError::NotFound(_))));
        assert!(matches!(defs.delete("nope"), Err(QueryError::NotFound(_))));
    }

    #[test]
    fn limit_and_paging_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::open(dir.path()).unwrap();
        for i in 0..MAX_DEFINITIONS {
            // Writing 1,000 files would be slow: fill the map, persist once.
            let d = QueryDefinition {
                id: format!("id-{i:04}"),
                name: format!("q{i:04}"),
                query: "fields a".into(),
                log_group_names: vec![],
                last_modified_ms: 0,
            };
            defs.all.lock().insert(d.id.clone(), d);
        }
        assert!(matches!(defs.put(put("one-too-many"), 1), Err(QueryError::LimitExceeded(_))));
        let p1 = defs.describe(Some("q00"), Some(60), None).unwrap();
        assert_eq!(p1.definitions.len(), 60);
        assert_eq!(p1.definitions[0].name, "q0000");
        let p2 = defs.describe(Some("q00"), Some(60), p1.next_token.as_deref()).unwrap();
        assert_eq!(p2.definitions.len(), 40);
        assert_eq!(p2.definitions[39].name, "q0099");
        assert!(p2.next_token.is_none());
    }

    #[test]
    fn damaged_file_is_reported_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let defs = Definitions::open(dir.path()).unwrap();
        defs.put(put("errors"), 1).unwrap();
        let path = dir.path().join("definitions.json");
        let mut bytes = fs::read(&path).unwrap();
        bytes[5] ^= 0x01;
        fs::write(&path, bytes).unwrap();
        let err = Definitions::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
