//! Secrets read from files or stdin: [`read_secret_file`], [`read_secret_stdin`] and
//! [`read_secret_source`], by one set of rules (a size limit, UTF-8, one trailing newline
//! removed, not empty). Errors name the file, never its content.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use secrecy::SecretString;

use crate::ConfigError;

/// The largest secret file (or secret on stdin) read: 64 KiB.
pub const MAX_SECRET_SIZE: u64 = 64 * 1024;

/// Reads a secret from a file: at most [`MAX_SECRET_SIZE`] bytes of UTF-8, with one trailing
/// `\n` or `\r\n` removed (what `echo` and editors add) and nothing else trimmed. An empty secret
/// is refused. Errors name the path, never the content.
pub fn read_secret_file(path: &Path) -> Result<SecretString, ConfigError> {
    read_secret_file_shown(path, &path.display().to_string())
}

/// Reads a secret from stdin (or any reader), by the rules of [`read_secret_file`].
pub fn read_secret_stdin(reader: impl Read) -> Result<SecretString, ConfigError> {
    read_secret_from(reader, "- (stdin)")
}

/// Reads a secret named by a `*_file` flag: `-` means stdin (asked for only then), anything else
/// is a file.
pub fn read_secret_source<R: Read>(
    value: &Path,
    stdin: impl FnOnce() -> R,
) -> Result<SecretString, ConfigError> {
    if value == Path::new("-") {
        read_secret_stdin(stdin())
    } else {
        read_secret_file(value)
    }
}

pub(crate) fn read_secret_file_shown(
    path: &Path,
    shown: &str,
) -> Result<SecretString, ConfigError> {
    let meta = fs::metadata(path).map_err(|e| secret_io_error(shown, &e))?;
    if meta.is_dir() {
        return Err(secret_error(
            shown,
            "is a directory",
            "give the file that holds the secret",
        ));
    }
    if meta.len() > MAX_SECRET_SIZE {
        return Err(secret_too_big(shown));
    }
    let file = fs::File::open(path).map_err(|e| secret_io_error(shown, &e))?;
    read_secret_from(file, shown)
}

fn read_secret_from(reader: impl Read, shown: &str) -> Result<SecretString, ConfigError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_SECRET_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| secret_io_error(shown, &e))?;
    if bytes.len() as u64 > MAX_SECRET_SIZE {
        return Err(secret_too_big(shown));
    }
    let Ok(mut text) = String::from_utf8(bytes) else {
        return Err(secret_error(
            shown,
            "is not UTF-8 text",
            "store the secret as UTF-8 text",
        ));
    };
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
    }
    if text.is_empty() {
        return Err(secret_error(
            shown,
            "is empty",
            "put the secret in it (one trailing newline is removed)",
        ));
    }
    Ok(SecretString::from(text))
}

fn secret_error(shown: &str, problem: &str, fix: &str) -> ConfigError {
    ConfigError::SecretFile {
        path: shown.to_owned(),
        problem: problem.to_owned(),
        fix: fix.to_owned(),
    }
}

fn secret_too_big(shown: &str) -> ConfigError {
    secret_error(
        shown,
        &format!("is larger than {MAX_SECRET_SIZE} bytes"),
        "give a file that holds only the secret",
    )
}

fn secret_io_error(shown: &str, error: &io::Error) -> ConfigError {
    let (problem, fix) = match error.kind() {
        io::ErrorKind::NotFound => ("does not exist".to_owned(), "check the path"),
        io::ErrorKind::PermissionDenied => (
            "cannot be read (permission denied)".to_owned(),
            "make it readable by this user",
        ),
        _ => (
            format!("cannot be read: {error}"),
            "check the file and try again",
        ),
    };
    secret_error(shown, &problem, fix)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::test_support::TempHome;

    #[test]
    fn secret_files() {
        let home = TempHome::new();
        let file = home.path().join("secret");
        for (bytes, want) in [
            (&b"hunter2\n"[..], "hunter2"),
            (b"hunter2\r\n", "hunter2"),
            (b"hunter2", "hunter2"),
            (b"hunter2\n\n", "hunter2\n"),
            (b" hunter2 \t\n", " hunter2 \t"),
        ] {
            home.write(&file, bytes);
            assert_eq!(read_secret_file(&file).unwrap().expose_secret(), want);
            assert_eq!(read_secret_stdin(bytes).unwrap().expose_secret(), want);
        }

        let shown = file.display().to_string();
        home.write(&file, &vec![b'a'; 64 * 1024]);
        assert!(read_secret_file(&file).is_ok());
        home.write(&file, &vec![b'a'; 64 * 1024 + 1]);
        assert_eq!(
            read_secret_file(&file).unwrap_err().to_string(),
            format!(
                "secret file {shown}: is larger than 65536 bytes; give a file that holds only the \
                 secret"
            )
        );
        let big = vec![b'a'; 64 * 1024 + 1];
        assert!(read_secret_stdin(&big[..]).is_err());

        home.write(&file, b"caf\xe9\n");
        assert_eq!(
            read_secret_file(&file).unwrap_err().to_string(),
            format!("secret file {shown}: is not UTF-8 text; store the secret as UTF-8 text")
        );

        home.write(&file, b"\n");
        let error = read_secret_file(&file).unwrap_err().to_string();
        assert!(
            error.ends_with(": is empty; put the secret in it (one trailing newline is removed)")
        );

        let dir = home.path().to_path_buf();
        assert_eq!(
            read_secret_file(&dir).unwrap_err().to_string(),
            format!(
                "secret file {}: is a directory; give the file that holds the secret",
                dir.display()
            )
        );
        let missing = home.path().join("missing");
        let error = read_secret_file(&missing).unwrap_err().to_string();
        assert!(
            error.ends_with(": does not exist; check the path"),
            "{error}"
        );

        // `-` reads stdin; anything else does not touch it.
        let secret = read_secret_source(Path::new("-"), || &b"from-stdin\n"[..]).unwrap();
        assert_eq!(secret.expose_secret(), "from-stdin");
        home.write(&file, b"from-file\n");
        let secret = read_secret_source(&file, || -> &[u8] { panic!("stdin read") }).unwrap();
        assert_eq!(secret.expose_secret(), "from-file");
    }
}
