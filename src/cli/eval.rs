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
    let test = args.models.model.test_data(&members[0])?;
    for member in &members {
        println!("{}", member.title());
    }
    let evaluation = match members.as_slice() {
        [alone] => evaluate(&alone.model, &test, &device),
        committee => {
            let models: Vec<_> = committee.iter().map(|member| &member.model).collect();
            println!(
                "a committee of {}, their probabilities averaged",
                models.len()
            );
            evaluate_committee(&models, &test, &device)
        }
    };
    print_evaluation(&evaluation);
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
