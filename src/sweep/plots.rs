//! One figure per axis: validation accuracy against the axis's value, every finished
//! trial a point and a line through the best at each value, so that where the
//! accuracy peaks shows at a glance. Drawn in the run figures' style (`report::plots`).

use std::path::Path;

use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::folder::SweepDir;
use super::leaderboard::Leaderboard;
use super::{Axis, Domain, Sweep, display_value};
use crate::report::plots::{PALETTE, plot_error, render_png};

/// Keys whose values span orders of magnitude: drawn on a log axis when positive.
const LOG_KEYS: [&str; 4] = ["learning_rate", "l2", "weight_decay", "min_lr"];

/// Draws every axis's figure into `dir`; false (and nothing drawn) while no finished
/// trial has a validation accuracy.
pub fn draw(sweep: &Sweep, dir: &SweepDir, board: &Leaderboard) -> Result<bool> {
    let points: Vec<(&[toml::Value], f64)> = board
        .finished()
        .filter_map(|(trial, summary)| {
            Some((trial.values.as_slice(), summary.validation_accuracy?))
        })
        .collect();
    if points.is_empty() {
        return Ok(false);
    }
    for (index, axis) in sweep.axes.iter().enumerate() {
        let split_by = series_axis(&sweep.axes, index);
        let axis_points: Vec<Point> = points
            .iter()
            .map(|(values, accuracy)| Point {
                value: &values[index],
                accuracy: *accuracy,
                series: split_by.map(|other| {
                    format!(
                        "{} = {}",
                        sweep.axes[other].key,
                        display_value(&values[other])
                    )
                }),
            })
            .collect();
        draw_axis(&dir.figure(&axis.key), axis, &axis_points)?;
    }
    Ok(true)
}

/// One finished trial on one axis's figure.
struct Point<'a> {
    value: &'a toml::Value,
    accuracy: f64,
    /// The line it belongs to, when the figure draws one per value of another axis.
    series: Option<String>,
}

/// In a two-axis grid whose other axis takes a few values, the figure of axis `index`
/// draws one line per value of the other (learning rate per optimizer, say), so that
/// each curve compares like with like.
fn series_axis(axes: &[Axis], index: usize) -> Option<usize> {
    if axes.len() != 2 {
        return None;
    }
    let other = 1 - index;
    match &axes[other].domain {
        Domain::List(values) if values.len() <= PALETTE.len() => Some(other),
        _ => None,
    }
}

/// How an axis's values are placed along x.
enum Scale {
    Linear,
    /// x = log10(value); a value 0 has no place and becomes a horizontal line.
    Log,
    /// Evenly spaced, in the axis's order: arrays, strings, booleans.
    Categories(Vec<String>),
}

fn number(value: &toml::Value) -> Option<f64> {
    match value {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// A tick label: at most `digits` significant digits, no trailing zeros.
fn short(x: f64, digits: usize) -> String {
    let precision = digits - 1;
    format!("{x:.precision$e}")
        .parse::<f64>()
        .unwrap_or(x)
        .to_string()
}

impl Scale {
    fn of(axis: &Axis) -> Self {
        let log_key = LOG_KEYS
            .iter()
            .any(|key| axis.key.rsplit('.').next() == Some(key));
        match &axis.domain {
            Domain::Range(range) if range.log || (log_key && range.min > 0.0) => Self::Log,
            Domain::Range(_) => Self::Linear,
            Domain::List(values) => match values.iter().map(number).collect::<Option<Vec<_>>>() {
                None => {
                    let mut labels: Vec<String> = Vec::new();
                    for label in values.iter().map(display_value) {
                        if !labels.contains(&label) {
                            labels.push(label);
                        }
                    }
                    Self::Categories(labels)
                }
                Some(numbers)
                    if log_key
                        && numbers.iter().all(|&x| x >= 0.0)
                        && numbers.iter().any(|&x| x > 0.0) =>
                {
                    Self::Log
                }
                Some(_) => Self::Linear,
            },
        }
    }

    fn position(&self, value: &toml::Value) -> Option<f64> {
        match self {
            Self::Linear => number(value),
            Self::Log => number(value).filter(|&x| x > 0.0).map(f64::log10),
            Self::Categories(labels) => {
                let label = display_value(value);
                labels.iter().position(|l| *l == label).map(|i| i as f64)
            }
        }
    }

    /// How many x labels to show, and the x axis's title.
    fn x_labels(&self, axis: &Axis) -> (usize, String) {
        match self {
            Self::Categories(labels) => (labels.len() + 1, axis.key.clone()),
            Self::Log => (8, format!("{} (log scale)", axis.key)),
            Self::Linear => (8, axis.key.clone()),
        }
    }

    /// The x extent: every value the axis can take, padded.
    fn extent(&self, axis: &Axis) -> (f64, f64) {
        if let Self::Categories(labels) = self {
            return (-0.5, labels.len() as f64 - 0.5);
        }
        let positions: Vec<f64> = match &axis.domain {
            Domain::List(values) => values.iter().filter_map(|v| self.position(v)).collect(),
            Domain::Range(range) => [range.min, range.max]
                .iter()
                .filter_map(|&x| self.position(&toml::Value::Float(x)))
                .collect(),
        };
        let low = positions.iter().copied().fold(f64::INFINITY, f64::min);
        let high = positions.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if low < high {
            let pad = (high - low) * 0.05;
            (low - pad, high + pad)
        } else if low.is_finite() {
            (low - 0.5, low + 0.5)
        } else {
            (0.0, 1.0)
        }
    }

    fn label(&self, x: f64) -> String {
        match self {
            Self::Linear => short(x, 4),
            // Ticks fall between decades too (0.316…): two digits say enough there.
            Self::Log => short(10f64.powf(x), 2),
            Self::Categories(labels) => {
                let index = x.round();
                if (x - index).abs() < 1e-6 && index >= 0.0 {
                    labels.get(index as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
        }
    }
}

/// One series of a figure: its trials' (x, accuracy) and the best accuracy per x.
struct Line {
    name: Option<String>,
    placed: Vec<(f64, f64)>,
    best: Vec<(f64, f64)>,
}

/// Per series its placed points and, per x, the best accuracy (a line on a numeric axis,
/// a bar per category); and the best accuracy at zero on a log axis, which cannot place it.
fn lines(scale: &Scale, points: &[Point]) -> (Vec<Line>, Option<f64>) {
    let mut names: Vec<Option<String>> = Vec::new();
    for point in points {
        if !names.contains(&point.series) {
            names.push(point.series.clone());
        }
    }
    let mut series: Vec<Line> = Vec::new();
    let mut at_zero: Option<f64> = None;
    for name in names {
        let mut placed: Vec<(f64, f64)> = Vec::new();
        for point in points.iter().filter(|p| p.series == name) {
            match scale.position(point.value) {
                Some(x) => placed.push((x, point.accuracy)),
                None => {
                    at_zero = Some(at_zero.map_or(point.accuracy, |best| best.max(point.accuracy)))
                }
            }
        }
        placed.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut best: Vec<(f64, f64)> = Vec::new();
        for &(x, y) in &placed {
            match best.last_mut() {
                Some(last) if last.0 == x => last.1 = last.1.max(y),
                _ => best.push((x, y)),
            }
        }
        series.push(Line { name, placed, best });
    }
    (series, at_zero)
}

/// The figure for one axis from its finished trials.
fn draw_axis(path: &Path, axis: &Axis, points: &[Point]) -> Result<()> {
    let scale = Scale::of(axis);
    let (series, at_zero) = lines(&scale, points);
    let (x0, x1) = scale.extent(axis);
    let (y0, y1) = accuracy_extent(&series, at_zero);
    let (labels, x_desc) = scale.x_labels(axis);
    let marks = Marks {
        // Random draws over a range rarely repeat an x: a line through them would zig-zag.
        joined: matches!(axis.domain, Domain::List(_)),
        categories: matches!(scale, Scale::Categories(_)),
    };
    render_png(path, (900, 560), |area| {
        area.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!("Validation accuracy vs {}", axis.key),
                ("sans-serif", 24),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("validation accuracy (%)")
            .x_labels(labels)
            .x_label_formatter(&|x| scale.label(*x))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_error)?;
        for (number, line) in series.iter().enumerate() {
            marks.draw(&mut chart, line, PALETTE[number % PALETTE.len()])?;
        }
        if let Some(y) = at_zero {
            let short_key = axis.key.rsplit('.').next().unwrap_or(&axis.key);
            let color = PALETTE[series.len() % PALETTE.len()];
            draw_zero_line(&mut chart, (x0, x1), y, short_key, color)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(plot_error)?;
        area.present().map_err(plot_error)
    })
}

/// An axis figure's chart: x the placed value, y the validation accuracy.
type AxisChart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The y extent: every accuracy drawn, padded, with headroom above the highest point
/// for the legend, so that it hides no trial.
fn accuracy_extent(series: &[Line], at_zero: Option<f64>) -> (f64, f64) {
    let ys = series
        .iter()
        .flat_map(|line| line.placed.iter().map(|p| p.1))
        .chain(at_zero);
    let (low, high) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let pad = ((high - low) * 0.08).max(0.5);
    (low - pad, high + pad + (high - low + pad) * 0.3)
}

/// How a series is marked: its trials as dots, and where the axis lists its values the
/// best at each value as a line (a bar per category).
struct Marks {
    joined: bool,
    categories: bool,
}

impl Marks {
    fn draw(&self, chart: &mut AxisChart, line: &Line, color: RGBColor) -> Result<()> {
        if self.joined {
            let best_series = if self.categories {
                chart.draw_series(line.best.iter().map(|&(x, y)| {
                    PathElement::new(vec![(x - 0.25, y), (x + 0.25, y)], color.stroke_width(3))
                }))
            } else {
                chart.draw_series(LineSeries::new(line.best.clone(), color.stroke_width(2)))
            };
            best_series
                .map_err(plot_error)?
                .label(
                    line.name
                        .clone()
                        .unwrap_or_else(|| "best at each value".into()),
                )
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        let dots = chart
            .draw_series(
                line.placed
                    .iter()
                    .map(|&p| Circle::new(p, 4, color.mix(0.6).filled())),
            )
            .map_err(plot_error)?;
        if line.name.is_none() || !self.joined {
            dots.label(line.name.clone().unwrap_or_else(|| "trials".into()))
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.mix(0.6).filled()));
        }
        Ok(())
    }
}

/// The best accuracy at value 0 on a log axis, which cannot place it: a dashed line across.
fn draw_zero_line(
    chart: &mut AxisChart,
    (x0, x1): (f64, f64),
    y: f64,
    short_key: &str,
    color: RGBColor,
) -> Result<()> {
    chart
        .draw_series(DashedLineSeries::new(
            vec![(x0, y), (x1, y)],
            8,
            6,
            color.stroke_width(2),
        ))
        .map_err(plot_error)?
        .label(format!("{short_key} = 0"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::Range;

    fn list(key: &str, values: Vec<toml::Value>) -> Axis {
        Axis {
            key: key.to_string(),
            domain: Domain::List(values),
        }
    }

    #[test]
    fn rate_and_penalty_keys_get_a_log_axis_with_zero_set_apart() {
        use toml::Value::Float;
        let l2 = list("optimizer.l2", vec![Float(0.0), Float(0.1), Float(1.6)]);
        let scale = Scale::of(&l2);
        assert!(matches!(scale, Scale::Log));
        assert_eq!(scale.position(&Float(0.0)), None);
        assert_eq!(scale.position(&Float(0.1)), Some(-1.0));
        assert_eq!(scale.label(-1.0), "0.1");
        let dropout = list("model.dropout", vec![Float(0.0), Float(0.5)]);
        assert!(matches!(Scale::of(&dropout), Scale::Linear));
        let declared = Axis {
            key: "training.batch_size".into(),
            domain: Domain::Range(Range {
                min: 16.0,
                max: 256.0,
                log: true,
                integer: true,
            }),
        };
        assert!(matches!(Scale::of(&declared), Scale::Log));
    }

    #[test]
    fn a_two_axis_grid_draws_one_line_per_value_of_the_other_axis() {
        use toml::Value::Float;
        let rates = list("optimizer.learning_rate", vec![Float(0.01), Float(0.1)]);
        let names = list("optimizer.name", vec!["sgd".into(), "adam".into()]);
        let many = list(
            "model.dropout",
            (0..10).map(|i| Float(i as f64 / 20.0)).collect(),
        );
        assert_eq!(series_axis(&[rates.clone(), names.clone()], 0), Some(1));
        assert_eq!(series_axis(&[rates.clone(), names.clone()], 1), Some(0));
        // Too many values for the palette, or not exactly two axes: one line.
        assert_eq!(series_axis(&[names.clone(), many], 0), None);
        assert_eq!(series_axis(std::slice::from_ref(&rates), 0), None);
        assert_eq!(series_axis(&[rates.clone(), names.clone(), rates], 0), None);
    }

    #[test]
    fn arrays_and_strings_are_evenly_spaced_categories() {
        let hidden: Vec<toml::Value> = ["[100]", "[500, 250]"]
            .iter()
            .map(|text| format!("v = {text}").parse::<toml::Table>().unwrap()["v"].clone())
            .collect();
        let scale = Scale::of(&list("model.hidden", hidden.clone()));
        assert_eq!(scale.position(&hidden[1]), Some(1.0));
        assert_eq!(scale.label(1.0), "[500, 250]");
        assert_eq!(scale.label(0.5), "");
        let names = vec![toml::Value::String("sgd".into()), "adam".into()];
        assert_eq!(Scale::of(&list("optimizer.name", names)).label(1.0), "adam");
    }
}
