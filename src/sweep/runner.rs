//! Which trials a process runs, and running them: one alone (`--trial K`, e.g. one
//! task of a cluster array job), or every unfinished one, one after the other in
//! this process or side by side as child processes. Whoever runs what, a trial's
//! state lives in its files, so nothing is run twice and nothing is lost.

use std::num::NonZeroUsize;
use std::path::Path;

use anyhow::{Result, anyhow, bail};

use super::attempt::{TrialResult, run_trial};
use super::children::{ChildEnd, Children};
use super::folder::SweepDir;
use super::leaderboard::Leaderboard;
use super::stop::Stop;
use super::{Sweep, Trial, publish};
use crate::cores;

/// Set by Slurm in each task of an array job (`sbatch --array=0-7`).
pub const SLURM_TASK_ENV: &str = "SLURM_ARRAY_TASK_ID";

/// Which one trial a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialChoice {
    Number(usize),
    /// `$SLURM_ARRAY_TASK_ID`: the same command for every task of an array job.
    SlurmTask,
}

impl TrialChoice {
    /// The trial's index, refused when the sweep has no such trial.
    pub fn resolve(self, sweep: &Sweep) -> Result<usize> {
        self.resolve_with(sweep, std::env::var(SLURM_TASK_ENV).ok())
    }

    /// [`TrialChoice::resolve`] with the task id given, not read from the environment.
    fn resolve_with(self, sweep: &Sweep, task: Option<String>) -> Result<usize> {
        let index = match self {
            Self::Number(index) => index,
            Self::SlurmTask => {
                let Some(task) = task else {
                    bail!(
                        "--trial needs a trial number K, or ${SLURM_TASK_ENV} as a Slurm array job sets it: `--list` shows the trials"
                    );
                };
                task.trim()
                    .parse()
                    .map_err(|_| {
                        anyhow!(
                            "${SLURM_TASK_ENV} = {task:?} is not a trial number: give the trial with --trial K, or run under an array job (--array=0-N)"
                        )
                    })?
            }
        };
        let count = sweep.trials.len();
        if index >= count {
            bail!(
                "trial {index} does not exist: sweep {} has trials 0 to {} (see --list)",
                sweep.name,
                count - 1
            );
        }
        Ok(index)
    }
}

/// Runs trial `index` alone; the leaderboard is rebuilt when it finished or failed.
pub fn one_trial(sweep: &Sweep, dir: &SweepDir, index: usize, stop: &Stop) -> Result<TrialResult> {
    let result = run_trial(dir, &sweep.trials[index], stop)?;
    if matches!(result, TrialResult::Finished(_) | TrialResult::Failed(_)) {
        publish::refresh(sweep, dir)?;
    }
    Ok(result)
}

/// The trials a sweep still has to run, and how.
#[derive(Debug)]
pub struct Schedule {
    /// The unfinished trials (failed ones are retried), in index order.
    pub todo: Vec<usize>,
    /// Trials in the sweep.
    pub total: usize,
    /// Side by side as child processes; `None`: one after the other in this process.
    pub children: Option<Children>,
}

impl Schedule {
    /// Every unfinished trial, `jobs` at a time (default: one per two cores); the
    /// children of a sweep with `jobs` > 1 write into `artifacts`.
    pub fn new(
        sweep: &Sweep,
        dir: &SweepDir,
        jobs: Option<NonZeroUsize>,
        artifacts: &Path,
    ) -> Result<Self> {
        let mut schedule = Self::on_cores(sweep, dir, jobs, cores::count())?;
        if let Some(children) = &mut schedule.children {
            children.program = std::env::current_exe()?;
            children.artifacts = artifacts.to_path_buf();
        }
        Ok(schedule)
    }

    /// [`Schedule::new`] for a machine of `cores` cores, its children's program unset.
    fn on_cores(
        sweep: &Sweep,
        dir: &SweepDir,
        jobs: Option<NonZeroUsize>,
        cores: usize,
    ) -> Result<Self> {
        let mut todo = Vec::new();
        for trial in &sweep.trials {
            if !dir.status(trial)?.is_finished() {
                todo.push(trial.index);
            }
        }
        // More trials at once than cores only time-slices them, each holding its
        // own copy of MNIST and its model: `--jobs 10000` would exhaust memory.
        let jobs = jobs
            .map_or_else(|| cores / 2, NonZeroUsize::get)
            .min(cores)
            .max(1);
        let children = (jobs > 1).then(|| Children {
            program: Default::default(),
            artifacts: Default::default(),
            jobs,
            threads: (cores / jobs).max(1),
        });
        Ok(Self {
            todo,
            total: sweep.trials.len(),
            children,
        })
    }

    pub fn finished(&self) -> usize {
        self.total - self.todo.len()
    }

    /// How many trials run at once.
    pub fn jobs(&self) -> usize {
        self.children.as_ref().map_or(1, |children| children.jobs)
    }
}

/// What a running sweep tells its watcher, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// An in-process trial starts: the `number`-th (from 1) of `of`.
    Starting {
        trial: &'a Trial,
        number: usize,
        of: usize,
    },
    /// An in-process trial's attempt ended; the sweep ends after an interrupted one.
    Ran {
        trial: &'a Trial,
        result: &'a TrialResult,
    },
    /// A child process's trial ended.
    ChildEnded { trial: &'a Trial, end: &'a ChildEnd },
}

/// Where a sweep run stands once it returns.
pub struct Swept<'a> {
    /// Rebuilt after the last trial.
    pub board: Leaderboard<'a>,
    /// Trials skipped because other processes were running them.
    pub busy: usize,
    /// A stop was asked: the unfinished trials resume next time.
    pub stopped: bool,
}

/// Runs the schedule's trials, telling `watch` as they start and end, then rebuilds
/// the leaderboard from whatever finished.
pub fn all_trials<'a>(
    sweep: &'a Sweep,
    dir: &SweepDir,
    schedule: &Schedule,
    stop: &Stop,
    watch: &mut dyn FnMut(Event<'_>),
) -> Result<Swept<'a>> {
    let busy = match &schedule.children {
        None => in_process(sweep, dir, &schedule.todo, stop, watch)?,
        Some(children) => children.run(sweep, dir, &schedule.todo, stop, &mut |trial, end| {
            watch(Event::ChildEnded { trial, end })
        })?,
    };
    let board = publish::refresh(sweep, dir)?;
    Ok(Swept {
        board,
        busy,
        stopped: stop.asked(),
    })
}

/// Runs `todo` one after the other in this process; returns how many were busy elsewhere.
fn in_process(
    sweep: &Sweep,
    dir: &SweepDir,
    todo: &[usize],
    stop: &Stop,
    watch: &mut dyn FnMut(Event<'_>),
) -> Result<usize> {
    let mut busy = 0;
    for (done, &index) in todo.iter().enumerate() {
        if stop.asked() {
            break;
        }
        let trial = &sweep.trials[index];
        watch(Event::Starting {
            trial,
            number: done + 1,
            of: todo.len(),
        });
        let result = run_trial(dir, trial, stop)?;
        match result {
            TrialResult::Finished(_) | TrialResult::Failed(_) => {
                publish::refresh(sweep, dir)?;
            }
            TrialResult::Busy => busy += 1,
            TrialResult::AlreadyFinished | TrialResult::Interrupted => {}
        }
        watch(Event::Ran {
            trial,
            result: &result,
        });
        if matches!(result, TrialResult::Interrupted) {
            break;
        }
    }
    Ok(busy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::try_lock;
    use crate::sweep::attempt::fixture::Project;

    fn jobs(n: usize) -> Option<NonZeroUsize> {
        NonZeroUsize::new(n)
    }

    #[test]
    fn a_trial_is_chosen_by_number_or_by_the_array_tasks_id() {
        let project = Project::new();
        let sweep = &project.sweep;
        assert_eq!(TrialChoice::Number(3).resolve_with(sweep, None).unwrap(), 3);
        let choice = TrialChoice::SlurmTask;
        assert_eq!(choice.resolve_with(sweep, Some(" 2\n".into())).unwrap(), 2);
        let error = |choice: TrialChoice, task: Option<&str>| {
            let err = choice
                .resolve_with(sweep, task.map(String::from))
                .unwrap_err();
            format!("{err:#}")
        };
        assert!(error(choice, None).contains("SLURM_ARRAY_TASK_ID"));
        assert!(error(choice, Some("two")).contains("\"two\" is not a trial number"));
        let missing = error(TrialChoice::Number(4), None);
        assert_eq!(
            missing,
            "trial 4 does not exist: sweep s has trials 0 to 3 (see --list)"
        );
        assert!(error(choice, Some("4")).contains("trial 4 does not exist"));
    }

    #[test]
    fn every_unfinished_trial_is_to_do_in_order_failed_ones_included() {
        let project = Project::new();
        project.finish(0, 90.0, 7);
        project.start(1);
        project.fail(2, "diverged");
        let schedule = Schedule::on_cores(&project.sweep, &project.dir, jobs(1), 8).unwrap();
        assert_eq!(schedule.todo, [1, 2, 3]);
        assert_eq!((schedule.finished(), schedule.total), (1, 4));
        assert!(schedule.children.is_none());
    }

    #[test]
    fn trials_share_the_cores_one_per_two_unless_told() {
        let project = Project::new();
        let pool = |jobs, cores| {
            Schedule::on_cores(&project.sweep, &project.dir, jobs, cores)
                .unwrap()
                .children
                .map(|children| (children.jobs, children.threads))
        };
        assert_eq!(pool(None, 16), Some((8, 2)));
        assert_eq!(pool(jobs(3), 16), Some((3, 5)));
        assert_eq!(pool(jobs(4), 2), Some((2, 1)), "no more jobs than cores");
        assert_eq!(
            pool(None, 3),
            None,
            "one job on three cores runs in process"
        );
        assert_eq!(pool(None, 1), None);
    }

    /// The events of an in-process sweep, one line each.
    fn in_process_events(project: &Project, stop: &Stop) -> (Vec<String>, usize, bool) {
        let schedule = Schedule::on_cores(&project.sweep, &project.dir, jobs(1), 2).unwrap();
        let mut events = Vec::new();
        let swept = all_trials(
            &project.sweep,
            &project.dir,
            &schedule,
            stop,
            &mut |event| {
                events.push(match event {
                    Event::Starting { trial, number, of } => {
                        format!("start {} ({number} of {of})", trial.index)
                    }
                    Event::Ran { trial, result } => format!("{} {result:?}", trial.index),
                    Event::ChildEnded { .. } => unreachable!("no children in process"),
                })
            },
        )
        .unwrap();
        (events, swept.busy, swept.stopped)
    }

    #[test]
    fn in_process_trials_run_in_order_and_busy_ones_are_counted() {
        let project = Project::new();
        project.finish(1, 90.0, 7);
        let _held: Vec<_> = [0, 2, 3]
            .map(|index| try_lock(&project.dir.trial_lock(index)).unwrap().unwrap())
            .into();
        let stop = Stop::new("stopping", "stopped");
        let (events, busy, stopped) = in_process_events(&project, &stop);
        assert_eq!(
            events,
            [
                "start 0 (1 of 3)",
                "0 Busy",
                "start 2 (2 of 3)",
                "2 Busy",
                "start 3 (3 of 3)",
                "3 Busy"
            ]
        );
        assert_eq!(busy, 3);
        assert!(!stopped);
        assert!(project.dir.leaderboard_md().is_file());
    }

    #[test]
    fn a_stopped_sweep_starts_no_trial_and_says_so() {
        let project = Project::new();
        let stop = Stop::new("stopping", "stopped");
        stop.signal();
        let (events, busy, stopped) = in_process_events(&project, &stop);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(busy, 0);
        assert!(stopped);
    }
}
