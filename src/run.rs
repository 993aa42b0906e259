//! One experiment from config to run folder: prepare `artifacts/<name>/`, load
//! the data, train, evaluate, and write the summary, report and weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::train::Interrupter;
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::checkpoint::{last_complete_epoch, model_epochs};
use crate::config::ExperimentConfig;
use crate::data::{self, Mnist};
use crate::eval::{Evaluation, evaluate};
use crate::fsutil::write_atomic;
use crate::history::History;
use crate::progress::DIVERGED;
use crate::report::{ClassificationReport, RunReport};
use crate::train::{Outcome, TrainPaths, train};
use crate::weights::save_pytorch_safetensors;

/// Environment variable naming the artifacts folder (default `artifacts`).
pub const ARTIFACTS_ENV: &str = "MNIST_MLP_ARTIFACTS";

/// The artifacts folder: `MNIST_MLP_ARTIFACTS` if set, else `artifacts`.
pub fn artifacts_root() -> PathBuf {
    std::env::var_os(ARTIFACTS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("artifacts"))
}

/// The files of one run, `artifacts/<experiment>/…`.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(artifacts: &Path, experiment: &str) -> Self {
        Self {
            root: artifacts.join(experiment),
        }
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    pub fn weights(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }
}

/// `summary.json`: the run's headline figures and its test-set report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub experiment: String,
    pub description: String,
    pub activation: String,
    pub optimizer: String,
    pub learning_rate: f64,
    pub l2: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    pub backend: String,
    pub parameters: usize,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    pub train_loss: f64,
    pub test_loss: f64,
    /// Sum of the epochs' wall times, including those of an interrupted earlier part.
    pub train_seconds: f64,
    pub classification_report: ClassificationReport,
    pub train_classification_report: ClassificationReport,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub artifacts: PathBuf,
    pub resume: bool,
    /// Discard an interrupted run instead of refusing to overwrite it.
    pub fresh: bool,
}

/// Everything a finished run produced, for the caller to print.
pub struct Finished {
    pub dir: RunDir,
    pub summary: Summary,
    pub test: Evaluation,
}

/// Trains `config` end to end and writes its run folder.
pub fn run_experiment(
    config: &ExperimentConfig,
    options: &RunOptions,
    interrupter: Interrupter,
) -> Result<Finished> {
    let dir = RunDir::new(&options.artifacts, &config.experiment.name);
    // Everything that can be refused is checked before the run folder is touched.
    let backend = BackendKind::resolve(config.training.backend)?;
    let resume = if options.resume {
        prepare_resume(&dir, config)?
    } else {
        refuse_to_discard_interrupted(&dir, options.fresh)?;
        None
    };
    let data_dir = data::resolve_dir(&config.data.dir);
    let mnist = Mnist::load(&data_dir, true, config.data.verify)?;
    if config.training.batch_size > mnist.train.len() {
        bail!(
            "[training] batch_size = {} is larger than the {} training images in {}: use a smaller batch",
            config.training.batch_size,
            mnist.train.len(),
            data_dir.display()
        );
    }
    if resume.is_none() {
        recreate(&dir)?;
    }
    write_atomic(&dir.config(), config.to_toml().as_bytes())?;

    let device = backend.device();
    device.seed(config.experiment.seed);

    let checkpoint_dir = dir.checkpoints();
    let metrics_csv = dir.metrics();
    let paths = TrainPaths {
        run_dir: &dir.root,
        checkpoint_dir: &checkpoint_dir,
        metrics_csv: &metrics_csv,
    };
    let trained = train(config, &mnist, &device, &paths, resume, interrupter)?;
    if let Outcome::Interrupted(reason) = trained.outcome {
        let kept = model_epochs(&checkpoint_dir).last().copied();
        let kept = kept.map_or("no epoch was completed".to_string(), |epoch| {
            format!("the checkpoint of epoch {epoch} is kept")
        });
        if reason.starts_with(DIVERGED) {
            bail!("{reason}; {kept}");
        }
        bail!(
            "training interrupted ({reason}); {kept}: continue with `mnist-mlp train <config> --resume`"
        );
    }

    let train_eval = evaluate(&trained.model, &mnist.train, &device);
    let test_eval = evaluate(&trained.model, &mnist.test, &device);
    let summary = summarize(config, backend, &trained.history, &train_eval, &test_eval);
    let mut metadata = HashMap::from([
        ("config".to_string(), config.to_toml()),
        (
            "activation".to_string(),
            config.model.activation.to_string(),
        ),
        ("epoch".to_string(), config.training.epochs.to_string()),
        (
            "test_accuracy".to_string(),
            format!("{:.4}", test_eval.accuracy),
        ),
    ]);
    metadata.insert(
        "layer_sizes".to_string(),
        format!("{:?}", config.layer_sizes()),
    );
    save_pytorch_safetensors(&trained.model, &dir.weights(), &metadata)?;
    RunReport {
        config,
        history: &trained.history,
        train_split: &mnist.train,
        test_split: &mnist.test,
        test_predictions: &test_eval.predictions,
        train_accuracy: summary.train_accuracy,
        test_accuracy: summary.test_accuracy,
        test_report: &summary.classification_report,
        train_seconds: summary.train_seconds,
        backend: &summary.backend,
    }
    .write(&dir.root)?;
    // Written last: its presence marks a finished run.
    write_atomic(
        &dir.summary(),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok(Finished {
        dir,
        summary,
        test: test_eval,
    })
}

fn summarize(
    config: &ExperimentConfig,
    backend: BackendKind,
    history: &History,
    train: &Evaluation,
    test: &Evaluation,
) -> Summary {
    Summary {
        experiment: config.experiment.name.clone(),
        description: config.experiment.description.clone(),
        activation: config.model.activation.to_string(),
        optimizer: config.optimizer.name.to_string(),
        learning_rate: config.optimizer.learning_rate,
        l2: config.optimizer.l2,
        batch_size: config.training.batch_size,
        epochs: config.training.epochs,
        seed: config.experiment.seed,
        backend: backend.to_string(),
        parameters: config.parameter_count().unwrap_or_default(),
        train_accuracy: train.accuracy,
        test_accuracy: test.accuracy,
        train_loss: train.loss,
        test_loss: test.loss,
        train_seconds: history.epochs.iter().map(|e| e.seconds).sum(),
        classification_report: ClassificationReport::from_predictions(
            &test.labels,
            &test.predictions,
        ),
        train_classification_report: ClassificationReport::from_predictions(
            &train.labels,
            &train.predictions,
        ),
    }
}

/// A new run replaces a finished one, but never silently discards an interrupted one.
fn refuse_to_discard_interrupted(dir: &RunDir, fresh: bool) -> Result<()> {
    let interrupted = !dir.summary().exists() && !model_epochs(&dir.checkpoints()).is_empty();
    if interrupted && !fresh {
        bail!(
            "{} holds an interrupted run: continue it with --resume, or discard it with --fresh",
            dir.root.display()
        );
    }
    Ok(())
}

/// Empties the run folder for a new run.
fn recreate(dir: &RunDir) -> Result<()> {
    if dir.root.exists() {
        std::fs::remove_dir_all(&dir.root)
            .with_context(|| format!("cannot clear {}", dir.root.display()))?;
    }
    std::fs::create_dir_all(&dir.root).with_context(|| {
        format!(
            "cannot create the run folder {}: make it writable or choose another with --artifacts",
            dir.root.display()
        )
    })
}

/// The completed epoch to continue from and the history up to it; `None` when
/// the interrupted run completed no epoch, so it starts over as it began.
fn prepare_resume(dir: &RunDir, config: &ExperimentConfig) -> Result<Option<(usize, History)>> {
    let saved = match std::fs::read_to_string(dir.config()) {
        Ok(saved) => saved,
        Err(_) => bail!(
            "no complete checkpoint in {}: nothing to resume; run without --resume to start training",
            dir.checkpoints().display()
        ),
    };
    let saved = ExperimentConfig::parse(&saved, &[])
        .with_context(|| format!("{} is corrupt", dir.config().display()))?;
    if saved.model != config.model {
        bail!(
            "{} was trained with a different [model] section than this config: resume with the same config, or start over with --fresh",
            dir.root.display()
        );
    }
    let Some(epoch) = last_complete_epoch(&dir.checkpoints())? else {
        eprintln!(
            "{} completed no epoch before it stopped: starting from epoch 1",
            dir.root.display()
        );
        return Ok(None);
    };
    let mut history = if dir.metrics().exists() {
        History::load_csv(&dir.metrics())?
    } else {
        History::default()
    };
    history.truncate_to(epoch);
    eprintln!("resuming {} after epoch {epoch}", dir.root.display());
    Ok(Some((epoch, history)))
}
