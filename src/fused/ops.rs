//! The fused linear layer as a Burn backend extension: forward and backward
//! each in one op on the flex backend, with autodiff through a hand-written
//! `Backward`. Other backends never reach it (see [`super::linear`]).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, backend_extension};
use burn::tensor::TensorData;

use super::f32_values;
use super::kernels::{
    Backward as LayerBackward, DropMask, KernelActivation, MatRef, WeightDecay, linear_backward,
    linear_forward,
};

#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait FusedLinear: burn::backend::Backend {
    /// `act(x · w + b)`: x `[m, k]`, w `[k, n]`, b `[n]`; `act` is an [`KernelActivation`] code;
    /// then each element dropped with probability `dropout` as `key` draws it
    /// ([`DropMask`]). Its backward adds `decay · w` to dW: the gradient of an L2
    /// penalty (decay/2)·‖w‖² the caller leaves out of its loss.
    fn fused_linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: u8,
        decay: f32,
        dropout: f32,
        key: u64,
    ) -> FloatTensor<Self>;
}

/// A 2-d flex tensor as a matrix view, whatever its strides.
fn mat(t: &FlexTensor) -> MatRef<'_> {
    let layout = t.layout();
    let (shape, strides) = (layout.shape(), layout.strides());
    assert_eq!(shape.num_dims(), 2, "a matrix");
    MatRef {
        data: t.storage::<f32>(),
        offset: layout.start_offset(),
        rows: shape[0],
        cols: shape[1],
        row_stride: strides[0],
        col_stride: strides[1],
    }
}

fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: &FlexTensor,
    act: u8,
    dropout: Option<DropMask>,
) -> FlexTensor {
    let (x, w) = (mat(x), mat(w));
    let out = linear_forward(
        x,
        w,
        &f32_values(b),
        KernelActivation::from_code(act),
        dropout,
    );
    tensor(out, &[x.rows, w.cols])
}

#[cfg(feature = "flex")]
impl FusedLinear for Flex {
    fn fused_linear(
        x: FlexTensor,
        w: FlexTensor,
        b: FlexTensor,
        act: u8,
        _decay: f32,
        dropout: f32,
        key: u64,
    ) -> FlexTensor {
        forward(&x, &w, &b, act, DropMask::new(dropout, key))
    }
}

/// The fused layer's backward: dX, dW (with the L2 gradient) and db in one op.
#[derive(Debug)]
struct FusedLinearBackward;

/// What the forward keeps for the backward.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexTensor,
    w: FlexTensor,
    /// The layer's output, from which the activation's derivative is taken.
    out: FlexTensor,
    act: u8,
    decay: f32,
    dropout: Option<DropMask>,
}

impl Backward<Flex, 3> for FusedLinearBackward {
    type State = Saved;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Saved {
            x,
            w,
            out,
            act,
            decay,
            dropout,
        } = ops.state;
        let (xm, wm) = (mat(&x), mat(&w));
        let (m, k, n) = (xm.rows, xm.cols, wm.cols);
        let grad = grad
            .into_data()
            .try_into_vec::<f32>()
            .expect("an f32 gradient");
        let out = out.as_slice::<f32>().expect("our contiguous output");
        let w_values = (decay != 0.0).then(|| f32_values(&w));
        let backward = LayerBackward {
            act: KernelActivation::from_code(act),
            dropout,
            want_dx: node_x.is_some(),
            decay: w_values.as_deref().map(|w| WeightDecay { w, decay }),
        };
        let (dx, dw, db) = linear_backward(xm, wm, out, grad, backward);
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, &[m, k]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, tensor(dw, &[k, n]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(db, &[n]));
        }
    }
}

#[cfg(feature = "flex")]
impl<C: CheckpointStrategy> FusedLinear for Autodiff<Flex, C> {
    fn fused_linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: u8,
        decay: f32,
        dropout: f32,
        key: u64,
    ) -> FloatTensor<Self> {
        let dropout = DropMask::new(dropout, key);
        match FusedLinearBackward
            .prepare::<C>([x.node(), w.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, wp) = (x.primitive().clone(), w.primitive().clone());
                let out = forward(&xp, &wp, b.primitive(), act, dropout);
                let saved = Saved {
                    x: xp,
                    w: wp,
                    out: out.clone(),
                    act,
                    decay,
                    dropout,
                };
                prep.finish(saved, out)
            }
            OpsKind::UnTracked(prep) => {
                let (x, w, b) = (x.primitive(), w.primitive(), b.primitive());
                prep.finish(forward(x, w, b, act, dropout))
            }
        }
    }
}
