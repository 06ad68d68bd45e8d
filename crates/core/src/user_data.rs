//! User data, carried as opaque bytes, and the providers' limits on it.

use std::fmt;

use bytes::Bytes;

use crate::{Provider, ValidationError};

/// ECS's limit on user data: 32 KB (32,768 bytes) before base64 (`metadata.user_data`). The one
/// place this number lives; the wire encoder and the validator's size lint read it through
/// [`Provider::user_data_limit`].
pub const ECS_USER_DATA_LIMIT: usize = 32 * 1024;

impl Provider {
    /// The provider's name in lower case, as plans, logs and flags write it: `ecs`, `edis`,
    /// `iam` (its `Display` is the upper-case `ECS`, `EDIS`, `IAM`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecs => "ecs",
            Self::Edis => "edis",
            Self::Iam => "iam",
        }
    }

    /// The most user data the provider takes, in bytes before any encoding, where it documents a
    /// limit: ECS 32 KB; EDIS documents none; IAM takes no user data.
    ///
    /// ```
    /// use reimage_core::Provider;
    ///
    /// assert_eq!(Provider::Ecs.user_data_limit(), Some(32_768));
    /// assert_eq!(Provider::Edis.user_data_limit(), None);
    /// ```
    pub fn user_data_limit(self) -> Option<usize> {
        match self {
            Self::Ecs => Some(ECS_USER_DATA_LIMIT),
            Self::Edis | Self::Iam => None,
        }
    }
}

/// The user data for the new OS (a `#cloud-config`, a script, a MIME archive…), as bytes.
///
/// This crate does not look inside: `reimage-cloudinit` validates it, and the wire encoders
/// apply each provider's size limit and encoding. User data often holds passwords, so `Debug`
/// shows only its length.
///
/// ```
/// let ud = reimage_core::UserData::from("#cloud-config\nssh_pwauth: false\n");
/// assert_eq!(ud.len(), 32);
/// assert_eq!(format!("{ud:?}"), "UserData(32 bytes)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UserData(Bytes);

impl UserData {
    /// Wraps the bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self(bytes.into())
    }

    /// The bytes, as they go to the instance (before any base64).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, cheaply cloned.
    pub fn bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// The size in bytes, before any encoding.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Refuses user data over `provider`'s limit ([`Provider::user_data_limit`]), naming the
    /// field, the size, the limit and the fix.
    ///
    /// ```
    /// use reimage_core::{Provider, UserData};
    ///
    /// let big = UserData::from(vec![b'#'; 40_000]);
    /// let err = big.check_limit(Provider::Ecs).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "user_data: is 40000 bytes before base64, over the ECS limit of 32768 bytes (32 KB); \
    ///      shorten it, or gzip it (cloud-init reads gzip-compressed user data)"
    /// );
    /// assert!(big.check_limit(Provider::Edis).is_ok());
    /// ```
    pub fn check_limit(&self, provider: Provider) -> Result<(), ValidationError> {
        match provider.user_data_limit() {
            Some(limit) if self.len() > limit => Err(ValidationError::new(
                "user_data",
                format!(
                    "is {} bytes before base64, over the {provider} limit of {limit} bytes ({} KB)",
                    self.len(),
                    limit / 1024
                ),
                "shorten it, or gzip it (cloud-init reads gzip-compressed user data)",
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserData({} bytes)", self.0.len())
    }
}

impl From<&str> for UserData {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for UserData {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<Vec<u8>> for UserData {
    fn from(v: Vec<u8>) -> Self {
        Self(Bytes::from(v))
    }
}

impl From<Bytes> for UserData {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}
