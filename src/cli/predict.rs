//! `mnist-mlp predict`: the digit in pictures or test images, with all ten probabilities.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use mnist_mlp::data::picture::load_digit;
use mnist_mlp::eval::probabilities;

use super::model_args::ModelArgs;

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Picture files.
    images: Vec<PathBuf>,
    /// Predict MNIST test image N instead of (or as well as) pictures.
    #[arg(long)]
    index: Option<usize>,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if args.images.is_empty() && args.index.is_none() {
        bail!("nothing to predict: give picture files or --index N (a test image)");
    }
    let (saved, device) = args.model.load()?;
    let mut names = Vec::new();
    let mut digits = Vec::new();
    for path in &args.images {
        digits.push(load_digit(path)?);
        names.push(path.display().to_string());
    }
    if let Some(index) = args.index {
        let test = args.model.data(&saved)?.test;
        if index >= test.len() {
            bail!(
                "--index {index} is out of range: the test set has {} images (0..{})",
                test.len(),
                test.len() - 1
            );
        }
        digits.push(test.image(index).to_vec());
        names.push(format!("test image {index} (label {})", test.labels[index]));
    }
    for (name, probs) in names
        .iter()
        .zip(probabilities(&saved.model, &digits, &device))
    {
        let (digit, p) = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("ten classes");
        println!("{name}: {digit} (probability {p:.4})");
        let all: Vec<String> = probs
            .iter()
            .enumerate()
            .map(|(d, p)| format!("{d}: {p:.4}"))
            .collect();
        println!("  {}", all.join("  "));
    }
    Ok(())
}
