//! Batches as tensors: images gathered by index from a split's shared `u8`
//! buffer into one `f32` tensor, with their labels.

use burn::prelude::*;

use super::{Digits, IMAGE_PIXELS};

#[derive(Debug, Clone)]
pub struct MnistBatch {
    /// Pixels scaled to [0, 1]: `[batch, 784]`.
    pub images: Tensor<2>,
    /// Class indices: `[batch]`.
    pub targets: Tensor<1, Int>,
}

/// Builds batches from one split.
#[derive(Debug, Clone)]
pub struct MnistBatcher {
    split: Digits,
}

impl MnistBatcher {
    pub fn new(split: Digits) -> Self {
        Self { split }
    }

    /// Images in the split.
    pub fn len(&self) -> usize {
        self.split.len()
    }

    pub fn is_empty(&self) -> bool {
        self.split.is_empty()
    }

    /// Gathers the images and labels at `indices` into tensors on `device`.
    pub fn gather(&self, indices: &[usize], device: &Device) -> MnistBatch {
        let batch = indices.len();
        let mut pixels = Vec::with_capacity(batch * IMAGE_PIXELS);
        for &index in indices {
            pixels.extend(
                self.split
                    .image(index)
                    .iter()
                    .map(|&p| f32::from(p) / 255.0),
            );
        }
        let labels: Vec<i64> = indices
            .iter()
            .map(|&i| i64::from(self.split.labels[i]))
            .collect();
        MnistBatch {
            images: Tensor::from_data(TensorData::new(pixels, [batch, IMAGE_PIXELS]), device),
            targets: Tensor::from_data(TensorData::new(labels, [batch]), device),
        }
    }
}
