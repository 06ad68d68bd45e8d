//! Identifiers that validate on construction.
//!
//! Every identifier is a newtype over a string that was checked once, when it was made: through
//! `new`, [`str::parse`] or `TryFrom<String>`. A bad value is refused with a [`ValidationError`]
//! that names the field and shows the expected form.
//!
//! ```
//! use reimage_core::{ImageId, KvmId};
//!
//! let kvm: KvmId = "kvm_12345_67890".parse()?;
//! assert_eq!(kvm.to_string(), "kvm_12345_67890");
//!
//! // Any case, no version or variant check: only the 8-4-4-4-12 hex shape.
//! assert!(ImageId::new("E215580F-73AD-429D-B6F2-5433947433B0").is_ok());
//! assert!(ImageId::new("e215580f73ad429db6f25433947433b0").is_err());
//! # Ok::<(), reimage_core::ValidationError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{ValidationError, shown};

macro_rules! identifier {
    (
        $(#[$meta:meta])*
        $name:ident {
            field: $field:literal,
            what: $what:literal,
            expected: $expected:literal,
            check: $check:expr $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            /// The field name used in errors about this identifier.
            pub const FIELD: &'static str = $field;

            /// Checks `value` and wraps it, or says what form was expected.
            pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value: String = value.into();
                let check: fn(&str) -> bool = $check;
                if check(&value) {
                    Ok(Self(value.into_boxed_str()))
                } else {
                    Err(ValidationError::new(
                        $field,
                        format!(concat!("{} is not ", $what), shown(&value)),
                        concat!("expected ", $expected),
                    ))
                }
            }

            /// The identifier as it is sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&&*self.0).finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.into()
            }
        }
    };
}

identifier! {
    /// An EDIS KVM VPS: `kvm_<digits>_<digits>`.
    KvmId {
        field: "kvm_id",
        what: "a KVM id",
        expected: "kvm_<digits>_<digits>, e.g. kvm_12345_67890",
        check: |s| {
            s.strip_prefix("kvm_")
                .and_then(|rest| rest.split_once('_'))
                .is_some_and(|(a, b)| all_digits(a) && all_digits(b))
        },
    }
}

identifier! {
    /// An EDIS autoinstall image name, as `/kvm/v2/get/images` lists them
    /// (`cloudinit_debian-bookworm`, `debian-bullseye`).
    EdisImage {
        field: "image",
        what: "an EDIS image name",
        expected: "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, \
                   e.g. cloudinit_debian-bookworm (list them with the images call)",
        check: |s| {
            (1..=128).contains(&s.len())
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        },
    }
}

impl EdisImage {
    /// Whether the image runs cloud-init, so that user data reaches the new system: only the
    /// `cloudinit_` images do.
    ///
    /// ```
    /// use reimage_core::EdisImage;
    ///
    /// assert!(EdisImage::new("cloudinit_debian-bookworm")?.runs_cloud_init());
    /// assert!(!EdisImage::new("debian-bullseye")?.runs_cloud_init());
    /// # Ok::<(), reimage_core::ValidationError>(())
    /// ```
    pub fn runs_cloud_init(&self) -> bool {
        self.as_str().starts_with("cloudinit_")
    }
}

identifier! {
    /// An ECS project id: 32 hexadecimal digits.
    ProjectId {
        field: "project_id",
        what: "a project id",
        expected: "32 hexadecimal digits, e.g. 0123456789abcdef0123456789abcdef",
        check: |s| s.len() == 32 && all_hex(s),
    }
}

identifier! {
    /// An ECS server id: a UUID in 8-4-4-4-12 hexadecimal form, any case.
    ServerId {
        field: "server_id",
        what: "a server id",
        expected: "a UUID in 8-4-4-4-12 hex form, e.g. 11111111-2222-3333-4444-555555555555",
        check: is_uuid_shape,
    }
}

identifier! {
    /// An image id (IMS): a UUID in 8-4-4-4-12 hexadecimal form, any case.
    ImageId {
        field: "imageid",
        what: "an image id",
        expected: "a UUID in 8-4-4-4-12 hex form, e.g. e215580f-73ad-429d-b6f2-5433947433b0",
        check: is_uuid_shape,
    }
}

identifier! {
    /// An ECS asynchronous job id, as returned by reinstallos and changeos: 1 to 64 letters,
    /// digits or '-'.
    JobId {
        field: "job_id",
        what: "a job id",
        expected: "1 to 64 letters, digits or '-', e.g. ff80808288d41e1b018990260955686a",
        check: |s| (1..=64).contains(&s.len()) && all_bytes(s, is_job_id_byte),
    }
}

identifier! {
    /// An IAM user id: 32 hexadecimal digits.
    UserId {
        field: "userid",
        what: "a user id",
        expected: "32 hexadecimal digits, e.g. 7e25b1da389f4697a79df3a0e5bd494e",
        check: |s| s.len() == 32 && all_hex(s),
    }
}

identifier! {
    /// An ECS key pair name: 1 to 64 letters, digits, '_' or '-'.
    KeyPairName {
        field: "keyname",
        what: "a key pair name",
        expected: "1 to 64 letters, digits, '_' or '-', e.g. KeyPair-350b",
        check: |s| {
            (1..=64).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        },
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether every byte of `s` passes `ok`, checked without a branch per byte: ids are checked
/// on every call the emulator answers (its paths carry them), and a branchless loop is a few
/// instructions per byte where an early exit on each is several more.
#[inline]
fn all_bytes(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().fold(true, |all, b| all & ok(b))
}

/// `0-9`, `a-f`, `A-F`, as [`u8::is_ascii_hexdigit`], by comparisons without a branch.
#[inline]
fn is_hex_byte(b: u8) -> bool {
    (b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 6)
}

/// A letter, a digit or `-`, as `is_ascii_alphanumeric() || b == b'-'`.
#[inline]
fn is_job_id_byte(b: u8) -> bool {
    (b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 26) | (b == b'-')
}

fn all_hex(s: &str) -> bool {
    all_bytes(s, is_hex_byte)
}

/// 8-4-4-4-12 hex digits: 36 bytes, `-` at the four places between the groups and hex digits
/// everywhere else, read without a branch per byte (the emulator checks one on every server
/// call).
fn is_uuid_shape(s: &str) -> bool {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    let Ok(mut bytes) = <[u8; 36]>::try_from(s.as_bytes()) else {
        return false;
    };
    if DASHES.iter().any(|&at| bytes[at] != b'-') {
        return false;
    }
    // The dashes made digits, then all 36 bytes checked at once.
    for at in DASHES {
        bytes[at] = b'0';
    }
    bytes.iter().fold(true, |ok, &b| ok & is_hex_byte(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (value, accepted) for every identifier, table-driven.
    #[test]
    fn identifier_shapes() {
        let kvm = [
            ("kvm_1_2", true),
            ("kvm_12345_67890", true),
            ("kvm_xxxxx_yyyyy", false),
            ("kvm_1_", false),
            ("kvm__2", false),
            ("kvm_1_2_3", false),
            ("KVM_1_2", false),
            ("kvm_１_2", false),
            ("", false),
        ];
        for (value, ok) in kvm {
            assert_eq!(KvmId::new(value).is_ok(), ok, "KvmId {value:?}");
        }
        let uuid = [
            ("11111111-2222-3333-4444-555555555555", true),
            ("E215580F-73ad-429D-b6f2-5433947433b0", true),
            ("e215580f-73ad-429d-b6f2-5433947433b", false),
            ("e215580f-73ad-429d-b6f2-5433947433b00", false),
            ("e215580f73ad-429d-b6f2-5433947433b0", false),
            ("g215580f-73ad-429d-b6f2-5433947433b0", false),
            ("e215580f-73ad-429d-b6f2-5433947433b0-", false),
            ("{e215580f-73ad-429d-b6f2-5433947433b0}", false),
        ];
        for (value, ok) in uuid {
            assert_eq!(ServerId::new(value).is_ok(), ok, "ServerId {value:?}");
            assert_eq!(ImageId::new(value).is_ok(), ok, "ImageId {value:?}");
        }
        let hex32 = [
            ("0123456789abcdef0123456789abcdef", true),
            ("0123456789ABCDEF0123456789ABCDEF", true),
            ("0123456789abcdef0123456789abcde", false),
            ("0123456789abcdef0123456789abcdefa", false),
            ("0123456789abcdef0123456789abcdeg", false),
        ];
        for (value, ok) in hex32 {
            assert_eq!(ProjectId::new(value).is_ok(), ok, "ProjectId {value:?}");
            assert_eq!(UserId::new(value).is_ok(), ok, "UserId {value:?}");
        }
        let images = [
            ("cloudinit_debian-bookworm", true),
            ("debian-bullseye", true),
            ("windows-server-2025", true),
            ("ubuntu 24.04", false),
            ("-debian", false),
            ("", false),
        ];
        for (value, ok) in images {
            assert_eq!(EdisImage::new(value).is_ok(), ok, "EdisImage {value:?}");
        }
        let keys = [
            ("KeyPair-350b", true),
            ("my_key", true),
            ("my key", false),
            ("", false),
        ];
        for (value, ok) in keys {
            assert_eq!(KeyPairName::new(value).is_ok(), ok, "KeyPairName {value:?}");
        }
        let jobs = [
            ("ff80808288d41e1b018990260955686a", true),
            ("70a599e0-31e7-49b7-b260-868f441e862b", true),
            ("job/1", false),
            ("", false),
        ];
        for (value, ok) in jobs {
            assert_eq!(JobId::new(value).is_ok(), ok, "JobId {value:?}");
        }
    }

    /// The branchless byte checks accept exactly what the standard library's do.
    #[test]
    fn byte_checks_match_the_standard_ones() {
        for b in 0..=u8::MAX {
            assert_eq!(is_hex_byte(b), b.is_ascii_hexdigit(), "{b:#04x}");
            assert_eq!(
                is_job_id_byte(b),
                b.is_ascii_alphanumeric() || b == b'-',
                "{b:#04x}"
            );
        }
        assert!(all_hex("") && all_hex("09afAF") && !all_hex("09afAFg"));
        assert!(!all_hex("0123456789abcdef0123456789abcde\u{e9}"));
    }

    /// The UUID check as it was first written, by groups: the reference for the bytewise one.
    fn is_uuid_shape_by_groups(s: &str) -> bool {
        let mut groups = s.split('-');
        let ok = [8, 4, 4, 4, 12]
            .iter()
            .all(|&len| groups.next().is_some_and(|g| g.len() == len && all_hex(g)));
        ok && groups.next().is_none()
    }

    /// Every byte at every place of a UUID, and UUIDs one byte short or long, are judged as the
    /// check by groups judges them.
    #[test]
    fn uuid_shape_matches_the_check_by_groups() {
        let good = "e215580f-73AD-429d-b6f2-5433947433b0";
        assert!(is_uuid_shape(good) && is_uuid_shape_by_groups(good));
        for at in 0..good.len() {
            for b in 0..=u8::MAX {
                let mut bytes = good.as_bytes().to_vec();
                bytes[at] = b;
                let Ok(text) = String::from_utf8(bytes) else {
                    continue;
                };
                assert_eq!(
                    is_uuid_shape(&text),
                    is_uuid_shape_by_groups(&text),
                    "{text:?}"
                );
            }
            let mut shorter = good.to_owned();
            shorter.remove(at);
            assert_eq!(
                is_uuid_shape(&shorter),
                is_uuid_shape_by_groups(&shorter),
                "{shorter:?}"
            );
            let mut longer = good.to_owned();
            longer.insert(at, '-');
            assert_eq!(
                is_uuid_shape(&longer),
                is_uuid_shape_by_groups(&longer),
                "{longer:?}"
            );
            longer.replace_range(at..=at, "0");
            assert_eq!(
                is_uuid_shape(&longer),
                is_uuid_shape_by_groups(&longer),
                "{longer:?}"
            );
        }
        for odd in [
            "",
            "-",
            "----",
            "e215580f73ad429db6f25433947433b0",
            "é215580f-73ad-429d-b6f2-5433947433b",
        ] {
            assert_eq!(is_uuid_shape(odd), is_uuid_shape_by_groups(odd), "{odd:?}");
        }
    }

    #[test]
    fn errors_name_the_field_and_the_form() {
        let err = ServerId::new("nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "server_id: \"nope\" is not a server id; expected a UUID in 8-4-4-4-12 hex form, \
             e.g. 11111111-2222-3333-4444-555555555555"
        );
        let err = ProjectId::new("x".repeat(100)).unwrap_err();
        assert_eq!(err.field(), "project_id");
        assert!(err.problem().ends_with("…\" is not a project id") || err.problem().contains("…"));
        assert!(err.to_string().len() < 200, "long values are cut: {err}");
    }

    #[test]
    fn debug_and_display() {
        let id = KvmId::new("kvm_1_2").unwrap();
        assert_eq!(format!("{id:?}"), "KvmId(\"kvm_1_2\")");
        assert_eq!(format!("{id}"), "kvm_1_2");
        assert_eq!(String::from(id), "kvm_1_2");
    }
}
