//! Early stopping and keeping the best epoch, decided from the run's own recorded
//! history rather than burn-train's event store: the history survives a resume
//! (it is metrics.csv), so a resumed run keeps and stops exactly as an unbroken one.

use burn::train::EarlyStoppingStrategy;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::EventStoreClient;

use super::record::SharedRecording;
use crate::run_files::history::History;

/// Keeps the last two epochs' checkpoints (resume needs the newest complete one)
/// and the best one's; stops after `patience` epochs without a better evaluation accuracy.
#[derive(Clone)]
pub struct KeepBest {
    recording: SharedRecording,
    patience: usize,
}

impl KeepBest {
    pub fn new(recording: SharedRecording, patience: usize) -> Self {
        Self {
            recording,
            patience,
        }
    }

    fn history(&self) -> History {
        self.recording
            .lock()
            .expect("recording lock")
            .history
            .clone()
    }
}

/// The best epoch among those up to `epoch` (the earliest of equals).
fn best_up_to(history: &History, epoch: usize) -> Option<usize> {
    let mut upto = history.clone();
    upto.truncate_to(epoch);
    upto.best_epoch().map(|record| record.epoch)
}

/// Save `epoch`; delete the checkpoint two epochs back and a former best, unless
/// either is still among the last two or the best.
pub fn checkpoint_actions(history: &History, epoch: usize) -> Vec<CheckpointingAction> {
    let best = best_up_to(history, epoch);
    let former_best = best_up_to(history, epoch.saturating_sub(1));
    let mut actions = vec![CheckpointingAction::Save];
    let mut doomed: Vec<usize> = [epoch.checked_sub(2), former_best]
        .into_iter()
        .flatten()
        .filter(|&old| old >= 1 && old + 1 < epoch && Some(old) != best)
        .collect();
    doomed.dedup();
    actions.extend(doomed.into_iter().map(CheckpointingAction::Delete));
    actions
}

/// Whether `patience` epochs have passed since the best one.
pub fn should_stop(history: &History, epoch: usize, patience: usize) -> bool {
    best_up_to(history, epoch).is_some_and(|best| epoch - best >= patience)
}

impl CheckpointingStrategy for KeepBest {
    fn checkpointing(&mut self, epoch: usize, _: &EventStoreClient) -> Vec<CheckpointingAction> {
        checkpoint_actions(&self.history(), epoch)
    }
}

impl EarlyStoppingStrategy for KeepBest {
    fn should_stop(&mut self, epoch: usize, _: &EventStoreClient) -> bool {
        should_stop(&self.history(), epoch, self.patience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_files::history::EpochRecord;

    fn history(accuracies: &[f64]) -> History {
        History {
            epochs: accuracies
                .iter()
                .enumerate()
                .map(|(i, &eval_accuracy)| EpochRecord {
                    epoch: i + 1,
                    train_loss: 0.0,
                    train_accuracy: 0.0,
                    eval_loss: 0.0,
                    eval_accuracy,
                    seconds: 0.0,
                })
                .collect(),
            ..History::default()
        }
    }

    /// The checkpoints left after every epoch's actions, as the Learner applies them.
    fn kept_after(accuracies: &[f64]) -> Vec<usize> {
        let h = history(accuracies);
        let mut kept: Vec<usize> = Vec::new();
        for epoch in 1..=accuracies.len() {
            for action in checkpoint_actions(&h, epoch) {
                match action {
                    CheckpointingAction::Save => kept.push(epoch),
                    CheckpointingAction::Delete(old) => {
                        assert!(kept.contains(&old), "epoch {epoch} deletes missing {old}");
                        kept.retain(|&e| e != old);
                    }
                }
            }
        }
        kept
    }

    #[test]
    fn keeps_the_last_two_and_the_best() {
        assert_eq!(kept_after(&[90.0, 91.0, 92.0, 93.0]), [3, 4]);
        assert_eq!(kept_after(&[90.0, 95.0, 92.0, 93.0, 94.0]), [2, 4, 5]);
        // A new best replaces the former one.
        assert_eq!(kept_after(&[90.0, 95.0, 92.0, 96.0, 94.0, 93.0]), [4, 5, 6]);
        // Ties keep the earliest.
        assert_eq!(kept_after(&[95.0, 95.0, 90.0, 90.0]), [1, 3, 4]);
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let h = history(&[90.0, 95.0, 94.0, 95.0, 93.0]);
        assert!(!should_stop(&h, 3, 3));
        assert!(
            !should_stop(&h, 4, 3),
            "equal is not better, but only two epochs passed"
        );
        assert!(should_stop(&h, 5, 3));
        assert!(should_stop(&h, 3, 1));
    }
}
