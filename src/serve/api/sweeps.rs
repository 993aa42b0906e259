//! The sweeps: each one's leaderboard as the sweep wrote it, with its figures.

use std::path::Path;

use axum::Json;
use axum::extract::State;

use super::blocking;
use super::json::SweepJson;
use crate::serve::files::file_url;
use crate::serve::runs::sweeps;
use crate::serve::{ApiError, AppState};
use crate::sweep::folder::SweepDir;
use crate::sweep::leaderboard::LeaderboardTable;

/// `GET /api/sweeps`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<SweepJson>>, ApiError> {
    let root = state.root.clone();
    blocking(move || {
        let found = sweeps(&root).into_iter();
        Json(found.map(|name| read_sweep(&root, name)).collect())
    })
    .await
}

/// The sweep `name` under the artifacts `root`; a leaderboard not yet written or
/// unreadable is the answer's `error`, not the request's.
fn read_sweep(root: &Path, name: String) -> SweepJson {
    let dir = SweepDir::new(root, &name);
    let prefix = format!("sweeps/{name}");
    let mut sweep = SweepJson {
        figures: figures(&dir)
            .iter()
            .map(|figure| file_url(&prefix, figure))
            .collect(),
        name,
        columns: Vec::new(),
        rows: Vec::new(),
        runs: Vec::new(),
        error: None,
    };
    match LeaderboardTable::read(&dir) {
        Ok(Some(table)) => {
            sweep.runs = table
                .runs()
                .map(|run| run.map(|run| format!("{prefix}/{run}")))
                .collect();
            sweep.columns = table.columns;
            sweep.rows = table.rows;
        }
        Ok(None) => sweep.error = Some("no leaderboard yet: it is written as trials finish".into()),
        Err(err) => sweep.error = Some(format!("{err:#}")),
    }
    sweep
}

/// The sweep's figures (its PNG files), sorted.
fn figures(dir: &SweepDir) -> Vec<String> {
    let mut figures: Vec<String> = std::fs::read_dir(&dir.root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|file| file.ends_with(".png"))
        .collect();
    figures.sort();
    figures
}
