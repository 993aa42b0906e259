//! The experiment description: one TOML file mapped onto typed structs, with
//! `--set section.key=value` overrides applied before validation so that a typo
//! in either place gets the same clear error.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::limits::MAX_NAME_CHARS;

mod sections;
mod validate;

pub use sections::{
    Activation, AugmentSection, DataSection, ExperimentSection, InitKind, ModelSection,
    OptimizerKind, OptimizerSection, ScheduleKind, ScheduleSection, TrainingSection,
};

/// A whole experiment: everything needed to reproduce a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub experiment: ExperimentSection,
    #[serde(default)]
    pub data: DataSection,
    #[serde(default)]
    pub model: ModelSection,
    #[serde(default)]
    pub optimizer: OptimizerSection,
    #[serde(default)]
    pub schedule: ScheduleSection,
    #[serde(default)]
    pub training: TrainingSection,
    #[serde(default)]
    pub augment: AugmentSection,
}

impl ExperimentConfig {
    /// The assignment's defaults under the experiment name `name`.
    pub fn named(name: &str) -> Self {
        Self {
            experiment: ExperimentSection {
                name: name.to_string(),
                seed: ExperimentSection::default_seed(),
                description: String::new(),
            },
            data: DataSection::default(),
            model: ModelSection::default(),
            optimizer: OptimizerSection::default(),
            schedule: ScheduleSection::default(),
            training: TrainingSection::default(),
            augment: AugmentSection::default(),
        }
    }

    /// Reads `path`, applies `overrides` (`section.key=value`), and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = fsutil::read_named_text(path, "config", "the shipped configs are in config/")?;
        refuse_unless_toml(path, "config", "the shipped configs are in config/")?;
        let table = text.parse::<toml::Table>();
        if table.is_ok_and(|table| table.contains_key("sweep")) {
            bail!(
                "{} is a sweep file, not an experiment config: run it with `mnist-mlp sweep {0}`",
                path.display()
            );
        }
        Self::parse(&text, overrides).with_context(|| format!("config {}", path.display()))
    }

    /// Parses TOML text, applies overrides and validates; errors carry the file's
    /// line and column, or with overrides the section and key.
    pub fn parse(text: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|err: toml::de::Error| anyhow::anyhow!(one_line_toml_error(&err, text)))?;
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
        }
        let has_overrides = !overrides.is_empty();
        // Without overrides, deserialisation errors point at lines of the file as written.
        let merged = if has_overrides {
            toml::to_string(&table)?
        } else {
            text.to_string()
        };
        let config: Self = toml::from_str(&merged).map_err(|err| {
            // The merged document's lines are nobody's: name the section and key instead,
            // which the user finds in the file, a --set or a sweep's [set] or [axes].
            anyhow::anyhow!(match has_overrides {
                true => keyed_toml_error(&err, &merged),
                false => one_line_toml_error(&err, &merged),
            })
        })?;
        config.validate()?;
        Ok(Self {
            data: DataSection {
                dir: fsutil::expand_home(&config.data.dir),
                ..config.data
            },
            ..config
        })
    }

    /// Layer widths from input to output: 784, hidden…, 10.
    pub fn layer_sizes(&self) -> Vec<usize> {
        std::iter::once(crate::mnist::IMAGE_PIXELS)
            .chain(self.model.hidden.iter().copied())
            .chain(std::iter::once(crate::mnist::CLASSES))
            .collect()
    }

    /// Weights plus biases, or `None` when the count overflows.
    pub fn parameter_count(&self) -> Option<usize> {
        self.layer_sizes().windows(2).try_fold(0usize, |sum, pair| {
            pair[0]
                .checked_mul(pair[1])?
                .checked_add(pair[1])?
                .checked_add(sum)
        })
    }

    /// The config as TOML, for the run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a validated config always serialises")
    }

    /// Every `section.key` with its value, as the config spells them.
    pub fn settings(&self) -> BTreeMap<String, toml::Value> {
        let table = toml::Table::try_from(self).expect("a validated config always serialises");
        table
            .into_iter()
            .flat_map(|(section, values)| match values {
                toml::Value::Table(keys) => keys
                    .into_iter()
                    .map(|(key, value)| (format!("{section}.{key}"), value))
                    .collect::<Vec<_>>(),
                value => vec![(section, value)],
            })
            .collect()
    }

    /// The settings `other` changes, as `section.key old → new`, for a message
    /// that says how two runs differ; the `section.key`s in `ignored` are not compared.
    pub fn differences(&self, other: &Self, ignored: &[&str]) -> Vec<String> {
        let (old, new) = (self.settings(), other.settings());
        let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
        keys.sort();
        keys.dedup();
        let shown =
            |value: Option<&toml::Value>| value.map_or("(unset)".to_string(), |v| v.to_string());
        keys.into_iter()
            .filter(|key| old.get(*key) != new.get(*key) && !ignored.contains(&key.as_str()))
            .map(|key| format!("{key} {} → {}", shown(old.get(key)), shown(new.get(key))))
            .collect()
    }
}

/// What `sweep` and `compare` keep beside the runs in artifacts/: no run may take these names.
const RESERVED_NAMES: [&str; 3] = ["sweeps", "comparison.md", "comparison.png"];

/// Refuses a `name` that cannot name a folder of its own under artifacts/ (a run or a
/// sweep): letters, digits, '-', '_' and '.', not starting with '.', and short enough
/// for every file system. `key` is where the name was given, for the error.
pub fn check_folder_name(key: &str, name: &str) -> Result<()> {
    let usable = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if !usable {
        bail!(
            "{key} = \"{}\" is not a usable folder name: use at most {MAX_NAME_CHARS} letters, digits, '-', '_' or '.', not starting with '.'",
            shortened(&name.escape_debug().to_string())
        );
    }
    Ok(())
}

/// Applies `section.key=value`; the value is read as TOML (number, bool, array) or
/// else taken as a bare string, so `--set model.activation=tanh` works unquoted.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let Some((path, raw_value)) = assignment.split_once('=') else {
        bail!(
            "--set {assignment:?} must look like section.key=value, e.g. --set training.epochs=3"
        );
    };
    let Some((section, key)) = path.trim().split_once('.') else {
        bail!("--set {assignment:?}: the key must name its section, e.g. optimizer.learning_rate");
    };
    let raw_value = raw_value.trim();
    let parsed = format!("v = {raw_value}")
        .parse::<toml::Table>()
        .ok()
        .filter(|parsed| parsed.len() == 1);
    // One value may span lines (a sweep's multi-line string), but `v = …` would read a
    // second setting on a line of its own as a second key, and drop it.
    if parsed.is_none() && raw_value.contains(['\n', '\r']) {
        bail!("--set {assignment:?}: the value holds a line break; give one setting per --set");
    }
    let parsed = parsed.and_then(|mut parsed| parsed.remove("v"));
    let value = match parsed {
        Some(value) => value,
        // Else it would pass as a string, and the error would say it wants a number.
        None if raw_value.parse::<i128>().is_ok() => bail!(
            "--set {assignment:?}: {raw_value} is past the largest whole number a config holds ({})",
            i64::MAX
        ),
        None => toml::Value::String(raw_value.to_string()),
    };
    let section_table = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(section_table) = section_table.as_table_mut() else {
        bail!("--set {assignment:?}: {section} is not a section");
    };
    section_table.insert(key.to_string(), value);
    Ok(())
}

/// Refuses a file not named `*.toml`. A parse error quotes the line it stopped at, and
/// from /proc/self/environ, a `.env` or a credentials file that line holds secrets,
/// which a log would keep.
pub(crate) fn refuse_unless_toml(path: &Path, what: &str, hint: &str) -> Result<()> {
    if path
        .extension()
        .is_some_and(|extension| extension == "toml")
    {
        return Ok(());
    }
    bail!(
        "{} is not a .toml file: a {what} is TOML in a file named *.toml ({hint})",
        path.display()
    )
}

/// toml's errors span several lines with a source snippet; we want one line with
/// the position and the message.
pub(crate) fn one_line_toml_error(err: &toml::de::Error, text: &str) -> String {
    let message = plain_toml_message(err);
    match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before.len() - line_start + 1;
            let source = source_line(text, line_start);
            format!("line {line}, column {column} (`{source}`): {message}")
        }
        None => message,
    }
}

/// As [`one_line_toml_error`] for a document the program wrote (a config merged with
/// its overrides): the offending line under its `[section]`, without line numbers.
fn keyed_toml_error(err: &toml::de::Error, text: &str) -> String {
    let message = plain_toml_message(err);
    let Some(span) = err.span() else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('['));
    let source = source_line(text, line_start);
    match section {
        Some(section) => format!("{section} {source}: {message}"),
        None => format!("{source}: {message}"),
    }
}

/// The line of `text` starting at `line_start`, trimmed, shortened and printable.
fn source_line(text: &str, line_start: usize) -> String {
    let source = text[line_start..].lines().next().unwrap_or("").trim();
    fsutil::printable(&shortened(source), None)
}

/// The error's message on one line, with serde's Rust type names in plain words.
fn plain_toml_message(err: &toml::de::Error) -> String {
    let mut message = err.message().trim().replace('\n', " ");
    // serde names Rust's types; a config's reader knows numbers.
    for (rust, plain) in [
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
    ] {
        message = message.replace(rust, plain);
    }
    message
}

/// `line` cut to its first 80 characters (and "…"), so that a file of one long line
/// still gives an error of one short line.
fn shortened(line: &str) -> String {
    match line.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[experiment]\nname = \"t\"\n";

    #[test]
    fn defaults_are_the_assignment_hyperparameters() {
        let config = ExperimentConfig::parse(MINIMAL, &[]).unwrap();
        assert_eq!(config.model.hidden, vec![500, 250, 100]);
        assert_eq!(config.training.batch_size, 64);
        assert_eq!(config.training.epochs, 15);
        assert_eq!(config.training.log_interval, 200);
        assert_eq!(config.optimizer.learning_rate, 0.01);
        assert_eq!(config.model.init, InitKind::XavierUniform);
        assert_eq!(config.layer_sizes(), vec![784, 500, 250, 100, 10]);
    }

    #[test]
    fn overrides_apply_before_validation() {
        let overrides = vec![
            "training.epochs=3".to_string(),
            "model.activation=tanh".to_string(),
            "model.hidden=[32, 16]".to_string(),
        ];
        let config = ExperimentConfig::parse(MINIMAL, &overrides).unwrap();
        assert_eq!(config.training.epochs, 3);
        assert_eq!(config.model.activation, Activation::Tanh);
        assert_eq!(config.model.hidden, vec![32, 16]);
    }

    #[test]
    fn a_wrong_type_set_by_an_override_is_named_by_section_and_key_not_by_line() {
        let overrides = ["training.epochs=3".to_string(), "optimizer.l2=\"x\"".into()];
        let err = ExperimentConfig::parse(MINIMAL, &overrides).unwrap_err();
        assert_eq!(
            err.to_string(),
            "[optimizer] l2 = \"x\": invalid type: string \"x\", expected a number"
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let config = ExperimentConfig::parse(MINIMAL, &["optimizer.l2=0.8".into()]).unwrap();
        let again = ExperimentConfig::parse(&config.to_toml(), &[]).unwrap();
        assert_eq!(config, again);
    }

    fn error_of(text: &str, overrides: &[&str]) -> String {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        format!(
            "{:#}",
            ExperimentConfig::parse(text, &overrides).unwrap_err()
        )
    }

    #[test]
    fn a_sweep_file_given_as_a_config_is_named_for_what_it_is() {
        let sweeps = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sweeps/l2.toml");
        let err = format!("{:#}", ExperimentConfig::load(&sweeps, &[]).unwrap_err());
        let path = sweeps.display();
        let expected = format!(
            "{path} is a sweep file, not an experiment config: run it with `mnist-mlp sweep {path}`"
        );
        assert_eq!(err, expected);
    }

    #[test]
    fn a_run_may_not_log_more_costs_than_its_metrics_file_holds() {
        let every_batch = |epochs: usize| {
            let epochs = format!("training.epochs={epochs}");
            let overrides = ["training.batch_size=1", "training.log_interval=1", &epochs];
            ExperimentConfig::parse(MINIMAL, &overrides.map(String::from)).unwrap()
        };
        every_batch(34).check_cost_rows(60_000).unwrap();
        every_batch(60).check_cost_rows(600).unwrap();
        assert_eq!(
            format!("{:#}", every_batch(60).check_cost_rows(60_000).unwrap_err()),
            "[training] log_interval = 1 logs the cost 3600000 times over 60 epochs of batch 1, more than the 2097152 rows metrics.csv may hold: log every 2 iterations or more"
        );
    }

    #[test]
    fn an_empty_data_folder_is_refused_rather_than_taken_as_the_working_folder() {
        assert_eq!(
            error_of(MINIMAL, &["data.dir=\"\""]),
            "[data] dir is empty: give the folder holding the MNIST files, or leave the key out for ./data (or $MNIST_DATA_DIR)"
        );
    }

    #[test]
    fn a_model_deeper_than_a_saved_model_may_be_is_refused() {
        let deep = |layers: usize| format!("model.hidden={:?}", vec![4; layers]);
        ExperimentConfig::parse(MINIMAL, &[deep(511)]).unwrap();
        assert_eq!(
            error_of(MINIMAL, &[&deep(512)]),
            "[model] hidden has 512 layers, more than the 511 a saved model may hold: use fewer"
        );
    }

    #[test]
    fn a_quoted_line_shows_control_characters_as_escapes() {
        let err = error_of("[experiment]\nname = \"t\" # \u{1b}[2J\n", &[]);
        assert!(err.contains("(`name = \"t\" # \\u{1b}[2J`)"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = error_of(
            "[experiment]\nname = \"t\"\n[optimizer]\nlearnig_rate = 0.1\n",
            &[],
        );
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("learnig_rate"), "{err}");
        assert!(err.contains("learning_rate"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn bad_values_name_key_and_fix() {
        let description = format!("experiment.description={:?}", "x".repeat(1001));
        let dir = format!("data.dir={:?}", "d".repeat(5000));
        let cases: &[(&[&str], &str)] = &[
            (&["optimizer.learning_rate=-1"], "learning_rate"),
            (&["optimizer.learning_rate=nan"], "learning_rate"),
            (&["optimizer.learning_rate=inf"], "learning_rate"),
            (&["optimizer.l2=-0.5"], "l2"),
            (&["training.epochs=0"], "epochs"),
            (
                &["training.epochs=4000000000000000000"],
                "between 1 and 100000",
            ),
            (&["training.batch_size=0"], "batch_size"),
            (&["training.batch_size=60001"], "batch_size"),
            (&["model.hidden=[]"], "hidden"),
            (&["training.epochs=2\nmodel.hidden=[64]"], "line break"),
            (&[&description], "description"),
            (&[&dir], "[data] dir"),
            (&["model.hidden=[10, 0]"], "hidden[1]"),
            (&["model.hidden=[1000000, 1000000]"], "memory"),
            (&["model.activation=relux"], "relux"),
            (&["optimizer.name=rmsprop"], "rmsprop"),
            (&["model.init=ones"], "ones"),
            (&["training.epochs=\"ten\""], "epochs"),
            (&["training.nope=1"], "nope"),
            (&["epochs=3"], "section"),
            (&["model.dropout=1"], "dropout"),
            (&["data.validation=60000"], "validation"),
            (&["training.early_stopping=3"], "validation"),
            (
                &["data.validation=100", "training.evaluate_every_epoch=false"],
                "unused",
            ),
            (&["optimizer.momentum=1.5"], "momentum"),
            (
                &["optimizer.name=adam", "optimizer.momentum=0.9"],
                "SGD only",
            ),
            (&["optimizer.nesterov=true"], "nesterov"),
            (&["optimizer.weight_decay=0.01"], "adamw"),
            (
                &["schedule.kind=cosine", "optimizer.learning_rate=2"],
                "at most 1",
            ),
            (&["schedule.kind=linear"], "linear"),
            (&["schedule.warmup_epochs=15"], "warmup_epochs"),
            (&["schedule.gamma=0"], "gamma"),
            (&["schedule.min_lr=0.5"], "min_lr"),
            (&["augment.translate=5"], "translate"),
            (&["augment.elastic_alpha=-1"], "elastic_alpha"),
            (&["augment.elastic_sigma=0"], "elastic_sigma"),
            (&["augment.rotate=-1"], "rotate"),
        ];
        for (overrides, needle) in cases {
            let err = error_of(MINIMAL, overrides);
            assert!(err.contains(needle), "{overrides:?}: {err}");
            assert!(!err.contains('\n'), "{overrides:?}: {err}");
        }
    }

    #[test]
    fn unknown_activation_lists_the_allowed_names() {
        let err = error_of(MINIMAL, &["model.activation=relux"]);
        assert!(
            err.contains("sigmoid") && err.contains("tanh") && err.contains("relu"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_shows_line_and_column() {
        let err = error_of("[experiment]\nname = \"t\"\nseed = = 3\n", &[]);
        assert!(err.starts_with("line 3, column"), "{err}");
    }

    #[test]
    fn only_plain_short_names_can_name_a_run_folder() {
        let longest = "a".repeat(MAX_NAME_CHARS);
        for name in ["relu", "relu_l2-0.8", longest.as_str()] {
            assert!(
                check_folder_name("[experiment] name", name).is_ok(),
                "{name}"
            );
        }
        let too_long = "a".repeat(MAX_NAME_CHARS + 1);
        for name in [
            "", "../x", "/abs", "a/b", ".hidden", "ünï", "a\nb", &too_long,
        ] {
            let err = check_folder_name("[experiment] name", name).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("[experiment] name = \""), "{message}");
            assert!(message.contains("is not a usable folder name"), "{message}");
            assert!(!message.contains('\n') && message.len() < 250, "{message}");
        }
    }

    #[test]
    fn an_error_in_a_long_line_quotes_only_its_start() {
        let long_line = format!("name = \"{}\" x", "é".repeat(10_000));
        let err = error_of(&format!("[experiment]\n{long_line}\n"), &[]);
        let quoted = format!("(`name = \"{}…`)", "é".repeat(72));
        assert!(err.starts_with("line 2, column"), "{err}");
        assert!(err.contains(&quoted), "{err}");
        assert!(err.len() < 400, "{err}");
    }

    #[test]
    fn differences_name_each_changed_setting() {
        let base = ExperimentConfig::parse(MINIMAL, &[]).unwrap();
        let overrides = ["training.epochs=3", "optimizer.learning_rate=0.05"].map(String::from);
        let changed = ExperimentConfig::parse(MINIMAL, &overrides).unwrap();
        assert_eq!(
            base.differences(&changed, &[]),
            vec![
                "optimizer.learning_rate 0.01 → 0.05",
                "training.epochs 15 → 3"
            ]
        );
        assert_eq!(
            base.differences(&changed, &["training.epochs"]),
            vec!["optimizer.learning_rate 0.01 → 0.05"]
        );
        assert!(base.differences(&base, &[]).is_empty());
    }

    #[test]
    fn settings_display_as_the_config_spells_them() {
        let config = ExperimentConfig::parse(
            MINIMAL,
            &[
                "schedule.kind=cosine",
                "schedule.warmup_epochs=1",
                "model.init=he_uniform",
            ]
            .map(String::from),
        )
        .unwrap();
        let settings = config.settings();
        assert_eq!(settings["schedule.kind"].as_str(), Some("cosine"));
        assert_eq!(settings["schedule.warmup_epochs"].as_integer(), Some(1));
        assert_eq!(settings["model.init"].as_str(), Some("he_uniform"));
        assert_eq!(config.model.init.to_string(), "he_uniform");
        for init in ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal"] {
            let set = [format!("model.init={init}")];
            let parsed = ExperimentConfig::parse(MINIMAL, &set).unwrap();
            assert_eq!(parsed.model.init.to_string(), init);
        }
    }

    #[test]
    fn names_of_our_own_folders_are_refused() {
        let err = error_of(MINIMAL, &["experiment.name=sweeps"]);
        assert!(err.contains("sweeps"), "{err}");
        assert!(
            err.contains("is taken: the artifacts folder keeps"),
            "{err}"
        );
    }

    #[test]
    fn missing_experiment_name_is_an_error() {
        let err = error_of("[training]\nepochs = 1\n", &[]);
        assert!(err.contains("experiment"), "{err}");
    }
}
