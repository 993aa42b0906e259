//! The model's initialisation and its L2 gradient, on tiny layers.

use burn::prelude::*;
use burn::train::TrainStep;
use mnist_mlp::backend::BackendKind;
use mnist_mlp::config::{Activation, InitKind};
use mnist_mlp::data::MnistBatch;
use mnist_mlp::model::MlpSpec;

fn spec(layer_sizes: Vec<usize>, init: InitKind, l2: f64) -> MlpSpec {
    MlpSpec {
        layer_sizes,
        activation: Activation::Relu,
        init,
        dropout: 0.0,
        l2,
    }
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec().unwrap()
}

#[test]
fn xavier_uniform_weights_lie_in_bounds_and_biases_are_zero() {
    let device = mnist_mlp::backend::BackendKind::default_compiled().device();
    let model = spec(vec![784, 500, 250, 100, 10], InitKind::XavierUniform, 0.0).init(7, &device);
    for layer in &model.layers {
        let [fan_in, fan_out] = layer.weight.dims();
        let bound = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
        let weights = values(layer.weight.val());
        let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
        assert!(
            max <= bound,
            "layer {fan_in}→{fan_out}: |w| {max} > {bound}"
        );
        // Uniform on [-b, b]: the extremes come close to the bound and the variance is b²/3.
        assert!(
            max > 0.95 * bound,
            "layer {fan_in}→{fan_out}: max {max} far below {bound}"
        );
        let variance = weights.iter().map(|w| (w * w) as f64).sum::<f64>() / weights.len() as f64;
        let expected = (bound as f64).powi(2) / 3.0;
        assert!(
            (variance / expected - 1.0).abs() < 0.1,
            "variance {variance} vs {expected}"
        );
        let bias = values(layer.bias.as_ref().expect("bias").val());
        assert!(bias.iter().all(|&b| b == 0.0), "bias not zero");
    }
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let device = mnist_mlp::backend::BackendKind::default_compiled().device();
    let s = spec(vec![20, 8, 10], InitKind::HeNormal, 0.0);
    let a = values(s.init(1, &device).layers[0].weight.val());
    let b = values(s.init(1, &device).layers[0].weight.val());
    let c = values(s.init(2, &device).layers[0].weight.val());
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// The training step's gradients with and without λ differ by (λ/m)·W on every
/// weight matrix and by nothing on the biases, on every CPU backend: flex adds the
/// term inside its fused layers, the others differentiate the penalty.
#[test]
fn l2_adds_lambda_over_m_times_w_to_weight_gradients_only() {
    for backend in BackendKind::compiled() {
        if backend == BackendKind::Wgpu {
            continue; // needs a GPU adapter; the CI's backend check covers it
        }
        l2_gradient_on(backend.device().autodiff());
    }
}

fn l2_gradient_on(device: Device) {
    let (lambda, batch_size) = (0.8, 4);
    let batch = || MnistBatch {
        images: Tensor::from_data(
            TensorData::new(
                (0..batch_size * 6)
                    .map(|i| (i % 7) as f32 / 7.0)
                    .collect::<Vec<_>>(),
                [batch_size, 6],
            ),
            &device,
        ),
        targets: Tensor::from_data(TensorData::new(vec![0i64, 1, 2, 1], [batch_size]), &device),
        dropout_key: 0,
    };
    let gradients = |l2: f64| {
        let model = spec(vec![6, 5, 3], InitKind::XavierUniform, l2).init(3, &device);
        let grads = TrainStep::step(&model, batch()).grads;
        model
            .layers
            .iter()
            .map(|layer| {
                let weight = values(grads.get::<2>(layer.weight.id).unwrap());
                let bias = layer.bias.as_ref().unwrap();
                let bias = values(grads.get::<1>(bias.id).unwrap());
                (values(layer.weight.val()), weight, bias)
            })
            .collect::<Vec<_>>()
    };
    let plain = gradients(0.0);
    let regularised = gradients(lambda);
    for ((w, g0, b0), (_, g1, b1)) in plain.iter().zip(&regularised) {
        for ((w, g0), g1) in w.iter().zip(g0).zip(g1) {
            let expected = (lambda / batch_size as f64) as f32 * w;
            assert!(
                (g1 - g0 - expected).abs() < 1e-5,
                "{device:?}: {g1} - {g0} != {expected}"
            );
        }
        assert_eq!(b0, b1, "{device:?}: biases must not be decayed");
    }
}

#[test]
fn tanh_activation_matches_the_definition() {
    use mnist_mlp::model::ActivationLayer;
    let device = mnist_mlp::backend::BackendKind::default_compiled().device();
    let xs: Vec<f32> = (-60..=60).map(|i| i as f32 / 6.0).collect();
    let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device);
    let ours = values(ActivationLayer::new(Activation::Tanh).forward(x));
    for (x, y) in xs.iter().zip(ours) {
        assert!(
            (y - x.tanh()).abs() < 1e-6,
            "tanh({x}) = {}, got {y}",
            x.tanh()
        );
    }
}

#[test]
fn dropout_acts_while_training_from_the_batch_key_and_is_off_in_evaluation() {
    let device = BackendKind::default_compiled().device();
    device.seed(3);
    let with_dropout = MlpSpec {
        dropout: 0.5,
        ..spec(vec![784, 400, 10], InitKind::XavierUniform, 0.0)
    };
    let plain = spec(vec![784, 400, 10], InitKind::XavierUniform, 0.0);
    let images = Tensor::<2>::ones([4, 784], &device).mul_scalar(0.1);
    // Evaluation (no autodiff): the whole network, exactly as without dropout.
    let evaluated = values(with_dropout.init(1, &device).forward(images.clone()));
    assert_eq!(
        evaluated,
        values(plain.init(1, &device).forward(images.clone()))
    );
    // Training: hidden units dropped, so the output changes; another batch key draws
    // other masks, and on flex the same key draws the same masks (resume relies on it).
    let autodiff = device.clone().autodiff();
    let training = with_dropout.init(1, &autodiff);
    let logits = |dropout_key| {
        let batch = MnistBatch {
            images: Tensor::from_data(images.to_data(), &autodiff),
            targets: Tensor::from_data(TensorData::new(vec![0i64, 1, 2, 3], [4]), &autodiff),
            dropout_key,
        };
        values(TrainStep::step(&training, batch).item.output)
    };
    let first = logits(1);
    assert_ne!(first, evaluated);
    assert_ne!(first, logits(2));
    if mnist_mlp::fused::is_flex(&device) {
        assert_eq!(first, logits(1));
    }
}
