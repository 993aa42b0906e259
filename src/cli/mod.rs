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

use std::path::{Path, PathBuf};

use mnist_mlp::data;

/// Every path argument, `~` expanded: `--data-dir=~/mnist` or a quoted `"~/runs"`
/// reach the program as written. An empty one (`--artifacts "$UNSET"`) is refused:
/// it would quietly mean the current folder.
fn user_path(arg: &str) -> Result<PathBuf, &'static str> {
    if arg.is_empty() {
        return Err("an empty path names nothing: give a file or folder (`.` for this one)");
    }
    Ok(mnist_mlp::fsutil::expand_home(Path::new(arg)))
}

/// `--data-dir`, else `$MNIST_DATA_DIR`, else `./data`.
fn data_dir_or_default(data_dir: &Option<PathBuf>) -> PathBuf {
    data_dir
        .clone()
        .unwrap_or_else(|| data::resolve_dir(&PathBuf::from("data")))
}
