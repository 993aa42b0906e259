//! The Learner's renderer: a progress bar with ETA per epoch on a terminal, the
//! assignment's "Cost after iteration N" lines, and one summary line per epoch.
//! It also records those figures into the run's [`History`] and saves
//! `metrics.csv` after every epoch, so an interrupted run keeps its curves.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::Interrupter;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::history::{CostPoint, EpochRecord, History};

/// Prefix of the interruption reason given when the loss is NaN or infinite.
pub const DIVERGED: &str = "training diverged";

/// Shared between the renderer (on the Learner's event thread) and the caller.
pub type SharedHistory = Arc<Mutex<History>>;

/// Per-epoch values gathered as the Learner reports them.
#[derive(Debug, Default)]
struct EpochValues {
    train_loss: f64,
    train_accuracy: f64,
    test_loss: f64,
    test_accuracy: f64,
}

pub struct ProgressRenderer {
    history: SharedHistory,
    metrics_csv: PathBuf,
    log_interval: usize,
    total_epochs: usize,
    epoch: usize,
    in_train_split: bool,
    iteration: usize,
    last_batch_loss: f64,
    epoch_started: Instant,
    values: EpochValues,
    names: HashMap<MetricId, String>,
    bar: ProgressBar,
    /// Stops the Learner when the loss stops being a number.
    interrupter: Interrupter,
}

impl ProgressRenderer {
    pub fn new(
        history: SharedHistory,
        metrics_csv: PathBuf,
        log_interval: usize,
        interrupter: Interrupter,
    ) -> Self {
        Self {
            history,
            metrics_csv,
            log_interval,
            total_epochs: 0,
            epoch: 1,
            in_train_split: true,
            iteration: 0,
            last_batch_loss: f64::NAN,
            epoch_started: Instant::now(),
            values: EpochValues::default(),
            names: HashMap::new(),
            bar: ProgressBar::hidden(),
            interrupter,
        }
    }

    /// Prints above the bar, which works whether or not the bar is drawn.
    fn say(&self, line: String) {
        self.bar.suspend(|| println!("{line}"));
    }

    fn record(&mut self, state: MetricState, train: bool) {
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
                if !value.is_finite() && !self.interrupter.should_stop() {
                    self.interrupter.stop(Some(&format!(
                        "{DIVERGED}: the loss became {value} in epoch {} near iteration {}; lower [optimizer] learning_rate (e.g. --set optimizer.learning_rate=0.001)",
                        self.epoch,
                        self.iteration + 1
                    )));
                }
            }
            ("Loss", true, true) => self.values.train_loss = value,
            ("Accuracy", true, true) => self.values.train_accuracy = value,
            ("Loss", false, true) => self.values.test_loss = value,
            ("Accuracy", false, true) => self.values.test_accuracy = value,
            _ => {}
        }
    }
}

impl MetricsRendererTraining for ProgressRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state, true);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state, false);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for ProgressRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _: Option<usize>,
        _: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch;
    }

    fn update_epoch(&mut self, _epoch: usize) {
        let values = std::mem::take(&mut self.values);
        let record = EpochRecord {
            epoch: self.epoch,
            train_loss: values.train_loss,
            train_accuracy: values.train_accuracy,
            test_loss: values.test_loss,
            test_accuracy: values.test_accuracy,
            seconds: self.epoch_started.elapsed().as_secs_f64(),
        };
        self.say(format!(
            "epoch {:>2}/{}  train loss {:.4}  train acc {:6.2}%  test loss {:.4}  test acc {:6.2}%  ({:.1} s)",
            record.epoch,
            self.total_epochs,
            record.train_loss,
            record.train_accuracy,
            record.test_loss,
            record.test_accuracy,
            record.seconds
        ));
        let mut history = self.history.lock().expect("history lock");
        history.epochs.push(record);
        if let Err(err) = history.save_csv(&self.metrics_csv) {
            self.say(format!("warning: {err:#}"));
        }
        self.epoch += 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.in_train_split = split == "train";
        if !self.in_train_split {
            return;
        }
        self.iteration = 0;
        self.epoch_started = Instant::now();
        self.say(format!(
            "Training for epoch {}/{}",
            self.epoch, self.total_epochs
        ));
        self.bar = ProgressBar::new(total_items as u64).with_style(
            ProgressStyle::with_template(
                "  [{bar:40}] {pos}/{len} images  {elapsed_precise} ETA {eta}  {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
    }

    fn update_split(&mut self, items_processed: usize) {
        if !self.in_train_split {
            return;
        }
        self.iteration += 1;
        self.bar.set_position(items_processed as u64);
        if self.iteration.is_multiple_of(self.log_interval) {
            let point = CostPoint {
                epoch: self.epoch,
                iteration: self.iteration,
                cost: self.last_batch_loss,
            };
            self.bar.set_message(format!("cost {:.4}", point.cost));
            self.say(format!(
                "  Cost after iteration {}: {:.6}",
                point.iteration, point.cost
            ));
            self.history.lock().expect("history lock").costs.push(point);
        }
    }

    fn end_split(&mut self) {
        if self.in_train_split {
            self.bar.finish_and_clear();
        }
    }

    fn end(&mut self) {
        self.bar.finish_and_clear();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for ProgressRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for ProgressRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl MetricsRenderer for ProgressRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id, definition.name.to_string());
    }
}
