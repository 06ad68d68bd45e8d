//! The keys an SSH server presents, checked against what its console says (out of band), or
//! against the key it had before the reinstall.

use std::fmt;

use ssh_key::PublicKey;

use crate::console::BootConsole;
use crate::keys;

/// The keys that passed, and what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The presented keys that the console lists: the only ones to write to `known_hosts`.
    pub keys: Vec<PublicKey>,
    /// Presented keys of a type the console does not list (cloud-init may be told to leave some
    /// out): not verified, so not written.
    pub unlisted: Vec<PublicKey>,
}

/// Why the presented keys were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The console shows no boot's start, so its keys may be an earlier install's.
    NoBoot,
    /// The console's key blocks are not (yet) complete.
    NotOnConsole,
    /// The server presented no key.
    NothingPresented,
    /// A presented key differs from the console's key of the same type: someone else answers,
    /// or the console is not this server's.
    Mismatch {
        /// The key type (`ED25519`).
        key_type: String,
        /// The fingerprint the server presented.
        presented: String,
        /// The fingerprints the console lists for that type.
        console: Vec<String>,
    },
    /// No presented key is of a type the console lists.
    NoCommonType,
    /// The key presented is the one recorded before the reinstall: the new system is not the
    /// one answering (yet).
    Unchanged {
        /// Its fingerprint.
        fingerprint: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBoot => write!(
                f,
                "the console log shows no boot, so its keys cannot be told from an earlier install's"
            ),
            Self::NotOnConsole => write!(
                f,
                "cloud-init has not written the host keys to the console yet"
            ),
            Self::NothingPresented => write!(f, "the SSH server presented no host key"),
            Self::Mismatch {
                key_type,
                presented,
                console,
            } => write!(
                f,
                "the SSH server presented the {key_type} key {presented}, but the console lists {}: \
                 this is not the key cloud-init made for this install, so it was not trusted",
                console.join(", ")
            ),
            Self::NoCommonType => write!(
                f,
                "no key the SSH server presented is of a type the console lists"
            ),
            Self::Unchanged { fingerprint } => write!(
                f,
                "the SSH server still presents the key it had before the reinstall ({fingerprint})"
            ),
        }
    }
}

/// Checks `presented` against `console`: every presented key of a type the console lists must
/// be one of the console's (by its SHA-256 fingerprint, or in the key block); at least one must
/// be.
///
/// # Errors
///
/// The [`Refusal`]: nothing presented may then be trusted.
pub fn against_console(
    presented: &[PublicKey],
    console: &BootConsole,
) -> Result<Verified, Refusal> {
    if !console.boot_seen {
        return Err(Refusal::NoBoot);
    }
    if !console.blocks_complete || (console.fingerprints.is_empty() && console.keys.is_empty()) {
        return Err(Refusal::NotOnConsole);
    }
    if presented.is_empty() {
        return Err(Refusal::NothingPresented);
    }
    let mut verified = Verified {
        keys: Vec::new(),
        unlisted: Vec::new(),
    };
    for key in presented {
        let key_type = keys::keygen_type(&key.algorithm());
        let fingerprint = keys::fingerprint(key);
        let listed: Vec<String> = console
            .fingerprints
            .iter()
            .filter(|f| f.key_type == key_type)
            .map(|f| f.fingerprint.clone())
            .chain(
                console
                    .keys
                    .iter()
                    .filter(|k| k.algorithm() == key.algorithm())
                    .map(keys::fingerprint),
            )
            .collect();
        if listed.is_empty() {
            verified.unlisted.push(key.clone());
        } else if listed.iter().all(|f| *f == fingerprint) {
            verified.keys.push(key.clone());
        } else {
            let mut console = listed;
            console.dedup();
            return Err(Refusal::Mismatch {
                key_type,
                presented: fingerprint,
                console,
            });
        }
    }
    if verified.keys.is_empty() {
        return Err(Refusal::NoCommonType);
    }
    Ok(verified)
}

/// Checks `presented` against `expected`, keys known before the server booted (`--host-keys
/// inject`): every presented key of a type among `expected` must be one of them; at least one.
///
/// # Errors
///
/// The [`Refusal`]: nothing presented may then be trusted.
pub fn against_expected(
    presented: &[PublicKey],
    expected: &[PublicKey],
) -> Result<Verified, Refusal> {
    if presented.is_empty() {
        return Err(Refusal::NothingPresented);
    }
    let mut verified = Verified {
        keys: Vec::new(),
        unlisted: Vec::new(),
    };
    for key in presented {
        let same_type: Vec<&PublicKey> = expected
            .iter()
            .filter(|k| k.algorithm() == key.algorithm())
            .collect();
        if same_type.is_empty() {
            verified.unlisted.push(key.clone());
        } else if same_type.iter().any(|k| k.key_data() == key.key_data()) {
            verified.keys.push(key.clone());
        } else {
            return Err(Refusal::Mismatch {
                key_type: keys::keygen_type(&key.algorithm()),
                presented: keys::fingerprint(key),
                console: same_type.iter().map(|k| keys::fingerprint(k)).collect(),
            });
        }
    }
    if verified.keys.is_empty() {
        return Err(Refusal::NoCommonType);
    }
    Ok(verified)
}

/// Where there is no console (EDIS): the presented keys must all differ from `before`, the keys
/// recorded before the reinstall was sent. This proves a new system answers, not who it is: the
/// keys are returned as changed, not as verified.
///
/// # Errors
///
/// [`Refusal::NothingPresented`], or [`Refusal::Unchanged`] for a key seen before.
pub fn changed_since(presented: &[PublicKey], before: &[PublicKey]) -> Result<(), Refusal> {
    if presented.is_empty() {
        return Err(Refusal::NothingPresented);
    }
    match presented
        .iter()
        .find(|k| before.iter().any(|b| b.key_data() == k.key_data()))
    {
        Some(same) => Err(Refusal::Unchanged {
            fingerprint: keys::fingerprint(same),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::console::{read, write_key_blocks};
    use crate::keys::HostKeyPair;
    use ssh_key::rand_core::OsRng;

    fn console_of(keys: &[PublicKey]) -> BootConsole {
        read(&format!(
            "Linux version 6.1\n{}",
            write_key_blocks(keys, "Dec  7 04:09:59")
        ))
    }

    #[test]
    fn the_console_key_passes_another_is_refused() {
        let install = HostKeyPair::generate(&mut OsRng, "root@web-1")
            .unwrap()
            .public();
        let intruder = HostKeyPair::generate(&mut OsRng, "root@evil")
            .unwrap()
            .public();
        let console = console_of(std::slice::from_ref(&install));
        let ok = against_console(std::slice::from_ref(&install), &console).unwrap();
        assert_eq!(ok.keys, vec![install.clone()]);
        let refused = against_console(std::slice::from_ref(&intruder), &console).unwrap_err();
        match &refused {
            Refusal::Mismatch {
                key_type,
                presented,
                console,
            } => {
                assert_eq!(key_type, "ED25519");
                assert_eq!(presented, &keys::fingerprint(&intruder));
                assert_eq!(console, &vec![keys::fingerprint(&install)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(refused.to_string().contains("was not trusted"));
        // Both presented, one wrong: refused whole.
        assert!(against_console(&[install.clone(), intruder.clone()], &console).is_err());
        assert_eq!(
            against_console(&[], &console),
            Err(Refusal::NothingPresented)
        );
        assert_eq!(
            against_console(std::slice::from_ref(&install), &read("login:")),
            Err(Refusal::NoBoot)
        );
        assert_eq!(
            against_console(
                std::slice::from_ref(&install),
                &read("Linux version 6.1\nbooting\n")
            ),
            Err(Refusal::NotOnConsole)
        );
    }

    #[test]
    fn an_expected_key_passes_another_is_refused() {
        let injected = HostKeyPair::generate(&mut OsRng, "a").unwrap().public();
        let other = HostKeyPair::generate(&mut OsRng, "b").unwrap().public();
        let ok = against_expected(
            std::slice::from_ref(&injected),
            std::slice::from_ref(&injected),
        );
        assert_eq!(ok.unwrap().keys, vec![injected.clone()]);
        assert!(matches!(
            against_expected(
                std::slice::from_ref(&other),
                std::slice::from_ref(&injected)
            ),
            Err(Refusal::Mismatch { .. })
        ));
        assert_eq!(
            against_expected(&[], std::slice::from_ref(&injected)),
            Err(Refusal::NothingPresented)
        );
    }

    #[test]
    fn a_key_seen_before_is_unchanged() {
        let old = HostKeyPair::generate(&mut OsRng, "a").unwrap().public();
        let new = HostKeyPair::generate(&mut OsRng, "b").unwrap().public();
        assert_eq!(
            changed_since(std::slice::from_ref(&new), std::slice::from_ref(&old)),
            Ok(())
        );
        assert!(matches!(
            changed_since(std::slice::from_ref(&old), std::slice::from_ref(&old)),
            Err(Refusal::Unchanged { .. })
        ));
    }
}
