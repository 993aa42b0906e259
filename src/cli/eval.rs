//! `mnist-mlp eval`: a saved model's test accuracy, loss and classification report,
//! or a committee's, whose members' probabilities are averaged.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use mnist_mlp::eval::{ClassificationReport, Evaluation, evaluate, evaluate_committee};

use super::model_args::ModelArgs;

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// More models for a committee (with --ensemble): run folders or weights files.
    #[arg(value_name = "MORE_MODELS")]
    more: Vec<PathBuf>,
    /// Average the class probabilities of every model given and evaluate them as one.
    #[arg(long)]
    ensemble: bool,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    if args.more.is_empty() == args.ensemble {
        bail!(match args.ensemble {
            true => "--ensemble needs two or more models: `mnist-mlp eval RUN RUN … --ensemble`",
            false =>
                "several models given: add --ensemble to evaluate them as one committee, or give one model",
        });
    }
    let (first, device) = args.model.load()?;
    let mut members = vec![first];
    for path in &args.more {
        members.push(args.model.load_other(path, &device)?);
    }
    // Every member is read before the data, so a bad path fails at once.
    let mnist = args.model.data(&members[0])?;
    for member in &members {
        println!("{}", member.title());
    }
    let test = match members.as_slice() {
        [alone] => evaluate(&alone.model, &mnist.test, &device),
        committee => {
            let models: Vec<_> = committee.iter().map(|member| &member.model).collect();
            println!(
                "a committee of {}, their probabilities averaged",
                models.len()
            );
            evaluate_committee(&models, &mnist.test, &device)
        }
    };
    print_evaluation(&test);
    Ok(())
}

fn print_evaluation(test: &Evaluation) {
    let report = ClassificationReport::from_predictions(&test.labels, &test.predictions);
    println!("\n{}", report.to_text());
    println!(
        "test loss {:.4}, test accuracy {:.2}%",
        test.loss, test.accuracy
    );
}
