//! reimage's credentials: sessions, tokens and signing. **No IO**, no clock, no randomness:
//! the time is always passed in as `now`.
//!
//! - [`edis`]: the EDIS session ([`EdisSession`]) that every EDIS call carries, decoded from the
//!   auth answer, with the [`EdisSession::ensure_fresh`] check that refuses a session about to
//!   expire before anything is sent.
//! - [`iam`]: the ECS IAM token: the `/v3/auth/tokens` request, the answer, and a [`Token`] that
//!   says when it must be refreshed.
//! - [`aksk`]: the pure `SDK-HMAC-SHA256` signer that the official Huawei Cloud SDKs use.
//! - [`decode`]: reading provider error bodies and answers without ever quoting a secret.
//!
//! Every secret is a [`secrecy::SecretString`], and every header that carries one is marked
//! sensitive.

pub mod aksk;
pub mod decode;
pub mod edis;
pub mod iam;

pub use aksk::{AkSk, SignError, VerifyError};
pub use edis::{EdisCredentials, EdisSession};
pub use iam::Token;
