//! Folders made for the user (runs, sweeps, data, pictures), with errors that name
//! the part of the path in the way rather than the OS's "File exists (os error 17)";
//! and what killed writes left in them, removed.

use std::io;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Creates `path` and its missing parents. On failure: "cannot create {what} {path}:
/// {why}: {hint}", where `why` names the part of the path in the way.
pub fn create_folder(path: &Path, what: &str, hint: &str) -> Result<()> {
    let Err(err) = std::fs::create_dir_all(path) else {
        return Ok(());
    };
    bail!(
        "cannot create {what} {}: {}: {hint}",
        path.display(),
        why_not_created(path, &err)
    )
}

/// Removes the regular files of `folder` (if it exists) whose names `doomed` picks;
/// never a folder, and a link as a link.
pub fn remove_files_named(folder: &Path, doomed: impl Fn(&str) -> bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let picked = entry.file_name().to_str().is_some_and(&doomed);
        if picked && entry.file_type().is_ok_and(|kind| kind.is_file()) {
            let path = entry.path();
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// What stopped `create_dir_all(path)`: the nearest part of the path that exists is a
/// file or a link to nothing, or it is a folder this process may not look into or
/// write in.
fn why_not_created(path: &Path, err: &io::Error) -> String {
    // Whether the part below the one looked at was hidden from this user, not absent.
    let mut hidden_below = false;
    for part in path.ancestors().filter(|part| !part.as_os_str().is_empty()) {
        let own = match std::fs::symlink_metadata(part) {
            Ok(own) => own,
            Err(err) => {
                hidden_below = err.kind() == io::ErrorKind::PermissionDenied;
                continue;
            }
        };
        let followed = std::fs::metadata(part);
        if own.file_type().is_symlink() && followed.is_err() {
            let target = std::fs::read_link(part).unwrap_or_default();
            return format!(
                "{} is a link to {}, which does not exist",
                part.display(),
                target.display()
            );
        }
        if followed.is_ok_and(|meta| !meta.is_dir()) {
            return format!("{} is a file, not a folder", part.display());
        }
        return match err.kind() {
            io::ErrorKind::PermissionDenied if hidden_below => {
                format!("this user may not look inside {}", part.display())
            }
            io::ErrorKind::PermissionDenied => {
                format!("{} is not writable by this user", part.display())
            }
            io::ErrorKind::ReadOnlyFilesystem => {
                format!("{} is on a read-only file system", part.display())
            }
            _ => err.to_string(),
        };
    }
    err.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(path: &Path) -> String {
        create_folder(path, "the run folder", "choose another with --artifacts")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_file_in_the_path_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "x").unwrap();
        let message = error(&file.join("relu"));
        assert_eq!(
            message,
            format!(
                "cannot create the run folder {}: {} is a file, not a folder: choose another with --artifacts",
                file.join("relu").display(),
                file.display()
            )
        );
    }

    #[test]
    fn a_link_to_nothing_is_named_with_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("relu");
        std::os::unix::fs::symlink("/nonexistent/elsewhere", &link).unwrap();
        let message = error(&link);
        assert!(
            message.contains(&format!(
                "{} is a link to /nonexistent/elsewhere, which does not exist",
                link.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn an_existing_folder_and_a_new_one_are_made_without_complaint() {
        let dir = tempfile::tempdir().unwrap();
        create_folder(dir.path(), "the run folder", "").unwrap();
        create_folder(&dir.path().join("a/b"), "the run folder", "").unwrap();
        assert!(dir.path().join("a/b").is_dir());
    }
}
