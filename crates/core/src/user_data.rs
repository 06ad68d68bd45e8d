//! User data, carried as opaque bytes.

use std::fmt;

use bytes::Bytes;

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
