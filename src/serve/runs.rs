//! What the artifacts folder holds, read from the files alone (so a training in
//! another process shows up as soon as it writes): the run folders, finished or
//! not, with the figures the runs list shows, the weights files a model can be
//! picked from, and the sweeps.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::run_files::RunDir;
use crate::run_files::history::{EvalSplit, History};
use crate::run_files::lock;
use crate::run_files::summary::Summary;
use crate::train::record::LiveProgress;

/// What the console and the empty runs page say.
pub const NO_RUNS: &str = "no runs yet: train one with `mnist-mlp config/relu.toml`";

/// Folders deeper than this are not searched (`sweeps/<name>/trials/<trial>` is 4).
const MAX_DEPTH: usize = 6;

/// Files `predict` (and so the draw pad) can load besides a run folder's own.
const WEIGHT_EXTENSIONS: [&str; 3] = ["safetensors", "pt", "pth"];

/// Everything found under the root: names are paths relative to it, `/`-separated.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Folders holding a run's config.toml, sorted.
    pub runs: Vec<String>,
    /// Weights files outside run folders, sorted.
    pub weights: Vec<String>,
}

/// Walks the root without following symlinks, skipping hidden entries, and does
/// not descend into run folders (their checkpoints are not models to pick).
pub fn discover(root: &Path) -> Inventory {
    let mut found = Inventory::default();
    let mut pending = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = pending.pop() {
        if RunDir::at(&dir).config().is_file() && !prefix.is_empty() {
            found.runs.push(prefix);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if name.starts_with('.') || kind.is_symlink() {
                continue;
            }
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if kind.is_dir() && depth < MAX_DEPTH {
                pending.push((entry.path(), relative, depth + 1));
            } else if kind.is_file()
                && Path::new(&name)
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| WEIGHT_EXTENSIONS.contains(&e))
            {
                found.weights.push(relative);
            }
        }
    }
    found.runs.sort();
    found.weights.sort();
    found
}

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

/// Reads the run folder `name` (relative to `root`).
pub fn read_run(root: &Path, name: &str) -> RunFiles {
    let run = RunDir::at(root.join(name));
    let mut errors = Vec::new();
    let (status, progress) = status(&run);
    let summary = if status == Status::Finished {
        Summary::load(&run)
            .map_err(|err| errors.push(format!("{err:#}")))
            .ok()
    } else {
        None
    };
    let config = match &summary {
        Some(summary) => Some(summary.config.clone()),
        None => std::fs::read_to_string(run.config())
            .map_err(anyhow::Error::from)
            .and_then(|text| ExperimentConfig::parse(&text, &[]))
            .map_err(|err| errors.push(format!("{}: {err:#}", run.config().display())))
            .ok(),
    };
    let history = run.history().unwrap_or_else(|err| {
        errors.push(format!("{err:#}"));
        History::default()
    });
    let last = history.epochs.last();
    let latest = |split: EvalSplit| {
        last.filter(|_| history.eval_split == split)
            .map(|e| e.eval_accuracy)
    };
    let row = RunRow {
        name: name.to_string(),
        experiment: config
            .as_ref()
            .map_or_else(|| name.to_string(), |c| c.experiment.name.clone()),
        status,
        sweep: name
            .strip_prefix("sweeps/")
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string),
        activation: config
            .as_ref()
            .map_or_else(String::new, |c| c.model.activation.to_string()),
        optimizer: config
            .as_ref()
            .map_or_else(String::new, |c| c.optimizer.name.to_string()),
        l2: config.as_ref().map_or(0.0, |c| c.optimizer.l2),
        epochs: config.as_ref().map_or(0, |c| c.training.epochs),
        epochs_done: summary
            .as_ref()
            .map_or(history.epochs.len(), |s| s.epochs_trained),
        train_accuracy: summary
            .as_ref()
            .map(|s| s.train_accuracy)
            .or_else(|| last.map(|e| e.train_accuracy)),
        validation_accuracy: summary
            .as_ref()
            .map_or_else(|| latest(EvalSplit::Validation), |s| s.validation_accuracy),
        test_accuracy: summary
            .as_ref()
            .map(|s| s.test_accuracy)
            .or_else(|| latest(EvalSplit::Test)),
        seconds: summary.as_ref().map(|s| s.train_seconds).or_else(|| {
            (!history.epochs.is_empty()).then(|| history.epochs.iter().map(|e| e.seconds).sum())
        }),
        backend: summary.as_ref().map(|s| s.backend.to_string()).or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.training.backend)
                .map(|b| b.to_string())
        }),
        has_model: run.weights().is_file(),
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    };
    RunFiles {
        row,
        config,
        summary,
        history,
        progress,
    }
}

/// A sweep folder: `sweeps/<name>/` with a plan or a leaderboard.
pub fn sweeps(root: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(root.join("sweeps"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let path = entry.path();
            let is_sweep =
                path.join("leaderboard.csv").is_file() || path.join("plan.json").is_file();
            (is_sweep && !name.starts_with('.')).then_some((name, path))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_runs_at_any_depth_and_loose_weights_but_not_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for run in ["relu", "sweeps/l2/trials/trial-000"] {
            std::fs::create_dir_all(root.join(run).join("checkpoint")).unwrap();
            std::fs::write(root.join(run).join("config.toml"), "").unwrap();
            std::fs::write(root.join(run).join("model.safetensors"), "").unwrap();
        }
        std::fs::create_dir_all(root.join("imports")).unwrap();
        std::fs::write(root.join("imports/net.pt"), "").unwrap();
        std::fs::write(root.join("imports/notes.txt"), "").unwrap();
        let found = discover(root);
        assert_eq!(found.runs, ["relu", "sweeps/l2/trials/trial-000"]);
        assert_eq!(found.weights, ["imports/net.pt"]);
        assert!(discover(&root.join("absent")).runs.is_empty());
    }
}
