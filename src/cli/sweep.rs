//! `mnist-mlp sweep`: run a sweep file's trials (in this process, or as child
//! processes side by side), one trial alone as a task of a cluster array job, the
//! leaderboard from whatever has finished, or the winner retrained for the test set.
//! The running itself is the library's `sweep::runner`; this prints what it tells.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use mnist_mlp::run_files::artifacts_root;
use mnist_mlp::run_files::summary::Summary;
use mnist_mlp::sweep::attempt::TrialResult;
use mnist_mlp::sweep::children::ChildEnd;
use mnist_mlp::sweep::final_run::{FinalStep, retrain_winner};
use mnist_mlp::sweep::folder::SweepDir;
use mnist_mlp::sweep::leaderboard::Leaderboard;
use mnist_mlp::sweep::runner::{Event, Schedule, TrialChoice, all_trials, one_trial};
use mnist_mlp::sweep::stop::Stop;
use mnist_mlp::sweep::{Sweep, Trial, publish};

const INTERRUPTED: &str = "sweep interrupted: run the same command again to continue";
const STOPPING: &str =
    "stopping the running trials after their current step (a second Ctrl-C or SIGTERM quits now)…";

#[derive(Args)]
pub struct SweepArgs {
    /// Sweep file (TOML), e.g. config/sweeps/l2.toml.
    #[arg(value_parser = super::user_path)]
    file: PathBuf,
    /// Trials run side by side, each on its share of the cores (default: one per two cores).
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
    /// Print every trial with its overrides and status, and how many there are.
    #[arg(long, conflicts_with_all = ["jobs", "trial", "collect", "final_run"])]
    list: bool,
    /// Run trial K alone (default: $SLURM_ARRAY_TASK_ID), e.g. as one task of an array job.
    #[arg(long, value_name = "K", num_args = 0..=1, conflicts_with_all = ["jobs", "collect", "final_run"])]
    trial: Option<Option<usize>>,
    /// Rebuild the leaderboard from the trials finished so far, without training.
    #[arg(long, conflicts_with_all = ["jobs", "final_run"])]
    collect: bool,
    /// Retrain the winner on every training image and evaluate it on the test set, once.
    #[arg(long = "final", conflicts_with = "jobs")]
    final_run: bool,
    /// Artifacts folder (default: $MNIST_MLP_ARTIFACTS or ./artifacts); the sweep goes in sweeps/<name>/.
    #[arg(long, value_parser = super::user_path)]
    artifacts: Option<PathBuf>,
}

pub fn run(args: SweepArgs) -> Result<()> {
    let sweep = Sweep::load(&args.file)?;
    let artifacts = args.artifacts.clone().unwrap_or_else(artifacts_root);
    let dir = SweepDir::new(&artifacts, &sweep.name);
    if args.list {
        dir.check_plan(&sweep, false)?;
        return list(&sweep, &dir);
    }
    if args.collect {
        dir.check_plan(&sweep, false)?;
        return collect(&sweep, &dir);
    }
    // clap's `--trial` with an optional value: absent, bare (the array task's), or K.
    let trial = args
        .trial
        .map(|given| given.map_or(TrialChoice::SlurmTask, TrialChoice::Number))
        .map(|choice| choice.resolve(&sweep))
        .transpose()?;
    // The final run retrains a finished trial, so it never needs to make the folder.
    dir.check_plan(&sweep, !args.final_run)?;
    let stop = Stop::on_signal(STOPPING, format!("stopped; {INTERRUPTED}"))?;
    if args.final_run {
        return final_run(&sweep, &dir, &stop);
    }
    match trial {
        Some(index) => print_one_trial(&sweep, &dir, index, &stop),
        None => {
            let schedule = Schedule::new(&sweep, &dir, args.jobs, &artifacts)?;
            if let Some(asked) = args.jobs.filter(|asked| asked.get() > schedule.jobs()) {
                eprintln!(
                    "note: --jobs {asked} is more than this machine's cores: running {} at a time",
                    schedule.jobs()
                );
            }
            print_all_trials(&sweep, &dir, &schedule, &stop)
        }
    }
}

fn list(sweep: &Sweep, dir: &SweepDir) -> Result<()> {
    println!(
        "sweep {} ({} trials) in {}",
        sweep.name,
        sweep.trials.len(),
        dir.root.display()
    );
    let width = sweep
        .trials
        .iter()
        .map(|trial| trial.label.chars().count())
        .max()
        .unwrap_or(0);
    for trial in &sweep.trials {
        println!(
            "{:>5}  {:<width$}  {}",
            trial.index,
            trial.label,
            dir.status(trial)?.describe()
        );
    }
    let last = sweep.trials.len() - 1;
    println!(
        "{} trials: run one with --trial K (K = 0 … {last}), e.g. as a Slurm array job with --array=0-{last}",
        sweep.trials.len()
    );
    Ok(())
}

fn collect(sweep: &Sweep, dir: &SweepDir) -> Result<()> {
    if !dir.root.is_dir() {
        bail!(
            "no folder {} yet: run the sweep first (the same command without --collect)",
            dir.root.display()
        );
    }
    let board = publish::refresh(sweep, dir)?;
    print_standing(sweep, dir, &board);
    Ok(())
}

/// How far the sweep is, its winner and where the leaderboard is.
fn print_standing(sweep: &Sweep, dir: &SweepDir, board: &Leaderboard) {
    let failed = match board.failed() {
        0 => String::new(),
        failed => format!(", {failed} failed (running the sweep again retries them)"),
    };
    println!(
        "{} of {} trials finished{failed}; leaderboard: {}",
        board.finished().count(),
        sweep.trials.len(),
        dir.leaderboard_md().display()
    );
    if let Some((trial, summary)) = board.winner() {
        println!(
            "winner: trial {} ({}){}",
            trial.index,
            trial.label,
            accuracy(summary)
        );
    }
}

/// ": validation accuracy 97.81 %", or nothing for a run without validation figures.
fn accuracy(summary: &Summary) -> String {
    summary.validation_accuracy.map_or(String::new(), |value| {
        format!(": validation accuracy {value:.2} %")
    })
}

/// "trial 3", or "trial 3 (its label)" where side-by-side trials' lines interleave.
fn trial_name(trial: &Trial, labelled: bool) -> String {
    if labelled {
        format!("trial {} ({})", trial.index, trial.label)
    } else {
        format!("trial {}", trial.index)
    }
}

fn print_busy(name: &str) {
    println!("{name} is running in another process: skipped");
}

fn print_one_trial(sweep: &Sweep, dir: &SweepDir, index: usize, stop: &Stop) -> Result<()> {
    let name = trial_name(&sweep.trials[index], false);
    match one_trial(sweep, dir, index, stop)? {
        TrialResult::Finished(summary) => println!("{name} finished{}", accuracy(&summary)),
        TrialResult::AlreadyFinished => println!("{name} is already finished: skipped"),
        TrialResult::Busy => print_busy(&name),
        TrialResult::Failed(message) => bail!("{name} failed: {message}"),
        TrialResult::Interrupted => bail!(INTERRUPTED),
    }
    Ok(())
}

/// Every trial not finished yet, one line as each ends; then the leaderboard.
fn print_all_trials(sweep: &Sweep, dir: &SweepDir, schedule: &Schedule, stop: &Stop) -> Result<()> {
    let side_by_side = match &schedule.children {
        Some(children) => {
            let cores = if children.threads == 1 {
                "core"
            } else {
                "cores"
            };
            format!(
                " ({} at a time on {} {cores} each; their output goes to trials/trial-KKK.log)",
                children.jobs, children.threads
            )
        }
        None => String::new(),
    };
    println!(
        "sweep {}: {} trials, {} finished, {} to run{side_by_side}",
        sweep.name,
        schedule.total,
        schedule.finished(),
        schedule.todo.len(),
    );
    let swept = all_trials(sweep, dir, schedule, stop, &mut |event| {
        print_event(dir, &event)
    })?;
    if swept.stopped {
        bail!(INTERRUPTED);
    }
    print_standing(sweep, dir, &swept.board);
    match swept.busy {
        0 => {}
        1 => println!("1 trial is running in another process: `--collect` once it finishes"),
        busy => {
            println!("{busy} trials are running in other processes: `--collect` once they finish")
        }
    }
    // A script (or a Slurm dependency) must see that trials are left unfinished.
    let failed = swept.board.failed();
    let unfinished = swept.board.unfinished().saturating_sub(swept.busy);
    if failed + unfinished == 0 {
        return Ok(());
    }
    let ended = match (failed, unfinished) {
        (_, 0) => format!("{failed} failed"),
        (0, _) => format!("{unfinished} ended without a result"),
        _ => format!("{failed} failed and {unfinished} ended without a result"),
    };
    bail!(
        "of {} trials, {ended} (see above and {}): fix the cause, then run the same command again to retry or resume them",
        sweep.trials.len(),
        dir.leaderboard_md().display()
    )
}

fn print_event(dir: &SweepDir, event: &Event) {
    match *event {
        Event::Starting { trial, number, of } => {
            println!(
                "\n=== trial {} ({}), {number} of {of} ===",
                trial.index, trial.label
            );
        }
        Event::Ran { trial, result } => {
            let name = trial_name(trial, false);
            match result {
                TrialResult::Finished(summary) => println!("{name} finished{}", accuracy(summary)),
                TrialResult::AlreadyFinished => println!("{name} was finished by another process"),
                TrialResult::Busy => print_busy(&name),
                TrialResult::Failed(message) => eprintln!("{name} failed: {message}"),
                // The sweep ends with its own message.
                TrialResult::Interrupted => {}
            }
        }
        Event::ChildEnded { trial, end } => {
            let name = trial_name(trial, true);
            match end {
                ChildEnd::Finished(summary) => println!("{name} finished{}", accuracy(summary)),
                ChildEnd::Failed(message) => eprintln!("{name} failed: {message}"),
                ChildEnd::Stopped => println!("{name} stopped: it resumes next time"),
                ChildEnd::Busy => print_busy(&name),
                ChildEnd::Lost(status) => eprintln!(
                    "{name} ended ({status}) without a result: see {}",
                    dir.trial_log(trial.index).display()
                ),
            }
        }
    }
}

/// The winner retrained for the test set, or its final run reported again.
fn final_run(sweep: &Sweep, dir: &SweepDir, stop: &Stop) -> Result<()> {
    let retrained = retrain_winner(sweep, dir, stop, &mut |step| match step {
        FinalStep::Provisional { finished, of } => {
            eprintln!(
                "note: the winner is chosen among the {finished} of {of} trials finished so far"
            );
        }
        FinalStep::AlreadyDone => println!("the final run is already done"),
        FinalStep::StartingOver => println!(
            "the unfinished final run of an earlier winner starts over (it had not looked at the test set yet)"
        ),
        FinalStep::Retraining { trial, epochs } => println!(
            "retraining trial {} ({}) on every training image for {epochs} epochs",
            trial.index, trial.label
        ),
    })?;
    let Some(retrained) = retrained else {
        bail!(INTERRUPTED);
    };
    println!(
        "final run of trial {} ({}): test accuracy {:.2} %; run files in {}, added to {}",
        retrained.trial.index,
        retrained.trial.label,
        retrained.summary.test_accuracy,
        retrained.run.root.display(),
        dir.leaderboard_md().display()
    );
    Ok(())
}
