//! Building the model: from a config with freshly drawn weights (Glorot/Xavier or He,
//! zero biases, drawn on the host from the seed so every backend starts bit-identical),
//! or from weights read from a file.

use burn::module::Param;
use burn::nn::{DropoutConfig, Linear};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};

use super::{ActivationLayer, Mlp};
use crate::config::{Activation, ExperimentConfig, InitKind};

/// What the model needs to be built: widths from input to output, and how to start.
#[derive(Debug, Clone)]
pub struct MlpSpec {
    pub layer_sizes: Vec<usize>,
    pub activation: Activation,
    pub init: InitKind,
    pub dropout: f64,
    pub l2: f64,
}

impl MlpSpec {
    /// The model an experiment describes.
    pub fn from_config(config: &ExperimentConfig) -> Self {
        Self {
            layer_sizes: config.layer_sizes(),
            activation: config.model.activation,
            init: config.model.init,
            dropout: config.model.dropout,
            l2: config.optimizer.l2,
        }
    }

    /// A freshly initialised model: weights from `init` driven by `seed`, zero biases.
    pub fn init(&self, seed: u64, device: &Device) -> Mlp {
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = self
            .layer_sizes
            .windows(2)
            .map(|pair| {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let weights = sample_weights(self.init, fan_in, fan_out, &mut rng);
                linear(weights, vec![0.0; fan_out], fan_in, device)
            })
            .collect();
        Mlp {
            layers,
            activation: ActivationLayer::new(self.activation),
            dropout: DropoutConfig::new(self.dropout).init(),
            l2: self.l2,
        }
    }
}

impl Mlp {
    /// The model holding trained `layers` (PyTorch layout, input side first).
    pub fn from_weights(layers: &[LinearWeights], activation: Activation, device: &Device) -> Self {
        let layers = layers
            .iter()
            .map(|layer| {
                let (inputs, outputs) = (layer.inputs, layer.outputs);
                // PyTorch's [out, in] → Burn's [in, out].
                let transposed: Vec<f32> = (0..inputs * outputs)
                    .map(|k| layer.weight[(k % outputs) * inputs + k / outputs])
                    .collect();
                linear(transposed, layer.bias.clone(), inputs, device)
            })
            .collect();
        Mlp {
            layers,
            activation: ActivationLayer::new(activation),
            dropout: DropoutConfig::new(0.0).init(),
            l2: 0.0,
        }
    }
}

/// A `Linear` layer from its weights in Burn's row layout `[inputs, outputs]`
/// (so that it computes x · W) and its `[outputs]` bias.
fn linear(weight: Vec<f32>, bias: Vec<f32>, inputs: usize, device: &Device) -> Linear {
    let outputs = bias.len();
    let weight = Tensor::from_data(TensorData::new(weight, [inputs, outputs]), device);
    let bias = Tensor::from_data(TensorData::new(bias, [outputs]), device);
    Linear {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
    }
}

/// Draws `fan_in × fan_out` weights, row-major `[fan_in, fan_out]`.
fn sample_weights(init: InitKind, fan_in: usize, fan_out: usize, rng: &mut StdRng) -> Vec<f32> {
    let count = fan_in * fan_out;
    let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
    match init {
        InitKind::XavierUniform | InitKind::HeUniform => {
            let bound = if init == InitKind::XavierUniform {
                (6.0 / (fan_in + fan_out)).sqrt()
            } else {
                (6.0 / fan_in).sqrt()
            };
            let uniform = Uniform::new(-bound, bound).expect("a positive bound");
            (0..count).map(|_| uniform.sample(rng) as f32).collect()
        }
        InitKind::XavierNormal | InitKind::HeNormal => {
            let std = if init == InitKind::XavierNormal {
                (2.0 / (fan_in + fan_out)).sqrt()
            } else {
                (2.0 / fan_in).sqrt()
            };
            let normal = Normal::new(0.0, std).expect("a positive standard deviation");
            (0..count).map(|_| normal.sample(rng) as f32).collect()
        }
    }
}

/// One `Linear` layer in PyTorch's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearWeights {
    /// The tensor-name prefix, e.g. `0` or `fc1`.
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    /// `[outputs, inputs]`, row-major.
    pub weight: Vec<f32>,
    /// `[outputs]`; zeros for a layer saved without bias.
    pub bias: Vec<f32>,
}
