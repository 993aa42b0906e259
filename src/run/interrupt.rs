//! Ctrl-C (or SIGTERM, SIGHUP) in two stages, for `train` and `sweep` alike: the
//! first asks the running training to stop after its current step, so that its last
//! checkpoint lets a later start continue; a second quits at once, since a person
//! pressing it again wants out now and the checkpoint is safe either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::train::Interrupter;

/// Why the training stopped, as Burn's interrupter records it: the handler cannot tell
/// a terminal's Ctrl-C from a scheduler's SIGTERM.
const STOP_REASON: &str = "Ctrl-C or SIGTERM";

/// Exit status of a process quit by a second signal: the shell's 128 + SIGINT.
pub const QUIT_STATUS: i32 = 130;

/// The process's stop: whether one was asked for, and the training it reaches.
pub struct Interrupt {
    asked: AtomicBool,
    /// The running training's interrupter; each run gets a fresh one.
    current: Mutex<Option<Interrupter>>,
    /// Runs on every signal before anything else, e.g. to pass it on to child processes.
    fan_out: Option<Box<dyn Fn() + Send + Sync>>,
    /// Printed on the first signal.
    stopping: String,
    /// Printed on the second, just before quitting.
    stopped: String,
}

/// What one signal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The first: the training stops after its current step.
    Stopping,
    /// A later one: the process should quit now.
    Quit,
}

impl Interrupt {
    /// A stop that prints `stopping` on the first signal and `stopped` on the second
    /// (each on a line of its own, after the progress line it interrupts).
    pub fn new(stopping: impl Into<String>, stopped: impl Into<String>) -> Self {
        Self {
            asked: AtomicBool::new(false),
            current: Mutex::new(None),
            fan_out: None,
            stopping: stopping.into(),
            stopped: stopped.into(),
        }
    }

    /// Also runs `fan_out` on every signal, the second included, before this process
    /// acts on it: child processes get each stop this process gets.
    pub fn with_fan_out(mut self, fan_out: impl Fn() + Send + Sync + 'static) -> Self {
        self.fan_out = Some(Box::new(fan_out));
        self
    }

    /// [`Interrupt::new`] as the process's signal handler.
    pub fn on_signal(stopping: impl Into<String>, stopped: impl Into<String>) -> Result<Arc<Self>> {
        let interrupt = Arc::new(Self::new(stopping, stopped));
        interrupt.install()?;
        Ok(interrupt)
    }

    /// Makes this the process's signal handler; ctrlc allows one per process.
    pub fn install(self: &Arc<Self>) -> Result<()> {
        let handle = Arc::clone(self);
        ctrlc::set_handler(move || {
            if handle.signal() == Stage::Quit {
                eprintln!("\n{}", handle.stopped);
                std::process::exit(QUIT_STATUS);
            }
        })?;
        Ok(())
    }

    /// What a signal does, short of quitting (which the installed handler does on
    /// [`Stage::Quit`]): callable directly, so the stop can be tested.
    pub fn signal(&self) -> Stage {
        let again = self.asked.swap(true, Ordering::SeqCst);
        if let Some(fan_out) = &self.fan_out {
            fan_out();
        }
        if again {
            return Stage::Quit;
        }
        eprintln!("\n{}", self.stopping);
        if let Some(interrupter) = self.current.lock().expect("interrupter lock").as_ref() {
            interrupter.stop(Some(STOP_REASON));
        }
        Stage::Stopping
    }

    pub fn asked(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
    }

    /// A fresh interrupter for the next run, stopped already if a stop was asked: one
    /// that stopped (a divergence stops it too) must not stop the runs after it.
    pub fn interrupter(&self) -> Interrupter {
        let interrupter = Interrupter::new();
        *self.current.lock().expect("interrupter lock") = Some(interrupter.clone());
        if self.asked() {
            interrupter.stop(Some(STOP_REASON));
        }
        interrupter
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn the_first_signal_stops_the_current_run_and_the_second_quits() {
        let interrupt = Interrupt::new("stopping", "stopped");
        let first = interrupt.interrupter();
        let current = interrupt.interrupter();
        assert!(!interrupt.asked());
        assert_eq!(interrupt.signal(), Stage::Stopping);
        assert!(interrupt.asked());
        assert!(current.should_stop(), "the current run stops");
        assert!(
            !first.should_stop(),
            "an earlier run's interrupter is left alone"
        );
        assert_eq!(interrupt.signal(), Stage::Quit);
        assert_eq!(interrupt.signal(), Stage::Quit);
    }

    #[test]
    fn a_run_started_after_the_stop_is_stopped_from_the_start() {
        let interrupt = Interrupt::new("stopping", "stopped");
        assert_eq!(interrupt.signal(), Stage::Stopping);
        assert!(interrupt.interrupter().should_stop());
    }

    #[test]
    fn the_fan_out_runs_on_every_signal() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let interrupt = Interrupt::new("stopping", "stopped").with_fan_out(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        interrupt.signal();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        interrupt.signal();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
