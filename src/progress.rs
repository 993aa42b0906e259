//! The Learner's renderer: it hands every event to the [`Recorder`] and shows the
//! run on the console: a progress bar with ETA per epoch on a terminal, the
//! assignment's "Cost after iteration N" lines, and one summary line per epoch.

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::history::{CostPoint, EpochRecord, EvalSplit};
use crate::record::Recorder;

/// What the console shows.
struct Console {
    total_epochs: usize,
    /// "test" or "valid", for the epoch lines; `None` when epochs evaluate nothing.
    eval_label: Option<&'static str>,
    bar: ProgressBar,
}

impl Console {
    /// Prints above the bar, which works whether or not the bar is drawn.
    fn say(&self, line: String) {
        self.bar.suspend(|| println!("{line}"));
    }

    fn start_epoch(&mut self, epoch: usize, images: usize) {
        self.say(format!("Training for epoch {epoch}/{}", self.total_epochs));
        self.bar = ProgressBar::new(images as u64).with_style(
            ProgressStyle::with_template(
                "  [{bar:40}] {pos}/{len} images  {elapsed_precise} ETA {eta}  {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
    }

    fn cost(&self, point: &CostPoint) {
        self.bar.set_message(format!("cost {:.4}", point.cost));
        self.say(format!(
            "  Cost after iteration {}: {:.6}",
            point.iteration, point.cost
        ));
    }

    fn epoch(&self, e: &EpochRecord) {
        let evaluation = self.eval_label.map_or(String::new(), |label| {
            format!(
                "  {label} loss {:.4}  {label} acc {:6.2}%",
                e.eval_loss, e.eval_accuracy
            )
        });
        self.say(format!(
            "epoch {:>2}/{}  train loss {:.4}  train acc {:6.2}%{evaluation}  ({:.1} s)",
            e.epoch, self.total_epochs, e.train_loss, e.train_accuracy, e.seconds,
        ));
    }
}

/// Burn's renderer interface, split between recording and showing.
pub struct LearnerRenderer {
    recorder: Recorder,
    console: Console,
    in_train_split: bool,
    epoch: usize,
}

impl LearnerRenderer {
    pub fn new(recorder: Recorder, eval_split: EvalSplit) -> Self {
        Self {
            recorder,
            console: Console {
                total_epochs: 0,
                eval_label: match eval_split {
                    EvalSplit::Test => Some("test"),
                    EvalSplit::Validation => Some("valid"),
                    EvalSplit::Nothing => None,
                },
                bar: ProgressBar::hidden(),
            },
            in_train_split: true,
            epoch: 1,
        }
    }
}

impl MetricsRendererTraining for LearnerRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.recorder.metric(state, true);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.recorder.metric(state, false);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for LearnerRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _: Option<usize>,
        _: Option<&str>,
    ) {
        self.console.total_epochs = total_epochs;
        self.epoch = starting_epoch;
        self.recorder.start(starting_epoch, total_epochs);
    }

    fn update_epoch(&mut self, _epoch: usize) {
        let (record, saved) = self.recorder.end_epoch();
        self.console.epoch(&record);
        if let Err(err) = saved {
            self.console.say(format!("warning: {err:#}"));
        }
        self.epoch += 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.in_train_split = split == "train";
        if self.in_train_split {
            self.recorder.start_epoch(total_items);
            self.console.start_epoch(self.epoch, total_items);
        } else {
            self.recorder.start_phase("valid", total_items);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        self.recorder.images_done(items_processed);
        if !self.in_train_split {
            return;
        }
        self.console.bar.set_position(items_processed as u64);
        if let Some(point) = self.recorder.iteration() {
            self.console.cost(&point);
        }
    }

    fn end_split(&mut self) {
        if self.in_train_split {
            self.console.bar.finish_and_clear();
        }
    }

    fn end(&mut self) {
        self.console.bar.finish_and_clear();
        // What remains (final evaluation, report) has no progress to show.
        self.recorder.finishing();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for LearnerRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for LearnerRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl MetricsRenderer for LearnerRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.recorder.register_metric(&definition);
    }
}
