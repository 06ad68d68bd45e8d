//! What every handler gets (the request, the time, the faults that hit the call) and gives back
//! (the answer, and who the caller was, for the log).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};
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
    pub(crate) auth: LogAuth,
}

impl Handled {
    pub(crate) fn new(reply: Reply) -> Self {
        Self {
            reply,
            auth: LogAuth::default(),
        }
    }

    pub(crate) fn with_auth(mut self, auth: LogAuth) -> Self {
        self.auth = auth;
        self
    }
}

/// Who the caller was, as the request log shows it: the scheme and a few named facts (ids,
/// names), never a secret. Every call records one and the log is read rarely, so it stays in
/// this form until [`to_json`](Self::to_json); none shows as `null`.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogAuth(Vec<(&'static str, Fact)>);

#[derive(Debug, Clone)]
enum Fact {
    Name(&'static str),
    Text(String),
    Number(u64),
    Flag(bool),
}

impl LogAuth {
    /// `{"scheme": scheme}`.
    pub(crate) fn scheme(scheme: &'static str) -> Self {
        let mut facts = Vec::with_capacity(3);
        facts.push(("scheme", Fact::Name(scheme)));
        Self(facts)
    }

    /// Adds a text.
    pub(crate) fn text(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.0.push((key, Fact::Text(value.into())));
        self
    }

    /// Adds a number.
    pub(crate) fn number(mut self, key: &'static str, value: u64) -> Self {
        self.0.push((key, Fact::Number(value)));
        self
    }

    /// Adds a yes or no.
    pub(crate) fn flag(mut self, key: &'static str, value: bool) -> Self {
        self.0.push((key, Fact::Flag(value)));
        self
    }

    /// The JSON object the log shows (keys in order, as `json!` has them), or `null`.
    pub(crate) fn to_json(&self) -> Value {
        if self.0.is_empty() {
            return Value::Null;
        }
        let mut map = Map::new();
        for (key, fact) in &self.0 {
            let value = match fact {
                Fact::Name(name) => Value::from(*name),
                Fact::Text(text) => Value::from(text.as_str()),
                Fact::Number(n) => Value::from(*n),
                Fact::Flag(b) => Value::from(*b),
            };
            map.insert((*key).to_owned(), value);
        }
        Value::Object(map)
    }
}
