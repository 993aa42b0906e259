//! The assignment's conclusion as a command: every run's headline figures in one
//! table, as text, Markdown, an accuracy-per-epoch chart (each run's per-epoch
//! evaluation: the test set, or its validation split), and the first layer's
//! gradient norm overlaid, which puts sigmoid, tanh and ReLU side by side.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::markdown;
use super::plots::{Chart, Scale, Series, chart_grid, line_chart};
use crate::fsutil::{why_unreadable, write_atomic};
use crate::run_files::RunDir;
use crate::run_files::diagnostics::DiagnosticsLog;
use crate::run_files::discover::{discover, run_named_by};
use crate::run_files::history::{EvalSplit, History};
use crate::run_files::summary::Summary;

/// One run as the comparison sees it.
pub struct ComparedRun {
    /// Its experiment's name, or its folder where another compared run has that
    /// name too (one config trained on two machines, a copied run).
    pub name: String,
    pub summary: Summary,
    pub history: History,
    pub diagnostics: DiagnosticsLog,
}

/// Reads the summary and history of each run folder given, or of every
/// finished run under `artifacts` when none is given.
pub fn load_runs(artifacts: &Path, runs: &[PathBuf]) -> Result<Vec<ComparedRun>> {
    let folders: Vec<RunDir> = if runs.is_empty() {
        discover(artifacts)
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot read {}: {}: train a config first, or choose another folder with --artifacts",
                    artifacts.display(),
                    why_unreadable(&err)
                )
            })?
            .runs
            .into_iter()
            .filter(|run| run.is_top_level() && run.dir.is_finished())
            .map(|run| run.dir)
            .collect()
    } else {
        // A run named twice (`a`, `./a/`, `a/model.safetensors`) is one row, not two.
        let mut seen = HashSet::new();
        runs.iter()
            .map(|run| run_named_by(run))
            .filter(|run| seen.insert(std::fs::canonicalize(&run.root).unwrap_or(run.root.clone())))
            .collect()
    };
    if folders.is_empty() {
        bail!(
            "no finished runs in {}: train a config first, e.g. `mnist-mlp config/relu.toml`",
            artifacts.display()
        );
    }
    // A run found in the folder that cannot be read is left out, saying why: one
    // damaged run does not keep the others from being compared. A run asked for is not.
    let (mut compared, mut kept) = (Vec::new(), Vec::new());
    for folder in folders {
        match load_run(&folder) {
            Ok(run) => {
                compared.push(run);
                kept.push(folder);
            }
            Err(err) if runs.is_empty() => eprintln!("warning: {err:#}: left out"),
            Err(err) => return Err(err),
        }
    }
    if compared.is_empty() {
        bail!(
            "no run in {} could be read (see the warnings above)",
            artifacts.display()
        );
    }
    let names: Vec<String> = compared.iter().map(|run| run.name.clone()).collect();
    for (run, folder) in compared.iter_mut().zip(&kept) {
        if names.iter().filter(|&name| *name == run.name).count() > 1 {
            run.name = folder.root.display().to_string();
        }
    }
    Ok(compared)
}

/// A finished run's summary and records.
fn load_run(run: &RunDir) -> Result<ComparedRun> {
    let summary = Summary::load(run)?;
    Ok(ComparedRun {
        name: summary.config.experiment.name.clone(),
        summary,
        history: run.history()?,
        diagnostics: run.diagnostics_log()?,
    })
}

const HEADER: [&str; 11] = [
    "experiment",
    "activation",
    "optimizer",
    "λ",
    "epochs",
    "train acc",
    "valid acc",
    "test acc",
    "macro F1",
    "seconds",
    "backend",
];

fn row(run: &ComparedRun) -> [String; 11] {
    let summary = &run.summary;
    let config = &summary.config;
    [
        run.name.clone(),
        config.model.activation.to_string(),
        config.optimizer.name.to_string(),
        config.optimizer.l2.to_string(),
        run.history.epochs.len().to_string(),
        format!("{:.2}%", summary.train_accuracy),
        summary
            .validation_accuracy
            .map_or("—".to_string(), |accuracy| format!("{accuracy:.2}%")),
        format!("{:.2}%", summary.test_accuracy),
        format!("{:.4}", summary.classification_report.macro_avg.f1),
        format!("{:.1}", summary.train_seconds),
        summary.backend.to_string(),
    ]
}

/// The table aligned for a terminal.
pub fn text_table(runs: &[ComparedRun]) -> String {
    let rows: Vec<[String; 11]> = runs.iter().map(row).collect();
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
    let rows: Vec<Vec<String>> = runs.iter().map(|run| row(run).to_vec()).collect();
    markdown::table(&HEADER, &rows)
}

/// The first layer's gradient norm per epoch, one line per run that recorded it.
fn first_layer_gradients(runs: &[ComparedRun]) -> Chart<'static> {
    let series = runs
        .iter()
        .map(|r| Series {
            name: r.name.clone(),
            points: r
                .diagnostics
                .of_layer(1)
                .map(|row| (row.epoch as f64, row.weight_grad_norm))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    Chart {
        title: "First layer's gradient norm ‖∂L/∂W₁‖",
        x_label: "epoch (0: as initialised)",
        y_label: "‖∂L/∂W₁‖ on the probe batch",
        y_scale: Scale::Log,
        series,
    }
}

/// Writes `comparison.md`, `comparison.png` and `comparison_gradients.png` into `artifacts`.
pub fn write_comparison(artifacts: &Path, runs: &[ComparedRun]) -> Result<()> {
    let series: Vec<Series> = runs
        .iter()
        .filter(|r| r.history.eval_split != EvalSplit::Nothing)
        .map(|r| Series {
            name: format!("{} ({})", r.name, r.history.eval_split.name()),
            points: r
                .history
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, e.eval_accuracy))
                .collect(),
        })
        .collect();
    line_chart(
        &artifacts.join("comparison.png"),
        "Accuracy per epoch (test set, or validation split)",
        "epoch",
        "accuracy (%)",
        series,
    )?;
    let gradients = first_layer_gradients(runs);
    let overlay = if gradients.series.is_empty() {
        String::new()
    } else {
        chart_grid(
            &artifacts.join("comparison_gradients.png"),
            (900, 560),
            1,
            &[gradients],
        )?;
        "\n![first layer's gradient norm per epoch](comparison_gradients.png)\n".into()
    };
    let md = format!(
        "# Comparison\n\n{}\n![accuracy per epoch](comparison.png)\n{overlay}",
        markdown_table(runs)
    );
    write_atomic(&artifacts.join("comparison.md"), md.as_bytes())
}
