//! 28×28 maps in a diverging colour map (blue below zero, white at zero, red above):
//! the first layer's weights, one tile per unit, and the saliency of a prediction.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::plots::{plot_error, render_png};
use crate::eval::Saliency;
use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};

/// The first layer's units shown at most: a 25 × 20 grid, all of the assignment's 500.
pub const MAX_UNITS: usize = 500;

const NEGATIVE: (f64, f64, f64) = (33.0, 102.0, 172.0);
const POSITIVE: (f64, f64, f64) = (178.0, 24.0, 43.0);

/// `value` in [−1, 1] as a colour: white at 0, blue at −1, red at 1.
pub fn diverging(value: f32) -> RGBColor {
    let t = f64::from(value.clamp(-1.0, 1.0));
    let (r, g, b) = if t < 0.0 { NEGATIVE } else { POSITIVE };
    let mix = |end: f64| (255.0 + (end - 255.0) * t.abs()).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

/// Draws 784 colours, row by row, as a tile of `scale` × `scale` pixels each, its
/// top left at `origin`.
fn draw_tile(
    area: &DrawingArea<BitMapBackend, Shift>,
    origin: (i32, i32),
    scale: i32,
    values: impl Iterator<Item = RGBColor>,
) -> Result<()> {
    for (p, color) in values.enumerate().take(IMAGE_PIXELS) {
        let (row, column) = ((p / IMAGE_SIDE) as i32, (p % IMAGE_SIDE) as i32);
        for dy in 0..scale {
            for dx in 0..scale {
                let at = (origin.0 + column * scale + dx, origin.1 + row * scale + dy);
                area.draw_pixel(at, &color).map_err(plot_error)?;
            }
        }
    }
    Ok(())
}

/// The largest magnitude among `values`, at least a tiny positive number.
fn peak(values: &[f32]) -> f32 {
    values.iter().fold(1e-12, |m, v| m.max(v.abs()))
}

/// Draws `values` scaled by their own peak, so each tile shows its pattern.
fn diverging_tile(
    area: &DrawingArea<BitMapBackend, Shift>,
    origin: (i32, i32),
    scale: i32,
    values: &[f32],
) -> Result<()> {
    let peak = peak(values);
    draw_tile(
        area,
        origin,
        scale,
        values.iter().map(|v| diverging(v / peak)),
    )
}

/// The first layer's weights `[784, units]` (row-major, as the model holds them) as
/// one 28×28 tile per unit, the units with the largest weight norm first (at most
/// [`MAX_UNITS`]); each tile is scaled to its own largest weight.
pub fn first_layer_grid(path: &Path, title: &str, weights: &[f32], units: usize) -> Result<()> {
    let unit =
        |u: usize| -> Vec<f32> { (0..IMAGE_PIXELS).map(|p| weights[p * units + u]).collect() };
    let mut tiles: Vec<Vec<f32>> = (0..units).map(unit).collect();
    let strength = |tile: &Vec<f32>| tile.iter().map(|w| w * w).sum::<f32>();
    tiles.sort_by(|a, b| strength(b).total_cmp(&strength(a)));
    tiles.truncate(MAX_UNITS);
    let shown = tiles.len();
    let title = match shown < units {
        true => format!("{title}: the {shown} strongest of {units} units"),
        false => format!("{title}: all {units} units, strongest first"),
    };
    let (scale, gap, title_h) = (2, 3, 40);
    let columns = shown.clamp(1, 25);
    let tile = IMAGE_SIDE as i32 * scale + gap;
    let width = (columns as i32 * tile + gap).max(560);
    let height = title_h + shown.div_ceil(columns) as i32 * tile + gap;
    render_png(path, (width as u32, height as u32), |area| {
        area.fill(&WHITE).map_err(plot_error)?;
        let font = ("sans-serif", 18).into_font().color(&BLACK);
        area.draw_text(&title, &font, (gap, 10))
            .map_err(plot_error)?;
        for (index, values) in tiles.iter().enumerate() {
            let column = (index % columns) as i32;
            let row = (index / columns) as i32;
            let origin = (gap + column * tile, title_h + row * tile);
            diverging_tile(&area, origin, scale, values)?;
        }
        area.present().map_err(plot_error)
    })
}

/// A prediction explained: the 28×28 input as the model saw it, the saliency
/// ∂p/∂x and input × gradient, side by side, each with its caption.
pub fn explanation(path: &Path, title: &str, input: &[u8], saliency: &Saliency) -> Result<()> {
    let (scale, gap, caption_h, title_h, key_h) = (8, 16, 24, 40, 24);
    let side = IMAGE_SIDE as i32 * scale;
    let width = 3 * side + 4 * gap;
    let height = title_h + caption_h + side + key_h + gap;
    let gradient_peak = peak(&saliency.gradient);
    let product_peak = peak(&saliency.input_times_gradient);
    render_png(path, (width as u32, height as u32), |area| {
        area.fill(&WHITE).map_err(plot_error)?;
        let big = ("sans-serif", 18).into_font().color(&BLACK);
        let small = ("sans-serif", 14).into_font().color(&BLACK);
        area.draw_text(title, &big, (gap, 10)).map_err(plot_error)?;
        let captions = [
            "input (as the model saw it)".to_string(),
            format!("∂p/∂x (peak {gradient_peak:.2e})"),
            format!("input × ∂p/∂x (peak {product_peak:.2e})"),
        ];
        for (i, caption) in captions.iter().enumerate() {
            let x = gap + i as i32 * (side + gap);
            area.draw_text(caption, &small, (x, title_h))
                .map_err(plot_error)?;
        }
        let top = title_h + caption_h;
        // Dark ink on white paper, as the digits were written.
        let ink = input.iter().map(|&v| RGBColor(255 - v, 255 - v, 255 - v));
        draw_tile(&area, (gap, top), scale, ink)?;
        diverging_tile(&area, (2 * gap + side, top), scale, &saliency.gradient)?;
        let product = &saliency.input_times_gradient;
        diverging_tile(&area, (3 * gap + 2 * side, top), scale, product)?;
        let key = format!(
            "red: more ink there raises the probability of {}; blue: lowers it",
            saliency.digit
        );
        area.draw_text(&key, &small, (gap, top + side + 6))
            .map_err(plot_error)?;
        area.present().map_err(plot_error)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_colour_map_is_white_at_zero_and_saturates_at_the_ends() {
        assert_eq!(diverging(0.0), RGBColor(255, 255, 255));
        assert_eq!(diverging(-1.0), RGBColor(33, 102, 172));
        assert_eq!(diverging(1.0), RGBColor(178, 24, 43));
        assert_eq!(diverging(7.0), diverging(1.0));
        // Halfway to red: halfway in every channel.
        assert_eq!(diverging(0.5), RGBColor(217, 140, 149));
    }

    #[test]
    fn the_grid_shows_every_unit_strongest_first_up_to_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("first_layer.png");
        // Three units; unit 1 the strongest, positive at pixel 0 only.
        let units = 3;
        let mut weights = vec![0.01f32; IMAGE_PIXELS * units];
        weights[1] = 5.0;
        first_layer_grid(&path, "t", &weights, units).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        // The first tile starts at (gap, title height): its top-left pixel is unit 1's
        // pixel 0, the tile's peak, so full red.
        assert_eq!(image.get_pixel(3, 40).0, [178, 24, 43]);
        // The second tile (a weak unit, all equal): its own peak everywhere, red too.
        let second = 3 + (IMAGE_SIDE as u32 * 2 + 3);
        assert_eq!(image.get_pixel(second + 10, 50).0, [178, 24, 43]);
        // The first tile elsewhere: 0.01 / 5, nearly white.
        assert!(image.get_pixel(3 + 20, 40 + 20).0.iter().all(|&c| c > 250));
    }
}
