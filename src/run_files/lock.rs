//! Who may write a run folder: only a folder that is recognisably one of our runs
//! is ever emptied, and only by the one process holding its lock. The lock is an
//! OS lock on the folder's marker file, so it ends with its process however that
//! ends, and a killed run is plain to see as interrupted rather than live.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::ExperimentConfig;
use crate::fsutil::{self, create_folder, open_lock, remove_files_named};
use crate::run_files::{CHECKPOINT_PARTS, RunDir};

/// A probe (`serve` asking whether a run is live) holds the lock shared for
/// microseconds; a trainer that meets it tries again this often before refusing.
const TRIES: u32 = 5;
const PAUSE: Duration = Duration::from_millis(20);

/// What stands at a run folder's path.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    Absent,
    /// A folder with nothing in it: taking it loses nothing.
    Empty,
    /// Our marker is there, or (for runs from before the marker) our config with a
    /// summary or checkpoints.
    Ours,
    /// Anything else: never emptied.
    Foreign,
}

impl Ownership {
    pub fn of(dir: &RunDir) -> Self {
        let root = &dir.root;
        if !root.exists() {
            return Self::Absent;
        }
        if !root.is_dir() {
            return Self::Foreign;
        }
        // A config.toml of ours, not any tool's, beside what a run leaves.
        let legacy_run = (dir.is_finished() || dir.checkpoints().is_dir())
            && dir
                .config_text()
                .is_ok_and(|text| ExperimentConfig::parse(&text, &[]).is_ok());
        if dir.marker().is_file() || legacy_run {
            return Self::Ours;
        }
        match std::fs::read_dir(root) {
            Ok(mut entries) => match entries.next() {
                None => Self::Empty,
                Some(_) => Self::Foreign,
            },
            Err(_) => Self::Foreign,
        }
    }
}

/// This process's hold on a run folder; the lock goes when it is dropped.
#[derive(Debug)]
pub struct RunLock {
    dir: RunDir,
    /// Kept open: closing it would release the lock.
    _marker: File,
}

impl RunLock {
    /// Takes `dir` for this process, creating it if absent; refuses a folder that
    /// is not ours, and one that another process is training in.
    pub fn acquire(dir: &RunDir) -> Result<Self> {
        if Ownership::of(dir) == Ownership::Foreign {
            bail!(
                "{} exists and is not a mnist-mlp run folder (it has no {} marker): nothing was changed; choose another name with --set experiment.name=NAME, or move that folder away",
                dir.root.display(),
                crate::run_files::MARKER
            );
        }
        create_folder(
            &dir.root,
            "the run folder",
            "choose another folder with --artifacts",
        )?;
        let mut marker = open_lock(&dir.marker())?;
        if !lock_exclusive(&marker, dir)? {
            bail!(
                "{} is being trained by {}: wait for it to finish, or choose another experiment name with --set experiment.name=NAME",
                dir.root.display(),
                holder_description(&mut marker)
            );
        }
        marker.set_len(0)?;
        marker.rewind()?;
        writeln!(marker, "{}", std::process::id())
            .with_context(|| format!("cannot write {}", dir.marker().display()))?;
        Ok(Self {
            dir: dir.clone(),
            _marker: marker,
        })
    }

    /// Readies the folder for a new run: what a run writes goes (its files, its
    /// checkpoint folder, and temporary files a killed write left), but anything
    /// else is the user's (notes kept beside a run) and stays. Returns what stayed.
    pub fn clear(&self) -> Result<Vec<PathBuf>> {
        let root = &self.dir.root;
        let fail = || format!("cannot clear {}", root.display());
        let ours = self.dir.own_files();
        let mut kept = Vec::new();
        let mut entries = std::fs::read_dir(root)
            .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
            .with_context(fail)?;
        // The summary goes first and the config last: a clearing killed half-way leaves
        // no finished-looking run, but one that `--resume` or `--fresh` takes on.
        entries.sort_by_key(|entry| {
            let path = entry.path();
            (path != self.dir.summary(), path == self.dir.config())
        });
        for entry in entries {
            let path = entry.path();
            // The entry's own type: a link is removed as a link, never followed.
            let kind = entry.file_type().with_context(fail)?;
            let temporary = is_temporary(&entry.file_name().to_string_lossy());
            let removed = if path == self.dir.marker() {
                continue;
            } else if path == self.dir.checkpoints() && kind.is_dir() {
                clear_checkpoints(&path, &mut kept)?;
                continue;
            } else if !kind.is_dir()
                && (ours.contains(&path) || temporary || path == self.dir.checkpoints())
            {
                std::fs::remove_file(&path)
            } else {
                kept.push(path);
                continue;
            };
            removed.with_context(|| format!("cannot remove {}", path.display()))?;
        }
        kept.sort();
        Ok(kept)
    }

    /// Removes what writes killed in this folder left (`write_atomic`'s temporaries beside the
    /// run's, burn-pack's `….bpk.<pid>-<n>.tmp` in `checkpoint/`): while the lock
    /// is held no other process of ours writes here, so none is still being written.
    pub fn remove_temporaries(&self) -> Result<()> {
        let checkpoint_temporary = |name: &str| is_checkpoint_file(name) && name.ends_with(".tmp");
        remove_files_named(&self.dir.root, is_temporary)?;
        remove_files_named(&self.dir.checkpoints(), checkpoint_temporary)
    }
}

/// A temporary file of [`fsutil::write_atomic`]'s, left beside the file it was to
/// replace by a write that was killed; earlier versions gave them tempfile's `.tmp…`.
fn is_temporary(name: &str) -> bool {
    fsutil::is_temporary(name) || name.starts_with(".tmp")
}

/// Removes the checkpoints Burn wrote (and its half-written ones) from `folder`,
/// then the folder itself unless something of the user's is left in it, which is
/// added to `kept`.
fn clear_checkpoints(folder: &Path, kept: &mut Vec<PathBuf>) -> Result<()> {
    let fail = || format!("cannot clear {}", folder.display());
    for entry in std::fs::read_dir(folder).with_context(fail)? {
        let entry = entry.with_context(fail)?;
        let path = entry.path();
        let ours = !entry.file_type().with_context(fail)?.is_dir()
            && entry.file_name().to_str().is_some_and(is_checkpoint_file);
        if ours {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        } else {
            kept.push(path);
        }
    }
    if !kept.iter().any(|path| path.starts_with(folder)) {
        std::fs::remove_dir(folder)
            .with_context(|| format!("cannot remove {}", folder.display()))?;
    }
    Ok(())
}

/// `model-3.bpk`, or burn-pack's temporary `model-3.bpk.<pid>-<counter>.tmp`.
fn is_checkpoint_file(name: &str) -> bool {
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let Some((stem, rest)) = name.split_once(".bpk") else {
        return false;
    };
    let epoch_named = CHECKPOINT_PARTS.iter().any(|part| {
        stem.strip_prefix(part)
            .and_then(|tail| tail.strip_prefix('-'))
            .is_some_and(digits)
    });
    let temporary = || {
        rest.strip_prefix('.')
            .and_then(|tail| tail.strip_suffix(".tmp"))
            .and_then(|tail| tail.split_once('-'))
            .is_some_and(|(pid, counter)| digits(pid) && digits(counter))
    };
    epoch_named && (rest.is_empty() || temporary())
}

/// Whether a process is training in `dir` now.
pub fn is_live(dir: &RunDir) -> bool {
    let Ok(marker) = fsutil::open_regular(&dir.marker()) else {
        return false;
    };
    // A shared lock is refused only while a trainer holds the exclusive one; ours
    // is released at once when `marker` closes.
    matches!(marker.try_lock_shared(), Err(TryLockError::WouldBlock))
}

/// Takes the exclusive lock, waiting out a probe's brief shared hold.
fn lock_exclusive(marker: &File, dir: &RunDir) -> Result<bool> {
    for attempt in 1..=TRIES {
        match marker.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) if attempt < TRIES => std::thread::sleep(PAUSE),
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", dir.marker().display()));
            }
        }
    }
    Ok(false)
}

/// "process N", as the lock holder wrote it into the marker.
fn holder_description(marker: &mut File) -> String {
    let mut text = String::new();
    let pid = marker
        .read_to_string(&mut text)
        .ok()
        .and_then(|_| text.trim().parse::<u32>().ok());
    pid.map_or("another process".to_string(), |pid| {
        format!("process {pid}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_in(dir: &tempfile::TempDir) -> RunDir {
        RunDir::new(dir.path(), "run")
    }

    #[test]
    fn folders_are_ours_only_when_they_say_so() {
        let scratch = tempfile::tempdir().unwrap();
        let run = run_in(&scratch);
        assert_eq!(Ownership::of(&run), Ownership::Absent);
        std::fs::create_dir(&run.root).unwrap();
        assert_eq!(Ownership::of(&run), Ownership::Empty);
        std::fs::write(run.root.join("notes.txt"), "mine").unwrap();
        assert_eq!(Ownership::of(&run), Ownership::Foreign);
        std::fs::write(run.config(), "[experiment]\nname = \"run\"\n").unwrap();
        assert_eq!(Ownership::of(&run), Ownership::Foreign, "a config alone");
        std::fs::write(run.summary(), "").unwrap();
        assert_eq!(
            Ownership::of(&run),
            Ownership::Ours,
            "a run from before the marker"
        );
        // Another tool's config.toml beside a checkpoint folder is not ours.
        std::fs::remove_file(run.summary()).unwrap();
        std::fs::create_dir(run.checkpoints()).unwrap();
        assert_eq!(Ownership::of(&run), Ownership::Ours);
        std::fs::write(run.config(), "x = \"other\"\n").unwrap();
        assert_eq!(
            Ownership::of(&run),
            Ownership::Foreign,
            "another tool's config"
        );
        std::fs::write(run.summary(), "").unwrap();
        std::fs::remove_file(run.summary()).unwrap();
        std::fs::write(run.marker(), "").unwrap();
        assert_eq!(Ownership::of(&run), Ownership::Ours);
    }

    #[test]
    fn a_foreign_folder_is_refused_and_left_untouched() {
        let scratch = tempfile::tempdir().unwrap();
        let run = run_in(&scratch);
        std::fs::create_dir(&run.root).unwrap();
        std::fs::write(run.root.join("notes.txt"), "mine").unwrap();
        let err = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(err.contains("is not a mnist-mlp run folder"), "{err}");
        let left: Vec<_> = std::fs::read_dir(&run.root).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let scratch = tempfile::tempdir().unwrap();
        let run = run_in(&scratch);
        let first = RunLock::acquire(&run).unwrap();
        assert!(is_live(&run));
        let err = RunLock::acquire(&run).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(
            err.contains(&format!("is being trained by process {pid}")),
            "{err}"
        );
        drop(first);
        assert!(!is_live(&run));
        RunLock::acquire(&run).unwrap();
    }

    #[test]
    fn clearing_removes_the_runs_files_and_keeps_the_users() {
        let scratch = tempfile::tempdir().unwrap();
        let run = run_in(&scratch);
        let lock = RunLock::acquire(&run).unwrap();
        std::fs::create_dir_all(run.checkpoints()).unwrap();
        std::fs::write(run.checkpoint("model", 1), "x").unwrap();
        for file in run.own_files() {
            std::fs::write(file, "x").unwrap();
        }
        std::fs::write(run.root.join(".tmpA1b2C3"), "half-written").unwrap();
        let (notes, mine) = (run.root.join("notes.md"), run.root.join("mine"));
        std::fs::write(&notes, "my notes").unwrap();
        std::fs::create_dir(&mine).unwrap();
        assert_eq!(lock.clear().unwrap(), vec![mine.clone(), notes.clone()]);
        let mut left: Vec<_> = std::fs::read_dir(&run.root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        left.sort();
        assert_eq!(left, vec![run.marker(), mine, notes]);
        assert!(is_live(&run), "clearing keeps the lock");
    }

    #[test]
    fn a_resume_removes_what_killed_writes_left_and_nothing_else() {
        let scratch = tempfile::tempdir().unwrap();
        let run = run_in(&scratch);
        let lock = RunLock::acquire(&run).unwrap();
        std::fs::create_dir_all(run.checkpoints()).unwrap();
        let left = [
            run.root.join(".mnist-mlp-tmp-y72eSL"),
            run.root.join(".tmpy72eSL"),
            run.checkpoints().join("optim-2.bpk.15195-4.tmp"),
        ];
        let kept = [
            run.config(),
            run.root.join("notes.tmp"),
            run.checkpoint("model", 2),
            run.checkpoints().join(".tmpA"),
        ];
        for path in left.iter().chain(&kept) {
            std::fs::write(path, "x").unwrap();
        }
        lock.remove_temporaries().unwrap();
        assert!(left.iter().all(|path| !path.exists()));
        assert!(kept.iter().all(|path| path.exists()));
    }

    #[test]
    fn clearing_the_checkpoints_keeps_what_burn_did_not_write() {
        let scratch = tempfile::tempdir().unwrap();
        let run = run_in(&scratch);
        let lock = RunLock::acquire(&run).unwrap();
        std::fs::create_dir_all(run.checkpoints().join("best")).unwrap();
        let burns = ["model-12.bpk", "optim-3.bpk", "scheduler-3.bpk.411-0.tmp"];
        let users = ["model-12.bpk.keep", "model-best.bpk", "notes.txt", "best"];
        for name in burns.iter().chain(&users[..3]) {
            std::fs::write(run.checkpoints().join(name), "x").unwrap();
        }
        let mut expected: Vec<_> = users.map(|name| run.checkpoints().join(name)).into();
        expected.sort();
        assert_eq!(lock.clear().unwrap(), expected);
        for name in burns {
            assert!(!run.checkpoints().join(name).exists(), "{name}");
        }
        // With nothing of the user's in it, the folder itself goes.
        for path in &expected {
            let _ = std::fs::remove_file(path);
        }
        std::fs::remove_dir(run.checkpoints().join("best")).unwrap();
        std::fs::write(run.checkpoint("model", 1), "x").unwrap();
        assert_eq!(lock.clear().unwrap(), Vec::<PathBuf>::new());
        assert!(!run.checkpoints().exists());
    }
}
