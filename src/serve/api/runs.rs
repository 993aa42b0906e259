//! The runs: the list, one run's page, and what its live view polls.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};

use super::json::{FigureJson, Live, RunDetail, RunsPage};
use super::{blocking, run_folder};
use crate::run_files::discover::discover;
use crate::run_files::{Figure, RunDir};
use crate::serve::files::file_url;
use crate::serve::runs::{NO_RUNS, RunRow, read_run, sweeps};
use crate::serve::{ApiError, AppState};

/// `GET /api/runs`.
pub async fn list(State(state): State<AppState>) -> Result<Json<RunsPage>, ApiError> {
    let root = state.root.clone();
    blocking(move || {
        let found = discover(&root).unwrap_or_default();
        let rows: Vec<RunRow> = found
            .runs
            .iter()
            .map(|run| read_run(&root, &run.name).row)
            .collect();
        Json(RunsPage {
            artifacts: root.display().to_string(),
            hint: rows.is_empty().then_some(NO_RUNS),
            runs: rows,
            sweeps: sweeps(&root),
        })
    })
    .await
}

/// What the run page calls each figure.
fn figure_title(figure: Figure) -> &'static str {
    match figure {
        Figure::CostIterations => "cost every log_interval iterations",
        Figure::CostEpochs => "loss per epoch",
        Figure::AccuracyEpochs => "accuracy per epoch",
        Figure::Diagnostics => "diagnostics: gradients, updates, saturation, weights per layer",
        Figure::FirstLayer => "what the first layer sees: its weights, one tile per unit",
        Figure::Confusion => "confusion matrix (test set)",
        Figure::Samples => "training samples",
        Figure::Misclassified => "misclassified test digits",
    }
}

/// `GET /api/runs/{name}`.
pub async fn detail(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<RunDetail>, ApiError> {
    let UrlPath(name) = name.map_err(ApiError::from_path)?;
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
            config_toml: dir.config_text().ok(),
            report_text: files
                .summary
                .as_ref()
                .map(|summary| summary.classification_report.to_text()),
            batch_size: files
                .config
                .as_ref()
                .map(|config| config.training.batch_size),
            row: files.row,
            summary: files.summary,
            history: files.history.into(),
            progress: files.progress,
            figures,
        })
    })
    .await
}

/// `GET /api/runs/{name}/live`: the run's status, progress and metrics so far.
pub async fn live(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<Live>, ApiError> {
    let UrlPath(name) = name.map_err(ApiError::from_path)?;
    let folder = run_folder(&state, &name)?;
    let root = state.root.clone();
    blocking(move || {
        let files = read_run(&root, &name);
        // A damaged file costs the page its diagnostics, not the rest.
        let diagnostics = RunDir::at(&folder).diagnostics_log().unwrap_or_default();
        Json(Live {
            status: files.row.status,
            row: files.row,
            progress: files.progress,
            history: files.history.into(),
            diagnostics: diagnostics.rows,
        })
    })
    .await
}
