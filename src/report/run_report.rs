//! The run folder's figures and `report.md`: the assignment's plots and tables,
//! plus the confusion matrix and the digits the model got wrong.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::ConfusionMatrix;
use super::plots::{Series, confusion_heatmap, digit_grid, line_chart};
use crate::config::ScheduleSection;
use crate::data::Digits;
use crate::fsutil::write_atomic;
use crate::model::layers_text;
use crate::run_files::history::{EpochRecord, EvalSplit, History};
use crate::run_files::summary::Summary;
use crate::run_files::{Figure, RunDir};

/// What the report is made from: the summary and history of a finished run,
/// and the images behind its figures.
pub struct RunReport<'a> {
    pub summary: &'a Summary,
    pub history: &'a History,
    pub train_split: &'a Digits,
    pub test_split: &'a Digits,
    pub test_predictions: &'a [u8],
    pub test_confusion: &'a ConfusionMatrix,
}

impl RunReport<'_> {
    /// Writes the figures and report.md into the run folder.
    pub fn write(&self, run: &RunDir) -> Result<()> {
        let config = &self.summary.config;
        let name = &config.experiment.name;
        let h = self.history;
        let cost_by_epoch: Vec<Series> = (1..=config.training.epochs)
            .filter_map(|epoch| {
                let points: Vec<(f64, f64)> = h
                    .costs
                    .iter()
                    .filter(|p| p.epoch == epoch)
                    .map(|p| (p.iteration as f64, p.cost))
                    .collect();
                (!points.is_empty()).then(|| Series {
                    name: format!("epoch {epoch}"),
                    points,
                })
            })
            .collect();
        // Fifteen lines are unreadable in one legend: show every few epochs.
        let step = cost_by_epoch.len().div_ceil(6).max(1);
        let shown: Vec<Series> = cost_by_epoch
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0)
            .map(|(_, s)| s)
            .collect();
        line_chart(
            &run.figure(Figure::CostIterations),
            &format!(
                "{name}: cost every {} iterations",
                config.training.log_interval
            ),
            "iteration within the epoch",
            "cost (batch cross-entropy)",
            &shown,
        )?;
        type Field = fn(&EpochRecord) -> f64;
        let train_and_test: [(&str, &str, &str, Field, Field); 2] = [
            (
                "loss",
                "mean cross-entropy",
                "train",
                |e| e.train_loss,
                |e| e.eval_loss,
            ),
            (
                "accuracy",
                "accuracy (%)",
                "train (during the epoch)",
                |e| e.train_accuracy,
                |e| e.eval_accuracy,
            ),
        ];
        for ((what, y_label, train_name, train, test), figure) in train_and_test
            .into_iter()
            .zip([Figure::CostEpochs, Figure::AccuracyEpochs])
        {
            let points = |f: Field| h.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
            let mut series = vec![Series {
                name: train_name.into(),
                points: points(train),
            }];
            if h.eval_split != EvalSplit::Nothing {
                series.push(Series {
                    name: h.eval_split.name().into(),
                    points: points(test),
                });
            }
            line_chart(
                &run.figure(figure),
                &format!("{name}: {what} per epoch"),
                "epoch",
                y_label,
                &series,
            )?;
        }
        let labels = &self.test_split.labels;
        confusion_heatmap(
            &run.figure(Figure::Confusion),
            &format!("{name}: test-set confusion matrix"),
            self.test_confusion,
        )?;
        draw_sample_grid(
            self.train_split,
            config.experiment.seed,
            &run.figure(Figure::Samples),
        )?;
        let wrong: Vec<(&[u8], String)> = (0..labels.len())
            .filter(|&i| self.test_predictions[i] != labels[i])
            .take(24)
            .map(|i| {
                (
                    self.test_split.image(i),
                    format!("#{i}: {} → {}", labels[i], self.test_predictions[i]),
                )
            })
            .collect();
        digit_grid(
            &run.figure(Figure::Misclassified),
            &format!("{name}: misclassified test digits (true → predicted)"),
            &wrong,
            6,
        )?;
        write_atomic(&run.report(), self.markdown().as_bytes())
    }

    fn markdown(&self) -> String {
        let (s, c, confusion) = (self.summary, &self.summary.config, self.test_confusion);
        let mut md = format!(
            "# {}\n\n{}\n\n",
            c.experiment.name, c.experiment.description
        );
        let _ = writeln!(md, "| setting | value |\n|---|---|");
        let mut settings = vec![
            ("layers", layers_text(&c.layer_sizes())),
            ("activation", c.model.activation.to_string()),
            ("initialisation", c.model.init.to_string()),
            ("optimizer", c.optimizer.name.to_string()),
            ("learning rate", c.optimizer.learning_rate.to_string()),
            ("L2 λ", c.optimizer.l2.to_string()),
            ("batch size", c.training.batch_size.to_string()),
            ("epochs", c.training.epochs.to_string()),
            ("seed", c.experiment.seed.to_string()),
            ("backend", s.backend.to_string()),
        ];
        // Beyond the assignment: only what this run switched on.
        let extras = [
            (
                c.optimizer.momentum > 0.0,
                "momentum",
                format!(
                    "{}{}",
                    c.optimizer.momentum,
                    if c.optimizer.nesterov {
                        " (Nesterov)"
                    } else {
                        ""
                    }
                ),
            ),
            (
                c.optimizer.weight_decay > 0.0,
                "weight decay",
                c.optimizer.weight_decay.to_string(),
            ),
            (
                c.schedule != ScheduleSection::default(),
                "schedule",
                c.schedule.to_string(),
            ),
            (
                c.model.dropout > 0.0,
                "dropout",
                c.model.dropout.to_string(),
            ),
            (
                c.augment.is_on(),
                "augmentation",
                format!(
                    "shift ±{} px, rotate ±{}°, scale ±{}",
                    c.augment.translate, c.augment.rotate, c.augment.scale
                ),
            ),
            (
                c.data.validation > 0,
                "validation images",
                c.data.validation.to_string(),
            ),
            (
                c.training.early_stopping > 0,
                "early stopping patience",
                c.training.early_stopping.to_string(),
            ),
        ];
        settings.extend(
            extras
                .into_iter()
                .filter(|(on, ..)| *on)
                .map(|(_, key, value)| (key, value)),
        );
        for (key, value) in settings {
            let _ = writeln!(md, "| {key} | {value} |");
        }
        let validation = s.validation_accuracy.map_or(String::new(), |accuracy| {
            format!(
                "- Accuracy on the {} held-out validation images: **{accuracy:.2}%**\n",
                c.data.validation
            )
        });
        let kept = if s.kept_epoch == s.epochs_trained {
            String::new()
        } else {
            format!(
                "- Early stopping ended the run after epoch {} and kept the weights of epoch {}\n",
                s.epochs_trained, s.kept_epoch
            )
        };
        let _ = write!(
            md,
            "\n## Results\n\n- Accuracy on the train data: **{:.2}%**\n{validation}- Accuracy on the test data: **{:.2}%**\n{kept}- Training time: {:.1} s\n\n",
            s.train_accuracy, s.test_accuracy, s.train_seconds
        );
        let split = self.history.eval_split;
        let evaluated = split != EvalSplit::Nothing;
        let (eval_head, eval_rule) = if evaluated {
            (
                format!(" {0} loss | {0} acc (%) |", split.name()),
                "---|---|",
            )
        } else {
            (String::new(), "")
        };
        let _ = writeln!(
            md,
            "| epoch | train loss | train acc (%) |{eval_head} seconds |\n|---|---|---|{eval_rule}---|"
        );
        for e in &self.history.epochs {
            let eval = if evaluated {
                format!(" {:.4} | {:.2} |", e.eval_loss, e.eval_accuracy)
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.2} |{eval} {:.1} |",
                e.epoch, e.train_loss, e.train_accuracy, e.seconds
            );
        }
        let _ = write!(
            md,
            "\n## Cost\n\n![cost every {} iterations]({})\n\n![loss per epoch]({})\n\n![accuracy per epoch]({})\n\n",
            c.training.log_interval,
            Figure::CostIterations.file_name(),
            Figure::CostEpochs.file_name(),
            Figure::AccuracyEpochs.file_name()
        );
        let _ = write!(
            md,
            "## Classification report (test set)\n\n```\n{}```\n\n",
            s.classification_report.to_text()
        );
        let _ = write!(
            md,
            "## Confusion matrix (rows: true digit, columns: predicted)\n\n```\n      "
        );
        for p in 0..confusion.classes() {
            let _ = write!(md, "{p:>6}");
        }
        md.push('\n');
        for (truth, row) in confusion.matrix.iter().enumerate() {
            let _ = write!(md, "{truth:>6}");
            for count in row {
                let _ = write!(md, "{count:>6}");
            }
            md.push('\n');
        }
        let _ = write!(
            md,
            "```\n\n![confusion matrix]({})\n\n## Digits\n\n![sample training digits]({})\n\n![misclassified test digits]({})\n",
            Figure::Confusion.file_name(),
            Figure::Samples.file_name(),
            Figure::Misclassified.file_name()
        );
        md
    }
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
