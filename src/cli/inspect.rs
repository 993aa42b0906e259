//! `mnist-mlp inspect`: what is inside a run folder, checkpoint or weights file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct InspectArgs {
    /// A run folder, a checkpoint (.bpk), a .safetensors or a PyTorch .pt/.pth file.
    #[arg(value_parser = super::user_path)]
    target: PathBuf,
}

pub fn run(args: &InspectArgs) -> Result<()> {
    print!("{}", mnist_mlp::report::inspect::describe(&args.target)?);
    Ok(())
}
