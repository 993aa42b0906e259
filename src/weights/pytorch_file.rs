//! A PyTorch file's container, checked before burn runs its pickle: burn's pickle
//! machine keeps every object a pickle makes, and its tar reader reads each entry
//! whole, so a file of a few KB could otherwise ask for gigabytes.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use burn::store::PytorchStore;

use super::pickle_scan::pickles_exceed;
use crate::fsutil;
use crate::limits::MAX_PICKLE_BYTES;

/// A store over the PyTorch file `path`, once its pickle is known to be small enough
/// to run ([`MAX_PICKLE_BYTES`]) and no entry of a tar archive is larger than the file.
/// A file that is neither zip nor tar (PyTorch ≤ 1.5's legacy format, or a bare
/// pickle) has its leading pickles measured by stepping over their opcodes.
/// PyTorch's own names are kept (`0`, `2`, `4` of a Sequential); the layers are
/// ordered by [`super::state_dict`].
pub fn open_store(path: &Path) -> Result<PytorchStore> {
    let unreadable = |err: std::io::Error| anyhow!("cannot read {}: {err}", path.display());
    let mut file = fsutil::open_regular(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    let mut head = Vec::with_capacity(262);
    (&mut file)
        .take(262)
        .read_to_end(&mut head)
        .map_err(unreadable)?;
    file.rewind().map_err(unreadable)?;
    if head.starts_with(b"PK\x03\x04") {
        check_zip(file, path)?;
    } else if head.get(257..262) == Some(b"ustar".as_slice()) {
        check_tar(file, len, path)?;
    } else if pickles_exceed(&mut file, LEGACY_PICKLES, MAX_PICKLE_BYTES).map_err(unreadable)? {
        return Err(pickle_too_large(path, "is larger than"));
    }
    Ok(PytorchStore::from_file(path).map_indices_contiguous(false))
}

/// The pickles that open PyTorch's legacy format (PyTorch ≤ 1.5): a magic number, the
/// format's version, the system's sizes, the state_dict, its storages' keys. The
/// storages' bytes follow them; a bare pickle is just one.
const LEGACY_PICKLES: usize = 5;

/// The error for a pickle whose size `is` (`is 2000000 bytes, above`) too large.
fn pickle_too_large(path: &Path, is: &str) -> anyhow::Error {
    anyhow!(
        "{}: its pickle {is} the {MAX_PICKLE_BYTES}-byte limit (an MLP's state_dict pickles to a few KB): it is not the state_dict of an MLP; save one with `torch.save(model.state_dict(), path)`",
        path.display()
    )
}

/// A zip archive (`torch.save` since 1.6): its `data.pkl`'s size as the archive declares it,
/// read from the central directory without inflating anything.
fn check_zip(file: File, path: &Path) -> Result<()> {
    let corrupt = |err: zip::result::ZipError| {
        anyhow!(
            "{} is not a readable PyTorch zip file ({err}): save it again with `torch.save`",
            path.display()
        )
    };
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(corrupt)?;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(corrupt)?;
        if entry.name().map_err(corrupt)?.ends_with(".pkl") && entry.size() > MAX_PICKLE_BYTES {
            return Err(pickle_too_large(
                path,
                &format!("is {} bytes, above", entry.size()),
            ));
        }
    }
    Ok(())
}

/// A tar archive (PyTorch's oldest format): no entry may hold more than the file
/// does (a sparse entry unpacks to as much as it likes), nor its pickle be too large.
fn check_tar(file: File, len: u64, path: &Path) -> Result<()> {
    let corrupt = |err: std::io::Error| {
        anyhow!(
            "{} is not a readable PyTorch tar file ({err})",
            path.display()
        )
    };
    let mut archive = tar::Archive::new(BufReader::new(file));
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let size = entry.size();
        if entry.header().entry_type().is_gnu_sparse() || size > len {
            bail!(
                "{}: an entry of its tar archive unpacks to {size} bytes, more than the file's {len}: it is not a PyTorch file",
                path.display()
            );
        }
        let name = entry.path().map_err(corrupt)?;
        if name.file_name().is_some_and(|name| name == "pickle") && size > MAX_PICKLE_BYTES {
            return Err(pickle_too_large(path, &format!("is {size} bytes, above")));
        }
    }
    Ok(())
}
