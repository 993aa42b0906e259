//! Training with burn-train's Learner: SGD or Adam over the MNIST training set,
//! the test set as the Learner's validation split (as the assignment's
//! `test_loop`), Burn's atomic checkpoints every epoch, and resume from the last one.

use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::logger::InMemoryMetricLogger;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Interrupter, Learner, SupervisedTraining};

use crate::config::{ExperimentConfig, OptimizerKind};
use crate::data::{Mnist, MnistBatcher, MnistLoader};
use crate::eval::EVAL_BATCH;
#[cfg(feature = "flex")]
use crate::fused::{self, FusedAdam, FusedSgd};
use crate::history::History;
use crate::model::{Mlp, MlpSpec};
use crate::progress::LearnerRenderer;
use crate::record::{Divergence, Recorder, Recording};
use crate::run_dir::RunDir;

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
    pub outcome: Outcome,
}

/// The optimizer the config names (Adam's with PyTorch's defaults unless overridden).
/// Plain SGD and Adam make one fused pass per parameter on flex; momentum, AdamW and
/// the other backends take burn-optim's (the same records either way).
pub fn optimizer(config: &ExperimentConfig, device: &Device) -> ModuleOptimizer {
    let o = &config.optimizer;
    #[cfg(feature = "flex")]
    if fused::is_flex(device) {
        match o.name {
            OptimizerKind::Sgd if o.momentum == 0.0 => return ModuleOptimizer::from(FusedSgd),
            OptimizerKind::Adam => {
                return ModuleOptimizer::from(FusedAdam {
                    beta_1: o.beta1,
                    beta_2: o.beta2,
                    epsilon: o.epsilon,
                });
            }
            _ => {}
        }
    }
    let _ = device; // only the flex build looks at it
    match o.name {
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum((o.momentum > 0.0).then(|| MomentumConfig {
                momentum: o.momentum,
                // PyTorch's SGD: no dampening.
                dampening: 0.0,
                nesterov: o.nesterov,
            }))
            .init(),
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(o.beta1)
            .with_beta_2(o.beta2)
            .with_epsilon(o.epsilon)
            .init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(o.beta1)
            .with_beta_2(o.beta2)
            .with_epsilon(o.epsilon)
            .with_weight_decay(o.weight_decay as f32)
            .init(),
    }
}

/// Batches of the training set, reshuffled every epoch from the experiment's seed;
/// `completed_epochs` already trained (a resumed run) are skipped.
pub fn train_loader(
    config: &ExperimentConfig,
    data: &Mnist,
    completed_epochs: usize,
    device: &Device,
) -> MnistLoader {
    let loader = MnistLoader::in_order(
        MnistBatcher::new(data.train.clone()),
        config.training.batch_size,
        device,
    );
    if config.training.shuffle {
        loader.shuffled(config.experiment.seed, completed_epochs)
    } else {
        loader
    }
}

/// Trains `config` on `data` into `run`; `resume` names the completed epoch to
/// continue from, with the history the earlier run recorded up to it.
pub fn train(
    config: &ExperimentConfig,
    data: &Mnist,
    device: &Device,
    run: &RunDir,
    resume: Option<(usize, History)>,
    interrupter: Interrupter,
) -> Result<Trained> {
    let t = &config.training;
    // Built on the autodiff device: forking a plain-device model would drop its gradients.
    let model =
        MlpSpec::from_config(config).init(config.experiment.seed, &device.clone().autodiff());
    let learner = Learner::new(
        model,
        optimizer(config, device),
        config.optimizer.learning_rate,
    );
    let (start_epoch, history) = resume.unwrap_or((0, History::default()));
    let train_loader = Arc::new(train_loader(config, data, start_epoch, device));
    let test_loader = Arc::new(MnistLoader::in_order(
        MnistBatcher::new(data.test.clone()),
        EVAL_BATCH,
        device,
    ));
    let recording = Arc::new(Mutex::new(Recording {
        history,
        divergence: None,
    }));
    let recorder = Recorder::new(
        recording.clone(),
        run.metrics(),
        t.log_interval,
        interrupter.clone(),
    );
    let stop = interrupter.clone();
    // Built inside: SupervisedTraining cannot move between threads.
    let (model, error, interrupted) = crate::backend::on_training_thread(move || {
        let mut training = SupervisedTraining::new(&run.root, train_loader, test_loader)
            .metrics((AccuracyMetric::new(), LossMetric::new()))
            // metrics.csv is the run's one record of its metrics: no experiment.log, and
            // metrics kept in memory rather than Burn's train/ and valid/ log folders.
            .with_application_logger(None)
            .with_metric_logger(InMemoryMetricLogger::new())
            .with_default_checkpointers()
            .with_checkpointing_strategy(KeepLastNCheckpoints::new(2))
            .with_interrupter(stop)
            .renderer(Box::new(LearnerRenderer::new(recorder)))
            .num_epochs(t.epochs);
        if start_epoch > 0 {
            training = training.checkpoint(start_epoch);
        }
        let result = training.launch(learner);
        (result.model, result.error, result.interrupted.is_some())
    });
    if let Some(error) = error {
        bail!("training failed: {error}");
    }
    let Recording {
        history,
        divergence,
    } = std::mem::take(&mut *recording.lock().expect("recording lock"));
    let outcome = match (divergence, interrupted) {
        (Some(divergence), _) => Outcome::Diverged(divergence),
        (None, true) => Outcome::Interrupted,
        (None, false) => Outcome::Completed,
    };
    Ok(Trained {
        model,
        history,
        outcome,
    })
}
