//! `summary.json`: a finished run's config and headline figures, written last so its
//! presence marks the run finished.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::RunDir;
use crate::backend::BackendKind;
use crate::config::ExperimentConfig;
use crate::eval::ClassificationReport;
use crate::fsutil;

/// `summary.json`: the run's config and headline figures, with its reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub config: ExperimentConfig,
    pub backend: BackendKind,
    pub parameters: usize,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    pub train_loss: f64,
    pub test_loss: f64,
    /// On the held-out training images of `[data] validation`; absent without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f64>,
    /// Epochs run: fewer than configured when early stopping ended the run.
    #[serde(default)]
    pub epochs_trained: usize,
    /// The epoch whose weights were kept: the best validation epoch with early
    /// stopping, else the last.
    #[serde(default)]
    pub kept_epoch: usize,
    /// Sum of the epochs' wall times, including those of an interrupted earlier part.
    pub train_seconds: f64,
    pub classification_report: ClassificationReport,
    pub train_classification_report: ClassificationReport,
}

impl Summary {
    /// Reads a finished run's `summary.json`.
    pub fn load(run: &RunDir) -> Result<Self> {
        let path = run.summary();
        let text = fsutil::read_own_text(&path).map_err(|err| {
            anyhow::anyhow!(
                "cannot read {} ({}): is {} a finished run folder?",
                path.display(),
                fsutil::why_unreadable(&err),
                run.root.display()
            )
        })?;
        let corrupt = || format!("{} is corrupt: train the run again", path.display());
        let summary: Self = serde_json::from_str(&text).with_context(corrupt)?;
        // Its config is printed and compared as ours, so it must be one we could have written.
        summary.config.validate().with_context(corrupt)?;
        Ok(summary)
    }
}
