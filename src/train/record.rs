//! What a training run records as the epoch loop reports it: the cost every
//! `log_interval` iterations and each epoch's figures, kept in a [`History`] and
//! saved to metrics.csv after every epoch, before the epoch is checkpointed (so
//! metrics.csv covers every checkpointed epoch, which resume relies on); and
//! whether the loss diverged.
//!
//! While training runs it also keeps `progress.json` ([`LiveProgress`]) current,
//! at most about once a second, for `mnist-mlp serve`'s live page.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use burn::train::Interrupter;
use serde::{Deserialize, Serialize};

use crate::fsutil::{read_record, write_atomic};
use crate::run_files::history::{CostPoint, EpochRecord, EvalSplit, History};

/// `progress.json`: where a training in progress is, between two metrics.csv saves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveProgress {
    pub epoch: usize,
    pub total_epochs: usize,
    /// `train`, `valid` (the per-epoch evaluation), or `finishing` (the final
    /// evaluation and the report, after the last epoch).
    pub phase: String,
    /// Images of the current phase done, and in all.
    pub images_done: usize,
    pub images_total: usize,
    /// The latest batch's cost, when it is a number.
    pub last_cost: Option<f64>,
    /// This epoch's cost points so far: metrics.csv receives them only at its end.
    pub costs: Vec<CostPoint>,
    /// Seconds since the Unix epoch when written.
    pub updated: f64,
}

impl LiveProgress {
    /// How often, at most, the file is rewritten.
    pub const INTERVAL: Duration = Duration::from_secs(1);

    /// The run's progress file, if there is one and it parses (it is written atomically,
    /// so it does unless something else wrote it).
    pub fn load(path: &Path) -> Option<Self> {
        serde_json::from_str(&read_record(path).ok()?).ok()
    }
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Keeps progress.json current without writing it more than once per [`LiveProgress::INTERVAL`].
struct ProgressFile {
    path: PathBuf,
    state: LiveProgress,
    written: Option<Instant>,
}

impl ProgressFile {
    /// Writes now if `force` or the interval has passed. A failure only costs the
    /// live page its update, so it is not reported.
    fn write(&mut self, force: bool) {
        if !force
            && self
                .written
                .is_some_and(|t| t.elapsed() < LiveProgress::INTERVAL)
        {
            return;
        }
        self.state.updated = unix_seconds();
        if let Ok(json) = serde_json::to_vec(&self.state) {
            let _ = write_atomic(&self.path, &json);
        }
        self.written = Some(Instant::now());
    }
}

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

/// The recording, filled on the training thread and read by the caller and by
/// early stopping.
pub type SharedRecording = Arc<Mutex<Recording>>;

/// One pass's metrics: the mean loss and the accuracy in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassMetrics {
    pub loss: f64,
    pub accuracy: f64,
}

pub struct Recorder {
    recording: SharedRecording,
    metrics_csv: PathBuf,
    progress: ProgressFile,
    log_interval: usize,
    epoch: usize,
    iteration: usize,
    epoch_started: Instant,
    /// False when the epochs evaluate nothing (their evaluation pass is empty).
    evaluates: bool,
    /// Stops the training when the loss diverges.
    interrupter: Interrupter,
}

impl Recorder {
    /// Records into `metrics_csv`, and `progress_json` while the run goes on.
    pub fn new(
        recording: SharedRecording,
        metrics_csv: PathBuf,
        progress_json: PathBuf,
        log_interval: usize,
        eval_split: EvalSplit,
        interrupter: Interrupter,
    ) -> Self {
        Self {
            recording,
            metrics_csv,
            progress: ProgressFile {
                path: progress_json,
                state: LiveProgress::default(),
                written: None,
            },
            log_interval,
            epoch: 1,
            iteration: 0,
            epoch_started: Instant::now(),
            evaluates: eval_split != EvalSplit::Nothing,
            interrupter,
        }
    }

    /// The training starts (or resumes) at `epoch` of `total_epochs`.
    pub fn start(&mut self, epoch: usize, total_epochs: usize) {
        self.epoch = epoch;
        self.progress.state.epoch = epoch;
        self.progress.state.total_epochs = total_epochs;
    }

    /// A pass over `images` begins: `train` or `valid`.
    pub fn start_phase(&mut self, phase: &str, images: usize) {
        let state = &mut self.progress.state;
        state.epoch = self.epoch;
        state.phase = phase.to_string();
        state.images_done = 0;
        state.images_total = images;
        self.progress.write(false);
    }

    /// The last epoch is over; the final evaluation and the report remain.
    pub fn finishing(&mut self) {
        let state = &mut self.progress.state;
        state.phase = "finishing".to_string();
        state.images_done = 0;
        state.images_total = 0;
        self.progress.write(true);
    }

    /// `images` of the current pass are done.
    pub fn images_done(&mut self, images: usize) {
        self.progress.state.images_done = images;
        self.progress.write(false);
    }

    fn check_divergence(&mut self, loss: f64) {
        if loss.is_finite() {
            return;
        }
        let mut recording = self.recording.lock().expect("recording lock");
        if recording.divergence.is_none() {
            let divergence = Divergence {
                epoch: self.epoch,
                iteration: self.iteration + 1,
                loss,
            };
            recording.divergence = Some(divergence);
            self.interrupter.stop(Some(&divergence.to_string()));
        }
    }

    /// A training epoch begins with `images` to train on.
    pub fn start_epoch(&mut self, images: usize) {
        self.iteration = 0;
        self.epoch_started = Instant::now();
        self.start_phase("train", images);
    }

    /// One more training iteration, whose batch cost `loss`; the cost point when one is due.
    pub fn iteration(&mut self, loss: f64) -> Option<CostPoint> {
        self.check_divergence(loss);
        self.iteration += 1;
        if !self.iteration.is_multiple_of(self.log_interval) {
            return None;
        }
        let point = CostPoint {
            epoch: self.epoch,
            iteration: self.iteration,
            cost: loss,
        };
        self.progress.state.last_cost = point.cost.is_finite().then_some(point.cost);
        if point.cost.is_finite() {
            self.progress.state.costs.push(point.clone());
        }
        let mut recording = self.recording.lock().expect("recording lock");
        recording.history.costs.push(point.clone());
        Some(point)
    }

    /// The epoch is over (training and evaluation pass): its record, also saved to
    /// metrics.csv; `Err` says why saving failed.
    pub fn end_epoch(
        &mut self,
        train: PassMetrics,
        eval: PassMetrics,
    ) -> (EpochRecord, anyhow::Result<()>) {
        let eval = match self.evaluates {
            true => eval,
            false => PassMetrics {
                loss: f64::NAN,
                accuracy: f64::NAN,
            },
        };
        let record = EpochRecord {
            epoch: self.epoch,
            train_loss: train.loss,
            train_accuracy: train.accuracy,
            eval_loss: eval.loss,
            eval_accuracy: eval.accuracy,
            seconds: self.epoch_started.elapsed().as_secs_f64(),
        };
        let mut recording = self.recording.lock().expect("recording lock");
        recording.history.epochs.push(record.clone());
        let saved = recording.history.save_csv(&self.metrics_csv);
        self.epoch += 1;
        // metrics.csv now holds this epoch's cost points.
        self.progress.state.costs.clear();
        (record, saved)
    }
}
