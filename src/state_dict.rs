//! A PyTorch state_dict read as an MLP, whoever wrote it: our `model.safetensors`,
//! `safetensors.torch.save_file(model.state_dict(), …)`, or `torch.save(…)` pickles
//! (`.pt` / `.pth`). The architecture is read off the tensors: `<prefix>.weight`
//! `[out, in]` and `<prefix>.bias` `[out]` per `Linear`, chained 784 → … → 10.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore, bridge};

use crate::data::{CLASSES, IMAGE_PIXELS};
use crate::weights::read_metadata;

/// How a weights file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    Safetensors,
    /// `torch.save`'s zip, legacy or tar pickle formats.
    PyTorchPickle,
}

impl fmt::Display for WeightsFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Safetensors => "safetensors",
            Self::PyTorchPickle => "PyTorch pickle",
        })
    }
}

/// Tells the format from the first bytes, whatever the file is called.
pub fn detect_format(path: &Path) -> Result<WeightsFormat> {
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .and_then(|file| file.take(512).read_to_end(&mut head))
        .with_context(|| {
            format!(
                "cannot read {}: give a run folder, a .safetensors file or a PyTorch .pt/.pth file",
                path.display()
            )
        })?;
    let safetensors = head.len() > 8 && head[8] == b'{';
    let zip = head.starts_with(b"PK\x03\x04");
    let pickle = head.first() == Some(&0x80); // protocol 2+ (also the legacy format's magic)
    let tar = head.get(257..262) == Some(b"ustar".as_slice());
    if safetensors {
        Ok(WeightsFormat::Safetensors)
    } else if zip || pickle || tar {
        Ok(WeightsFormat::PyTorchPickle)
    } else {
        bail!(
            "{} is neither a safetensors file nor a PyTorch .pt/.pth file: point at a run folder, a .safetensors or a .pt file",
            path.display()
        )
    }
}

/// One `Linear` layer in PyTorch's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearWeights {
    /// The tensor-name prefix, e.g. `0` or `fc1`.
    pub name: String,
    pub inputs: usize,
    pub outputs: usize,
    /// `[outputs, inputs]`, row-major.
    pub weight: Vec<f32>,
    /// `[outputs]`; zeros for a layer saved without bias.
    pub bias: Vec<f32>,
}

/// A weights file as layers, input side first, with its string metadata.
#[derive(Debug)]
pub struct MlpWeights {
    pub format: WeightsFormat,
    /// safetensors' metadata; pickles have none.
    pub metadata: HashMap<String, String>,
    pub layers: Vec<LinearWeights>,
}

impl MlpWeights {
    /// Widths from input to output: `[784, …, 10]`.
    pub fn layer_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].inputs];
        sizes.extend(self.layers.iter().map(|layer| layer.outputs));
        sizes
    }
}

/// Reads `path` and interprets it as an MLP over 784 inputs and 10 outputs.
pub fn read(path: &Path) -> Result<MlpWeights> {
    let format = detect_format(path)?;
    let (metadata, tensors) = match format {
        WeightsFormat::Safetensors => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let metadata = read_metadata(&bytes, path)?;
            let tensors = float_tensors(&mut SafetensorsStore::from_bytes(Some(bytes)), path)?;
            (metadata, tensors)
        }
        WeightsFormat::PyTorchPickle => {
            // Keep PyTorch's own names (`0`, `2`, `4` of a Sequential); we order them ourselves.
            let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
            (HashMap::new(), float_tensors(&mut store, path)?)
        }
    };
    let layers = linear_layers(tensors).map_err(|err| anyhow!("{}: {err}", path.display()))?;
    Ok(MlpWeights {
        format,
        metadata,
        layers,
    })
}

/// A tensor's shape and its values as f32, by name.
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn float_tensors<S: ModuleStore>(store: &mut S, path: &Path) -> Result<Tensors>
where
    S::Error: fmt::Display,
{
    let unreadable = |err: &dyn fmt::Display| {
        anyhow!(
            "{} cannot be read as a state_dict ({err}): save it with `torch.save(model.state_dict(), path)` or `safetensors.torch.save_file(model.state_dict(), path)`",
            path.display()
        )
    };
    let tensors = store.get_all_tensors().map_err(|err| unreadable(&err))?;
    tensors
        .values()
        .map(|tensor| {
            if !tensor.dtype.is_float() {
                bail!(
                    "{}: tensor `{}` is {:?}, not floating point: only the weights and biases of Linear layers can be loaded",
                    path.display(),
                    tensor.name,
                    tensor.dtype
                );
            }
            let data = bridge::to_data(tensor).map_err(|err| unreadable(&err))?;
            let values = data
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|err| unreadable(&format!("{err:?}")))?;
            Ok((tensor.name.clone(), (tensor.shape.to_vec(), values)))
        })
        .collect()
}

/// Groups `<prefix>.weight` / `<prefix>.bias` into layers and orders them into a chain.
fn linear_layers(tensors: Tensors) -> Result<Vec<LinearWeights>> {
    let not_an_mlp = "only an MLP of Linear layers (784 inputs → … → 10 outputs) can be loaded";
    let mut weights = BTreeMap::new();
    let mut biases = BTreeMap::new();
    for (name, (shape, values)) in tensors {
        match name.rsplit_once('.') {
            Some((prefix, "weight")) if shape.len() == 2 => {
                weights.insert(prefix.to_string(), (shape, values));
            }
            Some((prefix, "bias")) if shape.len() == 1 => {
                biases.insert(prefix.to_string(), values);
            }
            _ => bail!("tensor `{name}` {shape:?} is not a Linear weight or bias: {not_an_mlp}"),
        }
    }
    if weights.is_empty() {
        bail!("it holds no `<layer>.weight` tensors: {not_an_mlp}");
    }
    if let Some(orphan) = biases.keys().find(|prefix| !weights.contains_key(*prefix)) {
        bail!("`{orphan}.bias` has no `{orphan}.weight`: {not_an_mlp}");
    }
    let mut layers: Vec<LinearWeights> = weights
        .into_iter()
        .map(|(name, (shape, weight))| {
            let (outputs, inputs) = (shape[0], shape[1]);
            let bias = biases.remove(&name).unwrap_or_else(|| vec![0.0; outputs]);
            if bias.len() != outputs {
                bail!(
                    "`{name}.bias` has {} values but `{name}.weight` has {outputs} outputs",
                    bias.len()
                );
            }
            Ok(LinearWeights {
                name,
                inputs,
                outputs,
                weight,
                bias,
            })
        })
        .collect::<Result<_>>()?;
    layers.sort_by(|a, b| natural_order(&a.name, &b.name));
    if chains(&layers) {
        return Ok(layers);
    }
    let shapes: Vec<String> = layers
        .iter()
        .map(|l| format!("{} {}→{}", l.name, l.inputs, l.outputs))
        .collect();
    chain_by_shape(layers).ok_or_else(|| {
        anyhow!(
            "its layers ({}) do not chain {IMAGE_PIXELS} → … → {CLASSES}: {not_an_mlp}",
            shapes.join(", ")
        )
    })
}

fn chains(layers: &[LinearWeights]) -> bool {
    layers.first().is_some_and(|l| l.inputs == IMAGE_PIXELS)
        && layers.last().is_some_and(|l| l.outputs == CLASSES)
        && layers.windows(2).all(|p| p[0].outputs == p[1].inputs)
}

/// Orders layers by following their shapes from the 784-wide input, when that
/// path is unambiguous (for names such as `input`, `hidden`, `output`).
fn chain_by_shape(mut rest: Vec<LinearWeights>) -> Option<Vec<LinearWeights>> {
    let mut chain = Vec::with_capacity(rest.len());
    let mut width = IMAGE_PIXELS;
    while !rest.is_empty() {
        let mut next = rest.iter().enumerate().filter(|(_, l)| l.inputs == width);
        let (index, _) = next.next()?;
        if next.next().is_some() {
            return None;
        }
        let layer = rest.swap_remove(index);
        width = layer.outputs;
        chain.push(layer);
    }
    chains(&chain).then_some(chain)
}

/// `fc2` before `fc10`, `layers.2` before `layers.10`: digit runs compare as numbers.
fn natural_order(a: &str, b: &str) -> Ordering {
    fn pieces(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in s.char_indices().skip(1) {
            let prev = s[..i].chars().last().expect("a previous char");
            if prev.is_ascii_digit() != c.is_ascii_digit() {
                out.push((prev.is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        if !s.is_empty() {
            out.push((
                s[start..].starts_with(|c: char| c.is_ascii_digit()),
                &s[start..],
            ));
        }
        out
    }
    let (pa, pb) = (pieces(a), pieces(b));
    for ((digits_a, x), (digits_b, y)) in pa.iter().zip(&pb) {
        let order = if *digits_a && *digits_b {
            (x.len(), *x).cmp(&(y.len(), *y)) // no leading zeros in layer indices
        } else {
            x.cmp(y)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors(entries: &[(&str, &[usize])]) -> Tensors {
        entries
            .iter()
            .map(|(name, shape)| {
                let count = shape.iter().product();
                (name.to_string(), (shape.to_vec(), vec![0.5; count]))
            })
            .collect()
    }

    fn sizes(layers: &[LinearWeights]) -> Vec<(String, usize, usize)> {
        layers
            .iter()
            .map(|l| (l.name.clone(), l.inputs, l.outputs))
            .collect()
    }

    #[test]
    fn natural_order_compares_numbers_as_numbers() {
        let mut names = vec!["fc10", "fc2", "layers.10", "layers.2", "fc1", "out"];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(
            names,
            ["fc1", "fc2", "fc10", "layers.2", "layers.10", "out"]
        );
    }

    #[test]
    fn a_sequential_of_any_depth_is_ordered_by_index() {
        let layers = linear_layers(tensors(&[
            ("10.weight", &[10, 32]),
            ("10.bias", &[10]),
            ("0.weight", &[64, 784]),
            ("0.bias", &[64]),
            ("2.weight", &[64, 64]),
            ("2.bias", &[64]),
            ("4.weight", &[32, 64]),
            ("4.bias", &[32]),
        ]))
        .unwrap();
        let expected = [("0", 784, 64), ("2", 64, 64), ("4", 64, 32), ("10", 32, 10)];
        let expected: Vec<_> = expected
            .iter()
            .map(|(n, i, o)| (n.to_string(), *i, *o))
            .collect();
        assert_eq!(sizes(&layers), expected);
    }

    #[test]
    fn names_that_do_not_sort_are_chained_by_shape_and_missing_biases_are_zero() {
        let layers = linear_layers(tensors(&[
            ("output.weight", &[10, 50]),
            ("input.weight", &[100, 784]),
            ("hidden.weight", &[50, 100]),
            ("hidden.bias", &[50]),
        ]))
        .unwrap();
        let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["input", "hidden", "output"]);
        assert_eq!(layers[0].bias, vec![0.0; 100]);
        assert_eq!(layers[1].bias, vec![0.5; 50]);
    }

    #[test]
    fn what_is_not_an_mnist_mlp_is_refused_with_the_reason() {
        let refuse = |entries: &[(&str, &[usize])], expected: &str| {
            let err = linear_layers(tensors(entries)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        };
        refuse(
            &[("conv.weight", &[8, 1, 3, 3])],
            "`conv.weight` [8, 1, 3, 3] is not",
        );
        refuse(&[("bn.running_mean", &[10])], "`bn.running_mean`");
        refuse(&[("0.weight", &[10, 100])], "do not chain 784");
        refuse(&[("0.weight", &[5, 784])], "do not chain 784");
        refuse(
            &[("0.weight", &[10, 784]), ("0.bias", &[9])],
            "has 9 values",
        );
        refuse(
            &[("0.weight", &[10, 784]), ("1.bias", &[10])],
            "`1.bias` has no",
        );
        // Two 784-wide layers: no single chain.
        refuse(
            &[("a.weight", &[10, 784]), ("b.weight", &[10, 784])],
            "do not chain",
        );
    }
}
