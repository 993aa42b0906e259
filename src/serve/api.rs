//! The JSON endpoints the pages call (and a test digit as PNG). Requests are
//! checked before anything is read: run and model names through
//! [`files::resolve`], bodies parsed here so a malformed one gets a 400 that says
//! what is wrong. Reading folders happens on blocking threads.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::runs::{self, NO_RUNS, RunRow, Status, read_run};
use super::{ApiError, AppState, BODY_LIMIT, files};
use crate::config::Activation;
use crate::data::picture::decode_digit;
use crate::mnist::{CLASSES, IMAGE_PIXELS, IMAGE_SIDE};
use crate::run_files::history::{CostPoint, EpochRecord, History};
use crate::run_files::summary::Summary;
use crate::run_files::{Figure, RunDir};
use crate::sweep::folder::SweepDir;
use crate::train::record::LiveProgress;

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal failure; see the server's console".into(),
        )
    })
}

/// The runs page.
#[derive(Serialize)]
pub struct RunsPage {
    artifacts: String,
    runs: Vec<RunRow>,
    sweeps: Vec<String>,
    /// What to do when there is nothing to show.
    hint: Option<&'static str>,
}

/// `GET /api/runs`.
pub async fn runs(State(state): State<AppState>) -> Result<Json<RunsPage>, ApiError> {
    let root = state.root.clone();
    blocking(move || {
        let found = runs::discover(&root);
        let rows: Vec<RunRow> = found
            .runs
            .iter()
            .map(|name| read_run(&root, name).row)
            .collect();
        Json(RunsPage {
            artifacts: root.display().to_string(),
            hint: rows.is_empty().then_some(NO_RUNS),
            runs: rows,
            sweeps: runs::sweeps(&root)
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        })
    })
    .await
}

/// The run folder `name` names, or 404.
fn run_folder(state: &AppState, name: &str) -> Result<PathBuf, ApiError> {
    let missing = || ApiError::not_found(format!("no run named {name} in the artifacts folder"));
    let path = files::resolve(&state.root, name).map_err(|err| {
        if err.status == StatusCode::NOT_FOUND {
            missing()
        } else {
            err
        }
    })?;
    let run = RunDir::at(&path);
    if !path.is_dir() || !(run.config().is_file() || run.is_finished()) {
        return Err(missing());
    }
    Ok(path)
}

fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}

/// A run's metrics, as recorded so far.
#[derive(Serialize)]
pub struct HistoryJson {
    /// `test` or `validation`: what the per-epoch evaluation used.
    eval_split: &'static str,
    epochs: Vec<EpochRecord>,
    costs: Vec<CostPoint>,
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

#[derive(Serialize)]
pub struct FigureJson {
    url: String,
    title: &'static str,
}

/// One run's page.
#[derive(Serialize)]
pub struct RunDetail {
    row: RunRow,
    config_toml: Option<String>,
    summary: Option<Summary>,
    /// sklearn's text layout of the test-set report.
    report_text: Option<String>,
    history: HistoryJson,
    progress: Option<LiveProgress>,
    batch_size: Option<usize>,
    figures: Vec<FigureJson>,
}

/// `/files/` URL of `file` in run folder `name`.
fn file_url(name: &str, file: &str) -> String {
    let encoded: Vec<String> = name.split('/').map(encode_component).collect();
    format!("/files/{}/{file}", encoded.join("/"))
}

/// Percent-encodes all but unreserved characters.
fn encode_component(part: &str) -> String {
    part.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn figure_title(figure: Figure) -> &'static str {
    match figure {
        Figure::CostIterations => "cost every log_interval iterations",
        Figure::CostEpochs => "loss per epoch",
        Figure::AccuracyEpochs => "accuracy per epoch",
        Figure::Confusion => "confusion matrix (test set)",
        Figure::Samples => "training samples",
        Figure::Misclassified => "misclassified test digits",
    }
}

/// `GET /api/runs/{name}`.
pub async fn run(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<RunDetail>, ApiError> {
    let UrlPath(name) = name.map_err(path_error)?;
    let folder = run_folder(&state, &name)?;
    let root = state.root.clone();
    blocking(move || {
        let files = read_run(&root, &name);
        let dir = RunDir::at(&folder);
        let figures = Figure::ALL
            .into_iter()
            .filter(|figure| dir.figure(*figure).is_file())
            .map(|figure| FigureJson {
                url: file_url(&name, figure.file_name()),
                title: figure_title(figure),
            })
            .collect();
        Json(RunDetail {
            config_toml: std::fs::read_to_string(dir.config()).ok(),
            report_text: files
                .summary
                .as_ref()
                .map(|s| s.classification_report.to_text()),
            batch_size: files.config.as_ref().map(|c| c.training.batch_size),
            row: files.row,
            summary: files.summary,
            history: files.history.into(),
            progress: files.progress,
            figures,
        })
    })
    .await
}

/// What the live page polls.
#[derive(Serialize)]
pub struct Live {
    status: Status,
    /// The run's line of the runs list, as it stands now.
    row: RunRow,
    progress: Option<LiveProgress>,
    history: HistoryJson,
}

/// `GET /api/runs/{name}/live`: the run's status, progress and metrics so far.
pub async fn live(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<Live>, ApiError> {
    let UrlPath(name) = name.map_err(path_error)?;
    run_folder(&state, &name)?;
    let root = state.root.clone();
    blocking(move || {
        let files = read_run(&root, &name);
        Json(Live {
            status: files.row.status,
            row: files.row,
            progress: files.progress,
            history: files.history.into(),
        })
    })
    .await
}

#[derive(Serialize)]
pub struct ConfusionJson {
    /// `matrix[true][predicted]` over the test set.
    matrix: Vec<Vec<usize>>,
    accuracy: f64,
    data_dir: String,
}

/// `GET /api/runs/{name}/confusion`: the run's model on its test set.
pub async fn confusion(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<ConfusionJson>, ApiError> {
    let UrlPath(name) = name.map_err(path_error)?;
    let folder = finished_run(&state, &name)?;
    let tested = state.models.test_predictions(&folder).await?;
    let correct: usize = (0..CLASSES).map(|c| tested.confusion.matrix[c][c]).sum();
    Ok(Json(ConfusionJson {
        matrix: tested.confusion.matrix.clone(),
        accuracy: 100.0 * correct as f64 / tested.predictions.len().max(1) as f64,
        data_dir: tested.data_dir.display().to_string(),
    }))
}

/// A run with a model to evaluate, or 404/409.
fn finished_run(state: &AppState, name: &str) -> Result<PathBuf, ApiError> {
    let folder = run_folder(state, name)?;
    if !RunDir::at(&folder).weights().is_file() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{name} has no model.safetensors yet: it is written when the run finishes"),
        ));
    }
    Ok(folder)
}

/// The first of a cell's digits shown; the count says how many there are.
const CELL_DIGITS: usize = 200;

#[derive(Serialize)]
pub struct CellJson {
    truth: usize,
    predicted: usize,
    count: usize,
    /// Test-set indices, at most [`CELL_DIGITS`].
    indices: Vec<usize>,
}

/// `GET /api/runs/{name}/confusion/{truth}/{predicted}`: the test digits of one cell.
pub async fn confusion_cell(
    State(state): State<AppState>,
    params: Result<UrlPath<(String, usize, usize)>, PathRejection>,
) -> Result<Json<CellJson>, ApiError> {
    let UrlPath((name, truth, predicted)) = params.map_err(path_error)?;
    if truth >= CLASSES || predicted >= CLASSES {
        return Err(ApiError::bad_request(format!(
            "digits are 0 to 9, not ({truth}, {predicted})"
        )));
    }
    let folder = finished_run(&state, &name)?;
    let tested = state.models.test_predictions(&folder).await?;
    let all: Vec<usize> = (0..tested.predictions.len())
        .filter(|&i| {
            usize::from(tested.test.labels[i]) == truth
                && usize::from(tested.predictions[i]) == predicted
        })
        .collect();
    Ok(Json(CellJson {
        truth,
        predicted,
        count: all.len(),
        indices: all.into_iter().take(CELL_DIGITS).collect(),
    }))
}

/// `GET /api/runs/{name}/digits/{index}`: test digit `index` of the run's data, as PNG.
pub async fn digit(
    State(state): State<AppState>,
    params: Result<UrlPath<(String, usize)>, PathRejection>,
) -> Result<Response, ApiError> {
    let UrlPath((name, index)) = params.map_err(path_error)?;
    let folder = finished_run(&state, &name)?;
    let tested = state.models.test_predictions(&folder).await?;
    if index >= tested.test.len() {
        return Err(ApiError::not_found(format!(
            "the test set has {} digits: no {index}",
            tested.test.len()
        )));
    }
    let side = IMAGE_SIDE as u32;
    let image = image::GrayImage::from_raw(side, side, tested.test.image(index).to_vec())
        .expect("a digit is 28×28");
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        png,
    )
        .into_response())
}

/// A model the draw pad can use.
#[derive(Serialize)]
pub struct ModelEntry {
    /// Its path relative to the artifacts root: a run folder or a weights file.
    id: String,
    title: String,
    /// `run` (its activation is known) or `file` (a PyTorch file may need one named).
    kind: &'static str,
}

/// `GET /api/models`: finished runs first, then loose weights files.
pub async fn models(State(state): State<AppState>) -> Result<Json<Vec<ModelEntry>>, ApiError> {
    let root = state.root.clone();
    blocking(move || {
        let found = runs::discover(&root);
        let mut models: Vec<ModelEntry> = found
            .runs
            .iter()
            .map(|name| read_run(&root, name).row)
            .filter(|row| row.has_model)
            .map(|row| ModelEntry {
                title: match row.test_accuracy {
                    Some(accuracy) => format!("{} ({accuracy:.2} % test)", row.name),
                    None => row.name.clone(),
                },
                id: row.name,
                kind: "run",
            })
            .collect();
        models.extend(found.weights.into_iter().map(|file| ModelEntry {
            title: file.clone(),
            id: file,
            kind: "file",
        }));
        Json(models)
    })
    .await
}

/// One sweep's leaderboard.
#[derive(Serialize)]
pub struct SweepJson {
    name: String,
    /// leaderboard.csv, header and rows, as written.
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The run folder of each row (the `run` column), relative to the artifacts root.
    runs: Vec<Option<String>>,
    figures: Vec<String>,
    error: Option<String>,
}

/// `GET /api/sweeps`.
pub async fn sweeps(State(state): State<AppState>) -> Result<Json<Vec<SweepJson>>, ApiError> {
    let root = state.root.clone();
    blocking(move || {
        Json(
            runs::sweeps(&root)
                .into_iter()
                .map(|(name, path)| read_sweep(name, &path))
                .collect(),
        )
    })
    .await
}

fn read_sweep(name: String, path: &Path) -> SweepJson {
    let dir = SweepDir {
        root: path.to_path_buf(),
    };
    let mut sweep = SweepJson {
        name,
        columns: Vec::new(),
        rows: Vec::new(),
        runs: Vec::new(),
        figures: Vec::new(),
        error: None,
    };
    let prefix = format!("sweeps/{}", sweep.name);
    let mut figures: Vec<String> = std::fs::read_dir(&dir.root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| f.ends_with(".png"))
        .collect();
    figures.sort();
    sweep.figures = figures.iter().map(|f| file_url(&prefix, f)).collect();
    let csv_path = dir.leaderboard_csv();
    if !csv_path.is_file() {
        sweep.error = Some("no leaderboard yet: it is written as trials finish".into());
        return sweep;
    }
    let parsed = csv::Reader::from_path(&csv_path).and_then(|mut reader| {
        let columns: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<Result<Vec<Vec<String>>, _>>()?;
        Ok((columns, rows))
    });
    match parsed {
        Ok((columns, rows)) => {
            let run_column = columns.iter().position(|c| c == "run");
            sweep.runs = rows
                .iter()
                .map(|row| {
                    let run = row.get(run_column?)?;
                    (!run.is_empty()).then(|| format!("{prefix}/{run}"))
                })
                .collect();
            sweep.columns = columns;
            sweep.rows = rows;
        }
        Err(err) => sweep.error = Some(format!("cannot read {}: {err}", csv_path.display())),
    }
    sweep
}

/// A prediction's answer: the digit, the ten probabilities, and the 28×28 input
/// the model was actually fed.
#[derive(Serialize)]
pub struct AnswerJson {
    digit: usize,
    probabilities: Vec<f32>,
    input: Vec<u8>,
    model: String,
}

/// `POST /api/predict` with JSON: 784 pixels already in MNIST's form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelsRequest {
    /// A run folder or weights file, relative to the artifacts root.
    model: String,
    #[serde(default)]
    activation: Option<String>,
    /// 784 bytes, row by row, white ink (255) on black (0).
    pixels: Vec<u8>,
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the {} MiB limit",
                BODY_LIMIT >> 20
            ),
        )
    } else {
        ApiError::bad_request(format!(
            "cannot read the request body: {}",
            rejection.body_text()
        ))
    }
}

/// The model a request names: a run folder with weights, or a weights file.
fn model_target(state: &AppState, model: &str) -> Result<PathBuf, ApiError> {
    if model.is_empty() {
        return Err(ApiError::bad_request(
            "no model named: give a run folder or weights file from /api/models".into(),
        ));
    }
    let path = files::resolve(&state.root, model)?;
    if path.is_dir() && !RunDir::at(&path).weights().is_file() {
        return Err(ApiError::not_found(format!(
            "{model} has no model.safetensors: pick a finished run"
        )));
    }
    Ok(path)
}

fn activation(name: Option<&str>) -> Result<Option<Activation>, ApiError> {
    match name {
        None | Some("" | "auto") => Ok(None),
        Some(name) => name
            .parse()
            .map(Some)
            .map_err(|err: anyhow::Error| ApiError::bad_request(err.to_string())),
    }
}

pub async fn predict_pixels(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AnswerJson>, ApiError> {
    let body = body.map_err(body_error)?;
    let request: PixelsRequest = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(format!(
            "malformed JSON ({err}): send {{\"model\": \"<run>\", \"pixels\": [784 values 0-255]}}"
        ))
    })?;
    if request.pixels.len() != IMAGE_PIXELS {
        return Err(ApiError::bad_request(format!(
            "pixels holds {} values: a digit is {IMAGE_PIXELS} (28×28, row by row)",
            request.pixels.len()
        )));
    }
    let activation = activation(request.activation.as_deref())?;
    let target = model_target(&state, &request.model)?;
    answer(&state, &request.model, &target, activation, request.pixels).await
}

#[derive(Deserialize)]
pub struct ImageQuery {
    model: String,
    #[serde(default)]
    activation: Option<String>,
}

/// `POST /api/predict/image?model=…`: any picture (the pad's PNG, an upload),
/// prepared as `mnist-mlp predict` prepares a file.
pub async fn predict_image(
    State(state): State<AppState>,
    query: Result<Query<ImageQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AnswerJson>, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_request(format!(
            "{}: use /api/predict/image?model=<run>",
            rejection.body_text()
        ))
    })?;
    let body = body.map_err(body_error)?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty: POST the picture's bytes (PNG, JPEG, GIF, BMP or WebP)".into(),
        ));
    }
    let activation = activation(query.activation.as_deref())?;
    let target = model_target(&state, &query.model)?;
    let pixels = state
        .pool
        .run(move || decode_digit(&body))
        .await?
        .map_err(|err| ApiError::bad_request(format!("{err:#}")))?;
    answer(&state, &query.model, &target, activation, pixels).await
}

async fn answer(
    state: &AppState,
    id: &str,
    target: &Path,
    activation: Option<Activation>,
    pixels: Vec<u8>,
) -> Result<Json<AnswerJson>, ApiError> {
    let answer = state
        .models
        .predict(id, target, activation, pixels.clone())
        .await?;
    Ok(Json(AnswerJson {
        digit: answer.digit,
        probabilities: answer.probabilities,
        input: pixels,
        model: answer.model,
    }))
}
