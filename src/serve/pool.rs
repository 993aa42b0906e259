//! Where the heavy work runs: decoding pictures, loading models, inference and
//! evaluation each take a permit of a few (one per core) and run on a blocking
//! thread, off the threads that answer pages. A bounded number of requests may
//! wait for a permit; past that the answer is 503, so a flood cannot pile up
//! request bodies and threads without end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// Requests that may wait per worker: enough that 16 clients at once are all
/// answered even on one core.
pub const QUEUE_PER_WORKER: usize = 16;

/// A few workers and a bounded queue in front of them.
pub struct Pool {
    /// One per worker; work that uses every core takes them all.
    permits: Arc<Semaphore>,
    /// As many as there are permits (a `u32`, as the semaphore counts them).
    workers: u32,
    /// Requests waiting for permits now.
    waiting: AtomicUsize,
    /// How many may wait before the answer is 503.
    queue: usize,
}

/// One place in the queue, given back however the wait ends (a client that
/// hangs up drops its request's future midway).
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pool {
    /// `workers` at once, `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        // More workers than this would be more threads than any machine's cores.
        let workers = workers.clamp(1, 1 << 16) as u32;
        Self {
            permits: Arc::new(Semaphore::new(workers as usize)),
            workers,
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// One worker per core.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, cores * QUEUE_PER_WORKER)
    }

    /// `work` on a worker, once one is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.run_on(1, work).await
    }

    /// `work` with every worker to itself (it uses every core).
    pub async fn run_alone<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.run_on(self.workers, work).await
    }

    /// `work` on a blocking thread, holding `workers` permits until it ends.
    async fn run_on<T: Send + 'static>(
        &self,
        workers: u32,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.acquire(workers).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| ApiError::internal())
    }

    /// `workers` permits, at once or after a wait in the queue; 503 when the queue is full.
    async fn acquire(&self, workers: u32) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.permits.clone().try_acquire_many_owned(workers) {
            return Ok(permit);
        }
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _place = Place(&self.waiting);
        if waiting >= self.queue {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server is busy: {} predictions or model loads are running and {waiting} are waiting; try again in a moment",
                    self.workers
                ),
            ));
        }
        // The semaphore is never closed.
        self.permits
            .clone()
            .acquire_many_owned(workers)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is stopping".into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_the_answer_is_503_and_then_work_goes_on() {
        let pool = Arc::new(Pool::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || hold.recv().is_ok()).await })
        };
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 2).await })
        };
        while pool.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|| 3).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.message.contains("try again"), "{}", refused.message);
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 2);
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
        assert_eq!(pool.run_alone(|| 4).await.unwrap(), 4);
    }
}
