//! A model as ONNX, for onnxruntime, OpenCV, browsers and the rest: input `pixels`
//! `[batch, 784]` (floats in [0, 1], as the model is trained), output `logits`
//! `[batch, 10]`; one `Gemm` per layer (x · W + b, W `[in, out]` as Burn holds it) and
//! the activation between them. Opset 13, IR version 7: what onnxruntime has read
//! since 1.8.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
use onnx_protobuf::{
    GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, tensor_proto, tensor_shape_proto,
    type_proto,
};

use crate::fsutil::write_atomic;
use crate::mnist::{CLASSES, IMAGE_PIXELS};
use crate::model::{ActivationLayer, Mlp};

/// The graph's input and output names.
pub const INPUT: &str = "pixels";
pub const OUTPUT: &str = "logits";

const OPSET: i64 = 13;
const IR_VERSION: i64 = 7;

/// Writes `model` to `path` atomically as ONNX, with `metadata` (key, value) pairs.
pub fn save_onnx(model: &Mlp, path: &Path, metadata: &[(String, String)]) -> Result<()> {
    let bytes = onnx_model(model, metadata)
        .write_to_bytes()
        .context("cannot encode the ONNX model")?;
    write_atomic(path, &bytes).with_context(|| format!("saving {}", path.display()))
}

/// The ONNX model of `model`.
pub fn onnx_model(model: &Mlp, metadata: &[(String, String)]) -> ModelProto {
    let mut graph = GraphProto {
        name: "mnist_mlp".into(),
        input: vec![value_info(INPUT, IMAGE_PIXELS)],
        output: vec![value_info(OUTPUT, CLASSES)],
        ..GraphProto::default()
    };
    let last = model.layers.len() - 1;
    let mut x = INPUT.to_string();
    for (i, layer) in model.layers.iter().enumerate() {
        let (weight, bias) = (format!("{i}.weight"), format!("{i}.bias"));
        graph
            .initializer
            .push(initializer(&weight, layer.weight.val()));
        let bias_values = layer.bias.as_ref().expect("our layers have biases").val();
        graph.initializer.push(initializer(&bias, bias_values));
        let z = if i == last {
            OUTPUT.to_string()
        } else {
            format!("z{i}")
        };
        graph.node.push(node("Gemm", &[&x, &weight, &bias], &z));
        x = z;
        if i < last {
            let a = format!("a{i}");
            graph
                .node
                .push(node(activation_op(&model.activation), &[&x], &a));
            x = a;
        }
    }
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
            ..OperatorSetIdProto::default()
        }],
        producer_name: "mnist-mlp".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph).into(),
        metadata_props: metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
                ..StringStringEntryProto::default()
            })
            .collect(),
        ..ModelProto::default()
    }
}

/// The ONNX operator of the hidden layers' activation.
fn activation_op(activation: &ActivationLayer) -> &'static str {
    match activation {
        ActivationLayer::Sigmoid(_) => "Sigmoid",
        ActivationLayer::Tanh(_) => "Tanh",
        ActivationLayer::Relu(_) => "Relu",
    }
}

fn node(op_type: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        name: format!("{op_type}_{output}"),
        op_type: op_type.into(),
        input: inputs.iter().map(|name| name.to_string()).collect(),
        output: vec![output.into()],
        ..NodeProto::default()
    }
}

/// A float tensor `[batch, width]` whose batch is left free.
fn value_info(name: &str, width: usize) -> ValueInfoProto {
    let dim = |value| tensor_shape_proto::Dimension {
        value: Some(value),
        ..Default::default()
    };
    let shape = TensorShapeProto {
        dim: vec![
            dim(tensor_shape_proto::dimension::Value::DimParam(
                "batch".into(),
            )),
            dim(tensor_shape_proto::dimension::Value::DimValue(width as i64)),
        ],
        ..TensorShapeProto::default()
    };
    let tensor = type_proto::Tensor {
        elem_type: tensor_proto::DataType::FLOAT as i32,
        shape: Some(shape).into(),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..TypeProto::default()
        })
        .into(),
        ..ValueInfoProto::default()
    }
}

/// A float initializer, little-endian as ONNX stores raw data.
fn initializer<const D: usize>(name: &str, tensor: Tensor<D>) -> TensorProto {
    let dims = tensor.dims().iter().map(|&d| d as i64).collect();
    let values = tensor.inner().into_data().convert::<f32>();
    let values = values.try_into_vec::<f32>().expect("f32 weights");
    TensorProto {
        name: name.into(),
        dims,
        data_type: tensor_proto::DataType::FLOAT as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;
    use crate::config::{Activation, InitKind};
    use crate::model::MlpSpec;

    #[test]
    fn the_graph_holds_each_layer_as_gemm_and_activation_with_its_weights() {
        let device = BackendKind::default_compiled().device();
        let spec = MlpSpec {
            layer_sizes: vec![IMAGE_PIXELS, 6, 4, CLASSES],
            activation: Activation::Tanh,
            init: InitKind::XavierUniform,
            dropout: 0.0,
            l2: 0.0,
        };
        let model = spec.init(3, &device);
        let metadata = [("activation".to_string(), "tanh".to_string())];
        let bytes = onnx_model(&model, &metadata).write_to_bytes().unwrap();
        let parsed = ModelProto::parse_from_bytes(&bytes).unwrap();
        assert_eq!(parsed.opset_import[0].version, OPSET);
        assert_eq!(parsed.metadata_props[0].value, "tanh");
        let graph = parsed.graph.unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Gemm", "Tanh", "Gemm", "Tanh", "Gemm"]);
        assert_eq!(graph.node[0].input, [INPUT, "0.weight", "0.bias"]);
        assert_eq!(graph.node[4].output, [OUTPUT]);
        let shapes: Vec<Vec<i64>> = graph.initializer.iter().map(|t| t.dims.clone()).collect();
        assert_eq!(
            shapes,
            [
                vec![784, 6],
                vec![6],
                vec![6, 4],
                vec![4],
                vec![4, 10],
                vec![10]
            ]
        );
        // The first weight's bytes are the model's own, in order.
        let first = model.layers[0]
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let raw = &graph.initializer[0].raw_data;
        assert_eq!(raw.len(), 4 * first.len());
        assert_eq!(&raw[..4], &first[0].to_le_bytes());
        assert_eq!(&raw[raw.len() - 4..], &first[first.len() - 1].to_le_bytes());
    }
}
