//! The JSON endpoints the pages call (and a test digit as PNG), one module per
//! resource. Requests are checked before anything is read: run and model names
//! through [`files::resolve`], bodies parsed by their handler so a malformed one
//! gets a 400 that says what is wrong. Reading folders happens on blocking threads.

use std::path::PathBuf;

use axum::http::StatusCode;

use super::{ApiError, AppState, files};
use crate::run_files::RunDir;
use crate::run_files::discover::is_run;

pub mod json;
pub mod models;
pub mod predict;
pub mod runs;
pub mod sweeps;
pub mod test_set;

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::internal())
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
    if !path.is_dir() || !is_run(&RunDir::at(&path)) {
        return Err(missing());
    }
    Ok(path)
}

/// The run folder `name` names when it has a model to evaluate, or 404/409.
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
