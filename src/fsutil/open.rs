//! Opening files safely: lock files whose locks die with their process however it
//! ends, the program's own files never opened through a link, and reads only from
//! regular files, never from a FIFO or a device.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

use anyhow::{Context, Result};

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
    open_checked(path, options, true, ": delete it")
}

/// Opens `path` with `options` without waiting (`O_NONBLOCK`: a FIFO would hold the
/// open until some process came to its other end), through a final symbolic link
/// only unless `no_link`, and keeps it only if the open handle is a regular file:
/// checking the handle rather than the name leaves no moment in which a FIFO or a
/// link put in the file's place is opened after the check.
fn open_checked(
    path: &Path,
    options: &mut std::fs::OpenOptions,
    no_link: bool,
    advice: &str,
) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let link = if no_link { libc::O_NOFOLLOW } else { 0 };
        options.custom_flags(libc::O_NONBLOCK | link);
    }
    let file = options.open(path).map_err(|err| {
        // Opening a folder for writing fails before its handle can be checked.
        if err.kind() == io::ErrorKind::IsADirectory {
            return io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is a folder, not a regular file{advice}"),
            );
        }
        #[cfg(unix)]
        if no_link && err.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a symbolic link, and the program never opens its own files through one: delete the link",
            );
        }
        err
    })?;
    regular_only(file.metadata()?.file_type(), advice)?;
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

/// Opens `path` for reading if it is a regular file (or a link to one). A FIFO would
/// hold the open until some process wrote to it, and a device such as `/dev/zero`
/// never ends, so both are refused, as is a folder. A device is refused before it
/// is opened (opening some has effects), and the open handle is checked again.
pub fn open_regular(path: &Path) -> io::Result<File> {
    regular_only(std::fs::metadata(path)?.file_type(), "")?;
    open_checked(path, File::options().read(true), false, "")
}

/// [`open_regular`] for a file the program wrote for itself, always by a rename and
/// never as a link: a symbolic link in its place was put there by someone else, and
/// following it would show a file from outside the run folder (the server would
/// serve it).
pub fn open_own_record(path: &Path) -> io::Result<File> {
    let kind = std::fs::symlink_metadata(path)?.file_type();
    if !kind.is_symlink() {
        regular_only(kind, "")?;
    }
    open_checked(path, File::options().read(true), true, "")
}

/// "a FIFO", "a device", "a socket": what a non-regular, non-folder path is.
pub(super) fn special_kind(kind: std::fs::FileType) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_held_until_its_file_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap().expect("a free lock");
        assert!(try_lock(&path).unwrap().is_none());
        drop(held);
        // Another test's child, forked but not yet exec'd, may hold a copy of the
        // descriptor (and so the lock) for a moment after the drop.
        let started = std::time::Instant::now();
        while try_lock(&path).unwrap().is_none() {
            assert!(
                started.elapsed().as_secs() < 5,
                "still locked after the drop"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[cfg(unix)]
    #[test]
    fn own_files_are_never_opened_through_a_link_or_as_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join(".mnist-mlp-run");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = format!("{:#}", open_lock(&link).unwrap_err());
        assert!(err.ends_with("it is a symbolic link, and the program never opens its own files through one: delete the link"), "{err}");
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
}
