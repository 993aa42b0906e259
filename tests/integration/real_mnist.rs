//! Trains the ReLU config for one epoch on the real MNIST (fetched if absent) and
//! checks the test accuracy and the run folder.

use std::path::Path;
use std::process::Command;

use burn::train::Interrupter;
use mnist_mlp::config::ExperimentConfig;
use mnist_mlp::run::{RunOptions, run_experiment};

#[test]
fn one_epoch_of_relu_reaches_ninety_percent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The data through a folder of links, removed after training as on another machine.
    let elsewhere = tempfile::tempdir().unwrap();
    let linked = elsewhere.path().join("data");
    std::fs::create_dir(&linked).unwrap();
    for file in mnist_mlp::data::FILES {
        let real = crate::common::mnist_dir().join(file.name);
        std::os::unix::fs::symlink(real, linked.join(file.name)).unwrap();
    }
    let data_dir = linked.display().to_string();
    let config = ExperimentConfig::load(
        &root.join("config/relu.toml"),
        &[
            "training.epochs=1".into(),
            format!("data.dir=\"{data_dir}\""),
        ],
    )
    .unwrap();
    let artifacts = tempfile::tempdir().unwrap();
    let options = RunOptions {
        artifacts: artifacts.path().to_path_buf(),
        ..RunOptions::default()
    };
    let finished = run_experiment(&config, &options, Interrupter::new()).unwrap();
    let accuracy = finished.summary.test_accuracy;
    assert!(accuracy >= 90.0, "test accuracy {accuracy:.2}% < 90%");
    assert_eq!(finished.test.predictions.len(), 10_000);
    for file in [
        "config.toml",
        "metrics.csv",
        "summary.json",
        "model.safetensors",
    ] {
        assert!(finished.dir.root.join(file).is_file(), "{file} missing");
    }
    assert!(finished.dir.checkpoints().join("model-1.bpk").is_file());

    // Its data folder gone, `eval` reads ./data (the user's) and fetches nothing into it.
    std::fs::remove_dir_all(&linked).unwrap();
    let user = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(crate::common::mnist_dir(), user.path().join("data")).unwrap();
    let mut eval = eval_of(&finished.dir.root);
    eval.current_dir(user.path()).env_remove("MNIST_DATA_DIR");
    assert_scores(eval, accuracy);
    assert!(!linked.exists());

    // `eval` needs the test split alone: with only its two files there, and no mirror or
    // npm to reach, it scores the same and fetches nothing.
    let test_only = tempfile::tempdir().unwrap();
    for file in mnist_mlp::data::TEST_FILES {
        let real = crate::common::mnist_dir().join(file.name);
        std::os::unix::fs::symlink(real, test_only.path().join(file.name)).unwrap();
    }
    let mut eval = eval_of(&finished.dir.root);
    eval.arg("--data-dir").arg(test_only.path());
    eval.env("MNIST_MIRRORS", "http://127.0.0.1:9/")
        .env("PATH", "");
    assert_scores(eval, accuracy);
    assert_eq!(std::fs::read_dir(test_only.path()).unwrap().count(), 2);
}

/// `mnist-mlp eval RUN`.
fn eval_of(run: &Path) -> Command {
    let mut command = Command::new(crate::common::BIN);
    command.arg("eval").arg(run);
    command
}

/// Runs `eval`, which must succeed and report `accuracy`.
fn assert_scores(mut eval: Command, accuracy: f64) {
    let stdout = crate::common::outcome::assert_success(&eval.output().unwrap());
    assert!(
        stdout.contains(&format!("test accuracy {accuracy:.2}%")),
        "{stdout}"
    );
}

#[test]
fn bench_measures_the_setting_a_config_describes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("small.toml");
    std::fs::write(
        &config,
        "[experiment]\nname = \"small\"\n[data]\nvalidation = 10000\n[model]\nhidden = [64]\nactivation = \"tanh\"\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.001\n[training]\nbatch_size = 100\n",
    )
    .unwrap();
    let output = std::process::Command::new(crate::common::BIN)
        .args(["bench", "--epochs", "1", "--json", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(crate::common::mnist_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["activation"], "tanh", "{result}");
    assert_eq!(result["optimizer"], "adam", "{result}");
    assert_eq!(result["epoch_seconds"].as_array().unwrap().len(), 1);
    assert!(
        result["floor_epoch_seconds"].as_f64().unwrap() > 0.0,
        "{result}"
    );
}

#[test]
fn an_early_stopped_run_stopped_while_its_files_were_written_resumes_to_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("es.toml");
    std::fs::write(
        &config,
        format!(
            "[experiment]\nname = \"es\"\nseed = 3\n[data]\ndir = \"{}\"\nvalidation = 10000\n[model]\nhidden = [16]\n[optimizer]\nlearning_rate = 0.5\n[training]\nepochs = 12\nbatch_size = 128\nearly_stopping = 1\n",
            crate::common::mnist_dir().display()
        ),
    )
    .unwrap();
    let train = |extra: &[&str]| {
        Command::new(crate::common::BIN)
            .arg("train")
            .arg(&config)
            .arg("--artifacts")
            .arg(dir.path().join("artifacts"))
            .args(extra)
            .output()
            .unwrap()
    };
    let run = dir.path().join("artifacts/es");
    let outcome = || {
        let mut summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
        summary.as_object_mut().unwrap().remove("train_seconds");
        (
            std::fs::read(run.join("model.safetensors")).unwrap(),
            summary,
        )
    };
    crate::common::outcome::assert_success(&train(&[]));
    let unbroken = outcome();
    let epochs = unbroken.1["epochs_trained"].as_u64().unwrap();
    assert!(
        epochs < 12,
        "early stopping ended it, after {epochs} epochs"
    );
    // Trained again, it fails once every epoch is saved: a folder is where a figure goes.
    std::fs::remove_file(run.join("confusion.png")).unwrap();
    std::fs::create_dir(run.join("confusion.png")).unwrap();
    crate::common::outcome::assert_clean_failure(&train(&["--fresh"]), "--resume");
    std::fs::remove_dir(run.join("confusion.png")).unwrap();
    let resumed = crate::common::outcome::assert_success(&train(&["--resume"]));
    assert!(
        !resumed.contains("Training for epoch"),
        "trained on: {resumed}"
    );
    assert!(
        outcome() == unbroken,
        "the resumed run differs from the unbroken one"
    );
}
