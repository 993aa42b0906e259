//! Final weights as safetensors in PyTorch's layout: the names and shapes of
//! `torch.nn.Sequential(Linear, act, Linear, …)`'s `state_dict` (`0.weight`
//! `[out, in]`, `0.bias`, `2.weight`, …), with the run's facts as metadata.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};

use crate::fsutil::write_atomic;
use crate::model::Mlp;

/// Burn's `layers.<i>.` is PyTorch's `<2i>.`: the activations sit between the
/// Linear layers in a `Sequential`, taking the odd indices.
fn pytorch_names(store: SafetensorsStore, layers: usize) -> SafetensorsStore {
    (0..layers).fold(store, |store, i| {
        store.with_key_remapping(format!(r"^layers\.{i}\."), format!("{}.", 2 * i))
    })
}

/// Writes `model` to `path` atomically with `metadata` (string → string).
pub fn save_pytorch_safetensors(
    model: &Mlp,
    path: &Path,
    metadata: &HashMap<String, String>,
) -> Result<()> {
    let store = metadata.iter().fold(
        pytorch_names(SafetensorsStore::from_bytes(None), model.layers.len())
            .with_to_adapter(BurnToPyTorchAdapter)
            .skip_enum_variants(true),
        |store, (key, value)| store.metadata(key.clone(), value.clone()),
    );
    let mut store = store;
    model
        .save_into(&mut store)
        .map_err(|err| anyhow!("cannot serialise the weights: {err}"))?;
    let bytes = store
        .get_bytes()
        .map_err(|err| anyhow!("cannot serialise the weights: {err}"))?;
    write_atomic(path, &bytes).with_context(|| format!("saving {}", path.display()))
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

/// Loads PyTorch-layout weights into `model` (same architecture), failing on
/// any missing, unexpected or mis-shaped tensor.
pub fn load_pytorch_safetensors(model: &mut Mlp, bytes: Vec<u8>, path: &Path) -> Result<()> {
    let layers = model.layers.len();
    let mut store = (0..layers).fold(
        SafetensorsStore::from_bytes(Some(bytes))
            .with_from_adapter(PyTorchToBurnAdapter)
            .skip_enum_variants(true),
        |store, i| store.with_key_remapping(format!(r"^{}\.", 2 * i), format!("layers.{i}.")),
    );
    let result = model
        .load_from(&mut store)
        .map_err(|err| anyhow!("cannot load {}: {err}", path.display()))?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        bail!(
            "{} does not fit a {layers}-layer MLP of this architecture (missing {:?}, unexpected {:?}, errors {:?})",
            path.display(),
            result
                .missing
                .iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
            result.unused,
            result
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
