//! Reading files whose size we cannot trust: only regular files, only up to a
//! limit, and failures said in words.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::Result;

use super::open::{open_own_record, open_regular};

/// The UTF-8 text of a config, sweep or summary file, within
/// [`MAX_TEXT_BYTES`](crate::limits::MAX_TEXT_BYTES).
pub fn read_text(path: &Path) -> io::Result<String> {
    read_text_within(path, crate::limits::MAX_TEXT_BYTES)
}

/// `bytes` in the largest binary unit it reaches, whole: "1 MiB", "512 KiB".
fn size_text(bytes: u64) -> String {
    let (value, unit) = match bytes {
        b if b >= 1 << 30 => (b >> 30, "GiB"),
        b if b >= 1 << 20 => (b >> 20, "MiB"),
        b => (b >> 10, "KiB"),
    };
    format!("{value} {unit}")
}

/// The text of a file a run or sweep wrote for itself, within
/// [`crate::limits::MAX_RECORD_BYTES`]: a folder someone else filled (a FIFO, a link
/// to a device, a sparse file of terabytes) must not hang or exhaust the commands and
/// the server that read it.
pub fn read_record(path: &Path) -> io::Result<String> {
    own_text(read_opened(
        open_own_record(path)?,
        crate::limits::MAX_RECORD_BYTES,
    )?)
}

/// A run's own copy of its config, or its summary, within
/// [`MAX_TEXT_BYTES`](crate::limits::MAX_TEXT_BYTES), never through a link, as
/// [`read_record`] reads.
pub fn read_own_text(path: &Path) -> io::Result<String> {
    own_text(read_opened(
        open_own_record(path)?,
        crate::limits::MAX_TEXT_BYTES,
    )?)
}

/// `bytes` of a file the program wrote as UTF-8 text: anything else was put there
/// by someone else (or damaged), and "save it as UTF-8" would be the wrong advice.
fn own_text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not the UTF-8 text the program writes there, so it is damaged or was replaced: delete it",
        )
    })
}

/// [`read_text`] for a file the user named as `what` ("config", "sweep file"): a path
/// that does not exist gets `hint` (where to look), any other failure says what it was.
pub fn read_named_text(path: &Path, what: &str, hint: &str) -> Result<String> {
    read_text(path).map_err(|err| {
        let why = why_unreadable(&err);
        match err.kind() {
            io::ErrorKind::NotFound => anyhow::anyhow!(
                "cannot read {what} {}: {why}: check the path ({hint})",
                path.display()
            ),
            _ => anyhow::anyhow!("cannot read {what} {}: {why}", path.display()),
        }
    })
}

/// Why a file could not be opened, in words: "it does not exist" rather than the OS's
/// "No such file or directory (os error 2)".
pub fn why_unreadable(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "it does not exist".to_string(),
        io::ErrorKind::NotADirectory => "a part of its path is a file, not a folder".to_string(),
        _ => err.to_string(),
    }
}

/// The bytes of the regular file `path`, refused past `limit` (as `InvalidData`).
pub fn read_within(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_opened(open_regular(path)?, limit)
}

/// The bytes of `file`, refused past `limit`.
fn read_opened(file: File, limit: u64) -> io::Result<Vec<u8>> {
    let too_long = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is longer than {}, far more than such a file holds",
                size_text(limit)
            ),
        )
    };
    // Refused from its length before reading: a sparse file may claim terabytes.
    let length = file.metadata()?.len();
    if length > limit {
        return Err(too_long());
    }
    // Room for all of it at once, rather than doubling up to twice its size.
    let mut bytes = Vec::with_capacity(length as usize + 1);
    // Read within the limit all the same, since the file may grow meanwhile.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_long());
    }
    Ok(bytes)
}

/// The UTF-8 text of the regular file `path`, refused past `limit` bytes: a config
/// or sweep file is a few KB, and a path slipped to a log or a dataset must not fill
/// memory.
pub fn read_text_within(path: &Path, limit: u64) -> io::Result<String> {
    utf8(read_within(path, limit)?)
}

/// `bytes` as text, or an error that says how to save it.
fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|err| {
        // Notepad and PowerShell save UTF-16, which starts with a byte-order mark.
        let utf16 = matches!(err.as_bytes(), [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..]);
        let what = if utf16 {
            "UTF-16 text"
        } else {
            "not UTF-8 text"
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is {what}: save it as UTF-8"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_read_up_to_its_limit_in_utf8_and_refused_past_it_or_in_another_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, vec![b'a'; 2048]).unwrap();
        assert_eq!(read_text_within(&path, 2048).unwrap().len(), 2048);
        let err = read_text_within(&path, 2047).unwrap_err();
        assert!(
            err.to_string().starts_with("it is longer than 1 KiB"),
            "{err}"
        );
        // A sparse file is refused from its length, without reading its 64 GiB of zeros.
        let sparse = dir.path().join("metrics.csv");
        File::create(&sparse).unwrap().set_len(1 << 36).unwrap();
        let err = read_record(&sparse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is longer than 128 MiB, far more than such a file holds"
        );
        std::fs::write(&path, b"\xFF\xFE[\0e\0").unwrap();
        let err = read_text_within(&path, 2048).unwrap_err();
        assert_eq!(err.to_string(), "it is UTF-16 text: save it as UTF-8");
        std::fs::write(&path, b"name = \"\xE9\"").unwrap();
        let err = read_text_within(&path, 2048).unwrap_err();
        assert_eq!(err.to_string(), "it is not UTF-8 text: save it as UTF-8");
        let err = read_record(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("so it is damaged or was replaced: delete it"),
            "{err}"
        );
    }
}
