//! Gzip for user data: cloud-init reads gzip-compressed user data, which is how a large
//! cloud-config fits a provider's limit (ECS: 32 KB before base64). The limits themselves live
//! in `reimage-core` (`Provider::user_data_limit`), and the wire encoders put user data on the
//! wire; the validator's `size-limit` lint takes the limit through
//! [`Options::with_size_limit`](crate::Options::with_size_limit).
//!
//! ```
//! use reimage_cloudinit::encode;
//!
//! let big = "#cloud-config\n".to_owned() + &"a".repeat(40_000);
//! let small = encode::gzip(big.as_bytes());
//! assert!(small.len() < 32 * 1024);
//! // Validation sees through gzip, as cloud-init does.
//! let report = reimage_cloudinit::validate(&small, &Default::default());
//! assert!(report.gzipped);
//! ```

use std::io::Write;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
        // ECS's limit, 32 KB before base64 (reimage-core's ECS_USER_DATA_LIMIT).
        const ECS_LIMIT: usize = 32 * 1024;
        let big = b"#cloud-config\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'a', 40_000))
            .collect::<Vec<u8>>();
        assert!(big.len() > ECS_LIMIT);
        assert!(gzip(&big).len() <= ECS_LIMIT);
    }
}
