//! Which folders under an artifacts root are runs, found from the files alone so
//! that a run another process is training shows up as soon as it writes its config.
//! `serve` lists every run (a sweep's trials too) and the loose files beside them;
//! `compare` takes the finished runs at the top.

use std::path::{Path, PathBuf};

use super::RunDir;

/// Folders deeper than this are not searched (`sweeps/<name>/trials/<trial>` is 4).
const MAX_DEPTH: usize = 6;

/// Whether `dir` is a run folder: it holds the run's config (written before its
/// first epoch) or its summary (a finished run).
pub fn is_run(dir: &RunDir) -> bool {
    dir.config().is_file() || dir.is_finished()
}

/// The run folder a path given on the command line names: the folder itself, or
/// one of its files (a run's `summary.json`, as a shell's glob finds it).
pub fn run_named_by(path: &Path) -> RunDir {
    match path.parent() {
        Some(parent) if path.is_file() && RunDir::at(parent).summary() == path => {
            RunDir::at(parent)
        }
        _ => RunDir::at(path),
    }
}

/// One run folder under the root.
#[derive(Debug, Clone)]
pub struct FoundRun {
    /// Its path relative to the root, `/`-separated: the run's id in `serve`'s URLs.
    pub name: String,
    pub dir: RunDir,
}

impl FoundRun {
    /// Directly under the root, as a run trained on its own is (a sweep's trials are deeper).
    pub fn is_top_level(&self) -> bool {
        !self.name.contains('/')
    }
}

/// Everything found under a root.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Every run folder, finished or not, sorted by name.
    pub runs: Vec<FoundRun>,
    /// Plain files outside run folders (a sweep's tables, weights from elsewhere),
    /// relative to the root and `/`-separated, sorted.
    pub files: Vec<String>,
}

/// Walks `root` without following symlinks, skipping hidden entries, and does not
/// descend into run folders: their checkpoints are theirs, not runs or files to
/// pick. An error only when `root` itself cannot be read (it does not exist yet);
/// a folder deeper down that cannot be read is left out.
pub fn discover(root: &Path) -> std::io::Result<Inventory> {
    // Read once up front only for its error: the walk below skips what it cannot read.
    std::fs::read_dir(root)?;
    let mut found = Inventory::default();
    let mut pending = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((folder, prefix, depth)) = pending.pop() {
        let dir = RunDir::at(&folder);
        if !prefix.is_empty() && is_run(&dir) {
            found.runs.push(FoundRun { name: prefix, dir });
            continue;
        }
        for (name, path, is_dir) in visible_entries(&folder) {
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if !is_dir {
                found.files.push(relative);
            } else if depth < MAX_DEPTH {
                pending.push((path, relative, depth + 1));
            }
        }
    }
    found.runs.sort_by(|a, b| a.name.cmp(&b.name));
    found.files.sort();
    Ok(found)
}

/// The folders and plain files in `folder` (name, path, whether a folder), without
/// hidden entries, symlinks, or names that are not UTF-8 (they cannot be URLs).
fn visible_entries(folder: &Path) -> impl Iterator<Item = (String, PathBuf, bool)> {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let kind = entry.file_type().ok()?;
            let plain = !name.starts_with('.') && (kind.is_dir() || kind.is_file());
            plain.then(|| (name, entry.path(), kind.is_dir()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_runs_at_any_depth_and_files_outside_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for run in ["relu", "sweeps/l2/trials/trial-000"] {
            std::fs::create_dir_all(root.join(run).join("checkpoint")).unwrap();
            std::fs::write(root.join(run).join("config.toml"), "").unwrap();
            std::fs::write(root.join(run).join("model.safetensors"), "").unwrap();
        }
        std::fs::create_dir_all(root.join("finished")).unwrap();
        std::fs::write(root.join("finished/summary.json"), "").unwrap();
        std::fs::create_dir_all(root.join("imports/.hidden")).unwrap();
        std::fs::write(root.join("imports/net.pt"), "").unwrap();
        std::fs::write(root.join("imports/.hidden/config.toml"), "").unwrap();
        std::fs::write(root.join("sweeps/l2/leaderboard.csv"), "").unwrap();
        let found = discover(root).unwrap();
        let names: Vec<&str> = found.runs.iter().map(|run| run.name.as_str()).collect();
        assert_eq!(names, ["finished", "relu", "sweeps/l2/trials/trial-000"]);
        let top: Vec<bool> = found.runs.iter().map(FoundRun::is_top_level).collect();
        assert_eq!(top, [true, true, false]);
        assert_eq!(found.files, ["imports/net.pt", "sweeps/l2/leaderboard.csv"]);
        assert!(discover(&root.join("absent")).is_err());
    }

    #[test]
    fn a_summary_names_its_run_folder() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("relu");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("summary.json"), "").unwrap();
        std::fs::write(run.join("notes.json"), "").unwrap();
        assert_eq!(run_named_by(&run.join("summary.json")).root, run);
        assert_eq!(run_named_by(&run).root, run);
        assert_eq!(
            run_named_by(&run.join("notes.json")).root,
            run.join("notes.json")
        );
    }
}
