//! Training with burn-train's Learner: the configured optimizer and schedule over
//! the training images, evaluated every epoch on the test set (as the assignment's
//! `test_loop`) or on held-out validation images, Burn's atomic checkpoints every
//! epoch, resume from the last one, and early stopping on the best.
//!
//! burn-train's `SupervisedTraining` sets up the checkpointers and resumes; the
//! epochs run in our own loop (`epochs.rs`), which records (`record.rs`) and shows
//! (`progress.rs`) the run on the training thread.

mod diagnostics;
mod epochs;
pub mod memory;
mod progress;
pub mod record;
pub mod schedule;
mod selection;

use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::{
    Interrupter, Learner, LearnerModel, SupervisedTraining, TrainingError, TrainingStrategy,
};

use crate::config::{ExperimentConfig, OptimizerKind};
use crate::data::{Augment, Digits, Mnist, MnistBatcher, MnistLoader};
use crate::eval::EVAL_BATCH;
#[cfg(feature = "flex")]
use crate::fused::{self, FusedAdam, FusedMomentumSgd, FusedSgd};
use crate::model::{Mlp, MlpSpec};
use crate::run_files::RunDir;
use crate::run_files::diagnostics::DiagnosticsLog;
use crate::run_files::history::{EvalSplit, History};
use crate::train::schedule::scheduler;
use crate::weights::checkpoint::load_model;
use diagnostics::Diagnostics;
pub use diagnostics::PROBE_IMAGES;
use epochs::{EpochLoop, SilentRenderer};
use progress::Reporter;
use record::{Divergence, Recorder, Recording};
use selection::KeepBest;

/// How a training call ended.
pub enum Outcome {
    Completed,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
    Diverged(Divergence),
}

pub struct Trained {
    /// The final weights, without autodiff.
    pub model: Mlp,
    pub history: History,
    /// The epoch whose weights `model` holds.
    pub kept_epoch: usize,
    pub outcome: Outcome,
}

/// The optimizer the config names (Adam's with PyTorch's defaults unless overridden).
/// Plain SGD and Adam make one fused pass per parameter on flex; momentum, AdamW and
/// the other backends take burn-optim's (the same records either way).
pub fn optimizer(config: &ExperimentConfig, device: &Device) -> ModuleOptimizer {
    let optimizer = &config.optimizer;
    #[cfg(feature = "flex")]
    if fused::is_flex(device) {
        match optimizer.name {
            OptimizerKind::Sgd if optimizer.momentum == 0.0 => {
                return ModuleOptimizer::from(FusedSgd);
            }
            OptimizerKind::Sgd => {
                return ModuleOptimizer::from(FusedMomentumSgd {
                    momentum: optimizer.momentum as f32,
                    nesterov: optimizer.nesterov,
                });
            }
            OptimizerKind::Adam => {
                return ModuleOptimizer::from(FusedAdam {
                    beta_1: optimizer.beta1,
                    beta_2: optimizer.beta2,
                    epsilon: optimizer.epsilon,
                });
            }
            _ => {}
        }
    }
    let _ = device; // only the flex build looks at it
    match optimizer.name {
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum((optimizer.momentum > 0.0).then_some(MomentumConfig {
                momentum: optimizer.momentum,
                // PyTorch's SGD: no dampening.
                dampening: 0.0,
                nesterov: optimizer.nesterov,
            }))
            .init(),
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(optimizer.beta1)
            .with_beta_2(optimizer.beta2)
            .with_epsilon(optimizer.epsilon)
            .init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(optimizer.beta1)
            .with_beta_2(optimizer.beta2)
            .with_epsilon(optimizer.epsilon)
            .with_weight_decay(optimizer.weight_decay as f32)
            .init(),
    }
}

/// Batches of the training images, reshuffled every epoch from the experiment's
/// seed, distorted as `[augment]` says and keyed for dropout; `completed_epochs`
/// already trained (a resumed run) are skipped.
pub fn train_loader(
    config: &ExperimentConfig,
    train: &Digits,
    completed_epochs: usize,
    device: &Device,
) -> MnistLoader {
    let seed = config.experiment.seed;
    let mut loader = MnistLoader::in_order(
        MnistBatcher::new(train.clone()),
        config.training.batch_size,
        device,
    )
    .with_dropout_keys(seed);
    if config.training.shuffle {
        loader = loader.shuffled(seed, completed_epochs);
    }
    if let Some(augment) = Augment::from_config(&config.augment) {
        loader = loader.augmented(augment, seed);
    }
    loader
}

/// The images a run trains on, and those it evaluates after every epoch: the
/// test set (the assignment's way), the validation images held out of training,
/// or none at all.
pub struct TrainingData {
    pub train: Digits,
    pub eval: Digits,
    pub eval_split: EvalSplit,
}

impl TrainingData {
    /// Holds out `[data] validation` training images when asked.
    pub fn new(config: &ExperimentConfig, mnist: &Mnist) -> Self {
        match config.data.validation {
            0 if !config.training.evaluate_every_epoch => Self {
                train: mnist.train.clone(),
                eval: Digits {
                    images: Vec::new().into(),
                    labels: Vec::new().into(),
                },
                eval_split: EvalSplit::Nothing,
            },
            0 => Self {
                train: mnist.train.clone(),
                eval: mnist.test.clone(),
                eval_split: EvalSplit::Test,
            },
            held_out => {
                let (train, eval) = mnist.train.hold_out(held_out, config.experiment.seed);
                Self {
                    train,
                    eval,
                    eval_split: EvalSplit::Validation,
                }
            }
        }
    }
}

/// Trains `config` on `data` into `run`; `resume` names the completed epoch to
/// continue from, with the history the earlier run recorded up to it.
pub fn train(
    config: &ExperimentConfig,
    data: &TrainingData,
    device: &Device,
    run: &RunDir,
    resume: Option<(usize, History)>,
    interrupter: Interrupter,
) -> Result<Trained> {
    let settings = &config.training;
    // Built on the autodiff device: forking a plain-device model would drop its gradients.
    let model =
        MlpSpec::from_config(config).init(config.experiment.seed, &device.clone().autodiff());
    let batches_per_epoch = data.train.len().div_ceil(settings.batch_size);
    let learner = Learner::new(
        model,
        optimizer(config, device),
        scheduler(config, batches_per_epoch)?,
    );
    let (start_epoch, mut history) = resume.unwrap_or_default();
    history.eval_split = data.eval_split;
    // A run that early stopping had ended (stopped while its files were written)
    // trains no further epoch: the Learner asks only after one more.
    let patience = settings.early_stopping;
    let stopped = patience > 0 && selection::should_stop(&history, start_epoch, patience);
    let last_epoch = if stopped {
        start_epoch
    } else {
        settings.epochs
    };
    let recording = Arc::new(Mutex::new(Recording {
        history,
        divergence: None,
    }));
    let epochs = epoch_loop(
        config,
        data,
        device,
        run,
        start_epoch,
        &recording,
        &interrupter,
    )?;
    let (train_loader, eval_loader) = loaders(config, data, start_epoch, device);
    let keep_best = (settings.early_stopping > 0)
        .then(|| KeepBest::new(recording.clone(), settings.early_stopping));
    let stop = interrupter.clone();
    // Built inside: SupervisedTraining cannot move between threads.
    let (model, error, interrupted) = crate::backend::on_training_thread(move || {
        let training = SupervisedTraining::new(&run.root, train_loader, eval_loader)
            .with_training_strategy(TrainingStrategy::Custom(Arc::new(epochs)))
            // metrics.csv is the run's one record of its metrics: no experiment.log.
            .with_application_logger(None)
            .with_default_checkpointers()
            .with_interrupter(stop)
            .renderer(Box::new(SilentRenderer))
            .num_epochs(last_epoch);
        let result = keeping(training, keep_best, start_epoch).launch(learner);
        (result.model, result.error, result.interrupted.is_some())
    });
    if let Some(error) = error {
        return Err(training_failure(&error, run));
    }
    let recorded = std::mem::take(&mut *recording.lock().expect("recording lock"));
    conclude(recorded, interrupted, model, run, settings.early_stopping)
}

/// What stopped the training; a checkpoint that could not be written (a full disk)
/// leaves the earlier ones, so the run can go on from the last of them.
fn training_failure(error: &TrainingError, run: &RunDir) -> anyhow::Error {
    match error {
        TrainingError::Checkpoint(err) => anyhow!(
            "cannot save a checkpoint in {}: {err}: free some space on that disk or make it writable, then continue with `mnist-mlp train <config> --resume`",
            run.checkpoints().display()
        ),
        _ => anyhow!("training failed: {error}"),
    }
}

/// The loaders of the training images (on the autodiff device, from `start_epoch`'s
/// shuffle) and of the images evaluated after each epoch.
fn loaders(
    config: &ExperimentConfig,
    data: &TrainingData,
    start_epoch: usize,
    device: &Device,
) -> (Arc<MnistLoader>, Arc<MnistLoader>) {
    let autodiff = device.clone().autodiff();
    let train = train_loader(config, &data.train, start_epoch, &autodiff);
    let eval = MnistLoader::in_order(MnistBatcher::new(data.eval.clone()), EVAL_BATCH, device);
    (Arc::new(train), Arc::new(eval))
}

/// Which checkpoints `training` keeps: with early stopping the best epoch's (where
/// it also stops), else the last two; and the one it resumes from, if any.
fn keeping<M: LearnerModel>(
    training: SupervisedTraining<M>,
    keep_best: Option<KeepBest>,
    start_epoch: usize,
) -> SupervisedTraining<M> {
    let training = match keep_best {
        Some(keep_best) => training
            .with_checkpointing_strategy(keep_best.clone())
            .early_stopping(keep_best),
        None => training.with_checkpointing_strategy(KeepLastNCheckpoints::new(2)),
    };
    match start_epoch {
        0 => training,
        _ => training.checkpoint(start_epoch),
    }
}

/// Our loop over the epochs from `start_epoch`: each recorded into `recording` and
/// the run's files, shown, and diagnosed on a probe batch.
fn epoch_loop(
    config: &ExperimentConfig,
    data: &TrainingData,
    device: &Device,
    run: &RunDir,
    start_epoch: usize,
    recording: &Arc<Mutex<Recording>>,
    interrupter: &Interrupter,
) -> Result<EpochLoop> {
    let recorder = Recorder::new(
        recording.clone(),
        run.metrics(),
        run.progress(),
        config.training.log_interval,
        data.eval_split,
        interrupter.clone(),
    );
    let mut diagnostics_log = match start_epoch {
        0 => DiagnosticsLog::default(),
        _ => run.diagnostics_log()?,
    };
    diagnostics_log.truncate_to(start_epoch);
    let diagnostics = Diagnostics::new(
        &data.train,
        &device.clone().autodiff(),
        diagnostics_log,
        run.diagnostics(),
    );
    Ok(EpochLoop::new(
        Reporter::new(recorder, data.eval_split),
        diagnostics,
    ))
}

/// How the training ended, and the weights to keep: with early stopping the best
/// epoch's, not the last.
fn conclude(
    recorded: Recording,
    interrupted: bool,
    model: Mlp,
    run: &RunDir,
    early_stopping: usize,
) -> Result<Trained> {
    let Recording {
        history,
        divergence,
    } = recorded;
    let outcome = match (divergence, interrupted) {
        (Some(divergence), _) => Outcome::Diverged(divergence),
        (None, true) => Outcome::Interrupted,
        (None, false) => Outcome::Completed,
    };
    let last_epoch = history.epochs.last().map_or(0, |record| record.epoch);
    let kept_epoch = match history.best_epoch() {
        Some(best) if early_stopping > 0 => best.epoch,
        _ => last_epoch,
    };
    let model = if kept_epoch != last_epoch && matches!(outcome, Outcome::Completed) {
        load_model(run, kept_epoch, model)?
    } else {
        model
    };
    Ok(Trained {
        model,
        history,
        kept_epoch,
        outcome,
    })
}
