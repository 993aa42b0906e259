//! Strict reader for the IDX format MNIST ships in (raw or gzip-compressed).
//!
//! Layout: magic `0x0000_08_0N` (u8 data, N dimensions), N big-endian u32 sizes,
//! then the bytes. Every size is checked so that a truncated or foreign file fails
//! here with its path, instead of producing garbage batches later; and the header's
//! sizes, checked against [`crate::limits`], bound what is read, so neither a header
//! declaring gigabytes nor a gzip bomb is held in memory.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use flate2::bufread::GzDecoder;

use crate::fsutil;
use crate::limits::{MAX_IDX_BYTES, MAX_IDX_ITEMS};

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
/// Bytes reserved ahead of a read: the declared size, up to this much (the rest grows
/// as bytes arrive, so a header that lies costs nothing up front).
const MAX_RESERVE: usize = 64 << 20;

/// Reads an IDX file, transparently gunzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let file =
        fsutil::open_regular(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_idx(BufReader::new(file), path)
}

/// As [`read_maybe_gz`], from a reader: the header, then at most the data bytes it
/// declares and one more, which tells a file that holds more from one that does not.
/// A file without an IDX header of bytes, or whose header declares more than the limits
/// allow, is returned as far as it was read (nothing past the header), for
/// [`parse_images`] or [`parse_labels`] to say what is wrong with it.
pub fn read_idx<R: BufRead>(mut reader: R, origin: &Path) -> Result<Vec<u8>> {
    let unreadable = |err: io::Error| anyhow!("cannot read {}: {err}", origin.display());
    let gzip = reader
        .fill_buf()
        .map_err(unreadable)?
        .starts_with(&GZIP_MAGIC);
    if gzip {
        let not_gzip = |err: io::Error| {
            anyhow!(
                "{} is not a valid gzip file ({err}): delete it and run `mnist-mlp fetch`",
                origin.display()
            )
        };
        read_declared(GzDecoder::new(reader), origin, "decompresses to", not_gzip)
    } else {
        read_declared(reader, origin, "holds", unreadable)
    }
}

/// The reading behind [`read_idx`]; `broken` words a failed read.
fn read_declared(
    mut reader: impl Read,
    origin: &Path,
    holds: &str,
    broken: impl Fn(io::Error) -> anyhow::Error,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(16);
    (&mut reader)
        .take(4)
        .read_to_end(&mut bytes)
        .map_err(&broken)?;
    let rank = match bytes[..] {
        [0, 0, 0x08, rank @ 1..=3] => usize::from(rank),
        _ => return Ok(bytes),
    };
    (&mut reader)
        .take(4 * rank as u64)
        .read_to_end(&mut bytes)
        .map_err(&broken)?;
    // A short or oversized header is left to the parser, which checks the magic number first.
    let Some(declared) = dims(&bytes, rank).and_then(|dims| declared_len(&dims, origin).ok())
    else {
        return Ok(bytes);
    };
    bytes.reserve(declared.min(MAX_RESERVE));
    let header_len = bytes.len();
    reader
        .take(declared as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(&broken)?;
    if bytes.len() - header_len > declared {
        bail!(
            "{}: header promises {declared} data bytes but the file {holds} more: the file is corrupt or not MNIST; delete it and run `mnist-mlp fetch`",
            origin.display()
        );
    }
    Ok(bytes)
}

/// Parses an IDX image file's bytes.
pub fn parse_images(bytes: &[u8], origin: &Path) -> Result<IdxImages> {
    let dims = parse_header(bytes, IMAGES_MAGIC, 3, origin)?;
    let pixels = payload(bytes, 3, declared_len(&dims, origin)?, origin)?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: pixels.into(),
    })
}

/// Parses an IDX label file's bytes, checking every label is below `classes`.
pub fn parse_labels(bytes: &[u8], classes: usize, origin: &Path) -> Result<Vec<u8>> {
    let dims = parse_header(bytes, LABELS_MAGIC, 1, origin)?;
    let labels = payload(bytes, 1, declared_len(&dims, origin)?, origin)?;
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
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
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
    dims(bytes, rank).with_context(|| {
        format!(
            "{}: only {} bytes, shorter than the {header_len}-byte IDX header: the file is truncated; delete it and run `mnist-mlp fetch`",
            origin.display(),
            bytes.len()
        )
    })
}

/// The `rank` sizes after the magic number, if `bytes` is that long.
fn dims(bytes: &[u8], rank: usize) -> Option<Vec<usize>> {
    let sizes = bytes.get(4..4 + 4 * rank)?;
    Some(
        sizes
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect(),
    )
}

/// The data bytes a header with `dims` declares, refused beyond [`MAX_IDX_ITEMS`]
/// items or [`MAX_IDX_BYTES`] bytes (an overflowing product included).
fn declared_len(dims: &[usize], origin: &Path) -> Result<usize> {
    let total = dims
        .iter()
        .try_fold(1usize, |total, &dim| total.checked_mul(dim))
        .filter(|&total| total <= MAX_IDX_BYTES);
    match total {
        Some(total) if dims.first().is_some_and(|&items| items <= MAX_IDX_ITEMS) => Ok(total),
        _ => {
            let sizes: Vec<String> = dims.iter().map(usize::to_string).collect();
            bail!(
                "{}: its header declares {} bytes, above the limit for an MNIST-format file ({MAX_IDX_ITEMS} items, {MAX_IDX_BYTES} bytes): the file is corrupt or not MNIST; delete it and run `mnist-mlp fetch`",
                origin.display(),
                sizes.join(" × ")
            )
        }
    }
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

    #[test]
    fn a_gzip_holding_more_than_its_header_declares_is_refused_as_it_is_read() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(&encode_labels(&[1, 2, 3])).unwrap();
        encoder.write_all(&vec![0u8; 1 << 20]).unwrap();
        let compressed = encoder.finish().unwrap();
        let err = read_idx(compressed.as_slice(), Path::new("bomb.gz"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bomb.gz") && err.contains("header promises 3 data bytes"),
            "{err}"
        );
        assert!(err.contains("decompresses to more"), "{err}");
    }

    #[test]
    fn headers_declaring_more_than_mnist_could_be_are_refused_unread() {
        let mut huge = IMAGES_MAGIC.to_be_bytes().to_vec();
        for dim in [u32::MAX, u32::MAX, u32::MAX] {
            huge.extend_from_slice(&dim.to_be_bytes());
        }
        huge.extend_from_slice(&[0; 64]);
        // Nothing past the header is read, and the parser refuses it.
        let read = read_idx(huge.as_slice(), Path::new("i")).unwrap();
        assert_eq!(read.len(), 16);
        let err = parse_images(&read, Path::new("i")).unwrap_err().to_string();
        assert!(
            err.contains("above the limit") && err.contains("4294967295 × "),
            "{err}"
        );
        let mut many = LABELS_MAGIC.to_be_bytes().to_vec();
        many.extend_from_slice(&2_000_000u32.to_be_bytes());
        let err = parse_labels(&many, 10, Path::new("l")).unwrap_err();
        assert!(err.to_string().contains("1000000 items"), "{err}");
    }

    #[test]
    fn a_raw_file_is_read_as_it_is() {
        let bytes = encode_images(&sample());
        assert_eq!(read_idx(bytes.as_slice(), Path::new("x")).unwrap(), bytes);
        let short = &bytes[..10];
        assert_eq!(read_idx(short, Path::new("x")).unwrap(), short);
    }
}
