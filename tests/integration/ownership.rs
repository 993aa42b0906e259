//! A run folder belongs to one run: `train` never empties a folder that is not one
//! of its runs, never silently replaces a finished run of another config, and
//! refuses a second process on a run that is training.

use std::path::PathBuf;
use std::process::{Child, Stdio};

use crate::common::outcome::{assert_clean_failure, assert_success};
use crate::common::project::Project;
use crate::common::wait_for;

#[test]
fn a_folder_that_is_not_a_run_is_never_emptied() {
    let project = Project::new();
    let notes = project.path().join("artifacts/notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("ideas.txt"), "mine").unwrap();
    let output = project.run(&["tiny.toml", "--set", "experiment.name=notes"]);
    assert_clean_failure(
        &output,
        "artifacts/notes exists and is not a mnist-mlp run folder",
    );
    assert_eq!(
        std::fs::read_to_string(notes.join("ideas.txt")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&notes).unwrap().count(), 1);
    // --fresh replaces runs, not other folders.
    let output = project.run(&["tiny.toml", "--set", "experiment.name=notes", "--fresh"]);
    assert_clean_failure(&output, "is not a mnist-mlp run folder");
    assert!(notes.join("ideas.txt").is_file());
}

/// `path`, written with `text`: a file of the user's that must come through unchanged.
fn users_file(path: PathBuf, text: &str) -> PathBuf {
    std::fs::write(&path, text).unwrap();
    path
}

/// A project whose run `tiny` has finished.
fn trained() -> Project {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    project
}

#[test]
fn files_of_the_users_inside_a_run_folder_outlive_its_replacement() {
    let project = trained();
    let notes = users_file(project.run_dir().join("NOTES.md"), "lr 0.1 looked unstable");
    let stale = project.run_dir().join("checkpoint/model-2.bpk");
    assert!(stale.is_file());
    // Re-running the same config replaces the run (the assignment's habit), and so
    // does --fresh with another; the run's own files go, the notes stay.
    let again = project.run(&["tiny.toml", "--epochs", "1", "--fresh"]);
    assert_success(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("NOTES.md: not the run's own files"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "lr 0.1 looked unstable"
    );
    assert!(!stale.exists(), "the old run's checkpoints are gone");
}

#[test]
fn a_marker_planted_as_a_link_is_refused_and_its_target_untouched() {
    let project = trained();
    // What a tarball of someone's runs may hold: the marker as a link to your file.
    let victim = users_file(project.path().join("victim.txt"), "precious");
    let marker = project.run_dir().join(".mnist-mlp-run");
    std::fs::remove_file(&marker).unwrap();
    std::os::unix::fs::symlink(&victim, &marker).unwrap();
    assert_clean_failure(
        &project.run(&["tiny.toml"]),
        "is a symbolic link, and the program never opens its own files through one",
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // Nor is a checkpoint folder that links elsewhere resumed into.
    std::fs::remove_file(&marker).unwrap();
    std::fs::remove_file(project.run_dir().join("summary.json")).unwrap();
    let elsewhere = project.path().join("elsewhere");
    std::fs::rename(project.run_dir().join("checkpoint"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, project.run_dir().join("checkpoint")).unwrap();
    let before = std::fs::read_dir(&elsewhere).unwrap().count();
    assert_clean_failure(
        &project.run(&["tiny.toml", "--resume", "--epochs", "3"]),
        "checkpoint is a symbolic link, and checkpoints are never written through one",
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), before);
}

#[test]
fn the_artifacts_folders_own_names_are_refused() {
    let project = Project::new();
    let sweeps = project.path().join("artifacts/sweeps/l2");
    std::fs::create_dir_all(&sweeps).unwrap();
    std::fs::write(sweeps.join("plan.json"), "{}").unwrap();
    let output = project.run(&["tiny.toml", "--set", "experiment.name=sweeps"]);
    assert_clean_failure(&output, "[experiment] name = \"sweeps\" is taken");
    assert!(sweeps.join("plan.json").is_file());
}

#[test]
fn a_finished_run_of_another_config_is_replaced_only_with_fresh() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    let weights = project.run_dir().join("model.safetensors");
    let first = std::fs::read(&weights).unwrap();
    let other = ["tiny.toml", "--set", "optimizer.learning_rate=0.05"];
    assert_clean_failure(
        &project.run(&other),
        "holds a finished run of another config (optimizer.learning_rate 0.1 → 0.05): replace it with --fresh",
    );
    assert_eq!(
        std::fs::read(&weights).unwrap(),
        first,
        "the finished run was touched"
    );
    // The same config again replaces it, as the assignment re-runs its experiments.
    assert_success(&project.run(&["tiny.toml"]));
    assert_eq!(std::fs::read(&weights).unwrap(), first);
    assert_success(&project.run(&[&other[..], &["--fresh"]].concat()));
    assert_ne!(std::fs::read(&weights).unwrap(), first);
    let saved = std::fs::read_to_string(project.run_dir().join("config.toml")).unwrap();
    assert!(saved.contains("learning_rate = 0.05"), "{saved}");
}

/// A long run of the tiny config, started in the background; it has the run's lock
/// once its progress file appears.
fn start_long_run(project: &Project) -> Child {
    let child = project
        .command(&["tiny.toml", "--epochs", "100000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let progress = project.run_dir().join("progress.json");
    wait_for("progress.json", || progress.is_file());
    child
}

#[test]
fn a_second_process_on_a_training_run_is_refused_whatever_its_flags() {
    let project = Project::new();
    let mut first = start_long_run(&project);
    let busy = format!("is being trained by process {}: wait for it", first.id());
    for flags in [&[][..], &["--fresh"], &["--resume"]] {
        let args = [&["tiny.toml", "--epochs", "100000"][..], flags].concat();
        let output = project.run(&args);
        assert_clean_failure(&output, &busy);
        assert!(!String::from_utf8_lossy(&output.stderr).contains("interrupted"));
    }
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run was stopped"
    );
    assert!(project.run_dir().join("progress.json").is_file());
    // The newest checkpoints are kept, so any epoch's will do.
    let checkpoints = project.run_dir().join("checkpoint");
    wait_for("a checkpoint", || {
        std::fs::read_dir(&checkpoints).is_ok_and(|mut entries| entries.next().is_some())
    });
    first.kill().unwrap();
    first.wait().unwrap();
    // Killed, the lock is gone with it: the folder now holds an interrupted run.
    assert_clean_failure(
        &project.run(&["tiny.toml", "--epochs", "100000"]),
        "holds an interrupted run: continue it with --resume",
    );
}

#[test]
fn a_replacement_stopped_part_way_is_taken_on_by_fresh_and_said_so() {
    let project = trained();
    // What a re-run killed while clearing the old run can leave: checkpoints, no config.
    std::fs::remove_file(project.run_dir().join("summary.json")).unwrap();
    std::fs::remove_file(project.run_dir().join("config.toml")).unwrap();
    for args in [&["tiny.toml"][..], &["tiny.toml", "--resume"]] {
        assert_clean_failure(
            &project.run(args),
            "holds checkpoints but no config.toml (a replacement of the run was stopped part-way): start over with --fresh",
        );
    }
    assert_success(&project.run(&["tiny.toml", "--fresh"]));
}

#[test]
fn an_empty_artifacts_path_is_refused_rather_than_taken_as_here() {
    let project = Project::new();
    let output = project.run(&["tiny.toml", "--artifacts", ""]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("an empty path names nothing"), "{stderr}");
    assert!(!project.path().join("tiny").exists());
}

#[test]
fn a_run_folder_that_cannot_be_made_says_what_is_in_the_way() {
    let project = Project::new();
    let notes = users_file(project.path().join("notes.txt"), "mine");
    let output = project.run(&["tiny.toml", "--artifacts", "notes.txt"]);
    assert_clean_failure(
        &output,
        "cannot create the run folder notes.txt/tiny: notes.txt is a file, not a folder: choose another folder with --artifacts",
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
    // A link left pointing at nothing is named, with where it points, and left alone.
    std::fs::create_dir_all(project.path().join("artifacts")).unwrap();
    let link = project.path().join("artifacts/tiny");
    std::os::unix::fs::symlink("/nonexistent/runs/tiny", &link).unwrap();
    let output = project.run(&["tiny.toml"]);
    assert_clean_failure(
        &output,
        "artifacts/tiny is a link to /nonexistent/runs/tiny, which does not exist",
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
