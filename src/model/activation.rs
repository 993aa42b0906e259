//! The hidden layers' non-linearity as a Burn module, so it is part of the model's type
//! and its record.

use burn::nn::{Relu, Sigmoid, Tanh};
use burn::prelude::*;

use crate::config::Activation;
#[cfg(feature = "flex")]
use crate::fused::KernelActivation;

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
    pub(super) fn fused(&self) -> KernelActivation {
        match self {
            Self::Sigmoid(_) => KernelActivation::Sigmoid,
            Self::Tanh(_) => KernelActivation::Tanh,
            Self::Relu(_) => KernelActivation::Relu,
        }
    }

    /// The derivative at each unit, as a share of its peak, from the unit's input
    /// `pre` and output `post` (both `[batch, units]`).
    pub(super) fn derivative_share(&self, pre: Tensor<2>, post: Tensor<2>) -> Tensor<2> {
        match self {
            // σ' = σ(1 − σ), at most 1/4.
            Self::Sigmoid(_) => post.clone().mul(post.neg().add_scalar(1.0)).mul_scalar(4.0),
            // tanh' = 1 − tanh², at most 1.
            Self::Tanh(_) => post.square().neg().add_scalar(1.0),
            Self::Relu(_) => pre.greater_elem(0.0).float(),
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
