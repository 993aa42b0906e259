//! The models the draw pad can pick: finished runs, then weights files from elsewhere.

use std::path::Path;

use axum::Json;
use axum::extract::State;

use super::blocking;
use super::json::ModelEntry;
use crate::run_files::discover::discover;
use crate::serve::runs::read_run;
use crate::serve::{ApiError, AppState};

/// Files `predict` (and so the draw pad) can load besides a run folder's own.
const WEIGHT_EXTENSIONS: [&str; 3] = ["safetensors", "pt", "pth"];

fn is_weights_file(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| WEIGHT_EXTENSIONS.contains(&extension))
}

/// `GET /api/models`: finished runs first, then loose weights files.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<ModelEntry>>, ApiError> {
    let root = state.root.clone();
    blocking(move || {
        let found = discover(&root).unwrap_or_default();
        let runs = found
            .runs
            .iter()
            .map(|run| read_run(&root, &run.name).row)
            .filter(|row| row.has_model)
            .map(|row| ModelEntry {
                title: match row.test_accuracy {
                    Some(accuracy) => format!("{} ({accuracy:.2} % test)", row.name),
                    None => row.name.clone(),
                },
                id: row.name,
                kind: "run",
            });
        let files = found
            .files
            .into_iter()
            .filter(|file| is_weights_file(file))
            .map(|file| ModelEntry {
                title: file.clone(),
                id: file,
                kind: "file",
            });
        Json(runs.chain(files).collect())
    })
    .await
}
