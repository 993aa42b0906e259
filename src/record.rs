//! What a training run records as the Learner reports it: the cost every
//! `log_interval` iterations and each epoch's figures, kept in a [`History`] and
//! saved to metrics.csv after every epoch; and whether the loss diverged.
//!
//! It listens on the Learner's renderer path rather than as a burn-train
//! `MetricLogger`: the Learner flushes its event processor (and so this) before it
//! checkpoints an epoch, while metric loggers run on a separate, unflushed thread.
//! So metrics.csv always covers every checkpointed epoch, which resume relies on.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::Interrupter;
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::MetricState;

use crate::history::{CostPoint, EpochRecord, EvalSplit, History};

/// The loss stopped being a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergence {
    pub epoch: usize,
    /// The iteration within the epoch, from 1.
    pub iteration: usize,
    pub loss: f64,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "training diverged: the loss became {} in epoch {} at iteration {}; lower [optimizer] learning_rate (e.g. --set optimizer.learning_rate=0.001)",
            self.loss, self.epoch, self.iteration
        )
    }
}

/// What the run has recorded, shared with the caller of the training.
#[derive(Debug, Default)]
pub struct Recording {
    pub history: History,
    pub divergence: Option<Divergence>,
}

/// The recording, filled on the Learner's event thread and read by the caller.
pub type SharedRecording = Arc<Mutex<Recording>>;

/// Per-epoch values gathered as the Learner reports them.
#[derive(Debug, Default)]
struct EpochValues {
    train_loss: f64,
    train_accuracy: f64,
    eval_loss: f64,
    eval_accuracy: f64,
}

pub struct Recorder {
    recording: SharedRecording,
    metrics_csv: PathBuf,
    log_interval: usize,
    names: HashMap<MetricId, String>,
    epoch: usize,
    iteration: usize,
    last_batch_loss: f64,
    epoch_started: Instant,
    values: EpochValues,
    /// False when the epochs evaluate nothing (the Learner's evaluation pass is empty).
    evaluates: bool,
    /// Stops the Learner when the loss diverges.
    interrupter: Interrupter,
}

impl Recorder {
    pub fn new(
        recording: SharedRecording,
        metrics_csv: PathBuf,
        log_interval: usize,
        eval_split: EvalSplit,
        interrupter: Interrupter,
    ) -> Self {
        Self {
            recording,
            metrics_csv,
            log_interval,
            names: HashMap::new(),
            epoch: 1,
            iteration: 0,
            last_batch_loss: f64::NAN,
            epoch_started: Instant::now(),
            values: EpochValues::default(),
            evaluates: eval_split != EvalSplit::Nothing,
            interrupter,
        }
    }

    pub fn register_metric(&mut self, definition: &MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }

    /// The Learner starts (or resumes) at `epoch`.
    pub fn start(&mut self, epoch: usize) {
        self.epoch = epoch;
    }

    /// A metric value of the training (`train`) or evaluation split.
    pub fn metric(&mut self, state: MetricState, train: bool) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id) else {
            return;
        };
        let (value, is_final) = match value {
            NumericEntry::Value(v) => (v, false),
            NumericEntry::Aggregated {
                aggregated_value, ..
            } => (aggregated_value, false),
            NumericEntry::Final(v) => (v, true),
        };
        match (name.as_str(), train, is_final) {
            ("Loss", true, false) => {
                self.last_batch_loss = value;
                self.check_divergence(value);
            }
            ("Loss", true, true) => self.values.train_loss = value,
            ("Accuracy", true, true) => self.values.train_accuracy = value,
            ("Loss", false, true) => self.values.eval_loss = value,
            ("Accuracy", false, true) => self.values.eval_accuracy = value,
            _ => {}
        }
    }

    fn check_divergence(&mut self, loss: f64) {
        let mut recording = self.recording.lock().expect("recording lock");
        if !loss.is_finite() && recording.divergence.is_none() {
            let divergence = Divergence {
                epoch: self.epoch,
                iteration: self.iteration + 1,
                loss,
            };
            recording.divergence = Some(divergence);
            self.interrupter.stop(Some(&divergence.to_string()));
        }
    }

    /// A training epoch begins.
    pub fn start_epoch(&mut self) {
        self.iteration = 0;
        self.epoch_started = Instant::now();
    }

    /// One more training iteration; the cost point when one is due.
    pub fn iteration(&mut self) -> Option<CostPoint> {
        self.iteration += 1;
        if !self.iteration.is_multiple_of(self.log_interval) {
            return None;
        }
        let point = CostPoint {
            epoch: self.epoch,
            iteration: self.iteration,
            cost: self.last_batch_loss,
        };
        let mut recording = self.recording.lock().expect("recording lock");
        recording.history.costs.push(point.clone());
        Some(point)
    }

    /// The epoch is over (training and evaluation pass): its record, also saved to
    /// metrics.csv; `Err` says why saving failed.
    pub fn end_epoch(&mut self) -> (EpochRecord, anyhow::Result<()>) {
        let mut values = std::mem::take(&mut self.values);
        if !self.evaluates {
            (values.eval_loss, values.eval_accuracy) = (f64::NAN, f64::NAN);
        }
        let record = EpochRecord {
            epoch: self.epoch,
            train_loss: values.train_loss,
            train_accuracy: values.train_accuracy,
            eval_loss: values.eval_loss,
            eval_accuracy: values.eval_accuracy,
            seconds: self.epoch_started.elapsed().as_secs_f64(),
        };
        let mut recording = self.recording.lock().expect("recording lock");
        recording.history.epochs.push(record.clone());
        let saved = recording.history.save_csv(&self.metrics_csv);
        self.epoch += 1;
        (record, saved)
    }
}
