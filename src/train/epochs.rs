//! The epoch loop burn-train runs our [`Learner`] in: a custom
//! `SupervisedLearningStrategy` with the steps of burn-train's single-device loop
//! (scheduler step, `train_step`, `optimizer_step`; then an evaluation pass, the
//! checkpoint, early stopping), which takes each batch's loss and accuracy and
//! reports them on the training thread itself, and measures the layers' diagnostics.
//!
//! burn-train's own loop hands every step to its metric thread, which hands it on
//! to its event-store thread: two thread wake-ups per step, on a machine whose
//! cores are both busy with the step's products.

use std::sync::Mutex;

use burn::data::dataloader::DataLoader;
use burn::prelude::*;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{
    ClassificationOutput, InferenceStep, Interrupter, Learner, LearnerSummary,
    SupervisedLearningStrategy, SupervisedTrainingEventProcessor, TrainLoader, TrainingComponents,
    ValidLoader,
};

use super::diagnostics::Diagnostics;
use super::progress::Reporter;
use super::record::PassMetrics;
use crate::data::MnistBatch;
use crate::model::Mlp;

/// Trains epoch after epoch, reporting to its [`Reporter`] and measuring for its
/// [`Diagnostics`].
pub struct EpochLoop {
    /// `fit` takes `&self`; the loop is the lock's only user.
    observers: Mutex<(Reporter, Diagnostics)>,
}

impl EpochLoop {
    pub fn new(reporter: Reporter, diagnostics: Diagnostics) -> Self {
        Self {
            observers: Mutex::new((reporter, diagnostics)),
        }
    }
}

impl SupervisedLearningStrategy<Mlp> for EpochLoop {
    fn fit(
        &self,
        components: TrainingComponents<Mlp>,
        mut learner: Learner<Mlp>,
        train: TrainLoader<Mlp>,
        eval: ValidLoader<Mlp>,
        starting_epoch: usize,
    ) -> (Mlp, SupervisedTrainingEventProcessor<Mlp>) {
        let TrainingComponents {
            num_epochs,
            mut checkpointer,
            interrupter,
            mut early_stopping,
            event_store,
            event_processor,
            ..
        } = components;
        let (reporter, diagnostics) = &mut *self.observers.lock().expect("observers lock");
        reporter.start(starting_epoch, num_epochs);
        if let Err(err) = diagnostics.start(&learner.model(), starting_epoch - 1) {
            reporter.warn(&err);
        }
        for epoch in starting_epoch..=num_epochs {
            reporter.start_epoch(epoch, train.num_items());
            let trained = train_pass(&mut learner, &*train, reporter, &interrupter);
            if interrupter.should_stop() {
                break;
            }
            reporter.start_evaluation(eval.num_items());
            let evaluated = eval_pass(&learner.model().valid(), &*eval, reporter, &interrupter);
            if interrupter.should_stop() {
                break;
            }
            // metrics.csv first: the checkpoint's epoch must be in it (resume relies on it).
            reporter.end_epoch(trained, evaluated);
            if let Err(err) = diagnostics.end_epoch(&learner.model(), epoch) {
                reporter.warn(&err);
            }
            if let Some(checkpointer) = &mut checkpointer {
                checkpointer.checkpoint(&learner, epoch, &event_store);
            }
            if let Some(early_stopping) = &mut early_stopping
                && early_stopping.should_stop(epoch, &event_store)
            {
                break;
            }
        }
        reporter.end();
        (learner.model(), event_processor)
    }
}

/// One epoch's training steps, as burn-train's single-device loop runs them.
fn train_pass(
    learner: &mut Learner<Mlp>,
    batches: &dyn DataLoader<MnistBatch>,
    reporter: &mut Reporter,
    interrupter: &Interrupter,
) -> PassMetrics {
    let step = |batch| {
        let output = learner.train_step(batch);
        learner.lr_step();
        learner.optimizer_step(output.grads);
        output.item
    };
    pass(batches, interrupter, step, |loss, images| {
        reporter.batch(loss, images)
    })
}

/// The epoch's evaluation of `model` (without autodiff) on every batch.
fn eval_pass(
    model: &Mlp,
    batches: &dyn DataLoader<MnistBatch>,
    reporter: &mut Reporter,
    interrupter: &Interrupter,
) -> PassMetrics {
    let step = |batch| InferenceStep::step(model, batch);
    pass(batches, interrupter, step, |_, images| {
        reporter.evaluated(images)
    })
}

/// Runs `step` on every batch, until the last or a stop, and tallies its outputs;
/// `done` hears each batch's loss and the images done so far.
fn pass(
    batches: &dyn DataLoader<MnistBatch>,
    interrupter: &Interrupter,
    mut step: impl FnMut(MnistBatch) -> ClassificationOutput,
    mut done: impl FnMut(f64, usize),
) -> PassMetrics {
    let mut tally = Tally::default();
    for batch in batches.iter() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                interrupter.fail(err);
                break;
            }
        };
        let loss = tally.add(step(batch));
        done(loss, tally.images);
        if interrupter.should_stop() {
            break;
        }
    }
    tally.figures()
}

/// Loss and accuracy over a pass, per image: each batch weighs by its size.
/// (burn-train's `LossMetric` weighed every batch alike, so the epoch's last,
/// smaller batch counted as much as a full one; `evaluate` weighs by size too.)
#[derive(Default)]
struct Tally {
    loss_sum: f64,
    correct: i64,
    images: usize,
}

impl Tally {
    /// Adds a batch; returns its mean loss.
    fn add(&mut self, batch: ClassificationOutput) -> f64 {
        let [size, _classes] = batch.output.dims();
        let loss = batch.loss.into_scalar::<f64>();
        let predicted = batch.output.argmax(1).flatten::<1>(0, 1); // [batch]
        self.correct += predicted
            .equal(batch.targets)
            .int()
            .sum()
            .into_scalar::<i64>();
        self.loss_sum += loss * size as f64;
        self.images += size;
        loss
    }

    /// The mean loss and the accuracy in percent (NaN for an empty pass).
    fn figures(&self) -> PassMetrics {
        PassMetrics {
            loss: self.loss_sum / self.images as f64,
            accuracy: 100.0 * self.correct as f64 / self.images as f64,
        }
    }
}

/// What burn-train's event thread renders: nothing, since the [`EpochLoop`]
/// reports on the training thread. `SupervisedTraining` wants a renderer all the
/// same, and would print its own start and end lines without this one.
pub struct SilentRenderer;

impl MetricsRendererTraining for SilentRenderer {
    fn update_train(&mut self, _: MetricState) {}
    fn update_valid(&mut self, _: MetricState) {}
    fn on_train_end(
        &mut self,
        _: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for SilentRenderer {
    fn start(&mut self, _: usize, _: usize, _: Option<usize>, _: Option<&str>) {}
    fn update_epoch(&mut self, _: usize) {}
    fn start_split(&mut self, _: &str, _: usize) {}
    fn update_split(&mut self, _: usize) {}
    fn end_split(&mut self) {}
    fn end(&mut self) {}
    fn log_event_training(&mut self, _: String) {}
}

impl EvaluationProgressLogger for SilentRenderer {
    fn start_global_progress(&mut self, _: usize) {}
    fn start_test(&mut self, _: &str, _: usize) {}
    fn update_test_progress(&mut self, _: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _: String) {}
}

impl MetricsRendererEvaluation for SilentRenderer {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}
}

impl MetricsRenderer for SilentRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _: MetricDefinition) {}
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::backend::BackendKind;

    fn batch(
        logits: Vec<f32>,
        targets: Vec<i64>,
        loss: f32,
        device: &Device,
    ) -> ClassificationOutput {
        let rows = targets.len();
        ClassificationOutput::new(
            Tensor::from_data(TensorData::new(vec![loss], [1]), device),
            Tensor::from_data(TensorData::new(logits, [rows, 2]), device),
            Tensor::from_data(TensorData::new(targets, [rows]), device),
        )
    }

    #[test]
    fn a_pass_weighs_each_batch_by_its_images() {
        let device = BackendKind::default_compiled().device();
        let mut tally = Tally::default();
        // Two images, one classed right, mean loss 1; then one image, right, loss 4.
        let first = batch(vec![3.0, 1.0, 2.0, 0.5], vec![0, 1], 1.0, &device);
        assert_eq!(tally.add(first), 1.0);
        assert_eq!(tally.add(batch(vec![0.0, 1.0], vec![1], 4.0, &device)), 4.0);
        let figures = tally.figures();
        assert_eq!(figures.loss, 2.0);
        assert_eq!(figures.accuracy, 100.0 * 2.0 / 3.0);
        assert_eq!(tally.images, 3);
    }
}
