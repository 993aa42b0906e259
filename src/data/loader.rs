//! Burn's `DataLoader` over one split, with each epoch's order a pure function of
//! the seed and the epoch number.
//!
//! Burn's own loader shuffles from one RNG stream that the Learner forks once at
//! its start (`to_device` calls `StdRng::fork`), so the order of epoch k depends on
//! how the stream was reached: a run resumed after epoch k−1 cannot replay it and
//! trains on other batches. Seeding each epoch by its number makes a resumed run
//! see exactly the batches of an unbroken one.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Augment, MnistBatch, MnistBatcher};

/// Keeps the distortions' streams apart from the shuffles' for the same seed.
const AUGMENT_SALT: u64 = 0xA06_3E47;
/// Keeps the dropout keys apart from both.
const DROPOUT_SALT: u64 = 0xD60_0C7E;

/// Batches of a split in a fixed order, or in an order reshuffled every epoch.
#[derive(Clone)]
pub struct MnistLoader {
    batcher: Arc<MnistBatcher>,
    /// The images this loader covers, by index into the split.
    images: Range<usize>,
    batch_size: usize,
    /// `Some(seed)`: epoch k's order is drawn from `(seed, k)` alone.
    shuffle_seed: Option<u64>,
    /// Distortions for training batches, drawn from `(seed, epoch, batch)` alone.
    augment: Option<(Augment, u64)>,
    /// `Some(seed)`: each batch's dropout key is drawn from `(seed, epoch, batch)` alone.
    dropout_seed: Option<u64>,
    /// The epoch the next `iter()` serves, counted from 0; shared by the copies
    /// the Learner makes with `to_device`.
    next_epoch: Arc<AtomicUsize>,
    device: Device,
}

impl MnistLoader {
    /// Serves every image of the batcher's split in order, as tensors on `device`.
    pub fn in_order(batcher: MnistBatcher, batch_size: usize, device: &Device) -> Self {
        let images = 0..batcher.len();
        Self {
            batcher: Arc::new(batcher),
            images,
            batch_size,
            shuffle_seed: None,
            augment: None,
            dropout_seed: None,
            next_epoch: Arc::new(AtomicUsize::new(0)),
            device: device.clone(),
        }
    }

    /// Reshuffles every epoch from `seed`; `first_epoch` completed epochs are
    /// skipped (a resumed run), so the next pass is epoch `first_epoch + 1`.
    pub fn shuffled(self, seed: u64, first_epoch: usize) -> Self {
        Self {
            shuffle_seed: Some(seed),
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            ..self
        }
    }

    /// Distorts every image it serves with `augment`, drawn from `seed`.
    pub fn augmented(self, augment: Augment, seed: u64) -> Self {
        Self {
            augment: Some((augment, seed)),
            ..self
        }
    }

    /// Gives each batch a key for its dropout masks, drawn from `seed`.
    pub fn with_dropout_keys(self, seed: u64) -> Self {
        Self {
            dropout_seed: Some(seed),
            ..self
        }
    }

    /// The image order of epoch `epoch` (from 0).
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = self.images.clone().collect();
        if let Some(seed) = self.shuffle_seed {
            order.shuffle(&mut StdRng::seed_from_u64(stream(seed, epoch as u64 + 1)));
        }
        order
    }
}

/// A distinct, well-mixed stream per `(seed, index)`: StdRng expands the u64 through PCG32.
fn stream(seed: u64, index: u64) -> u64 {
    seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl MnistLoader {}

impl DataLoader<MnistBatch> for MnistLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<MnistBatch> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        Box::new(EpochIterator {
            loader: self,
            epoch,
            order: self.order(epoch),
            served: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.images.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<MnistBatch>> {
        Arc::new(Self {
            device: device.clone(),
            ..self.clone()
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<MnistBatch>> {
        let first = self.images.start;
        Arc::new(Self {
            images: first + start..first + end.min(self.images.len()),
            ..self.clone()
        })
    }
}

/// One pass: consecutive `batch_size` runs of the epoch's order (the last may be short).
struct EpochIterator<'a> {
    loader: &'a MnistLoader,
    epoch: usize,
    order: Vec<usize>,
    served: usize,
}

impl Iterator for EpochIterator<'_> {
    type Item = Result<MnistBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.served >= self.order.len() {
            return None;
        }
        let end = (self.served + self.loader.batch_size).min(self.order.len());
        let (indices, device) = (&self.order[self.served..end], &self.loader.device);
        // Batch b of epoch e: stream (e·2³² + b) of each seed, whatever ran before.
        let batch_number = (self.served / self.loader.batch_size) as u64;
        let index = (self.epoch as u64) << 32 | batch_number;
        let mut batch = match &self.loader.augment {
            Some((augment, seed)) => {
                let draws = stream(seed ^ AUGMENT_SALT, index);
                let batcher = &self.loader.batcher;
                batcher.gather_distorted(indices, augment, draws, device)
            }
            None => self.loader.batcher.gather(indices, device),
        };
        if let Some(seed) = self.loader.dropout_seed {
            batch.dropout_key = stream(seed ^ DROPOUT_SALT, index);
        }
        self.served = end;
        Some(Ok(batch))
    }
}

impl DataLoaderIterator<MnistBatch> for EpochIterator<'_> {
    fn progress(&self) -> Progress {
        Progress::new(self.served, self.order.len(), Some("items".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Digits;

    fn loader(images: usize, batch_size: usize) -> MnistLoader {
        let split = Digits {
            images: vec![0u8; images * crate::mnist::IMAGE_PIXELS].into(),
            labels: (0..images)
                .map(|i| (i % 10) as u8)
                .collect::<Vec<_>>()
                .into(),
        };
        let device = crate::backend::BackendKind::default_compiled().device();
        MnistLoader::in_order(MnistBatcher::new(split), batch_size, &device)
    }

    #[test]
    fn each_epoch_is_a_permutation_that_depends_only_on_seed_and_epoch() {
        let unbroken = loader(50, 8).shuffled(7, 0);
        let resumed = loader(50, 8).shuffled(7, 2);
        let orders: Vec<Vec<usize>> = (0..4).map(|e| unbroken.order(e)).collect();
        for order in &orders {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        }
        assert_ne!(orders[0], orders[1], "epochs must be reshuffled");
        assert_ne!(orders[0], loader(50, 8).shuffled(8, 0).order(0));
        // The loader resumed after two epochs serves epoch 3's order first.
        assert_eq!(resumed.next_epoch.load(Ordering::SeqCst), 2);
        assert_eq!(resumed.order(2), orders[2]);
    }

    #[test]
    fn iterating_advances_the_epoch_shared_with_device_copies() {
        let original = loader(20, 6).shuffled(3, 0);
        let copy = original.to_device(&original.device.clone().autodiff());
        let sizes: Vec<usize> = copy
            .iter()
            .map(|batch| batch.unwrap().targets.dims()[0])
            .collect();
        assert_eq!(sizes, [6, 6, 6, 2]);
        assert_eq!(original.next_epoch.load(Ordering::SeqCst), 1);
        let labels = |loader: &dyn DataLoader<MnistBatch>| -> Vec<i64> {
            loader
                .iter()
                .flat_map(|b| {
                    b.unwrap()
                        .targets
                        .into_data()
                        .convert::<i64>()
                        .try_to_vec::<i64>()
                        .unwrap()
                })
                .collect()
        };
        let expected: Vec<i64> = original.order(1).iter().map(|&i| (i % 10) as i64).collect();
        assert_eq!(labels(copy.as_ref()), expected);
    }

    #[test]
    fn in_order_and_sliced_loaders_cover_their_range() {
        let whole = loader(10, 4);
        assert_eq!(whole.order(5), (0..10).collect::<Vec<_>>());
        let part = whole.slice(3, 8);
        assert_eq!(part.num_items(), 5);
        let served: usize = part.iter().map(|b| b.unwrap().targets.dims()[0]).sum();
        assert_eq!(served, 5);
    }
}
