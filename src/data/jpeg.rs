//! Whether a JPEG holds all of its image data. Decoders fill in what a file cut
//! short lacks (the image crate runs zune-jpeg leniently), so a half-downloaded
//! photo decodes to a smear that the model reads with confidence; a complete one
//! ends its data with the end-of-image marker.

use std::io::{self, BufRead, ErrorKind, Read, Seek, SeekFrom};

const MARKER: u8 = 0xFF;
const START_OF_SCAN: u8 = 0xDA;
const END_OF_IMAGE: u8 = 0xD9;

/// Whether the JPEG `reader` holds (from its start) has an end-of-image marker after
/// its first scan's data; the reader is left at its start. The header's segments
/// are skipped by their lengths, since an EXIF thumbnail there has its own markers.
pub fn is_complete(reader: &mut (impl BufRead + Seek)) -> io::Result<bool> {
    reader.rewind()?;
    let complete = match skip_to_first_scan(reader) {
        Ok(()) => has_end_marker(reader)?,
        Err(err) if err.kind() == ErrorKind::UnexpectedEof => false,
        Err(err) => return Err(err),
    };
    reader.rewind()?;
    Ok(complete)
}

/// Reads past the start-of-image marker and every header segment, up to the first
/// scan's data.
fn skip_to_first_scan(reader: &mut (impl Read + Seek)) -> io::Result<()> {
    let mut two = [0; 2];
    reader.read_exact(&mut two)?;
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
        let length = u16::from_be_bytes(two);
        if kind == START_OF_SCAN {
            return Ok(());
        }
        reader.seek(SeekFrom::Current(i64::from(length.saturating_sub(2))))?;
    }
}

/// Whether 0xFF 0xD9 follows: in the entropy-coded data every 0xFF is followed by
/// a zero or a marker, so the pair appears only as the end-of-image marker.
fn has_end_marker(reader: &mut impl BufRead) -> io::Result<bool> {
    let mut after_marker_byte = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(false);
        }
        let mut previous_was_marker = after_marker_byte;
        for &byte in chunk {
            if previous_was_marker && byte == END_OF_IMAGE {
                return Ok(true);
            }
            previous_was_marker = byte == MARKER;
        }
        after_marker_byte = previous_was_marker;
        let consumed = chunk.len();
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

    fn complete(bytes: &[u8]) -> bool {
        let mut reader = Cursor::new(bytes);
        let answer = is_complete(&mut reader).unwrap();
        assert_eq!(reader.position(), 0, "left at its start");
        answer
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
}
