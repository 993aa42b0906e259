//! The run's per-layer diagnostics: measured on the probe batch as training starts
//! and after every epoch, and saved to diagnostics.csv before the epoch is
//! checkpointed, so a resumed run continues the file it left.

use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::Device;

use crate::data::{Digits, MnistBatch, MnistBatcher};
use crate::model::Mlp;
use crate::model::diagnostics::Probe;
use crate::run_files::diagnostics::DiagnosticsLog;

/// Training images every epoch is measured on: the first of the training split.
/// Enough for steady figures (a unit silent on all of them is dead for practical
/// purposes), few enough that the pass over them is small next to an epoch's steps
/// (measured in BENCHMARKS.md).
pub const PROBE_IMAGES: usize = 500;

/// The probe's images, and the log it fills.
pub struct Diagnostics {
    batch: MnistBatch,
    probe: Option<Probe>,
    log: DiagnosticsLog,
    path: PathBuf,
}

impl Diagnostics {
    /// Measures on the first [`PROBE_IMAGES`] of `train` on the autodiff `device`,
    /// continuing `log` (a resumed run's rows up to its checkpoint) into `path`.
    pub fn new(train: &Digits, device: &Device, log: DiagnosticsLog, path: PathBuf) -> Self {
        let indices: Vec<usize> = (0..train.len().min(PROBE_IMAGES)).collect();
        Self {
            batch: MnistBatcher::new(train.clone()).gather(&indices, device),
            probe: None,
            log,
            path,
        }
    }

    /// Training starts after `completed` epochs from `model`: a fresh run records it
    /// as epoch 0, as initialised.
    pub fn start(&mut self, model: &Mlp, completed: usize) -> Result<()> {
        let probe = self.probe.insert(Probe::new(self.batch.clone(), model));
        if completed > 0 {
            return Ok(());
        }
        self.log.rows = probe.measure(model, 0);
        self.log.save(&self.path)
    }

    /// `epoch` is over: `model` measured, and the log saved.
    pub fn end_epoch(&mut self, model: &Mlp, epoch: usize) -> Result<()> {
        let probe = self.probe.as_mut().expect("start runs first");
        self.log.truncate_to(epoch - 1);
        self.log.rows.extend(probe.measure(model, epoch));
        self.log.save(&self.path)
    }
}
