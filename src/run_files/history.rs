//! What a run records as it goes: the cost every `log_interval` iterations and
//! the per-epoch losses and accuracies, kept as `metrics.csv` in the run folder.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fsutil::{read_record, write_atomic};

/// The training cost (softmax cross-entropy of one batch) at one logged iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    pub epoch: usize,
    /// Iteration within the epoch, counted from 1, as the assignment prints it.
    pub iteration: usize,
    pub cost: f64,
}

/// The images a run evaluates after every epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvalSplit {
    /// The test set, as the assignment's `test_loop` does.
    #[default]
    Test,
    /// Training images held out by `[data] validation`.
    Validation,
    /// None: the test set is evaluated once, after the last epoch.
    Nothing,
}

impl EvalSplit {
    /// "test", "validation" or "no", for labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Validation => "validation",
            Self::Nothing => "no",
        }
    }
}

/// End-of-epoch figures; losses are means, accuracies in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// On the run's [`EvalSplit`]; NaN when it evaluates nothing.
    pub eval_loss: f64,
    pub eval_accuracy: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub costs: Vec<CostPoint>,
    pub epochs: Vec<EpochRecord>,
    pub eval_split: EvalSplit,
}

/// One CSV row; `kind` tells a cost row (`cost`) from an epoch row (`epoch`), and
/// the per-epoch evaluation fills the `test_` or the `valid_` columns.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Row {
    kind: String,
    epoch: usize,
    iteration: Option<usize>,
    cost: Option<f64>,
    train_loss: Option<f64>,
    train_accuracy: Option<f64>,
    test_loss: Option<f64>,
    test_accuracy: Option<f64>,
    #[serde(default)]
    valid_loss: Option<f64>,
    #[serde(default)]
    valid_accuracy: Option<f64>,
    seconds: Option<f64>,
}

impl History {
    /// Keeps only what epochs `..=last_epoch` recorded (used when resuming).
    pub fn truncate_to(&mut self, last_epoch: usize) {
        self.costs.retain(|point| point.epoch <= last_epoch);
        self.epochs.retain(|record| record.epoch <= last_epoch);
    }

    /// The epoch with the highest evaluation accuracy (the earliest among equals).
    pub fn best_epoch(&self) -> Option<&EpochRecord> {
        self.epochs.iter().reduce(|best, record| {
            if record.eval_accuracy > best.eval_accuracy {
                record
            } else {
                best
            }
        })
    }

    pub fn save_csv(&self, path: &Path) -> Result<()> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for point in &self.costs {
            writer.serialize(Row {
                kind: "cost".into(),
                epoch: point.epoch,
                iteration: Some(point.iteration),
                cost: Some(point.cost),
                ..Row::default()
            })?;
        }
        for record in &self.epochs {
            let (loss, accuracy) = (Some(record.eval_loss), Some(record.eval_accuracy));
            let mut row = Row {
                kind: "epoch".into(),
                epoch: record.epoch,
                train_loss: Some(record.train_loss),
                train_accuracy: Some(record.train_accuracy),
                seconds: Some(record.seconds),
                ..Row::default()
            };
            match self.eval_split {
                EvalSplit::Test => (row.test_loss, row.test_accuracy) = (loss, accuracy),
                EvalSplit::Validation => (row.valid_loss, row.valid_accuracy) = (loss, accuracy),
                EvalSplit::Nothing => {}
            }
            writer.serialize(row)?;
        }
        write_atomic(path, &writer.into_inner()?)
    }

    pub fn load_csv(path: &Path) -> Result<Self> {
        let text = read_record(path).with_context(|| format!("cannot read {}", path.display()))?;
        let context = || {
            format!(
                "cannot read {}: the file is corrupt, and the epochs' figures are kept nowhere else: train the run again with --fresh to record them anew",
                path.display()
            )
        };
        let mut history = Self::default();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for row in reader.deserialize::<Row>() {
            let row = row.with_context(context)?;
            match row.kind.as_str() {
                "cost" => history.costs.push(CostPoint {
                    epoch: row.epoch,
                    iteration: row.iteration.unwrap_or_default(),
                    cost: row.cost.unwrap_or(f64::NAN),
                }),
                _ => {
                    let (loss, accuracy) = if row.valid_accuracy.is_some() {
                        history.eval_split = EvalSplit::Validation;
                        (row.valid_loss, row.valid_accuracy)
                    } else if row.test_accuracy.is_some() {
                        (row.test_loss, row.test_accuracy)
                    } else {
                        history.eval_split = EvalSplit::Nothing;
                        (None, None)
                    };
                    history.epochs.push(EpochRecord {
                        epoch: row.epoch,
                        train_loss: row.train_loss.unwrap_or(f64::NAN),
                        train_accuracy: row.train_accuracy.unwrap_or(f64::NAN),
                        eval_loss: loss.unwrap_or(f64::NAN),
                        eval_accuracy: accuracy.unwrap_or(f64::NAN),
                        seconds: row.seconds.unwrap_or(f64::NAN),
                    })
                }
            }
        }
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_truncate() {
        for eval_split in [EvalSplit::Test, EvalSplit::Validation] {
            round_trip_and_truncate(eval_split);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let record = EpochRecord {
            epoch: 1,
            train_loss: 0.3,
            train_accuracy: 91.0,
            eval_loss: f64::NAN,
            eval_accuracy: f64::NAN,
            seconds: 1.5,
        };
        let nothing = History {
            epochs: vec![record],
            eval_split: EvalSplit::Nothing,
            ..History::default()
        };
        nothing.save_csv(&path).unwrap();
        let loaded = History::load_csv(&path).unwrap();
        assert_eq!(loaded.eval_split, EvalSplit::Nothing);
        assert!(loaded.epochs[0].eval_accuracy.is_nan());
    }

    fn round_trip_and_truncate(eval_split: EvalSplit) {
        let mut history = History {
            eval_split,
            costs: vec![
                CostPoint {
                    epoch: 1,
                    iteration: 200,
                    cost: 0.5,
                },
                CostPoint {
                    epoch: 2,
                    iteration: 200,
                    cost: 0.25,
                },
            ],
            epochs: (1..=2)
                .map(|epoch| EpochRecord {
                    epoch,
                    train_loss: 0.3,
                    train_accuracy: 91.0,
                    eval_loss: 0.2,
                    eval_accuracy: 94.5 + epoch as f64,
                    seconds: 1.5,
                })
                .collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        history.save_csv(&path).unwrap();
        assert_eq!(History::load_csv(&path).unwrap(), history);
        assert_eq!(history.best_epoch().unwrap().epoch, 2);
        history.truncate_to(1);
        assert_eq!(history.costs.len(), 1);
        assert_eq!(history.epochs.len(), 1);
    }
}
