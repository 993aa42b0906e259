//! The sweep's result: every trial's state read back from its folder, ranked on
//! validation accuracy alone, written as leaderboard.csv, leaderboard.md and one
//! figure per axis. Test-set figures stay out of it: the choice must not see them.

use std::cmp::Ordering;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use super::folder::{SweepDir, TrialStatus, figure_name};
use super::{Domain, Mode, Sweep, Trial, display_value};

use crate::fsutil::read_record;
use crate::limits::MAX_TRIALS;
use crate::report::markdown;
use crate::run_files::summary::Summary;

/// One trial and where it stands.
pub struct Entry<'a> {
    pub trial: &'a Trial,
    pub status: TrialStatus,
}

impl Entry<'_> {
    pub fn summary(&self) -> Option<&Summary> {
        match &self.status {
            TrialStatus::Finished(summary) => Some(summary),
            _ => None,
        }
    }
}

/// All trials in leaderboard order: finished ones best first, then failed ones
/// (ranked last), then those not finished, by index.
pub struct Leaderboard<'a> {
    pub entries: Vec<Entry<'a>>,
    /// The winner retrained on the whole training set, once `--final` has run.
    pub final_run: Option<Summary>,
}

/// Best first: higher validation accuracy, then lower validation loss, then the lower index.
fn better(a: &Entry, b: &Entry) -> Ordering {
    let accuracy = |e: &Entry| {
        e.summary()
            .and_then(|s| s.validation_accuracy)
            .unwrap_or(f64::NEG_INFINITY)
    };
    let loss = |e: &Entry| {
        e.summary()
            .and_then(|s| s.validation_loss)
            .unwrap_or(f64::INFINITY)
    };
    accuracy(b)
        .total_cmp(&accuracy(a))
        .then(loss(a).total_cmp(&loss(b)))
        .then(a.trial.index.cmp(&b.trial.index))
}

/// Where an entry goes: finished, failed, the rest.
fn group(entry: &Entry) -> u8 {
    match entry.status {
        TrialStatus::Finished(_) => 0,
        TrialStatus::Failed(_) => 1,
        _ => 2,
    }
}

impl<'a> Leaderboard<'a> {
    /// Reads every trial's state (and the final run's) from `dir`.
    pub fn collect(sweep: &'a Sweep, dir: &SweepDir) -> Result<Self> {
        let mut entries = sweep
            .trials
            .iter()
            .map(|trial| {
                Ok(Entry {
                    trial,
                    status: dir.status(trial)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        entries.sort_by(|a, b| group(a).cmp(&group(b)).then_with(|| better(a, b)));
        let final_dir = dir.final_run();
        // A damaged final summary leaves the board without a final row, as before `--final`.
        let final_run = final_dir
            .is_finished()
            .then(|| Summary::load(&final_dir))
            .and_then(|loaded| {
                loaded
                    .map_err(|err| eprintln!("warning: {err:#}; run --final again to redo it"))
                    .ok()
            });
        Ok(Self { entries, final_run })
    }

    /// Finished trials, best first.
    pub fn finished(&self) -> impl Iterator<Item = (&'a Trial, &Summary)> {
        self.entries
            .iter()
            .filter_map(|e| e.summary().map(|s| (e.trial, s)))
    }

    pub fn winner(&self) -> Option<(&'a Trial, &Summary)> {
        self.finished().next()
    }

    /// Entries with a result, finished or failed, in rank order.
    fn ranked(&self) -> impl Iterator<Item = (usize, &Entry<'a>)> {
        self.entries
            .iter()
            .take_while(|e| group(e) < 2)
            .enumerate()
            .map(|(rank, e)| (rank + 1, e))
    }

    pub fn failed(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.status, TrialStatus::Failed(_)))
            .count()
    }

    /// Trials neither finished nor failed: interrupted, still running elsewhere, or not started.
    pub fn unfinished(&self) -> usize {
        self.entries.iter().filter(|e| group(e) == 2).count()
    }

    /// leaderboard.csv: one row per finished or failed trial, with the axis values.
    pub fn csv(&self, sweep: &Sweep) -> Result<Vec<u8>> {
        let mut csv = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["rank", "trial", "status"];
        header.extend(sweep.axes.iter().map(|a| a.key.as_str()));
        header.extend([
            "validation_accuracy",
            "validation_loss",
            "train_accuracy",
            "epochs_trained",
            "kept_epoch",
            "train_seconds",
            "run",
        ]);
        csv.write_record(&header)?;
        let optional = |value: Option<f64>, digits: usize| {
            value.map_or(String::new(), |v| format!("{v:.digits$}"))
        };
        for (rank, entry) in self.ranked() {
            let trial = entry.trial;
            let mut row = vec![
                rank.to_string(),
                trial.index.to_string(),
                match entry.status {
                    TrialStatus::Finished(_) => "finished",
                    _ => "failed",
                }
                .to_string(),
            ];
            row.extend(trial.values.iter().map(display_value));
            let summary = entry.summary();
            row.extend([
                optional(summary.and_then(|summary| summary.validation_accuracy), 4),
                optional(summary.and_then(|summary| summary.validation_loss), 6),
                optional(summary.map(|summary| summary.train_accuracy), 4),
                summary.map_or(String::new(), |summary| summary.epochs_trained.to_string()),
                summary.map_or(String::new(), |summary| summary.kept_epoch.to_string()),
                optional(summary.map(|summary| summary.train_seconds), 1),
                format!("trials/{}", trial.config.experiment.name),
            ]);
            csv.write_record(&row)?;
        }
        csv.into_inner().context("cannot build leaderboard.csv")
    }

    /// leaderboard.md: what was swept, the ranking, the winner, what is missing, the figures.
    pub fn markdown(&self, sweep: &Sweep, with_figures: bool) -> String {
        let mut md = self.introduction(sweep);
        md += &self.markdown_table(sweep);
        md += "\n";
        md += &self.outcome(sweep);
        md += &self.missing();
        if with_figures {
            md += "## Validation accuracy against each axis\n\n";
            for axis in &sweep.axes {
                let _ = writeln!(
                    md,
                    "![validation accuracy vs {}]({})\n",
                    axis.key,
                    figure_name(&axis.key)
                );
            }
        }
        md
    }

    /// The title, what was swept and how, and how many trials finished.
    fn introduction(&self, sweep: &Sweep) -> String {
        let total = sweep.trials.len();
        let mut md = format!("# Sweep `{}`\n\n", sweep.name);
        let _ = writeln!(
            md,
            "{} of `{}` over {}; every trial holds out {} training images and is ranked on them \
             alone (test-set figures are left out so that they play no part in the choice). \
             Sweep file: `{}`.\n",
            match sweep.mode {
                Mode::Grid => format!("Grid of {total} trials"),
                Mode::Random => format!("Random search of {total} trials (seed {})", sweep.seed),
                Mode::Paired => format!("Paired sweep of {total} trials"),
            },
            sweep.base.display(),
            describe_axes(sweep),
            sweep.validation,
            sweep.file.display(),
        );
        if !sweep.fixed.is_empty() {
            let _ = writeln!(md, "Set on every trial: `{}`.\n", sweep.fixed.join("`, `"));
        }
        let _ = writeln!(
            md,
            "**Finished {} of {total} trials**{}.\n",
            self.finished().count(),
            match self.failed() {
                0 => String::new(),
                failed => format!(" ({failed} failed, ranked last)"),
            }
        );
        md
    }

    /// The winner and the final run, or how to start one.
    fn outcome(&self, sweep: &Sweep) -> String {
        let mut md = String::new();
        if let Some((trial, summary)) = self.winner() {
            let _ = writeln!(
                md,
                "**Winner:** trial {} (`{}`){}.\n",
                trial.index,
                trial.label,
                summary
                    .validation_accuracy
                    .map_or(String::new(), |a| format!(": validation accuracy {a:.2} %"))
            );
        }
        match &self.final_run {
            Some(run) => {
                let _ = writeln!(
                    md,
                    "**Final run** (`final/`: {}, retrained on every training image for {} epochs): \
                     test accuracy **{:.2} %**, the sweep's one look at the test set.\n",
                    run.config.experiment.description,
                    run.config.training.epochs,
                    run.test_accuracy
                );
            }
            None if self.finished().count() > 0 => {
                let _ = writeln!(
                    md,
                    "`mnist-mlp sweep {} --final` retrains the winner on every training image and \
                     evaluates it on the test set, once.\n",
                    sweep.file.display()
                );
            }
            None => {}
        }
        md
    }

    /// The failed and the unfinished trials, each list with what running again does.
    fn missing(&self) -> String {
        let mut md = String::new();
        let failed: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| matches!(e.status, TrialStatus::Failed(_)))
            .collect();
        let unfinished: Vec<&Entry> = self.entries.iter().filter(|e| group(e) == 2).collect();
        for (title, entries, note) in [
            ("Failed", failed, "Running the sweep again retries these."),
            (
                "Not finished",
                unfinished,
                "Running the sweep again runs these (an interrupted trial resumes).",
            ),
        ] {
            if entries.is_empty() {
                continue;
            }
            let _ = writeln!(md, "## {title}\n");
            for entry in entries {
                let status = match &entry.status {
                    TrialStatus::Failed(message) => message.clone(),
                    other => other.describe(),
                };
                let _ = writeln!(
                    md,
                    "- trial {} (`{}`): {status}",
                    entry.trial.index, entry.trial.label
                );
            }
            let _ = writeln!(md, "\n{note}\n");
        }
        md
    }

    fn markdown_table(&self, sweep: &Sweep) -> String {
        let mut header = vec!["rank".to_string(), "trial".to_string()];
        header.extend(sweep.axes.iter().map(|a| format!("`{}`", a.key)));
        header.extend(
            [
                "validation accuracy",
                "validation loss",
                "train accuracy",
                "epochs (kept)",
                "seconds",
            ]
            .map(String::from),
        );
        let rows: Vec<Vec<String>> = self
            .ranked()
            .map(|(rank, entry)| {
                let trial = entry.trial;
                let name = &trial.config.experiment.name;
                let mut row = vec![
                    rank.to_string(),
                    match entry.status {
                        TrialStatus::Finished(_) => {
                            format!("[{}](trials/{name}/report.md)", trial.index)
                        }
                        _ => trial.index.to_string(),
                    },
                ];
                row.extend(trial.values.iter().map(display_value));
                match entry.summary() {
                    Some(summary) => row.extend([
                        summary
                            .validation_accuracy
                            .map_or("–".to_string(), |a| format!("{a:.2} %")),
                        summary
                            .validation_loss
                            .map_or("–".to_string(), |l| format!("{l:.4}")),
                        format!("{:.2} %", summary.train_accuracy),
                        format!("{} ({})", summary.epochs_trained, summary.kept_epoch),
                        format!("{:.1}", summary.train_seconds),
                    ]),
                    None => row.extend(["failed", "", "", "", ""].map(String::from)),
                }
                row
            })
            .collect();
        markdown::table(&header, &rows)
    }
}

/// "`optimizer.l2` ∈ {0, 0.1}, `optimizer.learning_rate` ∈ [0.001, 0.3] (log-uniform)".
fn describe_axes(sweep: &Sweep) -> String {
    sweep
        .axes
        .iter()
        .map(|axis| match &axis.domain {
            Domain::List(values) => format!(
                "`{}` ∈ {{{}}}",
                axis.key,
                values
                    .iter()
                    .map(display_value)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Domain::Range(range) => format!(
                "`{}` ∈ [{}, {}]{}",
                axis.key,
                range.min,
                range.max,
                match (range.log, range.integer) {
                    (true, true) => " (log-uniform integers)",
                    (true, false) => " (log-uniform)",
                    (false, true) => " (integers)",
                    (false, false) => "",
                }
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// leaderboard.csv read back as written, header and rows, for a reader without the
/// sweep file (`serve` shows any sweep folder); [`Leaderboard::csv`] writes it.
pub struct LeaderboardTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl LeaderboardTable {
    /// The column naming each row's trial folder, relative to the sweep folder.
    pub const RUN_COLUMN: &'static str = "run";

    /// Most columns read back: the figures and the sweep's axes.
    const MAX_COLUMNS: usize = 256;

    /// `dir`'s leaderboard.csv, or `None` before the first trial has finished.
    pub fn read(dir: &SweepDir) -> Result<Option<Self>> {
        let path = dir.leaderboard_csv();
        if !path.is_file() {
            return Ok(None);
        }
        let text = read_record(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let read = || -> Result<Self> {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let columns: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
            // A row for each trial, a column for each figure and axis: anything past
            // these is no leaderboard we wrote, and its cells would each cost a String.
            if columns.len() > Self::MAX_COLUMNS {
                bail!(
                    "it has {} columns, more than any sweep writes",
                    columns.len()
                );
            }
            let mut rows = Vec::new();
            for record in reader.records() {
                if rows.len() == MAX_TRIALS {
                    bail!("it has more rows than the {MAX_TRIALS} trials a sweep may plan");
                }
                rows.push(record?.iter().map(str::to_string).collect());
            }
            Ok(Self { columns, rows })
        };
        let table = read().with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some(table))
    }

    /// Each row's trial folder relative to the sweep folder (`trials/<name>`), if it names one.
    pub fn runs(&self) -> impl Iterator<Item = Option<&str>> {
        let column = self
            .columns
            .iter()
            .position(|name| name == Self::RUN_COLUMN);
        self.rows.iter().map(move |row| {
            let run = row.get(column?)?;
            (!run.is_empty()).then_some(run.as_str())
        })
    }
}
