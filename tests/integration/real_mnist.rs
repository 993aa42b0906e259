//! Trains the ReLU config for one epoch on the real MNIST (fetched if absent) and
//! checks the test accuracy and the run folder.

use std::path::Path;

use burn::train::Interrupter;
use mnist_mlp::config::ExperimentConfig;
use mnist_mlp::run::{RunOptions, run_experiment};

#[test]
fn one_epoch_of_relu_reaches_ninety_percent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data_dir = crate::common::mnist_dir().display().to_string();
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
}
