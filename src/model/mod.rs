//! The multilayer perceptron: 784 → hidden… → 10 logits, one activation between
//! layers. Here the forward pass (fused on flex), the loss and Burn's train and
//! inference steps; `init` builds the model, `activation` holds its non-linearity.

mod activation;
pub mod diagnostics;
mod init;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Dropout, Linear};
use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

pub use activation::ActivationLayer;
pub use init::{LinearWeights, MlpSpec};

use crate::data::MnistBatch;
#[cfg(feature = "flex")]
use crate::fused::KernelActivation;
use crate::fused::{self, Regularise};

/// Apart the hidden layers' dropout keys (2⁶⁴ / φ: consecutive multiples stay far apart).
#[cfg(feature = "flex")]
const LAYER_KEY_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

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

    /// Every layer's input to its activation and its output, `[batch, out]` each, for
    /// `[batch, 784]` pixels; the last pair is the logits twice. Burn's own ops (no
    /// fused kernels, no dropout), so autodiff sees each step on every backend.
    pub fn layer_values(&self, images: Tensor<2>) -> Vec<(Tensor<2>, Tensor<2>)> {
        let (output, hidden) = self.layers.split_last().expect("at least one layer");
        let mut values = Vec::with_capacity(self.layers.len());
        let mut x = images;
        for layer in hidden {
            let pre = layer.forward(x);
            x = self.activation.forward(pre.clone());
            values.push((pre, x.clone()));
        }
        let logits = output.forward(x);
        values.push((logits.clone(), logits));
        values
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
