//! What a new run may do with the folder it is given: continue an interrupted run,
//! replace a finished run of the same config, or refuse, so nothing is lost.

use anyhow::{Context, Result, bail};
use burn::prelude::Device;

use crate::config::ExperimentConfig;
use crate::model::MlpSpec;
use crate::run_files::RunDir;
use crate::run_files::history::History;
use crate::weights::checkpoint::{last_complete_epoch, load_model};

/// A new run replaces a finished run of the same config (the assignment's habit of
/// re-running an experiment), but never silently discards an interrupted run or a
/// finished run of another config.
pub fn refuse_to_discard(dir: &RunDir, config: &ExperimentConfig, fresh: bool) -> Result<()> {
    if fresh {
        return Ok(());
    }
    let root = dir.root.display();
    if !dir.is_finished() {
        if !dir.checkpoint_epochs().is_empty() {
            if !dir.config().is_file() {
                return Err(nothing_to_resume(dir));
            }
            bail!(
                "{root} holds an interrupted run: continue it with --resume, or discard it with --fresh"
            );
        }
        return Ok(());
    }
    let saved = dir
        .config_text()
        .map_err(anyhow::Error::from)
        .and_then(|text| ExperimentConfig::parse(&text, &[]));
    let changes = match &saved {
        Ok(saved) => saved.differences(config, &[]),
        Err(_) => vec![format!("its {} cannot be read", dir.config().display())],
    };
    if !changes.is_empty() {
        bail!(
            "{root} holds a finished run of another config ({}): replace it with --fresh, or keep it and choose another name with --set experiment.name=NAME",
            changes.join(", ")
        );
    }
    Ok(())
}

/// The error for `--resume` where there is nothing to resume.
pub fn nothing_to_resume(dir: &RunDir) -> anyhow::Error {
    if !dir.checkpoint_epochs().is_empty() {
        return anyhow::anyhow!(
            "{} holds checkpoints but no config.toml (a replacement of the run was stopped part-way): start over with --fresh",
            dir.root.display()
        );
    }
    anyhow::anyhow!(
        "no complete checkpoint in {}: nothing to resume; run without --resume to start training",
        dir.checkpoints().display()
    )
}

/// What a resumed run may change: how long it trains, where its data now lives
/// (only while the checksums vouch for the digits) and its description. Any other
/// change would train the epochs after the checkpoint unlike those before it, under
/// a config.toml that names one setting for all of them.
const CHANGES_ON_RESUME: [&str; 3] = ["training.epochs", "data.dir", "experiment.description"];

/// [`CHANGES_ON_RESUME`] for a run on unchecked data (verify = false): another folder
/// may hold other digits, so it stays where it was.
const CHANGES_ON_UNCHECKED_RESUME: [&str; 2] = ["training.epochs", "experiment.description"];

/// The completed epoch to continue from and the history up to it; `None` when
/// the interrupted run completed no epoch, so it starts over as it began.
pub fn prepare_resume(
    dir: &RunDir,
    config: &ExperimentConfig,
    device: &Device,
) -> Result<Option<(usize, History)>> {
    let saved = dir.config_text().map_err(|_| nothing_to_resume(dir))?;
    let saved = ExperimentConfig::parse(&saved, &[])
        .with_context(|| format!("{} is corrupt", dir.config().display()))?;
    // Burn's checkpointer writes (and prunes) inside it: never through a link.
    let checkpoints = std::fs::symlink_metadata(dir.checkpoints());
    if checkpoints.is_ok_and(|meta| meta.file_type().is_symlink()) {
        bail!(
            "{} is a symbolic link, and checkpoints are never written through one: replace it with the folder itself, or start over with --fresh",
            dir.checkpoints().display()
        );
    }
    let allowed: &[&str] = if saved.data.verify {
        &CHANGES_ON_RESUME
    } else {
        &CHANGES_ON_UNCHECKED_RESUME
    };
    let changes = saved.differences(config, allowed);
    if !changes.is_empty() {
        bail!(
            "{} was started with another config ({}): resume with the config it was started with (its copy is {}; --epochs may differ), or start over with --fresh",
            dir.root.display(),
            changes.join(", "),
            dir.config().display()
        );
    }
    let parameters = config
        .parameter_count()
        .expect("a validated config counts its parameters");
    // metrics.csv is written before each checkpoint, so a newer checkpoint is one
    // whose record failed to be written (a disk full for a moment) or was copied in:
    // the run goes on from the newest the records cover, which resumes exactly.
    let mut history = dir.history()?;
    let recorded = history.epochs.last().map_or(0, |record| record.epoch);
    let Some(epoch) = last_complete_epoch(dir, parameters, recorded)? else {
        eprintln!(
            "{} completed no epoch before it stopped: starting from epoch 1",
            dir.root.display()
        );
        return Ok(None);
    };
    if dir
        .checkpoint_epochs()
        .last()
        .is_some_and(|&newest| newest > epoch)
    {
        eprintln!(
            "{} records {recorded} epochs in metrics.csv: resuming from its checkpoint of epoch {epoch}, not a newer one",
            dir.root.display()
        );
    }
    let model = MlpSpec::from_config(config).init(config.experiment.seed, device);
    load_model(dir, epoch, model)?;
    refuse_shortening(dir, config, epoch)?;
    history.truncate_to(epoch);
    eprintln!("resuming {} after epoch {epoch}", dir.root.display());
    Ok(Some((epoch, history)))
}

/// Refuses to resume from the checkpoint of `epoch` past the epochs the config now
/// asks for: the run would end with more trained than its summary says.
fn refuse_shortening(dir: &RunDir, config: &ExperimentConfig, epoch: usize) -> Result<()> {
    let asked = config.training.epochs;
    if epoch > asked {
        bail!(
            "{} has trained {epoch} epochs, more than [training] epochs = {asked}: resume with --epochs {epoch} or more, or start over with --fresh",
            dir.root.display()
        );
    }
    Ok(())
}
