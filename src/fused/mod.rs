//! Fused kernels for the flex backend: a linear layer's matmul, bias and
//! activation in one op forward and one op backward, its products split over
//! two cores (`cores`); the softmax cross-entropy in one op; SGD (plain or with
//! momentum) and Adam in one pass per parameter. Other backends take Burn's standard ops.

mod kernels;
#[cfg(feature = "flex")]
mod loss;
#[cfg(feature = "flex")]
mod ops;
#[cfg(feature = "flex")]
mod optim;

#[cfg(feature = "flex")]
use burn::backend::{Dispatch, DispatchDevice, flex::FlexTensor};
#[cfg(feature = "flex")]
use burn::nn::Linear;
use burn::prelude::*;

pub use kernels::KernelActivation;
#[cfg(feature = "flex")]
use loss::FusedCrossEntropy;
#[cfg(feature = "flex")]
use ops::FusedLinear;
#[cfg(feature = "flex")]
pub use optim::{FusedAdam, FusedMomentumSgd, FusedSgd, VelocityState};

/// Whether `device` (or the device under its autodiff) is flex.
pub fn is_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return match device.as_dispatch() {
        DispatchDevice::Flex(_) => true,
        DispatchDevice::Autodiff(inner) => matches!(**inner, DispatchDevice::Flex(_)),
        #[allow(unreachable_patterns)] // a flex-only build has no other device
        _ => false,
    };
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// A flex tensor's f32 values, copied only when it is not contiguous.
#[cfg(feature = "flex")]
fn f32_values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => values.into(),
        None => t
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("an f32 tensor")
            .into(),
    }
}

/// What a training step adds to a fused layer; the default adds nothing (inference).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Regularise {
    /// The backward adds `decay · w` to w's gradient: the gradient of an L2 penalty
    /// (decay/2)·‖w‖², in the pass that writes it.
    pub decay: f32,
    /// Each output element is dropped with this probability (the kept ones scaled
    /// by 1/(1 − p)), as `key` draws it: the same key, the same mask.
    pub dropout: f32,
    pub key: u64,
}

/// `act(x · W + b)` for a `Linear` layer with a bias: `[batch, in]` → `[batch, out]`,
/// regularised as [`linear`] says. Call only on a flex device ([`is_flex`]).
#[cfg(feature = "flex")]
pub fn linear_layer(
    x: Tensor<2>,
    layer: &Linear,
    act: KernelActivation,
    regularise: Regularise,
) -> Tensor<2> {
    let bias = layer.bias.as_ref().expect("our layers have biases").val();
    linear(x, layer.weight.val(), bias, act, regularise)
}

/// `act(x · w + b)`: x `[m, k]`, w `[k, n]`, b `[n]` → `[m, n]`, on a flex device,
/// with `regularise`'s dropout and L2 gradient.
#[cfg(feature = "flex")]
pub fn linear(
    x: Tensor<2>,
    w: Tensor<2>,
    b: Tensor<1>,
    act: KernelActivation,
    regularise: Regularise,
) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FusedLinear>::fused_linear(
        x.into_dispatch(),
        w.into_dispatch(),
        b.into_dispatch(),
        act.code(),
        regularise.decay,
        regularise.dropout,
        regularise.key,
    ))
}

/// Dropout's factors (0 or 1/(1 − p)) for a `[rows, cols]` output under `key`,
/// as the fused layer draws them: for tests against Burn's own ops.
pub fn dropout_factors(p: f32, key: u64, rows: usize, cols: usize) -> Vec<f32> {
    let mask = kernels::DropMask::new(p, key);
    (0..(rows * cols) as u32)
        .map(|index| mask.map_or(1.0, |mask| mask.factor(index)))
        .collect()
}

/// Mean softmax cross-entropy of logits `[m, c]` against class indices `[m]`, as
/// a `[1]` tensor, on a flex device.
#[cfg(feature = "flex")]
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as FusedCrossEntropy>::fused_cross_entropy(
        logits.into_dispatch(),
        targets.into_dispatch(),
    ))
}

/// The machine's large-gemm rate through the same split gemm, in GFLOP/s: a 2048³
/// product on both cores, best of five. The physical limit to set a step's product
/// rate beside, measured with this build's kernels (NumPy's BLAS may pick narrower ones).
pub fn large_gemm_gflops() -> f64 {
    const N: usize = 2048;
    let a = vec![0.5f32; N * N];
    let mut out = vec![0.0f32; N * N];
    let view = kernels::MatRef::dense(&a, N, N);
    let best = fastest_seconds(5, || kernels::matmul(&mut out, view, view));
    2.0 * (N * N * N) as f64 / best / 1e9
}

/// The shortest of `runs` timed calls of `work`: the time it takes undisturbed.
fn fastest_seconds(runs: usize, mut work: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let started = std::time::Instant::now();
            work();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The gemm floor of one training step of an MLP with `layer_sizes` at batch
/// `batch`: the time of its matrix products alone (forward x·W; backward xᵀ·dz,
/// and dz·Wᵀ for every layer but the first), each timed on its own through the
/// same split gemm the fused layer uses, best of several runs, summed.
pub fn step_gemm_floor_seconds(layer_sizes: &[usize], batch: usize) -> f64 {
    use kernels::{MatRef, matmul};
    let best = |lhs: (usize, usize, bool), rhs: (usize, usize, bool)| -> f64 {
        // (rows, cols, transposed view) of each operand as the product reads it.
        let operand = |(rows, cols, transposed): (usize, usize, bool)| {
            let data = vec![0.5f32; rows * cols];
            (data, rows, cols, transposed)
        };
        let (a, b) = (operand(lhs), operand(rhs));
        fn view((data, rows, cols, transposed): &(Vec<f32>, usize, usize, bool)) -> MatRef<'_> {
            if *transposed {
                MatRef::dense(data, *cols, *rows).t()
            } else {
                MatRef::dense(data, *rows, *cols)
            }
        }
        let mut out = vec![0.0f32; lhs.0 * rhs.1];
        fastest_seconds(30, || matmul(&mut out, view(&a), view(&b)))
    };
    layer_sizes
        .windows(2)
        .enumerate()
        .map(|(layer, pair)| {
            let (inputs, outputs) = (pair[0], pair[1]);
            let forward = best((batch, inputs, false), (inputs, outputs, false));
            let weight_grad = best((inputs, batch, true), (batch, outputs, false));
            let input_grad = if layer == 0 {
                0.0
            } else {
                best((batch, outputs, false), (outputs, inputs, true))
            };
            forward + weight_grad + input_grad
        })
        .sum()
}
