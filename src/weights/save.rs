//! Final weights as safetensors in PyTorch's layout: the names and shapes of
//! `torch.nn.Sequential(Linear, act, Linear, …)`'s `state_dict` (`0.weight`
//! `[out, in]`, `0.bias`, `2.weight`, …), with the run's facts as metadata.
//! [`super::state_dict`] reads them back, with any other PyTorch MLP.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Result, anyhow};
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
///
/// Serialised in memory and written by [`write_atomic`] rather than by
/// `SafetensorsStore::from_file(..).overwrite(true)`: that path is atomic too, but
/// its file comes from safetensors' `NamedTempFile` (mode 0600, unreadable to a
/// teammate or a web server) and its header lists the metadata in `HashMap` order.
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
    write_atomic(path, &with_sorted_header(&bytes)?)
}

/// The same file with its JSON header's keys in sorted order.
///
/// The safetensors writer emits the metadata from a `HashMap`, in a different order
/// in every process, so the same weights gave different files; sorted, a run is
/// reproducible byte for byte. Tensor offsets are unchanged (they are relative to
/// the data, which follows the header).
fn with_sorted_header(bytes: &[u8]) -> Result<Vec<u8>> {
    let malformed = || anyhow!("the safetensors writer produced a malformed header");
    let length = u64::from_le_bytes(bytes.get(..8).ok_or_else(malformed)?.try_into()?) as usize;
    let header = bytes.get(8..8 + length).ok_or_else(malformed)?;
    let mut sorted: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header)?;
    if let Some(metadata) = sorted.remove("__metadata__") {
        let metadata: BTreeMap<String, String> = serde_json::from_value(metadata)?;
        sorted.insert("__metadata__".into(), serde_json::to_value(metadata)?);
    }
    let mut header = serde_json::to_vec(&sorted)?;
    // The format pads the header with spaces so that the data starts 8-byte aligned.
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + bytes.len() - 8 - length);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[8 + length..]);
    Ok(out)
}
