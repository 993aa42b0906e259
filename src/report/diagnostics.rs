//! The run's diagnostics as figures (gradient norms, update ratios, saturation and
//! weight norms per layer over the epochs) and as sentences, each from a rule over
//! the numbers, for report.md.

use std::path::Path;

use anyhow::Result;

use super::plots::{Chart, Scale, Series, chart_grid};
use crate::config::Activation;
use crate::model::diagnostics::{LayerDiagnostics, SATURATION};
use crate::run_files::diagnostics::DiagnosticsLog;

type Field = fn(&LayerDiagnostics) -> Option<f64>;

/// One line per layer of `field` over the epochs (layers without it left out).
pub fn layer_series(log: &DiagnosticsLog, field: Field, suffix: &str) -> Vec<Series> {
    let output = log.layers().last().copied();
    log.layers()
        .into_iter()
        .map(|layer| Series {
            name: match Some(layer) == output {
                true => format!("layer {layer} (output){suffix}"),
                false => format!("layer {layer}{suffix}"),
            },
            points: log
                .of_layer(layer)
                .filter_map(|row| Some((row.epoch as f64, field(row)?)))
                .collect(),
        })
        .filter(|series| !series.points.is_empty())
        .collect()
}

/// A chart of one figure per layer over the epochs.
fn chart<'a>(title: &'a str, y_label: &'a str, y_scale: Scale, series: Vec<Series>) -> Chart<'a> {
    Chart {
        title,
        x_label: "epoch (0: as initialised)",
        y_label,
        y_scale,
        series,
    }
}

/// The four panels of `diagnostics.png`: norms and ratios on a log scale where they
/// span decades, shares in percent.
pub fn draw_diagnostics(
    path: &Path,
    name: &str,
    activation: Activation,
    log: &DiagnosticsLog,
) -> Result<()> {
    let gradient_title = format!("{name}: gradient norm ‖∂L/∂W‖");
    let saturation_title = match activation {
        Activation::Relu => format!("{name}: inactive units (dead: on every image)"),
        _ => format!("{name}: saturated units (dead: on every image)"),
    };
    let mut saturation = layer_series(log, |r| r.saturated_share.map(|s| 100.0 * s), "");
    saturation.extend(layer_series(
        log,
        |r| r.dead_share.map(|s| 100.0 * s),
        " dead",
    ));
    let gradients = layer_series(log, |r| Some(r.weight_grad_norm), "");
    let updates = layer_series(log, |r| r.update_ratio, "");
    let weights = layer_series(log, |r| Some(r.weight_norm), "");
    let charts = [
        chart(
            &gradient_title,
            "‖∂L/∂W‖ on the probe batch",
            Scale::fitting(&gradients),
            gradients,
        ),
        chart(
            "update per epoch ‖ΔW‖ / ‖W‖",
            "update ratio",
            Scale::fitting(&updates),
            updates,
        ),
        chart(
            &saturation_title,
            "% of (image, unit) pairs; dead: % of units",
            Scale::Percent,
            saturation,
        ),
        chart(
            "weight norm ‖W‖",
            "‖W‖ (Frobenius)",
            Scale::fitting(&weights),
            weights,
        ),
    ];
    chart_grid(path, (1400, 1000), 2, &charts)
}

/// The report's "Diagnostics" paragraphs: what the numbers show, in words.
pub fn diagnostics_text(log: &DiagnosticsLog, activation: Activation) -> String {
    let layers = log.layers();
    let (Some(&first), Some(&output), Some(last_epoch)) =
        (layers.first(), layers.last(), log.last_epoch())
    else {
        return "This run recorded no diagnostics.\n".into();
    };
    let epoch = last_epoch.min(1);
    let mut sentences = Vec::new();
    sentences.extend(gradient_sentence(log, first, output, last_epoch));
    let hidden: Vec<usize> = layers.iter().copied().filter(|&l| l != output).collect();
    sentences.extend(saturation_sentence(
        log, &hidden, epoch, last_epoch, activation,
    ));
    sentences.extend(weight_sentence(log, &layers, last_epoch));
    sentences.extend(update_sentence(log, first, output, last_epoch));
    sentences.join("\n\n") + "\n"
}

/// How much of the gradient reaches the first layer, as initialised, after epoch
/// 1 and at the end.
fn gradient_sentence(
    log: &DiagnosticsLog,
    first: usize,
    output: usize,
    last_epoch: usize,
) -> Option<String> {
    let ratio = |epoch| {
        Some(log.at(epoch, output)?.weight_grad_norm / log.at(epoch, first)?.weight_grad_norm)
    };
    let as_text = |ratio: f64| match ratio {
        r if r >= 1.5 => format!("{r:.0}× smaller"),
        r if r <= 1.0 / 1.5 => format!("{:.0}× larger", 1.0 / r),
        _ => "about the same".to_string(),
    };
    let mut epochs = vec![0, 1, last_epoch];
    epochs.dedup();
    let moments: Vec<String> = epochs
        .iter()
        .filter_map(|&epoch| {
            let when = match epoch {
                0 => "as initialised".to_string(),
                _ => format!("after epoch {epoch}"),
            };
            Some(format!("{} {when}", as_text(ratio(epoch)?)))
        })
        .collect();
    let start = ratio(1).or(ratio(0))?;
    let verdict = match start {
        // The same bound as "smaller" above, so that the words never disagree.
        r if r >= 1.5 => {
            " The gradient fades on its way back through the layers, so the first layer learns slowest."
        }
        _ => " The gradient reaches the first layer undiminished.",
    };
    let moments = match moments.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => return None,
    };
    Some(format!(
        "The first layer's gradient norm against the output layer's: {moments}.{verdict}"
    ))
}

/// The most saturated (or, for ReLU, the deadest) hidden layer, early and late.
fn saturation_sentence(
    log: &DiagnosticsLog,
    hidden: &[usize],
    epoch: usize,
    last_epoch: usize,
    activation: Activation,
) -> Option<String> {
    let figure = |e: usize, layer: usize, field: Field| log.at(e, layer).and_then(field);
    // The highest last; among equals the first layer (max_by keeps the last of equals).
    let worst = |field: Field| {
        hidden.iter().copied().rev().max_by(|&a, &b| {
            figure(last_epoch, a, field)
                .unwrap_or(0.0)
                .total_cmp(&figure(last_epoch, b, field).unwrap_or(0.0))
        })
    };
    let percent = |x: Option<f64>| format!("{:.0} %", 100.0 * x.unwrap_or(f64::NAN));
    if activation == Activation::Relu {
        let layer = worst(|r| r.dead_share)?;
        let dead = figure(last_epoch, layer, |r| r.dead_share)?;
        let inactive = figure(last_epoch, layer, |r| r.saturated_share);
        let verdict = match dead {
            0.0 => "no hidden unit is dead: every one fires on some probe image".to_string(),
            _ => format!(
                "{} of layer {layer}'s units are dead (they fire on none of the probe images) and get no gradient",
                percent(Some(dead))
            ),
        };
        return Some(format!(
            "After epoch {last_epoch}, {verdict}; {} of layer {layer}'s unit outputs are zero, the sparsity ReLU trades for an undiminished gradient through the rest.",
            percent(inactive)
        ));
    }
    let layer = worst(|r| r.saturated_share)?;
    let derivative = figure(epoch, layer, |r| r.derivative_share)?;
    let (peak, bound) = match activation {
        Activation::Sigmoid => (0.25, "a quarter at most"),
        _ => (1.0, "at most 1"),
    };
    Some(format!(
        "In epoch {epoch}, {} of layer {layer}'s {activation} units are saturated (derivative under {:.0} % of its peak) and {} after epoch {last_epoch}. Their mean derivative is {:.3}, {:.0} % of the {activation}'s peak of {peak}: each {activation} layer scales the gradient passing back through it by that, {bound}, where a ReLU passes it on whole through every unit that fires.",
        percent(figure(epoch, layer, |r| r.saturated_share)),
        100.0 * SATURATION,
        percent(figure(last_epoch, layer, |r| r.saturated_share)),
        derivative * peak,
        100.0 * derivative,
    ))
}

/// How the weights' overall size moved, which L2 shows as shrinking.
fn weight_sentence(log: &DiagnosticsLog, layers: &[usize], last_epoch: usize) -> Option<String> {
    let total = |epoch: usize| -> Option<f64> {
        let squares = layers
            .iter()
            .map(|&l| log.at(epoch, l).map(|r| r.weight_norm.powi(2)));
        Some(squares.sum::<Option<f64>>()?.sqrt())
    };
    let (start, end) = (total(0)?, total(last_epoch)?);
    let change = 100.0 * (end / start - 1.0);
    let trend = if change < -5.0 {
        "shrank"
    } else if change > 5.0 {
        "grew"
    } else {
        "stayed about the same"
    };
    Some(format!(
        "The weights' overall norm {trend}: {start:.2} as initialised, {end:.2} after epoch {last_epoch} ({change:+.0} %)."
    ))
}

/// Which layer moved most in the last epoch, relative to its size.
fn update_sentence(
    log: &DiagnosticsLog,
    first: usize,
    output: usize,
    last_epoch: usize,
) -> Option<String> {
    let ratio = |layer| log.at(last_epoch, layer)?.update_ratio;
    let (a, b) = (ratio(first)?, ratio(output)?);
    Some(format!(
        "In epoch {last_epoch} the updates moved the first layer's weights by {:.2} % of their norm and the output layer's by {:.2} %.",
        100.0 * a,
        100.0 * b
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, layer: usize, grad: f64, saturated: f64, dead: f64) -> LayerDiagnostics {
        let hidden = layer < 3;
        LayerDiagnostics {
            epoch,
            layer,
            weight_norm: 10.0 - epoch as f64,
            weight_grad_norm: grad,
            bias_grad_norm: grad / 2.0,
            update_ratio: (epoch > 0).then_some(0.01 * layer as f64),
            activation_mean: hidden.then_some(0.5),
            activation_std: hidden.then_some(0.2),
            derivative_share: hidden.then_some(0.6),
            saturated_share: hidden.then_some(saturated),
            dead_share: hidden.then_some(dead),
        }
    }

    fn log(first_grad: f64, saturated: f64, dead: f64) -> DiagnosticsLog {
        DiagnosticsLog {
            rows: (0..=2)
                .flat_map(|e| {
                    [
                        row(e, 1, first_grad, saturated, dead),
                        row(e, 2, 0.05, saturated / 2.0, 0.0),
                        row(e, 3, 0.1, 0.0, 0.0),
                    ]
                })
                .collect(),
        }
    }

    #[test]
    fn the_words_follow_the_numbers() {
        let text = diagnostics_text(&log(0.0025, 0.62, 0.1), Activation::Sigmoid);
        assert!(
            text.contains("output layer's: 40× smaller as initialised, 40× smaller after epoch 1 and 40× smaller after epoch 2. The gradient fades"),
            "{text}"
        );
        assert!(
            text.contains("62 % of layer 1's sigmoid units are saturated"),
            "{text}"
        );
        assert!(
            text.contains("0.150, 60 % of the sigmoid's peak of 0.25"),
            "{text}"
        );
        // Every layer's norm fell from 10 to 8: shrank by 20 %.
        assert!(
            text.contains("shrank: 17.32 as initialised, 13.86 after epoch 2 (-20 %)"),
            "{text}"
        );
        assert!(text.contains("first layer's weights by 1.00 %"), "{text}");

        let relu = diagnostics_text(&log(0.1, 0.4, 0.0), Activation::Relu);
        assert!(
            relu.contains("output layer's: about the same as initialised")
                && relu.contains("reaches the first layer undiminished"),
            "{relu}"
        );
        assert!(relu.contains("no hidden unit is dead"), "{relu}");
        assert!(
            relu.contains("40 % of layer 1's unit outputs are zero"),
            "{relu}"
        );
        let dead = diagnostics_text(&log(0.1, 0.4, 0.25), Activation::Relu);
        assert!(dead.contains("25 % of layer 1's units are dead"), "{dead}");
        assert!(
            diagnostics_text(&DiagnosticsLog::default(), Activation::Relu)
                .contains("no diagnostics")
        );
    }

    #[test]
    fn one_line_per_layer_and_the_output_named() {
        let series = layer_series(&log(0.1, 0.4, 0.0), |r| r.dead_share, " dead");
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["layer 1 dead", "layer 2 dead"]);
        let series = layer_series(&log(0.1, 0.4, 0.0), |r| Some(r.weight_norm), "");
        assert_eq!(series[2].name, "layer 3 (output)");
        assert_eq!(series[2].points, [(0.0, 10.0), (1.0, 9.0), (2.0, 8.0)]);
    }
}
