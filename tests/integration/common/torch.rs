//! `torch.save` files written by hand, as torch writes them (a stored zip holding a
//! protocol-2 pickle of `_rebuild_tensor_v2` calls over f32 storages), so tests can make
//! ordinary and hostile `.pt` files (any shape, any stride) without torch.

/// One tensor of the state_dict: a view of `storage` with its own shape and stride.
pub struct View<'a> {
    pub name: &'a str,
    pub storage: &'a str,
    pub shape: &'a [usize],
    pub stride: &'a [usize],
}

/// `torch.save(state_dict, path)`'s bytes for `views` over `storages` (key, values).
/// Without `checksums` the zip's CRCs are 0, as torch writes them under
/// `compute_crc32=False`, so that a fuzzer's changes reach the pickle.
pub fn torch_save(views: &[View], storages: &[(&str, Vec<f32>)], checksums: bool) -> Vec<u8> {
    let mut entries = vec![("archive/data.pkl".to_string(), pickle(views, storages))];
    entries.push(("archive/byteorder".into(), b"little".to_vec()));
    for (key, values) in storages {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        entries.push((format!("archive/data/{key}"), bytes));
    }
    entries.push(("archive/version".into(), b"3\n".to_vec()));
    stored_zip(&entries, checksums)
}

/// The state_dict as a protocol-2 pickle: `{name: _rebuild_tensor_v2(storage, 0, shape,
/// stride, False, {}), …}`, each storage a persistent id as torch writes it.
fn pickle(views: &[View], storages: &[(&str, Vec<f32>)]) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, value: &str) {
        out.push(b'X');
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    fn int(out: &mut Vec<u8>, value: usize) {
        out.push(b'J');
        out.extend_from_slice(&(value as i32).to_le_bytes());
    }
    fn tuple(out: &mut Vec<u8>, values: &[usize]) {
        out.push(b'(');
        values.iter().for_each(|&v| int(out, v));
        out.push(b't');
    }
    let mut out = vec![0x80, 2, b'}', b'('];
    for view in views {
        let numel = storages
            .iter()
            .find(|(key, _)| *key == view.storage)
            .map_or(0, |(_, values)| values.len());
        text(&mut out, view.name);
        out.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        out.push(b'(');
        text(&mut out, "storage");
        out.extend_from_slice(b"ctorch\nFloatStorage\n");
        text(&mut out, view.storage);
        text(&mut out, "cpu");
        int(&mut out, numel);
        out.extend_from_slice(b"tQ");
        int(&mut out, 0);
        tuple(&mut out, view.shape);
        tuple(&mut out, view.stride);
        out.extend_from_slice(&[0x89, b'}', b't', b'R']);
    }
    out.extend_from_slice(b"u.");
    out
}

/// A zip of uncompressed entries, as `torch.save` writes its archive.
fn stored_zip(entries: &[(String, Vec<u8>)], checksums: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in entries {
        let crc = if checksums {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            crc.sum()
        } else {
            0
        };
        let offset = out.len() as u32;
        // Shared by the local header and the central directory's record.
        let mut common = Vec::new();
        for half in [20u16, 0, 0, 0, 0] {
            common.extend_from_slice(&half.to_le_bytes()); // version, flags, method, time, date
        }
        for word in [crc, data.len() as u32, data.len() as u32] {
            common.extend_from_slice(&word.to_le_bytes());
        }
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra field
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes()); // made by
        directory.extend_from_slice(&common);
        directory.extend_from_slice(&[0; 10]); // comment, disk, internal and external attributes
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let (start, size) = (out.len() as u32, directory.len() as u32);
    out.extend_from_slice(&directory);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // this disk, the directory's disk
    for _ in 0..2 {
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment
    out
}
