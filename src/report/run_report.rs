//! The run folder's figures and `report.md`: the assignment's plots and tables,
//! the diagnostics and the first layer's weights, the confusion matrix and the
//! digits the model got wrong.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::diagnostics::{diagnostics_text, draw_diagnostics};
use super::heatmaps::first_layer_grid;
use super::markdown;
use super::plots::{Series, confusion_heatmap, digit_grid, line_chart};
use crate::config::ExperimentConfig;
use crate::data::Digits;
use crate::eval::ConfusionMatrix;
use crate::fsutil::write_atomic;
use crate::model::{Mlp, layers_text};
use crate::run_files::diagnostics::DiagnosticsLog;
use crate::run_files::history::{EpochRecord, EvalSplit, History};
use crate::run_files::summary::Summary;
use crate::run_files::{Figure, RunDir};
use crate::train::PROBE_IMAGES;

/// What the report is made from: the summary and history of a finished run,
/// and the images behind its figures.
pub struct RunReport<'a> {
    pub summary: &'a Summary,
    pub history: &'a History,
    pub diagnostics: &'a DiagnosticsLog,
    /// The weights kept.
    pub model: &'a Mlp,
    pub train_split: &'a Digits,
    pub test_split: &'a Digits,
    pub test_predictions: &'a [u8],
    pub test_confusion: &'a ConfusionMatrix,
}

impl RunReport<'_> {
    /// Writes the figures and report.md into the run folder.
    pub fn write(&self, run: &RunDir) -> Result<()> {
        self.draw_cost_chart(run)?;
        self.draw_epoch_charts(run)?;
        self.draw_inside_figures(run)?;
        self.draw_digit_figures(run)?;
        write_atomic(&run.report(), self.markdown().as_bytes())
    }

    fn name(&self) -> &str {
        &self.summary.config.experiment.name
    }

    /// The notebook's cost curve: one line per epoch, over the iterations within it.
    fn draw_cost_chart(&self, run: &RunDir) -> Result<()> {
        let training = &self.summary.config.training;
        let cost_by_epoch: Vec<Series> = (1..=training.epochs)
            .filter_map(|epoch| {
                let points: Vec<(f64, f64)> = self
                    .history
                    .costs
                    .iter()
                    .filter(|point| point.epoch == epoch)
                    .map(|point| (point.iteration as f64, point.cost))
                    .collect();
                (!points.is_empty()).then(|| Series {
                    name: format!("epoch {epoch}"),
                    points,
                })
            })
            .collect();
        // Fifteen lines are unreadable in one legend: show every few epochs.
        let step = cost_by_epoch.len().div_ceil(6).max(1);
        let shown: Vec<Series> = cost_by_epoch.into_iter().step_by(step).collect();
        line_chart(
            &run.figure(Figure::CostIterations),
            &format!(
                "{}: cost every {} iterations",
                self.name(),
                training.log_interval
            ),
            "iteration within the epoch",
            "cost (batch cross-entropy)",
            shown,
        )
    }

    /// Loss and accuracy per epoch, on the training batches and on the evaluated split.
    fn draw_epoch_charts(&self, run: &RunDir) -> Result<()> {
        type Field = fn(&EpochRecord) -> f64;
        let charts: [(&str, &str, &str, Field, Field, Figure); 2] = [
            (
                "loss",
                "mean cross-entropy",
                "train",
                |e| e.train_loss,
                |e| e.eval_loss,
                Figure::CostEpochs,
            ),
            (
                "accuracy",
                "accuracy (%)",
                "train (during the epoch)",
                |e| e.train_accuracy,
                |e| e.eval_accuracy,
                Figure::AccuracyEpochs,
            ),
        ];
        let history = self.history;
        for (what, y_label, train_name, train, eval, figure) in charts {
            let points = |field: Field| {
                let epochs = history.epochs.iter();
                epochs.map(|e| (e.epoch as f64, field(e))).collect()
            };
            let mut series = vec![Series {
                name: train_name.into(),
                points: points(train),
            }];
            if history.eval_split != EvalSplit::Nothing {
                series.push(Series {
                    name: history.eval_split.name().into(),
                    points: points(eval),
                });
            }
            line_chart(
                &run.figure(figure),
                &format!("{}: {what} per epoch", self.name()),
                "epoch",
                y_label,
                series,
            )?;
        }
        Ok(())
    }

    /// The diagnostics' four panels and the first layer's weights.
    fn draw_inside_figures(&self, run: &RunDir) -> Result<()> {
        let activation = self.summary.config.model.activation;
        draw_diagnostics(
            &run.figure(Figure::Diagnostics),
            self.name(),
            activation,
            self.diagnostics,
        )?;
        let weight = self.model.layers[0].weight.val(); // [784, units]
        let units = weight.dims()[1];
        let values = weight.into_data().convert::<f32>().try_into_vec::<f32>();
        first_layer_grid(
            &run.figure(Figure::FirstLayer),
            &format!("{}: the first layer's weights", self.name()),
            &values.expect("f32 weights"),
            units,
        )
    }

    /// The confusion heatmap, the notebook's 3×3 sample grid and the digits it got wrong.
    fn draw_digit_figures(&self, run: &RunDir) -> Result<()> {
        let name = self.name();
        confusion_heatmap(
            &run.figure(Figure::Confusion),
            &format!("{name}: test-set confusion matrix"),
            self.test_confusion,
        )?;
        draw_sample_grid(
            self.train_split,
            self.summary.config.experiment.seed,
            &run.figure(Figure::Samples),
        )?;
        let labels = &self.test_split.labels;
        let wrong: Vec<usize> = (0..labels.len())
            .filter(|&i| self.test_predictions[i] != labels[i])
            .collect();
        let shown: Vec<(&[u8], String)> = wrong
            .iter()
            .take(24)
            .map(|&i| {
                (
                    self.test_split.image(i),
                    format!("#{i}: {} → {}", labels[i], self.test_predictions[i]),
                )
            })
            .collect();
        let title = misclassified_title(name, shown.len(), wrong.len());
        digit_grid(&run.figure(Figure::Misclassified), &title, &shown, 6)
    }

    fn markdown(&self) -> String {
        let (summary, config) = (self.summary, &self.summary.config);
        let mut md = format!(
            "# {}\n\n{}\n\n",
            config.experiment.name, config.experiment.description
        );
        let _ = writeln!(
            md,
            "A {} MLP with {} parameters, trained on {}.\n",
            layers_text(&config.layer_sizes()),
            summary.parameters,
            summary.backend
        );
        md += &markdown::table(&["setting", "value"], &settings_rows(config));
        md += &self.results();
        md += &self.epochs_table();
        let _ = write!(
            md,
            "\n## Cost\n\n![cost every {} iterations]({})\n\n![loss per epoch]({})\n\n![accuracy per epoch]({})\n\n",
            config.training.log_interval,
            Figure::CostIterations.file_name(),
            Figure::CostEpochs.file_name(),
            Figure::AccuracyEpochs.file_name()
        );
        let _ = write!(
            md,
            "## Diagnostics\n\nMeasured on the first {} training images as initialised (epoch 0) and after every epoch; every figure per layer is in `diagnostics.csv`.\n\n{}\n![diagnostics per layer]({})\n\n## What the first layer sees\n\nEach tile is one first-layer unit's 784 weights as a 28×28 image: red where ink raises the unit's input, blue where it lowers it.\n\n![the first layer's weights]({})\n\n",
            self.train_split.len().min(PROBE_IMAGES),
            diagnostics_text(self.diagnostics, config.model.activation),
            Figure::Diagnostics.file_name(),
            Figure::FirstLayer.file_name()
        );
        let _ = write!(
            md,
            "## Classification report (test set)\n\n```\n{}```\n\n",
            summary.classification_report.to_text()
        );
        let _ = write!(
            md,
            "## Confusion matrix (rows: true digit, columns: predicted)\n\n```\n{}```\n\n![confusion matrix]({})\n\n## Digits\n\n![sample training digits]({})\n\n![misclassified test digits]({})\n",
            confusion_text(self.test_confusion),
            Figure::Confusion.file_name(),
            Figure::Samples.file_name(),
            Figure::Misclassified.file_name()
        );
        md
    }

    /// The headline figures, as the notebook prints them.
    fn results(&self) -> String {
        let summary = self.summary;
        let validation = summary
            .validation_accuracy
            .map_or(String::new(), |accuracy| {
                format!(
                    "- Accuracy on the {} held-out validation images: **{accuracy:.2}%**\n",
                    summary.config.data.validation
                )
            });
        let kept = if summary.kept_epoch == summary.epochs_trained {
            String::new()
        } else {
            format!(
                "- Early stopping ended the run after epoch {} and kept the weights of epoch {}\n",
                summary.epochs_trained, summary.kept_epoch
            )
        };
        format!(
            "\n## Results\n\n- Accuracy on the train data: **{:.2}%**\n{validation}- Accuracy on the test data: **{:.2}%**\n{kept}- Training time: {:.1} s\n\n",
            summary.train_accuracy, summary.test_accuracy, summary.train_seconds
        )
    }

    /// One row per epoch: training figures, the evaluated split's (if any), seconds.
    fn epochs_table(&self) -> String {
        let split = self.history.eval_split;
        let evaluated = split != EvalSplit::Nothing;
        let mut header = vec![
            "epoch".to_string(),
            "train loss".into(),
            "train acc (%)".into(),
        ];
        if evaluated {
            header.extend([
                format!("{} loss", split.name()),
                format!("{} acc (%)", split.name()),
            ]);
        }
        header.push("seconds".into());
        let rows: Vec<Vec<String>> = self
            .history
            .epochs
            .iter()
            .map(|e| {
                let mut row = vec![
                    e.epoch.to_string(),
                    format!("{:.4}", e.train_loss),
                    format!("{:.2}", e.train_accuracy),
                ];
                if evaluated {
                    row.extend([
                        format!("{:.4}", e.eval_loss),
                        format!("{:.2}", e.eval_accuracy),
                    ]);
                }
                row.push(format!("{:.1}", e.seconds));
                row
            })
            .collect();
        markdown::table(&header, &rows)
    }
}

/// The settings as `section.key` and value, spelt as the config spells them: the
/// assignment's own always, then whatever else this run set away from the defaults.
fn settings_rows(config: &ExperimentConfig) -> Vec<Vec<String>> {
    const ALWAYS: [&str; 9] = [
        "model.hidden",
        "model.activation",
        "model.init",
        "optimizer.name",
        "optimizer.learning_rate",
        "optimizer.l2",
        "training.batch_size",
        "training.epochs",
        "experiment.seed",
    ];
    // Shown elsewhere (the title) or local to one machine (the data folder).
    const NOT_SETTINGS: [&str; 3] = ["experiment.name", "experiment.description", "data.dir"];
    let settings = config.settings();
    let defaults = ExperimentConfig::named(&config.experiment.name).settings();
    let always = ALWAYS
        .iter()
        .filter_map(|key| Some((*key, settings.get(*key)?)));
    let changed = settings.iter().filter(|(key, value)| {
        let key = key.as_str();
        !ALWAYS.contains(&key) && !NOT_SETTINGS.contains(&key) && defaults.get(key) != Some(value)
    });
    always
        .chain(changed.map(|(key, value)| (key.as_str(), value)))
        .map(|(key, value)| {
            let value = match value {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            vec![key.to_string(), value]
        })
        .collect()
}

/// The confusion matrix as aligned text, digits across and down.
fn confusion_text(confusion: &ConfusionMatrix) -> String {
    let mut text = "      ".to_string();
    for predicted in 0..confusion.classes() {
        let _ = write!(text, "{predicted:>6}");
    }
    text.push('\n');
    for (truth, row) in confusion.matrix.iter().enumerate() {
        let _ = write!(text, "{truth:>6}");
        for count in row {
            let _ = write!(text, "{count:>6}");
        }
        text.push('\n');
    }
    text
}

/// Nine training digits chosen by `seed`, labelled, in a 3×3 grid, as the notebook shows.
pub fn draw_sample_grid(train: &Digits, seed: u64, path: &Path) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let picks = sample(&mut rng, train.len(), 9.min(train.len()));
    let digits: Vec<(&[u8], String)> = picks
        .iter()
        .map(|i| (train.image(i), format!("label {}", train.labels[i])))
        .collect();
    digit_grid(path, "Training samples", &digits, 3)
}

/// The misclassified figure's title: how many of the `count` mistakes it shows.
fn misclassified_title(name: &str, shown: usize, count: usize) -> String {
    match count {
        0 => format!("{name}: no test digit is misclassified"),
        _ if shown == count => {
            format!("{name}: the {count} misclassified test digits (true → predicted)")
        }
        _ => format!(
            "{name}: the first {shown} of {count} misclassified test digits (true → predicted)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_misclassified_title_says_how_many_of_the_mistakes_it_shows() {
        assert_eq!(
            misclassified_title("relu", 24, 972),
            "relu: the first 24 of 972 misclassified test digits (true → predicted)"
        );
        assert_eq!(
            misclassified_title("best", 3, 3),
            "best: the 3 misclassified test digits (true → predicted)"
        );
        assert_eq!(
            misclassified_title("one", 0, 0),
            "one: no test digit is misclassified"
        );
    }
}
