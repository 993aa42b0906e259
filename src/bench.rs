//! The speed instrument: steady-state training epochs through the Learner's own
//! step (`Learner::train_step` + `optimizer_step`, as the training's epoch loop runs
//! them) and test-set evaluation throughput, per activation × optimizer.

use std::time::Instant;

use burn::data::dataloader::DataLoader;
use burn::prelude::*;
use burn::train::Learner;
use serde::Serialize;

use crate::backend::BackendKind;
use crate::config::{Activation, ExperimentConfig, OptimizerKind};
use crate::data::{Digits, Mnist};
use crate::eval::evaluate;
use crate::model::{Mlp, MlpSpec};
use crate::train::{TrainingData, optimizer, train_loader};

/// One benchmarked setting.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub framework: String,
    pub activation: String,
    pub optimizer: String,
    pub epoch_seconds: Vec<f64>,
    pub median_epoch_seconds: f64,
    /// The epoch's matrix products alone, on all cores (see [`crate::fused::step_gemm_floor_seconds`]).
    pub floor_epoch_seconds: f64,
    /// floor ÷ epoch: the share of the epoch the products would need at full speed.
    pub efficiency: f64,
    /// The epoch's products in GFLOP per second of the whole epoch: what the step makes
    /// of the machine, to set beside its large-gemm rate.
    pub product_gflops_per_second: f64,
    /// A 2048³ product through the same split gemm (see [`crate::fused::large_gemm_gflops`]).
    pub large_gemm_gflops_per_second: f64,
    pub eval_images_per_second: f64,
    pub peak_rss_mb: f64,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Times `epochs` training epochs (after one warm-up epoch) and three evaluations of the
/// test set for the setting `config` describes (at its base learning rate: a schedule
/// changes no work).
pub fn bench_setting(
    config: &ExperimentConfig,
    data: &Mnist,
    backend: BackendKind,
    epochs: usize,
) -> BenchResult {
    let device = &backend.device();
    // The images the config trains on: all 60 000, or those its validation split leaves.
    let train = TrainingData::new(config, data).train;
    let (epoch_seconds, model) = timed_epochs(config, &train, device, epochs);
    let eval_seconds: Vec<f64> = (0..3)
        .map(|_| seconds(|| evaluate(&model, &data.test, device)))
        .collect();
    let steps = train.len().div_ceil(config.training.batch_size);
    let floor_epoch_seconds =
        crate::fused::step_gemm_floor_seconds(&config.layer_sizes(), config.training.batch_size)
            * steps as f64;
    let median_epoch_seconds = median(&epoch_seconds);
    let epoch_flops = product_flops_per_image(&config.layer_sizes()) * train.len() as f64;
    // Read before the 2048³ product's 32 MB can count towards the setting's peak.
    let peak_rss_mb = peak_rss_mb();
    BenchResult {
        framework: format!("burn-{backend}"),
        activation: config.model.activation.to_string(),
        optimizer: config.optimizer.name.to_string(),
        median_epoch_seconds,
        floor_epoch_seconds,
        efficiency: floor_epoch_seconds / median_epoch_seconds,
        product_gflops_per_second: epoch_flops / median_epoch_seconds / 1e9,
        large_gemm_gflops_per_second: crate::fused::large_gemm_gflops(),
        epoch_seconds,
        eval_images_per_second: data.test.len() as f64 / median(&eval_seconds),
        peak_rss_mb,
    }
}

/// The seconds of each of `epochs` epochs of `config`'s training on `train`, after one
/// warm-up epoch, each until its device has finished; and the model they trained.
fn timed_epochs(
    config: &ExperimentConfig,
    train: &Digits,
    device: &Device,
    epochs: usize,
) -> (Vec<f64>, Mlp) {
    let model =
        MlpSpec::from_config(config).init(config.experiment.seed, &device.clone().autodiff());
    let mut learner = Learner::new(
        model,
        optimizer(config, device),
        config.optimizer.learning_rate,
    );
    let loader = train_loader(config, train, 0, &device.clone().autodiff());
    let epoch_seconds = crate::backend::on_training_thread(|| {
        let mut epoch = || {
            for batch in loader.iter() {
                let batch = batch.expect("in-memory batches do not fail");
                learner.lr_step();
                let output = learner.train_step(batch);
                learner.optimizer_step(output.grads);
            }
            device.sync().expect("the device finishes its work");
        };
        epoch();
        (0..epochs).map(|_| seconds(&mut epoch)).collect()
    });
    (epoch_seconds, learner.model().valid())
}

/// How long `work` takes.
fn seconds<R>(work: impl FnOnce() -> R) -> f64 {
    let started = Instant::now();
    work();
    started.elapsed().as_secs_f64()
}

/// Floating-point operations per training image in the products the floor times: x·W
/// and xᵀ·dz for every layer, dz·Wᵀ for all but the first (a multiply-add is two).
fn product_flops_per_image(layer_sizes: &[usize]) -> f64 {
    layer_sizes
        .windows(2)
        .enumerate()
        .map(|(layer, pair)| {
            let products = if layer == 0 { 2 } else { 3 };
            (products * 2 * pair[0] * pair[1]) as f64
        })
        .sum()
}

/// The settings the assignment uses: every activation with SGD and with Adam.
pub fn assignment_settings() -> Vec<(Activation, OptimizerKind)> {
    let mut settings: Vec<_> = [Activation::Relu, Activation::Tanh, Activation::Sigmoid]
        .into_iter()
        .flat_map(|a| [(a, OptimizerKind::Sgd), (a, OptimizerKind::Adam)])
        .collect();
    settings.sort_by_key(|&(a, o)| (o as u8, a as u8));
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_count_the_floors_products() {
        // 784→500: forward and dW, 2·784·500 each; 500→10: forward, dW and dX.
        let expected = 2.0 * 2.0 * 784.0 * 500.0 + 3.0 * 2.0 * 500.0 * 10.0;
        assert_eq!(product_flops_per_image(&[784, 500, 10]), expected);
        assert_eq!(product_flops_per_image(&[784, 10]), 2.0 * 2.0 * 7840.0);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
