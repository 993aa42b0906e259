//! One attempt at one trial in this process, under the trial's lock file: any number
//! of processes may work on one sweep folder at once, and the lock makes sure that
//! no trial is trained by two of them.

use std::path::Path;

use anyhow::{Context, Result};

use super::Trial;
use super::folder::SweepDir;
use super::stop::Stop;
use crate::config::ExperimentConfig;
use crate::fsutil::{try_lock, write_atomic};
use crate::run::{RunOptions, run_experiment};
use crate::run_files::RunDir;
use crate::run_files::summary::Summary;

/// What became of one attempt at a trial in this process.
#[derive(Debug)]
pub enum TrialResult {
    Finished(Box<Summary>),
    /// Another process finished it before this one took its lock.
    AlreadyFinished,
    /// Another process holds the trial's lock.
    Busy,
    /// The one-line error, also written to the trial's `.failed` file.
    Failed(String),
    /// Stopped by Ctrl-C; its checkpoints let the next attempt resume it.
    Interrupted,
}

/// Runs (or resumes) one trial under its lock, recording a failure in its `.failed`
/// file rather than returning it: one broken trial must not stop a sweep.
pub fn run_trial(dir: &SweepDir, trial: &Trial, stop: &Stop) -> Result<TrialResult> {
    let Some(_lock) = try_lock(&dir.trial_lock(trial.index))? else {
        return Ok(TrialResult::Busy);
    };
    if dir.status(trial)?.is_finished() {
        return Ok(TrialResult::AlreadyFinished);
    }
    // This attempt's outcome replaces the last one's: a stale failure would be shown for
    // a trial that is training, interrupted or lost.
    let failed = dir.trial_failed(trial.index);
    match std::fs::remove_file(&failed) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("cannot remove {}", failed.display()));
        }
        _ => {}
    }
    match train(&trial.config, &dir.trials(), stop, false) {
        Ok(Some(summary)) => Ok(TrialResult::Finished(Box::new(summary))),
        Ok(None) => Ok(TrialResult::Interrupted),
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            write_atomic(&failed, message.as_bytes())?;
            Ok(TrialResult::Failed(message))
        }
    }
}

/// Trains `config` into `<artifacts>/<name>/`, resuming what an earlier attempt
/// left there unless `fresh`; `None` when Ctrl-C stopped it, which is no failure of the trial.
pub(crate) fn train(
    config: &ExperimentConfig,
    artifacts: &Path,
    stop: &Stop,
    fresh: bool,
) -> Result<Option<Summary>> {
    let run = RunDir::new(artifacts, &config.experiment.name);
    let options = RunOptions {
        artifacts: artifacts.to_path_buf(),
        // A started run resumes from its last complete epoch (or starts over if it has none).
        resume: !fresh && run.config().is_file(),
        fresh,
    };
    match run_experiment(config, &options, stop.interrupter()) {
        Ok(finished) => Ok(Some(finished.summary)),
        Err(_) if stop.asked() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Sweeps and finished trials to test the orchestration with, none of it trained.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::backend::BackendKind;
    use crate::eval::ClassificationReport;
    use crate::sweep::Sweep;

    /// A project folder with a four-trial grid sweep `s` and its sweep folder.
    pub struct Project {
        /// Held so that the folder lasts as long as the project.
        _root: tempfile::TempDir,
        pub sweep: Sweep,
        pub dir: SweepDir,
    }

    impl Project {
        pub fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            std::fs::write(
                root.path().join("base.toml"),
                "[experiment]\nname = \"base\"\n[model]\nhidden = [16]\n[training]\nepochs = 7\n",
            )
            .unwrap();
            let file = root.path().join("s.toml");
            std::fs::write(
                &file,
                "[sweep]\nbase = \"base.toml\"\nvalidation = 100\n\
                 [axes]\n\"optimizer.learning_rate\" = [0.01, 0.02, 0.03, 0.04]\n",
            )
            .unwrap();
            let sweep = Sweep::load(&file).unwrap();
            let dir = SweepDir::new(&root.path().join("artifacts"), &sweep.name);
            dir.check_plan(&sweep, true).unwrap();
            Self {
                _root: root,
                sweep,
                dir,
            }
        }

        /// Writes trial `index`'s summary.json, as a finished run would.
        pub fn finish(&self, index: usize, validation_accuracy: f64, kept_epoch: usize) {
            let run = self.dir.trial(index);
            let summary = summary(
                &self.sweep.trials[index].config,
                validation_accuracy,
                kept_epoch,
            );
            write_summary(&run, &summary);
        }

        /// Leaves trial `index` as a failed attempt does.
        pub fn fail(&self, index: usize, message: &str) {
            std::fs::write(self.dir.trial_failed(index), message).unwrap();
        }

        /// Leaves trial `index` as an attempt stopped before its first epoch ended does.
        pub fn start(&self, index: usize) {
            let run = self.dir.trial(index);
            std::fs::create_dir_all(&run.root).unwrap();
            let config = &self.sweep.trials[index].config;
            std::fs::write(run.config(), config.to_toml()).unwrap();
        }
    }

    /// A finished run's summary of `config`, with made-up figures.
    pub fn summary(
        config: &ExperimentConfig,
        validation_accuracy: f64,
        kept_epoch: usize,
    ) -> Summary {
        let report = ClassificationReport::from_predictions(&[0, 1], &[0, 1]);
        Summary {
            config: config.clone(),
            backend: BackendKind::Flex,
            parameters: 0,
            train_accuracy: 100.0,
            test_accuracy: 99.0,
            train_loss: 0.1,
            test_loss: 0.2,
            validation_accuracy: Some(validation_accuracy),
            validation_loss: Some(0.3),
            epochs_trained: config.training.epochs,
            kept_epoch,
            train_seconds: 1.0,
            classification_report: report.clone(),
            train_classification_report: report,
        }
    }

    pub fn write_summary(run: &RunDir, summary: &Summary) {
        std::fs::create_dir_all(&run.root).unwrap();
        std::fs::write(run.summary(), serde_json::to_string(summary).unwrap()).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::Project;
    use super::*;

    fn stop() -> Stop {
        Stop::new("stopping", "stopped")
    }

    #[test]
    fn a_trial_locked_by_another_process_is_busy_and_left_alone() {
        let project = Project::new();
        let _held = try_lock(&project.dir.trial_lock(1)).unwrap().unwrap();
        let result = run_trial(&project.dir, &project.sweep.trials[1], &stop()).unwrap();
        assert!(matches!(result, TrialResult::Busy), "{result:?}");
        assert!(!project.dir.trial(1).root.exists());
    }

    #[test]
    fn a_trial_finished_meanwhile_is_not_trained_again() {
        let project = Project::new();
        project.finish(2, 90.0, 7);
        let result = run_trial(&project.dir, &project.sweep.trials[2], &stop()).unwrap();
        assert!(matches!(result, TrialResult::AlreadyFinished), "{result:?}");
    }
}
