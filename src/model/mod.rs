//! The multilayer perceptron: 784 → hidden… → 10 logits, one activation between
//! layers, weights drawn on the host from the experiment's seed so that every
//! backend starts from bit-identical parameters.

use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Dropout, DropoutConfig, Linear, Relu, Sigmoid, Tanh};
use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::config::{Activation, ExperimentConfig, InitKind};
use crate::data::MnistBatch;
#[cfg(feature = "flex")]
use crate::fused::KernelActivation;
use crate::fused::{self, Regularise};

/// Apart the hidden layers' dropout keys (2⁶⁴ / φ: consecutive multiples stay far apart).
#[cfg(feature = "flex")]
const LAYER_KEY_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// The hidden-layer non-linearity, as a module so it is part of the model's type.
#[derive(Module, Debug)]
pub enum ActivationLayer {
    Sigmoid(Sigmoid),
    Tanh(Tanh),
    Relu(Relu),
}

impl ActivationLayer {
    pub fn new(kind: Activation) -> Self {
        match kind {
            Activation::Sigmoid => Self::Sigmoid(Sigmoid::new()),
            Activation::Tanh => Self::Tanh(Tanh::new()),
            Activation::Relu => Self::Relu(Relu::new()),
        }
    }

    /// The same non-linearity inside the fused flex kernels.
    #[cfg(feature = "flex")]
    fn fused(&self) -> KernelActivation {
        match self {
            Self::Sigmoid(_) => KernelActivation::Sigmoid,
            Self::Tanh(_) => KernelActivation::Tanh,
            Self::Relu(_) => KernelActivation::Relu,
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Sigmoid(layer) => layer.forward(x),
            Self::Tanh(_) => tanh_via_sigmoid(x),
            Self::Relu(layer) => layer.forward(x),
        }
    }
}

/// tanh(x) = 2·σ(2x) − 1.
///
/// Burn 0.22's flex backend computes `tanh` element by element with libm, far slower
/// than its fused sigmoid; going through sigmoid keeps the gradient exact, and the
/// absolute error is below f32's resolution at 1.0.
fn tanh_via_sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::sigmoid(x.mul_scalar(2.0))
        .mul_scalar(2.0)
        .sub_scalar(1.0)
}

#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers then the output layer; weights are `[in, out]`.
    pub layers: Vec<Linear>,
    pub activation: ActivationLayer,
    /// After every hidden activation; active only on an autodiff device (training).
    pub dropout: Dropout,
    /// The assignment's λ: the training loss adds (λ/2m)·Σ‖W‖² over weights only.
    #[module(skip)]
    pub l2: f64,
}

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

impl Mlp {
    /// `[batch, 784]` pixels → `[batch, 10]` logits.
    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        self.logits(images, Regularise::default())
    }

    /// [`Self::forward`], whose fused flex layers also apply `regularise` (the hidden
    /// layers' dropout, the L2 gradient). Other backends leave it to Burn's dropout
    /// module and to [`Self::l2_penalty`].
    #[cfg_attr(not(feature = "flex"), allow(unused_variables))]
    fn logits(&self, images: Tensor<2>, regularise: Regularise) -> Tensor<2> {
        let (output, hidden) = self.layers.split_last().expect("at least one layer");
        #[cfg(feature = "flex")]
        if fused::is_flex(&images.device()) {
            let act = self.activation.fused();
            let x = hidden
                .iter()
                .zip(1u64..)
                .fold(images, |x, (layer, number)| {
                    // Each layer its own masks.
                    let key = regularise
                        .key
                        .wrapping_add(number.wrapping_mul(LAYER_KEY_STEP));
                    fused::linear_layer(x, layer, act, Regularise { key, ..regularise })
                });
            let output_regularise = Regularise {
                dropout: 0.0,
                ..regularise
            };
            return fused::linear_layer(x, output, KernelActivation::Identity, output_regularise);
        }
        let x = hidden.iter().fold(images, |x, layer| {
            self.dropout
                .forward(self.activation.forward(layer.forward(x)))
        });
        output.forward(x)
    }

    /// Softmax cross-entropy of the batch, plus the logits it came from.
    pub fn forward_classification(&self, batch: MnistBatch) -> ClassificationOutput {
        self.classify(batch, Regularise::default())
    }

    /// [`Self::forward_classification`] with the fused layers' `regularise`.
    fn classify(&self, batch: MnistBatch, regularise: Regularise) -> ClassificationOutput {
        let logits = self.logits(batch.images, regularise);
        let loss = cross_entropy(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }

    /// (λ/2m)·Σ‖W‖² over the weight matrices; its gradient is (λ/m)·W, biases untouched.
    pub fn l2_penalty(&self, batch_size: usize) -> Option<Tensor<1>> {
        (self.l2 > 0.0).then(|| {
            let squares = self
                .layers
                .iter()
                .map(|layer| layer.weight.val().square().sum())
                .reduce(|a, b| a + b)
                .expect("at least one layer");
            squares.mul_scalar(self.l2 / (2.0 * batch_size as f64))
        })
    }
}

/// Mean softmax cross-entropy of logits `[batch, 10]` against class indices `[batch]`:
/// one fused op on flex, Burn's `CrossEntropyLoss` on the other backends.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if fused::is_flex(&logits.device()) {
        return fused::cross_entropy(logits, targets);
    }
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, targets)
}

impl TrainStep for Mlp {
    type Input = MnistBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: MnistBatch) -> TrainOutput<ClassificationOutput> {
        let batch_size = batch.targets.dims()[0];
        // On flex the fused layers drop out (masks drawn from the batch's key) and add
        // the L2 penalty's weight gradient (λ/m)·W as they write dW; other backends
        // use Burn's dropout module and differentiate the penalty term itself.
        let fused = fused::is_flex(&batch.images.device());
        let regularise = Regularise {
            decay: (self.l2 / batch_size as f64) as f32,
            dropout: self.dropout.prob as f32,
            key: batch.dropout_key,
        };
        let item = self.classify(batch, regularise);
        // The reported cost is the data loss; the gradient also carries the L2 term.
        let penalty = (!fused).then(|| self.l2_penalty(batch_size)).flatten();
        let objective = match penalty {
            Some(penalty) => item.loss.clone() + penalty,
            None => item.loss.clone(),
        };
        TrainOutput::new(self, objective.backward(), item)
    }
}

impl InferenceStep for Mlp {
    type Input = MnistBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: MnistBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}

/// Layer widths as every output shows them: `784 → 500 → 10`.
pub fn layers_text(sizes: &[usize]) -> String {
    let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
    sizes.join(" → ")
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
