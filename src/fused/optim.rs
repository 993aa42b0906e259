//! SGD (plain or with momentum) and Adam steps in one pass per parameter on the
//! flex backend, in place where the buffers are not shared. Their states flatten
//! to burn-optim's names (`SgdState`, `AdamState`), so checkpoints are the same
//! records and resume works across both; and they keep the same arithmetic,
//! element by element, as burn-optim's ops.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::optim::{
    AdamState, AdaptiveMomentumState, LearningRate, Optimizer, RecordState, SgdState, StateSink,
    StateSource, join_path,
};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::f32_values;
use super::kernels::{
    AdamBuffers, AdamStep, MomentumBuffers, MomentumStep, adam_update, momentum_update, sgd_update,
};

/// Plain SGD: `w ← w − lr·g`.
#[derive(Debug, Clone)]
pub struct FusedSgd;

/// SGD with momentum as burn-optim (and PyTorch) define it, without dampening:
/// `v ← g + μ·v`, then `w ← w − lr·v`, or `w ← w − lr·(g + μ·v)` with Nesterov.
#[derive(Debug, Clone)]
pub struct FusedMomentumSgd {
    pub momentum: f32,
    pub nesterov: bool,
}

/// The velocity of [`FusedMomentumSgd`]. burn-optim's `MomentumState` keeps its
/// tensor private, so this is its own type, flattened under the same name
/// (`momentum.velocity`) as `SgdState`: a checkpoint loads into either optimizer.
#[derive(Clone)]
pub struct VelocityState<const D: usize> {
    pub velocity: Tensor<D>,
}

/// Where burn-optim's `SgdState` keeps the velocity, under a parameter's prefix.
const VELOCITY: (&str, &str) = ("momentum", "velocity");

impl<const D: usize> RecordState for VelocityState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        let data = self.velocity.clone().into_data();
        out.push_tensor(&join_path(prefix, VELOCITY.0), VELOCITY.1, data);
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let data = src.take_tensor(&join_path(prefix, VELOCITY.0), VELOCITY.1)?;
        Some(Self {
            velocity: Tensor::from_data(data, device),
        })
    }
}

/// Adam with burn-optim's formulation (and PyTorch's): bias-corrected moments,
/// ε scaled by the second moment's correction.
#[derive(Debug, Clone)]
pub struct FusedAdam {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
}

/// A float tensor's flex primitive; the fused optimizers run only on flex devices.
fn flex<const D: usize>(tensor: Tensor<D>) -> FlexTensor {
    tensor
        .try_into_primitive::<Flex>()
        .expect("the fused optimizers run on the flex backend")
}

fn tensor<const D: usize>(t: FlexTensor) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(t)
}

/// The tensor's values to overwrite: its own buffer when unshared and
/// contiguous, else a fresh copy.
fn owned(mut t: FlexTensor) -> FlexTensor {
    if t.try_storage_mut::<f32>().is_some() {
        t
    } else {
        FlexTensor::from_data(t.into_data())
    }
}

fn zeros_like(t: &FlexTensor) -> FlexTensor {
    let shape = t.layout().shape().clone();
    FlexTensor::from_data(TensorData::new(vec![0f32; shape.num_elements()], shape))
}

impl Optimizer for FusedSgd {
    type State<const D: usize> = SgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        _state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let w = flex(tensor);
        // The parameter's buffer is still held by the model, but the gradient's is ours:
        // the new weights overwrite it, in one pass, with no buffer to allocate and zero.
        let mut updated = owned(flex(grad));
        let g_then_w = updated.try_storage_mut::<f32>().expect("an owned buffer");
        sgd_update(&f32_values(&w), g_then_w, lr as f32);
        (self::tensor(updated), Some(SgdState { momentum: None }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, _device: &Device) -> Self::State<D> {
        state
    }
}

impl Optimizer for FusedMomentumSgd {
    type State<const D: usize> = VelocityState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (w, grad) = (flex(tensor), flex(grad));
        let first = state.is_none();
        let mut velocity = match state {
            Some(VelocityState { velocity }) => owned(flex(velocity)),
            None => zeros_like(&grad),
        };
        // As in `FusedSgd`, the new weights overwrite the gradient's own buffer.
        let mut updated = owned(grad);
        momentum_update(
            MomentumBuffers {
                w: &f32_values(&w),
                g_then_w: updated.try_storage_mut::<f32>().expect("an owned buffer"),
                states: [velocity.try_storage_mut::<f32>().expect("an owned buffer")],
            },
            MomentumStep {
                momentum: self.momentum,
                nesterov: self.nesterov,
                lr: lr as f32,
                first,
            },
        );
        let velocity = self::tensor(velocity);
        (self::tensor(updated), Some(VelocityState { velocity }))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.velocity = state.velocity.to_device(device);
        state
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (w, grad) = (flex(tensor), flex(grad));
        // Zero moments make the general update exactly burn-optim's first step.
        let (time, mut m, mut v) = match state {
            Some(AdamState { momentum }) => (
                momentum.time + 1,
                owned(flex(momentum.moment_1)),
                owned(flex(momentum.moment_2)),
            ),
            None => (1, zeros_like(&grad), zeros_like(&grad)),
        };
        let t = time as i32;
        let correction_2 = (1.0 - self.beta_2.powi(t)).sqrt();
        let step = AdamStep {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            factor: correction_2 / (1.0 - self.beta_1.powi(t)),
            epsilon: self.epsilon * correction_2,
            lr: lr as f32,
        };
        // The parameter's buffer is still held by the model, but the gradient's is ours:
        // the new weights overwrite it, with no buffer to allocate and zero.
        let mut updated = owned(grad);
        adam_update(
            AdamBuffers {
                w: &f32_values(&w),
                g_then_w: updated.try_storage_mut::<f32>().expect("an owned buffer"),
                states: [&mut m, &mut v]
                    .map(|moment| moment.try_storage_mut::<f32>().expect("an owned buffer")),
            },
            step,
        );
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: self::tensor(m),
            moment_2: self::tensor(v),
            max_moment_2: None,
        };
        (self::tensor(updated), Some(AdamState { momentum }))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}
