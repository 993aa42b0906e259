//! Trials side by side: a pool of child processes, each `sweep FILE --trial K` on
//! its share of the cores with its console output in the trial's log. A child
//! reports nothing back: what became of its trial is read from the trial's files,
//! as any other process would read them.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::folder::{SweepDir, TrialStatus};
use super::stop::{Stop, interrupt};
use super::{Sweep, Trial};
use crate::cores::THREADS_ENV;
use crate::fsutil;
use crate::run_files::summary::Summary;

/// How often the pool looks for children that ended.
const POLL: Duration = Duration::from_millis(100);

/// How the coordinator starts its children.
#[derive(Debug, Clone)]
pub struct Children {
    /// The program run as `PROGRAM sweep FILE --trial K --artifacts DIR`: this binary.
    pub program: PathBuf,
    pub artifacts: PathBuf,
    /// Children running at once.
    pub jobs: usize,
    /// Cores of each child.
    pub threads: usize,
}

/// How a child's trial ended, as its files and exit status tell.
#[derive(Debug)]
pub enum ChildEnd {
    Finished(Box<Summary>),
    Failed(String),
    /// Stopped by Ctrl-C: it resumes next time.
    Stopped,
    /// The child found the trial's lock held by another process.
    Busy,
    /// The child ended without a result or a recorded failure (killed, or it failed
    /// before it could record one): its log says why.
    Lost(ExitStatus),
}

impl ChildEnd {
    /// What the trial's files say after its child ended with `exit`; `stopped` when
    /// a stop was asked, which is why a child ends with its trial unfinished.
    pub fn classify(status: TrialStatus, stopped: bool, exit: ExitStatus) -> Self {
        match status {
            TrialStatus::Finished(summary) => Self::Finished(summary),
            TrialStatus::Failed(message) => Self::Failed(message),
            _ if stopped => Self::Stopped,
            // A child exits cleanly without a result only when it skipped a busy trial.
            _ if exit.success() => Self::Busy,
            _ => Self::Lost(exit),
        }
    }
}

impl Children {
    fn spawn(&self, sweep: &Sweep, dir: &SweepDir, index: usize) -> Result<Child> {
        let log_path = dir.trial_log(index);
        let log = fsutil::open_log(&log_path)?;
        let mut command = Command::new(&self.program);
        command
            .arg("sweep")
            .arg(&sweep.file)
            .arg("--trial")
            .arg(index.to_string())
            .arg("--artifacts")
            .arg(&self.artifacts)
            .env(THREADS_ENV, self.threads.to_string())
            .env("RAYON_NUM_THREADS", self.threads.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Out of the terminal's process group: Ctrl-C reaches the coordinator alone, which
        // passes exactly one stop to each child however the stop arrived.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .spawn()
            .with_context(|| format!("cannot start a process for trial {index}"))
    }

    /// Runs `todo` as child processes, `jobs` at a time, calling `ended` for each
    /// trial as its child ends; returns how many were busy elsewhere.
    pub fn run(
        &self,
        sweep: &Sweep,
        dir: &SweepDir,
        todo: &[usize],
        stop: &Stop,
        ended: &mut dyn FnMut(&Trial, &ChildEnd),
    ) -> Result<usize> {
        let mut queue = todo.iter().copied();
        let mut running = Running::default();
        let mut busy = 0;
        loop {
            while running.0.len() < self.jobs && !stop.asked() {
                let Some(index) = queue.next() else { break };
                let child = self.spawn(sweep, dir, index)?;
                stop.watch(child.id());
                running.0.push((index, child));
            }
            if running.0.is_empty() {
                return Ok(busy);
            }
            std::thread::sleep(POLL);
            let mut next = 0;
            while next < running.0.len() {
                let Some(exit) = running.0[next].1.try_wait()? else {
                    next += 1;
                    continue;
                };
                let (index, child) = running.0.remove(next);
                stop.forget(child.id());
                let end = ChildEnd::classify(dir.status(&sweep.trials[index])?, stop.asked(), exit);
                busy += usize::from(matches!(end, ChildEnd::Busy));
                ended(&sweep.trials[index], &end);
            }
        }
    }
}

/// The trials' child processes, by trial index. Any still running when this goes
/// (the coordinator returning early on an error) are stopped first, and waited
/// for, so that none trains on unwatched.
#[derive(Default)]
struct Running(Vec<(usize, Child)>);

impl Drop for Running {
    fn drop(&mut self) {
        for (_, child) in &self.0 {
            interrupt(child.id());
        }
        for (_, child) in &mut self.0 {
            let _ = child.wait();
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;
    use crate::sweep::attempt::fixture::{Project, summary};

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn a_child_is_judged_by_its_trials_files_first() {
        let project = Project::new();
        let config = &project.sweep.trials[0].config;
        let finished = TrialStatus::Finished(Box::new(summary(config, 91.0, 1)));
        assert!(matches!(
            ChildEnd::classify(finished, true, exit(1)),
            ChildEnd::Finished(_)
        ));
        let failed = TrialStatus::Failed("diverged".into());
        assert!(matches!(
            ChildEnd::classify(failed, false, exit(1)),
            ChildEnd::Failed(message) if message == "diverged"
        ));
    }

    #[test]
    fn a_child_without_a_result_was_stopped_busy_or_lost() {
        let unfinished = || TrialStatus::Interrupted { epochs: 1 };
        assert!(matches!(
            ChildEnd::classify(unfinished(), true, exit(1)),
            ChildEnd::Stopped
        ));
        assert!(matches!(
            ChildEnd::classify(TrialStatus::NotStarted, false, exit(0)),
            ChildEnd::Busy
        ));
        let killed = ExitStatus::from_raw(nix::libc::SIGKILL);
        assert!(matches!(
            ChildEnd::classify(unfinished(), false, killed),
            ChildEnd::Lost(status) if status == killed
        ));
    }

    fn pool(program: &str, jobs: usize) -> Children {
        Children {
            program: program.into(),
            artifacts: "artifacts".into(),
            jobs,
            threads: 1,
        }
    }

    /// Runs `todo` with `program` standing in for the binary; the trials in the order they ended.
    fn run(
        project: &Project,
        children: &Children,
        todo: &[usize],
    ) -> (usize, Vec<(usize, String)>) {
        let stop = Stop::new("stopping", "stopped");
        let mut ends = Vec::new();
        let busy = children
            .run(
                &project.sweep,
                &project.dir,
                todo,
                &stop,
                &mut |trial, end| {
                    ends.push((trial.index, format!("{end:?}")));
                },
            )
            .unwrap();
        ends.sort();
        (busy, ends)
    }

    #[test]
    fn every_trial_gets_a_child_and_a_log() {
        let project = Project::new();
        project.fail(3, "out of memory");
        // `true` ignores the arguments and exits cleanly, as a child finding its trial busy does.
        let (busy, ends) = run(&project, &pool("true", 2), &[0, 1, 3]);
        assert_eq!(busy, 2);
        let trials: Vec<usize> = ends.iter().map(|(index, _)| *index).collect();
        assert_eq!(trials, [0, 1, 3]);
        assert_eq!(ends[0].1, "Busy");
        assert_eq!(ends[2].1, "Failed(\"out of memory\")");
        for index in [0, 1, 3] {
            assert!(project.dir.trial_log(index).is_file());
        }
        assert!(!project.dir.trial_log(2).exists());
    }

    #[test]
    fn a_child_that_fails_without_a_record_is_lost() {
        let project = Project::new();
        let (busy, ends) = run(&project, &pool("false", 1), &[2]);
        assert_eq!(busy, 0);
        assert!(ends[0].1.starts_with("Lost("), "{ends:?}");
    }

    #[test]
    fn a_stopped_pool_starts_no_children() {
        let project = Project::new();
        let stop = Stop::new("stopping", "stopped");
        stop.signal();
        let busy = pool("true", 2)
            .run(
                &project.sweep,
                &project.dir,
                &[0, 1],
                &stop,
                &mut |trial, _| panic!("trial {} ran", trial.index),
            )
            .unwrap();
        assert_eq!(busy, 0);
        assert!(!project.dir.trial_log(0).exists());
    }
}
