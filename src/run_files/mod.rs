//! The layout of a run folder, `artifacts/<experiment>/`: every file a run writes
//! and every command reads is named here and nowhere else.

use std::path::{Path, PathBuf};

use anyhow::Result;

pub mod diagnostics;
pub mod discover;
pub mod history;
pub mod lock;
pub mod summary;

use diagnostics::DiagnosticsLog;
use history::History;

/// Environment variable naming the artifacts folder (default `artifacts`).
pub const ARTIFACTS_ENV: &str = "MNIST_MLP_ARTIFACTS";

/// The artifacts folder: `MNIST_MLP_ARTIFACTS` if set, else `artifacts`.
pub fn artifacts_root() -> PathBuf {
    // Set but empty counts as unset: runs never land loose in the working folder.
    let set = std::env::var_os(ARTIFACTS_ENV).filter(|root| !root.is_empty());
    let root = set.map_or_else(|| "artifacts".into(), PathBuf::from);
    crate::fsutil::expand_home(&root)
}

/// The file that marks a folder as one of our runs, written first; the process
/// training in the folder holds its lock and writes its id into it.
pub const MARKER: &str = ".mnist-mlp-run";

/// The three records the Learner checkpoints each epoch, by file-name prefix.
pub const CHECKPOINT_PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// The figures every finished run draws, in the order report.md shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    CostIterations,
    CostEpochs,
    AccuracyEpochs,
    Diagnostics,
    FirstLayer,
    Confusion,
    Samples,
    Misclassified,
}

impl Figure {
    pub const ALL: [Self; 8] = [
        Self::CostIterations,
        Self::CostEpochs,
        Self::AccuracyEpochs,
        Self::Diagnostics,
        Self::FirstLayer,
        Self::Confusion,
        Self::Samples,
        Self::Misclassified,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Self::CostIterations => "cost_iterations.png",
            Self::CostEpochs => "cost_epochs.png",
            Self::AccuracyEpochs => "accuracy_epochs.png",
            Self::Diagnostics => "diagnostics.png",
            Self::FirstLayer => "first_layer.png",
            Self::Confusion => "confusion.png",
            Self::Samples => "samples.png",
            Self::Misclassified => "misclassified.png",
        }
    }
}

/// One run's folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// The folder of `experiment` under `artifacts`.
    pub fn new(artifacts: &Path, experiment: &str) -> Self {
        Self::at(artifacts.join(experiment))
    }

    /// An existing run folder given by its path.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// See [`MARKER`].
    pub fn marker(&self) -> PathBuf {
        self.root.join(MARKER)
    }

    /// The config as run, overrides applied.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// The text of [`Self::config`], which train wrote, so never read through a link.
    pub fn config_text(&self) -> std::io::Result<String> {
        crate::fsutil::read_own_text(&self.config())
    }

    /// The cost points and per-epoch figures, saved after every epoch.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }

    /// Every layer's figures after every epoch, saved with metrics.csv.
    pub fn diagnostics(&self) -> PathBuf {
        self.root.join("diagnostics.csv")
    }

    /// Written last: its presence marks a finished run.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// Where a training in progress is (epoch, images done, recent cost), rewritten
    /// about once a second for `serve`'s live page; removed when the run ends.
    pub fn progress(&self) -> PathBuf {
        self.root.join("progress.json")
    }

    pub fn weights(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }

    pub fn report(&self) -> PathBuf {
        self.root.join("report.md")
    }

    pub fn figure(&self, figure: Figure) -> PathBuf {
        self.root.join(figure.file_name())
    }

    /// Every file a run writes at the top of its folder (the marker and the
    /// checkpoint folder aside): what a new run may remove.
    pub fn own_files(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.config(),
            self.metrics(),
            self.diagnostics(),
            self.summary(),
            self.progress(),
            self.weights(),
            self.report(),
        ];
        files.extend(Figure::ALL.map(|figure| self.figure(figure)));
        files
    }

    /// Where Burn's `with_default_checkpointers` puts them: `<run folder>/checkpoint`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoint")
    }

    /// `checkpoint/<part>-<epoch>.bpk`, as Burn's `FileCheckpointer` names it.
    pub fn checkpoint(&self, part: &str, epoch: usize) -> PathBuf {
        self.checkpoints().join(format!("{part}-{epoch}.bpk"))
    }

    /// Epochs for which a model checkpoint exists, ascending.
    pub fn checkpoint_epochs(&self) -> Vec<usize> {
        let mut epochs: Vec<usize> = std::fs::read_dir(self.checkpoints())
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

    pub fn is_finished(&self) -> bool {
        self.summary().is_file()
    }

    /// What the run has recorded so far: empty before its first epoch ends, an
    /// error if metrics.csv is damaged.
    pub fn history(&self) -> Result<History> {
        let path = self.metrics();
        if path.exists() {
            History::load_csv(&path)
        } else {
            Ok(History::default())
        }
    }

    /// The diagnostics recorded so far (none for a run from before they were).
    pub fn diagnostics_log(&self) -> Result<DiagnosticsLog> {
        DiagnosticsLog::load(&self.diagnostics())
    }
}
