//! `mnist-mlp train` (and plain `mnist-mlp <config>`): one experiment end to end.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::config::ExperimentConfig;
use mnist_mlp::run::interrupt::Interrupt;
use mnist_mlp::run::{RunOptions, run_experiment};
use mnist_mlp::run_files::{RunDir, artifacts_root};

#[derive(Args)]
pub struct TrainArgs {
    /// Experiment config (TOML), e.g. config/relu.toml.
    #[arg(value_parser = super::user_path)]
    config: PathBuf,
    /// Override [training] epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override any config value: --set optimizer.learning_rate=0.05 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
    /// Continue an interrupted run from its last complete epoch.
    #[arg(long, conflicts_with = "fresh")]
    resume: bool,
    /// Discard an interrupted run of the same experiment and start over.
    #[arg(long)]
    fresh: bool,
    /// Artifacts folder (default: $MNIST_MLP_ARTIFACTS or ./artifacts).
    #[arg(long, value_parser = super::user_path)]
    artifacts: Option<PathBuf>,
    /// Backend to train on, among those compiled in (= --set training.backend=NAME).
    #[arg(long)]
    backend: Option<BackendKind>,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let mut overrides = args.overrides;
    if let Some(epochs) = args.epochs {
        overrides.push(format!("training.epochs={epochs}"));
    }
    if let Some(backend) = args.backend {
        overrides.push(format!("training.backend={backend}"));
    }
    refuse_a_model_for_a_config(&args.config)?;
    let config = ExperimentConfig::load(&args.config, &overrides)?;
    let options = RunOptions {
        artifacts: args.artifacts.unwrap_or_else(artifacts_root),
        resume: args.resume,
        fresh: args.fresh,
    };
    // Ctrl-C or SIGTERM stops the Learner after the current step; a second one quits
    // at once (the last checkpoint is safe either way).
    let interrupt = Interrupt::on_signal(
        "stopping after this step (a second Ctrl-C or SIGTERM quits now)…",
        "stopped; resume with --resume",
    )?;
    let finished = run_experiment(&config, &options, interrupt.interrupter())?;
    let summary = &finished.summary;
    println!(
        "\nTest set classification report:\n{}",
        summary.classification_report.to_text()
    );
    println!(
        "Accuracy on the train data is: {:.2}%",
        summary.train_accuracy
    );
    if let Some(validation) = summary.validation_accuracy {
        println!("Accuracy on the validation data is: {validation:.2}%");
    }
    println!(
        "Accuracy on the test data is:  {:.2}%",
        summary.test_accuracy
    );
    let kept = if summary.kept_epoch == summary.epochs_trained {
        String::new()
    } else {
        format!(" (early stopping kept epoch {})", summary.kept_epoch)
    };
    println!(
        "Trained {} epochs{kept} in {:.1} s on {}; run files in {}",
        summary.epochs_trained,
        summary.train_seconds,
        summary.backend,
        finished.dir.root.display()
    );
    Ok(())
}

/// A run folder or a weights file where the config belongs (`mnist-mlp artifacts/relu`),
/// named for what it is, with the commands that take it.
fn refuse_a_model_for_a_config(path: &Path) -> Result<()> {
    let run = RunDir::at(path);
    if path.is_dir() && run.config().is_file() {
        bail!(
            "{} is a run folder, not a config: `mnist-mlp eval {0}` evaluates its model, and `mnist-mlp {}` trains its config again",
            path.display(),
            run.config().display()
        );
    }
    let weights = ["safetensors", "pt", "pth", "bpk"];
    if path
        .extension()
        .is_some_and(|ext| weights.iter().any(|w| ext.eq_ignore_ascii_case(w)))
    {
        bail!(
            "{} is a model file, not a config: `mnist-mlp eval {0}` evaluates it (`inspect` shows it); training takes a config such as config/relu.toml",
            path.display()
        );
    }
    Ok(())
}
