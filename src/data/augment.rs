//! Random distortions of training digits, as Simard et al. (2003) used them to take an
//! MLP from 98.4 % to 98.9 % (affine) and 99.3 % (elastic): a shift, a rotation and a
//! change of size about the image centre, then an elastic displacement field, sampled
//! bilinearly from the `u8` pixels.

use std::sync::Arc;

use rand::rngs::ChaCha12Rng;
use rand::{Rng, RngExt, SeedableRng};

use crate::config::AugmentSection;
use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::simd::vectorised;

/// The largest distortion each image may get; every image draws its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    /// Pixels, along each axis.
    translate: f32,
    /// Radians, either way.
    rotate: f32,
    /// Relative change of size.
    scale: f32,
    /// α and the smoothing (σ) of the elastic field, when it is on.
    elastic: Option<(f32, Arc<LineGaussian>)>,
    /// The words of the random stream one image's draws take: the same for every
    /// image, since each float drawn takes one `u32`.
    words_per_image: u128,
}

impl Augment {
    /// The configured distortions, or `None` when they are all off.
    pub fn from_config(section: &AugmentSection) -> Option<Self> {
        section.is_on().then(|| {
            let mut augment = Self {
                translate: section.translate as f32,
                rotate: (section.rotate as f32).to_radians(),
                scale: section.scale as f32,
                elastic: (section.elastic_alpha > 0.0).then(|| {
                    let smoothing = LineGaussian::new(section.elastic_sigma as f32);
                    (section.elastic_alpha as f32, Arc::new(smoothing))
                }),
                words_per_image: 0,
            };
            // Counted by drawing once, so the count follows whatever `draw` draws.
            let mut probe = ChaCha12Rng::seed_from_u64(0);
            augment.draw(&mut probe);
            augment.words_per_image = probe.get_word_pos();
            augment
        })
    }

    /// The distortion of image `position` of a batch whose stream `StdRng::seed_from_u64(seed)`
    /// would draw in order: the same generator, moved to that image's first word, so
    /// each core draws its own images and gets what the serial draws would give.
    pub fn draw_at(&self, seed: u64, position: usize) -> Distortion {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        rng.set_word_pos(position as u128 * self.words_per_image);
        self.draw(&mut rng)
    }

    /// One image's distortion, drawn from `rng`: the affine part first, then (when on)
    /// the field's noise, so that runs without it draw what they always drew.
    pub fn draw(&self, rng: &mut impl Rng) -> Distortion {
        let mut draw = |limit: f32| {
            if limit > 0.0 {
                rng.random_range(-limit..=limit)
            } else {
                0.0
            }
        };
        let (angle, size) = (draw(self.rotate), 1.0 + draw(self.scale));
        let (shift_x, shift_y) = (draw(self.translate), draw(self.translate));
        let elastic = self
            .elastic
            .as_ref()
            .map(|(alpha, smoothing)| ElasticField {
                alpha: *alpha,
                smoothing: Arc::clone(smoothing),
                noise: (0..2 * IMAGE_PIXELS)
                    .map(|_| rng.random_range(-1.0..=1.0))
                    .collect(),
            });
        Distortion {
            angle,
            size,
            shift_x,
            shift_y,
            elastic,
        }
    }
}

/// The distortion of one image: its draws depend on its place in the batch alone, never
/// on timing or on which core makes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Distortion {
    /// Radians.
    angle: f32,
    /// Relative size.
    size: f32,
    /// Pixels.
    shift_x: f32,
    shift_y: f32,
    elastic: Option<ElasticField>,
}

/// The displacement of a distortion without an elastic field.
static NO_FIELD: [f32; 2 * IMAGE_PIXELS] = [0.0; 2 * IMAGE_PIXELS];

impl Distortion {
    /// Writes the distorted copy of `image` (784 pixels), scaled to [0, 1], into `out`.
    pub fn apply(&self, image: &[u8], out: &mut [f32]) {
        let padded = Padded::new(image);
        let field = self.elastic.as_ref().map(ElasticField::displacement);
        let mut taps = Taps::default();
        let field = field.as_deref().unwrap_or(&NO_FIELD);
        source_taps(self, self.angle.sin_cos(), field, &mut taps);
        for (pixel, tap) in out[..IMAGE_PIXELS].iter_mut().zip(taps.iter()) {
            *pixel = padded.sample(tap) / 255.0;
        }
    }
}

vectorised! {
    /// The taps each output pixel reads: its source point, where the inverse transform
    /// (the angle's sine and cosine, the size, the shift) maps it once `field` (`[2, 28,
    /// 28]`, x then y) has moved it. Arithmetic only, so that it vectorises.
    fn source_taps(distortion: &Distortion, sin_cos: (f32, f32), field: &[f32], taps: &mut Taps) {
        let (sin, cos) = sin_cos;
        let centre = (IMAGE_SIDE as f32 - 1.0) / 2.0;
        let (dx, dy) = field.split_at(IMAGE_PIXELS);
        for row in 0..IMAGE_SIDE {
            let line = row * IMAGE_SIDE..(row + 1) * IMAGE_SIDE;
            let (dx, dy) = (&dx[line.clone()], &dy[line.clone()]);
            for col in 0..IMAGE_SIDE {
                let x = col as f32 + dx[col] - centre - distortion.shift_x;
                let y = row as f32 + dy[col] - centre - distortion.shift_y;
                let source_x = (cos * x + sin * y) / distortion.size + centre;
                let source_y = (-sin * x + cos * y) / distortion.size + centre;
                let (at, fx, fy) = Padded::tap(source_x, source_y);
                let index = row * IMAGE_SIDE + col;
                (taps.at[index], taps.fx[index], taps.fy[index]) = (at, fx, fy);
            }
        }
    }
}

/// Uniform noise in [−1, 1] for the x and the y displacement of every pixel, which
/// becomes the field when smoothed and scaled.
#[derive(Debug, Clone, PartialEq)]
struct ElasticField {
    alpha: f32,
    smoothing: Arc<LineGaussian>,
    /// `[2, 28, 28]`: x displacements, then y.
    noise: Box<[f32]>,
}

impl ElasticField {
    /// α × the noise smoothed by a Gaussian of σ, background (0) beyond the edges: as
    /// `alpha * scipy.ndimage.gaussian_filter(noise, sigma, mode="constant")`, the usual
    /// reading of Simard et al., so their α = 34, σ = 4 mean the same here. `[2, 28, 28]`.
    fn displacement(&self) -> Vec<f32> {
        let mut field = vec![0f32; self.noise.len()];
        let mut rows = [0f32; IMAGE_PIXELS];
        for (plane, out) in self
            .noise
            .chunks_exact(IMAGE_PIXELS)
            .zip(field.chunks_exact_mut(IMAGE_PIXELS))
        {
            smooth_rows(plane, &self.smoothing, &mut rows);
            smooth_columns(&rows, &self.smoothing, out);
            out.iter_mut().for_each(|v| *v *= self.alpha);
        }
        field
    }
}

/// A Gaussian of `sigma` sampled at whole pixels out to 4σ (as scipy truncates it),
/// normalised to sum 1.
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (4.0 * sigma).round() as i32;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// The Gaussian along a 28-pixel line with background beyond its ends, as a matrix:
/// `weights[i][j]` is the weight pixel `i` gives pixel `j` (and `j` gives `i`: the kernel
/// is even), zero beyond the kernel's reach. A line costs 28 × 28 multiply-adds however wide the kernel (σ = 5.5 has
/// 45 taps, of which at most 28 touch the line), and no padding.
#[derive(Debug, PartialEq)]
pub(super) struct LineGaussian {
    weights: [[f32; IMAGE_SIDE]; IMAGE_SIDE],
}

impl LineGaussian {
    pub(super) fn new(sigma: f32) -> Self {
        let kernel = gaussian_kernel(sigma);
        let radius = (kernel.len() / 2) as isize;
        let mut weights = [[0f32; IMAGE_SIDE]; IMAGE_SIDE];
        for (i, row) in weights.iter_mut().enumerate() {
            for (j, weight) in row.iter_mut().enumerate() {
                let tap = j as isize - i as isize + radius;
                if let Some(&w) = usize::try_from(tap).ok().and_then(|tap| kernel.get(tap)) {
                    *weight = w;
                }
            }
        }
        Self { weights }
    }
}

// Both passes sum each pixel's products over its neighbours j = 0, 1, … 27 in order from
// zero. The terms beyond the kernel are exactly ±0 and leave the sum as it was, so the
// results equal those of the tap-by-tap convolution they replace, to the bit. The outer
// loop runs over j, the inner one along the whole output line, which vectorises.

vectorised! {
    /// `out[r][i] = Σ_j plane[r][j] · weights[i][j]`: each row of `[28, 28]` smoothed.
    fn smooth_rows(plane: &[f32], gaussian: &LineGaussian, out: &mut [f32]) {
        for (line, out) in plane.chunks_exact(IMAGE_SIDE).zip(out.chunks_exact_mut(IMAGE_SIDE)) {
            let mut sums = [0f32; IMAGE_SIDE];
            // The matrix is symmetric, so row j holds the weights j gives each pixel.
            for (&value, weights) in line.iter().zip(&gaussian.weights) {
                for (sum, &weight) in sums.iter_mut().zip(weights) {
                    *sum += value * weight;
                }
            }
            out.copy_from_slice(&sums);
        }
    }
}

vectorised! {
    /// `out[i][c] = Σ_j weights[i][j] · plane[j][c]`: each column of `[28, 28]` smoothed.
    fn smooth_columns(plane: &[f32], gaussian: &LineGaussian, out: &mut [f32]) {
        for (weights, out) in gaussian.weights.iter().zip(out.chunks_exact_mut(IMAGE_SIDE)) {
            let mut sums = [0f32; IMAGE_SIDE];
            for (&weight, line) in weights.iter().zip(plane.chunks_exact(IMAGE_SIDE)) {
                for (sum, &value) in sums.iter_mut().zip(line) {
                    *sum += value * weight;
                }
            }
            out.copy_from_slice(&sums);
        }
    }
}

/// Side of the image with a border of background: one pixel before it and two after,
/// so that every point clamped into [−1, 28] has its four neighbours inside.
const PADDED_SIDE: usize = IMAGE_SIDE + 3;

/// The image as `f32` inside a border of zeros, read without bounds branches.
struct Padded([f32; PADDED_SIDE * PADDED_SIDE]);

impl Padded {
    fn new(image: &[u8]) -> Self {
        let mut padded = [0f32; PADDED_SIDE * PADDED_SIDE];
        for (row, pixels) in image.chunks_exact(IMAGE_SIDE).enumerate() {
            let start = (row + 1) * PADDED_SIDE + 1;
            for (target, &pixel) in padded[start..start + IMAGE_SIDE].iter_mut().zip(pixels) {
                *target = f32::from(pixel);
            }
        }
        Self(padded)
    }

    /// Where a point reads: the padded index of its top-left neighbour and its fractions
    /// towards the right and the lower ones. Outside the image is background (0); a point
    /// beyond the border is clamped onto it, where everything is 0 as well. Arithmetic
    /// only, so that a row of them vectorises.
    #[inline(always)]
    fn tap(x: f32, y: f32) -> (u32, f32, f32) {
        let limit = IMAGE_SIDE as f32;
        let (x, y) = (x.clamp(-1.0, limit), y.clamp(-1.0, limit));
        let (x0, y0) = (x.floor(), y.floor());
        // Padded coordinates of the top-left neighbour: both in 0..=IMAGE_SIDE + 1.
        let (col, row) = ((x0 + 1.0) as u32, (y0 + 1.0) as u32);
        (row * PADDED_SIDE as u32 + col, x - x0, y - y0)
    }

    /// The bilinear mix of the four pixels at `tap`.
    fn sample(&self, (at, fx, fy): (u32, f32, f32)) -> f32 {
        let at = at as usize;
        let pixel = |offset: usize| self.0[at + offset];
        let top = pixel(0) * (1.0 - fx) + pixel(1) * fx;
        let bottom = pixel(PADDED_SIDE) * (1.0 - fx) + pixel(PADDED_SIDE + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// Every output pixel's [`Padded::tap`].
struct Taps {
    at: [u32; IMAGE_PIXELS],
    fx: [f32; IMAGE_PIXELS],
    fy: [f32; IMAGE_PIXELS],
}

impl Default for Taps {
    fn default() -> Self {
        Self {
            at: [0; IMAGE_PIXELS],
            fx: [0.0; IMAGE_PIXELS],
            fy: [0.0; IMAGE_PIXELS],
        }
    }
}

impl Taps {
    fn iter(&self) -> impl Iterator<Item = (u32, f32, f32)> + '_ {
        (0..IMAGE_PIXELS).map(|i| (self.at[i], self.fx[i], self.fy[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;

    /// A 28×28 image with one bright 3×3 square whose top-left corner is (col, row).
    fn square(col: usize, row: usize) -> Vec<u8> {
        let mut image = vec![0u8; IMAGE_PIXELS];
        for r in row..row + 3 {
            for c in col..col + 3 {
                image[r * IMAGE_SIDE + c] = 255;
            }
        }
        image
    }

    #[test]
    fn no_distortion_is_the_identity_and_a_shift_moves_the_ink() {
        let image = square(12, 12);
        let mut out = vec![0f32; IMAGE_PIXELS];
        let identity = Augment {
            translate: 0.0,
            rotate: 0.0,
            scale: 0.0,
            elastic: None,
            words_per_image: 0,
        };
        let mut rng = StdRng::seed_from_u64(1);
        identity.draw(&mut rng).apply(&image, &mut out);
        let expected: Vec<f32> = image.iter().map(|&p| f32::from(p) / 255.0).collect();
        assert_eq!(out, expected);

        // Shifts up to 2 px keep the ink (the square stays inside) but move it.
        let shift = Augment {
            translate: 2.0,
            rotate: 0.0,
            scale: 0.0,
            elastic: None,
            words_per_image: 0,
        };
        shift.draw(&mut rng).apply(&image, &mut out);
        let ink: f32 = out.iter().sum();
        assert!((ink - 9.0).abs() < 1e-3, "ink {ink}");
        assert_ne!(out, expected);
    }

    /// Bilinear sampling written the plain way, with background outside the image.
    fn reference(image: &[u8], x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let at = |col: f32, row: f32| {
            let side = IMAGE_SIDE as f32;
            if (0.0..side).contains(&col) && (0.0..side).contains(&row) {
                f32::from(image[row as usize * IMAGE_SIDE + col as usize])
            } else {
                0.0
            }
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
        let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// What `apply` reads at one point.
    fn bilinear(padded: &Padded, x: f32, y: f32) -> f32 {
        padded.sample(Padded::tap(x, y))
    }

    #[test]
    fn padded_sampling_equals_the_plain_definition_everywhere() {
        let image: Vec<u8> = (0..IMAGE_PIXELS).map(|i| (i * 37 % 256) as u8).collect();
        let padded = Padded::new(&image);
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..20_000 {
            let (x, y) = (
                rng.random_range(-6.0..34.0f32),
                rng.random_range(-6.0..34.0f32),
            );
            assert_eq!(
                bilinear(&padded, x, y),
                reference(&image, x, y),
                "at ({x}, {y})"
            );
        }
        for &(x, y) in &[
            (0.0, 0.0),
            (27.0, 27.0),
            (-1.0, 3.5),
            (27.5, 27.5),
            (28.0, 5.0),
        ] {
            assert_eq!(
                bilinear(&padded, x, y),
                reference(&image, x, y),
                "at ({x}, {y})"
            );
        }
    }

    #[test]
    fn distortions_are_drawn_from_the_rng() {
        let image = square(10, 14);
        let all = Augment::from_config(&AugmentSection {
            translate: 2.0,
            rotate: 10.0,
            scale: 0.1,
            elastic_alpha: 34.0,
            ..AugmentSection::default()
        })
        .unwrap();
        let run = |seed| {
            let mut out = vec![0f32; IMAGE_PIXELS];
            all.draw(&mut StdRng::seed_from_u64(seed))
                .apply(&image, &mut out);
            out
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        assert!(Augment::from_config(&AugmentSection::default()).is_none());
    }

    #[test]
    fn each_image_drawn_at_its_place_equals_the_batch_drawn_in_order_by_std_rng() {
        let sections = [
            AugmentSection {
                translate: 2.0,
                rotate: 15.0,
                scale: 0.15,
                elastic_alpha: 37.0,
                elastic_sigma: 5.5,
            },
            AugmentSection {
                translate: 2.0,
                ..AugmentSection::default()
            },
            AugmentSection {
                elastic_alpha: 34.0,
                ..AugmentSection::default()
            },
        ];
        for section in &sections {
            let augment = Augment::from_config(section).unwrap();
            let seed = 0x5eed_u64;
            let mut in_order = StdRng::seed_from_u64(seed);
            for position in 0..130 {
                let expected = augment.draw(&mut in_order);
                assert_eq!(
                    augment.draw_at(seed, position),
                    expected,
                    "{section:?} image {position}"
                );
            }
        }
    }

    #[test]
    fn a_uniform_field_shifts_the_image_and_elastic_noise_follows_the_affine_draws() {
        // Noise 1 everywhere: after smoothing, 1 far from the edges, so α = 2 reads every
        // inner pixel from 2 px right and 2 px down.
        let image = square(14, 14);
        let field = Distortion {
            angle: 0.0,
            size: 1.0,
            shift_x: 0.0,
            shift_y: 0.0,
            elastic: Some(ElasticField {
                alpha: 2.0,
                smoothing: Arc::new(LineGaussian::new(1.0)),
                noise: vec![1.0; 2 * IMAGE_PIXELS].into(),
            }),
        };
        let mut out = vec![0f32; IMAGE_PIXELS];
        field.apply(&image, &mut out);
        let moved = square(12, 12);
        for row in 8..20 {
            for col in 8..20 {
                let at = row * IMAGE_SIDE + col;
                assert!(
                    (out[at] - f32::from(moved[at]) / 255.0).abs() < 1e-4,
                    "({col}, {row})"
                );
            }
        }
        // Turning the field on leaves the affine draws as they were.
        let section = AugmentSection {
            translate: 2.0,
            rotate: 10.0,
            ..AugmentSection::default()
        };
        let elastic = AugmentSection {
            elastic_alpha: 34.0,
            ..section.clone()
        };
        let draw = |section: &AugmentSection| {
            Augment::from_config(section)
                .unwrap()
                .draw(&mut StdRng::seed_from_u64(9))
        };
        let (plain, with_field) = (draw(&section), draw(&elastic));
        assert_eq!(
            (plain.angle, plain.shift_x),
            (with_field.angle, with_field.shift_x)
        );
        assert!(plain.elastic.is_none() && with_field.elastic.is_some());
    }

    /// The field's Gaussian the plain way: each pixel sums its taps in order, with
    /// background (0) beyond the line's ends.
    fn convolve_line(line: &[f32], kernel: &[f32]) -> Vec<f32> {
        let radius = (kernel.len() / 2) as isize;
        (0..line.len() as isize)
            .map(|at| {
                let mut sum = 0f32;
                for (tap, &weight) in kernel.iter().enumerate() {
                    let j = at + tap as isize - radius;
                    let value = usize::try_from(j).ok().and_then(|j| line.get(j));
                    sum += value.copied().unwrap_or(0.0) * weight;
                }
                sum
            })
            .collect()
    }

    #[test]
    fn the_matrix_smoothing_equals_the_tap_by_tap_convolution_to_the_bit() {
        let mut rng = StdRng::seed_from_u64(11);
        for sigma in [1.0, 4.0, 5.5, 8.0] {
            let gaussian = LineGaussian::new(sigma);
            for (i, row) in gaussian.weights.iter().enumerate() {
                for (j, &w) in row.iter().enumerate() {
                    assert_eq!(w, gaussian.weights[j][i], "symmetric at σ {sigma}");
                }
            }
            let kernel = gaussian_kernel(sigma);
            let plane: Vec<f32> = (0..IMAGE_PIXELS)
                .map(|_| rng.random_range(-1.0..=1.0))
                .collect();
            let mut rows = vec![0f32; IMAGE_PIXELS];
            let mut both = vec![0f32; IMAGE_PIXELS];
            smooth_rows(&plane, &gaussian, &mut rows);
            smooth_columns(&rows, &gaussian, &mut both);
            let expected_rows: Vec<f32> = plane
                .chunks_exact(IMAGE_SIDE)
                .flat_map(|line| convolve_line(line, &kernel))
                .collect();
            assert_eq!(rows, expected_rows, "rows at σ {sigma}");
            for c in 0..IMAGE_SIDE {
                let column: Vec<f32> = (0..IMAGE_SIDE).map(|r| rows[r * IMAGE_SIDE + c]).collect();
                let expected = convolve_line(&column, &kernel);
                let got: Vec<f32> = (0..IMAGE_SIDE).map(|r| both[r * IMAGE_SIDE + c]).collect();
                assert_eq!(got, expected, "column {c} at σ {sigma}");
            }
        }
    }

    #[test]
    fn the_smoothed_field_is_scipys_gaussian_filter() {
        // scipy.ndimage.gaussian_filter of a single 1 at (row 12, col 13), sigma 2,
        // mode="constant": the product of two 1-D kernels, 0.0398 at its centre.
        let mut noise = vec![0f32; 2 * IMAGE_PIXELS];
        noise[12 * IMAGE_SIDE + 13] = 1.0;
        let field = ElasticField {
            alpha: 1.0,
            smoothing: Arc::new(LineGaussian::new(2.0)),
            noise: noise.into(),
        };
        let d = field.displacement();
        let kernel = gaussian_kernel(2.0);
        assert_eq!(kernel.len(), 17);
        assert!((kernel[8] - 0.199_471).abs() < 1e-5, "{}", kernel[8]);
        assert!((d[12 * IMAGE_SIDE + 13] - kernel[8] * kernel[8]).abs() < 1e-7);
        assert!((d[13 * IMAGE_SIDE + 15] - kernel[9] * kernel[10]).abs() < 1e-7);
        assert!(
            d[IMAGE_PIXELS..].iter().all(|&v| v == 0.0),
            "the y plane had no noise"
        );
        let total: f32 = d.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-5,
            "nothing lost this far from the edges: {total}"
        );
    }
}
