//! What is inside a saved model: the format, the metadata, and per tensor its
//! name, shape, dtype and summary statistics; for a run folder also the
//! checkpoints with their epochs' figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{BurnpackStore, ModuleStore, SafetensorsStore};
use burn::tensor::DType;

use crate::fsutil;
use crate::fsutil::{printable, printable_name};
use crate::model::layers_text;
use crate::run_files::history::{EpochRecord, EvalSplit};
use crate::run_files::{CHECKPOINT_PARTS, RunDir};
use crate::weights::pytorch_file;
use crate::weights::state_dict::read_metadata;
use crate::weights::state_dict::{self, WeightsFormat};

/// Summary statistics of one tensor (`None` for non-float dtypes).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorStats {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub values: Option<Stats>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub l2_norm: f64,
}

impl Stats {
    pub fn of(values: impl Iterator<Item = f64>) -> Option<Self> {
        let (mut n, mut sum, mut squares) = (0usize, 0.0, 0.0);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            n += 1;
            sum += v;
            squares += v * v;
            min = min.min(v);
            max = max.max(v);
        }
        (n > 0).then(|| {
            let mean = sum / n as f64;
            // Rounding can make the variance slightly negative; a NaN in the tensor
            // must stay NaN rather than be clamped to a plausible 0.
            let variance = squares / n as f64 - mean * mean;
            Self {
                mean,
                std: if variance.is_nan() {
                    variance
                } else {
                    variance.max(0.0).sqrt()
                },
                min,
                max,
                l2_norm: squares.sqrt(),
            }
        })
    }
}

/// Reads every tensor and computes its statistics.
fn collect_stats(tensors: &BTreeMap<String, PackTensor>, path: &Path) -> Result<Vec<TensorStats>> {
    tensors
        .values()
        .map(|tensor| {
            let bytes = tensor.to_bytes().map_err(|err| {
                anyhow!(
                    "{}: tensor {} cannot be read ({err})",
                    path.display(),
                    printable_name(&tensor.name)
                )
            })?;
            let values = match tensor.dtype {
                DType::F32 => Stats::of(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64),
                ),
                DType::F64 => Stats::of(
                    bytes
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
                ),
                _ => None,
            };
            Ok(TensorStats {
                name: tensor.name.clone(),
                shape: tensor.shape.to_vec(),
                dtype: format!("{:?}", tensor.dtype),
                values,
            })
        })
        .collect()
}

/// A safetensors file's metadata (sorted by key) and tensors.
pub struct SafetensorsContents {
    pub metadata: Vec<(String, String)>,
    pub tensors: Vec<TensorStats>,
}

/// Bounded as [`state_dict::read`] is, before any tensor is read.
pub fn safetensors_stats(path: &Path) -> Result<SafetensorsContents> {
    let bytes = state_dict::read_safetensors(path)?;
    let mut metadata: Vec<(String, String)> = read_metadata(&bytes, path)?.into_iter().collect();
    metadata.sort();
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let tensors = collect_stats(state_dict::checked_tensors(&mut store, path)?, path)?;
    Ok(SafetensorsContents { metadata, tensors })
}

/// The tensors of one of Burn's burnpack checkpoint files, bounded as
/// [`state_dict::check_sizes`] bounds any weights before a value is read.
pub fn burnpack_stats(path: &Path) -> Result<Vec<TensorStats>> {
    // Checked by its type first: Burn's store would open a FIFO and wait on it.
    fsutil::open_regular(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    let tensors = store.get_all_tensors().map_err(|err| {
        anyhow!(
            "{} is corrupt or truncated ({err}): save or export it again (for a checkpoint: delete it to resume from an earlier epoch)",
            path.display()
        )
    })?;
    state_dict::check_sizes(tensors.values(), path)?;
    collect_stats(tensors, path)
}

fn tensor_table(stats: &[TensorStats]) -> String {
    let names: Vec<String> = stats.iter().map(|t| printable_name(&t.name)).collect();
    let width = names.iter().map(String::len).max().unwrap_or(0).max(6);
    let mut out = format!(
        "{:<width$} {:<12} {:<6} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "tensor", "shape", "dtype", "mean", "std", "min", "max", "L2 norm"
    );
    for (t, name) in stats.iter().zip(&names) {
        let shape = format!("{:?}", t.shape);
        let _ = match t.values {
            Some(s) => writeln!(
                out,
                "{:<width$} {:<12} {:<6} {:>10.5} {:>10.5} {:>10.5} {:>10.5} {:>10.4}",
                name, shape, t.dtype, s.mean, s.std, s.min, s.max, s.l2_norm
            ),
            None => writeln!(out, "{:<width$} {:<12} {:<6}", name, shape, t.dtype),
        };
    }
    out
}

/// The full description of a run folder, a checkpoint or a safetensors file.
pub fn describe(target: &Path) -> Result<String> {
    if target.is_dir() {
        return describe_run(&RunDir::at(target));
    }
    if target.extension().is_some_and(|ext| ext == "bpk") {
        let stats = burnpack_stats(target)?;
        return Ok(format!(
            "{}: burnpack (Burn checkpoint), {} tensors\n\n{}",
            target.display(),
            stats.len(),
            tensor_table(&stats)
        ));
    }
    describe_weights(target)
}

/// A run folder: its checkpoints with their epochs' figures, then its model file.
fn describe_run(run: &RunDir) -> Result<String> {
    let history = run.history()?;
    let mut out = format!(
        "run folder {}\n\ncheckpoints ({}):\n",
        run.root.display(),
        run.checkpoints().display()
    );
    let epochs = run.checkpoint_epochs();
    if epochs.is_empty() {
        out += "  none\n";
    }
    for epoch in epochs {
        let parts: Vec<&str> = CHECKPOINT_PARTS
            .into_iter()
            .filter(|part| run.checkpoint(part, epoch).is_file())
            .collect();
        let figures = history
            .epochs
            .iter()
            .find(|e| e.epoch == epoch)
            .map_or(String::new(), |record| {
                epoch_figures(record, history.eval_split)
            });
        let _ = writeln!(out, "  epoch {epoch:>3}  [{}]{figures}", parts.join(", "));
    }
    out.push('\n');
    if !run.weights().is_file() {
        out += "no model.safetensors yet (the run has not finished)\n";
        return Ok(out);
    }
    // A damaged weights file is part of what the folder holds: shown, beside the
    // checkpoints that may still rebuild it.
    match describe_weights(&run.weights()) {
        Ok(weights) => out += &weights,
        Err(err) => {
            let _ = writeln!(out, "model.safetensors cannot be read: {err:#}");
        }
    }
    Ok(out)
}

/// "  train loss 0.1234  test loss 0.2345  test acc 93.10%".
fn epoch_figures(record: &EpochRecord, split: EvalSplit) -> String {
    let evaluation = if split == EvalSplit::Nothing {
        String::new()
    } else {
        let name = split.name();
        format!(
            "  {name} loss {:.4}  {name} acc {:.2}%",
            record.eval_loss, record.eval_accuracy
        )
    };
    format!("  train loss {:.4}{evaluation}", record.train_loss)
}

/// Metadata keys shown: ours writes four; a file with thousands is not ours.
const SHOWN_METADATA_KEYS: usize = 32;

/// Bytes of one metadata value shown: our longest, the config, is about 1.5 KB.
const SHOWN_METADATA_BYTES: usize = 8 << 10;

/// A metadata value as shown: printable, and cut after [`SHOWN_METADATA_BYTES`], so
/// that a file cannot pour megabytes or escape sequences onto the terminal.
fn shown_value(value: &str) -> String {
    let mut end = value.len().min(SHOWN_METADATA_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let shown = printable(&value[..end], Some('\n'));
    match value.len() - end {
        0 => shown,
        more => format!("{shown}… ({more} more bytes, not shown)"),
    }
}

/// A weights file (ours or PyTorch's): its format, the MLP it holds, its metadata and
/// per-tensor statistics.
fn describe_weights(target: &Path) -> Result<String> {
    let format = state_dict::detect_format(target)?;
    let (metadata, stats) = match format {
        WeightsFormat::Safetensors => {
            let contents = safetensors_stats(target)?;
            (contents.metadata, contents.tensors)
        }
        WeightsFormat::PyTorchPickle => {
            let mut store = pytorch_file::open_store(target)?;
            let tensors = state_dict::checked_tensors(&mut store, target)?;
            (Vec::new(), collect_stats(tensors, target)?)
        }
    };
    let mut out = format!("{}: {format}, {} tensors\n", target.display(), stats.len());
    let _ = match state_dict::read(target) {
        Ok(weights) => {
            let names: Vec<String> = weights
                .layers
                .iter()
                .map(|layer| printable_name(&layer.name))
                .collect();
            writeln!(
                out,
                "MLP {} (layers {})",
                layers_text(&weights.layer_sizes()),
                names.join(", ")
            )
        }
        Err(err) => writeln!(out, "not loadable as an MNIST MLP: {err:#}"),
    };
    if !metadata.is_empty() {
        out += "\nmetadata:\n";
    }
    for (key, value) in metadata.iter().take(SHOWN_METADATA_KEYS) {
        let value = shown_value(value);
        let value = if value.contains('\n') {
            format!("\n    {}", value.trim_end().replace('\n', "\n    "))
        } else {
            value
        };
        let _ = writeln!(out, "  {}: {value}", printable_name(key));
    }
    if metadata.len() > SHOWN_METADATA_KEYS {
        let more = metadata.len() - SHOWN_METADATA_KEYS;
        let _ = writeln!(out, "  … and {more} more keys, not shown");
    }
    out.push('\n');
    out += &tensor_table(&stats);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metadata_value_is_shown_printable_and_cut() {
        assert_eq!(shown_value("a\nb\u{1b}[2J"), "a\nb\\u{1b}[2J");
        let long = "é".repeat(SHOWN_METADATA_BYTES);
        let shown = shown_value(&long);
        let more = long.len() - SHOWN_METADATA_BYTES;
        assert!(
            shown.ends_with(&format!("é… ({more} more bytes, not shown)")),
            "{shown}"
        );
        assert!(shown.len() < SHOWN_METADATA_BYTES + 40);
    }

    #[test]
    fn stats_by_hand() {
        let s = Stats::of([1.0, -1.0, 3.0, 1.0].into_iter()).unwrap();
        assert_eq!((s.mean, s.min, s.max), (1.0, -1.0, 3.0));
        assert!((s.std - 2f64.sqrt()).abs() < 1e-12);
        assert!((s.l2_norm - 12f64.sqrt()).abs() < 1e-12);
        assert_eq!(Stats::of(std::iter::empty()), None);
        let poisoned = Stats::of([1.0, f64::NAN, 3.0].into_iter()).unwrap();
        assert!(
            poisoned.mean.is_nan() && poisoned.std.is_nan(),
            "{poisoned:?}"
        );
    }
}
