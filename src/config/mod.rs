//! The experiment description: one TOML file mapped onto typed structs, with
//! `--set section.key=value` overrides applied before validation so that a typo
//! in either place gets the same clear error.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::limits::MAX_PARAMETERS;

/// A whole experiment: everything needed to reproduce a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub experiment: ExperimentSection,
    #[serde(default)]
    pub data: DataSection,
    #[serde(default)]
    pub model: ModelSection,
    #[serde(default)]
    pub optimizer: OptimizerSection,
    #[serde(default)]
    pub schedule: ScheduleSection,
    #[serde(default)]
    pub training: TrainingSection,
    #[serde(default)]
    pub augment: AugmentSection,
}

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
    fn default_seed() -> u64 {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentSection {
    /// Largest shift, in pixels, along each axis.
    pub translate: f64,
    /// Largest rotation, in degrees, either way.
    pub rotate: f64,
    /// Largest relative change of size, e.g. 0.1 for 90–110 %.
    pub scale: f64,
}

impl AugmentSection {
    pub fn is_on(&self) -> bool {
        self.translate > 0.0 || self.rotate > 0.0 || self.scale > 0.0
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

impl ExperimentConfig {
    /// The assignment's defaults under the experiment name `name`.
    pub fn named(name: &str) -> Self {
        Self {
            experiment: ExperimentSection {
                name: name.to_string(),
                seed: ExperimentSection::default_seed(),
                description: String::new(),
            },
            data: DataSection::default(),
            model: ModelSection::default(),
            optimizer: OptimizerSection::default(),
            schedule: ScheduleSection::default(),
            training: TrainingSection::default(),
            augment: AugmentSection::default(),
        }
    }

    /// Reads `path`, applies `overrides` (`section.key=value`), and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read config {}: check the path (the shipped configs are in config/)",
                path.display()
            )
        })?;
        Self::parse(&text, overrides).with_context(|| format!("config {}", path.display()))
    }

    /// Parses TOML text, applies overrides and validates; errors carry line/column.
    pub fn parse(text: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|err: toml::de::Error| anyhow::anyhow!(one_line_toml_error(&err, text)))?;
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
        }
        let has_overrides = !overrides.is_empty();
        // Re-serialise so that deserialisation errors point at lines of the file as written
        // when there are no overrides, and at the merged document otherwise.
        let merged = if has_overrides {
            toml::to_string(&table)?
        } else {
            text.to_string()
        };
        let config: Self = toml::from_str(&merged).map_err(|err| {
            let message = one_line_toml_error(&err, &merged);
            if has_overrides {
                anyhow::anyhow!("{message} (after --set overrides)")
            } else {
                anyhow::anyhow!(message)
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot: ranges and consistency.
    pub fn validate(&self) -> Result<()> {
        let name = &self.experiment.name;
        if !is_folder_name(name) {
            bail!(
                "[experiment] name = {name:?} is not a usable folder name: use letters, digits, '-', '_' or '.'"
            );
        }
        if RESERVED_NAMES.contains(&name.as_str()) {
            bail!(
                "[experiment] name = {name:?} is taken: the artifacts folder keeps sweeps/, comparison.md and comparison.png for itself; choose another name"
            );
        }
        let optimizer = &self.optimizer;
        if !(optimizer.learning_rate.is_finite() && optimizer.learning_rate > 0.0) {
            bail!(
                "[optimizer] learning_rate = {} must be a finite number > 0 (the assignment uses 0.01)",
                optimizer.learning_rate
            );
        }
        if !(optimizer.l2.is_finite() && optimizer.l2 >= 0.0) {
            bail!(
                "[optimizer] l2 = {} must be a finite number ≥ 0 (0 disables it; the assignment's λ is 0.8)",
                optimizer.l2
            );
        }
        for (key, value) in [("beta1", optimizer.beta1), ("beta2", optimizer.beta2)] {
            if !(0.0..1.0).contains(&value) {
                bail!("[optimizer] {key} = {value} must be in [0, 1) (PyTorch uses 0.9 and 0.999)");
            }
        }
        if !(optimizer.epsilon.is_finite() && optimizer.epsilon > 0.0) {
            bail!(
                "[optimizer] epsilon = {} must be a finite number > 0 (PyTorch uses 1e-8)",
                optimizer.epsilon
            );
        }
        self.validate_optimizer_extras()?;
        let training = &self.training;
        if training.epochs == 0 {
            bail!("[training] epochs = 0 must be at least 1 (the assignment uses 15)");
        }
        if training.batch_size == 0 || training.batch_size > crate::mnist::TRAIN_IMAGES {
            bail!(
                "[training] batch_size = {} must be between 1 and {} (the training set size); the assignment uses 64",
                training.batch_size,
                crate::mnist::TRAIN_IMAGES
            );
        }
        if training.log_interval == 0 {
            bail!("[training] log_interval = 0 must be at least 1 (the assignment uses 200)");
        }
        let hidden = &self.model.hidden;
        if hidden.is_empty() {
            bail!("[model] hidden = [] needs at least one layer width, e.g. [500, 250, 100]");
        }
        if let Some(position) = hidden.iter().position(|&width| width == 0) {
            bail!("[model] hidden[{position}] = 0: every layer width must be at least 1");
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            bail!(
                "[model] dropout = {} must be in [0, 1): the chance of zeroing a hidden unit (0 turns it off; 0.2–0.5 is usual)",
                self.model.dropout
            );
        }
        let validation = self.data.validation;
        if validation >= crate::mnist::TRAIN_IMAGES {
            bail!(
                "[data] validation = {validation} must leave training images: hold out fewer than {} (e.g. 10000)",
                crate::mnist::TRAIN_IMAGES
            );
        }
        if training.early_stopping > 0 && validation == 0 {
            bail!(
                "[training] early_stopping = {} needs a validation split to watch: set [data] validation (e.g. 10000)",
                training.early_stopping
            );
        }
        if !training.evaluate_every_epoch && validation > 0 {
            bail!(
                "[training] evaluate_every_epoch = false leaves the {validation} validation images unused: set [data] validation = 0, or evaluate every epoch"
            );
        }
        self.validate_schedule()?;
        self.validate_augment()?;
        let parameters = self.parameter_count();
        if parameters.is_none_or(|count| count > MAX_PARAMETERS) {
            bail!(
                "[model] hidden = {hidden:?} needs more than {MAX_PARAMETERS} parameters, which would not fit in memory: use narrower layers"
            );
        }
        Ok(())
    }

    fn validate_optimizer_extras(&self) -> Result<()> {
        let optimizer = &self.optimizer;
        if !(0.0..1.0).contains(&optimizer.momentum) {
            bail!(
                "[optimizer] momentum = {} must be in [0, 1) (0 is plain SGD; 0.9 is usual)",
                optimizer.momentum
            );
        }
        if optimizer.momentum > 0.0 && optimizer.name != OptimizerKind::Sgd {
            bail!(
                "[optimizer] momentum = {} applies to SGD only: set name = \"sgd\", or remove momentum ({} has its own moments, beta1 and beta2)",
                optimizer.momentum,
                optimizer.name
            );
        }
        if optimizer.nesterov && optimizer.momentum == 0.0 {
            bail!("[optimizer] nesterov = true needs momentum > 0, e.g. momentum = 0.9");
        }
        if !(optimizer.weight_decay.is_finite() && optimizer.weight_decay >= 0.0) {
            bail!(
                "[optimizer] weight_decay = {} must be a finite number ≥ 0 (AdamW's default is 0.01)",
                optimizer.weight_decay
            );
        }
        if optimizer.weight_decay > 0.0 && optimizer.name != OptimizerKind::Adamw {
            bail!(
                "[optimizer] weight_decay = {} is AdamW's decoupled decay: set name = \"adamw\", or use l2 for the assignment's penalty",
                optimizer.weight_decay
            );
        }
        Ok(())
    }

    fn validate_schedule(&self) -> Result<()> {
        let schedule = &self.schedule;
        let lr = self.optimizer.learning_rate;
        if schedule.warmup_epochs >= self.training.epochs {
            bail!(
                "[schedule] warmup_epochs = {} must be fewer than [training] epochs = {}",
                schedule.warmup_epochs,
                self.training.epochs
            );
        }
        if (schedule.kind != ScheduleKind::Constant || schedule.warmup_epochs > 0) && lr > 1.0 {
            bail!(
                "[optimizer] learning_rate = {lr} must be at most 1 with a schedule or warm-up (burn-optim's limit)"
            );
        }
        if schedule.step_epochs == 0 {
            bail!("[schedule] step_epochs = 0 must be at least 1 (the epochs between two decays)");
        }
        if !(schedule.gamma > 0.0 && schedule.gamma <= 1.0) {
            bail!(
                "[schedule] gamma = {} must be in (0, 1]: the factor applied every step_epochs (0.1 is usual)",
                schedule.gamma
            );
        }
        if !(schedule.min_lr >= 0.0 && schedule.min_lr < lr) {
            bail!(
                "[schedule] min_lr = {} must be ≥ 0 and below [optimizer] learning_rate = {lr}",
                schedule.min_lr
            );
        }
        Ok(())
    }

    fn validate_augment(&self) -> Result<()> {
        let augment = &self.augment;
        for (key, value, limit, example) in [
            ("translate", augment.translate, 4.0, "2 pixels"),
            ("rotate", augment.rotate, 45.0, "10 degrees"),
            ("scale", augment.scale, 0.5, "0.1"),
        ] {
            if !(value.is_finite() && (0.0..=limit).contains(&value)) {
                bail!(
                    "[augment] {key} = {value} must be between 0 (off) and {limit}; e.g. {example}"
                );
            }
        }
        Ok(())
    }

    /// Layer widths from input to output: 784, hidden…, 10.
    pub fn layer_sizes(&self) -> Vec<usize> {
        std::iter::once(crate::mnist::IMAGE_PIXELS)
            .chain(self.model.hidden.iter().copied())
            .chain(std::iter::once(crate::mnist::CLASSES))
            .collect()
    }

    /// Weights plus biases, or `None` when the count overflows.
    pub fn parameter_count(&self) -> Option<usize> {
        self.layer_sizes().windows(2).try_fold(0usize, |sum, pair| {
            pair[0]
                .checked_mul(pair[1])?
                .checked_add(pair[1])?
                .checked_add(sum)
        })
    }

    /// The config as TOML, for the run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a validated config always serialises")
    }

    /// Every `section.key` with its value, as the config spells them.
    pub fn settings(&self) -> BTreeMap<String, toml::Value> {
        let table = toml::Table::try_from(self).expect("a validated config always serialises");
        table
            .into_iter()
            .flat_map(|(section, values)| match values {
                toml::Value::Table(keys) => keys
                    .into_iter()
                    .map(|(key, value)| (format!("{section}.{key}"), value))
                    .collect::<Vec<_>>(),
                value => vec![(section, value)],
            })
            .collect()
    }

    /// The settings `other` changes, as `section.key old → new`, for a message
    /// that says how two runs differ.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let (old, new) = (self.settings(), other.settings());
        let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
        keys.sort();
        keys.dedup();
        let shown =
            |value: Option<&toml::Value>| value.map_or("(unset)".to_string(), |v| v.to_string());
        keys.into_iter()
            .filter(|key| old.get(*key) != new.get(*key))
            .map(|key| format!("{key} {} → {}", shown(old.get(key)), shown(new.get(key))))
            .collect()
    }
}

/// What `sweep` and `compare` keep beside the runs in artifacts/: no run may take these names.
const RESERVED_NAMES: [&str; 3] = ["sweeps", "comparison.md", "comparison.png"];

/// Whether `name` can name a folder of its own under artifacts/ (a run or a sweep):
/// letters, digits, '-', '_' and '.', not starting with '.'.
pub fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.')
}

/// Applies `section.key=value`; the value is read as TOML (number, bool, array) or
/// else taken as a bare string, so `--set model.activation=tanh` works unquoted.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let Some((path, raw_value)) = assignment.split_once('=') else {
        bail!(
            "--set {assignment:?} must look like section.key=value, e.g. --set training.epochs=3"
        );
    };
    let Some((section, key)) = path.trim().split_once('.') else {
        bail!("--set {assignment:?}: the key must name its section, e.g. optimizer.learning_rate");
    };
    let raw_value = raw_value.trim();
    let value = format!("v = {raw_value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut parsed| parsed.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw_value.to_string()));
    let section_table = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(section_table) = section_table.as_table_mut() else {
        bail!("--set {assignment:?}: {section} is not a section");
    };
    section_table.insert(key.to_string(), value);
    Ok(())
}

/// toml's errors span several lines with a source snippet; we want one line with
/// the position and the message.
pub(crate) fn one_line_toml_error(err: &toml::de::Error, text: &str) -> String {
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before.len() - line_start + 1;
            let source = text[line_start..].lines().next().unwrap_or("").trim();
            format!("line {line}, column {column} (`{source}`): {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[experiment]\nname = \"t\"\n";

    #[test]
    fn defaults_are_the_assignment_hyperparameters() {
        let config = ExperimentConfig::parse(MINIMAL, &[]).unwrap();
        assert_eq!(config.model.hidden, vec![500, 250, 100]);
        assert_eq!(config.training.batch_size, 64);
        assert_eq!(config.training.epochs, 15);
        assert_eq!(config.training.log_interval, 200);
        assert_eq!(config.optimizer.learning_rate, 0.01);
        assert_eq!(config.model.init, InitKind::XavierUniform);
        assert_eq!(config.layer_sizes(), vec![784, 500, 250, 100, 10]);
    }

    #[test]
    fn overrides_apply_before_validation() {
        let overrides = vec![
            "training.epochs=3".to_string(),
            "model.activation=tanh".to_string(),
            "model.hidden=[32, 16]".to_string(),
        ];
        let config = ExperimentConfig::parse(MINIMAL, &overrides).unwrap();
        assert_eq!(config.training.epochs, 3);
        assert_eq!(config.model.activation, Activation::Tanh);
        assert_eq!(config.model.hidden, vec![32, 16]);
    }

    #[test]
    fn round_trips_through_toml() {
        let config = ExperimentConfig::parse(MINIMAL, &["optimizer.l2=0.8".into()]).unwrap();
        let again = ExperimentConfig::parse(&config.to_toml(), &[]).unwrap();
        assert_eq!(config, again);
    }

    fn error_of(text: &str, overrides: &[&str]) -> String {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        format!(
            "{:#}",
            ExperimentConfig::parse(text, &overrides).unwrap_err()
        )
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = error_of(
            "[experiment]\nname = \"t\"\n[optimizer]\nlearnig_rate = 0.1\n",
            &[],
        );
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("learnig_rate"), "{err}");
        assert!(err.contains("learning_rate"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn bad_values_name_key_and_fix() {
        let cases: &[(&[&str], &str)] = &[
            (&["optimizer.learning_rate=-1"], "learning_rate"),
            (&["optimizer.learning_rate=nan"], "learning_rate"),
            (&["optimizer.learning_rate=inf"], "learning_rate"),
            (&["optimizer.l2=-0.5"], "l2"),
            (&["training.epochs=0"], "epochs"),
            (&["training.batch_size=0"], "batch_size"),
            (&["training.batch_size=60001"], "batch_size"),
            (&["model.hidden=[]"], "hidden"),
            (&["model.hidden=[10, 0]"], "hidden[1]"),
            (&["model.hidden=[1000000, 1000000]"], "memory"),
            (&["model.activation=relux"], "relux"),
            (&["optimizer.name=rmsprop"], "rmsprop"),
            (&["model.init=ones"], "ones"),
            (&["training.epochs=\"ten\""], "epochs"),
            (&["training.nope=1"], "nope"),
            (&["epochs=3"], "section"),
            (&["model.dropout=1"], "dropout"),
            (&["data.validation=60000"], "validation"),
            (&["training.early_stopping=3"], "validation"),
            (
                &["data.validation=100", "training.evaluate_every_epoch=false"],
                "unused",
            ),
            (&["optimizer.momentum=1.5"], "momentum"),
            (
                &["optimizer.name=adam", "optimizer.momentum=0.9"],
                "SGD only",
            ),
            (&["optimizer.nesterov=true"], "nesterov"),
            (&["optimizer.weight_decay=0.01"], "adamw"),
            (
                &["schedule.kind=cosine", "optimizer.learning_rate=2"],
                "at most 1",
            ),
            (&["schedule.kind=linear"], "linear"),
            (&["schedule.warmup_epochs=15"], "warmup_epochs"),
            (&["schedule.gamma=0"], "gamma"),
            (&["schedule.min_lr=0.5"], "min_lr"),
            (&["augment.translate=5"], "translate"),
            (&["augment.rotate=-1"], "rotate"),
        ];
        for (overrides, needle) in cases {
            let err = error_of(MINIMAL, overrides);
            assert!(err.contains(needle), "{overrides:?}: {err}");
            assert!(!err.contains('\n'), "{overrides:?}: {err}");
        }
    }

    #[test]
    fn unknown_activation_lists_the_allowed_names() {
        let err = error_of(MINIMAL, &["model.activation=relux"]);
        assert!(
            err.contains("sigmoid") && err.contains("tanh") && err.contains("relu"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_shows_line_and_column() {
        let err = error_of("[experiment]\nname = \"t\"\nseed = = 3\n", &[]);
        assert!(err.starts_with("line 3, column"), "{err}");
    }

    #[test]
    fn differences_name_each_changed_setting() {
        let base = ExperimentConfig::parse(MINIMAL, &[]).unwrap();
        let overrides = ["training.epochs=3", "optimizer.learning_rate=0.05"].map(String::from);
        let changed = ExperimentConfig::parse(MINIMAL, &overrides).unwrap();
        assert_eq!(
            base.differences(&changed),
            vec![
                "optimizer.learning_rate 0.01 → 0.05",
                "training.epochs 15 → 3"
            ]
        );
        assert!(base.differences(&base).is_empty());
    }

    #[test]
    fn settings_display_as_the_config_spells_them() {
        let config = ExperimentConfig::parse(
            MINIMAL,
            &[
                "schedule.kind=cosine",
                "schedule.warmup_epochs=1",
                "model.init=he_uniform",
            ]
            .map(String::from),
        )
        .unwrap();
        let settings = config.settings();
        assert_eq!(settings["schedule.kind"].as_str(), Some("cosine"));
        assert_eq!(settings["schedule.warmup_epochs"].as_integer(), Some(1));
        assert_eq!(settings["model.init"].as_str(), Some("he_uniform"));
        assert_eq!(config.model.init.to_string(), "he_uniform");
        for init in ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal"] {
            let set = [format!("model.init={init}")];
            let parsed = ExperimentConfig::parse(MINIMAL, &set).unwrap();
            assert_eq!(parsed.model.init.to_string(), init);
        }
    }

    #[test]
    fn names_of_our_own_folders_are_refused() {
        let err = error_of(MINIMAL, &["experiment.name=sweeps"]);
        assert!(err.contains("sweeps"), "{err}");
        assert!(
            err.contains("is taken: the artifacts folder keeps"),
            "{err}"
        );
    }

    #[test]
    fn missing_experiment_name_is_an_error() {
        let err = error_of("[training]\nepochs = 1\n", &[]);
        assert!(err.contains("experiment"), "{err}");
    }
}
