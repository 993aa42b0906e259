//! `mnist-mlp serve`: a local web app over the artifacts folder: the runs, a run's
//! figures and reports (live while it trains), runs compared, sweeps' leaderboards,
//! and a pad to draw digits for any model.
//!
//! The server is axum on tokio, its connections served by hyper with a header
//! read timeout and each body read against the same deadline ([`listen`]). It
//! only reads the artifacts folder ([`files`], streamed; [`runs`]), answers no other web
//! site and, beyond loopback, only requests carrying its token ([`guard`]),
//! limits request bodies, and does the heavy work in a bounded pool ([`pool`],
//! [`predict`]), so pages stay quick while predictions queue. The endpoints are [`api`]'s, their refusals [`error`]'s. Every page asset
//! is compiled in ([`assets`]).

mod api;
mod assets;
mod error;
pub mod files;
mod guard;
mod listen;
mod pool;
mod predict;
mod runs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::routing::{get, post};
use burn::prelude::Device;

pub use error::ApiError;
pub use listen::{HEADER_TIMEOUT, serve};
pub use runs::NO_RUNS;

use guard::Access;
use pool::Pool;
use predict::Models;

/// The largest request body accepted: a phone photo of a digit fits, a flood does not.
pub const BODY_LIMIT: usize = 8 << 20;

/// The largest body a request may carry: a picture for `/api/predict/image`, 784
/// numbers for `/api/predict`, and next to nothing for any other, so that a hundred
/// connections sending bodies to `/` hold no memory to speak of.
pub fn body_limit(method: &Method, path: &str) -> usize {
    match (method, path) {
        (&Method::POST, "/api/predict/image") => BODY_LIMIT,
        (&Method::POST, "/api/predict") => PIXELS_BODY_LIMIT,
        _ => 64 << 10,
    }
}

/// `/api/predict`'s JSON: 784 numbers written at any length fit many times over.
const PIXELS_BODY_LIMIT: usize = 1 << 20;

/// What every handler shares.
pub struct ServerState {
    /// The artifacts folder as given (it may not exist yet).
    pub root: PathBuf,
    models: Models,
    /// Where pictures are decoded (and models loaded and run).
    pool: Arc<Pool>,
    access: Access,
}

pub type AppState = Arc<ServerState>;

impl ServerState {
    /// `data_dir` overrides the data folder of every run's config; `bound` is the
    /// address the server listens on; `allowed_hosts` are names it answers to
    /// besides loopback names (and, beyond loopback, IP addresses).
    pub fn new(
        root: PathBuf,
        data_dir: Option<PathBuf>,
        device: Device,
        bound: SocketAddr,
        allowed_hosts: &[String],
    ) -> AppState {
        let pool = Arc::new(Pool::per_core());
        Arc::new(Self {
            root,
            models: Models::new(device, data_dir, pool.clone()),
            pool,
            access: Access::new(bound, allowed_hosts),
        })
    }

    /// The token every request needs, when the server listens beyond loopback.
    pub fn token(&self) -> Option<&str> {
        self.access.token()
    }
}

/// Every route of the app; a request's body must arrive within `body_timeout`
/// of its headers.
pub fn router(state: AppState, body_timeout: Duration) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/favicon.ico", get(assets::favicon))
        .route("/assets/{file}", get(assets::asset))
        .route("/api/runs", get(api::runs::list))
        .route("/api/runs/{name}", get(api::runs::detail))
        .route("/api/runs/{name}/live", get(api::runs::live))
        .route("/api/runs/{name}/confusion", get(api::test_set::confusion))
        .route(
            "/api/runs/{name}/confusion/{truth}/{predicted}",
            get(api::test_set::cell),
        )
        .route("/api/runs/{name}/digits/{index}", get(api::test_set::digit))
        .route("/api/models", get(api::models::list))
        .route("/api/sweeps", get(api::sweeps::list))
        .route(
            "/api/predict",
            post(api::predict::pixels).route_layer(middleware::from_fn(guard::json_body)),
        )
        .route(
            "/api/predict/image",
            post(api::predict::image).route_layer(middleware::from_fn(guard::image_body)),
        )
        .route("/files/{*path}", get(files::serve_file))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            body_timeout,
            listen::body_deadline,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), guard::check))
        .with_state(state)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!("nothing at {}", request.uri().path()))
}

/// A route asked with a method it does not take; axum adds the `Allow` header.
async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {} requests: see the Allow header for those it takes",
            request.uri().path(),
            request.method()
        ),
    )
}
