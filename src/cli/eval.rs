//! `mnist-mlp eval`: a saved model's test accuracy, loss and classification report.

use anyhow::Result;
use clap::Args;
use mnist_mlp::eval::ClassificationReport;
use mnist_mlp::eval::evaluate;

use super::model_args::ModelArgs;

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let (saved, device) = args.model.load()?;
    let mnist = args.model.data(&saved)?;
    let test = evaluate(&saved.model, &mnist.test, &device);
    let report = ClassificationReport::from_predictions(&test.labels, &test.predictions);
    println!("{}\n", saved.title());
    println!("{}", report.to_text());
    println!(
        "test loss {:.4}, test accuracy {:.2}%",
        test.loss, test.accuracy
    );
    Ok(())
}
