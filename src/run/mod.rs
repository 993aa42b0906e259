//! One experiment from config to run folder: prepare `artifacts/<name>/`, load
//! the data, train, evaluate, and write the summary, report and weights.

pub mod interrupt;
mod resume;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use burn::prelude::Device;
use burn::train::Interrupter;

use crate::backend::BackendKind;
use crate::config::ExperimentConfig;
use crate::data::{self, Checksums, Missing, Mnist};
use crate::eval::{ClassificationReport, ConfusionMatrix, Evaluation, evaluate};
use crate::fsutil::write_atomic;
use crate::mnist::CLASSES;
use crate::report::RunReport;
use crate::run_files::RunDir;
use crate::run_files::history::EvalSplit;
use crate::run_files::lock::RunLock;
use crate::run_files::summary::Summary;
use crate::train::memory::refuse_if_too_large;
use crate::train::{Outcome, Trained, TrainingData, train};
use crate::weights::save::save_pytorch_safetensors;
use resume::{nothing_to_resume, prepare_resume, refuse_to_discard};

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
    refuse_if_too_large(config)?;
    if options.resume && !dir.config().is_file() {
        return Err(nothing_to_resume(&dir));
    }
    let mnist = load_data(config)?;
    // A Ctrl-C while the data was fetched: stop before the run folder is touched.
    if interrupter.should_stop() {
        bail!("stopped before training began; nothing was written: run the same command again");
    }
    let data = TrainingData::new(config, &mnist);
    config.check_cost_rows(data.train.len())?;
    // Held until this call returns: no other process trains here meanwhile.
    let lock = RunLock::acquire(&dir)?;
    let device = backend.device();
    let resume = if options.resume {
        prepare_resume(&dir, config, &device)?
    } else {
        refuse_to_discard(&dir, config, options.fresh)?;
        None
    };
    if resume.is_some() {
        lock.remove_temporaries()?;
    } else {
        let kept = lock.clear()?;
        if !kept.is_empty() {
            let names: Vec<String> = kept.iter().map(|path| path.display().to_string()).collect();
            eprintln!("kept {}: not the run's own files", names.join(", "));
        }
    }
    write_atomic(&dir.config(), config.to_toml().as_bytes())?;

    device.seed(config.experiment.seed);
    // The training keeps progress.json current; it goes when this call returns, however
    // it returns, so a folder with one and no summary.json is a run in progress.
    let _progress = RemoveOnDrop(dir.progress());

    let trained = train(config, &data, &device, &dir, resume, interrupter)?;
    check_completed(&trained.outcome, &dir)?;
    let (summary, test) = finish(config, backend, &trained, &data, &mnist, &device, &dir)
        .map_err(|err| {
            anyhow!(
                "{err:#}; the trained model is kept in {}: once that is fixed, `mnist-mlp train <config> --resume` finishes the run without training again",
                dir.checkpoints().display()
            )
        })?;
    Ok(Finished { dir, summary, test })
}

/// Refuses a training that stopped early, saying which checkpoint it kept.
fn check_completed(outcome: &Outcome, dir: &RunDir) -> Result<()> {
    let kept = || {
        dir.checkpoint_epochs()
            .last()
            .map_or("no epoch was completed".to_string(), |epoch| {
                format!("the checkpoint of epoch {epoch} is kept")
            })
    };
    match outcome {
        Outcome::Completed => Ok(()),
        Outcome::Diverged(divergence) => bail!("{divergence}; {}", kept()),
        Outcome::Interrupted => bail!(
            "training stopped by Ctrl-C or SIGTERM; {}: continue with `mnist-mlp train <config> --resume`",
            kept()
        ),
    }
}

/// The data folder's MNIST, refused when it is too small for the batch and validation split.
fn load_data(config: &ExperimentConfig) -> Result<Mnist> {
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
    Ok(mnist)
}

/// Evaluates the trained model on every split and writes the weights, the report and,
/// last, the summary that marks the run finished.
fn finish(
    config: &ExperimentConfig,
    backend: BackendKind,
    trained: &Trained,
    data: &TrainingData,
    mnist: &Mnist,
    device: &Device,
    dir: &RunDir,
) -> Result<(Summary, Evaluation)> {
    let train_eval = evaluate(&trained.model, &data.train, device);
    let validation_eval = (data.eval_split == EvalSplit::Validation)
        .then(|| evaluate(&trained.model, &data.eval, device));
    // The test set's one look, when the epochs looked at validation images.
    let test_eval = evaluate(&trained.model, &mnist.test, device);
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
    save_pytorch_safetensors(
        &trained.model,
        &dir.weights(),
        &weights_metadata(config, trained, &test_eval),
    )?;
    RunReport {
        summary: &summary,
        history: &trained.history,
        diagnostics: &dir.diagnostics_log()?,
        model: &trained.model,
        train_split: &data.train,
        test_split: &mnist.test,
        test_predictions: &test_eval.predictions,
        test_confusion: &test_confusion,
    }
    .write(dir)?;
    // Written last: its presence marks a finished run.
    write_atomic(
        &dir.summary(),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok((summary, test_eval))
}

/// What `model.safetensors` says about itself, for `eval`, `inspect` and PyTorch users.
fn weights_metadata(
    config: &ExperimentConfig,
    trained: &Trained,
    test: &Evaluation,
) -> HashMap<String, String> {
    HashMap::from([
        ("config".to_string(), config.to_toml()),
        (
            "activation".to_string(),
            config.model.activation.to_string(),
        ),
        ("epoch".to_string(), trained.kept_epoch.to_string()),
        ("test_accuracy".to_string(), format!("{:.4}", test.accuracy)),
        (
            "layer_sizes".to_string(),
            format!("{:?}", config.layer_sizes()),
        ),
    ])
}

/// Deletes its file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
