//! Files the program reads and writes, kept safe under careless and hostile use:
//! written atomically, opened only when they are what they claim to be, read only
//! up to what such a file can hold, and their text made safe to print.

mod folder;
mod home;
mod open;
mod printable;
mod read;
mod write;

pub use folder::{create_folder, remove_files_named};
pub use home::expand_home;
pub use open::{open_lock, open_log, open_own_record, open_regular, try_lock};
pub use printable::{printable, printable_name};
pub use read::{
    read_named_text, read_own_text, read_record, read_text, read_text_within, read_within,
    why_unreadable,
};
pub use write::{check_output, is_temporary, write_atomic, write_new};

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
}
