//! Learner checkpoints written atomically, so that a kill at any moment leaves
//! every earlier checkpoint loadable, and the search for the last epoch whose
//! model, optimizer and scheduler files are all present.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::Bytes;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};

use crate::fsutil::write_atomic;

/// The three record kinds the Learner saves each epoch, by file-name prefix.
pub const PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// Like Burn's `FileCheckpointer` (`<dir>/<name>-<epoch>.bpk`), but each save goes
/// through a temporary file and a rename.
pub struct AtomicCheckpointer {
    directory: PathBuf,
    name: &'static str,
}

impl AtomicCheckpointer {
    pub fn new(directory: &Path, name: &'static str) -> Self {
        Self {
            directory: directory.to_path_buf(),
            name,
        }
    }
}

pub fn checkpoint_path(directory: &Path, name: &str, epoch: usize) -> PathBuf {
    directory.join(format!("{name}-{epoch}.bpk"))
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        let bytes = record
            .checkpoint_into_bytes()
            .map_err(CheckpointerError::Record)?;
        std::fs::create_dir_all(&self.directory).map_err(CheckpointerError::IOError)?;
        write_atomic(&checkpoint_path(&self.directory, self.name, epoch), &bytes)
            .map_err(|err| CheckpointerError::Unknown(format!("{err:#}")))
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        let path = checkpoint_path(&self.directory, self.name, epoch);
        match std::fs::remove_file(path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(err))
            }
            _ => Ok(()),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        let bytes = std::fs::read(checkpoint_path(&self.directory, self.name, epoch))
            .map_err(CheckpointerError::IOError)?;
        R::checkpoint_from_bytes(Bytes::from_bytes_vec(bytes)).map_err(CheckpointerError::Record)
    }
}

/// Epochs for which a model checkpoint exists, ascending.
pub fn model_epochs(directory: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(directory)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
    epochs
}

/// The newest epoch whose three records exist and decode (`None` when no epoch
/// was completed), checked up front so that a damaged file is reported here
/// rather than as a panic inside the Learner.
pub fn last_complete_epoch(directory: &Path) -> Result<Option<usize>> {
    let Some(&epoch) = model_epochs(directory).iter().rev().find(|&&epoch| {
        PARTS
            .iter()
            .all(|part| checkpoint_path(directory, part, epoch).is_file())
    }) else {
        return Ok(None);
    };
    let check = |part: &str, result: Result<(), RecordError>| {
        result.with_context(|| {
            format!(
                "checkpoint {} is corrupt or truncated: delete it to resume from an earlier epoch, or run with --fresh",
                checkpoint_path(directory, part, epoch).display()
            )
        })
    };
    let read = |part: &str| -> Result<Bytes> {
        let path = checkpoint_path(directory, part, epoch);
        Ok(Bytes::from_bytes_vec(std::fs::read(&path).with_context(
            || format!("cannot read {}", path.display()),
        )?))
    };
    check(
        "model",
        ModuleRecord::checkpoint_from_bytes(read("model")?).map(drop),
    )?;
    check(
        "optim",
        OptimizerRecord::checkpoint_from_bytes(read("optim")?).map(drop),
    )?;
    check(
        "scheduler",
        LrSchedulerRecord::checkpoint_from_bytes(read("scheduler")?).map(drop),
    )?;
    Ok(Some(epoch))
}
