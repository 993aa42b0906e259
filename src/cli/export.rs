//! `mnist-mlp export`: a saved model as ONNX, for onnxruntime and every tool that reads it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mnist_mlp::model::layers_text;
use mnist_mlp::weights::onnx::{INPUT, OUTPUT, save_onnx};

use super::model_args::ModelArgs;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The ONNX file to write.
    #[arg(long, value_name = "FILE")]
    onnx: PathBuf,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    let (saved, _) = args.model.load()?;
    let metadata = [
        ("source".to_string(), saved.path.display().to_string()),
        ("activation".to_string(), saved.activation.to_string()),
        ("layers".to_string(), layers_text(&saved.layer_sizes)),
        (
            INPUT.to_string(),
            "[batch, 784]: the 28×28 pixels row by row, scaled to [0, 1] (byte / 255)".to_string(),
        ),
        (
            OUTPUT.to_string(),
            "[batch, 10]: one logit per digit; softmax gives the probabilities".to_string(),
        ),
    ];
    save_onnx(&saved.model, &args.onnx, &metadata)?;
    println!(
        "wrote {} ({}, {}): input `{INPUT}` [batch, 784] in [0, 1], output `{OUTPUT}` [batch, 10]",
        args.onnx.display(),
        layers_text(&saved.layer_sizes),
        saved.activation
    );
    Ok(())
}
