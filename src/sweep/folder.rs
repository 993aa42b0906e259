//! The layout of a sweep folder, `artifacts/sweeps/<name>/`: every file a sweep
//! writes is named here, `plan.json` ties the folder to the trials it was made for,
//! and each trial's state is read back from its files alone, so that any process
//! (a `--trial` on another node, `--collect`) sees the same thing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::{Sweep, Trial, trial_name};
use crate::fsutil::{self, printable, write_new};
use crate::limits::MAX_RECORD_BYTES;
use crate::run_files::RunDir;
use crate::run_files::summary::Summary;

/// The winner retrained on the whole training set: `final/`, and its experiment name.
pub const FINAL: &str = "final";

/// One sweep's folder.
#[derive(Debug, Clone)]
pub struct SweepDir {
    pub root: PathBuf,
}

/// Where a trial stands, as its files tell.
#[derive(Debug)]
pub enum TrialStatus {
    Finished(Box<Summary>),
    /// The last attempt's one-line error; running the sweep again retries it.
    Failed(String),
    /// Started and stopped (or still running elsewhere), with the epochs checkpointed.
    Interrupted {
        epochs: usize,
    },
    NotStarted,
}

impl TrialStatus {
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Finished(_))
    }

    /// One phrase for `--list` and leaderboard.md.
    pub fn describe(&self) -> String {
        match self {
            Self::Finished(summary) => match summary.validation_accuracy {
                Some(accuracy) => format!("finished: validation accuracy {accuracy:.2} %"),
                None => "finished (no validation figures)".to_string(),
            },
            Self::Failed(message) => format!("failed: {message}"),
            Self::Interrupted { epochs: 0 } => {
                "interrupted before its first epoch ended".to_string()
            }
            Self::Interrupted { epochs } => format!("interrupted after epoch {epochs}"),
            Self::NotStarted => "not started".to_string(),
        }
    }
}

/// `plan.json`: the base config and every trial's overrides at the sweep's first start.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Plan {
    base: String,
    trials: Vec<Vec<String>>,
}

impl Plan {
    fn of(sweep: &Sweep) -> Self {
        Self {
            base: sweep.base_config.clone(),
            trials: sweep.trials.iter().map(|t| t.overrides.clone()).collect(),
        }
    }
}

impl SweepDir {
    /// `<artifacts>/sweeps/<name>/`.
    pub fn new(artifacts: &Path, name: &str) -> Self {
        Self {
            root: artifacts.join("sweeps").join(name),
        }
    }

    pub fn plan(&self) -> PathBuf {
        self.root.join("plan.json")
    }

    /// The trials' run folders (and their lock, failure and log files) go here.
    pub fn trials(&self) -> PathBuf {
        self.root.join("trials")
    }

    pub fn trial(&self, index: usize) -> RunDir {
        RunDir::new(&self.trials(), &trial_name(index))
    }

    /// Held by the process running the trial.
    pub fn trial_lock(&self, index: usize) -> PathBuf {
        self.trials().join(format!("{}.lock", trial_name(index)))
    }

    /// The one-line error of the trial's last failed attempt.
    pub fn trial_failed(&self, index: usize) -> PathBuf {
        self.trials().join(format!("{}.failed", trial_name(index)))
    }

    /// The console output of a trial run as a child of `--jobs`.
    pub fn trial_log(&self, index: usize) -> PathBuf {
        self.trials().join(format!("{}.log", trial_name(index)))
    }

    pub fn final_run(&self) -> RunDir {
        RunDir::new(&self.root, FINAL)
    }

    pub fn final_lock(&self) -> PathBuf {
        self.root.join(format!("{FINAL}.lock"))
    }

    /// Held while the leaderboard files are rebuilt.
    pub fn leaderboard_lock(&self) -> PathBuf {
        self.root.join("leaderboard.lock")
    }

    pub fn leaderboard_csv(&self) -> PathBuf {
        self.root.join("leaderboard.csv")
    }

    pub fn leaderboard_md(&self) -> PathBuf {
        self.root.join("leaderboard.md")
    }

    /// The figure of validation accuracy against the axis `key`.
    pub fn figure(&self, key: &str) -> PathBuf {
        self.root.join(figure_name(key))
    }

    /// What `trial`'s files say. A run there of another config than the plan's (its
    /// folder copied in, or left by a sweep whose plan.json was replaced) is no result
    /// of this sweep's: it fails, rather than being ranked under this trial's label.
    pub fn status(&self, trial: &Trial) -> Result<TrialStatus> {
        let index = trial.index;
        let run = self.trial(index);
        if run.is_finished() {
            // A damaged summary fails its trial alone; the retry trains it again.
            return Ok(match Summary::load(&run) {
                Ok(summary) if summary.config == trial.config => {
                    TrialStatus::Finished(Box::new(summary))
                }
                Ok(summary) => TrialStatus::Failed(format!(
                    "{} holds a run of another config than this sweep plans ({}): delete that folder to train the trial again",
                    run.root.display(),
                    printable(
                        &summary.config.differences(&trial.config, &[]).join(", "),
                        None
                    )
                )),
                Err(err) => TrialStatus::Failed(printable(&format!("{err:#}"), None)),
            });
        }
        if let Ok(message) = fsutil::read_text(&self.trial_failed(index)) {
            return Ok(TrialStatus::Failed(printable(message.trim(), None)));
        }
        if run.config().is_file() {
            let epochs = run.checkpoint_epochs().last().copied().unwrap_or(0);
            return Ok(TrialStatus::Interrupted { epochs });
        }
        Ok(TrialStatus::NotStarted)
    }

    /// Refuses a folder planned for other trials: its results would be mixed with
    /// this sweep's. With `write`, a new folder is made with its `plan.json`.
    pub fn check_plan(&self, sweep: &Sweep, write: bool) -> Result<()> {
        let plan = Plan::of(sweep);
        if write {
            self.claim(&plan)?;
        }
        let path = self.plan();
        let planned = fsutil::read_record(&path).map(|text| serde_json::from_str::<Plan>(&text));
        match planned {
            Ok(Ok(planned)) if planned == plan => {}
            Ok(Err(err)) => bail!(
                "{} is damaged ({err}): delete the sweep folder {} to start the sweep over",
                path.display(),
                self.root.display()
            ),
            Ok(Ok(_)) => bail!(
                "{} holds a sweep planned from a different sweep file or base config: give this one a new [sweep] name, or delete that folder to start over",
                self.root.display()
            ),
            // Only a sweep never run: `claim` has made it otherwise.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", path.display()));
            }
        }
        if write {
            create_folder(&self.trials(), &self.root)?;
        }
        Ok(())
    }

    /// Makes the folder ours with `plan`, unless it already has a plan (for the
    /// caller to compare). A folder holding anything else is the user's and is
    /// refused untouched; of processes starting together, the first plan stands.
    fn claim(&self, plan: &Plan) -> Result<()> {
        if self.plan().symlink_metadata().is_ok() {
            return Ok(());
        }
        // What another sweep process starting now may have written is not the user's.
        let ours = |name: &std::ffi::OsStr| {
            name == "plan.json" || name == "trials" || fsutil::is_temporary(&name.to_string_lossy())
        };
        let occupied = std::fs::read_dir(&self.root)
            .is_ok_and(|entries| entries.flatten().any(|entry| !ours(&entry.file_name())));
        if occupied
            || self
                .root
                .symlink_metadata()
                .is_ok_and(|meta| !meta.is_dir())
        {
            bail!(
                "{} exists and is not a mnist-mlp sweep folder (it has no plan.json): nothing was changed; give this sweep another [sweep] name, or move that folder away",
                self.root.display()
            );
        }
        // It is read back whole, up to the limit on any record of ours.
        let text = serde_json::to_string_pretty(plan)?;
        if text.len() as u64 > MAX_RECORD_BYTES {
            bail!(
                "the sweep's plan takes {} MiB, more than the {} MiB a sweep's plan.json may hold: plan fewer trials, or shorter values in [set] and [axes]",
                text.len() >> 20,
                MAX_RECORD_BYTES >> 20
            );
        }
        create_folder(&self.root, &self.root)?;
        write_new(&self.plan(), text.as_bytes())?;
        Ok(())
    }
}

/// Creates `folder` (and its parents) for the sweep in `root`.
fn create_folder(folder: &Path, root: &Path) -> Result<()> {
    crate::fsutil::create_folder(
        folder,
        &format!("the sweep folder for {}", root.display()),
        "choose another folder with --artifacts",
    )
}

/// `validation-accuracy-vs-<key>.png`, the key's dots kept.
pub fn figure_name(key: &str) -> String {
    format!("validation-accuracy-vs-{key}.png")
}
