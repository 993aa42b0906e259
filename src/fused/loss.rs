//! Softmax cross-entropy as one Burn backend extension op on flex: the mean loss
//! forward, and `(softmax − one-hot) / batch` backward, each in one pass over the
//! logits. Burn's `CrossEntropyLoss` is about a dozen small ops (log-softmax,
//! gather, mean, their autodiff nodes and buffers): 2-3 % of a training step.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Flex, backend_extension};
use burn::tensor::TensorData;

use super::f32_values;

#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait FusedCrossEntropy: burn::backend::Backend {
    /// Mean softmax cross-entropy: logits `[m, c]`, targets `[m]` class indices → `[1]`.
    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Row-wise softmax of `logits` (`[m, c]`) and the mean of −log softmax[target].
fn softmax_and_loss(logits: &[f32], targets: &[usize], classes: usize) -> (Vec<f32>, f32) {
    let mut probabilities = Vec::with_capacity(logits.len());
    let mut loss_sum = 0.0f32;
    for (row, &target) in logits.chunks_exact(classes).zip(targets) {
        assert!(target < classes, "class index {target} of {classes}");
        // Shifted by the row's maximum so that exp cannot overflow.
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
        let log_sum = sum.ln();
        loss_sum += log_sum - (row[target] - max);
        probabilities.extend(row.iter().map(|&v| (v - max - log_sum).exp()));
    }
    (probabilities, loss_sum / targets.len() as f32)
}

fn class_indices(targets: FlexTensor) -> Vec<usize> {
    targets
        .into_data()
        .iter::<i64>()
        .map(|class| usize::try_from(class).expect("a non-negative class index"))
        .collect()
}

/// The forward pass: (softmax, shape, targets) for the backward, and the loss tensor.
fn forward(
    logits: &FlexTensor,
    targets: FlexTensor,
) -> (Vec<f32>, [usize; 2], Vec<usize>, FlexTensor) {
    let shape = logits.layout().shape();
    assert_eq!(shape.num_dims(), 2, "logits [batch, classes]");
    let (rows, classes) = (shape[0], shape[1]);
    let targets = class_indices(targets);
    assert_eq!(targets.len(), rows, "one target per row of logits");
    let (probabilities, loss) = softmax_and_loss(&f32_values(logits), &targets, classes);
    let loss = FlexTensor::from_data(TensorData::new(vec![loss], [1]));
    (probabilities, [rows, classes], targets, loss)
}

#[cfg(feature = "flex")]
impl FusedCrossEntropy for Flex {
    fn fused_cross_entropy(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        forward(&logits, targets).3
    }
}

#[cfg(feature = "flex")]
impl<C: CheckpointStrategy> FusedCrossEntropy for Autodiff<Flex, C> {
    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct CrossEntropyBackward;

        impl Backward<Flex, 1> for CrossEntropyBackward {
            /// The softmax `[m, c]` (row-major), its shape and the target classes.
            type State = (Vec<f32>, [usize; 2], Vec<usize>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_logits] = ops.parents;
                let grad = grads.consume::<Flex>(&ops.node);
                let Some(node) = node_logits else { return };
                let (mut gradient, [rows, classes], targets) = ops.state;
                // d(mean loss)/d logits = (softmax − one-hot) / m, times the loss's gradient.
                let scale = f32_values(&grad)[0] / rows as f32;
                for (row, &target) in gradient.chunks_exact_mut(classes).zip(&targets) {
                    row[target] -= 1.0;
                    row.iter_mut().for_each(|g| *g *= scale);
                }
                let gradient = FlexTensor::from_data(TensorData::new(gradient, [rows, classes]));
                grads.register::<Flex>(node.id, gradient);
            }
        }

        match CrossEntropyBackward
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (probabilities, shape, targets, loss) = forward(logits.primitive(), targets);
                prep.finish((probabilities, shape, targets), loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(logits.primitive(), targets).3),
        }
    }
}
