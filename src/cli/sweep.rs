//! `mnist-mlp sweep`: run a sweep file's trials (in this process, or as child
//! processes side by side), one trial alone as a task of a cluster array job, the
//! leaderboard from whatever has finished, or the winner retrained for the test set.
//!
//! Any number of processes may work on one sweep folder at once: a trial runs only
//! under its lock file, and its state lives in its files, so nothing is run twice
//! and nothing is lost, whoever runs what.

use std::fs::OpenOptions;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use burn::train::Interrupter;
use clap::Args;
use mnist_mlp::config::ExperimentConfig;
use mnist_mlp::cores::{self, THREADS_ENV};
use mnist_mlp::fsutil::{try_lock, write_atomic};
use mnist_mlp::run::{RunOptions, run_experiment};
use mnist_mlp::run_files::summary::Summary;
use mnist_mlp::run_files::{RunDir, artifacts_root};
use mnist_mlp::sweep::folder::{FINAL, SweepDir, TrialStatus};
use mnist_mlp::sweep::leaderboard::Leaderboard;
use mnist_mlp::sweep::publish;
use mnist_mlp::sweep::{Sweep, Trial};

/// Set by Slurm in each task of an array job (`sbatch --array=0-7`).
const SLURM_TASK_ENV: &str = "SLURM_ARRAY_TASK_ID";
const INTERRUPTED: &str = "sweep interrupted: run the same command again to continue";

#[derive(Args)]
pub struct SweepArgs {
    /// Sweep file (TOML), e.g. config/sweeps/l2.toml.
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
    #[arg(long)]
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
    let trial = args
        .trial
        .map(|index| trial_index(index, &sweep))
        .transpose()?;
    dir.check_plan(&sweep, true)?;
    let stop = Stop::on_signal()?;
    if args.final_run {
        return final_run(&sweep, &dir, &stop);
    }
    match trial {
        Some(index) => one_trial(&sweep, &dir, index, &stop),
        None => {
            let jobs = args
                .jobs
                .map_or_else(|| (cores::count() / 2).max(1), NonZeroUsize::get);
            all_trials(&sweep, &dir, &args.file, &artifacts, jobs, &stop)
        }
    }
}

/// `--trial K`, else `$SLURM_ARRAY_TASK_ID`.
fn trial_index(given: Option<usize>, sweep: &Sweep) -> Result<usize> {
    let index = match given {
        Some(index) => index,
        None => {
            let Ok(task) = std::env::var(SLURM_TASK_ENV) else {
                bail!(
                    "--trial needs a trial number K, or ${SLURM_TASK_ENV} as a Slurm array job sets it: `--list` shows the trials"
                );
            };
            task.trim()
                .parse()
                .map_err(|_| anyhow!("${SLURM_TASK_ENV} = {task:?} is not a trial number"))?
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
        .map(|t| t.label.chars().count())
        .max()
        .unwrap_or(0);
    for trial in &sweep.trials {
        println!(
            "{:>5}  {:<width$}  {}",
            trial.index,
            trial.label,
            dir.status(trial.index)?.describe()
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
            "no folder {} yet: run the sweep first (`mnist-mlp sweep {}`)",
            dir.root.display(),
            sweep.file.display()
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
    summary
        .validation_accuracy
        .map_or(String::new(), |a| format!(": validation accuracy {a:.2} %"))
}

/// What became of one attempt at a trial.
enum Outcome {
    Finished(Box<Summary>),
    AlreadyFinished,
    /// Another process holds the trial's lock.
    Busy,
    Failed(String),
    Interrupted,
}

fn one_trial(sweep: &Sweep, dir: &SweepDir, index: usize, stop: &Stop) -> Result<()> {
    let trial = &sweep.trials[index];
    match run_trial(dir, trial, stop)? {
        Outcome::Finished(summary) => {
            publish::refresh(sweep, dir)?;
            println!("trial {index} finished{}", accuracy(&summary));
            Ok(())
        }
        Outcome::AlreadyFinished => {
            println!("trial {index} is already finished: skipped");
            Ok(())
        }
        Outcome::Busy => {
            println!("trial {index} is running in another process: skipped");
            Ok(())
        }
        Outcome::Failed(message) => {
            publish::refresh(sweep, dir)?;
            bail!("trial {index} failed: {message}")
        }
        Outcome::Interrupted => bail!(INTERRUPTED),
    }
}

/// Runs (or resumes) one trial under its lock, recording a failure in its `.failed`
/// file rather than stopping the sweep.
fn run_trial(dir: &SweepDir, trial: &Trial, stop: &Stop) -> Result<Outcome> {
    let Some(_lock) = try_lock(&dir.trial_lock(trial.index))? else {
        return Ok(Outcome::Busy);
    };
    if dir.status(trial.index)?.is_finished() {
        return Ok(Outcome::AlreadyFinished);
    }
    let failed = dir.trial_failed(trial.index);
    match train(&trial.config, &dir.trials(), stop) {
        Ok(Some(summary)) => {
            if failed.exists() {
                std::fs::remove_file(&failed)
                    .with_context(|| format!("cannot remove {}", failed.display()))?;
            }
            Ok(Outcome::Finished(Box::new(summary)))
        }
        Ok(None) => Ok(Outcome::Interrupted),
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            write_atomic(&failed, message.as_bytes())?;
            Ok(Outcome::Failed(message))
        }
    }
}

/// Trains `config` into `<artifacts>/<name>/`, resuming what an earlier attempt
/// left there; `None` when Ctrl-C stopped it.
fn train(config: &ExperimentConfig, artifacts: &Path, stop: &Stop) -> Result<Option<Summary>> {
    let run = RunDir::new(artifacts, &config.experiment.name);
    let options = RunOptions {
        artifacts: artifacts.to_path_buf(),
        // A started run resumes from its last complete epoch (or starts over if it has none).
        resume: run.config().is_file(),
        fresh: false,
    };
    match run_experiment(config, &options, stop.interrupter()) {
        Ok(finished) => Ok(Some(finished.summary)),
        Err(_) if stop.asked() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Every trial not finished yet, `jobs` at a time; then the leaderboard.
fn all_trials(
    sweep: &Sweep,
    dir: &SweepDir,
    file: &Path,
    artifacts: &Path,
    jobs: usize,
    stop: &Stop,
) -> Result<()> {
    let mut todo = Vec::new();
    for trial in &sweep.trials {
        if !dir.status(trial.index)?.is_finished() {
            todo.push(trial.index);
        }
    }
    let total = sweep.trials.len();
    let threads = (cores::count() / jobs).max(1);
    println!(
        "sweep {}: {total} trials, {} finished, {} to run{}",
        sweep.name,
        total - todo.len(),
        todo.len(),
        if jobs > 1 {
            let cores = if threads == 1 { "core" } else { "cores" };
            format!(
                " ({jobs} at a time on {threads} {cores} each; their output goes to trials/trial-KKK.log)"
            )
        } else {
            String::new()
        }
    );
    let busy = if jobs == 1 {
        in_process(sweep, dir, &todo, stop)?
    } else {
        side_by_side(
            sweep,
            dir,
            &todo,
            &Children {
                file,
                artifacts,
                jobs,
                threads,
            },
            stop,
        )?
    };
    let board = publish::refresh(sweep, dir)?;
    if stop.asked() {
        bail!(INTERRUPTED);
    }
    print_standing(sweep, dir, &board);
    if busy > 0 {
        println!("{busy} trials are running in other processes: `--collect` once they finish");
    }
    Ok(())
}

/// Runs `todo` one after the other in this process; returns how many were busy elsewhere.
fn in_process(sweep: &Sweep, dir: &SweepDir, todo: &[usize], stop: &Stop) -> Result<usize> {
    let mut busy = 0;
    for (done, &index) in todo.iter().enumerate() {
        if stop.asked() {
            break;
        }
        let trial = &sweep.trials[index];
        println!(
            "\n=== trial {index} ({}), {} of {} ===",
            trial.label,
            done + 1,
            todo.len()
        );
        match run_trial(dir, trial, stop)? {
            Outcome::Finished(summary) => {
                publish::refresh(sweep, dir)?;
                println!("trial {index} finished{}", accuracy(&summary));
            }
            Outcome::AlreadyFinished => println!("trial {index} was finished by another process"),
            Outcome::Busy => {
                busy += 1;
                println!("trial {index} is running in another process: skipped");
            }
            Outcome::Failed(message) => {
                publish::refresh(sweep, dir)?;
                eprintln!("trial {index} failed: {message}");
            }
            Outcome::Interrupted => break,
        }
    }
    Ok(busy)
}

/// How the coordinator starts its children: `sweep FILE --trial K` on a share of the cores.
struct Children<'a> {
    file: &'a Path,
    artifacts: &'a Path,
    jobs: usize,
    threads: usize,
}

impl Children<'_> {
    fn spawn(&self, dir: &SweepDir, index: usize) -> Result<Child> {
        let log_path = dir.trial_log(index);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("sweep")
            .arg(self.file)
            .arg("--trial")
            .arg(index.to_string())
            .arg("--artifacts")
            .arg(self.artifacts)
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
}

/// Runs `todo` as child processes, `jobs` at a time, printing one line per trial
/// as it ends; returns how many were busy elsewhere.
fn side_by_side(
    sweep: &Sweep,
    dir: &SweepDir,
    todo: &[usize],
    children: &Children,
    stop: &Stop,
) -> Result<usize> {
    let mut queue = todo.iter().copied();
    let mut running = Running::default();
    let mut busy = 0;
    loop {
        while running.0.len() < children.jobs && !stop.asked() {
            let Some(index) = queue.next() else { break };
            let child = children.spawn(dir, index)?;
            stop.watch(child.id());
            if stop.asked() {
                // The stop came between the check above and `watch`.
                interrupt(child.id());
            }
            running.0.push((index, child));
        }
        if running.0.is_empty() {
            return Ok(busy);
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut next = 0;
        while next < running.0.len() {
            let Some(status) = running.0[next].1.try_wait()? else {
                next += 1;
                continue;
            };
            let (index, child) = running.0.remove(next);
            stop.forget(child.id());
            busy += usize::from(report_child(sweep, dir, index, status, stop)?);
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

/// One line for a child that ended, from what its trial's files say; true when the
/// trial was running in another process.
fn report_child(
    sweep: &Sweep,
    dir: &SweepDir,
    index: usize,
    status: ExitStatus,
    stop: &Stop,
) -> Result<bool> {
    let label = &sweep.trials[index].label;
    match dir.status(index)? {
        TrialStatus::Finished(summary) => {
            println!("trial {index} ({label}) finished{}", accuracy(&summary));
        }
        TrialStatus::Failed(message) => eprintln!("trial {index} ({label}) failed: {message}"),
        _ if stop.asked() => println!("trial {index} ({label}) stopped: it resumes next time"),
        _ if status.success() => {
            println!("trial {index} ({label}) is running in another process: skipped");
            return Ok(true);
        }
        _ => eprintln!(
            "trial {index} ({label}) ended ({status}) without a result: see {}",
            dir.trial_log(index).display()
        ),
    }
    Ok(false)
}

/// Retrains the winner on every training image for the epochs it was kept at, then
/// evaluates it on the test set: once, since a finished final run is only reported.
fn final_run(sweep: &Sweep, dir: &SweepDir, stop: &Stop) -> Result<()> {
    let board = Leaderboard::collect(sweep, dir)?;
    let Some((trial, summary)) = board.winner() else {
        bail!(
            "no finished trial in {} yet: run the sweep first, then --final retrains its winner",
            dir.root.display()
        );
    };
    let finished = board.finished().count();
    if finished < sweep.trials.len() {
        eprintln!(
            "note: the winner is chosen among the {finished} of {} trials finished so far",
            sweep.trials.len()
        );
    }
    // The epoch early stopping kept, else every configured epoch.
    let epochs = if trial.config.training.early_stopping > 0 && summary.kept_epoch > 0 {
        summary.kept_epoch
    } else {
        trial.config.training.epochs
    };
    let description = format!(
        "the winner of sweep {}, trial {} ({})",
        sweep.name, trial.index, trial.label
    );
    let mut overrides = trial.overrides.clone();
    overrides.extend([
        "data.validation=0".to_string(),
        "training.early_stopping=0".to_string(),
        // The test set's one look is at the end: no per-epoch evaluation to peek at.
        "training.evaluate_every_epoch=false".to_string(),
        format!("training.epochs={epochs}"),
        format!("experiment.name={FINAL}"),
        format!(
            "experiment.description={}",
            toml::Value::String(description)
        ),
    ]);
    let config = ExperimentConfig::parse(&sweep.base_config, &overrides)
        .with_context(|| format!("the final run of trial {} ({})", trial.index, trial.label))?;
    let Some(_lock) = try_lock(&dir.final_lock())? else {
        bail!("the final run is running in another process");
    };
    let run = dir.final_run();
    let summary = if run.is_finished() {
        let done = Summary::load(&run)?;
        if done.config != config {
            bail!(
                "{} holds the final run of an earlier winner: delete it to retrain trial {} ({})",
                run.root.display(),
                trial.index,
                trial.label
            );
        }
        println!("the final run is already done");
        done
    } else {
        println!(
            "retraining trial {} ({}) on every training image for {epochs} epochs",
            trial.index, trial.label
        );
        let Some(summary) = train(&config, &dir.root, stop)? else {
            bail!(INTERRUPTED);
        };
        publish::refresh(sweep, dir)?;
        summary
    };
    println!(
        "final run of trial {} ({}): test accuracy {:.2} %; run files in {}, added to {}",
        trial.index,
        trial.label,
        summary.test_accuracy,
        run.root.display(),
        dir.leaderboard_md().display()
    );
    Ok(())
}

/// Ctrl-C or SIGTERM: the first stops the running trials after their current step
/// and starts no others (their checkpoints let the next start resume them); a
/// second quits at once.
#[derive(Default)]
struct Stop {
    asked: AtomicBool,
    /// The in-process trial's interrupter.
    current: Mutex<Option<Interrupter>>,
    /// Child processes running trials.
    children: Mutex<Vec<u32>>,
}

impl Stop {
    fn on_signal() -> Result<Arc<Self>> {
        let stop = Arc::new(Self::default());
        let handle = stop.clone();
        ctrlc::set_handler(move || handle.signal())?;
        Ok(stop)
    }

    fn signal(&self) {
        let again = self.asked.swap(true, Ordering::SeqCst);
        // The children quit at once on their second signal, as this process does.
        for &pid in self.children.lock().expect("children lock").iter() {
            interrupt(pid);
        }
        if again {
            eprintln!("\nstopped; {INTERRUPTED}");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping the running trials after their current step (press Ctrl-C again to quit now)…"
        );
        if let Some(interrupter) = self.current.lock().expect("interrupter lock").as_ref() {
            interrupter.stop(Some("Ctrl-C"));
        }
    }

    fn asked(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
    }

    /// A fresh interrupter for the next in-process run: one that stopped (a
    /// divergence stops it too) must not stop the trials after it.
    fn interrupter(&self) -> Interrupter {
        let interrupter = Interrupter::new();
        *self.current.lock().expect("interrupter lock") = Some(interrupter.clone());
        if self.asked() {
            interrupter.stop(Some("Ctrl-C"));
        }
        interrupter
    }

    fn watch(&self, pid: u32) {
        self.children.lock().expect("children lock").push(pid);
    }

    fn forget(&self, pid: u32) {
        self.children
            .lock()
            .expect("children lock")
            .retain(|&p| p != pid);
    }
}

/// Sends SIGINT to a child (its Ctrl-C handler stops its trial after the current step).
#[cfg(unix)]
fn interrupt(pid: u32) {
    // std cannot signal a process gently; kill(1) can. Should it be missing, the
    // child finishes its trial, which is safe too.
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Elsewhere the children share the console and receive Ctrl-C themselves.
#[cfg(not(unix))]
fn interrupt(_pid: u32) {}
