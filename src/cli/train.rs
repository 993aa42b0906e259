//! `mnist-mlp train` (and plain `mnist-mlp <config>`): one experiment end to end.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use burn::train::Interrupter;
use clap::Args;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::config::ExperimentConfig;
use mnist_mlp::run::{RunOptions, run_experiment};
use mnist_mlp::run_files::artifacts_root;

#[derive(Args)]
pub struct TrainArgs {
    /// Experiment config (TOML), e.g. config/relu.toml.
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
    #[arg(long)]
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
    let config = ExperimentConfig::load(&args.config, &overrides)?;
    let options = RunOptions {
        artifacts: args.artifacts.unwrap_or_else(artifacts_root),
        resume: args.resume,
        fresh: args.fresh,
    };
    let finished = run_experiment(&config, &options, interrupt_on_signal()?)?;
    let s = &finished.summary;
    println!(
        "\nTest set classification report:\n{}",
        s.classification_report.to_text()
    );
    println!("Accuracy on the train data is: {:.2}%", s.train_accuracy);
    if let Some(validation) = s.validation_accuracy {
        println!("Accuracy on the validation data is: {validation:.2}%");
    }
    println!("Accuracy on the test data is:  {:.2}%", s.test_accuracy);
    let kept = if s.kept_epoch == s.epochs_trained {
        String::new()
    } else {
        format!(" (early stopping kept epoch {})", s.kept_epoch)
    };
    println!(
        "Trained {} epochs{kept} in {:.1} s on {}; run files in {}",
        s.epochs_trained,
        s.train_seconds,
        s.backend,
        finished.dir.root.display()
    );
    Ok(())
}

/// Ctrl-C or SIGTERM asks the Learner to stop after the current step; a second
/// one exits at once (the last checkpoint is safe either way).
fn interrupt_on_signal() -> Result<Interrupter> {
    let interrupter = Interrupter::new();
    let handle = interrupter.clone();
    let asked = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if asked.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopped; resume with --resume");
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (press Ctrl-C again to quit now)…");
        handle.stop(Some("Ctrl-C"));
    })?;
    Ok(interrupter)
}
