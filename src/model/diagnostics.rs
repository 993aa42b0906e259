//! Why a network learns or stalls, layer by layer: gradient and weight norms, how far
//! an epoch moved the weights, and what the hidden units do on a fixed probe batch.
//!
//! Measured on a probe batch at epoch end rather than inside every step, so the fused
//! training step stays as it is, and every epoch is measured on the same images.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::Mlp;
use crate::data::MnistBatch;

/// A unit is saturated on an image when its activation's derivative is below this
/// share of its peak (sigmoid 1/4, tanh and ReLU 1): it passes on under a tenth of
/// the gradient it could. For ReLU that is every unit that does not fire.
pub const SATURATION: f64 = 0.1;

/// One layer's figures at the end of one epoch (epoch 0: as initialised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDiagnostics {
    pub epoch: usize,
    /// From 1, input side first; the last is the output layer.
    pub layer: usize,
    /// Frobenius norm of the weight matrix.
    pub weight_norm: f64,
    /// Norms of the data loss's gradient (mean cross-entropy over the probe batch;
    /// no L2 term) with respect to the weights and the biases.
    pub weight_grad_norm: f64,
    pub bias_grad_norm: f64,
    /// ‖W − W_before‖ / ‖W_before‖ over the epoch; empty for epoch 0.
    pub update_ratio: Option<f64>,
    /// The hidden layers' activations over the probe batch (empty for the output layer).
    pub activation_mean: Option<f64>,
    pub activation_std: Option<f64>,
    /// The activation's mean derivative, as a share of its peak.
    pub derivative_share: Option<f64>,
    /// Share of (image, unit) pairs that are saturated (see [`SATURATION`]).
    pub saturated_share: Option<f64>,
    /// Share of units saturated on every probe image: dead ReLUs, stuck sigmoids.
    pub dead_share: Option<f64>,
}

/// The fixed images every epoch is measured on, and the weights last measured.
pub struct Probe {
    batch: MnistBatch,
    /// Each layer's weights `[in, out]` at the last measurement, without autodiff.
    before: Vec<Tensor<2>>,
}

impl Probe {
    /// Measures on `batch`; `model` holds the weights the first epoch starts from.
    pub fn new(batch: MnistBatch, model: &Mlp) -> Self {
        Self {
            batch,
            before: weights(model),
        }
    }

    /// The figures of every layer of `model` (on an autodiff device) after `epoch`.
    pub fn measure(&mut self, model: &Mlp, epoch: usize) -> Vec<LayerDiagnostics> {
        let values = model.layer_values(self.batch.images.clone());
        let logits = values.last().expect("at least one layer").1.clone(); // [probe, 10]
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, self.batch.targets.clone());
        let grads = loss.backward();
        let now = weights(model);
        let last = model.layers.len();
        let rows = model
            .layers
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (layer, (pre, post)))| {
                let weight_grad = layer
                    .weight
                    .val()
                    .grad(&grads)
                    .expect("weights require grad");
                let bias = layer.bias.as_ref().expect("our layers have biases").val();
                let bias_grad = bias.grad(&grads).expect("biases require grad");
                let hidden = (i + 1 < last).then(|| {
                    let derivative = model
                        .activation
                        .derivative_share(pre.clone().inner(), post.clone().inner());
                    HiddenFigures::of(post.clone().inner(), derivative)
                });
                LayerDiagnostics {
                    epoch,
                    layer: i + 1,
                    weight_norm: norm(now[i].clone()),
                    weight_grad_norm: norm(weight_grad),
                    bias_grad_norm: norm(bias_grad),
                    update_ratio: (epoch > 0).then(|| {
                        norm(now[i].clone() - self.before[i].clone()) / norm(self.before[i].clone())
                    }),
                    activation_mean: hidden.as_ref().map(|h| h.mean),
                    activation_std: hidden.as_ref().map(|h| h.std),
                    derivative_share: hidden.as_ref().map(|h| h.derivative),
                    saturated_share: hidden.as_ref().map(|h| h.saturated),
                    dead_share: hidden.as_ref().map(|h| h.dead),
                }
            });
        let rows = rows.collect();
        self.before = now;
        rows
    }
}

/// What one hidden layer's units do over the probe batch.
struct HiddenFigures {
    mean: f64,
    std: f64,
    derivative: f64,
    saturated: f64,
    dead: f64,
}

impl HiddenFigures {
    /// From the activations `[probe, units]` and their derivatives as shares of the peak.
    fn of(activations: Tensor<2>, derivative: Tensor<2>) -> Self {
        let mean = activations.clone().mean().into_scalar::<f64>();
        let variance = activations
            .sub_scalar(mean)
            .square()
            .mean()
            .into_scalar::<f64>();
        let derivative_mean = derivative.clone().mean().into_scalar::<f64>();
        let saturated = derivative.clone().lower_elem(SATURATION); // [probe, units]
        let never_free = derivative.max_dim(0).lower_elem(SATURATION); // [1, units]
        Self {
            mean,
            std: variance.sqrt(),
            derivative: derivative_mean,
            saturated: share(saturated),
            dead: share(never_free),
        }
    }
}

/// Each layer's weights `[in, out]`, without autodiff.
fn weights(model: &Mlp) -> Vec<Tensor<2>> {
    model
        .layers
        .iter()
        .map(|layer| layer.weight.val().inner())
        .collect()
}

/// The Frobenius norm.
fn norm<const D: usize>(tensor: Tensor<D>) -> f64 {
    tensor.square().sum().sqrt().into_scalar::<f64>()
}

/// The share of true elements.
fn share<const D: usize>(flags: Tensor<D, Bool>) -> f64 {
    flags.float().mean().into_scalar::<f64>()
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::backend::BackendKind;
    use crate::config::{Activation, InitKind};
    use crate::mnist::{CLASSES, IMAGE_PIXELS};
    use crate::model::{LinearWeights, MlpSpec};

    fn device() -> Device {
        BackendKind::default_compiled().device().autodiff()
    }

    fn batch(pixels: Vec<f32>, labels: Vec<i64>, device: &Device) -> MnistBatch {
        let rows = labels.len();
        MnistBatch {
            images: Tensor::from_data(TensorData::new(pixels, [rows, IMAGE_PIXELS]), device),
            targets: Tensor::from_data(TensorData::new(labels, [rows]), device),
            dropout_key: 0,
        }
    }

    /// A layer's weights `[in, out]` and bias as f64.
    fn values(model: &Mlp, layer: usize) -> (Vec<f64>, Vec<f64>) {
        let to_f64 = |t: Tensor<2>| -> Vec<f64> {
            let data = t.inner().into_data().convert::<f64>();
            data.try_into_vec::<f64>().unwrap()
        };
        let linear = &model.layers[layer];
        let bias = linear.bias.as_ref().unwrap().val().unsqueeze::<2>();
        (to_f64(linear.weight.val()), to_f64(bias))
    }

    /// ‖∂L/∂W‖ and ‖∂L/∂b‖ of both layers of a one-hidden-layer model, by backprop
    /// written out in f64: L the mean cross-entropy over the images.
    fn direct_norms(
        model: &Mlp,
        activation: Activation,
        x: &[f64],
        labels: &[usize],
    ) -> [(f64, f64); 2] {
        let ((w1, b1), (w2, b2)) = (values(model, 0), values(model, 1));
        let (n, hidden) = (labels.len(), b1.len());
        let (mut g_w1, mut g_b1) = (vec![0.0; w1.len()], vec![0.0; hidden]);
        let (mut g_w2, mut g_b2) = (vec![0.0; w2.len()], vec![0.0; CLASSES]);
        for (image, &label) in labels.iter().enumerate() {
            let xi = &x[image * IMAGE_PIXELS..(image + 1) * IMAGE_PIXELS];
            let z1 = dense(xi, &w1, &b1);
            let (a1, d1): (Vec<f64>, Vec<f64>) =
                z1.iter().map(|&z| activate(activation, z)).unzip();
            let z2 = dense(&a1, &w2, &b2);
            let top = z2.iter().cloned().fold(f64::MIN, f64::max);
            let total: f64 = z2.iter().map(|z| (z - top).exp()).sum();
            let dz2: Vec<f64> = (0..CLASSES)
                .map(|k| ((z2[k] - top).exp() / total - f64::from(u8::from(k == label))) / n as f64)
                .collect();
            for j in 0..hidden {
                let back: f64 = (0..CLASSES).map(|k| dz2[k] * w2[j * CLASSES + k]).sum();
                let dz1 = back * d1[j];
                g_b1[j] += dz1;
                for p in 0..IMAGE_PIXELS {
                    g_w1[p * hidden + j] += xi[p] * dz1;
                }
                for k in 0..CLASSES {
                    g_w2[j * CLASSES + k] += a1[j] * dz2[k];
                }
            }
            for k in 0..CLASSES {
                g_b2[k] += dz2[k];
            }
        }
        let norm = |v: &[f64]| v.iter().map(|g| g * g).sum::<f64>().sqrt();
        [(norm(&g_w1), norm(&g_b1)), (norm(&g_w2), norm(&g_b2))]
    }

    /// `b + x·W` for one input row x `[k]`, W `[k, n]` row-major, b `[n]` → `[n]`.
    fn dense(x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
        let n = b.len();
        (0..n)
            .map(|j| {
                b[j] + x
                    .iter()
                    .enumerate()
                    .map(|(i, xi)| xi * w[i * n + j])
                    .sum::<f64>()
            })
            .collect()
    }

    /// The activation of `z` and its derivative there.
    fn activate(activation: Activation, z: f64) -> (f64, f64) {
        match activation {
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                (s, s * (1.0 - s))
            }
            Activation::Tanh => (z.tanh(), 1.0 - z.tanh().powi(2)),
            Activation::Relu => (z.max(0.0), f64::from(u8::from(z > 0.0))),
        }
    }

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-4 * want.abs().max(1e-6)
    }

    #[test]
    fn gradient_norms_equal_a_direct_computation() {
        let device = device();
        let labels = [3usize, 7, 0, 9, 3, 1];
        let x: Vec<f64> = (0..labels.len() * IMAGE_PIXELS)
            .map(|i| f64::from((i * 37 % 251) as u8) / 255.0)
            .collect();
        for activation in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
            let spec = MlpSpec {
                layer_sizes: vec![IMAGE_PIXELS, 5, CLASSES],
                activation,
                init: InitKind::XavierUniform,
                dropout: 0.0,
                l2: 0.0,
            };
            let model = spec.init(11, &device);
            let pixels = x.iter().map(|&v| v as f32).collect();
            let targets = labels.iter().map(|&l| l as i64).collect();
            let mut probe = Probe::new(batch(pixels, targets, &device), &model);
            let rows = probe.measure(&model, 0);
            let direct = direct_norms(&model, activation, &x, &labels);
            for (row, (weight, bias)) in rows.iter().zip(direct) {
                assert!(
                    close(row.weight_grad_norm, weight),
                    "{activation}: {row:?} vs {weight}"
                );
                assert!(
                    close(row.bias_grad_norm, bias),
                    "{activation}: {row:?} vs {bias}"
                );
                assert_eq!(row.update_ratio, None);
            }
            assert_eq!(
                rows[1].saturated_share, None,
                "the output layer has no activation"
            );
        }
    }

    /// One 784 → 3 → 10 model with zero output weights; hidden unit 0 has bias `b0`,
    /// unit 1 bias `b1`, unit 2 weight `w2` from pixel 0 and bias `b2`.
    fn constructed(activation: Activation, [b0, b1, w2, b2]: [f32; 4], device: &Device) -> Mlp {
        let mut weight = vec![0.0; 3 * IMAGE_PIXELS];
        weight[2 * IMAGE_PIXELS] = w2; // [out, in]: unit 2, pixel 0
        let hidden = LinearWeights {
            name: "0".into(),
            inputs: IMAGE_PIXELS,
            outputs: 3,
            weight,
            bias: vec![b0, b1, b2],
        };
        let output = LinearWeights {
            name: "1".into(),
            inputs: 3,
            outputs: CLASSES,
            weight: vec![0.0; 3 * CLASSES],
            bias: vec![0.0; CLASSES],
        };
        Mlp::from_weights(&[hidden, output], activation, device)
    }

    /// Four images: pixel 0 is 0, 1, 0, 1, every other pixel 0.
    fn four_images(device: &Device) -> MnistBatch {
        let mut pixels = vec![0.0; 4 * IMAGE_PIXELS];
        for image in [1, 3] {
            pixels[image * IMAGE_PIXELS] = 1.0;
        }
        batch(pixels, vec![0, 1, 2, 3], device)
    }

    #[test]
    fn dead_and_saturated_units_are_counted_on_a_constructed_case() {
        let device = device();
        // ReLU: unit 0 never fires (dead), unit 1 always does (output 1), unit 2 fires
        // on the two images with ink at pixel 0 (output 0.5).
        let relu = constructed(Activation::Relu, [-1.0, 1.0, 1.0, -0.5], &device);
        let row = Probe::new(four_images(&device), &relu)
            .measure(&relu, 0)
            .remove(0);
        assert_eq!(row.dead_share, Some(f64::from(1.0f32 / 3.0)));
        assert_eq!(row.saturated_share, Some(0.5)); // 6 of 12 pairs inactive
        assert_eq!(row.derivative_share, Some(0.5));
        assert!((row.activation_mean.unwrap() - 5.0 / 12.0).abs() < 1e-7);
        // Sigmoid: unit 0 stuck at σ(10), unit 1 at σ(0) = ½ (the peak derivative),
        // unit 2 saturated on the two images where its input is 10.
        let sigmoid = constructed(Activation::Sigmoid, [10.0, 0.0, 10.0, 0.0], &device);
        let row = Probe::new(four_images(&device), &sigmoid)
            .measure(&sigmoid, 0)
            .remove(0);
        assert_eq!(row.dead_share, Some(f64::from(1.0f32 / 3.0)));
        assert_eq!(row.saturated_share, Some(0.5));
        let tail = 4.0 * (1.0 / (1.0 + 10f64.exp())) * (1.0 - 1.0 / (1.0 + 10f64.exp()));
        let expected = (4.0 + 2.0 + 6.0 * tail) / 12.0;
        assert!(
            (row.derivative_share.unwrap() - expected).abs() < 1e-6,
            "{row:?}"
        );
    }

    #[test]
    fn the_update_ratio_is_the_weights_relative_change() {
        let device = device();
        let before = constructed(Activation::Tanh, [0.5, -0.25, 2.0, 0.0], &device);
        let after = constructed(Activation::Tanh, [0.5, -0.25, 3.0, 0.0], &device);
        let mut probe = Probe::new(four_images(&device), &before);
        let rows = probe.measure(&after, 1);
        // Layer 1's only weight went from 2 to 3; the output layer's are all zero.
        assert!(
            (rows[0].update_ratio.unwrap() - 0.5).abs() < 1e-7,
            "{:?}",
            rows[0]
        );
        assert_eq!(rows[0].weight_norm, 3.0);
        // The next epoch measures from `after`.
        assert_eq!(probe.measure(&after, 2)[0].update_ratio, Some(0.0));
    }
}
