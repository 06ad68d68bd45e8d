//! Host keys made before the server boots: a generated key pair added to the user's
//! cloud-config as cloud-init's documented `ssh_keys` (`cc_ssh`: `ed25519_private` and
//! `ed25519_public` are written to `/etc/ssh/ssh_host_ed25519_key{,.pub}`, and with
//! `ssh_deletekeys`, its default, no other host key is left). Then the key the server will
//! present is known before it boots, on any provider, console or not.
//!
//! The private key travels through the provider's API inside the user data, and stays in the
//! instance's user data (readable from its metadata service): that is the price, and the flag
//! that asks for it says so.
//!
//! The merge is textual and refuses what it cannot do safely: user data that is not a
//! `#cloud-config` document, a document that is not a block mapping at its top, more than one
//! document, or one that has `ssh_keys` already.

use secrecy::{ExposeSecret as _, SecretString};

use crate::keys::HostKeyPair;

/// Why the keys could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--host-keys inject: {problem}; {fix}")]
pub struct InjectError {
    /// What is wrong with the user data.
    pub problem: String,
    /// What to do.
    pub fix: String,
}

fn refuse(problem: &str, fix: &str) -> InjectError {
    InjectError {
        problem: problem.to_owned(),
        fix: fix.to_owned(),
    }
}

/// The user data with `ssh_keys` holding `pair` added: `user_data` (a `#cloud-config`
/// document), or, with none, a cloud-config of its own. The result is a secret (it holds the
/// private key).
///
/// # Errors
///
/// [`InjectError`] when the user data is not a single `#cloud-config` block mapping without
/// `ssh_keys`, or the key cannot be written.
pub fn add_ssh_keys(
    user_data: Option<&str>,
    pair: &HostKeyPair,
) -> Result<SecretString, InjectError> {
    let base = user_data.unwrap_or("#cloud-config\n");
    check(base)?;
    let private = pair
        .private_openssh()
        .map_err(|e| refuse(&e.to_string(), "report this as a bug"))?;
    let public = pair
        .public()
        .to_openssh()
        .map_err(|e| refuse(&e.to_string(), "report this as a bug"))?;
    let mut out = String::with_capacity(base.len() + 600);
    out.push_str(base);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(
        "# Added by reimage --host-keys inject: the host key reimage checks after boot.\n",
    );
    out.push_str("ssh_keys:\n  ed25519_private: |\n");
    for line in private.expose_secret().lines() {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("  ed25519_public: {public}\n"));
    Ok(SecretString::from(out))
}

/// The Ed25519 host key a cloud-config's `ssh_keys` gives (`ed25519_private` as a `|` block, as
/// [`add_ssh_keys`] writes it), as cloud-init would install it; `None` without one. For an
/// emulator, which boots the KVM with that key.
pub fn injected_key(user_data: &str) -> Option<HostKeyPair> {
    let mut lines = user_data
        .lines()
        .skip_while(|l| l.trim_end() != "ssh_keys:");
    lines.next()?;
    let mut rest = lines.take_while(|l| l.starts_with(' ') || l.trim().is_empty());
    rest.find(|l| l.trim_end() == "  ed25519_private: |")?;
    let block: String = rest
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    HostKeyPair::from_openssh(&block).ok()
}

fn check(text: &str) -> Result<(), InjectError> {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("#cloud-config") {
        return Err(refuse(
            "the user data is not a #cloud-config document (a script, MIME or gzip cannot take \
             ssh_keys)",
            "start it with #cloud-config, or leave out --host-keys inject",
        ));
    }
    for line in lines {
        let content = line.trim_end();
        if content.is_empty() || content.starts_with('#') || content.starts_with(' ') {
            continue;
        }
        if content == "---" || content == "..." || content.starts_with("--- ") {
            return Err(refuse(
                "the cloud-config has a document marker (--- or ...)",
                "keep it to one document, or leave out --host-keys inject",
            ));
        }
        if content.starts_with('{') || content.starts_with('\t') || content.starts_with('-') {
            return Err(refuse(
                "the cloud-config is not a block mapping at its top",
                "write its top level as key: value lines, or leave out --host-keys inject",
            ));
        }
        let key = content.split(':').next().unwrap_or_default().trim();
        if key == "ssh_keys" || key == "\"ssh_keys\"" || key == "'ssh_keys'" {
            return Err(refuse(
                "the cloud-config sets ssh_keys already",
                "keep your ssh_keys and leave out --host-keys inject, or remove them",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use ssh_key::rand_core::OsRng;

    #[test]
    fn the_keys_are_added_to_a_cloud_config_and_read_back() {
        let pair = HostKeyPair::generate(&mut OsRng, "root@kvm").unwrap();
        let user = "#cloud-config\npackages:\n  - nginx\n";
        let merged = add_ssh_keys(Some(user), &pair).unwrap();
        let merged = merged.expose_secret();
        assert!(merged.starts_with(user));
        // The private block, indented under ed25519_private, reads back as the same key.
        let block: String = merged
            .lines()
            .skip_while(|l| !l.starts_with("  ed25519_private: |"))
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .map(|l| format!("{}\n", &l[4..]))
            .collect();
        let again = HostKeyPair::from_openssh(&block).unwrap();
        assert_eq!(again.public(), pair.public());
        assert_eq!(injected_key(merged).unwrap().public(), pair.public());
        assert!(injected_key(user).is_none());
        assert!(merged.contains(&format!(
            "  ed25519_public: {}\n",
            pair.public().to_openssh().unwrap()
        )));
        // Without user data: a cloud-config of its own.
        let own = add_ssh_keys(None, &pair).unwrap();
        assert!(own.expose_secret().starts_with("#cloud-config\n"));
    }

    #[test]
    fn what_cannot_be_merged_safely_is_refused() {
        let pair = HostKeyPair::generate(&mut OsRng, "root@kvm").unwrap();
        for (text, problem) in [
            ("#!/bin/sh\necho hi\n", "not a #cloud-config"),
            (
                "#cloud-config\nssh_keys:\n  rsa_private: x\n",
                "ssh_keys already",
            ),
            ("#cloud-config\n{packages: [nginx]}\n", "block mapping"),
            ("#cloud-config\na: 1\n---\nb: 2\n", "document marker"),
        ] {
            let e = add_ssh_keys(Some(text), &pair).unwrap_err();
            assert!(e.problem.contains(problem), "{text:?}: {e}");
            assert!(!e.to_string().contains("PRIVATE"), "{e}");
        }
    }
}
