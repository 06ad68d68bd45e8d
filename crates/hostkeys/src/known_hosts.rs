//! A `known_hosts` file's bytes, edited: the entries of one host removed, its verified keys
//! added, every other line kept byte for byte.
//!
//! An entry names its hosts in one of the forms OpenSSH writes (`sshd(8)`, "SSH_KNOWN_HOSTS FILE
//! FORMAT"): a plain list (`web-1,203.0.113.11`), `[host]:port` for a port other than 22, or a
//! hashed name `|1|SALT|HASH`, where `HASH` is the HMAC-SHA1 of the name (in the same plain or
//! `[host]:port` form) keyed with `SALT`, both base64. Wildcard patterns, negations and the
//! `@cert-authority` and `@revoked` lines are never touched: they are the user's policy, not an
//! entry of this host.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use ssh_key::PublicKey;
use ssh_key::rand_core::CryptoRngCore;

/// A host as `known_hosts` names it: a name or address, and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    name: String,
    port: u16,
}

impl Host {
    /// `name` (a host name or an address, IPv6 without brackets) on `port`.
    pub fn new(name: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
        }
    }

    /// The name as `known_hosts` writes it: `name` on port 22, else `[name]:port`.
    pub fn pattern(&self) -> String {
        if self.port == 22 {
            self.name.clone()
        } else {
            format!("[{}]:{}", self.name, self.port)
        }
    }
}

/// How new entries name their host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Naming {
    /// In clear (`[127.0.0.1]:2222`).
    Plain,
    /// Hashed (`|1|salt|hash`), as `HashKnownHosts yes` writes them.
    Hashed,
    /// Hashed if the file holds a hashed entry already, else in clear: the user's own habit.
    Auto,
}

/// What [`update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Updated {
    /// The new file's bytes.
    pub bytes: Vec<u8>,
    /// How many entries of the host were removed (a name taken out of a longer list counts).
    pub removed: usize,
    /// How many lines were added.
    pub added: usize,
    /// Whether the new entries were hashed.
    pub hashed: bool,
}

/// Removes every entry of `hosts` from `existing`, then adds one line per key of `keys` naming
/// all of `hosts`, with `rng` for the salts of hashed names. Lines of other hosts, comments,
/// blank lines, markers and patterns stay byte for byte, line endings included.
///
/// Only keys that were verified belong in `keys`: this function adds what it is given.
///
/// ```
/// use reimage_hostkeys::known_hosts::{Host, Naming, update};
/// use reimage_hostkeys::{PublicKey, rand_core::OsRng};
///
/// let key = PublicKey::from_openssh(
///     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40",
/// )?;
/// let old = b"other ssh-rsa AAAA\n[127.0.0.1]:2222 ssh-ed25519 AAAAold\n";
/// let new = update(old, &[Host::new("127.0.0.1", 2222)], &[key], Naming::Plain, &mut OsRng);
/// assert_eq!(new.removed, 1);
/// assert!(new.bytes.starts_with(b"other ssh-rsa AAAA\n[127.0.0.1]:2222 ssh-ed25519 AAAAC3"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn update(
    existing: &[u8],
    hosts: &[Host],
    keys: &[PublicKey],
    naming: Naming,
    rng: &mut impl CryptoRngCore,
) -> Updated {
    let patterns: Vec<String> = hosts.iter().map(Host::pattern).collect();
    let mut bytes = Vec::with_capacity(existing.len() + 256);
    let mut removed = 0;
    let mut any_hashed = false;
    for line in split_lines(existing) {
        let (content, ending) = strip_ending(line);
        let Some(entry) = Entry::parse(content) else {
            bytes.extend_from_slice(line);
            continue;
        };
        any_hashed |= entry.names.starts_with("|1|");
        let names: Vec<&str> = entry.names.split(',').collect();
        let kept: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| !patterns.iter().any(|p| names_host(name, p)))
            .collect();
        if kept.len() == names.len() {
            bytes.extend_from_slice(line);
            continue;
        }
        removed += names.len() - kept.len();
        if !kept.is_empty() {
            // The other names of the line keep its key: only ours go.
            bytes.extend_from_slice(kept.join(",").as_bytes());
            bytes.extend_from_slice(entry.rest.as_bytes());
            bytes.extend_from_slice(ending);
        }
    }
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let hashed = match naming {
        Naming::Plain => false,
        Naming::Hashed => true,
        Naming::Auto => any_hashed,
    };
    let mut added = 0;
    for key in keys {
        let Ok(text) = key.to_openssh() else { continue };
        // The key without its comment: a host key's comment names the server's user, not us.
        let mut words = text.split_whitespace();
        let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
            continue;
        };
        if hashed {
            for pattern in &patterns {
                let mut salt = [0u8; 20];
                rng.fill_bytes(&mut salt);
                bytes.extend_from_slice(
                    format!("{} {kind} {blob}\n", hash_name(&salt, pattern)).as_bytes(),
                );
                added += 1;
            }
        } else {
            bytes.extend_from_slice(format!("{} {kind} {blob}\n", patterns.join(",")).as_bytes());
            added += 1;
        }
    }
    Updated {
        bytes,
        removed,
        added,
        hashed,
    }
}

/// The keys that `existing` holds for `host` (plain or hashed names; markers and wildcard
/// patterns left out), as OpenSSH would look them up.
pub fn keys_of(existing: &[u8], host: &Host) -> Vec<PublicKey> {
    let pattern = host.pattern();
    split_lines(existing)
        .filter_map(|line| Entry::parse(strip_ending(line).0))
        .filter(|entry| entry.names.split(',').any(|n| names_host(n, &pattern)))
        .filter_map(|entry| PublicKey::from_openssh(entry.rest.trim()).ok())
        .collect()
}

/// `|1|SALT|HASH` for `pattern` (a name in its `known_hosts` form) and `salt`.
pub fn hash_name(salt: &[u8], pattern: &str) -> String {
    format!(
        "|1|{}|{}",
        STANDARD.encode(salt),
        STANDARD.encode(hmac(salt, pattern))
    )
}

fn hmac(salt: &[u8], pattern: &str) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
        return Vec::new();
    };
    mac.update(pattern.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Whether one name of an entry (plain or hashed) is exactly `pattern`.
fn names_host(name: &str, pattern: &str) -> bool {
    if let Some(hashed) = name.strip_prefix("|1|") {
        let Some((salt, hash)) = hashed.split_once('|') else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
            return false;
        };
        return hmac(&salt, pattern) == hash;
    }
    // Host names are case-insensitive; OpenSSH compares them in lower case.
    name.eq_ignore_ascii_case(pattern)
}

/// An entry: its names, and the rest of the line after them (from the blank that ends them).
struct Entry<'a> {
    names: &'a str,
    rest: &'a str,
}

impl<'a> Entry<'a> {
    fn parse(content: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(content).ok()?;
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('@') {
            return None;
        }
        let end = trimmed.find([' ', '\t'])?;
        let names = &trimmed[..end];
        // Patterns are the user's policy, never an entry of one host.
        if names.contains(['*', '?', '!']) {
            return None;
        }
        if text.len() != trimmed.len() {
            // Leading blanks: keep such a line as it is rather than rewrite it.
            return None;
        }
        Some(Self {
            names,
            rest: &trimmed[end..],
        })
    }
}

fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|b| *b == b'\n')
}

fn strip_ending(line: &[u8]) -> (&[u8], &[u8]) {
    let content = line.strip_suffix(b"\n").unwrap_or(line);
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    (content, &line[content.len()..])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use ssh_key::rand_core::OsRng;

    const NEW: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40";
    const OLD: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtx2a8mmKz8XZV2cn7lmyUb5q2vAfdRo0GrQnaVD3yA";

    #[test]
    fn plain_and_bracketed_entries_go_others_stay_byte_for_byte() {
        let existing = format!(
            "# my hosts\r\n\
             other.example {OLD}\r\n\
             web-1,203.0.113.11 {OLD} comment\n\
             203.0.113.11 {OLD}\n\
             [203.0.113.11]:2222 {OLD}\n\
             *.example.com {OLD}\n\
             @revoked 203.0.113.11 {OLD}\n\
             \n\
             last-without-newline {OLD}"
        );
        let key = PublicKey::from_openssh(NEW).unwrap();
        let got = update(
            existing.as_bytes(),
            &[Host::new("203.0.113.11", 22)],
            &[key],
            Naming::Plain,
            &mut OsRng,
        );
        let text = String::from_utf8(got.bytes).unwrap();
        assert_eq!(
            text,
            format!(
                "# my hosts\r\n\
                 other.example {OLD}\r\n\
                 web-1 {OLD} comment\n\
                 [203.0.113.11]:2222 {OLD}\n\
                 *.example.com {OLD}\n\
                 @revoked 203.0.113.11 {OLD}\n\
                 \n\
                 last-without-newline {OLD}\n\
                 203.0.113.11 {NEW}\n"
            )
        );
        assert_eq!(got.removed, 2);
        assert_eq!(got.added, 1);
        assert!(!got.hashed);
    }

    #[test]
    fn hashed_names_are_matched_and_written_as_ssh_does() {
        let salt = [7u8; 20];
        let ours = hash_name(&salt, "[127.0.0.1]:2222");
        let theirs = hash_name(&salt, "[127.0.0.1]:2223");
        assert_ne!(ours, theirs);
        let existing = format!("{ours} {OLD}\n{theirs} {OLD}\n");
        let key = PublicKey::from_openssh(NEW).unwrap();
        let host = Host::new("127.0.0.1", 2222);
        let got = update(
            existing.as_bytes(),
            std::slice::from_ref(&host),
            std::slice::from_ref(&key),
            Naming::Auto,
            &mut OsRng,
        );
        assert!(got.hashed);
        assert_eq!(got.removed, 1);
        let text = String::from_utf8(got.bytes.clone()).unwrap();
        assert!(text.starts_with(&format!("{theirs} {OLD}\n|1|")), "{text}");
        assert_eq!(keys_of(&got.bytes, &host), vec![key]);
        assert!(keys_of(&got.bytes, &Host::new("127.0.0.1", 22)).is_empty());
    }
}
