//! A temporary project for tests of the real binary: a small generated dataset,
//! a config pointing at it, and the artifacts folder the runs write.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::BIN;
use super::synthetic::write_dataset;

const TRAIN: usize = 120;
const TEST: usize = 40;

/// A temporary project: a small dataset, a config pointing at it, an artifacts folder.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        write_dataset(&project.data(), TRAIN, TEST);
        project.write_config("tiny.toml", "");
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.path().join("artifacts/tiny")
    }

    /// Writes a config for the tiny dataset, with `extra` TOML appended.
    pub fn write_config(&self, name: &str, extra: &str) -> PathBuf {
        let text = format!(
            "[experiment]\nname = \"tiny\"\nseed = 1\n\n[data]\ndir = \"{}\"\nverify = false\n\n[model]\nhidden = [16]\nactivation = \"relu\"\n\n[optimizer]\nname = \"sgd\"\nlearning_rate = 0.1\n\n[training]\nepochs = 2\nbatch_size = 10\nlog_interval = 5\n{extra}",
            self.data().display()
        );
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The binary with `args`, in the project folder, ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .current_dir(self.path())
            .env_remove("MNIST_DATA_DIR")
            .env_remove("MNIST_MLP_ARTIFACTS")
            .args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// As [`Self::run`], with the environment variable `name` set to `value`.
    pub fn run_with_env(&self, args: &[&str], (name, value): (&str, &str)) -> Output {
        self.command(args).env(name, value).output().unwrap()
    }
}
