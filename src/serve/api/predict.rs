//! Predictions for the draw pad: 784 pixels as JSON, or any picture, prepared as
//! `mnist-mlp predict` prepares a file, each answered by the model it names.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};

use super::json::{AnswerJson, ImageQuery, PixelsRequest};
use crate::config::Activation;
use crate::data::picture::decode_digit;
use crate::mnist::IMAGE_PIXELS;
use crate::run_files::RunDir;
use crate::serve::{ApiError, AppState, files};

/// `POST /api/predict` with JSON: 784 pixels already in MNIST's form.
pub async fn pixels(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<AnswerJson>, ApiError> {
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

/// `POST /api/predict/image?model=…`: any picture (the pad's PNG, an upload).
pub async fn image(
    State(state): State<AppState>,
    query: Result<Query<ImageQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<AnswerJson>, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_request(format!(
            "{}: use /api/predict/image?model=<run>",
            rejection.body_text()
        ))
    })?;
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

/// The activation a request names; none (or `auto`) leaves it to the model file.
fn activation(name: Option<&str>) -> Result<Option<Activation>, ApiError> {
    match name {
        None | Some("" | "auto") => Ok(None),
        Some(name) => name
            .parse()
            .map(Some)
            .map_err(|err: anyhow::Error| ApiError::bad_request(err.to_string())),
    }
}

/// The model's answer for `pixels`, which it names `id`.
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
        saliency: answer.saliency.gradient,
        input_times_gradient: answer.saliency.input_times_gradient,
        model: answer.model,
    }))
}
