//! `diagnostics.csv`: every layer's figures after every epoch (see
//! [`LayerDiagnostics`]), one row per epoch and layer, rewritten whole after each
//! epoch as metrics.csv is.

use std::path::Path;

use anyhow::{Context, Result};

use crate::fsutil::{read_record, write_atomic};
use crate::model::diagnostics::LayerDiagnostics;

/// The rows recorded so far, epoch by epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiagnosticsLog {
    pub rows: Vec<LayerDiagnostics>,
}

impl DiagnosticsLog {
    /// The rows of `path`; none if the run has not written it (a run from before
    /// diagnostics were recorded, or one that completed no epoch).
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        let context = || {
            format!(
                "cannot read {}: the file is corrupt; delete it to go on without the diagnostics recorded so far",
                path.display()
            )
        };
        let text = read_record(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows = reader.deserialize().collect::<Result<_, _>>();
        Ok(Self {
            rows: rows.with_context(context)?,
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for row in &self.rows {
            writer.serialize(row)?;
        }
        write_atomic(path, &writer.into_inner()?)
    }

    /// Keeps only epochs `..=last_epoch` (used when resuming).
    pub fn truncate_to(&mut self, last_epoch: usize) {
        self.rows.retain(|row| row.epoch <= last_epoch);
    }

    /// The layers' numbers, ascending.
    pub fn layers(&self) -> Vec<usize> {
        let mut layers: Vec<usize> = self.rows.iter().map(|row| row.layer).collect();
        layers.sort_unstable();
        layers.dedup();
        layers
    }

    /// One layer's rows, epoch by epoch.
    pub fn of_layer(&self, layer: usize) -> impl Iterator<Item = &LayerDiagnostics> {
        self.rows.iter().filter(move |row| row.layer == layer)
    }

    /// The row of `layer` after `epoch`.
    pub fn at(&self, epoch: usize, layer: usize) -> Option<&LayerDiagnostics> {
        self.rows
            .iter()
            .find(|row| row.epoch == epoch && row.layer == layer)
    }

    /// The last epoch recorded.
    pub fn last_epoch(&self) -> Option<usize> {
        self.rows.iter().map(|row| row.epoch).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, layer: usize, hidden: bool) -> LayerDiagnostics {
        let figure = |x: f64| hidden.then_some(x);
        LayerDiagnostics {
            epoch,
            layer,
            weight_norm: 10.0 + epoch as f64,
            weight_grad_norm: 0.125,
            bias_grad_norm: 0.0625,
            update_ratio: (epoch > 0).then_some(0.01),
            activation_mean: figure(0.5),
            activation_std: figure(0.25),
            derivative_share: figure(0.75),
            saturated_share: figure(0.1),
            dead_share: figure(0.0),
        }
    }

    #[test]
    fn round_trips_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("diagnostics.csv");
        let mut log = DiagnosticsLog {
            rows: (0..3)
                .flat_map(|epoch| [row(epoch, 1, true), row(epoch, 2, false)])
                .collect(),
        };
        log.save(&path).unwrap();
        assert_eq!(DiagnosticsLog::load(&path).unwrap(), log);
        assert_eq!(log.layers(), [1, 2]);
        assert_eq!(log.at(2, 1).unwrap().weight_norm, 12.0);
        log.truncate_to(1);
        assert_eq!(log.last_epoch(), Some(1));
        assert_eq!(log.of_layer(2).count(), 2);
    }

    #[test]
    fn a_missing_file_is_empty_and_a_corrupt_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("diagnostics.csv");
        assert!(DiagnosticsLog::load(&path).unwrap().rows.is_empty());
        std::fs::write(&path, "epoch,layer\nx,1\n").unwrap();
        let err = DiagnosticsLog::load(&path).unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("is corrupt") && message.contains("delete it"),
            "{message}"
        );
    }
}
