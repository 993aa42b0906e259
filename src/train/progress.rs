//! What the epoch loop reports, handed to the [`Recorder`] and shown on the
//! console: a progress bar with ETA per epoch on a terminal, the assignment's
//! "Cost after iteration N" lines, and one summary line per epoch with the time
//! the run has left.

use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressStyle};

use super::record::{PassMetrics, Recorder};
use crate::run_files::history::{CostPoint, EpochRecord, EvalSplit};

/// What the console shows.
struct Console {
    total_epochs: usize,
    /// "test" or "valid", for the epoch lines; `None` when epochs evaluate nothing.
    eval_label: Option<&'static str>,
    bar: ProgressBar,
    /// The epochs this process trained and their seconds, for the run's ETA
    /// (a resumed run counts only its own).
    epochs_here: usize,
    seconds_here: f64,
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

    fn epoch(&mut self, e: &EpochRecord) {
        self.epochs_here += 1;
        self.seconds_here += e.seconds;
        let left = self.total_epochs.saturating_sub(e.epoch);
        let eta = if left == 0 {
            String::new()
        } else {
            let seconds = self.seconds_here / self.epochs_here as f64 * left as f64;
            format!(", {} left", HumanDuration(Duration::from_secs_f64(seconds)))
        };
        let evaluation = self.eval_label.map_or(String::new(), |label| {
            format!(
                "  {label} loss {:.4}  {label} acc {:6.2}%",
                e.eval_loss, e.eval_accuracy
            )
        });
        self.say(format!(
            "epoch {:>2}/{}  train loss {:.4}  train acc {:6.2}%{evaluation}  ({:.1} s{eta})",
            e.epoch, self.total_epochs, e.train_loss, e.train_accuracy, e.seconds,
        ));
    }
}

/// The run's reporting: each event recorded, then shown.
pub struct Reporter {
    recorder: Recorder,
    console: Console,
}

impl Reporter {
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
                epochs_here: 0,
                seconds_here: 0.0,
            },
        }
    }

    /// The training starts (or resumes) at `epoch` of `total_epochs`.
    pub fn start(&mut self, epoch: usize, total_epochs: usize) {
        self.console.total_epochs = total_epochs;
        self.recorder.start(epoch, total_epochs);
    }

    /// Epoch `epoch`'s training pass begins, over `images`.
    pub fn start_epoch(&mut self, epoch: usize, images: usize) {
        self.recorder.start_epoch(images);
        self.console.start_epoch(epoch, images);
    }

    /// A training batch whose cost was `loss` is done; `images` of the pass are.
    pub fn batch(&mut self, loss: f64, images: usize) {
        self.recorder.images_done(images);
        self.console.bar.set_position(images as u64);
        if let Some(point) = self.recorder.iteration(loss) {
            self.console.cost(&point);
        }
    }

    /// The epoch's evaluation pass begins, over `images`.
    pub fn start_evaluation(&mut self, images: usize) {
        self.console.bar.finish_and_clear();
        self.recorder.start_phase("valid", images);
    }

    /// `images` of the evaluation pass are done.
    pub fn evaluated(&mut self, images: usize) {
        self.recorder.images_done(images);
    }

    /// The epoch is over: recorded (metrics.csv) and shown.
    pub fn end_epoch(&mut self, train: PassMetrics, eval: PassMetrics) {
        let (record, saved) = self.recorder.end_epoch(train, eval);
        self.console.epoch(&record);
        if let Err(err) = saved {
            self.warn(&err);
        }
    }

    /// Something the run could not record; the training goes on.
    pub fn warn(&self, err: &anyhow::Error) {
        self.console.say(format!("warning: {err:#}"));
    }

    /// The epochs are over, or were stopped.
    pub fn end(&mut self) {
        self.console.bar.finish_and_clear();
        // What remains (final evaluation, report) has no progress to show.
        self.recorder.finishing();
    }
}
