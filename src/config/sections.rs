//! The sections of an experiment config, each key with its default (the assignment's
//! hyperparameters) and its name as the TOML file spells it.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// Names the run folder `artifacts/<name>/`.
    pub name: String,
    #[serde(default = "ExperimentSection::default_seed")]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl ExperimentSection {
    pub(super) fn default_seed() -> u64 {
        42
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// Folder holding the four MNIST IDX files; `MNIST_DATA_DIR` overrides it.
    pub dir: PathBuf,
    /// Check each file's SHA-256 against MNIST's; turn off for other datasets in
    /// MNIST's format (e.g. Fashion-MNIST).
    pub verify: bool,
    /// Training images held out for validation, stratified by digit and drawn from the
    /// seed. With 0 (the assignment's way) the test set is evaluated every epoch;
    /// otherwise the held-out images are, and the test set once, at the end.
    pub validation: usize,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data"),
            verify: true,
            validation: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub init: InitKind,
    /// Probability of zeroing each hidden activation while training (after every hidden
    /// layer: in the fused layer on flex, Burn's `Dropout` elsewhere); evaluation always
    /// sees the whole network.
    pub dropout: f64,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            hidden: vec![500, 250, 100],
            activation: Activation::default(),
            init: InitKind::default(),
            dropout: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerSection {
    pub name: OptimizerKind,
    pub learning_rate: f64,
    /// The assignment's λ: penalty (λ/2m)·Σ‖W‖² on weights only (m = batch size).
    pub l2: f64,
    /// SGD's momentum (PyTorch's formulation, no dampening); 0 is plain SGD.
    pub momentum: f64,
    /// Nesterov's look-ahead form of SGD momentum.
    pub nesterov: bool,
    /// AdamW's decoupled weight decay: w ← w − lr·decay·w each step, apart from the gradient.
    pub weight_decay: f64,
    /// Adam's first-moment decay.
    pub beta1: f32,
    /// Adam's second-moment decay.
    pub beta2: f32,
    /// Adam's ε; PyTorch's default 1e-8 (Burn's own default is 1e-5).
    pub epsilon: f32,
}

impl Default for OptimizerSection {
    fn default() -> Self {
        Self {
            name: OptimizerKind::default(),
            learning_rate: 0.01,
            l2: 0.0,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingSection {
    pub epochs: usize,
    pub batch_size: usize,
    /// Record (and print) the cost every this many iterations, as the assignment does.
    pub log_interval: usize,
    pub shuffle: bool,
    /// Stop after this many epochs without a better validation accuracy and keep the
    /// best epoch's weights; 0 trains every epoch and keeps the last.
    pub early_stopping: usize,
    /// Evaluate the held-out images (the test set, without a validation split) after
    /// every epoch. Off, the test set is looked at once, at the end: a sweep's final run.
    pub evaluate_every_epoch: bool,
    /// The backend to train on, among those compiled in (default: flex where present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
}

impl Default for TrainingSection {
    fn default() -> Self {
        Self {
            epochs: 15,
            batch_size: 64,
            log_interval: 200,
            shuffle: true,
            early_stopping: 0,
            evaluate_every_epoch: true,
            backend: None,
        }
    }
}

/// How the learning rate moves over the run (burn-optim's schedulers, stepped every batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSection {
    pub kind: ScheduleKind,
    /// Epochs of linear warm-up from 1 % of the learning rate, before `kind` takes over.
    pub warmup_epochs: usize,
    /// `step`: multiply the rate by `gamma` every this many epochs.
    pub step_epochs: usize,
    pub gamma: f64,
    /// `cosine`: the rate the curve ends at.
    pub min_lr: f64,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::default(),
            warmup_epochs: 0,
            step_epochs: 10,
            gamma: 0.1,
            min_lr: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    #[default]
    Constant,
    Step,
    Cosine,
}

/// Random distortions of each training image, drawn per batch from the seed; all 0 is off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentSection {
    /// Largest shift, in pixels, along each axis.
    pub translate: f64,
    /// Largest rotation, in degrees, either way.
    pub rotate: f64,
    /// Largest relative change of size, e.g. 0.1 for 90–110 %.
    pub scale: f64,
    /// Elastic distortion (Simard et al. 2003): the strength α of a random displacement
    /// field, in pixels per unit of smoothed noise; 0 is off.
    pub elastic_alpha: f64,
    /// The Gaussian σ, in pixels, that smooths the field: small is wiggly, large is smooth.
    #[serde(default = "AugmentSection::default_elastic_sigma")]
    pub elastic_sigma: f64,
}

impl Default for AugmentSection {
    fn default() -> Self {
        Self {
            translate: 0.0,
            rotate: 0.0,
            scale: 0.0,
            elastic_alpha: 0.0,
            elastic_sigma: Self::default_elastic_sigma(),
        }
    }
}

impl AugmentSection {
    /// Simard et al.'s choice for MNIST, with α = 34.
    fn default_elastic_sigma() -> f64 {
        4.0
    }

    pub fn is_on(&self) -> bool {
        self.translate > 0.0 || self.rotate > 0.0 || self.scale > 0.0 || self.elastic_alpha > 0.0
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Sigmoid,
    Tanh,
    #[default]
    Relu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitKind {
    /// Glorot/Xavier uniform, U[−√(6/(fan_in+fan_out)), +√(…)], the assignment's choice.
    #[default]
    XavierUniform,
    XavierNormal,
    /// He/Kaiming uniform, U[−√(6/fan_in), +√(6/fan_in)], suited to ReLU.
    HeUniform,
    HeNormal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    Sgd,
    Adam,
    /// Adam with decoupled weight decay (`weight_decay`).
    Adamw,
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Relu => "relu",
        })
    }
}

impl std::str::FromStr for Activation {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "sigmoid" => Ok(Self::Sigmoid),
            "tanh" => Ok(Self::Tanh),
            "relu" => Ok(Self::Relu),
            other => bail!("unknown activation {other:?}: use relu, tanh or sigmoid"),
        }
    }
}

impl fmt::Display for InitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::XavierUniform => "xavier_uniform",
            Self::XavierNormal => "xavier_normal",
            Self::HeUniform => "he_uniform",
            Self::HeNormal => "he_normal",
        })
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sgd => "sgd",
            Self::Adam => "adam",
            Self::Adamw => "adamw",
        })
    }
}
