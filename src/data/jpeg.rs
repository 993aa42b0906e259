//! Whether a JPEG holds all of its image data. Decoders fill in what a file lacks
//! (the image crate runs zune-jpeg leniently), so a half-downloaded photo, or a few
//! bytes whose header claims a huge picture, decode to a smear that the model reads
//! with confidence. A complete one ends its data with the end-of-image marker, and
//! holds at least a bit of it for every 8×8 block its frame header claims.

use std::io::{self, BufRead, ErrorKind, Read, Seek, SeekFrom};

const MARKER: u8 = 0xFF;
const START_OF_SCAN: u8 = 0xDA;
const END_OF_IMAGE: u8 = 0xD9;
/// Frame headers of Huffman-coded DCT JPEGs (baseline, extended, progressive), whose
/// every block costs at least one bit; arithmetic-coded ones can cost less.
const HUFFMAN_DCT_FRAMES: [u8; 3] = [0xC0, 0xC1, 0xC2];

/// What the JPEG's bytes say of its image data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Complete,
    /// No end-of-image marker after the image data: cut short.
    CutShort,
    /// Fewer bytes of image data than its `width`×`height` blocks need.
    TooLittleData {
        width: u16,
        height: u16,
        bytes: u64,
    },
}

/// The verdict on the JPEG `reader` holds (from its start); the reader is left at its
/// start. The header's segments are skipped by their lengths, since an EXIF
/// thumbnail there has its own markers.
pub fn check(reader: &mut (impl BufRead + Seek)) -> io::Result<Verdict> {
    reader.rewind()?;
    let verdict = match skip_to_first_scan(reader) {
        Ok(frame) => match data_before_end_marker(reader)? {
            None => Verdict::CutShort,
            Some(bytes) => match frame {
                Some((width, height)) if bytes < min_data_bytes(width, height) => {
                    Verdict::TooLittleData {
                        width,
                        height,
                        bytes,
                    }
                }
                _ => Verdict::Complete,
            },
        },
        Err(err) if err.kind() == ErrorKind::UnexpectedEof => Verdict::CutShort,
        Err(err) => return Err(err),
    };
    reader.rewind()?;
    Ok(verdict)
}

/// A bit per 8×8 block of the full-resolution component, in bytes.
fn min_data_bytes(width: u16, height: u16) -> u64 {
    let blocks = u64::from(width.div_ceil(8)) * u64::from(height.div_ceil(8));
    blocks / 8
}

/// Reads past the start-of-image marker and every header segment, up to the first
/// scan's data; returns the size a Huffman DCT frame header gave, if one came first.
fn skip_to_first_scan(reader: &mut (impl Read + Seek)) -> io::Result<Option<(u16, u16)>> {
    let mut two = [0; 2];
    reader.read_exact(&mut two)?;
    let mut frame = None;
    loop {
        reader.read_exact(&mut two[..1])?;
        if two[0] != MARKER {
            continue;
        }
        // A marker may be padded with any number of 0xFF bytes.
        let mut kind = MARKER;
        while kind == MARKER {
            reader.read_exact(&mut two[..1])?;
            kind = two[0];
        }
        // Restart markers, TEM and a stuffed zero stand alone; the rest have a length.
        if matches!(kind, 0x00 | 0x01 | 0xD0..=0xD7) {
            continue;
        }
        reader.read_exact(&mut two)?;
        let mut rest = i64::from(u16::from_be_bytes(two).saturating_sub(2));
        if kind == START_OF_SCAN {
            return Ok(frame);
        }
        if HUFFMAN_DCT_FRAMES.contains(&kind) && rest >= 5 {
            // Precision, then height and width.
            let mut size = [0; 5];
            reader.read_exact(&mut size)?;
            let height = u16::from_be_bytes([size[1], size[2]]);
            let width = u16::from_be_bytes([size[3], size[4]]);
            frame = Some((width, height));
            rest -= 5;
        }
        reader.seek(SeekFrom::Current(rest))?;
    }
}

/// The bytes before 0xFF 0xD9, or `None` if it never comes: in the entropy-coded data
/// every 0xFF is followed by a zero or a marker, so the pair appears only as the
/// end-of-image marker.
fn data_before_end_marker(reader: &mut impl BufRead) -> io::Result<Option<u64>> {
    let mut after_marker_byte = false;
    let mut read = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let mut previous_was_marker = after_marker_byte;
        for (at, &byte) in chunk.iter().enumerate() {
            if previous_was_marker && byte == END_OF_IMAGE {
                return Ok(Some((read + at as u64).saturating_sub(1)));
            }
            previous_was_marker = byte == MARKER;
        }
        after_marker_byte = previous_was_marker;
        let consumed = chunk.len();
        read += consumed as u64;
        reader.consume(consumed);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A grey 16×16 JPEG, as the image crate writes it.
    fn jpeg() -> Vec<u8> {
        let picture = image::GrayImage::from_fn(16, 16, |x, y| image::Luma([(x * 16 + y) as u8]));
        let mut bytes = Cursor::new(Vec::new());
        picture
            .write_to(&mut bytes, image::ImageFormat::Jpeg)
            .unwrap();
        bytes.into_inner()
    }

    fn verdict(bytes: &[u8]) -> Verdict {
        let mut reader = Cursor::new(bytes);
        let answer = check(&mut reader).unwrap();
        assert_eq!(reader.position(), 0, "left at its start");
        answer
    }

    fn complete(bytes: &[u8]) -> bool {
        verdict(bytes) == Verdict::Complete
    }

    #[test]
    fn a_whole_jpeg_is_complete_and_one_cut_short_is_not() {
        let whole = jpeg();
        assert!(complete(&whole));
        assert!(!complete(&whole[..whole.len() - 2]));
        assert!(!complete(&whole[..whole.len() / 2]));
        assert!(!complete(&whole[..3]));
        // Bytes after the end marker (a camera's trailer) do not matter.
        assert!(complete(&[whole.as_slice(), b"trailer"].concat()));
    }

    #[test]
    fn an_end_marker_inside_a_header_segment_does_not_count() {
        let whole = jpeg();
        // An APP1 segment (where EXIF thumbnails live) holding FF D9, put after SOI,
        // and the image data then cut short.
        let app1 = [0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9];
        let cut = [&whole[..2], &app1, &whole[2..whole.len() / 2]].concat();
        assert!(!complete(&cut));
        assert!(complete(&[&whole[..2], &app1, &whole[2..]].concat()));
    }

    #[test]
    fn a_header_claiming_more_blocks_than_the_data_can_hold_is_refused() {
        let whole = jpeg();
        // The 16×16 picture's frame header (FF C0, length, precision) rewritten to
        // claim 8000×8000: a million blocks in a few hundred bytes.
        let at = whole
            .windows(2)
            .position(|pair| pair == [0xFF, 0xC0])
            .unwrap()
            + 5;
        assert_eq!(&whole[at..at + 4], [0, 16, 0, 16], "height and width");
        let mut lying = whole.clone();
        lying[at..at + 4].copy_from_slice(&[0x1F, 0x40, 0x1F, 0x40]);
        match verdict(&lying) {
            Verdict::TooLittleData {
                width: 8000,
                height: 8000,
                bytes,
            } => assert!(bytes < 1000, "{bytes} bytes"),
            other => panic!("{other:?}"),
        }
        // A real picture of that size with that much data would pass: 1 000 000 blocks
        // need 125 000 bytes at a bit each.
        assert_eq!(min_data_bytes(8000, 8000), 125_000);
        assert!(complete(&whole));
    }
}
