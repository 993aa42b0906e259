//! The JSON the endpoints answer and take: the contract with the page's script
//! (`assets/app.js`), in one place so that a change to it is seen whole.

use serde::{Deserialize, Serialize};

use crate::model::diagnostics::LayerDiagnostics;
use crate::run_files::history::{CostPoint, EpochRecord, History};
use crate::run_files::summary::Summary;
use crate::serve::runs::{RunRow, Status};
use crate::train::record::LiveProgress;

/// `GET /api/runs`: the runs page.
#[derive(Serialize)]
pub struct RunsPage {
    pub artifacts: String,
    pub runs: Vec<RunRow>,
    pub sweeps: Vec<String>,
    /// What to do when there is nothing to show.
    pub hint: Option<&'static str>,
}

/// A run's metrics, as recorded so far.
#[derive(Serialize)]
pub struct HistoryJson {
    /// `test` or `validation`: what the per-epoch evaluation used.
    pub eval_split: &'static str,
    pub epochs: Vec<EpochRecord>,
    pub costs: Vec<CostPoint>,
}

impl From<History> for HistoryJson {
    fn from(history: History) -> Self {
        Self {
            eval_split: history.eval_split.name(),
            epochs: history.epochs,
            costs: history.costs,
        }
    }
}

/// One of a run's figures, as the run page links it.
#[derive(Serialize)]
pub struct FigureJson {
    pub url: String,
    pub title: &'static str,
}

/// `GET /api/runs/{name}`: one run's page.
#[derive(Serialize)]
pub struct RunDetail {
    pub row: RunRow,
    pub config_toml: Option<String>,
    pub summary: Option<Summary>,
    /// sklearn's text layout of the test-set report.
    pub report_text: Option<String>,
    pub history: HistoryJson,
    pub progress: Option<LiveProgress>,
    pub batch_size: Option<usize>,
    pub figures: Vec<FigureJson>,
}

/// `GET /api/runs/{name}/live`: what the live page polls.
#[derive(Serialize)]
pub struct Live {
    pub status: Status,
    /// The run's line of the runs list, as it stands now.
    pub row: RunRow,
    pub progress: Option<LiveProgress>,
    pub history: HistoryJson,
    /// diagnostics.csv's rows: every layer's figures after every epoch.
    pub diagnostics: Vec<LayerDiagnostics>,
}

/// `GET /api/runs/{name}/confusion`.
#[derive(Serialize)]
pub struct ConfusionJson {
    /// `matrix[true][predicted]` over the test set.
    pub matrix: Vec<Vec<usize>>,
    pub accuracy: f64,
    pub data_dir: String,
}

/// `GET /api/runs/{name}/confusion/{truth}/{predicted}`.
#[derive(Serialize)]
pub struct CellJson {
    pub truth: usize,
    pub predicted: usize,
    pub count: usize,
    /// Test-set indices, the first few of `count`.
    pub indices: Vec<usize>,
}

/// One entry of `GET /api/models`: a model the draw pad can use.
#[derive(Serialize)]
pub struct ModelEntry {
    /// Its path relative to the artifacts root: a run folder or a weights file.
    pub id: String,
    pub title: String,
    /// `run` (its activation is known) or `file` (a PyTorch file may need one named).
    pub kind: &'static str,
}

/// One entry of `GET /api/sweeps`: a sweep's leaderboard.
#[derive(Serialize)]
pub struct SweepJson {
    pub name: String,
    /// leaderboard.csv, header and rows, as written.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The run folder of each row (the `run` column), relative to the artifacts root.
    pub runs: Vec<Option<String>>,
    /// `/files/` URLs of the sweep's figures.
    pub figures: Vec<String>,
    pub error: Option<String>,
}

/// `POST /api/predict`'s body: 784 pixels already in MNIST's form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelsRequest {
    /// A run folder or weights file, relative to the artifacts root.
    pub model: String,
    #[serde(default)]
    pub activation: Option<String>,
    /// 784 bytes, row by row, white ink (255) on black (0).
    pub pixels: Vec<u8>,
}

/// `POST /api/predict/image`'s query: the model, and its activation if the file lacks one.
#[derive(Deserialize)]
pub struct ImageQuery {
    pub model: String,
    #[serde(default)]
    pub activation: Option<String>,
}

/// A prediction's answer: the digit, the ten probabilities, the 28×28 input the
/// model was actually fed, and which of its pixels decided (see [`crate::eval::Saliency`]).
#[derive(Serialize)]
pub struct AnswerJson {
    pub digit: usize,
    pub probabilities: Vec<f32>,
    pub input: Vec<u8>,
    /// ∂p/∂x of the predicted digit's probability, for each of the 784 pixels.
    pub saliency: Vec<f32>,
    pub input_times_gradient: Vec<f32>,
    pub model: String,
}
