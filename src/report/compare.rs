//! The assignment's conclusion as a command: every run's headline figures in one
//! table, as text, Markdown and a test-accuracy-per-epoch chart.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::plots::{Series, line_chart};
use crate::fsutil::write_atomic;
use crate::history::History;
use crate::run::Summary;

/// One run as the comparison sees it.
pub struct ComparedRun {
    pub summary: Summary,
    pub history: History,
}

/// Reads `<run>/summary.json` and `<run>/metrics.csv` for each run folder given,
/// or for every folder under `artifacts` holding a summary when none is given.
pub fn load_runs(artifacts: &Path, runs: &[PathBuf]) -> Result<Vec<ComparedRun>> {
    let folders: Vec<PathBuf> = if runs.is_empty() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(artifacts)
            .with_context(|| format!("cannot read {}: train a config first", artifacts.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.join("summary.json").is_file())
            .collect();
        found.sort();
        found
    } else {
        runs.iter()
            .map(|run| {
                if run.ends_with("summary.json") {
                    run.parent().unwrap_or(run).to_path_buf()
                } else {
                    run.clone()
                }
            })
            .collect()
    };
    if folders.is_empty() {
        bail!(
            "no finished runs in {}: train a config first, e.g. `mnist-mlp config/relu.toml`",
            artifacts.display()
        );
    }
    folders
        .iter()
        .map(|folder| {
            let path = folder.join("summary.json");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read {}: is {} a finished run folder?",
                    path.display(),
                    folder.display()
                )
            })?;
            let summary: Summary = serde_json::from_str(&text)
                .with_context(|| format!("{} is corrupt: train the run again", path.display()))?;
            let metrics = folder.join("metrics.csv");
            let history = if metrics.is_file() {
                History::load_csv(&metrics)?
            } else {
                History::default()
            };
            Ok(ComparedRun { summary, history })
        })
        .collect()
}

const HEADER: [&str; 10] = [
    "experiment",
    "activation",
    "optimizer",
    "λ",
    "epochs",
    "train acc",
    "test acc",
    "macro F1",
    "seconds",
    "backend",
];

fn row(run: &ComparedRun) -> [String; 10] {
    let s = &run.summary;
    [
        s.experiment.clone(),
        s.activation.clone(),
        s.optimizer.clone(),
        s.l2.to_string(),
        s.epochs.to_string(),
        format!("{:.2}%", s.train_accuracy),
        format!("{:.2}%", s.test_accuracy),
        format!("{:.4}", s.classification_report.macro_avg.f1),
        format!("{:.1}", s.train_seconds),
        s.backend.clone(),
    ]
}

/// The table aligned for a terminal.
pub fn text_table(runs: &[ComparedRun]) -> String {
    let rows: Vec<[String; 10]> = runs.iter().map(row).collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([HEADER[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(HEADER.to_vec());
    for r in &rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// The table in Markdown, for `artifacts/comparison.md` and the README.
pub fn markdown_table(runs: &[ComparedRun]) -> String {
    let mut md = format!(
        "| {} |\n|{}\n",
        HEADER.join(" | "),
        "---|".repeat(HEADER.len())
    );
    for r in runs {
        let _ = writeln!(md, "| {} |", row(r).join(" | "));
    }
    md
}

/// Writes `comparison.md` and `comparison.png` into `artifacts`.
pub fn write_comparison(artifacts: &Path, runs: &[ComparedRun]) -> Result<()> {
    let series: Vec<Series> = runs
        .iter()
        .map(|r| Series {
            name: r.summary.experiment.clone(),
            points: r
                .history
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, e.test_accuracy))
                .collect(),
        })
        .collect();
    line_chart(
        &artifacts.join("comparison.png"),
        "Test accuracy per epoch",
        "epoch",
        "test accuracy (%)",
        &series,
    )?;
    let md = format!(
        "# Comparison\n\n{}\n![test accuracy per epoch](comparison.png)\n",
        markdown_table(runs)
    );
    write_atomic(&artifacts.join("comparison.md"), md.as_bytes())
}
