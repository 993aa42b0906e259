//! Strict reader for the IDX format MNIST ships in (raw or gzip-compressed).
//!
//! Layout: magic `0x0000_08_0N` (u8 data, N dimensions), N big-endian u32 sizes,
//! then the bytes. Every size is checked so that a truncated or foreign file fails
//! here with its path, instead of producing garbage batches later.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;

/// Images as one contiguous row-major `u8` buffer (`count × rows × cols`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// Shared, so that the dataset's splits hold it without another copy.
    pub pixels: Arc<[u8]>,
}

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a file, transparently gunzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .with_context(|| {
                format!(
                    "{} is not a valid gzip file: delete it and run `mnist-mlp fetch`",
                    path.display()
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX image file's bytes.
pub fn parse_images(bytes: &[u8], origin: &Path) -> Result<IdxImages> {
    let dims = parse_header(bytes, IMAGES_MAGIC, 3, origin)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    let pixels = payload(bytes, 3, count * rows * cols, origin)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: pixels.into(),
    })
}

/// Parses an IDX label file's bytes, checking every label is below `classes`.
pub fn parse_labels(bytes: &[u8], classes: usize, origin: &Path) -> Result<Vec<u8>> {
    let dims = parse_header(bytes, LABELS_MAGIC, 1, origin)?;
    let labels = payload(bytes, 1, dims[0], origin)?;
    if let Some(index) = labels.iter().position(|&label| label as usize >= classes) {
        bail!(
            "{}: label {} at index {index} is out of range 0..{classes}: the file is corrupt; delete it and run `mnist-mlp fetch`",
            origin.display(),
            labels[index]
        );
    }
    Ok(labels.to_vec())
}

/// Serialises images in IDX form (used by tests and tools that write small datasets).
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = IMAGES_MAGIC.to_be_bytes().to_vec();
    for dim in [images.count, images.rows, images.cols] {
        out.extend_from_slice(&(dim as u32).to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Serialises labels in IDX form.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = LABELS_MAGIC.to_be_bytes().to_vec();
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

fn parse_header(bytes: &[u8], magic: u32, rank: usize, origin: &Path) -> Result<Vec<usize>> {
    let header_len = 4 + 4 * rank;
    let found = bytes
        .get(0..4)
        .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    if let Some(found) = found.filter(|&found| found != magic) {
        bail!(
            "{}: magic number 0x{found:08x} where an IDX {} file has 0x{magic:08x}: wrong or corrupt file; delete it and run `mnist-mlp fetch`",
            origin.display(),
            if magic == IMAGES_MAGIC {
                "image"
            } else {
                "label"
            }
        );
    }
    if bytes.len() < header_len {
        bail!(
            "{}: only {} bytes, shorter than the {header_len}-byte IDX header: the file is truncated; delete it and run `mnist-mlp fetch`",
            origin.display(),
            bytes.len()
        );
    }
    Ok((0..rank)
        .map(|i| {
            let at = 4 + 4 * i;
            u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
        })
        .collect())
}

fn payload<'a>(bytes: &'a [u8], rank: usize, expected: usize, origin: &Path) -> Result<&'a [u8]> {
    let body = &bytes[4 + 4 * rank..];
    if body.len() != expected {
        bail!(
            "{}: header promises {expected} data bytes but the file holds {}: the file is {}; delete it and run `mnist-mlp fetch`",
            origin.display(),
            body.len(),
            if body.len() < expected {
                "truncated"
            } else {
                "corrupt (trailing bytes)"
            }
        );
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IdxImages {
        IdxImages {
            count: 2,
            rows: 2,
            cols: 3,
            pixels: (0..12).collect::<Vec<u8>>().into(),
        }
    }

    #[test]
    fn images_round_trip() {
        let bytes = encode_images(&sample());
        assert_eq!(parse_images(&bytes, Path::new("x")).unwrap(), sample());
    }

    #[test]
    fn labels_round_trip_and_range_check() {
        let bytes = encode_labels(&[0, 9, 3]);
        assert_eq!(
            parse_labels(&bytes, 10, Path::new("x")).unwrap(),
            vec![0, 9, 3]
        );
        let err = parse_labels(&encode_labels(&[1, 10]), 10, Path::new("l")).unwrap_err();
        assert!(err.to_string().contains("label 10 at index 1"), "{err}");
    }

    #[test]
    fn truncated_payload_is_reported() {
        let mut bytes = encode_images(&sample());
        bytes.pop();
        let err = parse_images(&bytes, Path::new("img"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated") && err.contains("img"), "{err}");
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut bytes = encode_labels(&[1, 2]);
        bytes.push(0);
        let err = parse_labels(&bytes, 10, Path::new("l"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("trailing"), "{err}");
    }

    #[test]
    fn truncated_header_is_reported() {
        let err = parse_images(&[0, 0, 8], Path::new("i"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("header"), "{err}");
    }

    #[test]
    fn label_file_is_not_an_image_file() {
        let err = parse_images(&encode_labels(&[1]), Path::new("i")).unwrap_err();
        assert!(err.to_string().contains("magic number 0x00000801"), "{err}");
    }

    #[test]
    fn gzip_is_read_transparently() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.gz");
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(&encode_labels(&[4, 2])).unwrap();
        std::fs::write(&path, encoder.finish().unwrap()).unwrap();
        let bytes = read_maybe_gz(&path).unwrap();
        assert_eq!(parse_labels(&bytes, 10, &path).unwrap(), vec![4, 2]);
    }
}
