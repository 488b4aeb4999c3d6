//! The one place that maps files into memory.
#![allow(unsafe_code)]

use std::fs::File;

use memmap2::Mmap;

/// Maps a sealed segment file read-only.
pub(crate) fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: segment files are written once under a temporary name, fsynced and renamed into
    // place; nothing opens them for writing afterwards, and they are unlinked (never truncated)
    // when deleted, so the mapped bytes cannot change under a reader.
    unsafe { Mmap::map(file) }
}
