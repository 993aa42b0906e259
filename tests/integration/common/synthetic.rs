//! Small IDX datasets for tests that run the real binary: learnable in a few steps,
//! written in MNIST's file names, and not MNIST (so configs set `verify = false`).

use std::path::Path;

use mnist_mlp::data::idx::{IdxImages, encode_images, encode_labels};

/// Digit `label` drawn as a bright 4×4 block at a label-specific place: learnable in a few steps.
pub fn synthetic(count: usize, offset: usize) -> (IdxImages, Vec<u8>) {
    let labels: Vec<u8> = (0..count).map(|i| ((i + offset) % 10) as u8).collect();
    let mut pixels = vec![0u8; count * 784];
    for (i, &label) in labels.iter().enumerate() {
        let (row, col) = (4 + 2 * label as usize, 4 + (label as usize % 5) * 4);
        for r in row..row + 4 {
            for c in col..col + 4 {
                pixels[i * 784 + r * 28 + c] = 255;
            }
        }
    }
    let images = IdxImages {
        count,
        rows: 28,
        cols: 28,
        pixels: pixels.into(),
    };
    (images, labels)
}

/// Writes the four MNIST files into `dir`: `train` training and `test` test images.
pub fn write_dataset(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, count, offset) in [("train", train, 0), ("t10k", test, 3)] {
        let (images, labels) = synthetic(count, offset);
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            encode_images(&images),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            encode_labels(&labels),
        )
        .unwrap();
    }
}
