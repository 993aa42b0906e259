//! Batches as tensors: images gathered by index from a split's shared `u8`
//! buffer into one `f32` tensor (distorted, for augmented training), with their labels.

use burn::prelude::*;

use super::{Augment, Digits};
use crate::cores;
use crate::mnist::IMAGE_PIXELS;

#[derive(Debug, Clone)]
pub struct MnistBatch {
    /// Pixels scaled to [0, 1]: `[batch, 784]`.
    pub images: Tensor<2>,
    /// Class indices: `[batch]`.
    pub targets: Tensor<1, Int>,
    /// Draws the batch's dropout masks on flex: from (seed, epoch, batch) for training
    /// batches, so a resumed run draws the masks an unbroken one drew; 0 otherwise.
    pub dropout_key: u64,
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

    /// Gathers the images and labels at `indices` into tensors on `device`. Both
    /// cores convert half of the images each.
    pub fn gather(&self, indices: &[usize], device: &Device) -> MnistBatch {
        let pixels = self.convert(indices, |_, image, row| {
            for (scaled, &pixel) in row.iter_mut().zip(image) {
                *scaled = f32::from(pixel) / 255.0;
            }
        });
        self.batch(pixels, indices, device)
    }

    /// As [`Self::gather`], each image distorted by `augment` as the batch's stream from
    /// `seed` draws it; each core draws and warps its own images.
    pub fn gather_distorted(
        &self,
        indices: &[usize],
        augment: &Augment,
        seed: u64,
        device: &Device,
    ) -> MnistBatch {
        let pixels = self.convert(indices, |position, image, row| {
            augment.draw_at(seed, position).apply(image, row)
        });
        self.batch(pixels, indices, device)
    }

    /// The images at `indices` as `[indices.len(), 784]` values, each row written by
    /// `write(its position in the batch, the image, the row)`; each core takes half.
    fn convert(
        &self,
        indices: &[usize],
        write: impl Fn(usize, &[u8], &mut [f32]) + Sync,
    ) -> Vec<f32> {
        let mut pixels = vec![0f32; indices.len() * IMAGE_PIXELS];
        let mid = indices.len() / 2 * IMAGE_PIXELS;
        cores::split_mut(&mut pixels, mid, |start, rows| {
            let first = start / IMAGE_PIXELS;
            let indices = &indices[first..][..rows.len() / IMAGE_PIXELS];
            self.warm_cache(indices);
            let rows = rows.chunks_exact_mut(IMAGE_PIXELS);
            for (position, (&index, row)) in indices.iter().zip(rows).enumerate() {
                write(first + position, self.split.image(index), row);
            }
        });
        pixels
    }

    /// Reads one byte of every cache line of the batch's images, all loads independent, so
    /// the CPU fetches the scattered images from memory in parallel. Converting them one by
    /// one waited on each image's first cache misses in turn: 6 % of a training step.
    fn warm_cache(&self, indices: &[usize]) {
        const CACHE_LINE: usize = 64;
        let mut touched = 0u8;
        for &index in indices {
            for &byte in self.split.image(index).iter().step_by(CACHE_LINE) {
                touched ^= byte;
            }
        }
        std::hint::black_box(touched);
    }

    /// The batch of `pixels` (`[indices.len(), 784]`) with the labels at `indices`.
    fn batch(&self, pixels: Vec<f32>, indices: &[usize], device: &Device) -> MnistBatch {
        let labels: Vec<i64> = indices
            .iter()
            .map(|&i| i64::from(self.split.labels[i]))
            .collect();
        MnistBatch {
            images: Tensor::from_data(
                TensorData::new(pixels, [indices.len(), IMAGE_PIXELS]),
                device,
            ),
            targets: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
            dropout_key: 0,
        }
    }
}
