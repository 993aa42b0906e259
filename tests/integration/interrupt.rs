//! Interrupting real training: a run killed at any point (SIGKILL in epoch 1,
//! between epochs, in the middle of a later epoch, while the trained run's files
//! are written) or stopped with Ctrl-C, then
//! continued with `--resume`, ends bit-identical to an unbroken run: the same
//! weights file, the same metrics.csv rows, the same diagnostics.csv and the same
//! summary (seconds aside).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use crate::common::{BIN, wait_for};

/// What a finished run leaves that must not depend on interruptions.
#[derive(Debug, PartialEq)]
struct Outcome {
    weights: Vec<u8>,
    /// metrics.csv without its last column, the epoch's wall time.
    metrics: Vec<String>,
    /// diagnostics.csv, whole: the probe measures the same weights.
    diagnostics: String,
    /// summary.json without `train_seconds`.
    summary: serde_json::Value,
}

/// The assignment's way (the test set every epoch), or what choosing a best model
/// adds: a validation split, momentum, a warmed-up cosine schedule, affine and elastic augmentation,
/// dropout and the best-epoch bookkeeping of early stopping.
#[derive(Clone, Copy, PartialEq)]
enum Recipe {
    Plain,
    Selection,
}

impl Recipe {
    fn overrides(self) -> &'static [&'static str] {
        match self {
            Self::Plain => &[],
            Self::Selection => &[
                "data.validation=5000",
                "optimizer.momentum=0.9",
                "schedule.kind=cosine",
                "schedule.warmup_epochs=1",
                "augment.translate=2",
                "augment.elastic_alpha=34",
                "augment.rotate=10",
                "model.dropout=0.2",
                "training.early_stopping=2",
            ],
        }
    }
}

/// A project folder with a short real-MNIST config: 3 epochs of a 256-128 ReLU net,
/// the cost logged every 100 of the epoch's 938 iterations.
struct Project {
    dir: tempfile::TempDir,
    recipe: Recipe,
}

impl Project {
    fn new() -> Self {
        Self::with(Recipe::Plain)
    }

    fn with(recipe: Recipe) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[experiment]\nname = \"short\"\nseed = 5\n[data]\ndir = \"{}\"\n[model]\nhidden = [256, 128]\n[optimizer]\nlearning_rate = 0.05\n[training]\nepochs = 3\nbatch_size = 64\nlog_interval = 100\n",
            crate::common::mnist_dir().display()
        );
        std::fs::write(dir.path().join("short.toml"), text).unwrap();
        Self { dir, recipe }
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("artifacts/short")
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .current_dir(self.dir.path())
            .arg("short.toml")
            .args(
                self.recipe
                    .overrides()
                    .iter()
                    .flat_map(|set| ["--set", set]),
            )
            .args(extra)
            .env_remove("MNIST_DATA_DIR")
            .env_remove("MNIST_MLP_ARTIFACTS");
        command
    }

    fn run(&self, extra: &[&str]) -> Output {
        let output = self.command(extra).output().unwrap();
        assert!(
            output.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Starts training and sends `signal` once `moment` has seen the stdout line
    /// (or file) it waits for; returns the stopped process's stderr.
    fn interrupt(&self, signal: &str, mut moment: impl FnMut(&str, &Path) -> bool) -> String {
        let mut child: Child = self
            .command(&[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        let mut reached = false;
        for line in stdout.lines() {
            let line = line.unwrap();
            reached = moment(&line, &self.run_dir());
            seen.push(line);
            if reached {
                break;
            }
        }
        assert!(reached, "the run ended first:\n{}", seen.join("\n"));
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "it finished before the {signal}");
        assert!(
            !self.run_dir().join("summary.json").exists(),
            "interrupted too late"
        );
        String::from_utf8_lossy(&output.stderr).to_string()
    }

    fn outcome(&self) -> Outcome {
        let dir = self.run_dir();
        let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        let metrics = metrics
            .lines()
            .map(|row| row.rsplit_once(',').expect("a CSV row").0.to_string())
            .collect();
        let mut summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        summary
            .as_object_mut()
            .unwrap()
            .remove("train_seconds")
            .expect("train_seconds");
        Outcome {
            weights: std::fs::read(dir.join("model.safetensors")).unwrap(),
            metrics,
            diagnostics: std::fs::read_to_string(dir.join("diagnostics.csv")).unwrap(),
            summary,
        }
    }

    /// `--resume` after an interruption, then the whole outcome against an unbroken run's.
    fn resume_matches_unbroken(&self) -> String {
        let output = self.run(&["--resume"]);
        let outcome = self.outcome();
        let unbroken = unbroken(self.recipe);
        assert_eq!(outcome.metrics, unbroken.metrics);
        assert_eq!(outcome.diagnostics, unbroken.diagnostics);
        assert_eq!(outcome.summary, unbroken.summary);
        assert!(
            outcome.weights == unbroken.weights,
            "model.safetensors differs"
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    }
}

/// The reference: the same config trained without a break. Only its outcome is kept:
/// a static is never dropped, so a project kept here would leave its folder behind.
fn unbroken(recipe: Recipe) -> &'static Outcome {
    static PLAIN: OnceLock<Outcome> = OnceLock::new();
    static SELECTION: OnceLock<Outcome> = OnceLock::new();
    let reference = match recipe {
        Recipe::Plain => &PLAIN,
        Recipe::Selection => &SELECTION,
    };
    reference.get_or_init(|| {
        let project = Project::with(recipe);
        project.run(&[]);
        project.outcome()
    })
}

/// True once the epoch line `epoch` and then the cost line of iteration 300 went by.
fn inside_epoch(epoch: usize) -> impl FnMut(&str, &Path) -> bool {
    let mut in_epoch = false;
    move |line, _| {
        in_epoch |= line == format!("Training for epoch {epoch}/3");
        in_epoch && line.starts_with("  Cost after iteration 300:")
    }
}

/// True once epoch `epoch` (of 3) is reported and its checkpoint is on disk.
fn checkpointed(epoch: usize) -> impl FnMut(&str, &Path) -> bool {
    move |line, run_dir| {
        let done = line.starts_with(&format!("epoch  {epoch}/3"));
        if done {
            // The Learner saves the three records on a background thread, in no set order.
            for part in ["model", "optim", "scheduler"] {
                let path = run_dir.join(format!("checkpoint/{part}-{epoch}.bpk"));
                wait_for(&path.display().to_string(), || path.is_file());
            }
        }
        done
    }
}

#[test]
fn sigkill_in_the_first_epoch_then_resume_starts_over_and_matches() {
    let project = Project::new();
    project.interrupt("-KILL", inside_epoch(1));
    assert!(
        !project
            .run_dir()
            .join("checkpoint/scheduler-1.bpk")
            .exists()
    );
    let stdout = project.resume_matches_unbroken();
    assert!(stdout.contains("Training for epoch 1/3"), "{stdout}");
}

#[test]
fn sigkill_in_the_middle_of_a_later_epoch_then_resume_matches() {
    let project = Project::new();
    project.interrupt("-KILL", inside_epoch(2));
    let stdout = project.resume_matches_unbroken();
    assert!(
        !stdout.contains("Training for epoch 1/3"),
        "restarted: {stdout}"
    );
    assert!(stdout.contains("Training for epoch 2/3"), "{stdout}");
}

#[test]
fn sigkill_once_an_epoch_is_reported_then_resume_matches() {
    // The epoch's figures are printed and written to metrics.csv just before its
    // checkpoint: the kill lands before, during or after the checkpoint's writing.
    let project = Project::new();
    project.interrupt("-KILL", |line, _| line.starts_with("epoch  1/3"));
    project.resume_matches_unbroken();
}

#[test]
fn sigkill_right_after_an_epochs_checkpoint_then_resume_matches() {
    let project = Project::new();
    project.interrupt("-KILL", checkpointed(1));
    let stdout = project.resume_matches_unbroken();
    assert!(
        !stdout.contains("Training for epoch 1/3"),
        "restarted: {stdout}"
    );
}

#[test]
fn sigint_stops_cleanly_and_resume_matches() {
    let project = Project::new();
    let stderr = project.interrupt("-INT", inside_epoch(2));
    assert!(
        stderr.contains("training stopped by Ctrl-C or SIGTERM") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(project.run_dir().join("checkpoint/model-1.bpk").is_file());
    project.resume_matches_unbroken();
}

#[test]
fn a_validation_run_with_schedule_augmentation_dropout_and_momentum_resumes_exactly() {
    let project = Project::with(Recipe::Selection);
    project.interrupt("-KILL", inside_epoch(2));
    let stdout = project.resume_matches_unbroken();
    assert!(stdout.contains("valid acc"), "{stdout}");
    assert!(
        !stdout.contains("Training for epoch 1/3"),
        "restarted: {stdout}"
    );
}

#[test]
fn sigkill_while_the_trained_run_is_written_then_resume_only_finishes_and_matches() {
    // Where a full disk stops a run too: every epoch saved, the run's files not yet.
    let project = Project::new();
    project.interrupt("-KILL", checkpointed(3));
    assert!(!project.run_dir().join("summary.json").exists());
    let stdout = project.resume_matches_unbroken();
    assert!(
        !stdout.contains("Training for epoch"),
        "trained again: {stdout}"
    );
    assert!(stdout.contains("Accuracy on the test data"), "{stdout}");
}
