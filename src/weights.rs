//! Final weights as safetensors in PyTorch's layout: the names and shapes of
//! `torch.nn.Sequential(Linear, act, Linear, …)`'s `state_dict` (`0.weight`
//! `[out, in]`, `0.bias`, `2.weight`, …), with the run's facts as metadata.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};

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
