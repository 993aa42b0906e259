//! A sweep's stop: the two-stage Ctrl-C of [`crate::run::interrupt`], passed on to
//! every trial running in a child process. The children run outside the terminal's
//! process group, so each gets exactly one stop per stop of the coordinator,
//! however that stop arrived (a terminal's Ctrl-C, a scheduler's SIGTERM).

use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::train::Interrupter;

use crate::run::interrupt::{Interrupt, Stage};

/// Ctrl-C or SIGTERM: the first stops the running trials after their current step
/// and starts no others (their checkpoints let the next start resume them); a
/// second quits at once, the children too.
pub struct Stop {
    interrupt: Arc<Interrupt>,
    children: Arc<Watched>,
}

/// The process ids of the children running trials, which every signal reaches.
#[derive(Default)]
struct Watched(Mutex<Vec<u32>>);

impl Watched {
    fn pids(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        self.0.lock().expect("children lock")
    }
}

impl Stop {
    /// A stop that nothing signals yet: [`Stop::install`] hands it the process's signals.
    pub fn new(stopping: impl Into<String>, stopped: impl Into<String>) -> Self {
        let children = Arc::new(Watched::default());
        let watched = Arc::clone(&children);
        let interrupt = Interrupt::new(stopping, stopped).with_fan_out(move || {
            for &pid in watched.pids().iter() {
                interrupt(pid);
            }
        });
        Self {
            interrupt: Arc::new(interrupt),
            children,
        }
    }

    /// [`Stop::new`] as the process's signal handler: `stopping` is printed on the
    /// first signal, `stopped` on the second.
    pub fn on_signal(stopping: impl Into<String>, stopped: impl Into<String>) -> Result<Self> {
        let stop = Self::new(stopping, stopped);
        stop.interrupt.install()?;
        Ok(stop)
    }

    /// What a signal does, short of quitting.
    pub fn signal(&self) -> Stage {
        self.interrupt.signal()
    }

    pub fn asked(&self) -> bool {
        self.interrupt.asked()
    }

    /// A fresh interrupter for the next in-process trial.
    pub fn interrupter(&self) -> Interrupter {
        self.interrupt.interrupter()
    }

    /// Passes every later signal on to the child `pid`, and this one too if it came
    /// before the child was watched.
    pub fn watch(&self, pid: u32) {
        self.children.pids().push(pid);
        if self.asked() {
            interrupt(pid);
        }
    }

    /// Stops passing signals on to `pid`, a child that ended.
    pub fn forget(&self, pid: u32) {
        self.children.pids().retain(|&watched| watched != pid);
    }

    /// The children watched now, in the order they were watched.
    pub fn watched(&self) -> Vec<u32> {
        self.children.pids().clone()
    }
}

/// Sends SIGINT to a child (its Ctrl-C handler stops its trial after the current step).
#[cfg(unix)]
pub(crate) fn interrupt(pid: u32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    // A pid beyond i32 is no process of ours; never 0 or -1, which signal whole groups.
    // A child that has just ended is not an error worth reporting: it stopped anyway.
    if let Ok(pid) = i32::try_from(pid)
        && pid > 0
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
    }
}

/// Elsewhere the children share the console and receive Ctrl-C themselves.
#[cfg(not(unix))]
pub(crate) fn interrupt(_pid: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_watched_until_they_are_forgotten() {
        let stop = Stop::new("stopping", "stopped");
        stop.watch(11);
        stop.watch(12);
        stop.watch(13);
        stop.forget(12);
        assert_eq!(stop.watched(), [11, 13]);
        stop.forget(99);
        assert_eq!(stop.watched(), [11, 13]);
    }

    #[test]
    fn a_stop_reaches_the_in_process_trial_and_the_ones_after_it() {
        let stop = Stop::new("stopping", "stopped");
        let running = stop.interrupter();
        assert!(!stop.asked());
        assert_eq!(stop.signal(), Stage::Stopping);
        assert!(running.should_stop());
        assert!(stop.interrupter().should_stop());
        assert_eq!(stop.signal(), Stage::Quit);
    }

    #[cfg(unix)]
    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep(1)")
    }

    #[cfg(unix)]
    fn ended_by_sigint(child: &mut std::process::Child) -> bool {
        use std::os::unix::process::ExitStatusExt;
        child.wait().unwrap().signal() == Some(nix::libc::SIGINT)
    }

    #[cfg(unix)]
    #[test]
    fn every_watched_child_gets_the_signal() {
        let stop = Stop::new("stopping", "stopped");
        let (mut first, mut second) = (sleeper(), sleeper());
        stop.watch(first.id());
        stop.watch(second.id());
        stop.signal();
        assert!(ended_by_sigint(&mut first));
        assert!(ended_by_sigint(&mut second));
    }

    #[cfg(unix)]
    #[test]
    fn a_child_watched_after_the_stop_is_stopped_at_once() {
        let stop = Stop::new("stopping", "stopped");
        stop.signal();
        let mut late = sleeper();
        stop.watch(late.id());
        assert!(ended_by_sigint(&mut late));
    }
}
