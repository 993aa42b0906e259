//! Crash-safe file writing: a reader never sees a half-written file, and a kill
//! at any moment leaves either the old file or the new one. The files come out
//! with the permissions `File::create` would give them (0666 less the umask), not
//! the 0600 of a private temporary file, so teammates and servers can read them.
//! And lock files, whose locks die with their process however it ends. And the
//! reading side: only regular files are opened, and text files only up to a size.
//! And `~` in a path the user wrote, which no shell expanded, and a file's text
//! made safe to print.

use std::fs::{File, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path`
/// and syncs the folder. Only a regular file is replaced: the rename would put a
/// file in the place of a device such as `/dev/full`, or of a FIFO.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(existing) = std::fs::metadata(path) {
        let kind = existing.file_type();
        if kind.is_dir() {
            bail!(
                "{} is a folder: name a file to write inside it",
                path.display()
            );
        }
        if !kind.is_file() {
            bail!(
                "{} is {}, not a regular file: name a file to write",
                path.display(),
                special_kind(kind)
            );
        }
    }
    if matches!(dir.try_exists(), Ok(false)) {
        bail!(
            "cannot write {}: the folder {} does not exist; create it first",
            path.display(),
            dir.display()
        );
    }
    let fail = |err: io::Error| write_error(path, err);
    let mut temp = temp_file_builder().tempfile_in(dir).map_err(fail)?;
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    // The rename itself survives a power cut only once the folder is synced too.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(fail)?;
    Ok(())
}

/// Refuses an output the user named unless it ends in `.extension`: an existing file
/// of another kind (`export --onnx artifacts/relu/model.safetensors`, `samples --output
/// config/relu.toml`) is never replaced, and a new file is not given a name that
/// promises another format (`samples --output grid.jpg` would hold a PNG).
pub fn check_output(path: &Path, extension: &str) -> Result<()> {
    let ours = path
        .extension()
        .is_some_and(|found| found.eq_ignore_ascii_case(extension));
    if ours {
        return Ok(());
    }
    if path.is_file() {
        bail!(
            "{} exists and is not a .{extension} file, so it is left as it is: name a new file ending in .{extension}",
            path.display()
        );
    }
    bail!(
        "{} does not end in .{extension}, the only format written here: end the name in .{extension}",
        path.display()
    );
}

/// "cannot write PATH: what went wrong: what to do", the advice chosen by the kind of
/// failure, since "check the folder" misleads a user whose disk is full.
fn write_error(path: &Path, err: io::Error) -> anyhow::Error {
    use io::ErrorKind::{PermissionDenied, QuotaExceeded, ReadOnlyFilesystem, StorageFull};
    let (cause, fix) = match err.kind() {
        StorageFull => ("the disk is full".to_string(), "free some space on it"),
        QuotaExceeded => ("the disk quota is used up".to_string(), "free some space"),
        ReadOnlyFilesystem => ("the disk is read-only".to_string(), "write elsewhere"),
        PermissionDenied => ("permission denied".to_string(), "make the folder writable"),
        _ => (
            err.to_string(),
            "check that the folder exists and is writable",
        ),
    };
    anyhow::anyhow!("cannot write {}: {cause}: {fix}", path.display())
}

/// Opens (creating) a lock file; the lock itself is taken on the returned file and
/// dies with the process, so a killed process leaves no stale lock.
pub fn open_lock(path: &Path) -> Result<File> {
    let mut options = File::options();
    options.read(true).write(true).create(true).truncate(false);
    open_own(path, &mut options)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}

/// Opens (creating) a log to append to, as [`open_lock`] opens a lock.
pub fn open_log(path: &Path) -> Result<File> {
    let mut options = File::options();
    options.append(true).create(true);
    open_own(path, &mut options).with_context(|| format!("cannot open {}", path.display()))
}

/// Opens one of the program's own files for writing in place: never through a
/// symbolic link, and only if it is a regular file. A link planted in a run or
/// sweep folder (a tarball of someone's runs, a folder shared on a cluster) would
/// otherwise have us truncate or append to whatever it points at; a FIFO would hold
/// the open until someone read it.
fn open_own(path: &Path, options: &mut std::fs::OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|err| {
        #[cfg(unix)]
        if err.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a symbolic link, and the program's own files are never written through one: delete the link",
            );
        }
        err
    })?;
    regular_only(file.metadata()?.file_type(), ": delete it")?;
    Ok(file)
}

/// Refuses anything but a regular file: "it is a FIFO, not a regular file", then `advice`.
fn regular_only(kind: std::fs::FileType, advice: &str) -> io::Result<()> {
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a folder"
    } else {
        special_kind(kind)
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file{advice}"),
    ))
}

/// The exclusive lock on `path`, held until the file is dropped; `None` when another
/// process (or another open file in this one) holds it.
pub fn try_lock(path: &Path) -> Result<Option<File>> {
    let file = open_lock(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// `text` from a file, safe to print: every control character other than `keep`
/// written as an escape (`\u{1b}`), so that a file cannot clear the screen,
/// retitle the window or fake output through `inspect` or an error line.
pub fn printable(text: &str, keep: Option<char>) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_control() && Some(c) != keep => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `path` as a shell would have expanded it: `~` and `~/…` name the home folder. A
/// TOML value, a quoted argument or `--data-dir=~/x` arrive unexpanded, and a folder
/// made literally named `~` is one `rm -rf ~` away from the user's home.
pub fn expand_home(path: &Path) -> PathBuf {
    let home = || std::env::home_dir().filter(|home| !home.as_os_str().is_empty());
    match path.strip_prefix("~") {
        Ok(rest) => match home() {
            Some(home) => home.join(rest),
            None => path.to_path_buf(),
        },
        Err(_) => path.to_path_buf(),
    }
}

/// Opens `path` for reading if it is a regular file (or a link to one). A FIFO would
/// hold the open until some process wrote to it, and a device such as `/dev/zero`
/// never ends, so both are refused, as is a folder.
pub fn open_regular(path: &Path) -> io::Result<File> {
    regular_only(std::fs::metadata(path)?.file_type(), "")?;
    File::open(path)
}

/// "a FIFO", "a device", "a socket": what a non-regular, non-folder path is.
fn special_kind(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    let _ = kind;
    "not a file"
}

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
    read_text_within(path, crate::limits::MAX_RECORD_BYTES)
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
    let too_long = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is longer than {}, far more than such a file holds",
                size_text(limit)
            ),
        )
    };
    let file = open_regular(path)?;
    // Refused from its length before reading: a sparse file may claim terabytes.
    if file.metadata()?.len() > limit {
        return Err(too_long());
    }
    let mut bytes = Vec::new();
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
    let bytes = read_within(path, limit)?;
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

/// Temporary files created like `File::create` creates files: the kernel applies the umask.
fn temp_file_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn files_get_the_permissions_file_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, b"x").unwrap();
        let atomic = dir.path().join("atomic.txt");
        write_atomic(&atomic, b"x").unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
    }

    #[test]
    fn a_lock_is_held_until_its_file_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap().expect("a free lock");
        assert!(try_lock(&path).unwrap().is_none());
        drop(held);
        assert!(try_lock(&path).unwrap().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_is_neither_opened_nor_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo");
        // Opening a FIFO for reading would block this test forever.
        let err = open_regular(&fifo).unwrap_err();
        assert_eq!(err.to_string(), "it is a FIFO, not a regular file");
        let err = read_text_within(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "it is a device, not a regular file");
        // Written to, the FIFO stays (a FIFO, not a device: were the check to break,
        // the test must not replace /dev/null on the machine that runs it).
        let err = write_atomic(&fifo, b"x").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is a FIFO, not a regular file: name a file to write")
        );
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let err = open_regular(dir.path()).unwrap_err();
        assert_eq!(err.to_string(), "it is a folder, not a regular file");
    }

    #[test]
    fn text_from_a_file_prints_its_control_characters_as_escapes() {
        assert_eq!(printable("0.weight", None), "0.weight");
        assert_eq!(printable("a\u{1b}[2J\u{7}", None), "a\\u{1b}[2J\\u{7}");
        assert_eq!(printable("a\nb\tc", Some('\n')), "a\nb\\u{9}c");
        assert_eq!(printable("ünï → 10", None), "ünï → 10");
    }

    #[test]
    fn own_files_are_never_opened_through_a_link_or_as_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join(".mnist-mlp-run");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = format!("{:#}", open_lock(&link).unwrap_err());
        assert!(err.ends_with("it is a symbolic link, and the program's own files are never written through one: delete the link"), "{err}");
        assert!(open_log(&link).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let fifo = dir.path().join("trial-000.log");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // Write-only with no reader: refused at once rather than waiting for one.
        assert!(open_log(&fifo).is_err());
        let err = format!("{:#}", open_lock(&fifo).unwrap_err());
        assert!(
            err.ends_with("it is a FIFO, not a regular file: delete it"),
            "{err}"
        );
        open_lock(&dir.path().join("fresh.lock")).unwrap();
    }

    #[test]
    fn a_leading_tilde_names_the_home_folder_and_nothing_else_changes() {
        let home = std::env::home_dir().unwrap();
        assert_eq!(expand_home(Path::new("~/mnist")), home.join("mnist"));
        assert_eq!(expand_home(Path::new("~")), home);
        for kept in ["~user/mnist", "data/~", "./~/x", "/abs/path", "rel"] {
            assert_eq!(expand_home(Path::new(kept)), Path::new(kept));
        }
    }

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
            "it is longer than 1 GiB, far more than such a file holds"
        );
        std::fs::write(&path, b"\xFF\xFE[\0e\0").unwrap();
        let err = read_text_within(&path, 2048).unwrap_err();
        assert_eq!(err.to_string(), "it is UTF-16 text: save it as UTF-8");
        std::fs::write(&path, b"name = \"\xE9\"").unwrap();
        let err = read_text_within(&path, 2048).unwrap_err();
        assert_eq!(err.to_string(), "it is not UTF-8 text: save it as UTF-8");
    }

    #[test]
    fn a_full_disk_is_named_as_such_with_what_to_do() {
        let path = Path::new("artifacts/relu/model.safetensors");
        let full = write_error(path, io::ErrorKind::StorageFull.into());
        assert_eq!(
            full.to_string(),
            "cannot write artifacts/relu/model.safetensors: the disk is full: free some space on it"
        );
        let read_only = write_error(path, io::ErrorKind::ReadOnlyFilesystem.into());
        assert!(
            read_only
                .to_string()
                .ends_with("the disk is read-only: write elsewhere")
        );
    }

    #[test]
    fn unwritable_folder_is_a_clear_error() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.txt"), b"x").unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("/nonexistent-dir/x.txt"), "{message}");
        assert!(
            message.contains("the folder /nonexistent-dir does not exist"),
            "{message}"
        );
    }

    #[test]
    fn a_folder_is_not_overwritten_and_says_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let message = format!("{:#}", write_atomic(dir.path(), b"x").unwrap_err());
        assert!(message.contains("is a folder: name a file"), "{message}");
        assert!(dir.path().is_dir());
    }
}
