//! The real binary on small generated IDX datasets: a run writes every artifact,
//! and bad input gets one clear error line, a non-zero exit and no panic.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use mnist_mlp::data::idx::{IdxImages, encode_images, encode_labels};

const TRAIN: usize = 120;
const TEST: usize = 40;

/// Digit `label` drawn as a bright 4×4 block at a label-specific place: learnable in a few steps.
fn synthetic(count: usize, offset: usize) -> (IdxImages, Vec<u8>) {
    let labels: Vec<u8> = (0..count).map(|i| ((i + offset) % 10) as u8).collect();
    let mut pixels = vec![0u8; count * 784];
    for (i, &label) in labels.iter().enumerate() {
        let (row, col) = (4 + 2 * label as usize, 4 + (label as usize % 5) * 4);
        for r in row..row + 4 {
            for c in col..col + 4 {
                pixels[i * 784 + r * 28 + c] = 255;
            }
        }
    }
    let images = IdxImages {
        count,
        rows: 28,
        cols: 28,
        pixels,
    };
    (images, labels)
}

/// A temporary project: a small dataset, a config pointing at it, an artifacts folder.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let data = project.data();
        std::fs::create_dir_all(&data).unwrap();
        for (prefix, count, offset) in [("train", TRAIN, 0), ("t10k", TEST, 3)] {
            let (images, labels) = synthetic(count, offset);
            std::fs::write(
                data.join(format!("{prefix}-images-idx3-ubyte")),
                encode_images(&images),
            )
            .unwrap();
            std::fs::write(
                data.join(format!("{prefix}-labels-idx1-ubyte")),
                encode_labels(&labels),
            )
            .unwrap();
        }
        project.write_config("tiny.toml", "");
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    fn run_dir(&self) -> PathBuf {
        self.path().join("artifacts/tiny")
    }

    /// Writes a config for the tiny dataset, with `extra` TOML appended.
    fn write_config(&self, name: &str, extra: &str) -> PathBuf {
        let text = format!(
            "[experiment]\nname = \"tiny\"\nseed = 1\n\n[data]\ndir = \"{}\"\nverify = false\n\n[model]\nhidden = [16]\nactivation = \"relu\"\n\n[optimizer]\nname = \"sgd\"\nlearning_rate = 0.1\n\n[training]\nepochs = 2\nbatch_size = 10\nlog_interval = 5\n{extra}",
            self.data().display()
        );
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::cargo_bin("mnist-mlp")
            .unwrap()
            .current_dir(self.path())
            .env_remove("MNIST_DATA_DIR")
            .env_remove("MNIST_MLP_ARTIFACTS")
            .args(args)
            .output()
            .unwrap()
    }
}

/// Non-zero exit, one `error:` line on stderr that contains `needle`, no panic.
fn assert_clean_failure(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(needle), "missing {needle:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn a_run_writes_every_artifact() {
    let project = Project::new();
    let output = project.run(&["tiny.toml"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Cost after iteration 5:"), "{stdout}");
    assert!(stdout.contains("Accuracy on the test data is"), "{stdout}");
    let run = project.run_dir();
    for file in [
        "config.toml",
        "metrics.csv",
        "summary.json",
        "model.safetensors",
        "checkpoint/model-2.bpk",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    for key in [
        "experiment",
        "test_accuracy",
        "train_accuracy",
        "epochs",
        "train_seconds",
        "backend",
        "seed",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["epochs"], 2);
    assert!(
        summary["test_accuracy"].as_f64().unwrap() > 50.0,
        "{summary}"
    );
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().filter(|l| l.starts_with("epoch,")).count(),
        2,
        "{metrics}"
    );
    // 12 batches per epoch, a cost every 5 → iterations 5 and 10 in each epoch.
    assert_eq!(
        metrics.lines().filter(|l| l.starts_with("cost,")).count(),
        4,
        "{metrics}"
    );
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(saved.contains("epochs = 2"), "{saved}");
    for figure in mnist_mlp::report::FIGURES {
        let bytes = std::fs::read(run.join(figure)).unwrap_or_else(|_| panic!("{figure} missing"));
        assert!(bytes.starts_with(b"\x89PNG"), "{figure} is not a PNG");
    }
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("precision    recall  f1-score   support"),
        "{report}"
    );
    assert!(
        report.contains("![confusion matrix](confusion.png)"),
        "{report}"
    );
    let classes = summary["classification_report"]["classes"]
        .as_array()
        .unwrap();
    assert_eq!(classes.len(), 10);

    let compare = project.run(&["compare"]);
    assert!(
        compare.status.success(),
        "{}",
        String::from_utf8_lossy(&compare.stderr)
    );
    let table = String::from_utf8_lossy(&compare.stdout);
    assert!(
        table.contains("test acc") && table.contains("tiny"),
        "{table}"
    );
    let comparison =
        std::fs::read_to_string(project.path().join("artifacts/comparison.md")).unwrap();
    assert!(comparison.contains("| tiny | relu | sgd |"), "{comparison}");
    assert!(project.path().join("artifacts/comparison.png").is_file());
}

#[test]
fn compare_without_runs_says_what_to_do() {
    let project = Project::new();
    std::fs::create_dir_all(project.path().join("artifacts")).unwrap();
    assert_clean_failure(&project.run(&["compare"]), "train a config first");
}

#[test]
fn epochs_flag_and_set_override_reach_the_saved_config() {
    let project = Project::new();
    let output = project.run(&[
        "train",
        "tiny.toml",
        "--epochs",
        "1",
        "--set",
        "model.activation=tanh",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let saved = std::fs::read_to_string(project.run_dir().join("config.toml")).unwrap();
    assert!(
        saved.contains("epochs = 1") && saved.contains("activation = \"tanh\""),
        "{saved}"
    );
}

#[test]
fn bad_configs_get_one_clear_line() {
    let project = Project::new();
    let cases: &[(&str, &str)] = &[
        ("[training]\nepocs = 3\n", "epocs"),
        ("[optimizer]\nlearning_rate = -1.0\n", "learning_rate"),
        ("[model]\nactivation = \"relux\"\n", "relux"),
        ("[training]\nbatch_size = 0\n", "batch_size"),
        ("[training]\nepochs = \"many\"\n", "epochs"),
        ("[model]\nhidden = []\n", "hidden"),
        ("this is not toml\n", "line"),
    ];
    for (extra, needle) in cases {
        // Appending repeats a section for some cases; put the bad text in a fresh file instead.
        let text = format!("[experiment]\nname = \"bad\"\n{extra}");
        let path = project.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let output = project.run(&["bad.toml"]);
        assert_clean_failure(&output, needle);
        assert!(String::from_utf8_lossy(&output.stderr).contains("bad.toml"));
    }
    assert_clean_failure(&project.run(&["missing.toml"]), "missing.toml");
    assert_clean_failure(
        &project.run(&["tiny.toml", "--set", "training.nope=1"]),
        "nope",
    );
    assert!(
        !project.path().join("artifacts/bad").exists(),
        "a bad config must not create a run folder"
    );
}

#[test]
fn damaged_data_files_are_named_with_the_fix() {
    type Damage = fn(&mut Vec<u8>);
    let cases: &[(&str, Damage, &str)] = &[
        (
            "train-images-idx3-ubyte",
            |b| b.truncate(b.len() - 100),
            "truncated",
        ),
        ("train-labels-idx1-ubyte", |b| b[3] = 0x03, "magic number"),
        (
            "t10k-labels-idx1-ubyte",
            |b| *b.last_mut().unwrap() = 42,
            "label 42",
        ),
        ("t10k-images-idx3-ubyte", |b| b[11] = 27, "header promises"),
    ];
    for (file, damage, needle) in cases {
        let project = Project::new();
        let path = project.data().join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        damage(&mut bytes);
        std::fs::write(&path, bytes).unwrap();
        let output = project.run(&["tiny.toml"]);
        assert_clean_failure(&output, needle);
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(file),
            "{file}"
        );
    }
}

#[test]
fn checksums_reject_files_that_are_not_mnist() {
    let project = Project::new();
    project.write_config("tiny.toml", "");
    let text = std::fs::read_to_string(project.path().join("tiny.toml")).unwrap();
    std::fs::write(
        project.path().join("tiny.toml"),
        text.replace("verify = false", "verify = true"),
    )
    .unwrap();
    assert_clean_failure(&project.run(&["tiny.toml"]), "SHA-256");
}

#[test]
fn image_and_label_counts_must_agree() {
    let project = Project::new();
    std::fs::write(
        project.data().join("t10k-labels-idx1-ubyte"),
        encode_labels(&[1, 2, 3]),
    )
    .unwrap();
    assert_clean_failure(&project.run(&["tiny.toml"]), "holds 3 labels");
}

#[test]
fn resume_without_checkpoint_is_refused() {
    let project = Project::new();
    assert_clean_failure(
        &project.run(&["tiny.toml", "--resume"]),
        "no complete checkpoint",
    );
}

#[test]
fn divergence_stops_with_advice() {
    let project = Project::new();
    let output = project.run(&["tiny.toml", "--set", "optimizer.learning_rate=1e30"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("diverged") && stderr.contains("learning_rate"),
        "{stderr}"
    );
}

#[test]
fn resume_continues_from_the_last_complete_epoch() {
    let project = Project::new();
    let first = project.run(&["tiny.toml"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // Without its summary the run looks interrupted after epoch 2.
    std::fs::remove_file(project.run_dir().join("summary.json")).unwrap();
    assert_clean_failure(&project.run(&["tiny.toml"]), "--resume");
    let resumed = project.run(&["tiny.toml", "--resume", "--epochs", "3"]);
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        stdout.contains("Training for epoch 3/3") && !stdout.contains("epoch 1/3"),
        "{stdout}"
    );
    let metrics = std::fs::read_to_string(project.run_dir().join("metrics.csv")).unwrap();
    let epochs: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("epoch,"))
        .collect();
    assert_eq!(epochs.len(), 3, "{metrics}");
    assert!(project.run_dir().join("checkpoint/model-3.bpk").is_file());
}

#[test]
fn eval_reproduces_the_runs_test_accuracy_from_safetensors() {
    let project = Project::new();
    assert!(project.run(&["tiny.toml"]).status.success());
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.run_dir().join("summary.json")).unwrap(),
    )
    .unwrap();
    let expected = format!(
        "test accuracy {:.2}%",
        summary["test_accuracy"].as_f64().unwrap()
    );
    let output = project.run(&["eval", "artifacts/tiny"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&expected), "want {expected}: {stdout}");
    // A damaged file is one clear line.
    let weights = project.run_dir().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    assert_clean_failure(
        &project.run(&["eval", "artifacts/tiny"]),
        "model.safetensors",
    );
    std::fs::write(&weights, b"not safetensors").unwrap();
    assert_clean_failure(
        &project.run(&["eval", "artifacts/tiny"]),
        "not a valid safetensors",
    );
}
