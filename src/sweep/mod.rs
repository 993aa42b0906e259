//! Hyperparameter sweeps. A sweep file names a base experiment config and axes over
//! any of its keys (in `--set` syntax), searched as a grid or at random; it expands
//! into numbered trials, each an ordinary experiment config. Every trial is built and
//! validated before anything runs, so a typo fails at once rather than at trial 37.
//!
//! Running them: [`runner`] chooses the trials and runs them in process or as
//! [`children`], each an [`attempt`] under its lock, with Ctrl-C fanned out by
//! [`stop`]; [`publish`] rebuilds the [`leaderboard`] and its [`plots`] after each, and
//! [`final_run`] retrains the winner on every training image.

pub mod attempt;
pub mod children;
pub mod final_run;
pub mod folder;
pub mod leaderboard;
pub mod plots;
pub mod publish;
pub mod runner;
pub mod stop;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;

use crate::config::{ExperimentConfig, check_folder_name, one_line_toml_error, refuse_unless_toml};
use crate::fsutil;
use crate::limits::MAX_TRIALS;

/// Held-out training images when the sweep file does not say: MNIST's usual 50k/10k split.
const DEFAULT_VALIDATION: usize = 10_000;
/// Keys the sweep sets on every trial itself, with what to do instead.
const RESERVED: [(&str, &str); 2] = [
    ("experiment.name", "every trial is named trial-KKK"),
    ("data.validation", "set [sweep] validation instead"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    sweep: SweepSection,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    axes: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSection {
    name: Option<String>,
    base: PathBuf,
    #[serde(default)]
    mode: Mode,
    trials: Option<usize>,
    seed: Option<u64>,
    #[serde(default = "default_validation")]
    validation: usize,
}

impl SweepSection {
    /// `name`, else the sweep file's stem: the sweep's folder under `sweeps/`.
    fn folder_name(&self, file: &Path) -> Result<String> {
        let name = match &self.name {
            Some(name) => name.clone(),
            None => file
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        check_folder_name("[sweep] name", &name)?;
        Ok(name)
    }

    /// How many trials random search draws (None for the other modes), refusing
    /// the keys that do not belong to the mode.
    fn trial_count(&self) -> Result<Option<usize>> {
        Ok(match (self.mode, self.trials, self.seed) {
            (Mode::Grid, Some(_), _) => bail!(
                "[sweep] trials applies to mode = \"random\": a grid runs every combination of its axes"
            ),
            (Mode::Grid, _, Some(_)) => {
                bail!("[sweep] seed applies to mode = \"random\": a grid draws nothing")
            }
            (Mode::Paired, trials, seed) if trials.is_some() || seed.is_some() => bail!(
                "[sweep] trials and seed apply to mode = \"random\": a paired sweep runs one trial per position of its lists"
            ),
            (Mode::Random, None, _) => bail!(
                "[sweep] trials is missing: mode = \"random\" needs the number of trials to draw, e.g. trials = 20"
            ),
            (Mode::Random, Some(0), _) => bail!("[sweep] trials = 0 must be at least 1"),
            (Mode::Random, Some(trials), _) if trials > MAX_TRIALS => bail!(
                "[sweep] trials = {trials} is above the limit of {MAX_TRIALS} trials: draw fewer (a few dozen find good settings)"
            ),
            (_, trials, _) => trials,
        })
    }
}

/// The `[set]` keys as `key=value` and the `[axes]`, each key checked and none twice.
fn keys(set: toml::Table, axes: toml::Table, mode: Mode) -> Result<(Vec<String>, Vec<Axis>)> {
    let mut seen = HashSet::new();
    let mut fixed = Vec::new();
    for (key, value) in flatten(set) {
        check_key(&key, "[set]", &mut seen)?;
        fixed.push(assignment(&key, &value));
    }
    let axes = flatten(axes)
        .into_iter()
        .map(|(key, value)| {
            check_key(&key, "[axes]", &mut seen)?;
            Axis::new(key, value, mode)
        })
        .collect::<Result<Vec<_>>>()?;
    if axes.is_empty() {
        bail!("[axes] is empty: sweep at least one key, e.g. \"optimizer.l2\" = [0.0, 0.4, 0.8]");
    }
    Ok((fixed, axes))
}

fn default_validation() -> usize {
    DEFAULT_VALIDATION
}

/// How the axes' values combine into trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every combination, first axis slowest.
    #[default]
    Grid,
    /// `trials` draws, reproducible from `seed`.
    Random,
    /// Lists of one length, trial K taking each axis's K-th value: settings that
    /// belong together, such as a model and the epochs that give it the same compute.
    Paired,
}

/// Where one axis takes its values from.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// Grid: each value in turn; random: one drawn uniformly.
    List(Vec<toml::Value>),
    /// Random search only.
    Range(Range),
}

/// `{ min = …, max = … }`, optionally `log = true` (log-uniform) and `integer = true`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: f64,
    pub max: f64,
    #[serde(default)]
    pub log: bool,
    #[serde(default)]
    pub integer: bool,
}

/// One swept config key.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// In `--set` syntax, e.g. `optimizer.l2`.
    pub key: String,
    pub domain: Domain,
}

/// One point of the sweep: an experiment config named `trial-KKK`.
#[derive(Debug, Clone)]
pub struct Trial {
    pub index: usize,
    /// One value per axis, in the axes' order.
    pub values: Vec<toml::Value>,
    /// `key=value` of each axis, for people: what sets this trial apart.
    pub label: String,
    /// Everything applied to the base config, in `--set` syntax: the fixed keys, the
    /// validation split, the axis values and the name.
    pub overrides: Vec<String>,
    pub config: ExperimentConfig,
}

/// A parsed sweep file with all its trials planned and validated.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub file: PathBuf,
    pub name: String,
    /// The base config's path, as resolved from the sweep file's folder.
    pub base: PathBuf,
    /// The base config re-serialised: trials are parsed from it, and comments or
    /// layout changes do not count as a different plan.
    pub base_config: String,
    pub mode: Mode,
    /// Random search's seed (0 for a grid).
    pub seed: u64,
    pub validation: usize,
    /// The `[set]` keys as `key=value`.
    pub fixed: Vec<String>,
    pub axes: Vec<Axis>,
    pub trials: Vec<Trial>,
}

/// A trial's experiment name and run folder name.
pub fn trial_name(index: usize) -> String {
    format!("trial-{index:03}")
}

/// A value as people read it: strings bare (their control characters escaped),
/// everything else as TOML writes it.
pub fn display_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => fsutil::printable(text, None),
        other => other.to_string(),
    }
}

impl Sweep {
    /// Reads the sweep file and its base config, and plans and validates every trial.
    pub fn load(file: &Path) -> Result<Self> {
        let text = fsutil::read_named_text(file, "sweep file", "examples are in config/sweeps/")?;
        refuse_unless_toml(file, "sweep file", "examples are in config/sweeps/")?;
        Self::parse(file, &text).with_context(|| format!("sweep {}", file.display()))
    }

    fn parse(file: &Path, text: &str) -> Result<Self> {
        let table = text.parse::<toml::Table>();
        let experiment = |table: &toml::Table| {
            !table.contains_key("sweep")
                && ["experiment", "model", "training"]
                    .iter()
                    .any(|key| table.contains_key(*key))
        };
        if table.is_ok_and(|table| experiment(&table)) {
            bail!(
                "it is an experiment config, not a sweep file: train it with `mnist-mlp {}`, or name it as a sweep file's [sweep] base",
                file.display()
            );
        }
        let raw: SweepFile =
            toml::from_str(text).map_err(|err| anyhow!(one_line_toml_error(&err, text)))?;
        let section = raw.sweep;
        let name = section.folder_name(file)?;
        if section.validation == 0 {
            bail!(
                "[sweep] validation = 0 must be at least 1: trials are ranked on held-out training images, never on the test set (e.g. 10000)"
            );
        }
        let count = section.trial_count()?;
        let base = file
            .parent()
            .unwrap_or(Path::new(""))
            .join(fsutil::expand_home(&section.base));
        let base_config = read_base(&base, &section.base)?;

        let (fixed, axes) = keys(raw.set, raw.axes, section.mode)?;
        let seed = section.seed.unwrap_or(0);
        let mut sweep = Self {
            file: file.to_path_buf(),
            name,
            base,
            base_config,
            mode: section.mode,
            seed,
            validation: section.validation,
            fixed,
            axes,
            trials: Vec::new(),
        };
        let trials = points(&sweep.axes, sweep.mode, count, seed)?
            .enumerate()
            .map(|(index, values)| sweep.plan_trial(index, values))
            .collect::<Result<_>>()?;
        sweep.trials = trials;
        Ok(sweep)
    }

    /// Trial `index` with `values` on the axes, validated as `--set` overrides are.
    fn plan_trial(&self, index: usize, values: Vec<toml::Value>) -> Result<Trial> {
        let label = self
            .axes
            .iter()
            .zip(&values)
            .map(|(axis, value)| format!("{}={}", axis.key, display_value(value)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut overrides = self.fixed.clone();
        overrides.push(format!("data.validation={}", self.validation));
        overrides.extend(
            self.axes
                .iter()
                .zip(&values)
                .map(|(axis, value)| assignment(&axis.key, value)),
        );
        overrides.push(format!("experiment.name={}", trial_name(index)));
        let config = ExperimentConfig::parse(&self.base_config, &overrides)
            .with_context(|| format!("trial {index} ({})", fsutil::printable_name(&label)))?;
        Ok(Trial {
            index,
            values,
            label,
            overrides,
            config,
        })
    }
}

/// The base config as a TOML document, checked for syntax here so that its errors
/// name the file rather than a trial.
fn read_base(path: &Path, as_written: &Path) -> Result<String> {
    let hint = format!(
        "[sweep] base = {:?} is relative to the sweep file",
        as_written.display()
    );
    let text = fsutil::read_named_text(path, "the base config", &hint)?;
    refuse_unless_toml(
        path,
        "base config",
        "base names the experiment config every trial starts from, e.g. base = \"../relu.toml\"",
    )?;
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        anyhow!(
            "base config {}: {}",
            path.display(),
            one_line_toml_error(&err, &text)
        )
    })?;
    if table.contains_key("sweep") {
        bail!(
            "[sweep] base = {:?} is a sweep file: base names the experiment config every trial starts from, e.g. base = \"../relu.toml\"",
            as_written.display()
        );
    }
    Ok(table.to_string())
}

/// `key=value` with the value written as TOML, so `--set` reads back exactly it.
fn assignment(key: &str, value: &toml::Value) -> String {
    format!("{key}={value}")
}

/// `[set]` and `[axes]` entries keyed as `--set` keys: a quoted `"section.key"` as
/// written, and the nested tables TOML makes of a bare `section.key = …` spelled out
/// (a range's `{ min, max }` stays a value).
fn flatten(table: toml::Table) -> Vec<(String, toml::Value)> {
    let mut flat = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(section)
                if !key.contains('.')
                    && !section.contains_key("min")
                    && !section.contains_key("max") =>
            {
                flat.extend(
                    section
                        .into_iter()
                        .map(|(inner, value)| (format!("{key}.{inner}"), value)),
                );
            }
            value => flat.push((key, value)),
        }
    }
    flat
}

/// Refuses the keys the sweep sets itself and a key given twice.
fn check_key(key: &str, table: &str, seen: &mut HashSet<String>) -> Result<()> {
    if let Some((_, instead)) = RESERVED.iter().find(|(reserved, _)| *reserved == key) {
        bail!("{table} {key}: the sweep sets this key itself ({instead})");
    }
    if !seen.insert(key.to_string()) {
        bail!("{table} {key}: the key appears twice in [set] and [axes]: give it once");
    }
    Ok(())
}

impl Axis {
    fn new(key: String, value: toml::Value, mode: Mode) -> Result<Self> {
        let domain = match (mode, value) {
            (_, toml::Value::Array(values)) if values.is_empty() => {
                bail!("[axes] {key} = []: give at least one value")
            }
            (_, toml::Value::Array(values)) => Domain::List(values),
            (Mode::Random, toml::Value::Table(table)) => Domain::Range(Range::new(&key, table)?),
            (Mode::Grid | Mode::Paired, value) => bail!(
                "[axes] {key} = {value}: a {} axis is a list of values, e.g. [0.1, 0.2] (a range {{ min, max }} needs mode = \"random\")",
                if mode == Mode::Grid { "grid" } else { "paired" }
            ),
            (Mode::Random, value) => bail!(
                "[axes] {key} = {value}: give a list to choose from, or a range {{ min = …, max = … }}"
            ),
        };
        Ok(Self { key, domain })
    }
}

impl Range {
    fn new(key: &str, table: toml::Table) -> Result<Self> {
        let range: Self = toml::Value::Table(table)
            .try_into()
            .map_err(|err: toml::de::Error| {
                anyhow!(
                    "[axes] {key}: {} (a range is {{ min = …, max = …, log = true|false, integer = true|false }})",
                    err.message().trim()
                )
            })?;
        let Self {
            min,
            max,
            log,
            integer,
        } = range;
        if !(min.is_finite() && max.is_finite() && min < max) {
            bail!("[axes] {key}: min = {min} must be below max = {max}, both finite");
        }
        if log && min <= 0.0 {
            bail!(
                "[axes] {key}: a log range needs min > 0 (got {min}); e.g. {{ min = 1e-4, max = 0.1, log = true }}"
            );
        }
        if integer && (min.fract() != 0.0 || max.fract() != 0.0) {
            bail!("[axes] {key}: an integer range needs whole min and max (got {min} and {max})");
        }
        Ok(range)
    }

    /// One value: uniform (or log-uniform) in [min, max]; integral when asked, else
    /// rounded to 4 significant digits so that labels stay readable.
    fn draw(&self, rng: &mut StdRng) -> toml::Value {
        let (min, max) = (self.min, self.max);
        if self.integer && !self.log {
            return toml::Value::Integer(rng.random_range(min as i64..=max as i64));
        }
        let u: f64 = rng.random();
        let x = if self.log {
            (min.ln() + u * (max.ln() - min.ln())).exp()
        } else {
            min + u * (max - min)
        };
        if self.integer {
            toml::Value::Integer(x.round().clamp(min, max) as i64)
        } else {
            let rounded: f64 = format!("{x:.3e}").parse().unwrap_or(x);
            toml::Value::Float(rounded.clamp(min, max))
        }
    }
}

/// The trials' axis values, one trial at a time: a value of one axis is repeated in
/// many trials, so each is validated before the next is made, and a long bad value
/// fails the first trial instead of filling memory with thousands of copies.
fn points<'a>(
    axes: &'a [Axis],
    mode: Mode,
    count: Option<usize>,
    seed: u64,
) -> Result<Box<dyn Iterator<Item = Vec<toml::Value>> + 'a>> {
    Ok(match (mode, count) {
        (Mode::Random, Some(count)) => Box::new(sample(axes, count, seed)),
        (Mode::Paired, _) => Box::new(paired(axes)?),
        _ => Box::new(grid(axes)?),
    })
}

/// Each axis's list of values (grids and paired sweeps, whose axes are lists).
fn lists(axes: &[Axis]) -> Vec<&[toml::Value]> {
    axes.iter()
        .map(|axis| match &axis.domain {
            Domain::List(values) => values.as_slice(),
            Domain::Range(_) => unreachable!("Axis::new refuses ranges outside random search"),
        })
        .collect()
}

/// Trial K takes the K-th value of every axis; the lists must be of one length.
fn paired(axes: &[Axis]) -> Result<impl Iterator<Item = Vec<toml::Value>> + '_> {
    let lists = lists(axes);
    let count = lists[0].len();
    if let Some((axis, list)) = axes
        .iter()
        .zip(&lists)
        .find(|(_, list)| list.len() != count)
    {
        bail!(
            "[axes] {} has {} values but {} has {count}: a paired sweep's lists pair up one to one, so give them one length",
            axis.key,
            list.len(),
            axes[0].key
        );
    }
    if count > MAX_TRIALS {
        bail!("the paired lists have more than {MAX_TRIALS} trials: use fewer values");
    }
    Ok((0..count).map(move |index| lists.iter().map(|list| list[index].clone()).collect()))
}

/// Every combination of the axes' lists, the first axis slowest.
fn grid(axes: &[Axis]) -> Result<impl Iterator<Item = Vec<toml::Value>> + '_> {
    let lists = lists(axes);
    let count = lists
        .iter()
        .try_fold(1usize, |count, list| count.checked_mul(list.len()))
        .filter(|&count| count <= MAX_TRIALS)
        .ok_or_else(|| {
            anyhow!(
                "the grid has more than {MAX_TRIALS} trials: use fewer values, or mode = \"random\" with a number of trials"
            )
        })?;
    Ok((0..count).map(move |mut index| {
        let mut point = vec![toml::Value::Boolean(false); lists.len()];
        for (slot, list) in point.iter_mut().zip(&lists).rev() {
            *slot = list[index % list.len()].clone();
            index /= list.len();
        }
        point
    }))
}

/// `count` points drawn from the axes, the same for the same seed.
fn sample(axes: &[Axis], count: usize, seed: u64) -> impl Iterator<Item = Vec<toml::Value>> + '_ {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).map(move |_| {
        axes.iter()
            .map(|axis| match &axis.domain {
                Domain::List(values) => values[rng.random_range(0..values.len())].clone(),
                Domain::Range(range) => range.draw(&mut rng),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[experiment]\nname = \"base\"\n[model]\nhidden = [16]\n";

    /// Writes the base config and `sweep` into a temporary folder and loads the sweep.
    fn load(sweep: &str) -> Result<Sweep> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.toml"), BASE).unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, sweep).unwrap();
        Sweep::load(&file)
    }

    fn error_of(sweep: &str) -> String {
        let err = format!("{:#}", load(sweep).unwrap_err());
        assert!(!err.contains('\n'), "{err}");
        err
    }

    fn values(sweep: &Sweep) -> Vec<Vec<String>> {
        sweep
            .trials
            .iter()
            .map(|t| t.values.iter().map(display_value).collect())
            .collect()
    }

    #[test]
    fn grid_is_the_product_with_the_first_axis_slowest() {
        let sweep = load(
            "[sweep]\nname = \"g\"\nbase = \"base.toml\"\nvalidation = 100\n\
             [set]\n\"training.epochs\" = 2\n\
             [axes]\n\"optimizer.name\" = [\"sgd\", \"adam\"]\noptimizer.learning_rate = [0.01, 0.1, 1.0]\n",
        )
        .unwrap();
        assert_eq!(sweep.name, "g");
        let keys: Vec<&str> = sweep.axes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["optimizer.name", "optimizer.learning_rate"]);
        assert_eq!(
            values(&sweep),
            [
                ["sgd", "0.01"],
                ["sgd", "0.1"],
                ["sgd", "1.0"],
                ["adam", "0.01"],
                ["adam", "0.1"],
                ["adam", "1.0"],
            ]
        );
        let trial = &sweep.trials[4];
        assert_eq!(
            trial.label,
            "optimizer.name=adam, optimizer.learning_rate=0.1"
        );
        assert_eq!(trial.config.experiment.name, "trial-004");
        assert_eq!(
            trial.config.optimizer.name,
            crate::config::OptimizerKind::Adam
        );
        assert_eq!(trial.config.optimizer.learning_rate, 0.1);
        assert_eq!(trial.config.training.epochs, 2);
        assert_eq!(trial.config.data.validation, 100);
        assert_eq!(trial.config.model.hidden, [16]);
    }

    #[test]
    fn a_paired_sweep_takes_the_kth_value_of_every_axis() {
        let head = "[sweep]\nbase = \"base.toml\"\nmode = \"paired\"\n";
        let sweep = load(&format!(
            "{head}[axes]\n\"model.hidden\" = [[8], [32, 16]]\n\"training.epochs\" = [6, 2]\n"
        ))
        .unwrap();
        assert_eq!(values(&sweep), [["[8]", "6"], ["[32, 16]", "2"]]);
        assert_eq!(sweep.trials[1].config.model.hidden, [32, 16]);
        assert_eq!(sweep.trials[1].config.training.epochs, 2);
        let err = error_of(&format!(
            "{head}[axes]\n\"model.hidden\" = [[8], [16]]\n\"training.epochs\" = [6, 4, 2]\n"
        ));
        assert!(
            err.ends_with("[axes] training.epochs has 3 values but model.hidden has 2: a paired sweep's lists pair up one to one, so give them one length"),
            "{err}"
        );
        for extra in ["trials = 3\n", "seed = 1\n"] {
            let err = error_of(&format!(
                "{head}{extra}[axes]\n\"training.epochs\" = [6, 2]\n"
            ));
            assert!(err.ends_with("[sweep] trials and seed apply to mode = \"random\": a paired sweep runs one trial per position of its lists"), "{err}");
        }
        let err = error_of(&format!(
            "{head}[axes]\n\"training.epochs\" = {{ min = 1, max = 4 }}\n"
        ));
        assert!(err.contains("a paired axis is a list of values"), "{err}");
    }

    #[test]
    fn array_values_make_a_categorical_axis() {
        let sweep =
            load("[sweep]\nbase = \"base.toml\"\n[axes]\n\"model.hidden\" = [[100], [500, 250]]\n")
                .unwrap();
        assert_eq!(sweep.name, "s", "the file's stem names an unnamed sweep");
        assert_eq!(sweep.trials[1].config.model.hidden, [500, 250]);
        assert_eq!(sweep.trials[1].label, "model.hidden=[500, 250]");
        assert_eq!(sweep.validation, DEFAULT_VALIDATION);
    }

    const RANDOM: &str = "[sweep]\nbase = \"base.toml\"\nmode = \"random\"\ntrials = 40\nseed = 7\n\
        [axes]\n\"optimizer.learning_rate\" = { min = 1e-3, max = 0.3, log = true }\n\
        \"training.batch_size\" = { min = 16, max = 256, integer = true }\n\
        \"optimizer.l2\" = { min = 0.0, max = 1.0 }\n\
        \"model.activation\" = [\"relu\", \"tanh\"]\n";

    #[test]
    fn random_search_is_reproducible_and_within_its_ranges() {
        let sweep = load(RANDOM).unwrap();
        assert_eq!(sweep.trials.len(), 40);
        assert_eq!(values(&sweep), values(&load(RANDOM).unwrap()));
        let other = load(&RANDOM.replace("seed = 7", "seed = 8")).unwrap();
        assert_ne!(values(&sweep), values(&other));
        let mut below_geometric_middle = 0;
        for trial in &sweep.trials {
            let lr = trial.values[0].as_float().unwrap();
            assert!((1e-3..=0.3).contains(&lr), "{lr}");
            // Log-uniform: about half fall below √(0.001·0.3) ≈ 0.017, far fewer if uniform.
            below_geometric_middle += usize::from(lr < (1e-3f64 * 0.3).sqrt());
            let batch = trial.values[1].as_integer().unwrap();
            assert!((16..=256).contains(&batch), "{batch}");
            assert_eq!(trial.config.training.batch_size, batch as usize);
            let l2 = trial.values[2].as_float().unwrap();
            assert!((0.0..=1.0).contains(&l2), "{l2}");
            assert!(["relu", "tanh"].contains(&trial.values[3].as_str().unwrap()));
        }
        assert!(
            (10..=30).contains(&below_geometric_middle),
            "{below_geometric_middle} of 40 below the geometric middle"
        );
    }

    #[test]
    fn a_bad_axis_key_is_named_in_one_line() {
        let err =
            error_of("[sweep]\nbase = \"base.toml\"\n[axes]\n\"optimizer.l3\" = [0.1, 0.2]\n");
        assert!(err.contains("trial 0"), "{err}");
        assert!(err.contains("l3"), "{err}");
        let err = error_of(BASE);
        assert!(
            err.contains("it is an experiment config, not a sweep file: train it with `mnist-mlp "),
            "{err}"
        );
        let err = error_of("[sweep]\nbase = \"s.toml\"\n[axes]\nl2 = [0.1]\n");
        assert!(err.contains("base = \"s.toml\" is a sweep file"), "{err}");
        let err = error_of("[sweep]\nbase = \"base.toml\"\n[axes]\nl2 = [0.1]\n");
        assert!(err.contains("l2") && err.contains("section"), "{err}");
    }

    #[test]
    fn a_bad_value_names_its_trial() {
        let err =
            error_of("[sweep]\nbase = \"base.toml\"\n[axes]\n\"optimizer.l2\" = [0.1, -1, 0.2]\n");
        assert!(err.contains("trial 1 (optimizer.l2=-1)"), "{err}");
        assert!(err.contains("[optimizer] l2 = -1"), "{err}");
        assert!(err.contains("s.toml"), "{err}");
    }

    #[test]
    fn malformed_sweep_files_get_one_clear_line() {
        let cases = [
            ("[axes]\n\"optimizer.l2\" = 0.1\n", "a grid axis is a list"),
            ("[axes]\n\"optimizer.l2\" = []\n", "at least one value"),
            ("[axes]\n", "[axes] is empty"),
            ("nme = \"x\"\n[axes]\n\"optimizer.l2\" = [0.1]\n", "nme"),
            (
                "trials = 3\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "trials applies",
            ),
            (
                "validation = 0\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "validation = 0",
            ),
            (
                "name = \"a/b\"\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "folder name",
            ),
            (
                "[axes]\n\"experiment.name\" = [\"x\"]\n",
                "sets this key itself",
            ),
            (
                "[set]\n\"data.validation\" = 5\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "[sweep] validation",
            ),
            (
                "[set]\n\"optimizer.l2\" = 0.1\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "twice",
            ),
            (
                "mode = \"random\"\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "trials is missing",
            ),
            (
                "mode = \"random\"\ntrials = 2\n[axes]\n\"optimizer.l2\" = { min = 1, max = 1 }\n",
                "below max",
            ),
            (
                "mode = \"random\"\ntrials = 2\n[axes]\n\"optimizer.l2\" = { min = 0, max = 1, log = true }\n",
                "min > 0",
            ),
            (
                "mode = \"random\"\ntrials = 2\n[axes]\n\"optimizer.l2\" = { min = 0, mx = 1 }\n",
                "mx",
            ),
            (
                "mode = \"random\"\ntrials = 2\n[axes]\n\"training.epochs\" = { min = 1.5, max = 3, integer = true }\n",
                "whole",
            ),
            (
                "mode = \"sideways\"\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "sideways",
            ),
            (
                "mode = \"random\"\ntrials = 100000000\n[axes]\n\"optimizer.l2\" = [0.1]\n",
                "limit of 10000 trials",
            ),
        ];
        for (rest, needle) in cases {
            let text = format!("[sweep]\nbase = \"base.toml\"\n{rest}");
            let err = error_of(&text);
            assert!(err.contains(needle), "{rest:?}: {err}");
        }
        // 101 × 100 combinations: refused from the axes' lengths, before any is planned.
        let values = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        let err = error_of(&format!(
            "[sweep]\nbase = \"base.toml\"\n[axes]\n\"training.epochs\" = [{}]\n\"training.batch_size\" = [{}]\n",
            values(101),
            values(100)
        ));
        assert!(err.contains("more than 10000 trials"), "{err}");
        let err = error_of("[sweep]\nbase = \"missing.toml\"\n[axes]\n\"optimizer.l2\" = [0.1]\n");
        assert!(err.contains("missing.toml"), "{err}");
    }
}
