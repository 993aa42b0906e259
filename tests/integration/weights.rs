//! A file written the way PyTorch writes an `nn.Sequential` state_dict loads into our MLP.

use std::collections::HashMap;

use mnist_mlp::weights::load::SavedModel;
use safetensors::tensor::{Dtype, TensorView};

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A 784→3→10 network in PyTorch's layout (weights `[out, in]`) with `config` as metadata.
fn pytorch_file(w0: &[f32], b0: &[f32], w2: &[f32], b2: &[f32], config: &str) -> Vec<u8> {
    let (w0, b0, w2, b2) = (to_bytes(w0), to_bytes(b0), to_bytes(w2), to_bytes(b2));
    let tensors = vec![
        (
            "0.weight",
            TensorView::new(Dtype::F32, vec![3, 784], &w0).unwrap(),
        ),
        ("0.bias", TensorView::new(Dtype::F32, vec![3], &b0).unwrap()),
        (
            "2.weight",
            TensorView::new(Dtype::F32, vec![10, 3], &w2).unwrap(),
        ),
        (
            "2.bias",
            TensorView::new(Dtype::F32, vec![10], &b2).unwrap(),
        ),
    ];
    let metadata = HashMap::from([("config".to_string(), config.to_string())]);
    safetensors::serialize(tensors, Some(metadata)).unwrap()
}

#[test]
fn a_pytorch_layout_file_loads_with_weights_transposed() {
    let config =
        "[experiment]\nname = \"external\"\n[model]\nhidden = [3]\nactivation = \"tanh\"\n";
    let w0: Vec<f32> = (0..3 * 784).map(|i| (i % 97) as f32 / 97.0 - 0.5).collect();
    let b0: Vec<f32> = vec![0.1, -0.2, 0.3];
    let w2: Vec<f32> = (0..10 * 3).map(|i| i as f32 / 30.0).collect();
    let b2: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("external.safetensors");
    std::fs::write(&path, pytorch_file(&w0, &b0, &w2, &b2, config)).unwrap();

    let device = mnist_mlp::backend::BackendKind::default_compiled().device();
    let loaded = SavedModel::load(&path, None, &device).unwrap();
    let values =
        |t: burn::tensor::Tensor<2>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    // Burn keeps [in, out]: element (i, o) is PyTorch's (o, i).
    let burn_w0 = values(loaded.model.layers[0].weight.val());
    for i in [0, 5, 783] {
        for o in 0..3 {
            assert_eq!(burn_w0[i * 3 + o], w0[o * 784 + i]);
        }
    }
    let burn_w2 = values(loaded.model.layers[1].weight.val());
    assert_eq!(burn_w2[2 * 10 + 7], w2[7 * 3 + 2]);
    assert_eq!(loaded.config.unwrap().model.hidden, vec![3]);

    // A file of another architecture is refused with its path.
    let other = "[experiment]\nname = \"x\"\n[model]\nhidden = [4]\n";
    std::fs::write(&path, pytorch_file(&w0, &b0, &w2, &b2, other)).unwrap();
    let err = format!(
        "{:#}",
        SavedModel::load(&path, None, &device)
            .err()
            .expect("a mismatch")
    );
    assert!(err.contains("external.safetensors"), "{err}");
}
