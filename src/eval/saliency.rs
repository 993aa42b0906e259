//! Which pixels decide: the gradient of the predicted digit's probability with
//! respect to each of the 784 inputs the model saw (Simonyan et al., 2013), and
//! input × gradient, the share of the decision each inked pixel carries.

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::digits_batch;
use crate::mnist::IMAGE_PIXELS;
use crate::model::Mlp;

/// One picture explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Saliency {
    /// The predicted digit and its probability.
    pub digit: usize,
    pub probability: f32,
    /// ∂p/∂xᵢ for the 784 inputs xᵢ ∈ [0, 1], row by row.
    pub gradient: Vec<f32>,
    /// xᵢ · ∂p/∂xᵢ.
    pub input_times_gradient: Vec<f32>,
}

/// Explains each 784-byte digit. The model's own weights need no autodiff: only the
/// inputs are tracked, so any model `eval` loads works, on every backend.
pub fn saliency(model: &Mlp, digits: &[Vec<u8>], device: &Device) -> Vec<Saliency> {
    let images = digits_batch(digits, device).images; // [n, 784]
    let inputs = images.clone().autodiff().require_grad();
    let logits = model
        .layer_values(inputs.clone())
        .pop()
        .expect("at least one layer")
        .1; // [n, 10]
    let probs = softmax(logits, 1); // [n, 10]
    let predicted = probs.clone().argmax(1); // [n, 1]
    let chosen = probs.gather(1, predicted.clone()); // [n, 1]
    // Each image's probability depends on its own pixels only, so the gradient of
    // the sum holds every image's gradient in its row.
    let grads = chosen.clone().sum().backward();
    let gradient = inputs.grad(&grads).expect("inputs require grad"); // [n, 784]
    let product = gradient.clone() * images; // [n, 784]
    let rows = |t: Tensor<2>| -> Vec<Vec<f32>> {
        let values = t.into_data().convert::<f32>().try_into_vec::<f32>();
        let values = values.expect("f32 values");
        values.chunks(IMAGE_PIXELS).map(<[f32]>::to_vec).collect()
    };
    let digits = predicted.into_data().convert::<i64>().try_into_vec::<i64>();
    let probabilities = chosen
        .inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>();
    let (digits, probabilities) = (digits.expect("classes"), probabilities.expect("f32"));
    rows(gradient)
        .into_iter()
        .zip(rows(product))
        .zip(digits.into_iter().zip(probabilities))
        .map(
            |((gradient, input_times_gradient), (digit, probability))| Saliency {
                digit: digit as usize,
                probability,
                gradient,
                input_times_gradient,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;
    use crate::eval::probabilities;
    use crate::mnist::CLASSES;

    /// The model's probability of `class` for pixels `x` ∈ [0, 1], computed in f64
    /// from its weights (one tanh hidden layer), so finite differences stay exact.
    fn probability(model: &Mlp, x: &[f64], class: usize) -> f64 {
        let values = |t: Tensor<2>| -> Vec<f64> {
            t.into_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .unwrap()
        };
        let layer = |i: usize| {
            let linear = &model.layers[i];
            let bias = linear.bias.as_ref().unwrap().val().unsqueeze::<2>();
            (values(linear.weight.val()), values(bias))
        };
        let ((w1, b1), (w2, b2)) = (layer(0), layer(1));
        let hidden = b1.len();
        let a: Vec<f64> = (0..hidden)
            .map(|j| {
                (b1[j]
                    + (0..IMAGE_PIXELS)
                        .map(|p| x[p] * w1[p * hidden + j])
                        .sum::<f64>())
                .tanh()
            })
            .collect();
        let z: Vec<f64> = (0..CLASSES)
            .map(|k| b2[k] + (0..hidden).map(|j| a[j] * w2[j * CLASSES + k]).sum::<f64>())
            .collect();
        let total: f64 = z.iter().map(|v| v.exp()).sum();
        z[class].exp() / total
    }

    #[test]
    fn the_saliency_map_equals_finite_differences() {
        let device = BackendKind::default_compiled().device();
        let model = crate::eval::tests::model(5, &device);
        let digit: Vec<u8> = (0..IMAGE_PIXELS).map(|i| (i * 91 % 256) as u8).collect();
        let explained = saliency(&model, std::slice::from_ref(&digit), &device).remove(0);
        let probs = probabilities(&model, std::slice::from_ref(&digit), &device).remove(0);
        let best = (0..CLASSES)
            .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
            .unwrap();
        assert_eq!(explained.digit, best);
        assert!((explained.probability - probs[best]).abs() < 1e-6);
        let x: Vec<f64> = digit.iter().map(|&v| f64::from(v) / 255.0).collect();
        let peak = explained.gradient.iter().fold(0f32, |m, g| m.max(g.abs()));
        assert!(peak > 1e-4, "a gradient to compare: {peak}");
        let h = 1e-4;
        for pixel in (0..IMAGE_PIXELS).step_by(13) {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[pixel] += h;
            down[pixel] -= h;
            let numeric =
                (probability(&model, &up, best) - probability(&model, &down, best)) / (2.0 * h);
            let analytic = f64::from(explained.gradient[pixel]);
            assert!(
                (numeric - analytic).abs() <= 1e-4 * f64::from(peak),
                "pixel {pixel}: finite differences {numeric}, saliency {analytic}"
            );
            let product = f64::from(explained.input_times_gradient[pixel]);
            assert!((product - x[pixel] * analytic).abs() <= 1e-7);
        }
    }
}
