//! What every handler gets (the request, the time, the faults that hit the call) and gives back
//! (the answer, and who the caller was, for the log).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::Config;
use crate::reply::Reply;

/// The faults that change how a call is handled (rather than how it is answered).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallFlags {
    /// `job_fail`: `(error_code, fail_reason)`, either defaulted when `None`.
    pub(crate) job_fail: Option<(Option<String>, Option<String>)>,
    /// `expire_credentials`: the credentials the call carries expire now.
    pub(crate) expire_credentials: bool,
    /// `short_lived_credentials`: the credentials the call issues live this long.
    pub(crate) short_lived: Option<Duration>,
}

/// A call, as a handler sees it.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) request: &'a http::Request<Bytes>,
    pub(crate) now: OffsetDateTime,
    pub(crate) request_id: &'a str,
    pub(crate) flags: &'a CallFlags,
    pub(crate) local_addr: SocketAddr,
}

/// A handler's answer, and who the caller was (for the log; never a secret).
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) reply: Reply,
    pub(crate) auth: Value,
}

impl Handled {
    pub(crate) fn new(reply: Reply) -> Self {
        Self {
            reply,
            auth: Value::Null,
        }
    }

    pub(crate) fn with_auth(mut self, auth: Value) -> Self {
        self.auth = auth;
        self
    }
}
