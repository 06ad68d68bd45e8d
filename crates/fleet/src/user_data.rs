//! Reading user data from a file or stdin, with a cap on its size: one set of rules and messages
//! for the plan's `user_data` files and the command line's `--user-data` and `reimage validate`.

use std::io::{self, Read};
use std::path::Path;

/// The largest user data read. Real user data is kilobytes (ECS takes 32 KB); anything this
/// large is a mistake, and reading it whole would only waste memory.
pub const MAX_USER_DATA_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// Reads a user data file whole, refusing a directory and anything over
/// [`MAX_USER_DATA_FILE_SIZE`]. The error is one line, the problem and its fix, without the path
/// (the caller names the file as its reader knows it).
pub fn read_user_data_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "no such file; check the path".to_owned(),
        io::ErrorKind::PermissionDenied => {
            "permission denied; check the file's permissions".to_owned()
        }
        _ => format!("cannot read: {e}"),
    })?;
    if meta.is_dir() {
        return Err("is a directory; give the user data file inside it".to_owned());
    }
    if meta.len() > MAX_USER_DATA_FILE_SIZE {
        return Err(format!(
            "is {} bytes, more than the {} MiB that any user data can be; is this the right file?",
            meta.len(),
            MAX_USER_DATA_FILE_SIZE / (1024 * 1024)
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_USER_DATA_FILE_SIZE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    check_size(bytes)
}

/// Reads user data from stdin (or any reader), by the rules of [`read_user_data_file`].
pub fn read_user_data_stdin(reader: impl Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_USER_DATA_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    check_size(bytes)
}

/// Reads the user data a flag names: `-` means stdin (asked for only then), anything else is a
/// file.
pub fn read_user_data_source<R: Read>(
    value: &Path,
    stdin: impl FnOnce() -> R,
) -> Result<Vec<u8>, String> {
    if value == Path::new("-") {
        read_user_data_stdin(stdin())
    } else {
        read_user_data_file(value)
    }
}

/// Refuses what grew past the cap while it was read.
fn check_size(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if bytes.len() as u64 > MAX_USER_DATA_FILE_SIZE {
        Err(format!(
            "is more than the {} MiB that any user data can be",
            MAX_USER_DATA_FILE_SIZE / (1024 * 1024)
        ))
    } else {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_stdin_and_the_cap() {
        let dir = std::env::temp_dir().join(format!("reimage-fleet-ud-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("u.yaml");
        std::fs::write(&file, "#cloud-config\n").unwrap();
        let stdin = || -> &[u8] { b"#cloud-config\nfrom: stdin\n" };
        assert_eq!(
            read_user_data_source(&file, stdin).unwrap(),
            b"#cloud-config\n"
        );
        assert_eq!(
            read_user_data_source(Path::new("-"), stdin).unwrap(),
            b"#cloud-config\nfrom: stdin\n"
        );
        assert_eq!(
            read_user_data_file(&dir.join("missing.yaml")).unwrap_err(),
            "no such file; check the path"
        );
        assert_eq!(
            read_user_data_file(&dir).unwrap_err(),
            "is a directory; give the user data file inside it"
        );
        let big = std::io::repeat(b'x').take(MAX_USER_DATA_FILE_SIZE + 1);
        assert_eq!(
            read_user_data_stdin(big).unwrap_err(),
            "is more than the 16 MiB that any user data can be"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
