//! The page, its script, style sheet and icon, compiled into the binary: the app
//! works offline and fetches nothing from elsewhere. Fonts are the system's.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, BODY_LIMIT};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");
const FAVICON: &str = include_str!("assets/favicon.svg");

/// Where index.html takes [`BODY_LIMIT`]: the script refuses a picture too large
/// before uploading it, by the server's own figure.
const LIMIT_SLOT: &str = "{BODY_LIMIT}";

/// The page as served: index.html with the body limit in place.
static PAGE: LazyLock<String> =
    LazyLock::new(|| INDEX.replace(LIMIT_SLOT, &BODY_LIMIT.to_string()));

/// `GET /`: the one page; the script draws every view into it.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

pub async fn favicon() -> Response {
    svg(FAVICON)
}

fn svg(text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], text).into_response()
}

/// `GET /assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (content_type, body) = match file.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS),
        "favicon.svg" => return Ok(svg(FAVICON)),
        _ => return Err(ApiError::not_found(format!("no asset {file}"))),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_states_the_body_limit_the_server_enforces() {
        assert!(INDEX.contains(LIMIT_SLOT));
        assert!(!PAGE.contains(LIMIT_SLOT));
        assert!(PAGE.contains(&format!("data-upload-limit=\"{BODY_LIMIT}\"")));
    }
}
