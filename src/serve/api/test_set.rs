//! A finished run's model on its test set: the confusion matrix, the digits of
//! one cell, and any test digit as a picture.

use std::io::Cursor;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::finished_run;
use super::json::{CellJson, ConfusionJson};
use crate::mnist::{CLASSES, IMAGE_SIDE};
use crate::serve::{ApiError, AppState};

/// The first of a cell's digits shown; the count says how many there are.
const CELL_DIGITS: usize = 200;

/// `GET /api/runs/{name}/confusion`: the run's model on its test set.
pub async fn confusion(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<ConfusionJson>, ApiError> {
    let UrlPath(name) = name.map_err(ApiError::from_path)?;
    let folder = finished_run(&state, &name)?;
    let tested = state.models.test_predictions(&folder).await?;
    let matrix = &tested.confusion.matrix;
    let correct: usize = (0..CLASSES).map(|class| matrix[class][class]).sum();
    Ok(Json(ConfusionJson {
        matrix: matrix.clone(),
        accuracy: 100.0 * correct as f64 / tested.predictions.len().max(1) as f64,
        data_dir: tested.data_dir.display().to_string(),
    }))
}

/// `GET /api/runs/{name}/confusion/{truth}/{predicted}`: the test digits of one cell.
pub async fn cell(
    State(state): State<AppState>,
    params: Result<UrlPath<(String, usize, usize)>, PathRejection>,
) -> Result<Json<CellJson>, ApiError> {
    let UrlPath((name, truth, predicted)) = params.map_err(ApiError::from_path)?;
    if truth >= CLASSES || predicted >= CLASSES {
        return Err(ApiError::bad_request(format!(
            "digits are 0 to 9, not ({truth}, {predicted})"
        )));
    }
    let folder = finished_run(&state, &name)?;
    let tested = state.models.test_predictions(&folder).await?;
    let in_cell: Vec<usize> = (0..tested.predictions.len())
        .filter(|&index| {
            usize::from(tested.test.labels[index]) == truth
                && usize::from(tested.predictions[index]) == predicted
        })
        .collect();
    Ok(Json(CellJson {
        truth,
        predicted,
        count: in_cell.len(),
        indices: in_cell.into_iter().take(CELL_DIGITS).collect(),
    }))
}

/// `GET /api/runs/{name}/digits/{index}`: test digit `index` of the run's data, as PNG.
pub async fn digit(
    State(state): State<AppState>,
    params: Result<UrlPath<(String, usize)>, PathRejection>,
) -> Result<Response, ApiError> {
    let UrlPath((name, index)) = params.map_err(ApiError::from_path)?;
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
