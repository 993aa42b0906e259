//! `mnist-mlp compare`: every finished run side by side.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mnist_mlp::fsutil::create_folder;
use mnist_mlp::report::compare;
use mnist_mlp::run_files::artifacts_root;

#[derive(Args)]
pub struct CompareArgs {
    /// Run folders (default: every finished run under the artifacts folder).
    #[arg(value_parser = super::user_path)]
    runs: Vec<PathBuf>,
    /// Artifacts folder (default: $MNIST_MLP_ARTIFACTS or ./artifacts).
    #[arg(long, value_parser = super::user_path)]
    artifacts: Option<PathBuf>,
}

pub fn run(args: &CompareArgs) -> Result<()> {
    let artifacts = args.artifacts.clone().unwrap_or_else(artifacts_root);
    let loaded = compare::load_runs(&artifacts, &args.runs)?;
    print!("{}", compare::text_table(&loaded));
    // Runs named from elsewhere are compared into ./artifacts, which may not exist yet.
    create_folder(
        &artifacts,
        "the artifacts folder",
        "choose another folder with --artifacts",
    )?;
    compare::write_comparison(&artifacts, &loaded)?;
    println!(
        "\nwrote {0}/comparison.md, {0}/comparison.png and (for runs with diagnostics) {0}/comparison_gradients.png",
        artifacts.display()
    );
    Ok(())
}
