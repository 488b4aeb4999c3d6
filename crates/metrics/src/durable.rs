//! Small files written whole: a JSON document and its CRC-32C, replaced atomically.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{MetricsError, Result, io};

/// Temp file, fsync, rename, fsync of the directory: after a crash the old or the new file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io(format!("creating {}", tmp.display())))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(io(format!("renaming {}", tmp.display())))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Fsyncs a directory, so creates, renames and unlinks in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(format!("fsync of {}", dir.display())))
}

/// Writes `value` as `JSON \n crc32c-hex \n`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut contents = serde_json::to_vec(value).expect("in-memory state serializes");
    let crc = crc32c::crc32c(&contents);
    contents.extend_from_slice(format!("\n{crc:08x}\n").as_bytes());
    write_atomic(path, &contents)
}

/// Reads a file written by [`write_json`]; `None` if it does not exist. A failed checksum or
/// parse is [`MetricsError::Corruption`].
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    };
    let corrupt = |offset: usize, message: &str| MetricsError::Corruption {
        file: path.to_owned(),
        offset: offset as u64,
        message: message.to_owned(),
    };
    let body = bytes.strip_suffix(b"\n").ok_or_else(|| corrupt(bytes.len(), "no final newline"))?;
    let split =
        body.iter().rposition(|b| *b == b'\n').ok_or_else(|| corrupt(0, "no checksum line"))?;
    let (json, crc) = (&body[..split], &body[split + 1..]);
    let crc = std::str::from_utf8(crc)
        .ok()
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| corrupt(split + 1, "bad checksum line"))?;
    if crc32c::crc32c(json) != crc {
        return Err(corrupt(0, "the file fails its checksum"));
    }
    serde_json::from_slice(json).map(Some).map_err(|e| corrupt(0, &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_round_trip_and_flips_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), None);
        write_json(&path, &vec![1u32, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2, 3]));
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x04;
            fs::write(&path, &bad).unwrap();
            assert!(read_json::<Vec<u32>>(&path).is_err(), "flip at {i}");
        }
    }
}
