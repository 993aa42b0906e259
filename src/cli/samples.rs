//! `mnist-mlp samples`: the assignment's 3×3 grid of training digits.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mnist_mlp::data::{Checksums, Missing, Mnist};
use mnist_mlp::fsutil;
use mnist_mlp::report::draw_sample_grid;

#[derive(Args)]
pub struct SamplesArgs {
    /// Output file.
    #[arg(long, default_value = "samples.png", value_parser = super::user_path)]
    output: PathBuf,
    /// Which digits to draw.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Data folder (default: $MNIST_DATA_DIR or ./data).
    #[arg(long, value_parser = super::user_path)]
    data_dir: Option<PathBuf>,
    /// Accept a data folder that is not the official MNIST (e.g. Fashion-MNIST): skip the checksums.
    #[arg(long)]
    no_verify: bool,
}

pub fn run(args: &SamplesArgs) -> Result<()> {
    fsutil::check_output(&args.output, "png")?;
    let dir = super::data_dir_or_default(&args.data_dir);
    let mnist = Mnist::load(&dir, Missing::Fetch, Checksums::verify_if(!args.no_verify))?;
    draw_sample_grid(&mnist.train, args.seed, &args.output)?;
    println!("wrote {}", args.output.display());
    Ok(())
}
