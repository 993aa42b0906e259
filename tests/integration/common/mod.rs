//! What several test modules share: the binary under test, where the real MNIST is,
//! generated datasets, hand-made `torch.save` files, outcome checks and a running
//! `mnist-mlp serve`.

pub mod outcome;
pub mod project;
pub mod server;
pub mod synthetic;
pub mod torch;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The release binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_mnist-mlp");

/// The real MNIST: `$MNIST_DATA_DIR`, else the repository's `data/` (fetched there if absent).
pub fn mnist_dir() -> PathBuf {
    std::env::var_os("MNIST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data"))
}

/// Waits until `done` (what a process under test is to do soon), failing the test
/// after two minutes.
pub fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
}
