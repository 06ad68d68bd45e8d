//! The atomic write of a known_hosts file: permissions kept, a symbolic link followed (the link
//! stays), no temporary file left behind, a missing file and directory created.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reimage_hostkeys::PublicKey;
use reimage_hostkeys::file::update_file;
use reimage_hostkeys::known_hosts::{Host, Naming};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40";

#[cfg(unix)]
#[test]
fn permissions_links_and_temporary_files() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = std::env::temp_dir().join(format!("reimage-hostkeys-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = PublicKey::from_openssh(KEY).unwrap();
    let host = [Host::new("203.0.113.9", 22)];

    // An existing file keeps its mode; the update is whole.
    let real = dir.join("real_known_hosts");
    std::fs::write(&real, "other ssh-ed25519 AAAA\n").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.join("known_hosts");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let done = update_file(&link, &host, std::slice::from_ref(&key), Naming::Plain).unwrap();
    assert_eq!(done.added, 1);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays"
    );
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(
        text.starts_with("other ssh-ed25519 AAAA\n203.0.113.9 ssh-ed25519 AAAAC3"),
        "{text}"
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);

    // A missing file, in a missing directory: created, mode 0600.
    let fresh = dir.join("new").join("known_hosts");
    update_file(&fresh, &host, std::slice::from_ref(&key), Naming::Plain).unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Nothing else is left in either directory.
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&dir), vec!["known_hosts", "new", "real_known_hosts"]);
    assert_eq!(names(&dir.join("new")), vec!["known_hosts"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
