//! A trained model brought back from disk: a run folder or a `model.safetensors`
//! file, rebuilt from the config stored in its metadata.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::prelude::*;

use crate::config::ExperimentConfig;
use crate::model::Mlp;
use crate::train::model_spec;
use crate::weights::{load_pytorch_safetensors, read_metadata};

pub struct SavedModel {
    pub path: PathBuf,
    pub config: ExperimentConfig,
    pub model: Mlp,
}

/// `target` is a run folder (its `model.safetensors` is used) or a safetensors file.
pub fn load(target: &Path, device: &Device) -> Result<SavedModel> {
    let path = if target.is_dir() {
        target.join("model.safetensors")
    } else {
        target.to_path_buf()
    };
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: give a finished run folder (artifacts/<name>) or its model.safetensors",
            path.display()
        )
    })?;
    let metadata = read_metadata(&bytes, &path)?;
    let config_text = metadata.get("config").ok_or_else(|| {
        anyhow!(
            "{} has no `config` in its metadata: it was not written by mnist-mlp",
            path.display()
        )
    })?;
    let config = ExperimentConfig::parse(config_text, &[])
        .with_context(|| format!("the config stored in {}", path.display()))?;
    let mut model = model_spec(&config).init(config.experiment.seed, device);
    load_pytorch_safetensors(&mut model, bytes, &path)?;
    Ok(SavedModel {
        path,
        config,
        model,
    })
}
