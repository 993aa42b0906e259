//! `mnist-mlp serve`: a local web app over the artifacts folder: the runs, a run's
//! figures and reports (live while it trains), runs compared, sweeps' leaderboards,
//! and a pad to draw digits for any model.
//!
//! The server is axum on tokio. It only reads the artifacts folder ([`files`]),
//! answers on loopback names only unless bound elsewhere on purpose, limits request
//! bodies, and keeps model work off the async threads ([`predict`]), so pages stay
//! quick while predictions queue. Every page asset is compiled in ([`assets`]).

mod api;
mod assets;
pub mod files;
mod predict;
mod runs;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use burn::prelude::Device;
use serde::Serialize;

pub use runs::{NO_RUNS, discover};

use predict::Models;

/// The largest request body accepted: a phone photo of a digit fits, a flood does not.
pub const BODY_LIMIT: usize = 8 << 20;

/// What every handler shares.
pub struct ServerState {
    /// The artifacts folder as given (it may not exist yet).
    pub root: PathBuf,
    models: Models,
    /// Whether requests must name the server by a loopback name (`localhost`,
    /// `127.0.0.1`, `[::1]`): true unless it was bound elsewhere on purpose.
    loopback_only: bool,
}

pub type AppState = Arc<ServerState>;

impl ServerState {
    /// `data_dir` overrides the data folder of every run's config; `bound` is the
    /// address the server listens on.
    pub fn new(
        root: PathBuf,
        data_dir: Option<PathBuf>,
        device: Device,
        bound: SocketAddr,
    ) -> AppState {
        Arc::new(Self {
            root,
            models: Models::new(device, data_dir),
            loopback_only: bound.ip().is_loopback(),
        })
    }
}

/// An error answer: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: String) -> Self {
        Self { status, message }
    }

    pub fn bad_request(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: String) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response()
    }
}

/// Every route of the app.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/favicon.ico", get(assets::favicon))
        .route("/assets/{file}", get(assets::asset))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{name}", get(api::run))
        .route("/api/runs/{name}/live", get(api::live))
        .route("/api/runs/{name}/confusion", get(api::confusion))
        .route(
            "/api/runs/{name}/confusion/{truth}/{predicted}",
            get(api::confusion_cell),
        )
        .route("/api/runs/{name}/digits/{index}", get(api::digit))
        .route("/api/models", get(api::models))
        .route("/api/sweeps", get(api::sweeps))
        .route("/api/predict", post(api::predict_pixels))
        .route("/api/predict/image", post(api::predict_image))
        .route("/files/{*path}", get(files::serve_file))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!("nothing at {}", request.uri().path()))
}

/// Checks every request before routing: a body declared larger than
/// [`BODY_LIMIT`] is refused before it is read (413), and, when the server listens
/// on loopback, so is a request naming the server by anything but a loopback name
/// (403): a web page elsewhere cannot reach it by pointing its own domain at
/// 127.0.0.1 (DNS rebinding).
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the {} MiB limit",
                BODY_LIMIT >> 20
            ),
        )
        .into_response();
    }
    if state.loopback_only
        && let Some(host) = request.headers().get(header::HOST)
    {
        let host = host.to_str().unwrap_or_default();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                name
            }
            _ => host,
        };
        if !matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this server answers to localhost, 127.0.0.1 and [::1] only, not {host:?}: bind another address with --addr to serve other names"
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Serves `router` on `listener` until `shutdown` completes; then open requests
/// get a few seconds to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut stopped = stop_rx.clone();
    let deadline = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    };
    tokio::select! {
        result = server => result,
        () = deadline => Ok(()),
    }
}
