//! The checks serde cannot make: ranges and consistency between keys, each failing
//! with the key, the value and how to fix it.

use anyhow::{Result, bail};

use super::{ExperimentConfig, OptimizerKind, RESERVED_NAMES, ScheduleKind, check_folder_name};
use crate::limits::{
    MAX_COST_ROWS, MAX_DESCRIPTION_CHARS, MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_PARAMETERS,
    MAX_PATH_BYTES,
};

impl ExperimentConfig {
    /// Checks the values serde cannot: ranges and consistency.
    pub fn validate(&self) -> Result<()> {
        self.validate_experiment()?;
        self.validate_optimizer()?;
        self.validate_optimizer_extras()?;
        self.validate_training()?;
        self.validate_model()?;
        self.validate_data()?;
        self.validate_schedule()?;
        self.validate_augment()?;
        self.validate_size()
    }

    fn validate_experiment(&self) -> Result<()> {
        let name = &self.experiment.name;
        check_folder_name("[experiment] name", name)?;
        if RESERVED_NAMES.contains(&name.as_str()) {
            bail!(
                "[experiment] name = {name:?} is taken: the artifacts folder keeps sweeps/, comparison.md and comparison.png for itself; choose another name"
            );
        }
        let described = self.experiment.description.chars().count();
        if described > MAX_DESCRIPTION_CHARS {
            bail!(
                "[experiment] description is {described} characters, more than the {MAX_DESCRIPTION_CHARS} a description may take: shorten it (notes of any length can go in a file beside the run)"
            );
        }
        Ok(())
    }

    fn validate_optimizer(&self) -> Result<()> {
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
        Ok(())
    }

    fn validate_training(&self) -> Result<()> {
        let training = &self.training;
        if training.epochs == 0 || training.epochs > MAX_EPOCHS {
            bail!(
                "[training] epochs = {} must be between 1 and {MAX_EPOCHS} (the assignment uses 15)",
                training.epochs
            );
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
        Ok(())
    }

    /// metrics.csv gets a cost row every `log_interval` batches of the `train_images`
    /// trained on, and resume and `compare` read it back whole: no more rows than
    /// [`MAX_COST_ROWS`] fit. Checked once the data is loaded, before the run begins.
    pub fn check_cost_rows(&self, train_images: usize) -> Result<()> {
        let training = &self.training;
        let batches = train_images.div_ceil(training.batch_size);
        let rows = (batches / training.log_interval) as u64 * training.epochs as u64;
        if rows > MAX_COST_ROWS {
            let enough = (batches as u64 * training.epochs as u64).div_ceil(MAX_COST_ROWS);
            bail!(
                "[training] log_interval = {} logs the cost {rows} times over {} epochs of batch {}, more than the {MAX_COST_ROWS} rows metrics.csv may hold: log every {enough} iterations or more",
                training.log_interval,
                training.epochs,
                training.batch_size
            );
        }
        Ok(())
    }

    fn validate_model(&self) -> Result<()> {
        let hidden = &self.model.hidden;
        if hidden.is_empty() {
            bail!("[model] hidden = [] needs at least one layer width, e.g. [500, 250, 100]");
        }
        if hidden.len() > MAX_HIDDEN_LAYERS {
            bail!(
                "[model] hidden has {} layers, more than the {MAX_HIDDEN_LAYERS} a saved model may hold: use fewer",
                hidden.len()
            );
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
        Ok(())
    }

    /// The validation split, and the training keys that need one or make it useless.
    fn validate_data(&self) -> Result<()> {
        let dir_bytes = self.data.dir.as_os_str().len();
        if dir_bytes == 0 {
            bail!(
                "[data] dir is empty: give the folder holding the MNIST files, or leave the key out for ./data (or $MNIST_DATA_DIR)"
            );
        }
        if dir_bytes > MAX_PATH_BYTES {
            bail!(
                "[data] dir is {dir_bytes} bytes long, longer than any path the system opens ({MAX_PATH_BYTES}): give the folder holding the MNIST files"
            );
        }
        let (validation, training) = (self.data.validation, &self.training);
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
            ("elastic_alpha", augment.elastic_alpha, 100.0, "34 pixels"),
        ] {
            if !(value.is_finite() && (0.0..=limit).contains(&value)) {
                bail!(
                    "[augment] {key} = {value} must be between 0 (off) and {limit}; e.g. {example}"
                );
            }
        }
        let sigma = augment.elastic_sigma;
        if !(sigma.is_finite() && (0.5..=10.0).contains(&sigma)) {
            bail!("[augment] elastic_sigma = {sigma} must be between 0.5 and 10 pixels; e.g. 4");
        }
        Ok(())
    }

    /// Last: the count is only meaningful once every width is.
    fn validate_size(&self) -> Result<()> {
        if self
            .parameter_count()
            .is_none_or(|count| count > MAX_PARAMETERS)
        {
            bail!(
                "[model] hidden = {:?} needs more than {MAX_PARAMETERS} parameters, which would not fit in memory: use narrower layers",
                self.model.hidden
            );
        }
        Ok(())
    }
}
