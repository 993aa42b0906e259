//! The fused flex kernels against Burn's own ops: forward values and every
//! gradient on odd shapes for each activation, the cross-entropy and its gradient,
//! and a finite-difference check.
#![cfg(feature = "flex")]

use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid, tanh};
use mnist_mlp::fused::{self, KernelActivation};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

fn random(shape: &[usize], rng: &mut StdRng, device: &Device) -> Tensor<2> {
    let count = shape.iter().product();
    let uniform = Uniform::new(-1.0f32, 1.0).unwrap();
    let values: Vec<f32> = (0..count).map(|_| uniform.sample(rng)).collect();
    Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// Largest difference relative to the largest magnitude of the reference.
fn relative_gap(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    got.iter()
        .zip(want)
        .fold(0f32, |m, (g, w)| m.max((g - w).abs()))
        / scale
}

/// Burn's standard path for the same layer.
fn standard(x: Tensor<2>, w: Tensor<2>, b: Tensor<1>, act: KernelActivation) -> Tensor<2> {
    let z = x.matmul(w) + b.unsqueeze::<2>();
    match act {
        KernelActivation::Identity => z,
        KernelActivation::Relu => relu(z),
        KernelActivation::Sigmoid => sigmoid(z),
        KernelActivation::Tanh => tanh(z),
    }
}

/// With a weight decay d, the fused layer's dW also carries the gradient of
/// (d/2)·‖w‖², which the standard path adds to its loss; with dropout, the standard
/// path multiplies by the same mask's factors.
#[test]
fn forward_and_gradients_match_burns_ops() {
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(3);
    // Odd shapes, one of them large enough to be split across two cores.
    let cases = [
        (5, 7, 3, 0.0, 0.0),
        (33, 129, 65, 0.3, 0.5),
        (64, 784, 500, 0.0125, 0.2),
    ];
    for (m, k, n, decay, dropout) in cases {
        let regularise = fused::Regularise {
            decay,
            dropout,
            key: 77,
        };
        let factors = fused::dropout_factors(dropout, 77, m, n);
        let factors = Tensor::<2>::from_data(TensorData::new(factors, [m, n]), &device);
        for act in [
            KernelActivation::Identity,
            KernelActivation::Relu,
            KernelActivation::Sigmoid,
            KernelActivation::Tanh,
        ] {
            let x = random(&[m, k], &mut rng, &device);
            let w = random(&[k, n], &mut rng, &device);
            let b = random(&[1, n], &mut rng, &device).reshape([n]);
            let r = random(&[m, n], &mut rng, &device);
            let run = |fused_path: bool| {
                let (x, w, b) = (
                    x.clone().require_grad(),
                    w.clone().require_grad(),
                    b.clone().require_grad(),
                );
                let (y, penalty) = if fused_path {
                    let y = fused::linear(x.clone(), w.clone(), b.clone(), act, regularise);
                    (y, None)
                } else {
                    let penalty = w.clone().square().sum().mul_scalar(decay / 2.0);
                    let y = standard(x.clone(), w.clone(), b.clone(), act) * factors.clone();
                    (y, Some(penalty))
                };
                // A loss whose gradient is `r`, so that every output element matters.
                let loss = (y.clone() * r.clone()).sum();
                let grads = match penalty {
                    Some(penalty) => (loss + penalty).backward(),
                    None => loss.backward(),
                };
                [
                    values(y),
                    values(x.grad(&grads).unwrap()),
                    values(w.grad(&grads).unwrap()),
                    values(b.grad(&grads).unwrap()),
                ]
            };
            let (ours, burns) = (run(true), run(false));
            for (what, (got, want)) in ["output", "dx", "dw", "db"]
                .iter()
                .zip(ours.iter().zip(&burns))
            {
                let gap = relative_gap(got, want);
                assert!(
                    gap < 1e-5,
                    "{act:?} {m}×{k}×{n} decay {decay} dropout {dropout} {what}: gap {gap}"
                );
            }
        }
    }
}

#[test]
fn cross_entropy_and_its_gradient_match_burns_loss() {
    use burn::nn::loss::CrossEntropyLossConfig;
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(5);
    // Odd shapes; the last with logits far from zero, where an unshifted exp overflows.
    for (rows, classes, spread) in [(5, 3, 1.0), (64, 10, 4.0), (37, 11, 200.0)] {
        let logits = random(&[rows, classes], &mut rng, &device) * spread;
        let targets: Vec<i64> = (0..rows).map(|r| ((r * 7) % classes) as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [rows]), &device);
        let run = |fused_path: bool| {
            let logits = logits.clone().require_grad();
            let loss = if fused_path {
                fused::cross_entropy(logits.clone(), targets.clone())
            } else {
                CrossEntropyLossConfig::new()
                    .init(&device)
                    .forward(logits.clone(), targets.clone())
            };
            // Scaled, so that the incoming gradient is not 1.
            let grads = (loss.clone() * 3.0).backward();
            [values(loss), values(logits.grad(&grads).unwrap())]
        };
        let (ours, burns) = (run(true), run(false));
        for (what, (got, want)) in ["loss", "dlogits"].iter().zip(ours.iter().zip(&burns)) {
            assert!(
                got.iter().all(|v| v.is_finite()),
                "{rows}×{classes} {what}: not finite"
            );
            let gap = relative_gap(got, want);
            assert!(gap < 1e-5, "{rows}×{classes} {what}: relative gap {gap}");
        }
    }
}

#[test]
fn gradients_match_finite_differences_on_a_tiny_model() {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(9);
    let x = random(&[4, 6], &mut rng, &device);
    let w1 = random(&[6, 5], &mut rng, &device);
    let w2 = random(&[5, 3], &mut rng, &device);
    let b1 = random(&[1, 5], &mut rng, &device).reshape([5]);
    let b2 = random(&[1, 3], &mut rng, &device).reshape([3]);
    for act in [
        KernelActivation::Relu,
        KernelActivation::Sigmoid,
        KernelActivation::Tanh,
    ] {
        // loss(w1) = Σ fused(fused(x, w1, b1, act), w2, b2)², in f64 for the differences.
        let loss = |w1: &Tensor<2>| -> f64 {
            let none = fused::Regularise::default();
            let h = fused::linear(x.clone(), w1.clone(), b1.clone(), act, none);
            let y = fused::linear(h, w2.clone(), b2.clone(), KernelActivation::Identity, none);
            values(y).iter().map(|v| f64::from(*v).powi(2)).sum()
        };
        let ad = device.clone().autodiff();
        let w1_tracked = Tensor::<2>::from_data(w1.to_data(), &ad).require_grad();
        let h = fused::linear(
            Tensor::from_data(x.to_data(), &ad),
            w1_tracked.clone(),
            Tensor::from_data(b1.to_data(), &ad),
            act,
            fused::Regularise::default(),
        );
        let y = fused::linear(
            h,
            Tensor::from_data(w2.to_data(), &ad),
            Tensor::from_data(b2.to_data(), &ad),
            KernelActivation::Identity,
            fused::Regularise::default(),
        );
        let analytic = values(w1_tracked.grad(&y.powi_scalar(2).sum().backward()).unwrap());
        let base = values(w1.clone());
        let eps = 1e-2f32;
        for index in [0, 7, 13, 29] {
            let nudged = |delta: f32| {
                let mut v = base.clone();
                v[index] += delta;
                Tensor::<2>::from_data(TensorData::new(v, [6, 5]), &device)
            };
            let numeric = (loss(&nudged(eps)) - loss(&nudged(-eps))) / (2.0 * f64::from(eps));
            let a = f64::from(analytic[index]);
            assert!(
                (numeric - a).abs() <= 2e-2 * a.abs().max(0.1),
                "{act:?} w1[{index}]: numeric {numeric}, autodiff {a}"
            );
        }
    }
}

/// Ten steps of an optimizer on one parameter with a fixed sequence of gradients.
fn ten_steps<O: burn::optim::Optimizer>(optimizer: &O, device: &Device) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(21);
    let mut w = random(&[33, 17], &mut rng, device);
    let mut state = None;
    for _ in 0..10 {
        let g = random(&[33, 17], &mut rng, device);
        let (next, next_state) = optimizer.step(0.01, w, g, state);
        w = next;
        state = next_state;
    }
    values(w)
}

#[test]
fn fused_optimizers_equal_burn_optims_to_the_bit_over_ten_steps() {
    use burn::optim::{AdamConfig, SgdConfig, momentum::MomentumConfig};
    use mnist_mlp::fused::{FusedAdam, FusedMomentumSgd, FusedSgd};
    let device = Device::flex();
    let adam = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8);
    let fused_adam = FusedAdam {
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
    };
    let momentum = |nesterov| {
        let config = MomentumConfig {
            momentum: 0.9,
            dampening: 0.0,
            nesterov,
        };
        let fused = FusedMomentumSgd {
            momentum: 0.9,
            nesterov,
        };
        let burns = SgdConfig::new().with_momentum(Some(config)).build();
        (ten_steps(&fused, &device), ten_steps(&burns, &device))
    };
    let (momentum_ours, momentum_burns) = momentum(false);
    let (nesterov_ours, nesterov_burns) = momentum(true);
    for (what, ours, burns) in [
        (
            "sgd",
            ten_steps(&FusedSgd, &device),
            ten_steps(&SgdConfig::new().build(), &device),
        ),
        ("momentum", momentum_ours, momentum_burns),
        ("nesterov", nesterov_ours, nesterov_burns),
        (
            "adam",
            ten_steps(&fused_adam, &device),
            ten_steps(&adam.build(), &device),
        ),
    ] {
        assert!(ours == burns, "{what}: {}", relative_gap(&ours, &burns));
    }
}

/// A checkpoint's optimizer state must load into either SGD: the fused velocity
/// flattens to the names and values burn-optim's `SgdState` does, and back.
#[test]
fn the_fused_velocity_flattens_as_burn_optims_sgd_state() {
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{Optimizer, RecordState, SgdConfig, StateSink, StateSource};
    use mnist_mlp::fused::{FusedMomentumSgd, VelocityState};
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(5);
    let (w, g) = (
        random(&[4, 3], &mut rng, &device),
        random(&[4, 3], &mut rng, &device),
    );
    let config = MomentumConfig {
        momentum: 0.5,
        dampening: 0.0,
        nesterov: false,
    };
    let burns = SgdConfig::new().with_momentum(Some(config)).build();
    let fused = FusedMomentumSgd {
        momentum: 0.5,
        nesterov: false,
    };
    let flat = |state: &dyn Fn(&mut StateSink)| {
        let mut sink = StateSink::default();
        state(&mut sink);
        let [(name, data)] = <[_; 1]>::try_from(sink.tensors).expect("one tensor");
        (name, data.try_to_vec::<f32>().expect("f32 values"))
    };
    let theirs = burns
        .step(0.1, w.clone(), g.clone(), None)
        .1
        .expect("a state");
    let ours = fused.step(0.1, w, g, None).1.expect("a state");
    let burns_flat = flat(&|sink| theirs.state_flatten("layer.weight", sink));
    assert_eq!(burns_flat.0, "layer.weight.momentum.velocity");
    assert_eq!(
        flat(&|sink| ours.state_flatten("layer.weight", sink)),
        burns_flat
    );

    let mut source = StateSource::default();
    let mut sink = StateSink::default();
    theirs.state_flatten("p", &mut sink);
    for (name, data) in sink.tensors {
        source.insert_tensor(name, data);
    }
    let loaded = VelocityState::<2>::state_unflatten("p", &mut source, &device).expect("loads");
    assert_eq!(values(loaded.velocity), burns_flat.1);
}
