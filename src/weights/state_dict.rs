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
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleStore, SafetensorsStore, bridge};

use crate::fsutil::{self, printable, printable_name};
use crate::limits::{MAX_PARAMETERS, MAX_TENSORS, MAX_WEIGHT_BYTES};
use crate::mnist::{CLASSES, IMAGE_PIXELS};
use crate::model::LinearWeights;

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
    fsutil::open_regular(path)
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

/// Reads `path` and interprets it as an MLP over 784 inputs and 10 outputs. Names and
/// shapes are checked, and sizes bounded by [`check_sizes`], before any value is read.
pub fn read(path: &Path) -> Result<MlpWeights> {
    let format = detect_format(path)?;
    let (metadata, layers) = match format {
        WeightsFormat::Safetensors => {
            let bytes = read_safetensors(path)?;
            let metadata = read_metadata(&bytes, path)?;
            let layers = mlp_layers(&mut SafetensorsStore::from_bytes(Some(bytes)), path)?;
            (metadata, layers)
        }
        WeightsFormat::PyTorchPickle => {
            let mut store = super::pytorch_file::open_store(path)?;
            (HashMap::new(), mlp_layers(&mut store, path)?)
        }
    };
    Ok(MlpWeights {
        format,
        metadata,
        layers,
    })
}

/// safetensors' own limit on its JSON header.
const SAFETENSORS_MAX_HEADER: u64 = 100_000_000;

/// A safetensors file's bytes, refused unread when it is longer than the weights of the
/// largest model we load could be, and read only once its header has been checked:
/// it must describe exactly the bytes that follow it (a sparse file of gigabytes
/// behind a header of `{}` is refused unread) and at most [`MAX_TENSORS`] tensors.
pub fn read_safetensors(path: &Path) -> Result<Vec<u8>> {
    let unreadable = |err| anyhow!("cannot read {}: {err}", path.display());
    let mut file = fsutil::open_regular(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    let limit = MAX_WEIGHT_BYTES + SAFETENSORS_MAX_HEADER;
    if len > limit {
        bail!(
            "{} is {len} bytes, above the {limit}-byte limit ({MAX_PARAMETERS} parameters in f64 and a header): it is not the weights of an MLP on MNIST",
            path.display()
        );
    }
    let mut bytes = safetensors_header(&mut file, len, path)?;
    bytes.reserve_exact(len as usize - bytes.len());
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(bytes)
}

/// The length prefix and JSON header of the safetensors file `file`, `len` bytes long,
/// refused unless it describes the rest of the file and at most [`MAX_TENSORS`] tensors.
fn safetensors_header(file: &mut std::fs::File, len: u64, path: &Path) -> Result<Vec<u8>> {
    let invalid = |why: String| {
        anyhow!(
            "{} is not a valid safetensors file ({why}): point at a run folder or its model.safetensors",
            path.display()
        )
    };
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)
        .map_err(|_| invalid("it is shorter than its 8-byte header length".into()))?;
    let header_len = u64::from_le_bytes(prefix);
    if header_len > SAFETENSORS_MAX_HEADER || header_len > len - 8 {
        return Err(invalid(format!(
            "its header claims {header_len} bytes of the file's {len}"
        )));
    }
    let mut bytes = prefix.to_vec();
    bytes.resize(8 + header_len as usize, 0);
    file.read_exact(&mut bytes[8..])
        .map_err(|err| invalid(err.to_string()))?;
    let header: safetensors::tensor::Metadata =
        serde_json::from_slice(&bytes[8..]).map_err(|err| invalid(err.to_string()))?;
    let tensors = header.tensors().len();
    if tensors > MAX_TENSORS {
        bail!(
            "{} holds {tensors} tensors, above the limit of {MAX_TENSORS}: it is not the weights of an MLP on MNIST",
            path.display()
        );
    }
    let described = 8 + header_len + header.data_len() as u64;
    if described != len {
        return Err(invalid(format!(
            "its header describes {described} bytes, the file holds {len}"
        )));
    }
    Ok(bytes)
}

/// The tensors of a store, their sizes checked by [`check_sizes`] and none yet read.
pub fn checked_tensors<'s, S: ModuleStore>(
    store: &'s mut S,
    path: &Path,
) -> Result<&'s BTreeMap<String, PackTensor>>
where
    S::Error: fmt::Display,
{
    let tensors = store
        .get_all_tensors()
        .map_err(|err| unreadable(path, &err))?;
    check_sizes(tensors.values(), path)?;
    Ok(tensors)
}

/// Refuses tensors holding more values than a model may have ([`MAX_PARAMETERS`]), or
/// more bytes than the file does: a view such as PyTorch's `expand` declares any size
/// over one stored value, and reading it would materialise all of it.
pub fn check_sizes<'t>(tensors: impl Iterator<Item = &'t PackTensor>, path: &Path) -> Result<()> {
    let file_len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let (mut values, mut bytes) = (0u64, 0u64);
    for tensor in tensors {
        let count = tensor
            .shape
            .iter()
            .try_fold(1u64, |count, &dim| count.checked_mul(dim as u64))
            .unwrap_or(u64::MAX);
        values = values.saturating_add(count);
        bytes = bytes.saturating_add(count.saturating_mul(tensor.dtype.size() as u64));
    }
    if values > MAX_PARAMETERS as u64 {
        bail!(
            "{}: its tensors hold {values} values, above the limit of {MAX_PARAMETERS} parameters: it is not the weights of an MLP on MNIST",
            path.display()
        );
    }
    if bytes > file_len {
        bail!(
            "{}: its tensors take {bytes} bytes, more than the file's {file_len} bytes hold (views such as `expand()` share one storage): save each tensor's own values, e.g. `torch.save({{k: v.contiguous() for k, v in model.state_dict().items()}}, path)`",
            path.display()
        );
    }
    Ok(())
}

/// What to do about a file the store cannot read. The reader's message may quote
/// the file (a pickle's class names), so it is made printable.
fn unreadable(path: &Path, err: &dyn fmt::Display) -> anyhow::Error {
    anyhow!(
        "{} cannot be read as a state_dict ({}): save it with `torch.save(model.state_dict(), path)` or `safetensors.torch.save_file(model.state_dict(), path)`",
        path.display(),
        printable(&err.to_string(), None)
    )
}

/// The store's tensors as layers: dtypes, names and shapes are checked first, and
/// only then is each layer's data read.
fn mlp_layers<S: ModuleStore>(store: &mut S, path: &Path) -> Result<Vec<LinearWeights>>
where
    S::Error: fmt::Display,
{
    let tensors = checked_tensors(store, path)?;
    if let Some(tensor) = tensors.values().find(|tensor| !tensor.dtype.is_float()) {
        bail!(
            "{}: tensor `{}` is {:?}, not floating point: only the weights and biases of Linear layers can be loaded",
            path.display(),
            printable_name(&tensor.name),
            tensor.dtype
        );
    }
    let shapes = tensors
        .iter()
        .map(|(name, tensor)| (name.clone(), tensor.shape.to_vec()))
        .collect();
    let layers = plan_layers(&shapes).map_err(|err| anyhow!("{}: {err}", path.display()))?;
    let values = |name: &str| -> Result<Vec<f32>> {
        let tensor = &tensors[name];
        let data = bridge::to_data(tensor).map_err(|err| unreadable(path, &err))?;
        let values = data
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|err| unreadable(path, &format!("{err:?}")))?;
        check_finite(&values, name, path)?;
        Ok(values)
    };
    layers
        .into_iter()
        .map(|layer| {
            let bias = if layer.bias {
                values(&format!("{}.bias", layer.name))?
            } else {
                vec![0.0; layer.outputs]
            };
            Ok(LinearWeights {
                weight: values(&format!("{}.weight", layer.name))?,
                bias,
                name: layer.name,
                inputs: layer.inputs,
                outputs: layer.outputs,
            })
        })
        .collect()
}

/// Refuses a tensor holding NaN or infinite values (or f64 values past f32's range):
/// every prediction through it would be NaN, so eval would report chance accuracy and
/// predict a digit "with probability NaN".
fn check_finite(values: &[f32], name: &str, path: &Path) -> Result<()> {
    let bad = values.iter().filter(|value| !value.is_finite()).count();
    if bad > 0 {
        let name = printable_name(name);
        let values = if bad == 1 { "value" } else { "values" };
        bail!(
            "{}: tensor `{name}` holds {bad} NaN or infinite {values}: the training that saved it diverged, or the file is damaged; retrain or re-export it",
            path.display()
        );
    }
    Ok(())
}

/// A `Linear` layer as the file declares it, before any of its values is read.
#[derive(Debug, Clone, PartialEq)]
struct LayerShape {
    name: String,
    inputs: usize,
    outputs: usize,
    /// Whether the file holds `<name>.bias` (else the bias is zeros).
    bias: bool,
}

/// Groups `<prefix>.weight` / `<prefix>.bias` shapes into layers and orders them into a chain.
fn plan_layers(shapes: &BTreeMap<String, Vec<usize>>) -> Result<Vec<LayerShape>> {
    let not_an_mlp = "only an MLP of Linear layers (784 inputs → … → 10 outputs) can be loaded";
    let mut weights = BTreeMap::new();
    let mut biases = BTreeMap::new();
    for (name, shape) in shapes {
        match (name.rsplit_once('.'), shape.as_slice()) {
            (Some((prefix, "weight")), &[outputs, inputs]) if outputs > 0 && inputs > 0 => {
                weights.insert(prefix, (outputs, inputs));
            }
            (Some((prefix, "bias")), &[values]) => {
                biases.insert(prefix, values);
            }
            _ => bail!(
                "tensor `{}` {shape:?} is not a Linear weight or bias: {not_an_mlp}",
                printable_name(name)
            ),
        }
    }
    if weights.is_empty() {
        bail!("it holds no `<layer>.weight` tensors: {not_an_mlp}");
    }
    if let Some(orphan) = biases.keys().find(|prefix| !weights.contains_key(*prefix)) {
        let orphan = printable_name(orphan);
        bail!("`{orphan}.bias` has no `{orphan}.weight`: {not_an_mlp}");
    }
    let mut layers: Vec<LayerShape> = weights
        .into_iter()
        .map(|(name, (outputs, inputs))| {
            let bias = biases.get(name).copied();
            if let Some(values) = bias.filter(|&values| values != outputs) {
                let name = printable_name(name);
                bail!(
                    "`{name}.bias` has {values} values but `{name}.weight` has {outputs} outputs"
                );
            }
            Ok(LayerShape {
                name: name.to_string(),
                inputs,
                outputs,
                bias: bias.is_some(),
            })
        })
        .collect::<Result<_>>()?;
    layers.sort_by(|a, b| natural_order(&a.name, &b.name));
    if chains(&layers) {
        return Ok(layers);
    }
    // The first few, as a long list would make a long line.
    let mut shapes: Vec<String> = layers
        .iter()
        .take(8)
        .map(|l| format!("{} {}→{}", printable_name(&l.name), l.inputs, l.outputs))
        .collect();
    if layers.len() > shapes.len() {
        shapes.push(format!("… {} layers in all", layers.len()));
    }
    chain_by_shape(layers).ok_or_else(|| {
        anyhow!(
            "its layers ({}) do not chain {IMAGE_PIXELS} → … → {CLASSES}: {not_an_mlp}",
            shapes.join(", ")
        )
    })
}

fn chains(layers: &[LayerShape]) -> bool {
    layers.first().is_some_and(|l| l.inputs == IMAGE_PIXELS)
        && layers.last().is_some_and(|l| l.outputs == CLASSES)
        && layers.windows(2).all(|p| p[0].outputs == p[1].inputs)
}

/// Orders layers by following their shapes from the 784-wide input, when that
/// path is unambiguous (for names such as `input`, `hidden`, `output`).
fn chain_by_shape(mut rest: Vec<LayerShape>) -> Option<Vec<LayerShape>> {
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

/// Reads the metadata of a safetensors file, checking that it is one.
pub fn read_metadata(bytes: &[u8], path: &Path) -> Result<HashMap<String, String>> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|err| {
        anyhow!(
            "{} is not a valid safetensors file ({err}): point at a run folder or its model.safetensors",
            path.display()
        )
    })?;
    Ok(header.metadata().clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(entries: &[(&str, &[usize])]) -> BTreeMap<String, Vec<usize>> {
        entries
            .iter()
            .map(|(name, shape)| (name.to_string(), shape.to_vec()))
            .collect()
    }

    fn sizes(layers: &[LayerShape]) -> Vec<(String, usize, usize)> {
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
        let layers = plan_layers(&shapes(&[
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
        let layers = plan_layers(&shapes(&[
            ("output.weight", &[10, 50]),
            ("input.weight", &[100, 784]),
            ("hidden.weight", &[50, 100]),
            ("hidden.bias", &[50]),
        ]))
        .unwrap();
        let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["input", "hidden", "output"]);
        assert!(!layers[0].bias && layers[1].bias && !layers[2].bias);
    }

    #[test]
    fn what_is_not_an_mnist_mlp_is_refused_with_the_reason() {
        let refuse = |entries: &[(&str, &[usize])], expected: &str| {
            let err = plan_layers(&shapes(entries)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        };
        refuse(
            &[("conv.weight", &[8, 1, 3, 3])],
            "`conv.weight` [8, 1, 3, 3] is not",
        );
        refuse(&[("bn.running_mean", &[10])], "`bn.running_mean`");
        refuse(&[("0.weight", &[10, 100])], "do not chain 784");
        refuse(
            &[("0.weight", &[0, 784]), ("1.weight", &[10, 0])],
            "`0.weight` [0, 784] is not",
        );
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
