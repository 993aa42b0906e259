//! Crash-safe writing: a reader never sees a half-written file, and a kill at any
//! moment leaves either the old file or the new one. The files come out with the
//! permissions `File::create` would give them (0666 less the umask), not the 0600
//! of a private temporary file, so teammates and servers can read them.

use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{Result, bail};

use super::open::special_kind;

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path`
/// and syncs the folder. Only a regular file is replaced: the rename would put a
/// file in the place of a device such as `/dev/full`, or of a FIFO.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    check_replaceable(path)?;
    write_through_temp(path, bytes, true).map(drop)
}

/// As [`write_atomic`], but only where nothing is at `path` yet, however many
/// processes try at once: `false` (nothing written) when something already was.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<bool> {
    check_replaceable(path)?;
    write_through_temp(path, bytes, false)
}

/// Refuses a `path` that is a folder or a special file, or whose folder is missing.
fn check_replaceable(path: &Path) -> Result<()> {
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
    let dir = folder_of(path);
    if matches!(dir.try_exists(), Ok(false)) {
        bail!(
            "cannot write {}: the folder {} does not exist; create it first",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

/// The folder `path` is in, `.` for a bare name.
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The temporary file, synced and renamed onto `path` (over what is there only with
/// `replace`), then the folder synced; whether it was renamed.
fn write_through_temp(path: &Path, bytes: &[u8], replace: bool) -> Result<bool> {
    let dir = folder_of(path);
    let fail = |err: io::Error| write_error(path, err);
    let mut temp = temp_file_builder().tempfile_in(dir).map_err(fail)?;
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    let renamed = if replace {
        temp.persist(path)
    } else {
        temp.persist_noclobber(path)
    };
    match renamed {
        Ok(_) => {}
        Err(err) if !replace && err.error.kind() == io::ErrorKind::AlreadyExists => {
            return Ok(false);
        }
        Err(err) => return Err(fail(err.error)),
    }
    // The rename itself survives a power cut only once the folder is synced too.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(fail)?;
    Ok(true)
}

/// Refuses an output the user named unless it ends in `.extension` (`png` or `onnx`):
/// an existing file of another kind (`export --onnx artifacts/relu/model.safetensors`,
/// `samples --output config/relu.toml`, notes saved as `photo.png`) is never replaced,
/// and a new file is not given a name that promises another format (`samples
/// --output grid.jpg` would hold a PNG).
pub fn check_output(path: &Path, extension: &str) -> Result<()> {
    let ours = path
        .extension()
        .is_some_and(|found| found.eq_ignore_ascii_case(extension));
    if ours {
        return refuse_another_format(path, extension);
    }
    // `.onnx` alone is a hidden file without a name, not a name with that extension.
    if path.file_name() == Some(std::ffi::OsStr::new(&format!(".{extension}"))) {
        bail!(
            "{} is an extension with no name before it: name the file, e.g. model.{extension}",
            path.display()
        );
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

/// Refuses an existing, non-empty `path` whose first bytes are not those every file
/// of the format starts with: a PNG's signature, or the tag of `ir_version`, the
/// field an ONNX model begins with.
fn refuse_another_format(path: &Path, extension: &str) -> Result<()> {
    let signature: &[u8] = match extension {
        "png" => b"\x89PNG\r\n\x1a\n",
        "onnx" => &[0x08],
        _ => &[],
    };
    // Absent, or not a regular file: the write itself says what is wrong.
    let Ok(file) = super::open_regular(path) else {
        return Ok(());
    };
    let mut head = Vec::new();
    file.take(signature.len() as u64).read_to_end(&mut head)?;
    if head.is_empty() || head == signature {
        return Ok(());
    }
    bail!(
        "{} exists and does not hold a .{extension} file's data, so it is left as it is: name a new file, or move that one away",
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

/// Temporary files created like `File::create` creates files: the kernel applies the umask.
/// How [`write_atomic`] names its temporary files, so that one a killed write left
/// behind is told apart from anyone else's files.
const TEMPORARY_PREFIX: &str = ".mnist-mlp-tmp-";

/// Whether `name` is one of [`write_atomic`]'s temporary files: one that a process
/// holding its folder's lock finds there was left by a killed write.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with(TEMPORARY_PREFIX)
}

fn temp_file_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMPORARY_PREFIX);
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
    fn a_new_file_is_written_once_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        assert!(write_new(&path, b"first").unwrap());
        assert!(!write_new(&path, b"second").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

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
    fn an_output_of_the_right_name_but_another_content_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.png");
        std::fs::write(&path, "my notes").unwrap();
        let err = check_output(&path, "png").unwrap_err().to_string();
        assert!(err.ends_with("does not hold a .png file's data, so it is left as it is: name a new file, or move that one away"), "{err}");
        for replaceable in [&b""[..], b"\x89PNG\r\n\x1a\nIHDR"] {
            std::fs::write(&path, replaceable).unwrap();
            check_output(&path, "png").unwrap();
        }
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"\x08\x08\x12\x07pytorch").unwrap();
        check_output(&model, "onnx").unwrap();
        std::fs::write(&model, b"{\"0.weight\"").unwrap();
        assert!(check_output(&model, "onnx").is_err());
    }

    #[test]
    fn an_output_must_be_named_for_its_format() {
        assert!(check_output(Path::new("out/m.ONNX"), "onnx").is_ok());
        let message = |name: &str| {
            check_output(Path::new(name), "onnx")
                .unwrap_err()
                .to_string()
        };
        assert!(message("m.png").ends_with("end the name in .onnx"));
        assert_eq!(
            message("out/.onnx"),
            "out/.onnx is an extension with no name before it: name the file, e.g. model.onnx"
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
