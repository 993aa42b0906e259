//! Which epoch a run can resume from: the newest whose model, optimizer and
//! scheduler checkpoints are all present and decode. Burn's `FileCheckpointer`
//! writes them atomically (burn-pack's writer: temporary file, fsync, rename);
//! checking them here turns a damaged file into a message instead of the
//! Learner's panic (`expect("Can load model checkpoint.")`).

use std::io;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::Bytes;
use burn::train::checkpoint::Checkpoint;

use burn::module::Module;

use crate::fsutil;
use crate::model::Mlp;
use crate::run_files::{CHECKPOINT_PARTS, RunDir};

/// The newest epoch up to `at_most` whose three records exist and decode, `None`
/// when no such epoch was completed. A record longer than a model of `parameters` can need is refused
/// unread: two f32 words a parameter (Adam's moments; the weights take one) and
/// their names.
pub fn last_complete_epoch(
    run: &RunDir,
    parameters: usize,
    at_most: usize,
) -> Result<Option<usize>> {
    let Some(&epoch) = run.checkpoint_epochs().iter().rev().find(|&&epoch| {
        epoch <= at_most
            && CHECKPOINT_PARTS
                .iter()
                .all(|part| run.checkpoint(part, epoch).is_file())
    }) else {
        return Ok(None);
    };
    let decodes = |part: &str, decode: fn(Bytes) -> Result<(), RecordError>| -> Result<()> {
        let path = run.checkpoint(part, epoch);
        let most = 8 * parameters as u64 + (1 << 20);
        let bytes = read_within(&path, most)?;
        decode(Bytes::from_bytes_vec(bytes)).with_context(|| {
            format!(
                "checkpoint {} is corrupt or truncated: delete it to resume from an earlier epoch, or run with --fresh",
                path.display()
            )
        })
    };
    decodes("model", |b| {
        ModuleRecord::checkpoint_from_bytes(b).map(drop)
    })?;
    decodes("optim", |b| {
        OptimizerRecord::checkpoint_from_bytes(b).map(drop)
    })?;
    decodes("scheduler", |b| {
        LrSchedulerRecord::checkpoint_from_bytes(b).map(drop)
    })?;
    Ok(Some(epoch))
}

/// The bytes of the checkpoint record `path`, refused unread past `most`.
fn read_within(path: &Path, most: u64) -> Result<Vec<u8>> {
    fsutil::read_within(path, most).map_err(|err| {
        if err.kind() != io::ErrorKind::InvalidData {
            return anyhow!(err).context(format!("cannot read {}", path.display()));
        }
        let length = std::fs::metadata(path).map_or(0, |meta| meta.len());
        anyhow!(
            "checkpoint {} is {length} bytes, more than this run's model can need ({most}): it is not this run's; delete that epoch's files to resume from an earlier one, or run with --fresh",
            path.display()
        )
    })
}

/// `model` with the weights of epoch `epoch`'s checkpoint, refused when they do not fit
/// it tensor for tensor (a checkpoint copied from another run): burn's own resume
/// panics on such a record, so a resume loads it here first.
pub fn load_model(run: &RunDir, epoch: usize, model: Mlp) -> Result<Mlp> {
    let path = run.checkpoint("model", epoch);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let record =
        ModuleRecord::checkpoint_from_bytes(Bytes::from_bytes_vec(bytes)).with_context(|| {
            format!(
                "checkpoint {} is corrupt: train the run again",
                path.display()
            )
        })?;
    model.try_load_record(record).map_err(|err| {
        anyhow!(
            "checkpoint {} does not fit this run's model ({}): it is not this run's; delete that epoch's files to resume from an earlier one, or run with --fresh",
            path.display(),
            fsutil::printable(&err.to_string(), None)
        )
    })
}
