//! A trained model brought back from disk: a run folder, our `model.safetensors`,
//! or any PyTorch MLP state_dict (safetensors or `.pt` / `.pth`), rebuilt from the
//! layer sizes its tensors carry and the activation its metadata (or the user) names.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::config::{Activation, ExperimentConfig};
use crate::data;
use crate::fsutil;
use crate::model::{Mlp, layers_text};
use crate::run_files::RunDir;
use crate::weights::state_dict::{self, MlpWeights, WeightsFormat};

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
        // A run's own model.safetensors is never a link: one there was put by someone
        // else, and would have the server show a model from outside the artifacts.
        let (path, opened) = if target.is_dir() {
            let path = RunDir::at(target).weights();
            let opened = fsutil::open_own_record(&path);
            (path, opened)
        } else {
            (target.to_path_buf(), fsutil::open_regular(target))
        };
        if let Err(err) = opened {
            let why = fsutil::why_unreadable(&err);
            bail!(
                "cannot read {} ({why}): give a finished run folder (artifacts/<name>), its model.safetensors, or a PyTorch .safetensors/.pt/.pth state_dict",
                path.display()
            );
        }
        let weights = state_dict::read(&path)?;
        let layer_sizes = weights.layer_sizes();
        let config = stored_config(&weights, &path)?;
        let activation = activation_of(&weights, config.as_ref(), activation, &path)?;
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

/// The config a run stored in its weights' metadata, checked against the layers the
/// file holds; `None` for files from elsewhere (PyTorch), which carry none.
fn stored_config(weights: &MlpWeights, path: &Path) -> Result<Option<ExperimentConfig>> {
    let Some(text) = weights.metadata.get("config") else {
        return Ok(None);
    };
    let config = ExperimentConfig::parse(text, &[])
        .with_context(|| format!("the config stored in {}", path.display()))?;
    let layer_sizes = weights.layer_sizes();
    if config.layer_sizes() != layer_sizes {
        bail!(
            "{} holds a {} network but its stored config describes {}: the file was altered; retrain or re-export it",
            path.display(),
            layers_text(&layer_sizes),
            layers_text(&config.layer_sizes())
        );
    }
    Ok(Some(config))
}

/// The hidden layers' activation: the one the file states (in its config or its
/// `activation` metadata), else the one `asked` for; both must agree when both exist.
fn activation_of(
    weights: &MlpWeights,
    config: Option<&ExperimentConfig>,
    asked: Option<Activation>,
    path: &Path,
) -> Result<Activation> {
    let stated = match (config, weights.metadata.get("activation")) {
        (Some(config), _) => Some(config.model.activation),
        (None, Some(name)) => Some(
            name.parse()
                .with_context(|| format!("the `activation` metadata of {}", path.display()))?,
        ),
        (None, None) => None,
    };
    match (stated, asked) {
        (Some(stated), Some(asked)) if stated != asked => bail!(
            "{} was trained with {stated}, not {asked}: drop --activation",
            path.display()
        ),
        (Some(known), _) | (None, Some(known)) => Ok(known),
        (None, None) => bail!(
            "{} does not say which activation its hidden layers use: add --activation relu, tanh or sigmoid",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::model::LinearWeights;

    /// A file's weights for `sizes` (values unread here) with `metadata`.
    fn weights(sizes: &[usize], metadata: &[(&str, &str)]) -> MlpWeights {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(index, pair)| LinearWeights {
                name: index.to_string(),
                inputs: pair[0],
                outputs: pair[1],
                weight: Vec::new(),
                bias: Vec::new(),
            })
            .collect();
        let metadata: HashMap<_, _> = metadata
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        MlpWeights {
            format: WeightsFormat::Safetensors,
            metadata,
            layers,
        }
    }

    fn relu_config() -> String {
        std::fs::read_to_string("config/relu.toml").expect("config/relu.toml")
    }

    #[test]
    fn a_stored_config_must_describe_the_stored_layers() {
        let path = Path::new("run/model.safetensors");
        let config = relu_config();
        let matching = weights(&[784, 500, 250, 100, 10], &[("config", &config)]);
        let stored = stored_config(&matching, path).unwrap().expect("a config");
        assert_eq!(stored.layer_sizes(), [784, 500, 250, 100, 10]);

        let altered = weights(&[784, 64, 10], &[("config", &config)]);
        let error = stored_config(&altered, path).unwrap_err().to_string();
        assert!(error.contains("holds a 784 → 64 → 10 network"), "{error}");
        assert!(error.contains("the file was altered"), "{error}");

        assert!(
            stored_config(&weights(&[784, 10], &[]), path)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_activation_comes_from_the_file_or_the_user_and_they_must_agree() {
        let path = Path::new("net.pt");
        let (relu, tanh) = (Some(Activation::Relu), Some(Activation::Tanh));
        let bare = weights(&[784, 10], &[]);
        let tagged = weights(&[784, 10], &[("activation", "tanh")]);
        assert_eq!(
            activation_of(&bare, None, relu, path).unwrap(),
            Activation::Relu
        );
        assert_eq!(
            activation_of(&tagged, None, None, path).unwrap(),
            Activation::Tanh
        );
        assert_eq!(
            activation_of(&tagged, None, tanh, path).unwrap(),
            Activation::Tanh
        );

        let unknown = activation_of(&bare, None, None, path)
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("add --activation relu, tanh or sigmoid"),
            "{unknown}"
        );
        let clash = activation_of(&tagged, None, relu, path)
            .unwrap_err()
            .to_string();
        assert!(clash.contains("was trained with tanh, not relu"), "{clash}");

        // A stored config outranks the `activation` tag.
        let config = ExperimentConfig::parse(&relu_config(), &[]).unwrap();
        let got = activation_of(&tagged, Some(&config), None, path).unwrap();
        assert_eq!(got, Activation::Relu);
    }
}
