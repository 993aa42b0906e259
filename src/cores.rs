//! The cores this process uses, and two of them on one job without per-call
//! fork/join: a persistent helper thread that spins briefly for the next
//! half-job, then parks. The fused kernels split their products and updates
//! with it, and the batcher its image conversion.
//!
//! Not rayon: its idle workers sleep on a futex, so each of a step's small products
//! would pay a wake-up that costs about what the second core gives.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, TryLockError};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the helper spins for the next job before it parks. Within a training
/// step the products follow each other by microseconds; between epochs it sleeps.
const SPIN: Duration = Duration::from_micros(300);

/// A job handed to the helper: a closure on the caller's stack, its done flag, and
/// the panic it raised, for the caller to carry on.
struct Job<'a> {
    work: &'a (dyn Fn() + Sync),
    done: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// The pending job, or null.
static JOB: AtomicPtr<Job<'static>> = AtomicPtr::new(std::ptr::null_mut());
/// One caller at a time; others run both halves themselves.
static BUSY: Mutex<()> = Mutex::new(());

/// Environment variable capping the cores one process uses (e.g. 1 for each of two
/// sweep trials run side by side on two cores).
pub const THREADS_ENV: &str = "MNIST_MLP_THREADS";

/// The cores this process may use: `$MNIST_MLP_THREADS`, else all of them.
pub fn count() -> usize {
    configured()
        .ok()
        .flatten()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `$MNIST_MLP_THREADS` as a count of cores, `None` when unset or empty. `main` checks it first,
/// so that a typo stops the program rather than quietly using every core.
pub fn configured() -> Result<Option<usize>, String> {
    let Some(value) = std::env::var_os(THREADS_ENV).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    match value.to_str().and_then(|text| text.trim().parse().ok()) {
        Some(cores) if cores >= 1 => Ok(Some(cores)),
        _ => Err(format!(
            "{THREADS_ENV}={} is not a count of cores: give a whole number, 1 or more, or unset it to use them all",
            value.to_string_lossy()
        )),
    }
}

/// The helper thread, started on first use where there are two cores or more.
fn helper() -> Option<&'static Thread> {
    static HELPER: OnceLock<Option<Thread>> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            if count() < 2 {
                return None;
            }
            let spawned = std::thread::Builder::new()
                .name("mnist-mlp-pair".into())
                .spawn(serve);
            Some(spawned.ok()?.thread().clone())
        })
        .as_ref()
}

fn serve() {
    crate::backend::set_ftz_daz();
    loop {
        let started = Instant::now();
        let mut spins = 0u32;
        let job = loop {
            let job = JOB.swap(std::ptr::null_mut(), Ordering::Acquire);
            if !job.is_null() {
                break job;
            }
            spins = spins.wrapping_add(1);
            if spins < 256 {
                std::hint::spin_loop();
            } else if started.elapsed() < SPIN {
                // Still ready within microseconds, but leaves the core to other
                // threads (the checkpoint writer, the system's) when they have work.
                std::thread::yield_now();
            } else {
                std::thread::park_timeout(Duration::from_millis(50));
            }
        };
        // SAFETY: `join` published this `Job` on its stack; this swap took it, so `join`
        // cannot take it back and does not return (the `Job` and its closure stay alive)
        // until it sees `done`, the last access made through the pointer here.
        let job = unsafe { &*job };
        // Caught, so that the helper lives on and the caller, not a dead thread, reports it.
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(job.work)) {
            *job.panic.lock().unwrap_or_else(PoisonError::into_inner) = Some(panic);
        }
        job.done.store(true, Ordering::Release);
    }
}

/// Runs `mine` on this thread and `theirs` on the helper (or both here when the
/// helper is busy or absent), returning when both are done. A panic on either side
/// reaches the caller, and only once the helper has let go of the caller's frame.
pub fn join(mine: impl FnOnce(), theirs: impl Fn() + Sync) {
    let Some(thread) = helper() else {
        mine();
        theirs();
        return;
    };
    // A caller that panicked while holding the turn leaves nothing half-done behind it.
    let _turn = match BUSY.try_lock() {
        Ok(turn) => turn,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            mine();
            theirs();
            return;
        }
    };
    let job = Job {
        work: &theirs,
        done: AtomicBool::new(false),
        panic: Mutex::new(None),
    };
    let published =
        // SAFETY: only the lifetime is erased; `Pending` below takes the job back (the
        // helper never saw it) or waits for `done` before `job` and `theirs` go out of scope.
        unsafe { std::mem::transmute::<*const Job<'_>, *mut Job<'static>>(&raw const job) };
    JOB.store(published, Ordering::Release);
    thread.unpark();
    let pending = Pending {
        job: &job,
        published,
    };
    mine();
    if pending.withdraw_or_wait() {
        theirs();
        return;
    }
    let panic = job
        .panic
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(panic) = panic {
        std::panic::resume_unwind(panic);
    }
}

/// The caller's hold on a published job, until the helper has finished it or the
/// caller has taken it back; dropped while unwinding, it settles the same way.
struct Pending<'a, 'b> {
    job: &'a Job<'b>,
    published: *mut Job<'static>,
}

impl Pending<'_, '_> {
    /// Takes the job back if the helper has not started it (true: the caller runs it),
    /// else waits until the helper is done (false). A helper that another process has
    /// pushed off its core would otherwise hold up every step for a time slice.
    fn withdraw_or_wait(self) -> bool {
        let withdrawn = self.settle();
        std::mem::forget(self);
        withdrawn
    }

    /// The helper takes a job by swapping it out of [`JOB`], so exactly one of that swap
    /// and this exchange succeeds: withdrawn, or the helper's to finish.
    fn settle(&self) -> bool {
        let taken_back = JOB.compare_exchange(
            self.published,
            std::ptr::null_mut(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        let withdrawn = taken_back.is_ok();
        let mut spins = 0u32;
        while !withdrawn && !self.job.done.load(Ordering::Acquire) {
            spins = spins.saturating_add(1);
            if spins < 256 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        withdrawn
    }
}

impl Drop for Pending<'_, '_> {
    fn drop(&mut self) {
        self.settle();
    }
}

/// Runs `work(mine)` on this thread and `work(theirs)` on the helper.
pub fn join_parts<T: Send>(mine: T, theirs: T, work: impl Fn(T) + Sync) {
    // The helper's part, behind a lock so that its closure is `Fn`; it runs once.
    let theirs = Mutex::new(Some(theirs));
    join(
        || work(mine),
        || {
            if let Some(part) = theirs.lock().expect("one user").take() {
                work(part);
            }
        },
    );
}

/// Runs `work(start, part)` on the two parts of `items` split at `mid`, the first on
/// this thread and the second on the helper; `start` is the part's offset in `items`.
pub fn split_mut<T: Send>(items: &mut [T], mid: usize, work: impl Fn(usize, &mut [T]) + Sync) {
    let (first, second) = items.split_at_mut(mid);
    join_parts((0, first), (mid, second), |(start, part)| work(start, part));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn both_halves_run_exactly_once_every_time() {
        let count = AtomicUsize::new(0);
        for _ in 0..1000 {
            let mut mine = 0;
            join(
                || mine += 1,
                || {
                    count.fetch_add(1, Ordering::Relaxed);
                },
            );
            assert_eq!(mine, 1);
        }
        assert_eq!(count.load(Ordering::Relaxed), 1000);
    }

    /// Runs `join` until `theirs` runs on the helper thread (another test may hold
    /// it), returning what the caller caught; `None` without a helper.
    fn panic_caught_on_the_helper_path(
        mine: impl Fn() + std::panic::RefUnwindSafe,
        theirs: impl Fn() + Sync + std::panic::RefUnwindSafe,
    ) -> Option<String> {
        helper()?;
        for _ in 0..10_000 {
            let on_helper = AtomicBool::new(false);
            let caught = std::panic::catch_unwind(|| {
                join(&mine, || {
                    let here = std::thread::current();
                    on_helper.store(here.name() == Some("mnist-mlp-pair"), Ordering::SeqCst);
                    theirs();
                })
            });
            if on_helper.load(Ordering::SeqCst) {
                let panic = caught.expect_err("the panic reaches the caller");
                return Some(
                    panic
                        .downcast_ref::<&str>()
                        .copied()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        panic!("the helper never took a job");
    }

    #[test]
    fn a_panic_on_the_callers_side_waits_for_the_helper_then_propagates() {
        let finished = AtomicBool::new(false);
        let caught = panic_caught_on_the_helper_path(
            || panic!("caller side"),
            || {
                std::thread::sleep(Duration::from_millis(20));
                finished.store(true, Ordering::SeqCst);
            },
        );
        if let Some(message) = caught {
            assert_eq!(message, "caller side");
            assert!(
                finished.load(Ordering::SeqCst),
                "unwound before the helper was done"
            );
        }
        both_halves_run_exactly_once_every_time();
    }

    #[test]
    fn a_panic_on_the_helper_reaches_the_caller_and_the_helper_lives_on() {
        let caught = panic_caught_on_the_helper_path(|| {}, || panic!("helper side"));
        if let Some(message) = caught {
            assert_eq!(message, "helper side");
        }
        both_halves_run_exactly_once_every_time();
    }

    #[test]
    fn a_job_the_helper_has_not_started_is_taken_back_and_still_runs_once() {
        if helper().is_none() {
            return;
        }
        let (mut on_caller, mut on_helper) = (0, 0);
        for round in 0..10_000 {
            let runs = AtomicUsize::new(0);
            let on_pair_thread = AtomicBool::new(false);
            // Our half is empty (the exchange races the helper's swap at once) or takes a
            // millisecond (the helper, woken, has time to take its half).
            let pause = Duration::from_millis(round % 2);
            join(
                || std::thread::sleep(pause),
                || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let name = std::thread::current().name().map(str::to_owned);
                    let here = name.as_deref() == Some("mnist-mlp-pair");
                    on_pair_thread.store(here, Ordering::SeqCst);
                },
            );
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            match on_pair_thread.load(Ordering::SeqCst) {
                true => on_helper += 1,
                false => on_caller += 1,
            }
            if on_caller > 0 && on_helper > 0 {
                return;
            }
        }
        panic!(
            "10 000 joins: {on_caller} on the caller, {on_helper} on the helper; both should occur"
        );
    }

    #[test]
    fn split_mut_hands_each_part_its_offset() {
        let mut items = vec![0usize; 101];
        split_mut(&mut items, 40, |start, part| {
            for (i, item) in part.iter_mut().enumerate() {
                *item = start + i;
            }
        });
        assert_eq!(items, (0..101).collect::<Vec<_>>());
    }
}
