//! Training with burn-train's Learner: SGD or Adam over the MNIST training set,
//! the test set as the Learner's validation split (as the assignment's
//! `test_loop`), atomic checkpoints every epoch, and resume from the last one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Interrupter, Learner, SupervisedTraining};

use crate::checkpoint::AtomicCheckpointer;
use crate::config::{ExperimentConfig, OptimizerKind};
use crate::data::{Mnist, MnistBatcher, MnistLoader};
use crate::eval::EVAL_BATCH;
use crate::history::History;
use crate::model::{Mlp, MlpSpec};
use crate::progress::ProgressRenderer;

/// Where the Learner puts its files, and where we put ours.
pub struct TrainPaths<'a> {
    pub run_dir: &'a Path,
    pub checkpoint_dir: &'a Path,
    pub metrics_csv: &'a Path,
}

/// How a training call ended.
pub enum Outcome {
    Completed,
    /// Stopped early (Ctrl-C or divergence); the reason is given.
    Interrupted(String),
}

pub struct Trained {
    /// The final weights, without autodiff.
    pub model: Mlp,
    pub history: History,
    pub outcome: Outcome,
}

pub fn model_spec(config: &ExperimentConfig) -> MlpSpec {
    MlpSpec {
        layer_sizes: config.layer_sizes(),
        activation: config.model.activation,
        init: config.model.init,
        l2: config.optimizer.l2,
    }
}

/// SGD or Adam as the config says (Adam with PyTorch's defaults unless overridden).
pub fn optimizer(config: &ExperimentConfig) -> ModuleOptimizer {
    let o = &config.optimizer;
    match o.name {
        OptimizerKind::Sgd => SgdConfig::new().init(),
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(o.beta1)
            .with_beta_2(o.beta2)
            .with_epsilon(o.epsilon)
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

/// Trains `config` on `data`; `resume` names the completed epoch to continue from,
/// with `history` holding what the earlier run recorded up to it.
pub fn train(
    config: &ExperimentConfig,
    data: &Mnist,
    device: &Device,
    paths: &TrainPaths,
    resume: Option<(usize, History)>,
    interrupter: Interrupter,
) -> Result<Trained> {
    let t = &config.training;
    // Built on the autodiff device: forking a plain-device model would drop its gradients.
    let model = model_spec(config).init(config.experiment.seed, &device.clone().autodiff());
    let learner = Learner::new(model, optimizer(config), config.optimizer.learning_rate);
    let (start_epoch, history) = resume.unwrap_or((0, History::default()));
    let train_loader = Arc::new(train_loader(config, data, start_epoch, device));
    let test_loader = Arc::new(MnistLoader::in_order(
        MnistBatcher::new(data.test.clone()),
        EVAL_BATCH,
        device,
    ));
    let history = Arc::new(Mutex::new(history));
    let renderer = ProgressRenderer::new(
        history.clone(),
        paths.metrics_csv.to_path_buf(),
        t.log_interval,
        interrupter.clone(),
    );
    let stop = interrupter.clone();
    // Built inside: SupervisedTraining cannot move between threads.
    let (model, error, interrupted) = crate::backend::on_training_thread(move || {
        let checkpointer = |name| AtomicCheckpointer::new(paths.checkpoint_dir, name);
        let mut training = SupervisedTraining::new(paths.run_dir, train_loader, test_loader)
            .metrics((AccuracyMetric::new(), LossMetric::new()))
            .with_custom_checkpointers(
                checkpointer("model"),
                checkpointer("optim"),
                checkpointer("scheduler"),
            )
            .with_checkpointing_strategy(KeepLastNCheckpoints::new(2))
            .with_interrupter(stop)
            .renderer(Box::new(renderer))
            .num_epochs(t.epochs);
        if start_epoch > 0 {
            training = training.checkpoint(start_epoch);
        }
        let result = training.launch(learner);
        (result.model, result.error, result.interrupted)
    });
    if let Some(error) = error {
        bail!("training failed: {error}");
    }
    let history = history.lock().expect("history lock").clone();
    let outcome = match interrupted {
        Some(interruption) => Outcome::Interrupted(
            interruption
                .reason
                .unwrap_or_else(|| "interrupted".to_string()),
        ),
        None => Outcome::Completed,
    };
    Ok(Trained {
        model,
        history,
        outcome,
    })
}
