//! What the engine's test binaries share.

use std::path::{Path, PathBuf};

/// The Loghub samples (`shared/datasets/loghub` in an ancestor of the crate).
pub fn loghub_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/datasets/loghub"))
        .find(|p| p.is_dir())
        .expect("the Loghub samples are in shared/datasets/loghub")
}
