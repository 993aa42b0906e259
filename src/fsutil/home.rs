//! `~` in a path the user wrote, which no shell expanded.

use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_tilde_names_the_home_folder_and_nothing_else_changes() {
        let home = std::env::home_dir().unwrap();
        assert_eq!(expand_home(Path::new("~/mnist")), home.join("mnist"));
        assert_eq!(expand_home(Path::new("~")), home);
        for kept in ["~user/mnist", "data/~", "./~/x", "/abs/path", "rel"] {
            assert_eq!(expand_home(Path::new(kept)), Path::new(kept));
        }
    }
}
