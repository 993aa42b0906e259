//! What several integration tests share: where the real MNIST is.

use std::path::{Path, PathBuf};

/// The real MNIST: `$MNIST_DATA_DIR`, else the repository's `data/` (fetched there if absent).
pub fn mnist_dir() -> PathBuf {
    std::env::var_os("MNIST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data"))
}
