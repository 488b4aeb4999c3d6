//! Record framing for the metric log: `len:u32 crc32c:u32 payload`, little-endian, the CRC
//! over the payload. A log is cut at its first short or failing record (a torn last write).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Result, io};

/// Appends one framed record (not synced).
pub(crate) fn append(file: &mut File, payload: &[u8]) -> std::io::Result<usize> {
    let mut buf = Vec::with_capacity(payload.len() + 8);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    buf.extend_from_slice(payload);
    file.write_all(&buf)?;
    Ok(buf.len())
}

/// The records of a log file, and the length of its valid prefix.
pub(crate) fn read_all(path: &Path) -> Result<(Vec<Vec<u8>>, u64)> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(format!("reading {}", path.display())))?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else { break };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        records.push(payload.to_vec());
        at += 8 + len;
    }
    Ok((records, at as u64))
}
