//! A trained model brought back from disk: a run folder, our `model.safetensors`,
//! or any PyTorch MLP state_dict (safetensors or `.pt` / `.pth`), rebuilt from the
//! layer sizes its tensors carry and the activation its metadata (or the user) names.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::config::{Activation, ExperimentConfig};
use crate::data;
use crate::model::{Mlp, layers_text};
use crate::run_files::RunDir;
use crate::weights::state_dict::{self, WeightsFormat};

pub struct SavedModel {
    pub path: PathBuf,
    pub format: WeightsFormat,
    /// The experiment that trained it, when mnist-mlp wrote the file.
    pub config: Option<ExperimentConfig>,
    /// `[784, …, 10]`.
    pub layer_sizes: Vec<usize>,
    pub activation: Activation,
    pub model: Mlp,
}

impl SavedModel {
    /// One line naming the model: the experiment, or the architecture of a foreign file.
    pub fn title(&self) -> String {
        match &self.config {
            Some(config) => format!(
                "{} ({}, {} epochs)",
                self.path.display(),
                config.experiment.name,
                config.training.epochs
            ),
            None => format!(
                "{} ({} state_dict: {}, {})",
                self.path.display(),
                self.format,
                layers_text(&self.layer_sizes),
                self.activation
            ),
        }
    }

    /// The data folder for evaluation: `$MNIST_DATA_DIR`, else the training config's.
    pub fn data_dir(&self) -> PathBuf {
        let configured = self
            .config
            .as_ref()
            .map_or_else(|| PathBuf::from("data"), |c| c.data.dir.clone());
        data::resolve_dir(&configured)
    }

    /// Whether the data's checksums are checked (off only for a model trained with `verify = false`).
    pub fn verify_data(&self) -> bool {
        self.config.as_ref().is_none_or(|c| c.data.verify)
    }
}

impl SavedModel {
    /// `target` is a run folder (its `model.safetensors` is used) or a weights file;
    /// `activation` is needed only when the file does not name its own.
    pub fn load(target: &Path, activation: Option<Activation>, device: &Device) -> Result<Self> {
        let path = if target.is_dir() {
            RunDir::at(target).weights()
        } else {
            target.to_path_buf()
        };
        if !path.is_file() {
            bail!(
                "cannot read {}: give a finished run folder (artifacts/<name>), its model.safetensors, or a PyTorch .safetensors/.pt/.pth state_dict",
                path.display()
            );
        }
        let weights = state_dict::read(&path)?;
        let layer_sizes = weights.layer_sizes();
        let config = match weights.metadata.get("config") {
            Some(text) => Some(
                ExperimentConfig::parse(text, &[])
                    .with_context(|| format!("the config stored in {}", path.display()))?,
            ),
            None => None,
        };
        if let Some(config) = &config
            && config.layer_sizes() != layer_sizes
        {
            bail!(
                "{} holds a {} network but its stored config describes {}: the file was altered; retrain or re-export it",
                path.display(),
                layers_text(&layer_sizes),
                layers_text(&config.layer_sizes())
            );
        }
        let stated = match (&config, weights.metadata.get("activation")) {
            (Some(config), _) => Some(config.model.activation),
            (None, Some(name)) => Some(
                name.parse()
                    .with_context(|| format!("the `activation` metadata of {}", path.display()))?,
            ),
            (None, None) => None,
        };
        let activation = match (stated, activation) {
            (Some(stated), Some(asked)) if stated != asked => bail!(
                "{} was trained with {stated}, not {asked}: drop --activation",
                path.display()
            ),
            (Some(known), _) | (None, Some(known)) => known,
            (None, None) => bail!(
                "{} does not say which activation its hidden layers use: add --activation relu, tanh or sigmoid",
                path.display()
            ),
        };
        let model = Mlp::from_weights(&weights.layers, activation, device);
        Ok(SavedModel {
            path,
            format: weights.format,
            config,
            layer_sizes,
            activation,
            model,
        })
    }
}
