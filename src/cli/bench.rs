//! `mnist-mlp bench`: training epochs and evaluation throughput per activation × optimizer
//! of the assignment's model, or of the model and training a config describes.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::bench::{assignment_settings, bench_setting};
use mnist_mlp::config::{Activation, ExperimentConfig, OptimizerKind};
use mnist_mlp::data::{self, Checksums, Missing, Mnist};
use mnist_mlp::train::memory::refuse_if_too_large;

#[derive(Args)]
pub struct BenchArgs {
    /// Timed epochs per setting, after one warm-up epoch.
    #[arg(long, default_value_t = 3, value_parser = at_least_one)]
    epochs: usize,
    /// Only these activations (comma-separated), e.g. relu,tanh.
    #[arg(long, value_delimiter = ',')]
    activations: Vec<Activation>,
    /// Only these optimizers (comma-separated), e.g. sgd.
    #[arg(long, value_delimiter = ',')]
    optimizers: Vec<OptimizerKind>,
    /// Measure the model, optimizer, batch, dropout and augmentation of this config
    /// instead of the assignment's settings (e.g. config/best.toml).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["activations", "optimizers"], value_parser = super::user_path)]
    config: Option<PathBuf>,
    /// Print one JSON object per setting instead of a table.
    #[arg(long)]
    json: bool,
    /// Backend to measure (default: flex where compiled in).
    #[arg(long)]
    backend: Option<BackendKind>,
    /// Data folder (default: the config's [data] dir with --config, else
    /// $MNIST_DATA_DIR or ./data).
    #[arg(long, value_parser = super::user_path)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let backend = BackendKind::resolve(args.backend)?;
    // A config's mistakes are reported before MNIST is read (or fetched).
    let configs = configs(args)?;
    for config in &configs {
        refuse_if_too_large(config)?;
    }
    // A config names its data, checked or not, as it does for train.
    let (dir, checksums) = match (&args.config, configs.first()) {
        (Some(_), Some(config)) => (
            args.data_dir
                .clone()
                .unwrap_or_else(|| data::resolve_dir(&config.data.dir)),
            Checksums::verify_if(config.data.verify),
        ),
        _ => (
            super::data_dir_or_default(&args.data_dir),
            Checksums::Verify,
        ),
    };
    let mnist = Mnist::load(&dir, Missing::Fetch, checksums)?;
    if !args.json {
        println!("backend: {backend}");
        println!(
            "setting        median s/epoch  floor s/epoch  efficiency  GFLOP/s  of 2048³  eval images/s  peak RSS MB"
        );
    }
    for config in configs {
        let result = bench_setting(&config, &mnist, backend, args.epochs);
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!(
                "{:<14} {:>14.3} {:>14.3} {:>10.0}% {:>8.1} {:>8.0}% {:>14.0} {:>12.0}",
                format!("{}/{}", result.activation, result.optimizer),
                result.median_epoch_seconds,
                result.floor_epoch_seconds,
                100.0 * result.efficiency,
                result.product_gflops_per_second,
                100.0 * result.product_gflops_per_second / result.large_gemm_gflops_per_second,
                result.eval_images_per_second,
                result.peak_rss_mb
            );
        }
    }
    Ok(())
}

/// `--epochs`: the median needs at least one timed epoch, and a thousand already
/// take an hour on the record model.
fn at_least_one(text: &str) -> Result<usize, String> {
    const MOST: usize = 1000;
    match text.parse() {
        Ok(epochs) if (1..=MOST).contains(&epochs) => Ok(epochs),
        _ => Err(format!("give a whole number of epochs, 1 to {MOST}")),
    }
}

/// The settings to measure: the `--config` given, or the assignment's model at each
/// activation × optimizer asked for.
fn configs(args: &BenchArgs) -> Result<Vec<ExperimentConfig>> {
    if let Some(path) = &args.config {
        return Ok(vec![ExperimentConfig::load(path, &[])?]);
    }
    let settings = assignment_settings().into_iter().filter(|(a, o)| {
        (args.activations.is_empty() || args.activations.contains(a))
            && (args.optimizers.is_empty() || args.optimizers.contains(o))
    });
    Ok(settings
        .map(|(activation, optimizer)| {
            let mut config = ExperimentConfig::named("bench");
            config.model.activation = activation;
            config.optimizer.name = optimizer;
            config
        })
        .collect())
}
