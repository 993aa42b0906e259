//! `mnist-mlp fetch`: download and verify MNIST.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mnist_mlp::data::{Checksums, FILES, Missing, Mnist, fetch_missing};

#[derive(Args)]
pub struct FetchArgs {
    /// Data folder (default: $MNIST_DATA_DIR or ./data).
    #[arg(long, value_parser = super::user_path)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: &FetchArgs) -> Result<()> {
    let dir = super::data_dir_or_default(&args.data_dir);
    let report = fetch_missing(&dir, &FILES)?;
    // Loading verifies every file, fetched now or earlier.
    Mnist::load(&dir, Missing::Fail, Checksums::Verify)?;
    println!(
        "MNIST is in {} and verified ({} file(s) fetched now)",
        dir.display(),
        report.fetched.len()
    );
    Ok(())
}
