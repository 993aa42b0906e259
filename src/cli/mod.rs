//! One module per subcommand: its arguments, and how its results are printed.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod export;
pub mod fetch;
pub mod inspect;
mod model_args;
pub mod predict;
pub mod samples;
pub mod serve;
pub mod sweep;
pub mod train;

use std::path::PathBuf;

use mnist_mlp::data;

/// `--data-dir`, else `$MNIST_DATA_DIR`, else `./data`.
fn data_dir_or_default(data_dir: &Option<PathBuf>) -> PathBuf {
    data_dir
        .clone()
        .unwrap_or_else(|| data::resolve_dir(&PathBuf::from("data")))
}
