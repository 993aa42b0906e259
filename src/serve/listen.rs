//! Serving connections: hyper's HTTP/1, run here rather than through
//! `axum::serve` for its header read timeout, so a client that connects and
//! sends nothing, half a request, or stays idle between requests cannot hold a
//! connection forever, nor one that trickles a body, nor one that stops reading
//! its answer; at most [`MAX_CONNECTIONS`] connections at once, so that a flood of
//! them cannot take every file descriptor and their bodies all memory; and a
//! graceful stop that lets open requests finish.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
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
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_io_timeout::TimeoutStream;

use super::{ApiError, AppState, BODY_LIMIT, body_limit, router};

/// How long a client has to send a request's headers, waiting or idle between
/// requests included: a page on a network sends them in milliseconds.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an answer may wait for the client to read any of it: a page on a
/// network reads it as it comes.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections served at once; more wait in the kernel's queue until one ends. A
/// browser opens six per server.
const MAX_CONNECTIONS: usize = 128;

/// Pictures read at once, each up to [`BODY_LIMIT`].
static UPLOADS: Semaphore = Semaphore::const_new(8);

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
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, slot) = tokio::select! {
            () = &mut shutdown => break,
            next = next_connection(&listener, &slots) => next,
        };
        let connection = serve_connection(&http, stream, app.clone(), stopping.clone());
        tokio::spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    let _ = stop.send(());
    // The loop's own receiver goes too, or the sender would never see them all closed.
    drop(stopping);
    let _ = tokio::time::timeout(GRACE, stop.closed()).await;
    Ok(())
}

/// The next connection, once fewer than [`MAX_CONNECTIONS`] are open, with its slot.
async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    (accept(listener).await, slot)
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
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let stream = TokioIo::new(Box::pin(stream));
    let connection = http.serve_connection(stream, TowerToHyperService::new(app));
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

/// Reads a request's whole body (at most its [`body_limit`]) within `deadline` before
/// it is handled, 408 otherwise: hyper's header timeout ends with the headers, and
/// a body trickled a byte at a time would hold its request open for as long as the
/// client liked.
pub async fn body_deadline(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let limit = body_limit(&parts.method, parts.uri.path());
    // Pictures are read a few at a time, so that many uploads at once cost a few of them.
    let _reading = match limit {
        BODY_LIMIT => Some(UPLOADS.acquire().await.expect("never closed")),
        _ => None,
    };
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(err)) => ApiError::from_read(err, limit, &parts.method).into_response(),
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
