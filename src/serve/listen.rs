//! Serving connections: hyper's HTTP/1, run here rather than through
//! `axum::serve` for its header read timeout, so a client that connects and
//! sends nothing, half a request, or stays idle between requests cannot hold a
//! connection forever, nor one that trickles a body; and a graceful stop that
//! lets open requests finish.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{ApiError, AppState, BODY_LIMIT, router};

/// How long a client has to send a request's headers, waiting or idle between
/// requests included: a page on a network sends them in milliseconds.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open requests get to finish once the server is told to stop.
const GRACE: Duration = Duration::from_secs(3);

/// The pause after a failed accept, so that a lasting failure does not spin a core.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves the app on `listener` until `shutdown` completes; a client has
/// `header_timeout` to send each request's headers, and as long again for its body.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = router(state, header_timeout);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // Every connection holds a receiver: the sender sees them all closed once the
    // last connection ends.
    let (stop, stopping) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            stream = accept(&listener) => stream,
        };
        tokio::spawn(serve_connection(
            &http,
            stream,
            app.clone(),
            stopping.clone(),
        ));
    }
    let _ = stop.send(());
    // The loop's own receiver goes too, or the sender would never see them all closed.
    drop(stopping);
    let _ = tokio::time::timeout(GRACE, stop.closed()).await;
    Ok(())
}

/// The next connection; failures to accept one (a client that gave up, no file
/// descriptors left for a moment) are waited out rather than ending the server.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
        }
    }
}

/// One connection, its requests answered by `app` until it closes, or, once
/// `stopping` changes, until the request in progress is answered.
///
/// Built outside the returned future so that it borrows `http` only here, and
/// the future can be spawned.
fn serve_connection(
    http: &http1::Builder,
    stream: TcpStream,
    app: Router,
    mut stopping: watch::Receiver<()>,
) -> impl Future<Output = ()> + Send + 'static {
    let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    async move {
        let mut connection = pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = stopping.changed() => connection.as_mut().graceful_shutdown(),
        }
        // A timed-out or broken connection is the client's business, not the server's.
        let _ = connection.await;
    }
}

/// Reads a request's whole body (at most [`BODY_LIMIT`]) within `deadline` before
/// it is handled, 408 otherwise: hyper's header timeout ends with the headers, and
/// a body trickled a byte at a time would hold its request open for as long as the
/// client liked.
pub async fn body_deadline(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(err)) => ApiError::from_read(err).into_response(),
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s of its headers: send it in one go",
                deadline.as_secs()
            ),
        )
        .into_response(),
    }
}
