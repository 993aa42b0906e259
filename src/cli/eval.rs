//! `mnist-mlp eval`: a saved model's test accuracy, loss and classification report,
//! or a committee's, whose members' probabilities are averaged.

use anyhow::Result;
use clap::Args;
use mnist_mlp::eval::{ClassificationReport, Evaluation, evaluate, evaluate_committee};

use super::model_args::CommitteeArgs;

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    models: CommitteeArgs,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let (members, device) = args.models.load("eval")?;
    let mnist = args.models.model.data(&members[0])?;
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
