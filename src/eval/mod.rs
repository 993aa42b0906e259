//! Whole-split evaluation outside the Learner: predictions for every image, the
//! mean loss and the accuracy, in large batches on the inference device.

pub mod classification;

pub use classification::{ClassificationReport, ConfusionMatrix};

use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::data::{Digits, MnistBatcher};
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
    let batcher = MnistBatcher::new(split.clone());
    let indices: Vec<usize> = (0..split.len()).collect();
    let mut predictions = Vec::with_capacity(split.len());
    let mut loss_sum = 0.0;
    for chunk in indices.chunks(EVAL_BATCH) {
        let batch = batcher.gather(chunk, device);
        let logits = model.forward(batch.images); // [batch, 10]
        let loss = cross_entropy(logits.clone(), batch.targets).into_scalar::<f64>();
        loss_sum += loss * chunk.len() as f64;
        let predicted = logits.argmax(1).flatten::<1>(0, 1); // [batch]
        predictions.extend(
            predicted
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
    let pixels: Vec<u8> = digits.concat();
    let labels = vec![0u8; digits.len()];
    debug_assert_eq!(pixels.len(), digits.len() * IMAGE_PIXELS);
    let split = Digits {
        images: pixels.into(),
        labels: labels.into(),
    };
    let indices: Vec<usize> = (0..digits.len()).collect();
    let batch = MnistBatcher::new(split).gather(&indices, device);
    let probs = softmax(model.forward(batch.images), 1); // [n, 10]
    probs
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float probabilities")
        .chunks(CLASSES)
        .map(<[f32]>::to_vec)
        .collect()
}
