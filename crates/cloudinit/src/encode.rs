//! Encoding user data for the wire: base64, optional gzip, and each provider's size limit.
//!
//! ```
//! use reimage_cloudinit::encode::{self, Target};
//!
//! let user_data = b"#cloud-config\nssh_pwauth: false\n";
//! let wire = encode::for_target(user_data, Target::Ecs, false)?;
//! assert_eq!(wire, "I2Nsb3VkLWNvbmZpZwpzc2hfcHdhdXRoOiBmYWxzZQo=");
//!
//! let too_big = vec![b'#'; 40_000];
//! let err = encode::for_target(&too_big, Target::Ecs, false).unwrap_err();
//! assert_eq!(err.to_string(), "user_data: is 40000 bytes, over ECS's limit of 32768 bytes before base64; shorten it, or gzip it if the image's cloud-init accepts compressed user data");
//! # Ok::<(), encode::SizeError>(())
//! ```

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Where the user data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// ECS `metadata.user_data`: base64, at most 32 KB before encoding.
    Ecs,
    /// EDIS `cloudinit_user_data`: text in a form field; no documented limit.
    Edis,
}

impl Target {
    /// The provider's limit in bytes before any encoding, where it documents one.
    pub fn size_limit(self) -> Option<usize> {
        match self {
            Self::Ecs => Some(ECS_USER_DATA_LIMIT),
            Self::Edis => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ecs => "ECS",
            Self::Edis => "EDIS",
        }
    }
}

/// ECS's limit: 32 KB before base64.
pub const ECS_USER_DATA_LIMIT: usize = 32 * 1024;

/// User data over a provider's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "user_data: is {size} bytes, over {provider}'s limit of {limit} bytes before base64; shorten it, \
     or gzip it if the image's cloud-init accepts compressed user data"
)]
pub struct SizeError {
    /// The provider.
    pub provider: &'static str,
    /// The size, after gzip if it was asked for.
    pub size: usize,
    /// The limit.
    pub limit: usize,
}

/// Standard base64 (with padding), as ECS wants it.
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Gzip with a fixed header (no name, no time), so the same input always gives the same bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail, so the empty fallback is never taken.
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .unwrap_or_default()
}

/// Checks `bytes` (gzipped first when `gzip` is set) against the target's limit.
pub fn check_size(bytes: &[u8], target: Target) -> Result<(), SizeError> {
    match target.size_limit() {
        Some(limit) if bytes.len() > limit => Err(SizeError {
            provider: target.name(),
            size: bytes.len(),
            limit,
        }),
        _ => Ok(()),
    }
}

/// The user data as the target's field carries it: optionally gzipped, size-checked, and base64
/// for ECS. EDIS takes the text itself, so for EDIS this only checks and returns base64 of the
/// (possibly gzipped) bytes when `gzip` is set, else the text as is (lossy only for invalid
/// UTF-8, which EDIS cannot carry).
pub fn for_target(bytes: &[u8], target: Target, gzip_it: bool) -> Result<String, SizeError> {
    let payload = if gzip_it { gzip(bytes) } else { bytes.to_vec() };
    check_size(&payload, target)?;
    Ok(match target {
        Target::Ecs => base64(&payload),
        Target::Edis if gzip_it => base64(&payload),
        Target::Edis => String::from_utf8_lossy(&payload).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn limit_boundary() {
        assert!(check_size(&vec![0; ECS_USER_DATA_LIMIT], Target::Ecs).is_ok());
        assert!(check_size(&vec![0; ECS_USER_DATA_LIMIT + 1], Target::Ecs).is_err());
        assert!(check_size(&vec![0; 10 * ECS_USER_DATA_LIMIT], Target::Edis).is_ok());
    }

    #[test]
    fn gzip_is_deterministic_and_round_trips() {
        let text = b"#cloud-config\nruncmd:\n  - echo hello\n".repeat(100);
        let a = gzip(&text);
        assert_eq!(a, gzip(&text));
        assert!(a.len() < text.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn gzip_brings_big_user_data_under_the_limit() {
        let big = b"#cloud-config\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'a', 40_000))
            .collect::<Vec<u8>>();
        assert!(for_target(&big, Target::Ecs, false).is_err());
        assert!(for_target(&big, Target::Ecs, true).is_ok());
    }
}
