//! `mnist-mlp sweep` through the real binary on a small generated dataset: a grid
//! end to end, concurrent `--trial` processes over one folder, a resumed sweep, the
//! final run and Slurm's task id. Each trial trains a 784→16→10 MLP for one epoch.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::SystemTime;

use mnist_mlp::run_files::history::History;

use crate::common::outcome::{assert_clean_failure, assert_success};
use crate::common::{BIN, wait_for};

const SLURM_TASK: &str = "SLURM_ARRAY_TASK_ID";

/// A temporary project: a dataset, a base config, a 3-trial grid sweep file and an artifacts folder.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let data = project.path().join("data");
        crate::common::synthetic::write_dataset(&data, 600, 200);
        let base = format!(
            "[experiment]\nname = \"base\"\nseed = 1\n\n[data]\ndir = \"{}\"\nverify = false\n\n\
             [model]\nhidden = [16]\n\n[optimizer]\nname = \"sgd\"\nlearning_rate = 0.1\n\n\
             [training]\nepochs = 1\nbatch_size = 50\nlog_interval = 5\n",
            data.display()
        );
        std::fs::write(project.path().join("base.toml"), base).unwrap();
        std::fs::create_dir(project.path().join("sweeps")).unwrap();
        std::fs::write(
            project.sweep_file(),
            "[sweep]\nname = \"g\"\nbase = \"../base.toml\"\nvalidation = 100\n\n\
             [set]\n\"training.epochs\" = 2\n\n\
             [axes]\n\"optimizer.learning_rate\" = [0.002, 0.05, 0.5]\n\"model.hidden\" = [[16]]\n",
        )
        .unwrap();
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn sweep_file(&self) -> PathBuf {
        self.path().join("sweeps/g.toml")
    }

    /// The sweep folder.
    fn folder(&self) -> PathBuf {
        self.path().join("artifacts/sweeps/g")
    }

    fn trial(&self, index: usize) -> PathBuf {
        self.folder().join(format!("trials/trial-{index:03}"))
    }

    /// `mnist-mlp sweep sweeps/g.toml ARGS`, without the environment's data or artifacts folders.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .current_dir(self.path())
            .env_remove("MNIST_DATA_DIR")
            .env_remove(SLURM_TASK)
            .args(["sweep", "sweeps/g.toml", "--artifacts", "artifacts"])
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// leaderboard.csv as (header, rows).
    fn leaderboard(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = csv::Reader::from_path(self.folder().join("leaderboard.csv")).unwrap();
        let header = reader.headers().unwrap().iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    }

    fn summary_mtime(&self, index: usize) -> SystemTime {
        std::fs::metadata(self.trial(index).join("summary.json"))
            .unwrap()
            .modified()
            .unwrap()
    }
}

/// The leaderboard holds every trial once, finished, best validation accuracy first.
fn assert_complete_leaderboard(project: &Project) {
    let (header, rows) = project.leaderboard();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let mut trials: Vec<&str> = rows.iter().map(|r| r[column("trial")].as_str()).collect();
    trials.sort_unstable();
    assert_eq!(trials, ["0", "1", "2"]);
    assert!(
        rows.iter().all(|r| r[column("status")] == "finished"),
        "{rows:?}"
    );
    let accuracies: Vec<f64> = rows
        .iter()
        .map(|r| r[column("validation_accuracy")].parse().unwrap())
        .collect();
    assert!(
        accuracies.windows(2).all(|w| w[0] >= w[1]),
        "not sorted: {accuracies:?}"
    );
    let ranks: Vec<&str> = rows.iter().map(|r| r[column("rank")].as_str()).collect();
    assert_eq!(ranks, ["1", "2", "3"]);
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n"))
}

#[test]
fn a_grid_sweep_runs_end_to_end() {
    let project = Project::new();
    let listed = assert_success(&project.run(&["--list"]));
    assert!(
        listed.contains("optimizer.learning_rate=0.05, model.hidden=[16]"),
        "{listed}"
    );
    assert!(
        listed.contains("not started") && listed.contains("3 trials"),
        "{listed}"
    );

    let stdout = assert_success(&project.run(&[]));
    assert!(stdout.contains("3 of 3 trials finished"), "{stdout}");
    assert!(stdout.contains("winner: trial"), "{stdout}");
    assert_complete_leaderboard(&project);
    let (header, _) = project.leaderboard();
    for column in [
        "optimizer.learning_rate",
        "model.hidden",
        "validation_loss",
        "kept_epoch",
    ] {
        assert!(header.iter().any(|h| h == column), "{header:?}");
    }
    assert!(!header.iter().any(|h| h.contains("test")), "{header:?}");
    for key in ["optimizer.learning_rate", "model.hidden"] {
        let figure = project
            .folder()
            .join(format!("validation-accuracy-vs-{key}.png"));
        assert!(is_png(&figure), "{}", figure.display());
    }
    let md = std::fs::read_to_string(project.folder().join("leaderboard.md")).unwrap();
    assert!(md.contains("Finished 3 of 3 trials"), "{md}");
    assert!(
        md.contains("validation-accuracy-vs-optimizer.learning_rate.png"),
        "{md}"
    );
    assert!(!md.contains("test accuracy"), "{md}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.trial(1).join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["config"]["data"]["validation"], 100);
    assert_eq!(summary["config"]["training"]["epochs"], 2);
    assert_eq!(summary["config"]["optimizer"]["learning_rate"], 0.05);

    let listed = assert_success(&project.run(&["--list"]));
    assert!(listed.contains("finished: validation accuracy"), "{listed}");
}

#[test]
fn concurrent_trials_share_one_folder_safely() {
    let project = Project::new();
    let children: Vec<(usize, Child)> = [0, 1, 2, 1]
        .into_iter()
        .map(|index| (index, project.spawn(&["--trial", &index.to_string()])))
        .collect();
    let mut trained_1 = 0;
    for (index, child) in children {
        let stdout = assert_success(&child.wait_with_output().unwrap());
        let trained = stdout.contains(&format!("trial {index} finished"));
        if index == 1 {
            trained_1 += usize::from(trained);
            assert!(trained || stdout.contains("skipped"), "{stdout}");
        } else {
            assert!(trained, "{stdout}");
        }
    }
    assert_eq!(
        trained_1, 1,
        "trial 1 must be trained by exactly one process"
    );
    for index in 0..3 {
        let history = History::load_csv(&project.trial(index).join("metrics.csv")).unwrap();
        assert_eq!(history.epochs.len(), 2, "trial {index}");
        assert!(
            !project
                .folder()
                .join(format!("trials/trial-{index:03}.failed"))
                .exists()
        );
    }
    assert_complete_leaderboard(&project);
    let stdout = assert_success(&project.run(&["--collect"]));
    assert!(stdout.contains("3 of 3 trials finished"), "{stdout}");
    assert_complete_leaderboard(&project);
}

#[test]
fn a_resumed_sweep_skips_finished_trials_and_resumes_interrupted_ones() {
    let project = Project::new();
    assert_success(&project.run(&["--trial", "0"]));
    let finished_at = project.summary_mtime(0);
    // Trial 1 as a run stopped after its first epoch leaves it.
    assert_success(&project.run(&["--trial", "1"]));
    let trial_1 = project.trial(1);
    std::fs::remove_file(trial_1.join("summary.json")).unwrap();
    for part in ["model", "optim", "scheduler"] {
        std::fs::remove_file(trial_1.join(format!("checkpoint/{part}-2.bpk"))).unwrap();
    }
    let listed = assert_success(&project.run(&["--list"]));
    assert!(listed.contains("interrupted after epoch 1"), "{listed}");

    let stdout = assert_success(&project.run(&["--jobs", "2"]));
    assert!(stdout.contains("1 finished, 2 to run"), "{stdout}");
    assert!(stdout.contains("3 of 3 trials finished"), "{stdout}");
    assert_eq!(project.summary_mtime(0), finished_at, "trial 0 ran again");
    let log = std::fs::read_to_string(project.folder().join("trials/trial-001.log")).unwrap();
    assert!(log.contains("after epoch 1"), "{log}");
    let history = History::load_csv(&trial_1.join("metrics.csv")).unwrap();
    assert_eq!(history.epochs.len(), 2);
    assert_complete_leaderboard(&project);
}

#[test]
fn the_final_run_retrains_the_winner_on_all_training_images_once() {
    let project = Project::new();
    assert_clean_failure(&project.run(&["--final"]), "no finished trial");
    assert_success(&project.run(&[]));
    let stdout = assert_success(&project.run(&["--final"]));
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let final_summary = project.folder().join("final/summary.json");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&final_summary).unwrap()).unwrap();
    assert_eq!(summary["config"]["data"]["validation"], 0);
    // The test set's one look is at the end: the epochs evaluate nothing.
    assert_eq!(summary["config"]["training"]["evaluate_every_epoch"], false);
    assert_eq!(summary["config"]["experiment"]["name"], "final");
    assert_eq!(summary["config"]["training"]["epochs"], 2);
    let md = std::fs::read_to_string(project.folder().join("leaderboard.md")).unwrap();
    assert!(
        md.contains("Final run") && md.contains("test accuracy"),
        "{md}"
    );

    let written = std::fs::metadata(&final_summary)
        .unwrap()
        .modified()
        .unwrap();
    let again = assert_success(&project.run(&["--final"]));
    assert!(again.contains("already done"), "{again}");
    assert_eq!(
        std::fs::metadata(&final_summary)
            .unwrap()
            .modified()
            .unwrap(),
        written
    );
}

#[test]
fn trial_comes_from_slurm_when_not_given() {
    let project = Project::new();
    assert_clean_failure(&project.run(&["--trial"]), SLURM_TASK);
    assert_clean_failure(&project.run(&["--trial", "3"]), "trials 0 to 2");
    let output = project
        .command(&["--trial"])
        .env(SLURM_TASK, "1")
        .output()
        .unwrap();
    let stdout = assert_success(&output);
    assert!(stdout.contains("trial 1 finished"), "{stdout}");
    assert!(project.trial(1).join("summary.json").is_file());
    assert!(!project.trial(0).exists());
}

#[test]
fn a_changed_or_broken_sweep_file_is_refused_in_one_line() {
    let project = Project::new();
    assert_success(&project.run(&["--trial", "0"]));
    let text = std::fs::read_to_string(project.sweep_file()).unwrap();
    std::fs::write(project.sweep_file(), text.replace("0.5]", "0.9]")).unwrap();
    assert_clean_failure(&project.run(&[]), "different sweep file");
    std::fs::write(project.sweep_file(), text.replace("0.5]", "-1]")).unwrap();
    assert_clean_failure(&project.run(&["--list"]), "trial 2");
}

/// The ids of the processes working in `dir` with `args`, one after the other, on
/// their command line.
fn processes_in(dir: &Path, args: &[&str]) -> Vec<u32> {
    let wanted: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let parts: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            cwd.is_ok_and(|cwd| cwd == dir) && parts.windows(wanted.len()).any(|w| w == wanted)
        })
        .collect()
}

#[test]
fn a_sweep_whose_child_trial_is_killed_ends_in_an_error() {
    let project = Project::new();
    // Trial 0 trains until it is killed; trial 1 is over at once.
    std::fs::write(
        project.sweep_file(),
        "[sweep]\nname = \"g\"\nbase = \"../base.toml\"\nvalidation = 100\n\n\
         [axes]\n\"training.epochs\" = [100000, 1]\n",
    )
    .unwrap();
    let sweep = project
        .command(&["--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let checkpoint = project.trial(0).join("checkpoint/model-1.bpk");
    wait_for("trial 0's first checkpoint", || checkpoint.is_file());
    let canonical = project.path().canonicalize().unwrap();
    let children = processes_in(&canonical, &["--trial", "0"]);
    assert_eq!(children.len(), 1, "one child trains trial 0: {children:?}");
    let killed = Command::new("kill")
        .args(["-KILL", &children[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = sweep.wait_with_output().unwrap();
    assert_clean_failure(&output, "of 2 trials, 1 ended without a result");
}

#[test]
fn a_retried_trial_that_is_killed_shows_as_interrupted_not_as_its_old_failure() {
    let project = Project::new();
    let text = std::fs::read_to_string(project.sweep_file()).unwrap();
    let long = text.replace("\"training.epochs\" = 2", "\"training.epochs\" = 100000");
    std::fs::write(project.sweep_file(), long).unwrap();
    // The first attempt fails: the trial's folder holds a file of the user's.
    let taken = project.trial(1);
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    assert_clean_failure(&project.run(&["--trial", "1"]), "trial 1 failed");
    std::fs::remove_file(taken.join("notes.txt")).unwrap();
    let mut retry = project
        .command(&["--trial", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = taken.join("checkpoint/model-1.bpk");
    wait_for("the retry's first checkpoint", || checkpoint.is_file());
    retry.kill().unwrap();
    retry.wait().unwrap();
    let listed = assert_success(&project.run(&["--list"]));
    assert!(listed.contains("interrupted after epoch"), "{listed}");
    assert!(!listed.contains("failed"), "{listed}");
}

#[test]
fn a_damaged_trial_summary_fails_that_trial_alone_and_the_sweep_retrains_it() {
    let project = Project::new();
    assert_success(&project.run(&[]));
    std::fs::write(project.trial(1).join("summary.json"), "{\"config\": tru").unwrap();
    let listed = assert_success(&project.run(&["--list"]));
    assert!(
        listed.contains("failed: ") && listed.contains("trial-001/summary.json is corrupt"),
        "{listed}"
    );
    assert!(listed.contains("finished: validation accuracy"), "{listed}");
    let collected = assert_success(&project.run(&["--collect"]));
    assert!(
        collected.contains("2 of 3 trials finished, 1 failed"),
        "{collected}"
    );
    let stdout = assert_success(&project.run(&[]));
    assert!(stdout.contains("2 finished, 1 to run"), "{stdout}");
    assert!(stdout.contains("3 of 3 trials finished"), "{stdout}");
    assert_complete_leaderboard(&project);
}

#[test]
fn a_sweep_whose_trial_failed_ends_in_one_error_saying_how_many() {
    let project = Project::new();
    assert_success(&project.run(&["--trial", "0"]));
    // Trial 1's folder holds a file of the user's, so that trial is refused.
    let taken = project.trial(1);
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let output = project.run(&[]);
    assert_clean_failure(&output, "of 3 trials, 1 failed");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("trial 1 failed: "),
        "{output:?}"
    );
    assert_eq!(
        std::fs::read_to_string(taken.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_folder_of_the_users_is_never_made_a_sweep() {
    let project = Project::new();
    std::fs::create_dir_all(project.folder()).unwrap();
    std::fs::write(project.folder().join("leaderboard.md"), "my table").unwrap();
    assert_clean_failure(
        &project.run(&[]),
        "is not a mnist-mlp sweep folder (it has no plan.json): nothing was changed",
    );
    assert_eq!(std::fs::read_dir(project.folder()).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(project.folder().join("leaderboard.md")).unwrap(),
        "my table"
    );
}

#[test]
fn a_long_value_repeated_in_every_trial_is_refused_before_it_is_copied() {
    // 10 000 trials of a 100 000-layer model: refused at trial 0, not after
    // 10⁹ copied widths have filled the memory.
    let project = Project::new();
    let epochs: Vec<String> = (1..=10_000).map(|epoch| epoch.to_string()).collect();
    let hidden = vec!["1"; 100_000].join(",");
    std::fs::write(
        project.sweep_file(),
        format!(
            "[sweep]\nname = \"g\"\nbase = \"../base.toml\"\nvalidation = 100\n\n[axes]\n\
             \"training.epochs\" = [{}]\n\"model.hidden\" = [[{hidden}]]\n",
            epochs.join(", ")
        ),
    )
    .unwrap();
    assert_clean_failure(
        &project.run(&["--list"]),
        "trial 0 (training.epochs=1, model.hidden=[1, 1, ",
    );
    let output = project.run(&["--list"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[model] hidden has 100000 layers, more than the 511")
            && stderr.len() < 1000,
        "{stderr}"
    );
}

#[test]
fn text_from_a_trials_files_reaches_the_terminal_escaped() {
    let project = Project::new();
    assert_success(&project.run(&["--trial", "1"]));
    let path = project.trial(1).join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    summary["backend"] = "flex\u{1b}]0;pwned\u{7}\n| injected |".into();
    std::fs::write(&path, summary.to_string()).unwrap();
    let listed = assert_success(&project.run(&["--list"]));
    assert!(
        listed.contains("\\u{1b}]0;pwned\\u{7}\\u{a}| injected |"),
        "{listed}"
    );
    assert!(
        !listed.contains('\u{1b}') && !listed.contains("\n| injected"),
        "{listed}"
    );
}

#[test]
fn a_damaged_plan_is_named_and_a_final_run_of_nothing_makes_no_folder() {
    let project = Project::new();
    assert_clean_failure(&project.run(&["--final"]), "run the sweep first");
    assert!(!project.folder().exists());
    assert_success(&project.run(&["--trial", "0"]));
    std::fs::write(project.folder().join("plan.json"), "{\"base\": ").unwrap();
    assert_clean_failure(&project.run(&[]), "plan.json is damaged (");
}

#[test]
fn a_trial_folder_of_another_config_is_never_ranked_as_that_trial() {
    let project = Project::new();
    assert_success(&project.run(&[]));
    // Trials 0 and 1 swapped: each folder now holds the other's run.
    let (zero, one, aside) = (project.trial(0), project.trial(1), project.trial(9));
    std::fs::rename(&zero, &aside).unwrap();
    std::fs::rename(&one, &zero).unwrap();
    std::fs::rename(&aside, &one).unwrap();
    let listed = assert_success(&project.run(&["--list"]));
    assert_eq!(
        listed
            .matches("holds a run of another config than this sweep plans (experiment.name ")
            .count(),
        2,
        "{listed}"
    );
    let collected = assert_success(&project.run(&["--collect"]));
    assert!(
        collected.contains("1 of 3 trials finished, 2 failed"),
        "{collected}"
    );
}
