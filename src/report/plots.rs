//! PNG figures drawn with plotters, using a bundled font so they render the same
//! on a machine without system fonts. Every PNG is written atomically.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::eval::ConfusionMatrix;
use crate::fsutil::write_atomic;
use crate::mnist::IMAGE_SIDE;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled font is a valid TTF"));
    });
}

/// Draws into an RGB buffer with `draw`, then saves it as PNG at `path`.
pub(crate) fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    ensure_font();
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(area)?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels).expect("buffer matches size");
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png)?;
    write_atomic(path, &png.into_inner())
}

pub(crate) fn plot_error<E: std::fmt::Display>(err: E) -> anyhow::Error {
    anyhow!("drawing failed: {err}")
}

/// One named line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How a chart's y axis runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Powers of ten: for figures that span decades (non-positive values are left out).
    Log,
    /// Shares in percent: linear from 0, up to at least 1 %, so that zeros read as zeros.
    Percent,
}

impl Scale {
    /// Log where the positive figures of `series` span a factor of ten or more.
    pub fn fitting(series: &[Series]) -> Self {
        let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let (low, high) = ys
            .filter(|y| y.is_finite() && *y > 0.0)
            .fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
        if high >= 10.0 * low {
            Self::Log
        } else {
            Self::Linear
        }
    }
}

/// What a chart is titled and labelled, and its y scale.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub y_scale: Scale,
    pub series: Vec<Series>,
}

/// A line chart with a legend, one colour per series.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: Vec<Series>,
) -> Result<()> {
    let chart = Chart {
        title,
        x_label,
        y_label,
        y_scale: Scale::Linear,
        series,
    };
    chart_grid(path, (900, 560), 1, &[chart])
}

/// Charts in one PNG of `size`, `columns` to a row.
pub fn chart_grid(path: &Path, size: (u32, u32), columns: usize, charts: &[Chart]) -> Result<()> {
    let rows = charts.len().div_ceil(columns);
    render_png(path, size, |area| {
        area.fill(&WHITE).map_err(plot_error)?;
        for (panel, chart) in area.split_evenly((rows, columns)).iter().zip(charts) {
            draw_lines(panel, chart)?;
        }
        area.present().map_err(plot_error)
    })
}

/// Draws `chart` into `area`; on a log scale the y values are drawn as their
/// logarithms and labelled as the numbers they stand for.
fn draw_lines(area: &DrawingArea<BitMapBackend, Shift>, chart: &Chart) -> Result<()> {
    let log = chart.y_scale == Scale::Log;
    let shown = |(x, y): (f64, f64)| match log {
        true => (y > 0.0).then(|| (x, y.log10())),
        false => Some((x, y)),
    };
    let series: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| s.points.iter().filter_map(|&p| shown(p)).collect())
        .collect();
    let ((x0, x1), (mut y0, mut y1)) = bounds(&series);
    if chart.y_scale == Scale::Percent {
        (y0, y1) = (0.0, y1.max(1.0));
    }
    let mut plot = ChartBuilder::on(area)
        .caption(chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_error)?;
    let y_formatter = |y: &f64| format!("{:.0e}", 10f64.powf(*y));
    let mut mesh = plot.configure_mesh();
    mesh.x_desc(chart.x_label)
        .y_desc(chart.y_label)
        // x is an epoch or an iteration: label whole numbers only.
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 14));
    if log {
        mesh.y_label_formatter(&y_formatter);
    }
    mesh.draw().map_err(plot_error)?;
    draw_series(&mut plot, chart, &series)
}

type LineChart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Each of `chart`'s series as the line through its `shown` points (dots too when
/// there are few), in its palette colour, and the legend naming them.
fn draw_series<'a, 'b: 'a>(
    plot: &mut LineChart<'a, 'b>,
    chart: &Chart,
    shown: &[Vec<(f64, f64)>],
) -> Result<()> {
    let count = chart.series.len();
    for (index, (s, points)) in chart.series.iter().zip(shown).enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let drawn = plot
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?;
        if let Some(label) = legend_label(index, count, &s.name) {
            drawn.label(label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
        if points.len() <= 30 {
            plot.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(plot_error)?;
        }
    }
    plot.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_error)
}

/// Rows a legend has room for in a 560 px chart.
const LEGEND_ROWS: usize = 20;

/// Series `index`'s row of the legend, of `count` series: past [`LEGEND_ROWS`], the
/// last row counts the ones left out (a comparison of a whole sweep's trials).
fn legend_label(index: usize, count: usize, name: &str) -> Option<String> {
    let last = LEGEND_ROWS - 1;
    match index {
        i if i < last || count <= LEGEND_ROWS => Some(name.to_string()),
        i if i == last => Some(format!("… and {} more", count - last)),
        _ => None,
    }
}

/// The x and y ranges holding every finite point, the y range padded by 5 %.
fn bounds(series: &[Vec<(f64, f64)>]) -> ((f64, f64), (f64, f64)) {
    let all = series.iter().flatten().filter(|(_, y)| y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    ((x0, x1), (y0 - pad, y1 + pad))
}

/// The confusion matrix as a heat map with the count in every cell.
pub fn confusion_heatmap(path: &Path, title: &str, confusion: &ConfusionMatrix) -> Result<()> {
    let n = confusion.classes();
    render_png(path, (760, 720), |area| {
        area.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(48)
            .build_cartesian_2d(0..n, 0..n)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            // Zero labels sends plotters 0.3.7 into an endless loop; blank ones instead.
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|_| String::new())
            .draw()
            .map_err(plot_error)?;
        draw_class_labels(&area, &chart)?;
        for (truth, row) in confusion.matrix.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (predicted, &count) in row.iter().enumerate() {
                // Shade by the share of the true class, so rare mistakes stay visible.
                let share = count as f64 / total.max(1) as f64;
                draw_cell(&area, &mut chart, (truth, predicted), count, share)?;
            }
        }
        area.present().map_err(plot_error)
    })
}

/// The confusion heat map's chart: one unit per class on both axes, true classes from the top.
type ClassChart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordusize, RangedCoordusize>>;

/// Class names centred under each column and beside each row.
fn draw_class_labels(area: &DrawingArea<BitMapBackend, Shift>, chart: &ClassChart) -> Result<()> {
    let n = chart.x_range().end;
    let label_style = ("sans-serif", 15).into_font().color(&BLACK);
    for class in 0..n {
        let (x_left, y_bottom) = chart.backend_coord(&(class, 0));
        let (x_right, _) = chart.backend_coord(&(class + 1, 0));
        area.draw_text(
            &class.to_string(),
            &label_style,
            ((x_left + x_right) / 2 - 4, y_bottom + 6),
        )
        .map_err(plot_error)?;
        let (x_axis, y_top) = chart.backend_coord(&(0, n - class));
        let (_, y_low) = chart.backend_coord(&(0, n - 1 - class));
        area.draw_text(
            &class.to_string(),
            &label_style,
            (x_axis - 16, (y_top + y_low) / 2 - 7),
        )
        .map_err(plot_error)?;
    }
    Ok(())
}

/// One cell: shaded by `share` (of its true class), its count written in its middle.
fn draw_cell(
    area: &DrawingArea<BitMapBackend, Shift>,
    chart: &mut ClassChart,
    (truth, predicted): (usize, usize),
    count: usize,
    share: f64,
) -> Result<()> {
    let intensity = share.sqrt();
    let color = RGBColor(
        (255.0 * (1.0 - 0.85 * intensity)) as u8,
        (255.0 * (1.0 - 0.6 * intensity)) as u8,
        255,
    );
    let n = chart.x_range().end;
    let y = n - 1 - truth;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(predicted, y), (predicted + 1, y + 1)],
            color.filled(),
        )))
        .map_err(plot_error)?;
    let text_color = if intensity > 0.6 { WHITE } else { BLACK };
    let (cx, cy) = chart.backend_coord(&(predicted, y + 1));
    let (cx2, cy2) = chart.backend_coord(&(predicted + 1, y));
    let label = count.to_string();
    let style = ("sans-serif", 13).into_font().color(&text_color);
    let offset = (label.len() as i32) * 4;
    area.draw_text(
        &label,
        &style,
        ((cx + cx2) / 2 - offset, (cy + cy2) / 2 - 7),
    )
    .map_err(plot_error)
}

/// A grid of 28×28 digits, each scaled up, with a caption above it.
pub fn digit_grid(
    path: &Path,
    title: &str,
    digits: &[(&[u8], String)],
    columns: usize,
) -> Result<()> {
    let scale = 5i32;
    let cell = IMAGE_SIDE as i32 * scale;
    let (caption_h, gap, title_h) = (26, 14, 40);
    let columns = columns.max(1);
    let rows = digits.len().div_ceil(columns);
    let width = columns as i32 * (cell + gap) + gap;
    let height = title_h + rows as i32 * (cell + caption_h + gap) + gap;
    render_png(path, (width as u32, height as u32), |area| {
        area.fill(&WHITE).map_err(plot_error)?;
        area.draw_text(
            title,
            &("sans-serif", 20).into_font().color(&BLACK),
            (gap, 10),
        )
        .map_err(plot_error)?;
        for (index, (pixels, caption)) in digits.iter().enumerate() {
            let x0 = gap + (index % columns) as i32 * (cell + gap);
            let y0 = title_h + (index / columns) as i32 * (cell + caption_h + gap);
            area.draw_text(
                caption,
                &("sans-serif", 15).into_font().color(&BLACK),
                (x0, y0 + 2),
            )
            .map_err(plot_error)?;
            let top = y0 + caption_h;
            for (p, &value) in pixels.iter().enumerate() {
                let (r, c) = ((p / IMAGE_SIDE) as i32, (p % IMAGE_SIDE) as i32);
                // Dark ink on white paper, as the digits were written.
                let shade = 255 - value;
                let rect = Rectangle::new(
                    [
                        (x0 + c * scale, top + r * scale),
                        (x0 + (c + 1) * scale, top + (r + 1) * scale),
                    ],
                    RGBColor(shade, shade, shade).filled(),
                );
                area.draw(&rect).map_err(plot_error)?;
            }
        }
        area.present().map_err(plot_error)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legend_of_too_many_series_counts_the_rest_on_its_last_row() {
        let labels = |count: usize| -> Vec<Option<String>> {
            (0..count)
                .map(|i| legend_label(i, count, &format!("s{i}")))
                .collect()
        };
        assert!(labels(LEGEND_ROWS).iter().all(Option::is_some));
        let many = labels(400);
        assert_eq!(many[LEGEND_ROWS - 2].as_deref(), Some("s18"));
        assert_eq!(many[LEGEND_ROWS - 1].as_deref(), Some("… and 381 more"));
        assert!(many[LEGEND_ROWS..].iter().all(Option::is_none));
    }
}
