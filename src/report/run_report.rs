//! The run folder's figures and `report.md`: the assignment's plots and tables,
//! plus the confusion matrix and the digits the model got wrong.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::plots::{Series, confusion_heatmap, digit_grid, line_chart};
use super::{ClassificationReport, ConfusionMatrix};
use crate::config::ExperimentConfig;
use crate::data::Split;
use crate::fsutil::write_atomic;
use crate::history::{EpochRecord, History};

/// What the report is made from.
pub struct RunReport<'a> {
    pub config: &'a ExperimentConfig,
    pub history: &'a History,
    pub train_split: &'a Split,
    pub test_split: &'a Split,
    pub test_predictions: &'a [u8],
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    pub test_report: &'a ClassificationReport,
    pub train_seconds: f64,
    pub backend: &'a str,
}

/// The PNG files every run writes, in the order report.md shows them.
pub const FIGURES: [&str; 6] = [
    "cost_iterations.png",
    "cost_epochs.png",
    "accuracy_epochs.png",
    "confusion.png",
    "samples.png",
    "misclassified.png",
];

impl RunReport<'_> {
    /// Writes the figures and report.md into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let name = &self.config.experiment.name;
        let h = self.history;
        let cost_by_epoch: Vec<Series> = (1..=self.config.training.epochs)
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
            &dir.join(FIGURES[0]),
            &format!(
                "{name}: cost every {} iterations",
                self.config.training.log_interval
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
                |e| e.test_loss,
            ),
            (
                "accuracy",
                "accuracy (%)",
                "train (during the epoch)",
                |e| e.train_accuracy,
                |e| e.test_accuracy,
            ),
        ];
        for ((what, y_label, train_name, train, test), file) in
            train_and_test.into_iter().zip(&FIGURES[1..3])
        {
            let points = |f: Field| h.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
            let series = [
                Series {
                    name: train_name.into(),
                    points: points(train),
                },
                Series {
                    name: "test".into(),
                    points: points(test),
                },
            ];
            line_chart(
                &dir.join(file),
                &format!("{name}: {what} per epoch"),
                "epoch",
                y_label,
                &series,
            )?;
        }
        let labels = &self.test_split.labels;
        let confusion = ConfusionMatrix::new(labels, self.test_predictions, crate::data::CLASSES);
        confusion_heatmap(
            &dir.join(FIGURES[3]),
            &format!("{name}: test-set confusion matrix"),
            &confusion,
        )?;
        self.write_samples(&dir.join(FIGURES[4]))?;
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
            &dir.join(FIGURES[5]),
            &format!("{name}: misclassified test digits (true → predicted)"),
            &wrong,
            6,
        )?;
        write_atomic(&dir.join("report.md"), self.markdown(&confusion).as_bytes())
    }

    /// A 3×3 grid of training digits drawn with the experiment's seed, as the notebook shows.
    fn write_samples(&self, path: &Path) -> Result<()> {
        write_samples(self.train_split, self.config.experiment.seed, path)
    }

    fn markdown(&self, confusion: &ConfusionMatrix) -> String {
        let c = self.config;
        let mut md = format!(
            "# {}\n\n{}\n\n",
            c.experiment.name, c.experiment.description
        );
        let hidden: Vec<String> = c.model.hidden.iter().map(|w| w.to_string()).collect();
        let _ = writeln!(md, "| setting | value |\n|---|---|");
        for (key, value) in [
            ("layers", format!("784 → {} → 10", hidden.join(" → "))),
            ("activation", c.model.activation.to_string()),
            ("initialisation", format!("{:?}", c.model.init)),
            ("optimizer", c.optimizer.name.to_string()),
            ("learning rate", c.optimizer.learning_rate.to_string()),
            ("L2 λ", c.optimizer.l2.to_string()),
            ("batch size", c.training.batch_size.to_string()),
            ("epochs", c.training.epochs.to_string()),
            ("seed", c.experiment.seed.to_string()),
            ("backend", self.backend.to_string()),
        ] {
            let _ = writeln!(md, "| {key} | {value} |");
        }
        let _ = write!(
            md,
            "\n## Results\n\n- Accuracy on the train data: **{:.2}%**\n- Accuracy on the test data: **{:.2}%**\n- Training time: {:.1} s\n\n",
            self.train_accuracy, self.test_accuracy, self.train_seconds
        );
        let _ = writeln!(
            md,
            "| epoch | train loss | train acc (%) | test loss | test acc (%) | seconds |\n|---|---|---|---|---|---|"
        );
        for e in &self.history.epochs {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.2} | {:.4} | {:.2} | {:.1} |",
                e.epoch, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy, e.seconds
            );
        }
        let _ = write!(
            md,
            "\n## Cost\n\n![cost every {} iterations]({})\n\n![loss per epoch]({})\n\n![accuracy per epoch]({})\n\n",
            c.training.log_interval, FIGURES[0], FIGURES[1], FIGURES[2]
        );
        let _ = write!(
            md,
            "## Classification report (test set)\n\n```\n{}```\n\n",
            self.test_report.to_text()
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
            FIGURES[3], FIGURES[4], FIGURES[5]
        );
        md
    }
}

/// Nine training digits chosen by `seed`, labelled, in a 3×3 grid.
pub fn write_samples(train: &Split, seed: u64, path: &Path) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let picks = sample(&mut rng, train.len(), 9.min(train.len()));
    let digits: Vec<(&[u8], String)> = picks
        .iter()
        .map(|i| (train.image(i), format!("label {}", train.labels[i])))
        .collect();
    digit_grid(path, "Training samples", &digits, 3)
}
