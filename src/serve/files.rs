//! Reading the artifacts folder safely: every path a request names is relative
//! to the root, and it is refused unless it still lies inside the root once every
//! symlink is followed. The server opens files only through [`resolve`], and
//! serves one only if the file it opened is still inside.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio_util::io::ReaderStream;

use super::{ApiError, AppState};
use crate::fsutil;

/// What a path part keeps as it is in a URL: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `/files/` URL of `file` in the folder `folder` (relative to the root,
/// `/`-separated), each part percent-encoded so that any name survives the trip.
pub fn file_url(folder: &str, file: &str) -> String {
    let parts: Vec<String> = folder
        .split('/')
        .chain([file])
        .map(|part| utf8_percent_encode(part, UNRESERVED).to_string())
        .collect();
    format!("/files/{}", parts.join("/"))
}

/// `relative` (percent-decoded, `/`-separated) under `root`, as a canonical path.
///
/// Refused before the disk is touched: `..` (403), and empty, `.`, backslashed or
/// NUL-holding parts (400). Then the path is canonicalised, so a symlink whose
/// target leaves the root is refused (403) like `..` is.
pub fn resolve(root: &Path, relative: &str) -> Result<PathBuf, ApiError> {
    for part in relative.split('/') {
        if part == ".." {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{relative:?} climbs out of the artifacts folder with `..`: refused"),
            ));
        }
        if part.is_empty() || part == "." || part.contains(['\\', '\0']) {
            return Err(ApiError::bad_request(format!(
                "{relative:?} is not a plain path inside the artifacts folder"
            )));
        }
    }
    let root = canonical_root(root)?;
    let real = root.join(relative).canonicalize().map_err(|_| {
        ApiError::not_found(format!("{relative} does not exist in the artifacts folder"))
    })?;
    if !real.starts_with(&root) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{relative} leads outside the artifacts folder (a symlink): refused"),
        ));
    }
    Ok(real)
}

/// The root as the file system names it; the folder may appear after the server starts.
pub fn canonical_root(root: &Path) -> Result<PathBuf, ApiError> {
    root.canonicalize().map_err(|_| {
        ApiError::not_found(format!(
            "the artifacts folder {} does not exist yet: train a run first",
            root.display()
        ))
    })
}

/// The chunks a file is streamed in: large enough that a big model downloads at disk
/// speed, small enough that many downloads at once stay a few MB.
const CHUNK_BYTES: usize = 256 << 10;

/// `GET /files/{*path}`: one regular file from inside the artifacts folder, streamed
/// in chunks, so that a large file costs the server no more memory than a small one.
pub async fn serve_file(
    State(state): State<AppState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, ApiError> {
    // A path that is not UTF-8 once decoded (`%ff`) gets a JSON 400 like every refusal.
    let UrlPath(path) = path.map_err(ApiError::from_path)?;
    let real = resolve(&state.root, &path)?;
    if !real.is_file() {
        return Err(ApiError::not_found(format!("{path} is not a file")));
    }
    let unreadable =
        |err: std::io::Error| ApiError::not_found(format!("cannot read {path}: {err}"));
    let root = canonical_root(&state.root)?;
    let kind = content_type(&real);
    let opened = tokio::task::spawn_blocking(move || open_inside(&root, &real))
        .await
        .map_err(|_| ApiError::internal())?;
    let file = match opened.map_err(unreadable)? {
        Some(file) => tokio::fs::File::from_std(file),
        None => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{path} led outside the artifacts folder as it was opened: refused"),
            ));
        }
    };
    // The length of what this handle reads: run files are replaced by a rename, never
    // rewritten in place, so it cannot change while the body streams.
    let length = file.metadata().await.map_err(unreadable)?.len();
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        Body::from_stream(ReaderStream::with_capacity(file, CHUNK_BYTES)),
    )
        .into_response())
}

/// `real` (resolved inside the canonical `root`) opened, if the file opened is still
/// inside: a folder on the way swapped for a link between the check and the open
/// would otherwise have us serve a file from anywhere. `None` when it was not.
fn open_inside(root: &Path, real: &Path) -> std::io::Result<Option<std::fs::File>> {
    let file = fsutil::open_regular(real)?;
    let inside = opened_path(&file, real).is_some_and(|opened| opened.starts_with(root));
    Ok(inside.then_some(file))
}

/// Where the file `file`, opened as `path`, really is: the kernel's own record of it
/// on Linux; elsewhere `path` resolved again, if that is still the same file.
fn opened_path(file: &std::fs::File, path: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(opened) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Some(opened);
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let resolved = path.canonicalize().ok()?;
        let (held, found) = (file.metadata().ok()?, std::fs::metadata(&resolved).ok()?);
        ((held.dev(), held.ino()) == (found.dev(), found.ino())).then_some(resolved)
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        None
    }
}

/// By extension; text for the run folder's Markdown, TOML, CSV and logs.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("md" | "toml" | "csv" | "txt" | "log") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_every_part_of_the_folder_and_the_file() {
        assert_eq!(file_url("relu", "a.png"), "/files/relu/a.png");
        assert_eq!(
            file_url("sweeps/l2 run/ü~x", "a.png"),
            "/files/sweeps/l2%20run/%C3%BC~x/a.png"
        );
        assert_eq!(
            file_url("sweeps/s", "acc #1?100%.png"),
            "/files/sweeps/s/acc%20%231%3F100%25.png"
        );
    }

    #[test]
    fn a_file_that_turns_out_to_be_elsewhere_once_opened_is_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::write(root.join("run/a.png"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"x").unwrap();
        let root = root.canonicalize().unwrap();
        assert!(
            open_inside(&root, &root.join("run/a.png"))
                .unwrap()
                .is_some()
        );
        // What a folder swapped for a link between resolve and the open amounts to.
        std::os::unix::fs::symlink(dir.path(), root.join("swapped")).unwrap();
        let opened = open_inside(&root, &root.join("swapped/secret")).unwrap();
        assert!(opened.is_none());
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::write(root.join("run/a.png"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"x").unwrap();
        assert!(resolve(&root, "run/a.png").is_ok());
        let status = |relative: &str| resolve(&root, relative).unwrap_err().status;
        assert_eq!(status("../secret"), StatusCode::FORBIDDEN);
        assert_eq!(status("run/../../secret"), StatusCode::FORBIDDEN);
        assert_eq!(status("run//a.png"), StatusCode::BAD_REQUEST);
        assert_eq!(status("/etc/passwd"), StatusCode::BAD_REQUEST);
        assert_eq!(status("run/missing.png"), StatusCode::NOT_FOUND);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("run/out")).unwrap();
            assert_eq!(status("run/out"), StatusCode::FORBIDDEN);
            std::os::unix::fs::symlink(root.join("run/a.png"), root.join("run/in")).unwrap();
            assert!(
                resolve(&root, "run/in").is_ok(),
                "a link inside the root is fine"
            );
        }
    }
}
