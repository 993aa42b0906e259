//! One experiment from config to run folder: prepare `artifacts/<name>/`, load
//! the data, train, evaluate, and write the summary, report and weights.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::train::Interrupter;
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::checkpoint::last_complete_epoch;
use crate::config::ExperimentConfig;
use crate::data::{self, CLASSES, Checksums, Missing, Mnist};
use crate::eval::{Evaluation, evaluate};
use crate::fsutil::write_atomic;
use crate::history::{EvalSplit, History};
use crate::report::{ClassificationReport, ConfusionMatrix, RunReport};
use crate::run_dir::RunDir;
use crate::run_lock::RunLock;
use crate::train::{Outcome, TrainingData, train};
use crate::weights::save_pytorch_safetensors;

/// `summary.json`: the run's config and headline figures, with its reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub config: ExperimentConfig,
    pub backend: BackendKind,
    pub parameters: usize,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    pub train_loss: f64,
    pub test_loss: f64,
    /// On the held-out training images of `[data] validation`; absent without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f64>,
    /// Epochs run: fewer than configured when early stopping ended the run.
    #[serde(default)]
    pub epochs_trained: usize,
    /// The epoch whose weights were kept: the best validation epoch with early
    /// stopping, else the last.
    #[serde(default)]
    pub kept_epoch: usize,
    /// Sum of the epochs' wall times, including those of an interrupted earlier part.
    pub train_seconds: f64,
    pub classification_report: ClassificationReport,
    pub train_classification_report: ClassificationReport,
}

impl Summary {
    /// Reads a finished run's `summary.json`.
    pub fn load(run: &RunDir) -> Result<Self> {
        let path = run.summary();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: is {} a finished run folder?",
                path.display(),
                run.root.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is corrupt: train the run again", path.display()))
    }
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
    if options.resume && !dir.config().is_file() {
        return Err(nothing_to_resume(&dir));
    }
    let data_dir = data::resolve_dir(&config.data.dir);
    let mnist = Mnist::load(
        &data_dir,
        Missing::Fetch,
        Checksums::verify_if(config.data.verify),
    )?;
    let held_out = config.data.validation;
    if held_out + config.training.batch_size > mnist.train.len() {
        bail!(
            "[training] batch_size = {} and [data] validation = {held_out} need more than the {} training images in {}: use a smaller batch or validation split",
            config.training.batch_size,
            mnist.train.len(),
            data_dir.display()
        );
    }
    let data = TrainingData::new(config, &mnist);
    // Held until this call returns: no other process trains here meanwhile.
    let lock = RunLock::acquire(&dir)?;
    let resume = if options.resume {
        prepare_resume(&dir, config)?
    } else {
        refuse_to_discard(&dir, config, options.fresh)?;
        None
    };
    if resume.is_none() {
        lock.clear()?;
    }
    write_atomic(&dir.config(), config.to_toml().as_bytes())?;

    let device = backend.device();
    device.seed(config.experiment.seed);
    // The training keeps progress.json current; it goes when this call returns, however
    // it returns, so a folder with one and no summary.json is a run in progress.
    let _progress = RemoveOnDrop(dir.progress());

    let trained = train(config, &data, &device, &dir, resume, interrupter)?;
    let kept = || {
        dir.checkpoint_epochs()
            .last()
            .map_or("no epoch was completed".to_string(), |epoch| {
                format!("the checkpoint of epoch {epoch} is kept")
            })
    };
    match trained.outcome {
        Outcome::Completed => {}
        Outcome::Diverged(divergence) => bail!("{divergence}; {}", kept()),
        Outcome::Interrupted => bail!(
            "training interrupted (Ctrl-C); {}: continue with `mnist-mlp train <config> --resume`",
            kept()
        ),
    }

    let train_eval = evaluate(&trained.model, &data.train, &device);
    let validation_eval = (data.eval_split == EvalSplit::Validation)
        .then(|| evaluate(&trained.model, &data.eval, &device));
    // The test set's one look, when the epochs looked at validation images.
    let test_eval = evaluate(&trained.model, &mnist.test, &device);
    let test_confusion = ConfusionMatrix::new(&test_eval.labels, &test_eval.predictions, CLASSES);
    let summary = Summary {
        config: config.clone(),
        backend,
        parameters: config.parameter_count().unwrap_or_default(),
        train_accuracy: train_eval.accuracy,
        test_accuracy: test_eval.accuracy,
        train_loss: train_eval.loss,
        test_loss: test_eval.loss,
        validation_accuracy: validation_eval.as_ref().map(|e| e.accuracy),
        validation_loss: validation_eval.as_ref().map(|e| e.loss),
        epochs_trained: trained.history.epochs.len(),
        kept_epoch: trained.kept_epoch,
        train_seconds: trained.history.epochs.iter().map(|e| e.seconds).sum(),
        classification_report: ClassificationReport::from_confusion(&test_confusion),
        train_classification_report: ClassificationReport::from_predictions(
            &train_eval.labels,
            &train_eval.predictions,
        ),
    };
    let metadata = HashMap::from([
        ("config".to_string(), config.to_toml()),
        (
            "activation".to_string(),
            config.model.activation.to_string(),
        ),
        ("epoch".to_string(), trained.kept_epoch.to_string()),
        (
            "test_accuracy".to_string(),
            format!("{:.4}", test_eval.accuracy),
        ),
        (
            "layer_sizes".to_string(),
            format!("{:?}", config.layer_sizes()),
        ),
    ]);
    save_pytorch_safetensors(&trained.model, &dir.weights(), &metadata)?;
    RunReport {
        summary: &summary,
        history: &trained.history,
        train_split: &data.train,
        test_split: &mnist.test,
        test_predictions: &test_eval.predictions,
        test_confusion: &test_confusion,
    }
    .write(&dir)?;
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

/// Deletes its file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A new run replaces a finished run of the same config (the assignment's habit of
/// re-running an experiment), but never silently discards an interrupted run or a
/// finished run of another config.
fn refuse_to_discard(dir: &RunDir, config: &ExperimentConfig, fresh: bool) -> Result<()> {
    if fresh {
        return Ok(());
    }
    let root = dir.root.display();
    if !dir.is_finished() {
        if !dir.checkpoint_epochs().is_empty() {
            bail!(
                "{root} holds an interrupted run: continue it with --resume, or discard it with --fresh"
            );
        }
        return Ok(());
    }
    let saved = std::fs::read_to_string(dir.config())
        .map_err(anyhow::Error::from)
        .and_then(|text| ExperimentConfig::parse(&text, &[]));
    let changes = match &saved {
        Ok(saved) => saved.differences(config),
        Err(_) => vec![format!("its {} cannot be read", dir.config().display())],
    };
    if !changes.is_empty() {
        bail!(
            "{root} holds a finished run of another config ({}): replace it with --fresh, or keep it and choose another name with --set experiment.name=NAME",
            changes.join(", ")
        );
    }
    Ok(())
}

/// The error for `--resume` where there is nothing to resume.
fn nothing_to_resume(dir: &RunDir) -> anyhow::Error {
    anyhow::anyhow!(
        "no complete checkpoint in {}: nothing to resume; run without --resume to start training",
        dir.checkpoints().display()
    )
}

/// The completed epoch to continue from and the history up to it; `None` when
/// the interrupted run completed no epoch, so it starts over as it began.
fn prepare_resume(dir: &RunDir, config: &ExperimentConfig) -> Result<Option<(usize, History)>> {
    let saved = std::fs::read_to_string(dir.config()).map_err(|_| nothing_to_resume(dir))?;
    let saved = ExperimentConfig::parse(&saved, &[])
        .with_context(|| format!("{} is corrupt", dir.config().display()))?;
    if saved.model != config.model {
        bail!(
            "{} was trained with a different [model] section than this config: resume with the same config, or start over with --fresh",
            dir.root.display()
        );
    }
    let Some(epoch) = last_complete_epoch(dir)? else {
        eprintln!(
            "{} completed no epoch before it stopped: starting from epoch 1",
            dir.root.display()
        );
        return Ok(None);
    };
    let mut history = dir.history()?;
    history.truncate_to(epoch);
    eprintln!("resuming {} after epoch {epoch}", dir.root.display());
    Ok(Some((epoch, history)))
}
