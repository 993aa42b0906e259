//! `mnist-mlp predict`: the digit in pictures or test images, with all ten
//! probabilities, and with `--explain` which pixels decided it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::prelude::Device;
use clap::Args;
use mnist_mlp::data::picture::load_digit;
use mnist_mlp::eval::{probabilities, saliency};
use mnist_mlp::fsutil;
use mnist_mlp::model::Mlp;
use mnist_mlp::report::heatmaps::explanation;

use super::model_args::ModelArgs;

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Picture files.
    #[arg(value_parser = super::user_path)]
    images: Vec<PathBuf>,
    /// Predict MNIST test image N instead of (or as well as) pictures.
    #[arg(long)]
    index: Option<usize>,
    /// Also write, into folder DIR, each input beside its saliency map (the gradient
    /// of the predicted digit's probability with respect to every pixel) and input × gradient.
    #[arg(long, value_name = "DIR", value_parser = super::user_path)]
    explain: Option<PathBuf>,
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if args.images.is_empty() && args.index.is_none() {
        bail!("nothing to predict: give picture files or --index N (a test image)");
    }
    let (saved, device) = args.model.load()?;
    let mut names = Vec::new();
    let mut digits = Vec::new();
    let mut stems = Vec::new();
    for path in &args.images {
        digits.push(load_digit(path)?);
        names.push(path.display().to_string());
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        stems.push(stem.unwrap_or_else(|| "picture".into()));
    }
    if let Some(index) = args.index {
        let test = args.model.test_data(&saved)?;
        if index >= test.len() {
            bail!(
                "--index {index} is out of range: the test set has {} images (0..{})",
                test.len(),
                test.len() - 1
            );
        }
        digits.push(test.image(index).to_vec());
        names.push(format!("test image {index} (label {})", test.labels[index]));
        stems.push(format!("test-{index}"));
    }
    // The pictures' folder and files are checked before anything is printed, so a refusal
    // does not follow a screen of predictions.
    let explained = match &args.explain {
        Some(folder) => Some(saliency_outputs(folder, &stems)?),
        None => None,
    };
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
    if let Some(paths) = explained {
        explain(&saved.model, &digits, &names, &paths, &device)?;
    }
    Ok(())
}

/// `<folder>/<stem>.saliency.png` for each stem; two pictures of one name in
/// different folders get files of their own.
fn saliency_paths(folder: &Path, stems: &[String]) -> Vec<PathBuf> {
    let mut taken = HashSet::new();
    stems
        .iter()
        .map(|stem| {
            let file = (1..)
                .map(|n| match n {
                    1 => format!("{stem}.saliency.png"),
                    _ => format!("{stem}-{n}.saliency.png"),
                })
                .find(|file| taken.insert(file.clone()))
                .expect("a free name");
            folder.join(file)
        })
        .collect()
}

/// The saliency maps' paths in `folder`, made if missing, each checked to be a new
/// file or an earlier PNG before any is written.
fn saliency_outputs(folder: &Path, stems: &[String]) -> Result<Vec<PathBuf>> {
    if folder.exists() && !folder.is_dir() {
        bail!(
            "--explain {} is a file: name a folder for the pictures (it is made if missing)",
            folder.display()
        );
    }
    fsutil::create_folder(
        folder,
        "the --explain folder",
        "choose another --explain folder",
    )?;
    let paths = saliency_paths(folder, stems);
    for path in &paths {
        fsutil::check_output(path, "png")?;
    }
    Ok(paths)
}

/// Writes each digit's saliency map to its path, and names each file written.
fn explain(
    model: &Mlp,
    digits: &[Vec<u8>],
    names: &[String],
    paths: &[PathBuf],
    device: &Device,
) -> Result<()> {
    for (((digit, saliency), name), path) in digits
        .iter()
        .zip(saliency(model, digits, device))
        .zip(names)
        .zip(paths)
    {
        let title = format!(
            "{name}: {} (probability {:.4})",
            saliency.digit, saliency.probability
        );
        explanation(path, &title, digit, &saliency)?;
        println!("explained {name}: {}", path.display());
    }
    Ok(())
}
