//! What the artifacts folder holds, read from the files alone (so a training in
//! another process shows up as soon as it writes): each run folder read into its
//! line of the runs list, and the sweeps. Which folders are runs is
//! [`crate::run_files::discover`]'s to say.

use std::path::Path;

use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::run_files::RunDir;
use crate::run_files::history::{EvalSplit, History};
use crate::run_files::lock;
use crate::run_files::summary::Summary;
use crate::sweep::folder::SweepDir;
use crate::train::record::LiveProgress;

/// What the console and the empty runs page say.
pub const NO_RUNS: &str = "no runs yet: train one with `mnist-mlp config/relu.toml`";

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// summary.json is written.
    Finished,
    /// A training process holds the run's lock.
    Running,
    /// progress.json is left without a live process: it died without cleaning up.
    Stopped,
    /// Neither: stopped by Ctrl-C, a divergence or an error (resume continues it).
    Interrupted,
}

/// A run's status and, while it trains, its progress.
pub fn status(run: &RunDir) -> (Status, Option<LiveProgress>) {
    if run.is_finished() {
        return (Status::Finished, None);
    }
    let progress = LiveProgress::load(&run.progress());
    if lock::is_live(run) {
        return (Status::Running, progress);
    }
    match progress {
        Some(progress) => (Status::Stopped, Some(progress)),
        None => (Status::Interrupted, None),
    }
}

/// One line of the runs list.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// The folder relative to the artifacts root: the run's id in URLs.
    pub name: String,
    pub experiment: String,
    pub status: Status,
    /// The sweep a trial belongs to.
    pub sweep: Option<String>,
    pub activation: String,
    pub optimizer: String,
    pub l2: f64,
    /// Configured epochs, and those done so far.
    pub epochs: usize,
    pub epochs_done: usize,
    /// Final figures of a finished run; the latest epoch's of one in progress.
    pub train_accuracy: Option<f64>,
    pub validation_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub seconds: Option<f64>,
    pub backend: Option<String>,
    pub has_model: bool,
    /// Why part of the folder could not be read.
    pub error: Option<String>,
}

/// What one run folder says, read from its files.
pub struct RunFiles {
    pub row: RunRow,
    pub config: Option<ExperimentConfig>,
    pub summary: Option<Summary>,
    pub history: History,
    pub progress: Option<LiveProgress>,
}

/// Reads the run folder `name` (relative to `root`); what cannot be read is left
/// out and said in the row's `error`.
pub fn read_run(root: &Path, name: &str) -> RunFiles {
    let run = RunDir::at(root.join(name));
    let mut errors = Vec::new();
    let (status, progress) = status(&run);
    let summary = (status == Status::Finished)
        .then(|| Summary::load(&run))
        .and_then(|loaded| loaded.map_err(|err| errors.push(format!("{err:#}"))).ok());
    let config = match &summary {
        Some(summary) => Some(summary.config.clone()),
        None => run
            .config_text()
            .map_err(anyhow::Error::from)
            .and_then(|text| ExperimentConfig::parse(&text, &[]))
            .map_err(|err| errors.push(format!("{}: {err:#}", run.config().display())))
            .ok(),
    };
    let history = run.history().unwrap_or_else(|err| {
        errors.push(format!("{err:#}"));
        History::default()
    });
    let row = RunRow {
        has_model: run.weights().is_file(),
        error: (!errors.is_empty()).then(|| errors.join("; ")),
        ..RunRow::new(name, status, config.as_ref(), summary.as_ref(), &history)
    };
    RunFiles {
        row,
        config,
        summary,
        history,
        progress,
    }
}

impl RunRow {
    /// The row of the run `name` from what it recorded: a finished run's final
    /// figures, else its latest epoch's; no model and no error yet.
    fn new(
        name: &str,
        status: Status,
        config: Option<&ExperimentConfig>,
        summary: Option<&Summary>,
        history: &History,
    ) -> Self {
        let last = history.epochs.last();
        let latest = |split: EvalSplit| {
            last.filter(|_| history.eval_split == split)
                .map(|epoch| epoch.eval_accuracy)
        };
        let (train_accuracy, validation_accuracy, test_accuracy, seconds) = match summary {
            Some(summary) => (
                Some(summary.train_accuracy),
                summary.validation_accuracy,
                Some(summary.test_accuracy),
                Some(summary.train_seconds),
            ),
            None => (
                last.map(|epoch| epoch.train_accuracy),
                latest(EvalSplit::Validation),
                latest(EvalSplit::Test),
                (!history.epochs.is_empty())
                    .then(|| history.epochs.iter().map(|epoch| epoch.seconds).sum()),
            ),
        };
        Self {
            name: name.to_string(),
            experiment: config
                .map_or_else(|| name.to_string(), |config| config.experiment.name.clone()),
            status,
            sweep: name
                .strip_prefix("sweeps/")
                .and_then(|rest| rest.split('/').next())
                .map(str::to_string),
            activation: config
                .map_or_else(String::new, |config| config.model.activation.to_string()),
            optimizer: config.map_or_else(String::new, |config| config.optimizer.name.to_string()),
            l2: config.map_or(0.0, |config| config.optimizer.l2),
            epochs: config.map_or(0, |config| config.training.epochs),
            epochs_done: summary.map_or(history.epochs.len(), |summary| summary.epochs_trained),
            train_accuracy,
            validation_accuracy,
            test_accuracy,
            seconds,
            backend: match summary {
                Some(summary) => Some(summary.backend.to_string()),
                None => config
                    .and_then(|config| config.training.backend)
                    .map(|backend| backend.to_string()),
            },
            has_model: false,
            error: None,
        }
    }
}

/// The names of the sweep folders, `sweeps/<name>/` with a plan or a leaderboard, sorted.
pub fn sweeps(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(root.join("sweeps"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            let dir = SweepDir::new(root, name);
            !name.starts_with('.') && (dir.leaderboard_csv().is_file() || dir.plan().is_file())
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_folders_need_a_plan_or_a_leaderboard() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (sweep, file) in [
            ("l2", "plan.json"),
            ("lr", "leaderboard.csv"),
            ("notes", "a.txt"),
        ] {
            std::fs::create_dir_all(root.join("sweeps").join(sweep)).unwrap();
            std::fs::write(root.join("sweeps").join(sweep).join(file), "").unwrap();
        }
        assert_eq!(sweeps(root), ["l2", "lr"]);
        assert!(sweeps(&root.join("absent")).is_empty());
    }
}
