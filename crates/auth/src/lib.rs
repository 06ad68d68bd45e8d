//! reimage's credentials: sessions, tokens and signing. **No IO**, no clock, no randomness:
//! the time is always passed in as `now`.
//!
//! - [`edis`]: the EDIS account's [`EdisCredentials`] and the session ([`EdisSession`]) that every
//!   EDIS call carries, with the [`EdisSession::ensure_fresh`] check that refuses a session about
//!   to expire before anything is sent.
//! - [`iam`]: the ECS IAM user's password credentials and the [`Token`] that says when it must be
//!   refreshed.
//! - [`aksk`]: the pure `SDK-HMAC-SHA256` signer that the official Huawei Cloud SDKs use.
//!
//! What goes over the wire to get a session or a token, and the reading of the answers and of
//! the providers' error bodies, is `reimage-wire`'s: this crate holds what those answers become.
//!
//! Every secret is a [`secrecy::SecretString`], and every header that carries one is marked
//! sensitive.

pub mod aksk;
pub mod edis;
pub mod iam;

pub use aksk::{AkSk, SignError, VerifyError};
pub use edis::{EdisCredentials, EdisSession};
pub use iam::Token;
