//! A digit from any picture: grayscale, inverted when the ink is darker than the
//! paper (photos of handwriting), scaled to 28×28 like MNIST, then classified.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use image::imageops::FilterType;
use image::{GrayImage, ImageReader, Limits};

use crate::data::{Digits, IMAGE_PIXELS, IMAGE_SIDE, MnistBatcher};
use crate::model::Mlp;

/// Pictures larger than this many pixels per side are refused before decoding.
const MAX_SIDE: u32 = 16_384;

/// Reads `path` into MNIST's form: 784 bytes, white digit on black.
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    let fix = "give a PNG, JPEG, GIF, BMP or WebP picture of one digit";
    let mut reader = ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let picture = reader
        .decode()
        .map_err(|err| anyhow!("{} is not a usable image ({err}): {fix}", path.display()))?;
    let gray = picture.to_luma8();
    let side = IMAGE_SIDE as u32;
    let mut small = image::imageops::resize(&gray, side, side, FilterType::Triangle);
    if border_mean(&small) > 127.0 {
        image::imageops::invert(&mut small);
    }
    Ok(small.into_raw())
}

/// Mean brightness of the outermost ring of pixels: the paper's colour.
fn border_mean(image: &GrayImage) -> f64 {
    let (w, h) = image.dimensions();
    let ring: Vec<f64> = image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, p)| f64::from(p.0[0]))
        .collect();
    ring.iter().sum::<f64>() / ring.len().max(1) as f64
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
        .chunks(crate::data::CLASSES)
        .map(<[f32]>::to_vec)
        .collect()
}
