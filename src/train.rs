//! Training with burn-train's Learner: SGD or Adam over the MNIST training set,
//! the test set as the Learner's validation split (as the assignment's
//! `test_loop`), atomic checkpoints every epoch, and resume from the last one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use burn::data::dataloader::DataLoader;
use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Interrupter, Learner, SupervisedTraining};

use crate::checkpoint::AtomicCheckpointer;
use crate::config::{ExperimentConfig, OptimizerKind};
use crate::data::{Mnist, MnistBatch, MnistBatcher, SplitDataset};
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

/// Batches of the training set, reshuffled every pass from the experiment's seed.
pub fn train_loader(config: &ExperimentConfig, data: &Mnist) -> Arc<dyn DataLoader<MnistBatch>> {
    let mut builder = DataLoaderBuilder::new(MnistBatcher::new(data.train.clone()))
        .batch_size(config.training.batch_size);
    if config.training.shuffle {
        builder = builder.shuffle(config.experiment.seed);
    }
    builder.build(SplitDataset::new(&data.train))
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
    let train_loader = train_loader(config, data);
    let test_loader = DataLoaderBuilder::new(MnistBatcher::new(data.test.clone()))
        .batch_size(EVAL_BATCH)
        .build(SplitDataset::new(&data.test));

    let (start_epoch, history) = resume.unwrap_or((0, History::default()));
    // Each pass over the loader draws the next shuffle; replaying the passes of
    // the completed epochs makes a resumed run see the same order as an unbroken one.
    for _ in 0..start_epoch {
        drop(train_loader.iter());
    }
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
