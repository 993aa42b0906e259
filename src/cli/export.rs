//! `mnist-mlp export`: a saved model, or a committee, as ONNX, for onnxruntime and every
//! tool that reads it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mnist_mlp::fsutil;
use mnist_mlp::model::layers_text;
use mnist_mlp::weights::load::SavedModel;
use mnist_mlp::weights::onnx::{INPUT, OUTPUT, save_onnx};

use super::model_args::CommitteeArgs;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    models: CommitteeArgs,
    /// The ONNX file to write.
    #[arg(long, value_name = "FILE", value_parser = super::user_path)]
    onnx: PathBuf,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    fsutil::check_output(&args.onnx, "onnx")?;
    let (members, _) = args.models.load("export")?;
    // One entry per member, joined with "; " for a committee.
    let each = |field: &dyn Fn(&SavedModel) -> String| -> String {
        members.iter().map(field).collect::<Vec<_>>().join("; ")
    };
    let output = match members.len() {
        1 => "[batch, 10]: one logit per digit; softmax gives the probabilities".to_string(),
        n => format!(
            "[batch, 10]: the log of the {n} members' mean probabilities; softmax gives that mean"
        ),
    };
    let metadata = [
        (
            "source".to_string(),
            each(&|m| m.path.display().to_string()),
        ),
        (
            "activation".to_string(),
            each(&|m| m.activation.to_string()),
        ),
        ("layers".to_string(), each(&|m| layers_text(&m.layer_sizes))),
        (
            INPUT.to_string(),
            "[batch, 784]: the 28×28 pixels row by row, scaled to [0, 1] (byte / 255)".to_string(),
        ),
        (OUTPUT.to_string(), output),
    ];
    let models: Vec<_> = members.iter().map(|member| &member.model).collect();
    save_onnx(&models, &args.onnx, &metadata)?;
    println!(
        "wrote {} ({}): input `{INPUT}` [batch, 784] in [0, 1], output `{OUTPUT}` [batch, 10]",
        args.onnx.display(),
        shapes(&members)
    );
    Ok(())
}

/// The model's shape, or a committee's shapes each once with its count, so that a
/// committee of eight reads `a committee of 8: 6 × 784 → … , relu; 2 × …`.
fn shapes(members: &[SavedModel]) -> String {
    let shape = |m: &SavedModel| format!("{}, {}", layers_text(&m.layer_sizes), m.activation);
    if let [only] = members {
        return shape(only);
    }
    let mut counted: Vec<(String, usize)> = Vec::new();
    for member in members {
        let shape = shape(member);
        match counted.iter_mut().find(|(seen, _)| *seen == shape) {
            Some((_, count)) => *count += 1,
            None => counted.push((shape, 1)),
        }
    }
    let groups: Vec<String> = counted
        .iter()
        .map(|(shape, count)| format!("{count} × {shape}"))
        .collect();
    format!("a committee of {}: {}", members.len(), groups.join("; "))
}
