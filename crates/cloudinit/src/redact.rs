//! User data with its passwords hidden, for a person to read (a dry run): every value that the
//! `plaintext-password` lint looks at, hashed or not, is replaced by `[REDACTED]`: `password`,
//! `chpasswd`'s `list` entries and `users` passwords, and the users' `passwd`, `hashed_passwd`
//! and `plain_text_passwd`; and every line of the host private keys in `ssh_keys`
//! (`ed25519_private`, …).
//!
//! ```
//! let shown = reimage_cloudinit::redact::passwords(
//!     b"#cloud-config\nchpasswd:\n  list: |\n    root:hunter2\npassword: s3cret-pw\n",
//! );
//! let shown = shown.expect("a cloud-config");
//! assert!(!shown.contains("hunter2") && !shown.contains("s3cret-pw"), "{shown}");
//! assert!(shown.contains("root:[REDACTED]"), "{shown}");
//! // Anything else is not shown at all: a script may hold secrets anywhere.
//! assert_eq!(reimage_cloudinit::redact::passwords(b"#!/bin/sh\necho hi\n"), None);
//! ```

use crate::kind::{self, Kind};
use crate::lint::{items, text};
use crate::yaml::{self, Node, Value};

/// What replaces each password.
pub const REDACTED: &str = "[REDACTED]";

/// The user data as text with every password value replaced by [`REDACTED`], if it is a
/// `#cloud-config` (plain or gzipped) that parses; `None` for any other kind, since a script or
/// an archive may hold secrets that nothing here can find.
pub fn passwords(bytes: &[u8]) -> Option<String> {
    let detection = kind::detect(bytes);
    if detection.kind != Kind::CloudConfig {
        return None;
    }
    let text = std::str::from_utf8(&detection.payload).ok()?;
    let document = yaml::parse(text).ok()?;
    let mut secrets = Vec::new();
    if let Some(root) = &document.root {
        collect(root, &mut secrets);
    }
    // Longest first, so that a password that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let mut shown = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        shown = shown.replace(secret.as_str(), REDACTED);
    }
    Some(shown)
}

/// The password values of a cloud-config. Every entry of a key counts, duplicates included:
/// cloud-init reads the last, but the others are in the file too.
fn collect(root: &Node, out: &mut Vec<String>) {
    let mut found: Vec<String> = Vec::new();
    let mut push = |node: &Node| {
        if let Some(p) = text(node) {
            out.push(p.to_owned());
        }
    };
    for p in all(root, "password") {
        push(p);
    }
    for chpasswd in all(root, "chpasswd") {
        for list in all(chpasswd, "list") {
            let lines: Vec<&str> = match &list.value {
                Value::Str(s) => s.lines().collect(),
                Value::Seq(entries) => entries.iter().filter_map(text).collect(),
                _ => Vec::new(),
            };
            for line in lines {
                if let Some((_, pass)) = line.split_once(':') {
                    found.push(pass.trim().to_owned());
                }
            }
        }
        for users in all(chpasswd, "users") {
            for user in items(users) {
                all(user, "password").for_each(&mut push);
            }
        }
    }
    for users in all(root, "users") {
        for user in items(users) {
            for key in ["passwd", "hashed_passwd", "plain_text_passwd"] {
                all(user, key).for_each(&mut push);
            }
        }
    }
    // Host private keys (`ssh_keys`' `*_private`, as `--host-keys inject` writes them): each
    // line, since a block's lines stand indented in the text.
    for keys in all(root, "ssh_keys") {
        if let Value::Map(entries) = &keys.value {
            for (name, value) in entries {
                if text(name).is_some_and(|n| n.ends_with("_private"))
                    && let Some(private) = text(value)
                {
                    found.extend(
                        private
                            .lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned),
                    );
                }
            }
        }
    }
    out.append(&mut found);
}

/// Every value of `key` in a map, duplicates included.
fn all<'a>(node: &'a Node, key: &'a str) -> impl Iterator<Item = &'a Node> {
    let entries: &[(Node, Node)] = match &node.value {
        Value::Map(entries) => entries,
        _ => &[],
    };
    entries
        .iter()
        .filter(move |(k, _)| text(k) == Some(key))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_password_key_is_redacted_and_the_rest_is_kept() {
        let text = "#cloud-config\n\
            password: top-pw-1\n\
            chpasswd:\n  list:\n    - alice:list-pw-2\n  users:\n    - {name: bob, password: users-pw-3}\n\
            users:\n  - name: carol\n    passwd: $6$hash-pw-4\n    plain_text_passwd: plain-pw-5\n    hashed_passwd: hashed-pw-6\n\
            packages: [nginx]\n";
        let shown = passwords(text.as_bytes()).unwrap();
        for secret in [
            "top-pw-1",
            "list-pw-2",
            "users-pw-3",
            "hash-pw-4",
            "plain-pw-5",
            "hashed-pw-6",
        ] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        assert!(shown.contains("packages: [nginx]"), "{shown}");
        assert!(shown.contains("alice:[REDACTED]"), "{shown}");
        assert_eq!(shown.matches(REDACTED).count(), 6, "{shown}");
    }

    #[test]
    fn host_private_keys_are_redacted_line_by_line() {
        let text = "#cloud-config\nssh_keys:\n  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUsecretline1\n    secretline2AAAA==\n    -----END OPENSSH PRIVATE KEY-----\n  ed25519_public: ssh-ed25519 AAAAC3Nza pub\n";
        let shown = passwords(text.as_bytes()).unwrap();
        assert!(
            !shown.contains("secretline1") && !shown.contains("secretline2"),
            "{shown}"
        );
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(
            shown.contains("ed25519_public: ssh-ed25519 AAAAC3Nza pub"),
            "{shown}"
        );
        assert!(shown.contains("    [REDACTED]\n"), "{shown}");
    }

    #[test]
    fn other_kinds_are_not_shown() {
        assert_eq!(passwords(b"#!/bin/bash\necho pw\n"), None);
        assert_eq!(passwords(b"#cloud-config\n: : bad yaml [\n"), None);
    }
}
