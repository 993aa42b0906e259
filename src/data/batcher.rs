//! The Burn side of the data: a `Dataset` of image indices and a `Batcher` that
//! gathers those images from the shared `u8` buffer into one `f32` tensor.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::prelude::*;

use super::{IMAGE_PIXELS, Split};

/// Index of one image in its split; the pixels stay in the split's shared buffer.
pub type MnistItem = usize;

/// A split seen as a Burn dataset of indices, so that shuffling moves 8-byte
/// indices rather than 784-byte images.
#[derive(Debug, Clone)]
pub struct SplitDataset {
    len: usize,
}

impl SplitDataset {
    pub fn new(split: &Split) -> Self {
        Self { len: split.len() }
    }
}

impl Dataset<MnistItem> for SplitDataset {
    fn get(&self, index: usize) -> Result<MnistItem, DatasetError> {
        if index < self.len {
            Ok(index)
        } else {
            Err(DatasetError::new(std::io::Error::other(format!(
                "image {index} is past the end of a split of {}",
                self.len
            ))))
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

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
    split: Split,
}

impl MnistBatcher {
    pub fn new(split: Split) -> Self {
        Self { split }
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

impl Batcher<MnistItem, MnistBatch> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        self.gather(&items, device)
    }
}
