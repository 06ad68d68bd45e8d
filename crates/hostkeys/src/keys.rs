//! Host keys: fingerprints as `ssh-keygen -l` writes them, and new keys generated with the
//! randomness the caller passes in.

use std::fmt;

use secrecy::SecretString;
use ssh_key::rand_core::CryptoRngCore;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey};

/// The SHA-256 fingerprint of a key as OpenSSH shows it: `SHA256:` and unpadded base64.
///
/// ```
/// let key = reimage_hostkeys::PublicKey::from_openssh(
///     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40 x",
/// )?;
/// assert!(reimage_hostkeys::keys::fingerprint(&key).starts_with("SHA256:"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The key type as `ssh-keygen -l` writes it between parentheses: `ED25519`, `ECDSA`, `RSA`,
/// `DSA`, `ED25519-SK`, `ECDSA-SK`.
pub fn keygen_type(algorithm: &Algorithm) -> String {
    match algorithm {
        Algorithm::Ed25519 => "ED25519".to_owned(),
        Algorithm::Ecdsa { .. } => "ECDSA".to_owned(),
        Algorithm::Rsa { .. } => "RSA".to_owned(),
        Algorithm::Dsa => "DSA".to_owned(),
        Algorithm::SkEd25519 => "ED25519-SK".to_owned(),
        Algorithm::SkEcdsaSha2NistP256 => "ECDSA-SK".to_owned(),
        other => other.as_str().to_uppercase(),
    }
}

/// The size in bits that `ssh-keygen -l` shows first, for the key types whose size follows from
/// the type (`None` for RSA and DSA, whose size is the modulus').
pub fn keygen_bits(key: &PublicKey) -> Option<u32> {
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::SkEd25519 => Some(256),
        Algorithm::Ecdsa { curve } => Some(match curve {
            ssh_key::EcdsaCurve::NistP256 => 256,
            ssh_key::EcdsaCurve::NistP384 => 384,
            ssh_key::EcdsaCurve::NistP521 => 521,
        }),
        Algorithm::SkEcdsaSha2NistP256 => Some(256),
        _ => match key.key_data() {
            ssh_key::public::KeyData::Rsa(rsa) => u32::try_from(rsa.n.as_positive_bytes()?.len())
                .ok()
                .map(|bytes| bytes * 8),
            _ => None,
        },
    }
}

/// One line of `ssh-keygen -l -f KEY.pub`: `256 SHA256:… comment (ED25519)`; an empty comment
/// is written as `no comment`, as `ssh-keygen` does.
pub fn keygen_line(key: &PublicKey) -> String {
    let comment = if key.comment().is_empty() {
        "no comment"
    } else {
        key.comment()
    };
    format!(
        "{} {} {comment} ({})",
        keygen_bits(key).unwrap_or(0),
        fingerprint(key),
        keygen_type(&key.algorithm())
    )
}

/// A host key pair made here: an Ed25519 key for a new install (the emulator's, or one that
/// reimage injects through cloud-config). Its `Debug` shows the public half only.
pub struct HostKeyPair {
    private: PrivateKey,
}

impl HostKeyPair {
    /// A new Ed25519 key pair from `rng` (such as `rand_core::OsRng`), with `comment` (such as
    /// `root@web-1`).
    ///
    /// # Errors
    ///
    /// When the key cannot be made (the generator failed).
    pub fn generate(rng: &mut impl CryptoRngCore, comment: &str) -> Result<Self, KeyError> {
        let mut private =
            PrivateKey::random(rng, Algorithm::Ed25519).map_err(|e| KeyError(e.to_string()))?;
        private.set_comment(comment);
        Ok(Self { private })
    }

    /// Reads a private key in OpenSSH's format.
    ///
    /// # Errors
    ///
    /// When the text is not an unencrypted OpenSSH private key.
    pub fn from_openssh(text: &str) -> Result<Self, KeyError> {
        PrivateKey::from_openssh(text)
            .map(|private| Self { private })
            .map_err(|e| KeyError(e.to_string()))
    }

    /// The public key, with the pair's comment.
    pub fn public(&self) -> PublicKey {
        self.private.public_key().clone()
    }

    /// The private key in OpenSSH's format, as `sshd` reads a `HostKey` file and cloud-init's
    /// `ssh_keys` takes it. It is a secret: write it to a file of mode 0600, never to a log.
    ///
    /// # Errors
    ///
    /// When the key cannot be encoded.
    pub fn private_openssh(&self) -> Result<SecretString, KeyError> {
        self.private
            .to_openssh(LineEnding::LF)
            .map(|text| SecretString::from(text.as_str()))
            .map_err(|e| KeyError(e.to_string()))
    }
}

impl fmt::Debug for HostKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostKeyPair")
            .field("public", &fingerprint(self.private.public_key()))
            .field("private", &"[REDACTED]")
            .finish()
    }
}

/// A key that could not be made, read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SSH key: {0}")]
pub struct KeyError(String);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use ssh_key::rand_core::OsRng;

    #[test]
    fn a_generated_pair_reads_back_and_its_debug_hides_the_private_half() {
        let pair = HostKeyPair::generate(&mut OsRng, "root@web-1").unwrap();
        let private = pair.private_openssh().unwrap();
        let private = secrecy::ExposeSecret::expose_secret(&private);
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let again = HostKeyPair::from_openssh(private).unwrap();
        assert_eq!(again.public(), pair.public());
        let shown = format!("{pair:?}");
        assert_eq!(
            shown,
            format!(
                "HostKeyPair {{ public: {:?}, private: \"[REDACTED]\" }}",
                fingerprint(&pair.public())
            )
        );
        let line = keygen_line(&pair.public());
        assert!(line.starts_with("256 SHA256:"), "{line}");
        assert!(line.ends_with(" root@web-1 (ED25519)"), "{line}");
        // Two pairs are two keys.
        let other = HostKeyPair::generate(&mut OsRng, "root@web-1").unwrap();
        assert_ne!(other.public(), pair.public());
    }
}
