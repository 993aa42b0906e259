//! A digit from any picture, prepared the way MNIST's digits were: grayscale,
//! inverted when the ink is darker than the paper (photos of handwriting), cropped
//! to the ink, scaled so its longer side is 20 px, and placed in 28×28 with its
//! centre of mass at the centre; ready to classify. `predict` and the web app's
//! draw pad and upload all go through [`prepare_digit`].

use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use image::error::LimitErrorKind;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use super::jpeg::{self, Verdict};
use crate::fsutil;
use crate::limits::{MAX_PICTURE_BYTES, MAX_PICTURE_SIDE};
use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};

/// The box MNIST scaled each digit into, inside its 28×28 field.
pub const DIGIT_BOX: u32 = 20;

/// What to do about a picture that is not a usable image.
const IMAGE_FIX: &str = "give a PNG, JPEG, GIF, BMP or WebP picture of one digit";

/// Reads `path` into MNIST's form: 784 bytes, white digit on black.
pub fn load_digit(path: &Path) -> Result<Vec<u8>> {
    let file = fsutil::open_regular(path).map_err(|err| {
        anyhow!(
            "cannot open the picture {} ({}): give the path of a picture file",
            path.display(),
            fsutil::why_unreadable(&err)
        )
    })?;
    let mut reader = ImageReader::new(BufReader::new(file));
    if let Ok(format) = ImageFormat::from_path(path) {
        reader.set_format(format);
    }
    let reader = reader
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let (picture, orientation) =
        decode(reader).map_err(|err| anyhow!("{} {err}", path.display()))?;
    prepare_digit(&picture, orientation).with_context(|| path.display().to_string())
}

/// As [`load_digit`], for a picture held in memory (an upload, the draw pad's PNG).
pub fn decode_digit(bytes: &[u8]) -> Result<Vec<u8>> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot read the picture")?;
    let (picture, orientation) = decode(reader).map_err(|err| anyhow!("the picture {err}"))?;
    prepare_digit(&picture, orientation)
}

/// Decodes within [`MAX_PICTURE_SIDE`] and [`MAX_PICTURE_BYTES`], checked against
/// the header before anything is allocated, with the orientation its EXIF tag
/// gives (a phone stores a portrait photo sideways and says so there). The error
/// reads on from the picture's name: "… is not a usable image (…)".
fn decode<R: BufRead + Seek>(
    reader: ImageReader<R>,
) -> Result<(DynamicImage, Orientation), String> {
    let mut reader = refuse_a_cut_jpeg(reader)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(MAX_PICTURE_BYTES);
    reader.limits(limits.clone());
    let decoded = || -> Result<_, ImageError> {
        let mut decoder = reader.into_decoder()?;
        let orientation = decoder.orientation()?;
        // As `ImageReader::decode` does: the image's own buffer comes out of the allowance.
        limits.reserve(decoder.total_bytes())?;
        decoder.set_limits(limits)?;
        Ok((DynamicImage::from_decoder(decoder)?, orientation))
    };
    decoded().map_err(|err| match &err {
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::DimensionError => format!(
                "is wider or taller than the limit of {MAX_PICTURE_SIDE} pixels: scale it down (the digit is read at 28×28)"
            ),
            LimitErrorKind::InsufficientMemory => format!(
                "would take more than the limit of {} MiB to decode: scale it down (the digit is read at 28×28)",
                MAX_PICTURE_BYTES >> 20
            ),
            _ => format!("is not a usable image ({err}): {IMAGE_FIX}"),
        },
        _ => format!("is not a usable image ({err}): {IMAGE_FIX}"),
    })
}

/// `reader` as it was, unless it holds a JPEG missing image data ([`jpeg::check`]),
/// which the decoder would fill in rather than refuse.
fn refuse_a_cut_jpeg<R: BufRead + Seek>(reader: ImageReader<R>) -> Result<ImageReader<R>, String> {
    if reader.format() != Some(ImageFormat::Jpeg) {
        return Ok(reader);
    }
    let mut inner = reader.into_inner();
    match jpeg::check(&mut inner) {
        Ok(Verdict::Complete) => Ok(ImageReader::with_format(inner, ImageFormat::Jpeg)),
        Ok(Verdict::CutShort) => Err(format!(
            "is not a usable image (a JPEG cut short: its image data has no end): {IMAGE_FIX}"
        )),
        Ok(Verdict::TooLittleData {
            width,
            height,
            bytes,
        }) => Err(format!(
            "is not a usable image (a damaged JPEG: its header says {width}×{height} pixels, but it holds only {bytes} bytes of image data): {IMAGE_FIX}"
        )),
        Err(err) => Err(format!("cannot be read ({err})")),
    }
}

/// Any picture of one digit → MNIST's 784 bytes (white ink on black): grayscale
/// ([`flattened`] if it has transparency), turned upright by `orientation`,
/// inverted if the paper is light, then [`mnist_layout`]. A blank picture is refused.
pub fn prepare_digit(picture: &DynamicImage, orientation: Orientation) -> Result<Vec<u8>> {
    // Turned once grey, where a rotated copy costs a byte a pixel.
    let mut gray = DynamicImage::ImageLuma8(flattened(picture));
    gray.apply_orientation(orientation);
    let mut gray = gray.into_luma8();
    if border_mean(&gray) > 127.0 {
        image::imageops::invert(&mut gray);
    }
    mnist_layout(&gray).ok_or_else(|| anyhow!("the picture is blank: no digit to read"))
}

/// The picture in grey, its transparent parts laid on paper. Strokes drawn on a
/// transparent background (what drawing apps and canvases export) are its opaque
/// pixels, whatever colour the hidden background has, so a picture mostly
/// transparent goes on paper of the shade opposite its strokes; one mostly opaque
/// (a photo with rounded corners) goes on white, as a page would show it.
fn flattened(picture: &DynamicImage) -> GrayImage {
    if !picture.color().has_alpha() {
        return picture.to_luma8();
    }
    let pixels = picture.to_luma_alpha8();
    let (mut opacity, mut shade) = (0u64, 0u64);
    for pixel in pixels.pixels() {
        let [luma, alpha] = pixel.0.map(u64::from);
        opacity += alpha;
        shade += luma * alpha;
    }
    let area = u64::from(pixels.width()) * u64::from(pixels.height());
    let mostly_opaque = 2 * opacity > 255 * area;
    let dark_strokes = shade < 128 * opacity;
    let paper = if mostly_opaque || dark_strokes {
        255
    } else {
        0
    };
    GrayImage::from_fn(pixels.width(), pixels.height(), |x, y| {
        let [luma, alpha] = pixels.get_pixel(x, y).0.map(u32::from);
        image::Luma([((luma * alpha + paper * (255 - alpha) + 127) / 255) as u8])
    })
}

/// MNIST's layout for white-on-black ink (LeCun et al.): the ink's bounding box
/// scaled, aspect kept, so its longer side is 20 px, then placed in 28×28 so that
/// its centre of mass falls on the centre (within half a pixel, as far as the
/// field allows). `None` when there is no ink.
///
/// Ink is whatever is brighter than a quarter of the brightest pixel, so the faint
/// grey of photographed paper does not widen the box.
pub fn mnist_layout(gray: &GrayImage) -> Option<Vec<u8>> {
    let brightest = gray.pixels().map(|p| p.0[0]).max()?;
    if brightest == 0 {
        return None;
    }
    let threshold = brightest / 4;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, pixel) in gray.enumerate_pixels() {
        if pixel.0[0] > threshold {
            (x0, y0) = (x0.min(x), y0.min(y));
            (x1, y1) = (x1.max(x), y1.max(y));
        }
    }
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    let ink = image::imageops::crop_imm(gray, x0, y0, w, h).to_image();
    let longer = w.max(h);
    let scaled_side = |side: u32| {
        ((f64::from(side) * f64::from(DIGIT_BOX) / f64::from(longer)).round() as u32).max(1)
    };
    let small = image::imageops::resize(&ink, scaled_side(w), scaled_side(h), FilterType::Triangle);
    // Centre of mass, pixel centres at +0.5.
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, pixel) in small.enumerate_pixels() {
        let v = f64::from(pixel.0[0]);
        mass += v;
        mx += v * (f64::from(x) + 0.5);
        my += v * (f64::from(y) + 0.5);
    }
    if mass == 0.0 {
        return None;
    }
    // Shift the centre of mass onto the field's centre, but never push ink out of
    // the field (a lopsided stroke, like a long-tailed 7, would otherwise lose its tail).
    let centre = IMAGE_SIDE as f64 / 2.0;
    let side = IMAGE_SIDE as i64;
    let shift =
        |com: f64, extent: u32| ((centre - com).round() as i64).clamp(0, side - i64::from(extent));
    let dx = shift(mx / mass, small.width());
    let dy = shift(my / mass, small.height());
    let mut out = vec![0u8; IMAGE_PIXELS];
    for (x, y, pixel) in small.enumerate_pixels() {
        let (tx, ty) = (i64::from(x) + dx, i64::from(y) + dy);
        if (0..side).contains(&tx) && (0..side).contains(&ty) {
            out[(ty * side + tx) as usize] = pixel.0[0];
        }
    }
    Some(out)
}

/// Mean brightness of the outermost ring of pixels: the paper's colour.
fn border_mean(image: &GrayImage) -> f64 {
    let (w, h) = image.dimensions();
    let ring: Vec<f64> = image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, p)| f64::from(p.0[0]))
        .collect();
    ring.iter().sum::<f64>() / ring.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit's ink: pixel coordinates brighter than zero.
    fn ink(digit: &[u8]) -> Vec<(usize, usize)> {
        (0..IMAGE_PIXELS)
            .filter(|&i| digit[i] > 0)
            .map(|i| (i % IMAGE_SIDE, i / IMAGE_SIDE))
            .collect()
    }

    fn centre_of_mass(digit: &[u8]) -> (f64, f64) {
        let (mut mass, mut mx, mut my) = (0.0, 0.0, 0.0);
        for (i, &v) in digit.iter().enumerate() {
            let v = f64::from(v);
            mass += v;
            mx += v * ((i % IMAGE_SIDE) as f64 + 0.5);
            my += v * ((i / IMAGE_SIDE) as f64 + 0.5);
        }
        (mx / mass, my / mass)
    }

    #[test]
    fn a_tall_stroke_anywhere_becomes_20_px_high_and_centred() {
        // A 10×40 bar in the corner of a 200×100 picture.
        let picture = GrayImage::from_fn(200, 100, |x, y| {
            image::Luma([if (150..160).contains(&x) && (50..90).contains(&y) {
                255
            } else {
                0
            }])
        });
        let digit = mnist_layout(&picture).unwrap();
        let ink = ink(&digit);
        let rows: Vec<usize> = ink.iter().map(|p| p.1).collect();
        let cols: Vec<usize> = ink.iter().map(|p| p.0).collect();
        let height = rows.iter().max().unwrap() - rows.iter().min().unwrap() + 1;
        let width = cols.iter().max().unwrap() - cols.iter().min().unwrap() + 1;
        assert_eq!(height, 20, "the longer side fills the 20 px box");
        assert_eq!(width, 5, "the aspect ratio is kept");
        let (cx, cy) = centre_of_mass(&digit);
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "({cx}, {cy})"
        );
    }

    /// An L: a vertical bar `bar` px wide and a 4 px foot, in a 40×40 box.
    fn l_shape(bar: u32) -> GrayImage {
        GrayImage::from_fn(40, 40, |x, y| {
            image::Luma([if x < bar || y >= 36 { 255 } else { 0 }])
        })
    }

    #[test]
    fn the_centre_of_mass_not_the_box_is_centred() {
        // Its mass sits left of the box's middle, so the box lands right of centre.
        let digit = mnist_layout(&l_shape(18)).unwrap();
        let (cx, cy) = centre_of_mass(&digit);
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "({cx}, {cy})"
        );
        let leftmost = ink(&digit).iter().map(|p| p.0).min().unwrap();
        assert_eq!(leftmost, 8, "a plain centring of the box would put it at 4");
        // Too lopsided to centre without cutting the foot off: all of it stays.
        let lopsided = mnist_layout(&l_shape(6)).unwrap();
        let cols: Vec<usize> = ink(&lopsided).iter().map(|p| p.0).collect();
        assert_eq!(
            cols.iter().max().unwrap() - cols.iter().min().unwrap() + 1,
            20
        );
    }

    #[test]
    fn dark_ink_on_paper_reads_as_light_ink_on_black_and_blank_is_refused() {
        let light = GrayImage::from_fn(60, 60, |x, y| {
            image::Luma([if (20..30).contains(&x) && (10..50).contains(&y) {
                250
            } else {
                5
            }])
        });
        let mut dark = light.clone();
        image::imageops::invert(&mut dark);
        let from_light = upright(&DynamicImage::ImageLuma8(light)).unwrap();
        let from_dark = upright(&DynamicImage::ImageLuma8(dark)).unwrap();
        assert_eq!(from_light, from_dark);
        let blank = DynamicImage::ImageLuma8(GrayImage::from_pixel(30, 30, image::Luma([255])));
        assert!(upright(&blank).unwrap_err().to_string().contains("blank"));
    }

    /// [`prepare_digit`] of a picture with no orientation tag.
    fn upright(picture: &DynamicImage) -> Result<Vec<u8>> {
        prepare_digit(picture, Orientation::NoTransforms)
    }

    /// A 60×60 picture of a bar in `stroke` on `background`, as RGBA.
    fn bar_on(stroke: [u8; 4], background: [u8; 4]) -> DynamicImage {
        DynamicImage::ImageRgba8(image::RgbaImage::from_fn(60, 60, |x, y| {
            let on_bar = (20..30).contains(&x) && (10..50).contains(&y);
            image::Rgba(if on_bar { stroke } else { background })
        }))
    }

    #[test]
    fn strokes_on_a_transparent_background_read_as_on_paper() {
        let on_paper = upright(&bar_on([0, 0, 0, 255], [255, 255, 255, 255])).unwrap();
        // Black or white strokes on transparency, whatever colour the hidden pixels hold:
        // these were "blank" when the alpha channel was dropped.
        for (stroke, hidden) in [(0, 0), (0, 255), (255, 255), (255, 0)] {
            let picture = bar_on([stroke, stroke, stroke, 255], [hidden, hidden, hidden, 0]);
            assert_eq!(upright(&picture).unwrap(), on_paper, "{stroke} on {hidden}");
        }
        // Mostly opaque: a page photographed with transparent corners lies on white.
        let mut photo = bar_on([0, 0, 0, 255], [255, 255, 255, 255]).to_rgba8();
        for (x, y) in [(0, 0), (59, 0), (0, 59), (59, 59)] {
            photo.put_pixel(x, y, image::Rgba([0, 0, 0, 0]));
        }
        assert_eq!(upright(&DynamicImage::ImageRgba8(photo)).unwrap(), on_paper);
    }

    #[test]
    fn a_picture_stored_sideways_is_turned_as_its_exif_tag_says() {
        use image::ImageEncoder;
        let upright_l = DynamicImage::ImageLuma8(l_shape(8));
        // EXIF (big-endian TIFF) with one tag: orientation 6, "rotate 90° clockwise to show".
        let exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00";
        let stored = upright_l.rotate270().into_luma8();
        let mut png = Vec::new();
        let mut encoder = image::codecs::png::PngEncoder::new(&mut png);
        encoder.set_exif_metadata(exif.to_vec()).unwrap();
        let (width, height) = stored.dimensions();
        encoder
            .write_image(stored.as_raw(), width, height, image::ExtendedColorType::L8)
            .unwrap();
        assert_eq!(decode_digit(&png).unwrap(), upright(&upright_l).unwrap());
        assert_ne!(
            upright(&DynamicImage::ImageLuma8(stored)).unwrap(),
            upright(&upright_l).unwrap(),
            "the L reads differently on its side"
        );
    }

    #[test]
    fn a_jpeg_cut_short_is_refused_and_a_whole_one_read() {
        let mut bytes = Cursor::new(Vec::new());
        bar_on([255, 255, 255, 255], [0, 0, 0, 255])
            .to_rgb8()
            .write_to(&mut bytes, ImageFormat::Jpeg)
            .unwrap();
        let whole = bytes.into_inner();
        decode_digit(&whole).unwrap();
        let err = decode_digit(&whole[..whole.len() * 2 / 3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a JPEG cut short"), "{err}");
    }

    #[test]
    fn bytes_that_are_no_picture_are_refused_with_the_fix() {
        let err = decode_digit(b"not a picture").unwrap_err().to_string();
        assert!(
            err.contains("not a usable image") && err.contains("PNG"),
            "{err}"
        );
    }
}
