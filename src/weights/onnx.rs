//! A model as ONNX, for onnxruntime, OpenCV, browsers and the rest: input `pixels`
//! `[batch, 784]` (floats in [0, 1], as the model is trained), output `logits`
//! `[batch, 10]`; one `Gemm` per layer (x · W + b, W `[in, out]` as Burn holds it) and
//! the activation between them; a committee is one graph holding its members. Opset
//! 13, IR version 7: what onnxruntime has read since 1.8.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, tensor_proto,
    tensor_shape_proto, type_proto,
};

use crate::fsutil::write_atomic;
use crate::mnist::{CLASSES, IMAGE_PIXELS};
use crate::model::{ActivationLayer, Mlp};

/// The graph's input and output names.
pub const INPUT: &str = "pixels";
pub const OUTPUT: &str = "logits";

const OPSET: i64 = 13;
const IR_VERSION: i64 = 7;

/// Writes `members` (one model, or a committee) to `path` atomically as ONNX, with
/// `metadata` (key, value) pairs.
pub fn save_onnx(members: &[&Mlp], path: &Path, metadata: &[(String, String)]) -> Result<()> {
    let bytes = onnx_model(members, metadata)
        .write_to_bytes()
        .context("cannot encode the ONNX model")?;
    write_atomic(path, &bytes)
}

/// The ONNX model of one MLP, or of a committee as one graph whose `logits` are the log
/// of the members' mean probabilities: softmax gives what `eval --ensemble` averages.
pub fn onnx_model(members: &[&Mlp], metadata: &[(String, String)]) -> ModelProto {
    let mut graph = GraphProto {
        name: "mnist_mlp".into(),
        input: vec![value_info(INPUT, IMAGE_PIXELS)],
        output: vec![value_info(OUTPUT, CLASSES)],
        ..GraphProto::default()
    };
    match members {
        [alone] => push_mlp(&mut graph, alone, "", OUTPUT),
        committee => push_committee(&mut graph, committee),
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

/// Appends `model`'s layers, reading [`INPUT`] and writing its logits to `output`; its
/// weights and intermediate values are named with `prefix`.
fn push_mlp(graph: &mut GraphProto, model: &Mlp, prefix: &str, output: &str) {
    let last = model.layers.len() - 1;
    let mut x = INPUT.to_string();
    for (i, layer) in model.layers.iter().enumerate() {
        let (weight, bias) = (format!("{prefix}{i}.weight"), format!("{prefix}{i}.bias"));
        graph
            .initializer
            .push(initializer(&weight, layer.weight.val()));
        let bias_values = layer.bias.as_ref().expect("our layers have biases").val();
        graph.initializer.push(initializer(&bias, bias_values));
        let z = if i == last {
            output.to_string()
        } else {
            format!("{prefix}z{i}")
        };
        graph.node.push(node("Gemm", &[&x, &weight, &bias], &z));
        x = z;
        if i < last {
            let a = format!("{prefix}a{i}");
            graph
                .node
                .push(node(activation_op(&model.activation), &[&x], &a));
            x = a;
        }
    }
}

/// Appends member k as `m{k}.…` and their log-mean-exp of log-probabilities as
/// [`OUTPUT`]: the log of the mean probability, computed without the underflow of
/// taking the log of averaged softmaxes.
fn push_committee(graph: &mut GraphProto, members: &[&Mlp]) {
    const MEMBER_AXIS: &str = "members.axis";
    const LOG_COUNT: &str = "members.log_count";
    graph.initializer.push(int64_initializer(MEMBER_AXIS, &[0]));
    graph
        .initializer
        .push(scalar_initializer(LOG_COUNT, (members.len() as f32).ln()));
    let mut stacked = Vec::with_capacity(members.len());
    for (k, member) in members.iter().enumerate() {
        let (logits, log_probs, row) = (
            format!("m{k}.logits"),
            format!("m{k}.log_probs"),
            format!("m{k}.row"),
        );
        push_mlp(graph, member, &format!("m{k}."), &logits);
        graph.node.push(node("LogSoftmax", &[&logits], &log_probs)); // [batch, 10]
        graph
            .node
            .push(node("Unsqueeze", &[&log_probs, MEMBER_AXIS], &row)); // [1, batch, 10]
        stacked.push(row);
    }
    let rows: Vec<&str> = stacked.iter().map(String::as_str).collect();
    let mut concat = node("Concat", &rows, "members.log_probs"); // [members, batch, 10]
    concat.attribute = vec![int_attribute("axis", 0)];
    let mut log_sum = node("ReduceLogSumExp", &["members.log_probs"], "members.log_sum"); // [batch, 10]
    log_sum.attribute = vec![ints_attribute("axes", &[0]), int_attribute("keepdims", 0)];
    graph.node.extend([concat, log_sum]);
    graph
        .node
        .push(node("Sub", &["members.log_sum", LOG_COUNT], OUTPUT));
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

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i: value,
        ..AttributeProto::default()
    }
}

fn ints_attribute(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INTS.into(),
        ints: values.to_vec(),
        ..AttributeProto::default()
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

/// A float scalar (shape `[]`), broadcast by the operators that take it.
fn scalar_initializer(name: &str, value: f32) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: tensor_proto::DataType::FLOAT as i32,
        float_data: vec![value],
        ..TensorProto::default()
    }
}

/// A 1-D int64 tensor, as operators such as `Unsqueeze` take their axes.
fn int64_initializer(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: tensor_proto::DataType::INT64 as i32,
        int64_data: values.to_vec(),
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
        let bytes = onnx_model(&[&model], &metadata).write_to_bytes().unwrap();
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

    #[test]
    fn a_committee_is_one_graph_of_its_members_joined_by_a_log_mean_exp() {
        let device = BackendKind::default_compiled().device();
        let spec = |hidden: usize| MlpSpec {
            layer_sizes: vec![IMAGE_PIXELS, hidden, CLASSES],
            activation: Activation::Relu,
            init: InitKind::XavierUniform,
            dropout: 0.0,
            l2: 0.0,
        };
        let (small, wide) = (spec(4).init(1, &device), spec(6).init(2, &device));
        let graph = onnx_model(&[&small, &wide], &[]).graph.unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        let member = ["Gemm", "Relu", "Gemm", "LogSoftmax", "Unsqueeze"];
        let join = ["Concat", "ReduceLogSumExp", "Sub"];
        assert_eq!(ops, [&member[..], &member[..], &join[..]].concat());
        assert_eq!(graph.node[0].input, [INPUT, "m0.0.weight", "m0.0.bias"]);
        assert_eq!(graph.node[5].input, [INPUT, "m1.0.weight", "m1.0.bias"]);
        assert_eq!(graph.node[10].input, ["m0.row", "m1.row"]);
        assert_eq!(graph.node[12].output, [OUTPUT]);
        // Each member keeps its own weights; the mean's divisor is the member count.
        let names: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), graph.initializer.len());
        let dims = |name: &str| {
            let found = graph.initializer.iter().find(|t| t.name == name);
            found.unwrap().dims.clone()
        };
        assert_eq!(
            (dims("m0.0.weight"), dims("m1.0.weight")),
            (vec![784, 4], vec![784, 6])
        );
        let log_count = graph
            .initializer
            .iter()
            .find(|t| t.name == "members.log_count");
        assert_eq!(log_count.unwrap().float_data, [2f32.ln()]);
    }
}
