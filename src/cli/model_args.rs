//! The arguments `eval`, `export` and `predict` share: a saved model (or a committee
//! of them) and how to run it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::prelude::Device;
use clap::Args;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::config::Activation;
use mnist_mlp::data::{Checksums, Digits, Missing, Mnist, TEST_FILES, missing_files};
use mnist_mlp::weights::load::SavedModel;

#[derive(Args)]
pub struct ModelArgs {
    /// A run folder, its model.safetensors, or a PyTorch MLP state_dict (.safetensors, .pt, .pth).
    #[arg(value_parser = super::user_path)]
    model: PathBuf,
    /// The hidden layers' activation, for files that do not record it (PyTorch's).
    #[arg(long)]
    activation: Option<Activation>,
    /// Backend to run on (default: flex where compiled in).
    #[arg(long)]
    backend: Option<BackendKind>,
    /// Data folder (default: $MNIST_DATA_DIR, else the model's own when it holds MNIST, else ./data, where missing files are fetched).
    #[arg(long, value_parser = super::user_path)]
    data_dir: Option<PathBuf>,
    /// Accept a data folder that is not the official MNIST (e.g. Fashion-MNIST): skip the checksums.
    #[arg(long)]
    no_verify: bool,
}

impl ModelArgs {
    pub fn load(&self) -> Result<(SavedModel, Device)> {
        let device = BackendKind::resolve(self.backend)?.device();
        let saved = SavedModel::load(&self.model, self.activation, &device)?;
        Ok((saved, device))
    }

    /// Another model on the same device, with the same `--activation` for files that
    /// do not name theirs.
    pub fn load_other(&self, path: &Path, device: &Device) -> Result<SavedModel> {
        SavedModel::load(path, self.activation, device)
    }

    /// The test digits to run the model on. The folder a model records is read when it
    /// holds them, but a file from elsewhere does not choose where a download goes:
    /// missing digits are fetched into the folder the user chose (--data-dir, else
    /// $MNIST_DATA_DIR, else ./data).
    pub fn test_data(&self, saved: &SavedModel) -> Result<Digits> {
        let recorded = saved.data_dir();
        let dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None if missing_files(&recorded, &TEST_FILES).is_empty() => recorded,
            // Only MNIST can be fetched; a model of other digits needs its own named.
            None if !saved.verify_data() => bail!(
                "{} was trained on unchecked data (verify = false) in {}, which is not there: give that data's folder with --data-dir",
                saved.path.display(),
                recorded.display()
            ),
            None => super::data_dir_or_default(&None),
        };
        let checksums = Checksums::verify_if(saved.verify_data() && !self.no_verify);
        Mnist::load_test(&dir, Missing::Fetch, checksums)
    }
}

/// One model, or with `--ensemble` a committee of several whose class probabilities
/// are averaged.
#[derive(Args)]
pub struct CommitteeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// More models for a committee (with --ensemble): run folders or weights files.
    #[arg(value_name = "MORE_MODELS", value_parser = super::user_path)]
    more: Vec<PathBuf>,
    /// Average the class probabilities of every model given and treat them as one.
    #[arg(long)]
    ensemble: bool,
}

impl CommitteeArgs {
    /// Every model given, the first one first, all read before anything else so that a
    /// bad path fails at once.
    pub fn load(&self, command: &str) -> Result<(Vec<SavedModel>, Device)> {
        if self.more.is_empty() == self.ensemble {
            if self.ensemble {
                bail!(
                    "--ensemble needs two or more models: `mnist-mlp {command} RUN RUN … --ensemble`"
                );
            }
            bail!(
                "several models given: add --ensemble to treat them as one committee, or give one model"
            );
        }
        let (first, device) = self.model.load()?;
        let mut members = vec![first];
        for path in &self.more {
            members.push(self.model.load_other(path, &device)?);
        }
        refuse_repeats(&members)?;
        Ok((members, device))
    }
}

/// A model given twice would count twice in the average: a slip such as a run
/// named beside a glob that already holds it, or a run and its own weights file.
fn refuse_repeats(members: &[SavedModel]) -> Result<()> {
    let mut seen = HashMap::new();
    for member in members {
        let file = member
            .path
            .canonicalize()
            .unwrap_or_else(|_| member.path.clone());
        if let Some(first) = seen.insert(file, &member.path) {
            bail!(
                "{} and {} are the same model file: a committee counts each member once, so give it once",
                first.display(),
                member.path.display()
            );
        }
    }
    Ok(())
}
