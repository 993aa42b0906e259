//! Whole-split evaluation outside the Learner: predictions for every image, the
//! mean loss and the accuracy, in large batches on the inference device.

pub mod classification;
mod saliency;

pub use classification::{ClassificationReport, ConfusionMatrix};
pub use saliency::{Saliency, saliency};

use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::data::{Digits, MnistBatch, MnistBatcher};
use crate::mnist::{CLASSES, IMAGE_PIXELS};
use crate::model::{Mlp, cross_entropy};

/// Images per forward pass when evaluating; a divisor of both split sizes so
/// every batch has the same shape (GPU backends compile one kernel per shape).
pub const EVAL_BATCH: usize = 1000;

#[derive(Debug, Clone)]
pub struct Evaluation {
    pub predictions: Vec<u8>,
    pub labels: Vec<u8>,
    /// Mean softmax cross-entropy.
    pub loss: f64,
    /// Percent correct.
    pub accuracy: f64,
}

/// Runs `model` over every image of `split`.
pub fn evaluate(model: &Mlp, split: &Digits, device: &Device) -> Evaluation {
    score(split, device, |images, targets| {
        let logits = model.forward(images); // [batch, 10]
        let loss = cross_entropy(logits.clone(), targets).into_scalar::<f64>();
        (loss, logits.argmax(1))
    })
}

/// A committee scored as one model: the members' class probabilities averaged per
/// image, as Ciresan et al. (2012) combine their MLPs; the loss is the mean negative
/// log of the averaged probability of the true digit.
pub fn evaluate_committee(members: &[&Mlp], split: &Digits, device: &Device) -> Evaluation {
    assert!(!members.is_empty(), "a committee has members");
    score(split, device, |images, targets| {
        let rows = targets.dims()[0];
        let summed = members
            .iter()
            .map(|member| softmax(member.forward(images.clone()), 1)) // [batch, 10]
            .reduce(|sum, probs| sum + probs)
            .expect("at least one member");
        let mean = summed.div_scalar(members.len() as f64); // [batch, 10]
        let of_truth = mean.clone().gather(1, targets.reshape([rows, 1])); // [batch, 1]
        let loss = of_truth
            .clamp_min(1e-12)
            .log()
            .neg()
            .mean()
            .into_scalar::<f64>();
        (loss, mean.argmax(1))
    })
}

/// Scores `split` in batches of [`EVAL_BATCH`]: `batch_score` gives a batch's mean loss
/// and its `[batch, 1]` predicted classes.
fn score(
    split: &Digits,
    device: &Device,
    batch_score: impl Fn(Tensor<2>, Tensor<1, Int>) -> (f64, Tensor<2, Int>),
) -> Evaluation {
    let batcher = MnistBatcher::new(split.clone());
    let indices: Vec<usize> = (0..split.len()).collect();
    let mut predictions = Vec::with_capacity(split.len());
    let mut loss_sum = 0.0;
    for chunk in indices.chunks(EVAL_BATCH) {
        let batch = batcher.gather(chunk, device);
        let (loss, predicted) = batch_score(batch.images, batch.targets);
        loss_sum += loss * chunk.len() as f64;
        predictions.extend(
            predicted
                .flatten::<1>(0, 1) // [batch]
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .expect("argmax yields integers")
                .into_iter()
                .map(|class| class as u8),
        );
    }
    let labels = split.labels.to_vec();
    let correct = predictions
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    Evaluation {
        loss: loss_sum / split.len() as f64,
        accuracy: 100.0 * correct as f64 / split.len() as f64,
        predictions,
        labels,
    }
}

/// Class probabilities for each 784-byte digit.
pub fn probabilities(model: &Mlp, digits: &[Vec<u8>], device: &Device) -> Vec<Vec<f32>> {
    let probs = softmax(model.forward(digits_batch(digits, device).images), 1); // [n, 10]
    probs
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float probabilities")
        .chunks(CLASSES)
        .map(<[f32]>::to_vec)
        .collect()
}

/// Unlabelled 784-byte digits as one batch (labels 0).
fn digits_batch(digits: &[Vec<u8>], device: &Device) -> MnistBatch {
    let pixels: Vec<u8> = digits.concat();
    debug_assert_eq!(pixels.len(), digits.len() * IMAGE_PIXELS);
    let split = Digits {
        images: pixels.into(),
        labels: vec![0u8; digits.len()].into(),
    };
    let indices: Vec<usize> = (0..digits.len()).collect();
    MnistBatcher::new(split).gather(&indices, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;
    use crate::config::{Activation, InitKind};
    use crate::model::MlpSpec;

    fn digits(count: usize) -> Digits {
        let images: Vec<u8> = (0..count * IMAGE_PIXELS)
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        let labels: Vec<u8> = (0..count).map(|i| (i % CLASSES) as u8).collect();
        Digits {
            images: images.into(),
            labels: labels.into(),
        }
    }

    /// A small tanh model (the saliency tests use it too).
    pub(super) fn model(seed: u64, device: &Device) -> Mlp {
        let spec = MlpSpec {
            layer_sizes: vec![IMAGE_PIXELS, 16, CLASSES],
            activation: Activation::Tanh,
            init: InitKind::XavierUniform,
            dropout: 0.0,
            l2: 0.0,
        };
        spec.init(seed, device)
    }

    #[test]
    fn a_committee_of_one_predicts_as_its_member_and_copies_change_nothing() {
        let device = BackendKind::default_compiled().device();
        let (split, member) = (digits(30), model(3, &device));
        let alone = evaluate(&member, &split, &device);
        for committee in [vec![&member], vec![&member, &member, &member]] {
            let together = evaluate_committee(&committee, &split, &device);
            assert_eq!(together.predictions, alone.predictions);
            assert_eq!(together.accuracy, alone.accuracy);
            assert!(
                (together.loss - alone.loss).abs() < 1e-5,
                "{together:?} vs {alone:?}"
            );
        }
    }

    #[test]
    fn a_committee_averages_its_members_probabilities() {
        let device = BackendKind::default_compiled().device();
        let split = digits(20);
        let members = [model(1, &device), model(2, &device)];
        let digits: Vec<Vec<u8>> = (0..split.len()).map(|i| split.image(i).to_vec()).collect();
        let [first, second] = members
            .each_ref()
            .map(|m| probabilities(m, &digits, &device));
        let committee = evaluate_committee(&[&members[0], &members[1]], &split, &device);
        let mut loss = 0.0;
        for (i, (a, b)) in first.iter().zip(&second).enumerate() {
            let mean: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect();
            let best = (0..CLASSES)
                .max_by(|&p, &q| mean[p].total_cmp(&mean[q]))
                .unwrap();
            assert_eq!(committee.predictions[i] as usize, best, "image {i}");
            loss -= f64::from(mean[split.labels[i] as usize]).ln();
        }
        let expected = loss / split.len() as f64;
        assert!(
            (committee.loss - expected).abs() < 1e-5,
            "{} vs {expected}",
            committee.loss
        );
    }
}
